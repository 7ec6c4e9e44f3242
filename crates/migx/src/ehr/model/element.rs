//! Where a source construct is from and what it is: the message kind, the GP2GP element
//! name, and the HL7 structural codes every record repeats.

/// Which message the file was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `RCMR_IN030000UK06`
    Uk06,
    /// `RCMR_IN030000UK07` (may carry confidentiality codes)
    Uk07,
    /// A bare `EhrExtract` root.
    BareExtract,
    /// A GP Connect STU3 structured record bundle.
    GpConnectStu3,
}

impl MessageKind {
    /// The interaction id (or root element name) as written in the source, for audit and messages.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Uk06 => "RCMR_IN030000UK06",
            MessageKind::Uk07 => "RCMR_IN030000UK07",
            MessageKind::BareExtract => "EhrExtract",
            MessageKind::GpConnectStu3 => "GPConnect-STU3-Bundle",
        }
    }
}

/// The element (construct) an item came from, named as in the GP2GP specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Element {
    /// A consultation or filing event; groups the statements recorded together and can carry
    /// confidentiality for all of them.
    EhrComposition,
    /// A single coded entry: a finding, diagnosis, result value, allergy code, etc.
    ObservationStatement,
    /// A container of statements: allergy wrappers, test reports (CLUSTER) and batteries of
    /// results.
    CompoundStatement,
    /// A problem header: links a named statement (the problem's code) to related content, with
    /// active/inactive status.
    LinkSet,
    /// A medication: the drug (`consumable`) with its authorisations, issues and discontinuation as
    /// children.
    MedicationStatement,
    /// An authorisation (the prescribing plan); `repeatNumber` 0 means acute, otherwise repeat.
    EhrSupplyAuthorise,
    /// An issue (order) made under an authorisation, linked to it by `inFulfillmentOf`.
    EhrSupplyPrescribe,
    /// The stopping of an authorisation, linked to it by `reversalOf`.
    EhrSupplyDiscontinue,
    /// Free text (comments, notes, document references); never shared.
    NarrativeStatement,
    /// A plan for the future (recall, intended procedure); not something that happened.
    PlanStatement,
    /// A referral or other request to another service; not shared.
    RequestStatement,
    /// The patient's registration details at the practice; not shared.
    RegistrationStatement,
    /// A source construct migx has no mapping for (e.g. a GP Connect resource type it does
    /// not know); never shared, recorded as `category-not-shared`.
    Other,
}

impl Element {
    /// The GP2GP element name, exactly as it appears in the XML (used in the audit `element`).
    pub fn name(self) -> &'static str {
        match self {
            Element::EhrComposition => "ehrComposition",
            Element::ObservationStatement => "ObservationStatement",
            Element::CompoundStatement => "CompoundStatement",
            Element::LinkSet => "LinkSet",
            Element::MedicationStatement => "MedicationStatement",
            Element::EhrSupplyAuthorise => "ehrSupplyAuthorise",
            Element::EhrSupplyPrescribe => "ehrSupplyPrescribe",
            Element::EhrSupplyDiscontinue => "ehrSupplyDiscontinue",
            Element::NarrativeStatement => "NarrativeStatement",
            Element::PlanStatement => "PlanStatement",
            Element::RequestStatement => "RequestStatement",
            Element::RegistrationStatement => "RegistrationStatement",
            Element::Other => "Other",
        }
    }
}

/// An HL7 structural code (`classCode`, `moodCode`, `statusCode`) exactly as the source
/// wrote it: one of the codes every record repeats is one byte (its place in the shared
/// table), any other its own text. Sixteen bytes in an `Option` (issue 24.12: three on every
/// item; a `Cow<'static, str>` was 24). Reads as the text (`Deref<Target = str>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Hl7Code(Hl7Repr);

/// A tagged layout (`repr(u8)`), so an `Option<Hl7Code>` finds its `None` in the tag.
#[derive(Clone, PartialEq, Eq)]
#[repr(u8)]
enum Hl7Repr {
    /// An index into the shared table.
    Common(u8),
    /// Any other code, as written (a box of one word).
    Other(Box<Box<str>>),
}

impl std::ops::Deref for Hl7Code {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.0 {
            Hl7Repr::Common(i) => HL7_CODES.get(usize::from(*i)).copied().unwrap_or_default(),
            Hl7Repr::Other(s) => s,
        }
    }
}

impl std::fmt::Debug for Hl7Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl From<&str> for Hl7Code {
    fn from(s: &str) -> Hl7Code {
        hl7_code(s)
    }
}

impl From<String> for Hl7Code {
    fn from(s: String) -> Hl7Code {
        match HL7_CODES.iter().position(|&k| k == s) {
            Some(i) => Hl7Code(Hl7Repr::Common(i as u8)),
            None => Hl7Code(Hl7Repr::Other(Box::new(s.into_boxed_str()))),
        }
    }
}

impl Hl7Code {
    /// Whether the code is one of the shared table's (held in one byte).
    pub fn is_common(&self) -> bool {
        matches!(self.0, Hl7Repr::Common(_))
    }
}

/// The `classCode`, `moodCode` and `statusCode` values GP2GP statements use (HL7 v3
/// vocabulary, not clinical content), kept once for every item that carries them.
const HL7_CODES: [&str; 24] = [
    "OBS",
    "CLUSTER",
    "BATTERY",
    "CATEGORY",
    "TOPIC",
    "COMPOSITION",
    "SBADM",
    "SPLY",
    "LIST",
    "EVN",
    "INT",
    "RQO",
    "PRMS",
    "PRP",
    "ORD",
    "COMPLETE",
    "ACTIVE",
    "SUSPENDED",
    "ABORTED",
    "CANCELLED",
    "OBSOLETE",
    "NULLIFIED",
    "nullified",
    "NEW",
];

/// An HL7 structural code as written: a common one shared, any other owned.
pub fn hl7_code(s: &str) -> Hl7Code {
    match HL7_CODES.iter().position(|&k| k == s) {
        Some(i) => Hl7Code(Hl7Repr::Common(i as u8)),
        None => Hl7Code(Hl7Repr::Other(Box::new(s.into()))),
    }
}
