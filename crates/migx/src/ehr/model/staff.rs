//! Who acted: the participations an item names and the agents (staff and organisations) the
//! record holds, with the syntax checks every kept value passed.

use super::source_id::SourceId;
use crate::codes::Coding;

/// How a member of staff took part in an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffKind {
    /// Wrote it into the record (XML `author`; STU3 `recorder`).
    Recorder,
    /// Stated it (STU3 `asserter`).
    Asserter,
    /// Prescribed or asked for it (STU3 `requester.agent`).
    Requester,
    /// Did it (XML `Participant` `PRF`, a composition's `Participant2`; STU3 `performer`).
    Performer,
    /// Did it, as the primary performer (XML `Participant` `PPRF`).
    PrimaryPerformer,
    /// Gave the information (STU3 `informationSource`).
    InformationSource,
}

/// One participation: how, and which agent (a key into [`Extract::agents`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRef {
    /// How the agent took part.
    pub kind: StaffKind,
    /// The agent's source id (lowercase), held here when short (see [`SourceId`]); never
    /// emitted as it is.
    pub agent: SourceId,
}

/// A member of staff or an organisation the record names as acting (GP2GP `agentDirectory`
/// `Agent`; GP Connect `Practitioner` with its `PractitionerRole`, or an `Organization`).
/// Staff data, not patient data: shared only as the policy's `clinical_detail.staff` says,
/// never written to messages or the audit. Every kept value passed its syntax check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agent {
    /// A person (XML `agentPerson`, STU3 `Practitioner`), not an organisation alone.
    pub person: bool,
    /// The person's name, as the source gives it (each part checked: one line, bounded).
    pub name: Option<StaffName>,
    /// SDS user id (`https://fhir.nhs.uk/Id/sds-user-id`), digits only.
    pub sds_user_id: Option<String>,
    /// GMP (GP) number (`https://fhir.hl7.org.uk/Id/gmp-number`), letters and digits.
    pub gmp_number: Option<String>,
    /// SDS role profile id (`https://fhir.nhs.uk/Id/sds-role-profile-id`), digits only.
    pub role_profile_id: Option<String>,
    /// The role's codes (XML `Agent/code`; STU3 `PractitionerRole.code`); never its text.
    pub role: Vec<Coding>,
    /// The organisation the person works for, or the organisation itself.
    pub org: Option<AgentOrg>,
}

/// A member of staff's name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StaffName {
    /// Prefixes (`Dr`).
    pub prefix: Vec<String>,
    /// Given names.
    pub given: Vec<String>,
    /// Family name.
    pub family: Option<String>,
}

impl StaffName {
    /// Whether no part survived its checks.
    pub fn is_empty(&self) -> bool {
        self.prefix.is_empty() && self.given.is_empty() && self.family.is_none()
    }
}

/// An organisation named by an agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentOrg {
    /// ODS code, in ODS syntax.
    pub ods: Option<String>,
    /// Name (checked: one line, bounded).
    pub name: Option<String>,
}

/// Longest name part kept for a member of staff or an organisation.
pub const MAX_STAFF_TEXT: usize = 200;

/// A name part as staff data: trimmed, one line, no control characters, at most
/// [`MAX_STAFF_TEXT`] bytes; anything else is not kept.
pub fn staff_text(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t.len() <= MAX_STAFF_TEXT && !t.chars().any(char::is_control))
        .then(|| t.to_string())
}

/// An SDS user id or role profile id: 1 to 20 ASCII digits.
pub fn sds_id(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.to_string())
}

/// A GMP (GP national) number: a letter then 7 digits (`G1234567`), or 7 or 8 digits.
pub fn gmp_number(s: &str) -> Option<String> {
    let t = s.trim();
    let b = t.as_bytes();
    let ok = match b.first() {
        Some(c) if c.is_ascii_alphabetic() => b.len() == 8 && b[1..].iter().all(u8::is_ascii_digit),
        Some(_) => matches!(b.len(), 7 | 8) && b.iter().all(u8::is_ascii_digit),
        None => false,
    };
    ok.then(|| t.to_string())
}
