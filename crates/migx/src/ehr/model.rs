//! The typed model both readers (EhrExtract XML, GP Connect STU3) produce, and that the
//! policy and the FHIR mapping consume. It holds codes, dates and structure; free text is
//! recorded only as "present", never kept, so it cannot leak by accident.

use crate::codes::Coding;
use crate::ehr::ts::Ts;
use std::borrow::Cow;
use std::collections::HashMap;

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

/// A date field as the source gave it: parsed, absent, or present but unreadable (which a
/// filter decision must treat as "unknown", failing closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateField {
    /// No date was given (no element, a `nullFlavor`, or a placeholder such as SystmOne's
    /// `19000101000000`).
    #[default]
    Absent,
    /// A parsed timestamp, keeping the source's precision.
    Value(Ts),
    /// A date was given but could not be parsed; date filters treat it as unknown and fail closed.
    Invalid,
}

impl DateField {
    /// From an HL7 v3 TS value (`yyyy[MM[dd[HH[mm[ss]]]]]` with optional offset); placeholders
    /// count as absent.
    pub fn from_hl7(s: &str) -> DateField {
        match Ts::parse(s) {
            Ok(ts) if ts.is_placeholder() => DateField::Absent,
            Ok(ts) => DateField::Value(ts),
            Err(_) => DateField::Invalid,
        }
    }
    /// From a FHIR `date`/`dateTime`/`instant` string (GP Connect STU3).
    pub fn from_fhir(s: &str) -> DateField {
        match Ts::parse_fhir(s) {
            Ok(ts) if ts.is_placeholder() => DateField::Absent,
            Ok(ts) => DateField::Value(ts),
            Err(_) => DateField::Invalid,
        }
    }
    /// The timestamp, when one was parsed.
    pub fn value(&self) -> Option<Ts> {
        match self {
            DateField::Value(t) => Some(*t),
            _ => None,
        }
    }
}

/// `effectiveTime` as an interval or a point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effective {
    /// Start of the interval (`effectiveTime/low`): e.g. a problem's onset or a medication's start.
    pub low: DateField,
    /// End of the interval (`effectiveTime/high`): e.g. a problem's end or an authorisation's
    /// expiry.
    pub high: DateField,
    /// A single point in time (`effectiveTime/@value` or `center`).
    pub center: DateField,
}

impl Effective {
    /// When the thing happened: center, else low.
    pub fn point(&self) -> DateField {
        match self.center {
            DateField::Absent => self.low,
            c => c,
        }
    }
}

/// A measured or coded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A physical quantity (`PQ`): the number as written (not reformatted) and its unit.
    Quantity {
        /// The number exactly as the source wrote it.
        value: String,
        /// The unit, when given.
        unit: Option<String>,
    },
    /// An interval of quantities (`IVL_PQ`), either bound optional.
    Range {
        /// Lower bound as written.
        low: Option<String>,
        /// Upper bound as written.
        high: Option<String>,
        /// Unit of both bounds.
        unit: Option<String>,
    },
    /// A coded value (`CD`/`CV`): the code and its translations.
    Coded(Vec<Coding>),
    /// A string value: free text, never shared.
    Text,
}

/// A reference range on a result (numbers and unit only; its text is free text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferenceRange {
    /// Lower limit of normal, as written.
    pub low: Option<String>,
    /// Upper limit of normal, as written.
    pub high: Option<String>,
    /// Unit of the limits.
    pub unit: Option<String>,
}

/// An HL7 structural code (`classCode`, `moodCode`, `statusCode`) exactly as the source
/// wrote it: one of the codes every record repeats is shared, not copied into each item.
pub type Hl7Code = Cow<'static, str>;

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
    match HL7_CODES.iter().find(|&&k| k == s) {
        Some(&k) => Cow::Borrowed(k),
        None => Cow::Owned(s.to_string()),
    }
}

/// One statement (or container) of the record, in document order.
#[derive(Debug, Clone, Default)]
pub struct Item {
    /// Source id: `id/@root` (with `/@extension` appended after `:` when present), lowercase.
    pub id: String,
    /// Further ids the element carried (some systems write two).
    pub alt_ids: Vec<String>,
    /// Which GP2GP construct this is; an item without one is withheld as unclassified.
    pub element: Option<Element>,
    /// HL7 `classCode` (e.g. `OBS`, `CLUSTER`, `BATTERY`, `SBADM`, `SPLY`): refines what a
    /// statement is.
    pub class_code: Option<Hl7Code>,
    /// HL7 `moodCode`: `EVN` for something that happened, `INT`/`RQO` for an intent or request.
    pub mood_code: Option<Hl7Code>,
    /// HL7 `statusCode` (`COMPLETE`, `ACTIVE`, `SUSPENDED`, `ABORTED`, ...).
    pub status_code: Option<Hl7Code>,
    /// The source marks the item entered in error (HL7 v3 `statusCode` `nullified`; GP
    /// Connect `status` or `verificationStatus` `entered-in-error` on the resource, on a
    /// resource merged into it, or on a List placing it): never shared
    /// (`entered-in-error`).
    pub entered_in_error: bool,
    /// The source's own certainty, as the FHIR R4 verification code it means (GP Connect
    /// `verificationStatus` on a Condition or AllergyIntolerance, mapped by a fixed table);
    /// `None` when the source says nothing (GP2GP never does) or says `unknown`. A mapping
    /// never claims more than this.
    pub verification: Option<&'static str>,
    /// The source's own clinical status, as the FHIR R4 code it means, where it says more
    /// than active/inactive (GP Connect `clinicalStatus`: `recurrence`, `remission`,
    /// `resolved`, `inactive`); `None` otherwise.
    pub clinical_status: Option<&'static str>,
    /// The source says the act did not happen (GP Connect Immunization `notGiven: true`):
    /// shared only as a Procedure with status `not-done`, never as one that was done.
    pub not_done: bool,
    /// A STU3 `Consent` that migx cannot read as a clear, active, permitting consent for
    /// direct care is this item, or sits inside its resource (contained or nested): no
    /// permit code the item carries lifts a practice dissent (see `gpconnect::consent_reading`).
    pub grants_nothing: bool,
    /// Enclosing item (statement or composition), by index into `Extract::items`.
    pub parent: Option<usize>,
    /// `code` and its `translation`s.
    pub codes: Vec<Coding>,
    /// A `code` element was present but carried no usable code (nullFlavor, no codeSystem).
    pub code_uncoded: bool,
    /// When the thing happened (or the interval it covered).
    pub effective: Effective,
    /// `availabilityTime`: when it was recorded in the source system.
    pub availability: DateField,
    /// When the author committed it: XML `author/time` (on an `ehrComposition`, the time its
    /// statements were filed; the NHS translator's `issued`); STU3 `Observation.issued` and
    /// `DiagnosticReport.issued`. Shared as `issued` only at minute precision or finer.
    pub authored: DateField,
    /// Confidentiality codes on this element itself.
    pub confidentiality: Vec<String>,
    /// Further placements beside `parent` (GP Connect: every consultation, report, group or
    /// list that places the item, when it is emitted under another one). Confidentiality
    /// follows every placement (`policy::graph`).
    pub also_in: Vec<usize>,
    /// A reference a confidentiality decision about this item depends on (its consultation,
    /// report, list placement) could not be resolved, or resolved ambiguously: withheld as
    /// `unresolvable-reference` (fail closed).
    pub unresolved_placement: bool,
    /// Items whose withholding as confidential or sensitive withholds this one (GP Connect:
    /// the resource a problem's `actualProblem` points at, when it is not read as the
    /// problem's named statement). Confidentiality also flows along these (`policy::graph`).
    pub depends_on: Vec<usize>,
    /// Free text present in this element (text, annotations, originalText, string values).
    pub free_text: bool,
    /// Every other coding the source construct carries, wherever it sits: in XML any
    /// element inside the statement with `code` and `codeSystem` that no field above reads
    /// (qualifier values, method, body site, reason, reference-range interpretation, ...); in
    /// STU3 every Coding (any object with a string `code`) anywhere in the resource, its
    /// extensions and contained resources, and in resources merged into it. Never emitted;
    /// screened with the rest (see [`Item::codings`]).
    pub carried: Vec<Coding>,
    /// ehrComposition / statement child element count (for structure checks).
    pub children: Vec<usize>,
    /// Who acted on the item, as the source names them (agent keys into
    /// [`Extract::agents`]): XML `author`, `Participant` (`PRF`, `PPRF`) and, on a
    /// composition, `Participant2`; STU3 `asserter`, `recorder`, `requester.agent`,
    /// `performer`, `informationSource`. Staff data: the policy's `clinical_detail.staff`
    /// decides what a release says about them.
    pub staff: Vec<StaffRef>,
    /// What only this kind of construct has: one payload per construct (see [`ItemKind`]).
    pub kind: ItemKind,
    /// Source line of the element's start, for messages.
    pub line: u32,
}

/// What only one kind of construct has: one payload per construct, filled by the reader
/// when it opens the construct (see [`ItemKind::for_element`]). Policy and mapping match on
/// it; a field of one construct cannot be read from, or left empty on, another.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ItemKind {
    /// A construct with nothing beyond the head (composition, compound, narrative, plan,
    /// request, registration, other).
    #[default]
    Plain,
    /// An `ObservationStatement`: a finding, result value, allergen.
    Observation(Observation),
    /// A GP Connect `AllergyIntolerance` header (a `CompoundStatement`) with its reactions.
    Allergy(Box<Allergy>),
    /// A problem header (`LinkSet`).
    LinkSet(Box<LinkSet>),
    /// A `MedicationStatement`: the drug and its dose.
    Medication(Box<Medication>),
    /// An `ehrSupplyAuthorise`, `ehrSupplyPrescribe` or `ehrSupplyDiscontinue`.
    Supply(Box<Supply>),
}

/// An observation's own fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// The statement's `value`, if any.
    pub value: Option<Value>,
    /// `interpretationCode`s on a result (e.g. high/low/abnormal flags).
    pub interpretation: Vec<Coding>,
    /// The result's normal range, if given (rare: boxed).
    pub reference_range: Option<Box<ReferenceRange>>,
    /// The text of a transfer-degraded allergy code (`code/originalText`, STU3 `code.text`),
    /// kept only when the code is on `policy/codes/degraded.tsv`: the only place such an
    /// allergy names its allergen. Shared as `code.text` only when the policy's
    /// `clinical_detail.degraded_allergy_text` allows it; otherwise audited free text.
    pub code_text: Option<String>,
}

/// A GP Connect allergy header's own fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allergy {
    /// The reactions the source structures (GP Connect `AllergyIntolerance.reaction`;
    /// GP2GP has no reaction structure). Their text (`description`, `note`) is narrative,
    /// never kept.
    pub reactions: Vec<Reaction>,
}

/// A problem header's own fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkSet {
    /// The id of the statement whose code names the problem
    /// (`conditionNamed/namedStatementRef`).
    pub named_statement: Option<String>,
    /// Ids of the related statements (`component/statementRef`).
    pub component_refs: Vec<String>,
    /// `code/qualifier/name` codings (e.g. 386134007 significant/major problem).
    pub qualifiers: Vec<Coding>,
    /// GP Connect: ids of the problems the source relates it to
    /// (`Extension-CareConnect-RelatedProblemHeader-1` `target`). GP2GP relates problems
    /// through `component/statementRef` to another LinkSet instead (`component_refs`).
    pub related_problems: Vec<String>,
}

/// A medication statement's own fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Medication {
    /// The drug codings (`consumable/.../manufacturedMaterial/code` and translations).
    pub consumable: Vec<Coding>,
    /// The dose instruction (`pertinentMedicationDosage/text`, STU3
    /// `dosageInstruction.text`). Prescribing content, not clinician narrative: the one text
    /// the model keeps, shared only when the policy's `clinical_detail` allows it.
    pub dosage_text: Option<String>,
    /// The dose as the source structures it (GP Connect `dosageInstruction`, when there is
    /// exactly one; GP2GP gives dose text only). Shared beside the dose text, under the same
    /// `clinical_detail.dose_instructions` switch.
    pub dose: Option<StructuredDose>,
    /// The date of the last issue as the source states it (STU3
    /// `MedicationStatementLastIssueDate`); XML takes the latest issue's date instead.
    pub last_issue: DateField,
}

/// A supply's own fields (authorisation, issue, discontinuation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Supply {
    /// ehrSupplyAuthorise: `repeatNumber` (0 = acute, otherwise the number of repeats allowed).
    pub repeat_number: Option<u32>,
    /// ehrSupplyAuthorise: how many issues the source says were made under it (STU3
    /// `numberOfRepeatPrescriptionsIssued`); XML counts its `ehrSupplyPrescribe`s instead.
    pub issues_recorded: Option<u32>,
    /// ehrSupplyAuthorise: repeat dispensing (STU3 prescription type `repeat-dispensing`):
    /// UK Core's `continuous-repeating-dispensing` course of therapy.
    pub repeat_dispensing: bool,
    /// The quantity per issue as written.
    pub quantity: Option<String>,
    /// The quantity's unit as the source wrote it (`quantity/@unit` unless `1`, else
    /// `translation/originalText`; STU3 `dispenseRequest.quantity.unit`). Emitted only when
    /// the policy's unit list knows it.
    pub quantity_unit: Option<String>,
    /// ehrSupplyPrescribe/ehrSupplyDiscontinue: the id of the authorisation it issues or stops.
    pub prior_ref: Option<String>,
}

impl ItemKind {
    /// The payload a construct opens with.
    pub fn for_element(element: Element) -> ItemKind {
        match element {
            Element::ObservationStatement => ItemKind::Observation(Observation::default()),
            Element::LinkSet => ItemKind::LinkSet(Box::default()),
            Element::MedicationStatement => ItemKind::Medication(Box::default()),
            Element::EhrSupplyAuthorise
            | Element::EhrSupplyPrescribe
            | Element::EhrSupplyDiscontinue => ItemKind::Supply(Box::default()),
            Element::EhrComposition
            | Element::CompoundStatement
            | Element::NarrativeStatement
            | Element::PlanStatement
            | Element::RequestStatement
            | Element::RegistrationStatement
            | Element::Other => ItemKind::Plain,
        }
    }

    /// Every coding the payload carries (exhaustive on purpose: a payload field added
    /// breaks the destructuring below until it is placed on one side).
    fn codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        let (obs, allergy, link, med): (
            Option<&Observation>,
            Option<&Allergy>,
            Option<&LinkSet>,
            Option<&Medication>,
        ) = match self {
            ItemKind::Plain | ItemKind::Supply(_) => (None, None, None, None),
            ItemKind::Observation(o) => (Some(o), None, None, None),
            ItemKind::Allergy(a) => (None, Some(a), None, None),
            ItemKind::LinkSet(l) => (None, None, Some(l), None),
            ItemKind::Medication(m) => (None, None, None, Some(m)),
        };
        let link = link.into_iter().flat_map(|l| {
            let LinkSet {
                qualifiers,
                named_statement: _,
                component_refs: _,
                related_problems: _,
            } = l;
            qualifiers
        });
        obs.into_iter()
            .flat_map(Observation::emitted_codings)
            .chain(allergy.into_iter().flat_map(Allergy::codings))
            .chain(link)
            .chain(med.into_iter().flat_map(Medication::codings))
    }

    /// The payload's codings a FHIR resource may carry: coded value, interpretation,
    /// drug, reactions, dose (not a problem's qualifiers).
    fn emitted_codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        let (obs, allergy, med): (Option<&Observation>, Option<&Allergy>, Option<&Medication>) =
            match self {
                ItemKind::Observation(o) => (Some(o), None, None),
                ItemKind::Allergy(a) => (None, Some(a), None),
                ItemKind::Medication(m) => (None, None, Some(m)),
                ItemKind::Plain | ItemKind::Supply(_) | ItemKind::LinkSet(_) => (None, None, None),
            };
        obs.into_iter()
            .flat_map(Observation::emitted_codings)
            .chain(allergy.into_iter().flat_map(Allergy::codings))
            .chain(med.into_iter().flat_map(Medication::codings))
    }
}

impl Observation {
    /// The coded value and the interpretation codes (exhaustive: see [`Item::codings`]).
    fn emitted_codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        let Observation {
            value,
            interpretation,
            reference_range: _,
            code_text: _,
        } = self;
        let value_codes: &[Coding] = match value {
            Some(Value::Coded(cs)) => cs,
            _ => &[],
        };
        value_codes.iter().chain(interpretation)
    }
}

impl Allergy {
    /// Every reaction's codings.
    fn codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        let Allergy { reactions } = self;
        reactions.iter().flat_map(Reaction::codings)
    }
}

impl Medication {
    /// The drug and the structured dose's codings (exhaustive: see [`Item::codings`]).
    fn codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        let Medication {
            consumable,
            dose,
            dosage_text: _,
            last_issue: _,
        } = self;
        consumable
            .iter()
            .chain(dose.iter().flat_map(StructuredDose::codings))
    }
}

/// An allergic reaction, as far as the source codes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reaction {
    /// What was observed (`manifestation`): screened like every coding.
    pub manifestation: Vec<Coding>,
    /// `mild`, `moderate` or `severe`, when the source says one of them.
    pub severity: Option<&'static str>,
    /// When the reaction began.
    pub onset: DateField,
    /// How the patient was exposed (`exposureRoute`): screened like every coding.
    pub exposure_route: Vec<Coding>,
}

/// A quantity of a dose: the number as written and its unit text (emitted only when the
/// policy's unit list knows it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoseQuantity {
    /// The number exactly as the source wrote it.
    pub value: String,
    /// The unit, when given.
    pub unit: Option<String>,
}

/// A structured dose instruction (GP Connect STU3 `Dosage`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StructuredDose {
    /// `doseQuantity`.
    pub quantity: Option<DoseQuantity>,
    /// `doseRange` (low, high).
    pub range: Option<(Option<DoseQuantity>, Option<DoseQuantity>)>,
    /// `timing.repeat.frequency`.
    pub frequency: Option<u32>,
    /// `timing.repeat.period`, as written.
    pub period: Option<String>,
    /// `timing.repeat.periodUnit` (`s`, `min`, `h`, `d`, `wk`, `mo`, `a`).
    pub period_unit: Option<&'static str>,
    /// `route`: screened like every coding.
    pub route: Vec<Coding>,
    /// `asNeededBoolean`.
    pub as_needed: Option<bool>,
    /// `asNeededCodeableConcept`: screened like every coding.
    pub as_needed_for: Vec<Coding>,
    /// `additionalInstruction`: screened like every coding.
    pub additional: Vec<Coding>,
}

impl StructuredDose {
    /// The dose's codings: route, as-needed reason, additional instructions.
    pub fn codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        self.route
            .iter()
            .chain(&self.as_needed_for)
            .chain(&self.additional)
    }

    /// Every unit text the dose carries.
    pub fn units(&self) -> impl Iterator<Item = &str> + '_ {
        let (low, high) = match &self.range {
            Some((l, h)) => (l.as_ref(), h.as_ref()),
            None => (None, None),
        };
        self.quantity
            .iter()
            .chain(low)
            .chain(high)
            .filter_map(|q| q.unit.as_deref())
    }
}

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
    /// The agent's source id (lowercase); never emitted as it is.
    pub agent: String,
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

impl Item {
    /// A new item of a construct, with the payload it opens with.
    pub fn new(element: Element) -> Item {
        Item {
            element: Some(element),
            kind: ItemKind::for_element(element),
            ..Item::default()
        }
    }

    /// The one enumeration of every coding this item carries: its code and translations,
    /// every coding of its payload (qualifiers, coded value, interpretation, drug, dose,
    /// reactions), and every other coding the source construct carries. The sensitive
    /// screen and the consent/dissent screen both read this, and only this (see
    /// `policy::screen`).
    pub fn codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        self.codes
            .iter()
            .chain(self.kind.codings())
            .chain(&self.carried)
    }

    /// The codings of this item that a FHIR resource may carry (the subset of
    /// [`Item::codings`] the mapping emits): code, coded value, interpretation, drug,
    /// reactions, dose.
    pub fn emitted_codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        self.codes.iter().chain(self.kind.emitted_codings())
    }

    /// The observation payload, when the item is an observation.
    pub fn observation(&self) -> Option<&Observation> {
        match &self.kind {
            ItemKind::Observation(o) => Some(o),
            _ => None,
        }
    }

    /// The observation payload, mutable.
    pub fn observation_mut(&mut self) -> Option<&mut Observation> {
        match &mut self.kind {
            ItemKind::Observation(o) => Some(o),
            _ => None,
        }
    }

    /// The allergy header payload (GP Connect).
    pub fn allergy(&self) -> Option<&Allergy> {
        match &self.kind {
            ItemKind::Allergy(a) => Some(a),
            _ => None,
        }
    }

    /// The problem header payload, when the item is a `LinkSet`.
    pub fn link_set(&self) -> Option<&LinkSet> {
        match &self.kind {
            ItemKind::LinkSet(l) => Some(l),
            _ => None,
        }
    }

    /// The problem header payload, mutable.
    pub fn link_set_mut(&mut self) -> Option<&mut LinkSet> {
        match &mut self.kind {
            ItemKind::LinkSet(l) => Some(l),
            _ => None,
        }
    }

    /// The medication payload, when the item is a `MedicationStatement`.
    pub fn medication(&self) -> Option<&Medication> {
        match &self.kind {
            ItemKind::Medication(m) => Some(m),
            _ => None,
        }
    }

    /// The medication payload, mutable.
    pub fn medication_mut(&mut self) -> Option<&mut Medication> {
        match &mut self.kind {
            ItemKind::Medication(m) => Some(m),
            _ => None,
        }
    }

    /// The supply payload, when the item is an authorisation, issue or discontinuation.
    pub fn supply(&self) -> Option<&Supply> {
        match &self.kind {
            ItemKind::Supply(s) => Some(s),
            _ => None,
        }
    }

    /// The supply payload, mutable.
    pub fn supply_mut(&mut self) -> Option<&mut Supply> {
        match &mut self.kind {
            ItemKind::Supply(s) => Some(s),
            _ => None,
        }
    }

    /// The authorisation an issue fulfils or a discontinuation stops (supplies only).
    pub fn prior_ref(&self) -> Option<&str> {
        self.supply()?.prior_ref.as_deref()
    }

    /// The statement naming a problem (`LinkSet`s only).
    pub fn named_statement(&self) -> Option<&str> {
        self.link_set()?.named_statement.as_deref()
    }
}

impl Reaction {
    /// The reaction's codings: manifestation and exposure route.
    pub fn codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        self.manifestation.iter().chain(&self.exposure_route)
    }
}

/// A record being read: what a reader fills, field by field, before [`ExtractBuilder::finish`]
/// turns it into an [`Extract`] (children, the id index and duplicate ids computed once). An
/// `Extract` cannot be had any other way, so no reader or test can forget to finish one.
/// An [`Extract`] reads these fields through `Deref`.
#[derive(Debug, Clone, Default)]
pub struct ExtractBuilder {
    /// Which message the file was, once recognised.
    pub kind: Option<MessageKind>,
    /// The message id (wrapper `id/@root`, or the extract's id for a bare extract), lowercase.
    pub message_id: Option<String>,
    /// The `EhrExtract`'s own `id/@root`, lowercase.
    pub extract_id: Option<String>,
    /// `creationTime` of the wrapper, else `EhrExtract/availabilityTime`.
    pub created: DateField,
    /// NHS numbers found in `recordTarget` (more than one is an error).
    pub nhs_numbers: Vec<String>,
    /// ODS code of the sending practice (`author/AgentOrgSDS/agentOrganizationSDS/id`).
    pub practice_ods: Option<String>,
    /// Every item of the record, in document order; indexes elsewhere point into this.
    pub items: Vec<Item>,
    /// Confidentiality codes on the whole record, with the construct that carried them
    /// (`EhrExtract`, `ehrFolder`; GP Connect `Bundle`, `Patient`). They cover every item.
    pub record_confidentiality: Vec<(&'static str, String)>,
    /// Codings carried by source constructs that are not items (XML: the extract, folder
    /// and record target outside any statement; STU3: Lists, Patient, Organization and the
    /// other structural resources). Screened for dissent: a dissent coded there withholds
    /// the patient.
    pub record_codings: Vec<Coding>,
    /// STU3 `Consent` resources anywhere in the record (top-level, contained or nested) that
    /// refuse by their structure (a `deny` exception, status `rejected`, an opt-out policy),
    /// whatever their codes say, each dated by its `dateTime`: a practice dissent, as a
    /// dissent code would be (see `gpconnect::consent_reading`).
    pub consent_refusals: Vec<DateField>,
    /// Record-level values dropped because they were not in their syntax (text where an
    /// identifier belongs), by migx's own name for the field (e.g. `practice-ods`): audited
    /// `free-text`.
    pub record_text_removed: Vec<&'static str>,
    /// Source constructs that are not items but cover items (GP Connect `List`s, referenced
    /// or contained resources); `policy::graph` spreads their codes.
    pub covers: Vec<Cover>,
    /// Why the record does not name one verified patient, found while reading; the pipeline
    /// rejects such a record before any decision (one bundle, one verified patient).
    pub identity_problem: Option<IdentityProblem>,
    /// The agents the record names, by source id (lowercase): staff data, shared only as
    /// the policy says and only through a shared item that refers to them.
    pub agents: HashMap<String, Agent>,
}

/// A whole record: one patient's extract. Its fields are the [`ExtractBuilder`]'s, read
/// through `Deref`; only the id index and the duplicate ids are its own, computed once by
/// [`ExtractBuilder::finish`].
#[derive(Debug, Clone)]
pub struct Extract {
    /// What the reader read.
    record: ExtractBuilder,
    /// Source id -> item index, built once by [`ExtractBuilder::finish`].
    index: HashMap<String, usize>,
    /// Ids seen on more than one element, sorted.
    duplicate_ids: Vec<String>,
}

impl std::ops::Deref for Extract {
    type Target = ExtractBuilder;
    fn deref(&self) -> &ExtractBuilder {
        &self.record
    }
}

impl std::ops::DerefMut for Extract {
    fn deref_mut(&mut self) -> &mut ExtractBuilder {
        &mut self.record
    }
}

/// A source construct that is not an item of its own but whose confidentiality covers
/// items (GP Connect: a `List` covers its entries and sub-lists; a `Medication` the
/// medications that use it; a contained resource the resource containing it).
#[derive(Debug, Clone, Default)]
pub struct Cover {
    /// migx's name for the construct (`List`, `Medication`, `contained`), never a source id.
    pub construct: &'static str,
    /// Its own confidentiality codes.
    pub codes: Vec<String>,
    /// Items it covers (indexes into `Extract::items`).
    pub items: Vec<usize>,
    /// Other covers it covers (sub-lists), indexes into `Extract::covers`.
    pub covers: Vec<usize>,
    /// Items whose confidentiality covers this construct's contents (a problem relating a
    /// list).
    pub owners: Vec<usize>,
}

/// Why a record does not identify exactly one verified patient. The messages are migx's own
/// words: they never hold an NHS number, an id or a name from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityProblem {
    /// More than one patient (`multiple-patients`): two different NHS numbers for the
    /// patient, or a resource whose subject is not the record's patient.
    Conflicting(String),
    /// The NHS number is not a verified one (`unverified-identity`): a verification status
    /// other than `01` (number present and verified), or an identifier system that is not the
    /// current NHS number system.
    Unverified(String),
}

impl ExtractBuilder {
    /// Record an identity problem; the first one found is the one reported.
    pub fn identity(&mut self, p: IdentityProblem) {
        self.identity_problem.get_or_insert(p);
    }

    /// Set the sending practice's ODS code, when it has the ODS code shape; otherwise
    /// (text, a phrase, an NHS number) drop it and record `practice-ods` as text removed.
    pub fn set_practice_ods(&mut self, raw: Option<&str>) {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return;
        };
        if crate::nhs::is_ods_code(raw) {
            self.practice_ods = Some(raw.to_string());
        } else if !self.record_text_removed.contains(&"practice-ods") {
            self.record_text_removed.push("practice-ods");
        }
    }

    /// The dates the record holds that certainly lie in the past of whoever recorded them
    /// (every recorded time, and the point or start of what happened; see `record_dates`).
    pub fn record_dates(&self) -> impl Iterator<Item = Ts> + '_ {
        record_dates(&self.items)
    }

    /// The latest of [`ExtractBuilder::record_dates`] (the start of its period), if any.
    pub fn latest_record_date(&self) -> Option<Ts> {
        self.record_dates().max_by_key(Ts::epoch_secs)
    }

    /// The record, finished: `children` filled and the id index built, once (confidentiality
    /// over containment and references is computed once per extract by `policy::graph`).
    pub fn finish(mut self) -> Extract {
        let items = &mut self.items;
        // The reader grew the list by doubling: give the unused half back before mapping.
        items.shrink_to_fit();
        for i in 0..items.len() {
            if let Some(p) = items[i].parent.filter(|&p| p < items.len()) {
                items[p].children.push(i);
            }
        }
        let mut index = HashMap::with_capacity(items.len());
        let mut dups = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if item.id.is_empty() {
                continue;
            }
            for id in std::iter::once(&item.id).chain(item.alt_ids.iter()) {
                if index.insert(id.clone(), i).is_some() {
                    dups.push(id.clone());
                }
            }
        }
        dups.sort();
        dups.dedup();
        for d in &dups {
            index.remove(d);
        }
        Extract {
            record: self,
            index,
            duplicate_ids: dups,
        }
    }
}

/// The dates the record holds that certainly lie in the past of whoever recorded them:
/// every item's recorded time (`availabilityTime`; STU3 asserted, recorded, issued,
/// authored dates), and the point or start of what happened (an event: mood `EVN` or
/// none, not a plan or request). End dates are not among them (an authorisation may
/// rightly end in the future, and `99991231` often means "no end"), nor the dates of
/// intents, plans and requests (a recall is planned for the future). Placeholders
/// (`19000101`) and unreadable dates are absent from it.
fn record_dates(items: &[Item]) -> impl Iterator<Item = Ts> + '_ {
    items.iter().flat_map(|item| {
        let event = matches!(item.mood_code.as_deref(), None | Some("EVN"))
            && !matches!(
                item.element,
                Some(Element::PlanStatement | Element::RequestStatement)
            );
        let happened = [item.effective.center, item.effective.low]
            .into_iter()
            .filter(move |_| event);
        std::iter::once(item.availability)
            .chain(happened)
            .filter_map(|d| d.value())
    })
}

impl Extract {
    /// Source id -> item index (ids on more than one element are not in it).
    pub fn index(&self) -> &HashMap<String, usize> {
        &self.index
    }

    /// Ids seen on more than one element, sorted.
    pub fn duplicate_ids(&self) -> &[String] {
        &self.duplicate_ids
    }

    /// Look an item up by source id (already lowercase).
    pub fn get(&self, id: &str) -> Option<&Item> {
        self.index.get(id).map(|&i| &self.items[i])
    }

    /// Ancestors of an item, nearest first.
    pub fn ancestors(&self, mut i: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::from_fn(move || {
            let p = self.items.get(i)?.parent?;
            i = p;
            Some(p)
        })
    }
}

/// Items of every payload kind with every coding slot filled, for tests that must hold for
/// every coding of every construct.
#[cfg(test)]
pub(crate) mod test_items {
    use super::*;

    /// One item of each [`ItemKind`] (and each [`Value`] that holds codings), every field
    /// that holds a coding filled by `next()` (called once per slot, in order). The payload
    /// literals name every field (no `..Default::default()`), so a field added to a payload
    /// does not compile here until it is given a value.
    pub(crate) fn every_kind(next: &mut dyn FnMut() -> Coding) -> Vec<Item> {
        let head = |element: Element, next: &mut dyn FnMut() -> Coding| Item {
            codes: vec![next()],
            carried: vec![next()],
            ..Item::new(element)
        };
        let quantity = |v: &str| DoseQuantity {
            value: v.into(),
            unit: None,
        };
        let mut out = vec![head(Element::CompoundStatement, next)];
        let mut obs = head(Element::ObservationStatement, next);
        obs.kind = ItemKind::Observation(Observation {
            value: Some(Value::Coded(vec![next(), next()])),
            interpretation: vec![next()],
            reference_range: Some(Box::default()),
            code_text: None,
        });
        out.push(obs);
        let mut allergy = head(Element::CompoundStatement, next);
        allergy.kind = ItemKind::Allergy(Box::new(Allergy {
            reactions: vec![Reaction {
                manifestation: vec![next()],
                severity: Some("mild"),
                onset: DateField::Absent,
                exposure_route: vec![next()],
            }],
        }));
        out.push(allergy);
        let mut link = head(Element::LinkSet, next);
        link.kind = ItemKind::LinkSet(Box::new(LinkSet {
            named_statement: None,
            component_refs: Vec::new(),
            qualifiers: vec![next()],
            related_problems: Vec::new(),
        }));
        out.push(link);
        let mut med = head(Element::MedicationStatement, next);
        med.kind = ItemKind::Medication(Box::new(Medication {
            consumable: vec![next(), next()],
            dosage_text: None,
            dose: Some(StructuredDose {
                quantity: Some(quantity("1")),
                range: Some((Some(quantity("1")), None)),
                frequency: Some(1),
                period: None,
                period_unit: None,
                route: vec![next()],
                as_needed: None,
                as_needed_for: vec![next()],
                additional: vec![next()],
            }),
            last_issue: DateField::Absent,
        }));
        out.push(med);
        for element in [
            Element::EhrSupplyAuthorise,
            Element::EhrSupplyPrescribe,
            Element::EhrSupplyDiscontinue,
        ] {
            let mut supply = head(element, next);
            supply.kind = ItemKind::Supply(Box::new(Supply {
                repeat_number: Some(1),
                issues_recorded: None,
                repeat_dispensing: false,
                quantity: None,
                quantity_unit: None,
                prior_ref: None,
            }));
            out.push(supply);
        }
        out
    }

    /// Every coding `item` holds, found by reading its debug form (not through
    /// [`Item::codings`], which is what the tests check): the `code` of each `Coding`.
    pub(crate) fn codes_in(item: &Item) -> Vec<String> {
        let text = format!("{item:?}");
        text.match_indices("Coding { system: ")
            .filter_map(|(at, _)| {
                let rest = &text[at..];
                let start = rest.find("code: \"")? + 7;
                let end = rest[start..].find('"')?;
                Some(rest[start..start + end].to_string())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_items::*;

    /// Upper bounds on the measured sizes (64-bit).
    const ITEM_BYTES: usize = 576;
    const KIND_BYTES: usize = 128;
    use super::*;
    use crate::codes::CodeSystem;

    #[test]
    fn codings_enumerates_every_coding_of_every_payload_kind() {
        let mut n = 0;
        let mut next = || {
            n += 1;
            Coding::new(CodeSystem::Snomed, format!("m{n}"))
        };
        let items = every_kind(&mut next);
        // Every payload kind is generated.
        let kinds: std::collections::BTreeSet<&str> = items
            .iter()
            .map(|i| match i.kind {
                ItemKind::Plain => "plain",
                ItemKind::Observation(_) => "observation",
                ItemKind::Allergy(_) => "allergy",
                ItemKind::LinkSet(_) => "link set",
                ItemKind::Medication(_) => "medication",
                ItemKind::Supply(_) => "supply",
            })
            .collect();
        assert_eq!(kinds.len(), 6, "{kinds:?}");
        for item in &items {
            let held = codes_in(item);
            assert!(held.len() >= 2, "{item:?}");
            let listed: Vec<&str> = item.codings().map(|c| c.code.as_str()).collect();
            for code in &held {
                assert!(listed.contains(&code.as_str()), "{code} of {item:?}");
            }
            assert_eq!(listed.len(), held.len(), "{item:?}");
            // What the mapping may emit is a subset, and never the carried codings.
            let emitted: Vec<&str> = item.emitted_codings().map(|c| c.code.as_str()).collect();
            assert!(emitted.iter().all(|c| listed.contains(c)));
            assert!(!emitted.contains(&item.carried[0].code.as_str()));
        }
    }

    /// Bytes per item (issue 24.12): the head and the largest inline payload; a rare
    /// payload is boxed. Bounds, so growth is a decision, not an accident.
    #[test]
    fn an_item_stays_compact() {
        use std::mem::size_of;
        let sizes = [
            ("Item", size_of::<Item>(), ITEM_BYTES),
            ("ItemKind", size_of::<ItemKind>(), KIND_BYTES),
            ("Observation", size_of::<Observation>(), KIND_BYTES),
            ("Coding", size_of::<Coding>(), 72),
            ("Hl7Code", size_of::<Option<Hl7Code>>(), 24),
        ];
        for (what, bytes, bound) in sizes {
            println!("size_of {what}: {bytes}");
            assert!(bytes <= bound, "{what}: {bytes} bytes, bound {bound}");
        }
        // Common structural codes are shared, not allocated per item.
        assert!(matches!(hl7_code("OBS"), Cow::Borrowed(_)));
        assert!(matches!(hl7_code("odd"), Cow::Owned(ref s) if s == "odd"));
    }

    #[test]
    fn a_construct_opens_with_its_own_payload() {
        use Element as E;
        for e in [
            E::EhrComposition,
            E::ObservationStatement,
            E::CompoundStatement,
            E::LinkSet,
            E::MedicationStatement,
            E::EhrSupplyAuthorise,
            E::EhrSupplyPrescribe,
            E::EhrSupplyDiscontinue,
            E::NarrativeStatement,
            E::PlanStatement,
            E::RequestStatement,
            E::RegistrationStatement,
            E::Other,
        ] {
            let item = Item::new(e);
            assert_eq!(item.element, Some(e));
            assert_eq!(item.observation().is_some(), e == E::ObservationStatement);
            assert_eq!(item.link_set().is_some(), e == E::LinkSet);
            assert_eq!(item.medication().is_some(), e == E::MedicationStatement);
            assert_eq!(
                item.supply().is_some(),
                matches!(
                    e,
                    E::EhrSupplyAuthorise | E::EhrSupplyPrescribe | E::EhrSupplyDiscontinue
                )
            );
            assert!(item.allergy().is_none());
        }
    }
}
