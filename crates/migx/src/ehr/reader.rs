//! One streaming pass over a GP2GP `EhrExtract` with quick-xml into the typed [`Extract`].
//!
//! The reader keeps a stack of element tags and a stack of open statements; each element is
//! matched by its path *relative to the statement it belongs to*, so nested statements are
//! read the same way wherever they sit. Nothing is rescanned: ids are indexed once at the
//! end ([`Extract::finish`]). Hostile input costs bounded work: depth, attributes per
//! element and text size are limited while streaming, and a DOCTYPE is refused outright
//! (entities are never expanded, nothing is fetched).

use crate::codes::{CodeSystem, Coding};
use crate::ehr::model::*;
use crate::error::{ErrorCode, InputError};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;
use std::io::BufRead;

/// HL7 v3 namespace.
pub const HL7_NS: &str = "urn:hl7-org:v3";
/// OID of NHS numbers in `recordTarget/patient/id/@root`.
pub const OID_NHS_NUMBER: &str = "2.16.840.1.113883.2.1.4.1";
/// OID of ODS (SDS organisation) codes.
pub const OID_ODS: &str = "1.2.826.0.1285.0.1.10";
/// OID of ODS organisation codes as an agentDirectory organisation writes them (the NHS
/// GP2GP translator's `ORG_ROOT`).
pub const OID_ODS_ORG: &str = "2.16.840.1.113883.2.1.4.3";
/// OID of GMP (GP national) numbers on an agentDirectory `Agent` (the translator maps the
/// agent's second id to `gmp-number`).
pub const OID_GMP_NUMBER: &str = "2.16.840.1.113883.2.1.4.2";
/// OID of SDS user ids.
pub const OID_SDS_USER: &str = "1.2.826.0.1285.0.2.0.65";
/// OID of SDS role profile ids.
pub const OID_SDS_ROLE_PROFILE: &str = "1.2.826.0.1285.0.2.0.67";

/// Streaming limits; a file that exceeds one is rejected with `limit-exceeded`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest element nesting accepted (guards against stack and memory exhaustion).
    pub max_depth: usize,
    /// Most attributes accepted on one element.
    pub max_attributes: usize,
    /// Largest single node (a text node or a whole tag with its attributes); enforced before
    /// the node is buffered whole (see `NodeBound`), so memory stays bounded.
    pub max_text_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 256,
            max_attributes: 64,
            max_text_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Element names the reader cares about. Everything else is `Other` and only tracked for depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Other,
    Id,
    CreationTime,
    EhrExtract,
    EhrFolder,
    RecordTarget,
    Patient,
    Author,
    AgentOrgSds,
    AgentOrganizationSds,
    AvailabilityTime,
    Code,
    Translation,
    OriginalText,
    Qualifier,
    Name,
    StatusCode,
    EffectiveTime,
    Low,
    High,
    Center,
    ConfidentialityCode,
    Value,
    InterpretationCode,
    ReferenceRange,
    ReferenceInterpretationRange,
    Text,
    Time,
    PertinentInformation,
    PertinentAnnotation,
    PertinentMedicationDosage,
    PertinentSupplyAnnotation,
    Component,
    StatementRef,
    ConditionNamed,
    NamedStatementRef,
    Consumable,
    ManufacturedProduct,
    ManufacturedMaterial,
    RepeatNumber,
    Quantity,
    InFulfillmentOf,
    ReversalOf,
    PriorMedicationRef,
    AgentRef,
    Participant,
    Participant2,
    AgentDirectory,
    Part,
    Agent,
    AgentPerson,
    RepresentedOrganization,
    AgentOrganization,
    Prefix,
    Given,
    Family,
    Statement(Element),
}

/// Matched on the length first: most lengths hold one or two names, so an unknown element
/// costs one or two comparisons instead of one per name.
fn tag_of(local: &str) -> Tag {
    let b = local.as_bytes();
    match b.len() {
        2 => match b {
            b"id" => Tag::Id,
            _ => Tag::Other,
        },
        3 => match b {
            b"low" => Tag::Low,
            _ => Tag::Other,
        },
        4 => match b {
            b"code" => Tag::Code,
            b"name" => Tag::Name,
            b"high" => Tag::High,
            b"text" => Tag::Text,
            b"time" => Tag::Time,
            b"part" => Tag::Part,
            _ => Tag::Other,
        },
        5 => match b {
            b"value" => Tag::Value,
            b"Agent" => Tag::Agent,
            b"given" => Tag::Given,
            _ => Tag::Other,
        },
        6 => match b {
            b"author" => Tag::Author,
            b"center" => Tag::Center,
            b"prefix" => Tag::Prefix,
            b"family" => Tag::Family,
            _ => Tag::Other,
        },
        7 => match b {
            b"patient" => Tag::Patient,
            b"LinkSet" => Tag::Statement(Element::LinkSet),
            _ => Tag::Other,
        },
        8 => match b {
            b"quantity" => Tag::Quantity,
            b"agentRef" => Tag::AgentRef,
            _ => Tag::Other,
        },
        9 => match b {
            b"qualifier" => Tag::Qualifier,
            b"component" => Tag::Component,
            b"ehrFolder" => Tag::EhrFolder,
            _ => Tag::Other,
        },
        10 => match b {
            b"EhrExtract" => Tag::EhrExtract,
            b"statusCode" => Tag::StatusCode,
            b"consumable" => Tag::Consumable,
            b"reversalOf" => Tag::ReversalOf,
            _ => Tag::Other,
        },
        11 => match b {
            b"AgentOrgSDS" => Tag::AgentOrgSds,
            b"translation" => Tag::Translation,
            b"Participant" | b"participant" => Tag::Participant,
            b"agentPerson" => Tag::AgentPerson,
            _ => Tag::Other,
        },
        12 => match b {
            b"creationTime" => Tag::CreationTime,
            b"recordTarget" => Tag::RecordTarget,
            b"originalText" => Tag::OriginalText,
            b"statementRef" => Tag::StatementRef,
            b"repeatNumber" => Tag::RepeatNumber,
            b"Participant2" | b"participant2" => Tag::Participant2,
            _ => Tag::Other,
        },
        13 => match b {
            b"effectiveTime" => Tag::EffectiveTime,
            b"PlanStatement" => Tag::Statement(Element::PlanStatement),
            _ => Tag::Other,
        },
        14 => match b {
            b"referenceRange" => Tag::ReferenceRange,
            b"conditionNamed" => Tag::ConditionNamed,
            b"ehrComposition" => Tag::Statement(Element::EhrComposition),
            b"agentDirectory" => Tag::AgentDirectory,
            _ => Tag::Other,
        },
        15 => match b {
            b"inFulfillmentOf" => Tag::InFulfillmentOf,
            _ => Tag::Other,
        },
        16 => match b {
            b"availabilityTime" => Tag::AvailabilityTime,
            b"RequestStatement" => Tag::Statement(Element::RequestStatement),
            _ => Tag::Other,
        },
        17 => match b {
            b"namedStatementRef" => Tag::NamedStatementRef,
            b"CompoundStatement" => Tag::Statement(Element::CompoundStatement),
            b"agentOrganization" => Tag::AgentOrganization,
            _ => Tag::Other,
        },
        18 => match b {
            b"interpretationCode" => Tag::InterpretationCode,
            b"priorMedicationRef" => Tag::PriorMedicationRef,
            b"ehrSupplyAuthorise" => Tag::Statement(Element::EhrSupplyAuthorise),
            b"ehrSupplyPrescribe" => Tag::Statement(Element::EhrSupplyPrescribe),
            b"NarrativeStatement" => Tag::Statement(Element::NarrativeStatement),
            _ => Tag::Other,
        },
        19 => match b {
            b"confidentialityCode" => Tag::ConfidentialityCode,
            b"pertinentAnnotation" => Tag::PertinentAnnotation,
            b"manufacturedProduct" => Tag::ManufacturedProduct,
            b"MedicationStatement" => Tag::Statement(Element::MedicationStatement),
            _ => Tag::Other,
        },
        20 => match b {
            b"agentOrganizationSDS" => Tag::AgentOrganizationSds,
            b"pertinentInformation" => Tag::PertinentInformation,
            b"manufacturedMaterial" => Tag::ManufacturedMaterial,
            b"ObservationStatement" => Tag::Statement(Element::ObservationStatement),
            b"ehrSupplyDiscontinue" => Tag::Statement(Element::EhrSupplyDiscontinue),
            _ => Tag::Other,
        },
        21 => match b {
            b"RegistrationStatement" => Tag::Statement(Element::RegistrationStatement),
            _ => Tag::Other,
        },
        23 => match b {
            b"representedOrganization" => Tag::RepresentedOrganization,
            _ => Tag::Other,
        },
        25 => match b {
            b"pertinentMedicationDosage" => Tag::PertinentMedicationDosage,
            b"pertinentSupplyAnnotation" => Tag::PertinentSupplyAnnotation,
            _ => Tag::Other,
        },
        28 => match b {
            b"referenceInterpretationRange" => Tag::ReferenceInterpretationRange,
            _ => Tag::Other,
        },
        _ => Tag::Other,
    }
}

/// The attributes of one element that the reader uses, borrowed from the event.
#[derive(Default)]
struct Attrs<'a> {
    // Borrowed from the reader's buffer unless a value needed normalising: most elements'
    // attributes are read and dropped, so this saves an allocation per attribute.
    root: Option<Cow<'a, str>>,
    extension: Option<Cow<'a, str>>,
    code: Option<Cow<'a, str>>,
    code_system: Option<Cow<'a, str>>,
    display_name: Option<Cow<'a, str>>,
    value: Option<Cow<'a, str>>,
    unit: Option<Cow<'a, str>>,
    xsi_type: Option<Cow<'a, str>>,
    null_flavor: bool,
    class_code: Option<Cow<'a, str>>,
    mood_code: Option<Cow<'a, str>>,
    type_code: Option<Cow<'a, str>>,
    xmlns: Vec<(String, String)>,
}

/// An owned copy of an attribute value kept in the model.
fn own(v: &Option<Cow<'_, str>>) -> Option<String> {
    v.as_deref().map(str::to_string)
}

/// Read an EhrExtract from a UTF-8 byte stream. `len_hint` sizes the item vector.
pub fn read_extract<R: BufRead>(
    source: R,
    limits: &Limits,
    len_hint: u64,
) -> Result<Extract, InputError> {
    let mut reader = Reader::from_reader(NodeBound::new(source, limits.max_text_bytes));
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        // Whitespace-only text (the line breaks between elements, one per element) is
        // skipped without an event or a copy; text with content is still seen (leading
        // whitespace trimmed), and only whether there is any is used.
        cfg.trim_text_start = true;
        cfg.trim_text_end = false;
    }
    let mut st = State {
        ex: Extract::default(),
        path: Vec::with_capacity(64),
        items: Vec::with_capacity(32),
        extract_depth: None,
        text_target: None,
        root_seen: false,
        in_value_text: None,
        names: Vec::with_capacity(1024),
        name_starts: Vec::with_capacity(64),
        capture: None,
        captured: String::new(),
        capture_overflow: false,
        agent: None,
        agent_dups: Vec::new(),
        participation: None,
    };
    st.ex.items.reserve((len_hint / 2048) as usize);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let pos = reader.buffer_position();
        let ev = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                let at = (pos, reader.error_position(), reader.get_ref().consumed);
                return Err(xml_error(e, at, &st));
            }
        };
        if (reader.buffer_position() - pos) as usize > limits.max_text_bytes {
            return Err(InputError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "a single XML node is larger than {} bytes",
                    limits.max_text_bytes
                ),
            )
            .at(pos));
        }
        match ev {
            Event::Start(e) => {
                st.open(&e, pos, limits)?;
            }
            Event::Empty(e) => {
                st.open(&e, pos, limits)?;
                st.close();
            }
            Event::End(_) => st.close(),
            Event::Text(t) if st.capture.is_some() => st.keep_text(&t.xml10_content()),
            Event::CData(t) if st.capture.is_some() => st.keep_text(&t.into_inner()),
            Event::GeneralRef(r) if st.capture.is_some() => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => match r.as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    },
                    Err(_) => None,
                };
                match c {
                    Some(c) => st.keep_text(c.encode_utf8(&mut [0u8; 4])),
                    // An entity nobody defined: not text migx can stand behind.
                    None => st.capture_overflow = true,
                }
            }
            Event::Text(t) => {
                if let Some(i) = st.text_target {
                    if !t.as_ref().bytes().all(|b| b.is_ascii_whitespace()) {
                        st.ex.items[i].free_text = true;
                    }
                }
            }
            Event::CData(_) => {
                if let Some(i) = st.text_target {
                    st.ex.items[i].free_text = true;
                }
            }
            Event::GeneralRef(_) => {
                // `&amp;` and friends inside text: the text is non-empty.
                if let Some(i) = st.text_target {
                    st.ex.items[i].free_text = true;
                }
            }
            Event::DocType(_) => {
                return Err(InputError::new(
                    ErrorCode::DoctypeForbidden,
                    "DOCTYPE declarations are not accepted (entities are never expanded or fetched)",
                )
                .at(pos));
            }
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    let enc = enc.to_ascii_lowercase();
                    if !matches!(enc.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii") {
                        return Err(InputError::new(
                            ErrorCode::InvalidEncoding,
                            "the XML declaration names an encoding other than UTF-8 or ASCII; re-encode as UTF-8",
                        )
                        .at(pos));
                    }
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::PI(_) => {}
        }
        // Kept text is read whole (the spaces after an entity are part of it).
        reader.config_mut().trim_text_start = st.capture.is_none();
        buf.clear();
    }
    if !st.root_seen {
        return Err(InputError::new(
            ErrorCode::NotXml,
            "no XML root element found",
        ));
    }
    if !st.path.is_empty() {
        let mut err = InputError::new(
            ErrorCode::MalformedXml,
            "the document ends before its root element is closed (truncated?)",
        )
        .at(reader.buffer_position());
        err.element = st.innermost();
        return Err(err);
    }
    let mut ex = st.ex;
    for d in &st.agent_dups {
        ex.agents.remove(d);
    }
    if ex.kind == Some(MessageKind::BareExtract) {
        ex.message_id = ex.extract_id.clone();
    }
    ex.finish();
    Ok(ex)
}

struct State {
    ex: Extract,
    path: Vec<Tag>,
    /// Open items: (index in ex.items, depth of the item's element in `path`).
    items: Vec<(usize, usize)>,
    extract_depth: Option<usize>,
    /// Item whose free-text flag a text node would set, with the path depth that opened it.
    text_target: Option<usize>,
    root_seen: bool,
    in_value_text: Option<usize>,
    /// Local names of the open elements, concatenated (for error messages only).
    names: Vec<u8>,
    name_starts: Vec<usize>,
    /// A text node the model keeps (dose instruction, unit text): (item, slot, depth of the
    /// element holding the text).
    capture: Option<(usize, Slot, usize)>,
    captured: String,
    /// The kept text was too long or held an undefined entity: recorded as free text instead.
    capture_overflow: bool,
    /// The agentDirectory `Agent` being read: its source id, what it says, its depth.
    agent: Option<(String, Agent, usize)>,
    /// Agent ids given twice in the directory: neither is referenced (fail closed).
    agent_dups: Vec<String>,
    /// How the open `Participant`/`Participant2`/`author` takes part (`None`: not staff,
    /// or a nullFlavor).
    participation: Option<StaffKind>,
}

/// The texts the model keeps (everything else is only "present").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// `pertinentMedicationDosage/text` of a MedicationStatement.
    Dosage,
    /// `quantity/translation/originalText` of a supply (the unit EMIS writes as text).
    QuantityUnit,
    /// `value/translation/originalText` of a physical quantity (`unit="1"` in EMIS).
    ValueUnit,
    /// `code/originalText` of a transfer-degraded allergy code (it names the allergen).
    CodeText,
    /// `agentPerson/name/prefix` of the agent being read.
    StaffPrefix,
    /// `agentPerson/name/given`.
    StaffGiven,
    /// `agentPerson/name/family`.
    StaffFamily,
    /// `representedOrganization/name` or `agentOrganization/name`.
    OrgName,
}

/// Longest dose instruction or unit text kept; longer is treated as free text.
const MAX_KEPT_TEXT: usize = 1024;

impl State {
    fn open(&mut self, e: &BytesStart<'_>, pos: u64, limits: &Limits) -> Result<(), InputError> {
        let local = e.local_name();
        let local = local.as_ref();
        if self.path.len() >= limits.max_depth {
            return Err(InputError::new(
                ErrorCode::LimitExceeded,
                format!("elements nested deeper than {}", limits.max_depth),
            )
            .at(pos)
            .in_element(safe_name(local.as_bytes())));
        }
        let tag = tag_of(local);
        let attrs = read_attrs(e, limits, pos)?;
        if !self.root_seen {
            self.root_seen = true;
            self.check_root(local, e, &attrs, pos)?;
        } else if self.path.is_empty() {
            return Err(InputError::new(
                ErrorCode::MalformedXml,
                "a second root element after the first one closed",
            )
            .at(pos)
            .in_element(safe_name(local.as_bytes())));
        }
        self.path.push(tag);
        self.name_starts.push(self.names.len());
        self.names.extend_from_slice(local.as_bytes());
        let depth = self.path.len() - 1;

        if tag == Tag::EhrExtract && self.extract_depth.is_none() {
            self.extract_depth = Some(depth);
        }
        // Wrapper fields (children of the root).
        if depth == 1 && self.ex.kind != Some(MessageKind::BareExtract) {
            match tag {
                Tag::Id if self.ex.message_id.is_none() => {
                    self.ex.message_id = attrs.root.as_deref().map(normalise_id)
                }
                Tag::CreationTime => {
                    if let Some(v) = &attrs.value {
                        self.ex.created = DateField::from_hl7(v);
                    }
                }
                _ => {}
            }
        }
        if let Tag::Statement(element) = tag {
            if self.extract_depth.is_some() {
                let parent = self.items.last().map(|&(i, _)| i);
                let idx = self.ex.items.len();
                self.ex.items.push(Item {
                    element: Some(element),
                    class_code: own(&attrs.class_code),
                    mood_code: own(&attrs.mood_code),
                    parent,
                    line: pos as u32,
                    ..Item::default()
                });
                self.items.push((idx, depth));
            }
            return Ok(());
        }
        match self.items.last().copied() {
            Some((idx, idepth)) => self.item_field(idx, idepth, tag, &attrs),
            None if tag == Tag::ConfidentialityCode => {
                // Outside every statement: on the folder, the extract or the message around
                // it, and so on the whole record (fail closed wherever it sits).
                let construct = if self.path.contains(&Tag::EhrFolder) {
                    "ehrFolder"
                } else if self.extract_depth.is_some() {
                    "EhrExtract"
                } else {
                    self.ex.kind.map_or("EhrExtract", MessageKind::name)
                };
                let code = own(&attrs.code).unwrap_or_else(|| "UNKNOWN".to_string());
                self.ex.record_confidentiality.push((construct, code));
            }
            None => self.extract_field(&attrs),
        }
        Ok(())
    }

    fn close(&mut self) {
        let depth = self.path.len().saturating_sub(1);
        // Past the end of the EhrExtract: a later one (a second patient?) is read afresh.
        if self.extract_depth == Some(depth) {
            self.extract_depth = None;
        }
        if let Some(&(_, idepth)) = self.items.last() {
            if idepth == depth {
                self.items.pop();
            }
        }
        if let Some((_, slot, d)) = self.capture {
            if d == depth
                && matches!(
                    slot,
                    Slot::StaffPrefix | Slot::StaffGiven | Slot::StaffFamily | Slot::OrgName
                )
            {
                self.capture = None;
                let text = std::mem::take(&mut self.captured);
                // Too long or an undefined entity: not kept (staff data is never guessed).
                let kept = (!self.capture_overflow)
                    .then(|| crate::ehr::model::staff_text(&text))
                    .flatten();
                self.capture_overflow = false;
                if let (Some(t), Some((_, agent, _))) = (kept, self.agent.as_mut()) {
                    match slot {
                        Slot::OrgName => {
                            if let Some(org) = agent.org.as_mut() {
                                org.name.get_or_insert(t);
                            }
                        }
                        _ => {
                            let name = agent.name.get_or_insert_with(StaffName::default);
                            match slot {
                                Slot::StaffPrefix => name.prefix.push(t),
                                Slot::StaffGiven => name.given.push(t),
                                _ => {
                                    name.family.get_or_insert(t);
                                }
                            }
                        }
                    }
                }
            }
        }
        if let Some((_, _, d)) = self.agent {
            if d == depth {
                if let Some((key, agent, _)) = self.agent.take() {
                    if !key.is_empty() && self.ex.agents.insert(key.clone(), agent).is_some() {
                        self.agent_dups.push(key);
                    }
                }
            }
        }
        if let Some((idx, slot, d)) = self.capture {
            if d == depth {
                self.capture = None;
                let text = std::mem::take(&mut self.captured);
                let text = text.trim();
                let item = &mut self.ex.items[idx];
                if self.capture_overflow {
                    item.free_text = true;
                } else if !text.is_empty() {
                    let text = Some(text.to_string());
                    match slot {
                        Slot::Dosage => item.dosage_text = text,
                        Slot::CodeText => item.code_text = text,
                        Slot::QuantityUnit if item.quantity_unit.is_none() => {
                            item.quantity_unit = text
                        }
                        Slot::ValueUnit => match &mut item.value {
                            Some(Value::Quantity { unit, .. })
                            | Some(Value::Range { unit, .. })
                                if unit.is_none() =>
                            {
                                *unit = text
                            }
                            _ => {}
                        },
                        _ => {}
                    }
                }
                self.capture_overflow = false;
            }
        }
        if self.in_value_text == Some(depth) {
            self.in_value_text = None;
            self.text_target = None;
        }
        if let Some(Tag::Text | Tag::OriginalText) = self.path.last() {
            self.text_target = None;
        }
        self.path.pop();
        if let Some(start) = self.name_starts.pop() {
            self.names.truncate(start);
        }
    }

    /// Append to the text being kept, within its bound.
    fn keep_text(&mut self, t: &str) {
        if self.captured.len() + t.len() > MAX_KEPT_TEXT {
            self.capture_overflow = true;
        } else {
            self.captured.push_str(t);
        }
    }

    /// The innermost open element's name, for an error message.
    fn innermost(&self) -> Option<String> {
        let start = *self.name_starts.last()?;
        Some(safe_name(self.names.get(start..)?))
    }

    fn check_root(
        &mut self,
        local: &str,
        e: &BytesStart<'_>,
        attrs: &Attrs,
        pos: u64,
    ) -> Result<(), InputError> {
        let kind = match local {
            "RCMR_IN030000UK06" => MessageKind::Uk06,
            "RCMR_IN030000UK07" => MessageKind::Uk07,
            "EhrExtract" => MessageKind::BareExtract,
            _ => {
                return Err(InputError::new(
                    ErrorCode::UnsupportedMessage,
                    format!(
                    "root element <{}> is not RCMR_IN030000UK06, RCMR_IN030000UK07 or EhrExtract",
                    safe_name(local.as_bytes())
                ),
                )
                .at(pos)
                .in_element(safe_name(local.as_bytes())))
            }
        };
        let qname = e.name();
        let qname = qname.as_ref();
        let prefix = qname.split_once(':').map(|(p, _)| p);
        let wanted = match prefix {
            Some(p) => format!("xmlns:{p}"),
            None => "xmlns".to_string(),
        };
        let ns = attrs
            .xmlns
            .iter()
            .find(|(k, _)| *k == wanted)
            .map(|(_, v)| v.as_str());
        if ns != Some(HL7_NS) {
            return Err(InputError::new(
                ErrorCode::WrongNamespace,
                format!("root element <{local}> is not in namespace {HL7_NS}"),
            )
            .at(pos)
            .in_element(local));
        }
        self.ex.kind = Some(kind);
        Ok(())
    }

    /// Fields of the EhrExtract itself (outside any statement).
    fn extract_field(&mut self, attrs: &Attrs) {
        let Some(rel) = self.extract_depth.and_then(|xd| self.path.get(xd + 1..)) else {
            return;
        };
        match rel {
            [Tag::Id] if self.ex.extract_id.is_none() => {
                self.ex.extract_id = attrs.root.as_deref().map(normalise_id)
            }
            [Tag::AvailabilityTime] => {
                if let (Some(v), DateField::Absent) = (&attrs.value, self.ex.created) {
                    self.ex.created = DateField::from_hl7(v);
                }
            }
            // One slot per recordTarget (empty until an NHS number is read): two
            // recordTargets are two patients, whether or not they carry usable ids.
            [Tag::RecordTarget] => self.ex.nhs_numbers.push(String::new()),
            [Tag::RecordTarget, Tag::Patient, Tag::Id]
                if attrs.root.as_deref() == Some(OID_NHS_NUMBER) =>
            {
                let n = own(&attrs.extension).unwrap_or_default();
                match self.ex.nhs_numbers.last_mut() {
                    Some(slot) if slot.is_empty() => *slot = n,
                    Some(slot) if slot.trim() != n.trim() => {
                        self.ex.identity(IdentityProblem::Conflicting(
                            "one recordTarget carries two different NHS numbers".into(),
                        ));
                    }
                    _ => {}
                }
            }
            [Tag::Author, Tag::AgentOrgSds, Tag::AgentOrganizationSds, Tag::Id]
                if attrs.root.as_deref() == Some(OID_ODS) && self.ex.practice_ods.is_none() =>
            {
                self.ex.set_practice_ods(attrs.extension.as_deref());
            }
            [.., Tag::AgentDirectory, Tag::Part, Tag::Agent] => {
                let depth = self.path.len() - 1;
                self.agent = Some((String::new(), Agent::default(), depth));
            }
            _ if self.agent.is_some() => self.agent_field(attrs),
            // Codings on the extract, folder or record target: screened for dissent.
            _ => {
                if let Some(c) = coding(attrs).or_else(|| systemless(attrs)) {
                    self.ex.record_codings.push(c)
                }
            }
        }
    }

    /// Fields of the agentDirectory `Agent` being read, matched by path relative to it.
    fn agent_field(&mut self, a: &Attrs) {
        let Some((_, _, adepth)) = self.agent else {
            return;
        };
        let depth = self.path.len() - 1;
        let rel = &self.path[adepth + 1..];
        let Some((key, agent, _)) = self.agent.as_mut() else {
            return;
        };
        let ext = a.extension.as_deref();
        match rel {
            [Tag::Id] => match a.root.as_deref().map(str::trim) {
                Some(OID_GMP_NUMBER) => agent.gmp_number = ext.and_then(gmp_number),
                Some(OID_SDS_USER) => agent.sds_user_id = ext.and_then(sds_id),
                Some(OID_SDS_ROLE_PROFILE) => agent.role_profile_id = ext.and_then(sds_id),
                Some(root) if key.is_empty() && ext.is_none() => *key = normalise_id(root),
                _ => {}
            },
            [Tag::Code] => {
                if let Some(c) = coding(a) {
                    agent.role.push(c.clone());
                    self.ex.record_codings.push(c);
                } else {
                    self.ex.record_codings.extend(systemless(a));
                }
            }
            [Tag::AgentPerson] => agent.person = true,
            [Tag::AgentPerson, Tag::Name, part @ (Tag::Prefix | Tag::Given | Tag::Family)] => {
                let slot = match part {
                    Tag::Prefix => Slot::StaffPrefix,
                    Tag::Given => Slot::StaffGiven,
                    _ => Slot::StaffFamily,
                };
                self.capture = Some((0, slot, depth));
            }
            [Tag::RepresentedOrganization | Tag::AgentOrganization] => {
                agent.org.get_or_insert_with(AgentOrg::default);
            }
            [Tag::RepresentedOrganization | Tag::AgentOrganization, Tag::Id]
                if matches!(
                    a.root.as_deref().map(str::trim),
                    Some(OID_ODS_ORG | OID_ODS)
                ) =>
            {
                if let (Some(org), Some(ods)) = (agent.org.as_mut(), ext.map(str::trim)) {
                    if crate::nhs::is_ods_code(ods) {
                        org.ods = Some(ods.to_string());
                    }
                }
            }
            [Tag::RepresentedOrganization | Tag::AgentOrganization, Tag::Name] => {
                self.capture = Some((0, Slot::OrgName, depth));
            }
            // Every other coding in the directory: screened for dissent, as before.
            _ => {
                if let Some(c) = coding(a).or_else(|| systemless(a)) {
                    self.ex.record_codings.push(c)
                }
            }
        }
    }

    /// Fields of the innermost open statement, matched by path relative to it.
    fn item_field(&mut self, idx: usize, idepth: usize, tag: Tag, a: &Attrs) {
        let rel = &self.path[idepth + 1..];
        let depth = self.path.len() - 1;
        let element = self.ex.items[idx].element;
        let item = &mut self.ex.items[idx];
        match rel {
            [Tag::Id] => {
                if let Some(root) = &a.root {
                    let id = normalise_ref(root, a);
                    if item.id.is_empty() {
                        item.id = id;
                    } else {
                        item.alt_ids.push(id);
                    }
                }
            }
            [Tag::Code] => match coding(a) {
                Some(c) => item.codes.push(c),
                None => {
                    item.code_uncoded = true;
                    item.carried.extend(systemless(a));
                }
            },
            [Tag::Code, Tag::Translation] => match coding(a) {
                Some(c) => item.codes.push(c),
                None => item.carried.extend(systemless(a)),
            },
            [Tag::Code, Tag::Qualifier, Tag::Name] => match coding(a) {
                Some(c) => item.qualifiers.push(c),
                None => item.carried.extend(systemless(a)),
            },
            [Tag::StatusCode] => {
                item.status_code = own(&a.code);
                item.entered_in_error |= a
                    .code
                    .as_deref()
                    .is_some_and(|c| c.trim().eq_ignore_ascii_case("nullified"));
            }
            [Tag::EffectiveTime] => {
                if let Some(v) = &a.value {
                    item.effective.center = DateField::from_hl7(v);
                }
            }
            [Tag::EffectiveTime, Tag::Low] => set_date(&mut item.effective.low, a),
            [Tag::EffectiveTime, Tag::High] => set_date(&mut item.effective.high, a),
            [Tag::EffectiveTime, Tag::Center] => set_date(&mut item.effective.center, a),
            [Tag::AvailabilityTime] => set_date(&mut item.availability, a),
            [Tag::Author, Tag::Time] => set_date(&mut item.authored, a),
            // Who took part: the author wrote it; a Participant's typeCode says how
            // (`AUT` wrote it, `PRF` did it, `PPRF` did it as the primary performer); a
            // composition's Participant2 did what it holds. A nullFlavor names nobody.
            [Tag::Author] => self.participation = (!a.null_flavor).then_some(StaffKind::Recorder),
            [Tag::Participant] => {
                self.participation = match a.type_code.as_deref().map(str::trim) {
                    _ if a.null_flavor => None,
                    Some("AUT") => Some(StaffKind::Recorder),
                    Some("PRF") => Some(StaffKind::Performer),
                    Some("PPRF") => Some(StaffKind::PrimaryPerformer),
                    _ => None,
                }
            }
            [Tag::Participant2] => {
                self.participation = (!a.null_flavor).then_some(StaffKind::Performer)
            }
            [Tag::Author | Tag::Participant | Tag::Participant2, Tag::AgentRef, Tag::Id] => {
                if let (Some(kind), Some(root)) = (self.participation, a.root.as_deref()) {
                    item.staff.push(StaffRef {
                        kind,
                        agent: normalise_id(root),
                    });
                }
            }
            // At any depth inside the statement (not only as its direct child): a code the
            // reader does not place is still a restriction on the statement.
            [.., Tag::ConfidentialityCode] => {
                // An unreadable confidentiality code is still a restriction: keep a marker.
                item.confidentiality
                    .push(own(&a.code).unwrap_or_else(|| "UNKNOWN".to_string()));
            }
            [Tag::Value] => {
                let ty = a.xsi_type.as_deref().unwrap_or("");
                item.value = match ty {
                    "PQ" | "INT" | "REAL" => a.value.as_ref().map(|v| Value::Quantity {
                        value: v.to_string(),
                        unit: own(&a.unit).filter(|u| u != "1"),
                    }),
                    "IVL_PQ" => Some(Value::Range {
                        low: None,
                        high: None,
                        unit: None,
                    }),
                    "CD" | "CV" | "CE" | "CS" => Some(Value::Coded(
                        coding(a).or_else(|| systemless(a)).into_iter().collect(),
                    )),
                    _ => {
                        // ST, ED and anything unknown: free text.
                        self.in_value_text = Some(depth);
                        self.text_target = Some(idx);
                        Some(Value::Text)
                    }
                };
                if a.null_flavor && item.value.is_none() {
                    item.value = None;
                }
            }
            [Tag::Value, Tag::Low | Tag::High] => {
                if let Some(Value::Range { low, high, unit }) = &mut item.value {
                    let slot = if tag == Tag::Low { low } else { high };
                    *slot = own(&a.value);
                    if unit.is_none() {
                        *unit = own(&a.unit).filter(|u| u != "1");
                    }
                }
            }
            [Tag::Value, Tag::Translation] => {
                if let (Some(Value::Coded(cs)), Some(c)) =
                    (&mut item.value, coding(a).or_else(|| systemless(a)))
                {
                    cs.push(c);
                }
            }
            [Tag::InterpretationCode] => match coding(a) {
                Some(c) => item.interpretation.push(c),
                None => item.carried.extend(systemless(a)),
            },
            [Tag::ReferenceRange, Tag::ReferenceInterpretationRange, Tag::Value, Tag::Low | Tag::High] =>
            {
                let rr = item
                    .reference_range
                    .get_or_insert_with(ReferenceRange::default);
                if tag == Tag::Low {
                    rr.low = own(&a.value);
                } else {
                    rr.high = own(&a.value);
                }
                if rr.unit.is_none() {
                    rr.unit = own(&a.unit).filter(|u| u != "1");
                }
            }
            [Tag::Consumable, Tag::ManufacturedProduct, Tag::ManufacturedMaterial, Tag::Code]
            | [Tag::Consumable, Tag::ManufacturedProduct, Tag::ManufacturedMaterial, Tag::Code, Tag::Translation] => {
                match coding(a) {
                    Some(c) => item.consumable.push(c),
                    None => item.carried.extend(systemless(a)),
                }
            }
            [Tag::Component, Tag::StatementRef, Tag::Id] if element == Some(Element::LinkSet) => {
                if let Some(r) = &a.root {
                    item.component_refs.push(normalise_ref(r, a));
                }
            }
            [Tag::ConditionNamed, Tag::NamedStatementRef, Tag::Id] => {
                if let Some(r) = &a.root {
                    item.named_statement = Some(normalise_ref(r, a));
                }
            }
            [Tag::RepeatNumber] => {
                item.repeat_number = a.value.as_ref().and_then(|v| v.parse().ok())
            }
            [Tag::Quantity] => {
                item.quantity = own(&a.value);
                item.quantity_unit = own(&a.unit).filter(|u| u != "1");
            }
            // Kept texts: the dose instruction and the unit EMIS writes as text.
            [Tag::PertinentInformation, Tag::PertinentMedicationDosage, Tag::Text]
                if element == Some(Element::MedicationStatement) =>
            {
                self.capture = Some((idx, Slot::Dosage, depth));
            }
            [Tag::Quantity, Tag::Translation, Tag::OriginalText] => {
                self.capture = Some((idx, Slot::QuantityUnit, depth));
            }
            [Tag::Value, Tag::Translation, Tag::OriginalText]
                if matches!(
                    item.value,
                    Some(Value::Quantity { .. }) | Some(Value::Range { .. })
                ) =>
            {
                self.capture = Some((idx, Slot::ValueUnit, depth));
            }
            [Tag::InFulfillmentOf | Tag::ReversalOf, Tag::PriorMedicationRef, Tag::Id] => {
                if let Some(r) = &a.root {
                    item.prior_ref = Some(normalise_ref(r, a));
                }
            }
            // The allergen of a transfer-degraded allergy code is named only in its text.
            [Tag::Code, Tag::OriginalText]
                if item
                    .codes
                    .iter()
                    .any(crate::codes::degraded::is_degraded_allergy) =>
            {
                self.capture = Some((idx, Slot::CodeText, depth));
            }
            // Free text: only whether it is there, never what it says.
            [.., Tag::Text] | [Tag::Code, Tag::OriginalText] | [.., Tag::OriginalText] => {
                self.text_target = Some(idx);
            }
            // Every other coding inside the statement, wherever it sits (qualifier values,
            // method, target site, reason, range interpretation, ...): screened, never emitted.
            _ => item.carried.extend(coding(a).or_else(|| systemless(a))),
        }
    }
}

fn set_date(slot: &mut DateField, a: &Attrs) {
    if let Some(v) = &a.value {
        *slot = DateField::from_hl7(v);
    }
}

fn coding(a: &Attrs) -> Option<Coding> {
    match (&a.code, &a.code_system) {
        (Some(code), Some(sys)) if !code.trim().is_empty() => Some(Coding {
            system: CodeSystem::parse(sys),
            code: code.trim().to_string(),
            display: own(&a.display_name),
        }),
        _ => None,
    }
}

/// A code given without a `codeSystem`: its system is unknown, so it is screened under
/// every listed system and never emitted.
fn systemless(a: &Attrs) -> Option<Coding> {
    match (&a.code, &a.code_system) {
        (Some(code), None) if !code.trim().is_empty() => Some(Coding {
            system: CodeSystem::Invalid,
            code: code.trim().to_string(),
            display: None,
        }),
        _ => None,
    }
}

/// Ids are compared case-insensitively (UUIDs arrive upper-case).
pub fn normalise_id(root: &str) -> String {
    root.trim().to_ascii_lowercase()
}

/// `root` (normalised) and `/extension` when there is one, built in one allocation.
fn normalise_ref(root: &str, a: &Attrs) -> String {
    let root = root.trim();
    let ext = a.extension.as_deref();
    let mut s = String::with_capacity(root.len() + ext.map_or(0, |e| e.len() + 1));
    s.push_str(root);
    s.make_ascii_lowercase();
    if let Some(ext) = ext {
        s.push('/');
        s.push_str(ext);
    }
    s
}

fn read_attrs<'a>(
    e: &'a BytesStart<'_>,
    limits: &Limits,
    pos: u64,
) -> Result<Attrs<'a>, InputError> {
    let mut out = Attrs::default();
    for (n, attr) in e.attributes().enumerate() {
        if n >= limits.max_attributes {
            return Err(InputError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "an element has more than {} attributes",
                    limits.max_attributes
                ),
            )
            .at(pos)
            .in_element(safe_name(e.local_name().as_ref().as_bytes())));
        }
        let attr = attr.map_err(|err| {
            InputError::new(ErrorCode::MalformedXml, format!("bad attribute: {err}"))
                .at(pos)
                .in_element(safe_name(e.local_name().as_ref().as_bytes()))
        })?;
        let key = attr.key.as_ref();
        let local = attr.key.local_name();
        let local = local.as_ref();
        let value = || -> Result<Cow<'a, str>, InputError> {
            attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|_| {
                    // Not the escape error's text: it quotes the value's content.
                    InputError::new(
                        ErrorCode::MalformedXml,
                        "an attribute value has an unknown entity or a bad character reference",
                    )
                    .at(pos)
                    .in_element(safe_name(e.local_name().as_ref().as_bytes()))
                })
        };
        if key == "xmlns" || key.starts_with("xmlns:") {
            out.xmlns.push((key.to_string(), value()?.into_owned()));
            continue;
        }
        match local {
            "root" => out.root = Some(value()?),
            "extension" => out.extension = Some(value()?),
            "code" => out.code = Some(value()?),
            "codeSystem" => out.code_system = Some(value()?),
            "displayName" => out.display_name = Some(value()?),
            "value" => out.value = Some(value()?),
            "unit" => out.unit = Some(value()?),
            "type" if key.starts_with("xsi:") || key == "type" => out.xsi_type = Some(value()?),
            "nullFlavor" => out.null_flavor = true,
            // The first one, as a search for it would find (a duplicate is an error anyway).
            "classCode" if out.class_code.is_none() => out.class_code = Some(value()?),
            "moodCode" if out.mood_code.is_none() => out.mood_code = Some(value()?),
            "typeCode" if out.type_code.is_none() => out.type_code = Some(value()?),
            _ => {}
        }
    }
    Ok(out)
}

/// Where a quick-xml error happened: (start of the event being read, quick-xml's own error
/// offset, bytes consumed from the source).
type ErrorAt = (u64, u64, u64);

fn xml_error(e: quick_xml::Error, (pos, err_pos, consumed): ErrorAt, st: &State) -> InputError {
    use quick_xml::encoding::EncodingError;
    use quick_xml::Error as E;
    let (code, msg, offset) = match &e {
        E::Io(io) if io.get_ref().is_some_and(|i| i.is::<NodeTooLarge>()) => (
            ErrorCode::LimitExceeded,
            "a single XML node (tag or text) is larger than the limit".to_string(),
            consumed,
        ),
        E::Io(io) => (
            ErrorCode::IoError,
            format!("read failed: {}", io.kind()),
            consumed,
        ),
        // The event started at `pos`; the bad byte is where valid UTF-8 stopped.
        E::Encoding(EncodingError::Utf8(u)) => (
            ErrorCode::InvalidEncoding,
            "the bytes are not valid UTF-8".to_string(),
            pos + u.valid_up_to() as u64,
        ),
        E::Encoding(_) => (
            ErrorCode::InvalidEncoding,
            "the bytes are not valid UTF-8".to_string(),
            pos,
        ),
        E::Syntax(s) => (
            ErrorCode::MalformedXml,
            format!("XML syntax error: {s}"),
            err_pos,
        ),
        E::IllFormed(s) => (
            ErrorCode::MalformedXml,
            format!("XML is not well-formed: {}", ill_formed(s)),
            err_pos,
        ),
        E::InvalidAttr(s) => (
            ErrorCode::MalformedXml,
            format!("bad attribute: {s}"),
            err_pos,
        ),
        E::Escape(_) => (
            ErrorCode::MalformedXml,
            "an unknown entity or a bad character reference".to_string(),
            err_pos,
        ),
        E::Namespace(s) => (
            ErrorCode::MalformedXml,
            // Not the error's text: it quotes the prefix, which comes from the input.
            {
                let _ = s;
                "a namespace prefix is undeclared or declared wrongly".to_string()
            },
            err_pos,
        ),
    };
    let mut err = InputError::new(code, msg).at(offset);
    err.element = st.innermost();
    err
}

/// An ill-formedness message without the names quick-xml quotes (a hostile file could put
/// anything in an end tag's name).
fn ill_formed(e: &quick_xml::errors::IllFormedError) -> String {
    use quick_xml::errors::IllFormedError as I;
    match e {
        I::MismatchedEndTag { expected, .. } => {
            format!(
                "an end tag does not match <{}>",
                safe_name(expected.as_bytes())
            )
        }
        I::MissingEndTag(name) => format!(
            "the document ends before <{}> is closed (truncated?)",
            safe_name(name.as_bytes())
        ),
        I::UnmatchedEndTag(_) => "an end tag with no start tag".to_string(),
        I::MissingDeclVersion(_) => "the XML declaration does not start with version".to_string(),
        // Other variants may quote input text (names, comment or doctype content).
        _ => "the XML is not well-formed".to_string(),
    }
}

/// HL7 v3 interaction ids (`MCCI_IN010000UK13`: four letters, `_`, two letters, six digits,
/// two letters, two digits), HL7's own vocabulary: shown so a wrong message type is named.
fn is_interaction_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 17
        && b.iter().enumerate().all(|(i, &c)| match i {
            0..=3 | 5..=6 | 13..=14 => c.is_ascii_uppercase(),
            4 => c == b'_',
            _ => c.is_ascii_digit(),
        })
}

/// An element name fit for a message: XML name characters only, at most 64 of them.
/// An element name fit for a message: only names from migx's own vocabulary (the elements
/// the reader knows, and the three roots it accepts). Any other name came from the input,
/// which may have put a patient's name or NHS number there: it is shown as `?`.
fn safe_name(name: &[u8]) -> String {
    let Ok(s) = std::str::from_utf8(name) else {
        return "?".to_string();
    };
    let local = s.rsplit(':').next().unwrap_or(s);
    let known = tag_of(local) != Tag::Other
        || matches!(
            local,
            "RCMR_IN030000UK06" | "RCMR_IN030000UK07" | "EhrExtract"
        )
        || is_interaction_id(local);
    if known {
        local.to_string()
    } else {
        "?".to_string()
    }
}

/// The marker inside the I/O error [`NodeBound`] raises.
#[derive(Debug)]
struct NodeTooLarge;

impl std::fmt::Display for NodeTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a single XML node is larger than the limit")
    }
}

impl std::error::Error for NodeTooLarge {}

/// Bounds the memory one event can take *before* quick-xml has buffered it: quick-xml reads a
/// whole tag (all its attributes) or a whole text node into memory before returning it, so a
/// 100 MB text node or a tag with 10 million attributes would be held in full before any
/// per-event check could see it. This counts the bytes since the last `<`: a start tag
/// cannot contain `<`, so such a run is at most one tag plus the text after it, and a run
/// longer than twice the node limit means some node is over the limit. The read then fails
/// (with [`NodeTooLarge`]) after at most `2 * limit` plus one buffer of bytes.
struct NodeBound<R> {
    inner: R,
    /// Bytes since the last `<`.
    run: u64,
    max_run: u64,
    /// Bytes handed to the parser so far (for the error position).
    consumed: u64,
}

impl<R> NodeBound<R> {
    fn new(inner: R, max_node: usize) -> Self {
        NodeBound {
            inner,
            run: 0,
            max_run: (max_node as u64).saturating_mul(2),
            consumed: 0,
        }
    }
}

impl<R: BufRead> std::io::Read for NodeBound<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(out.len());
            out[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for NodeBound<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.run > self.max_run {
            return Err(std::io::Error::other(NodeTooLarge));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        // The bytes being consumed are still at the front of the inner buffer (quick-xml
        // consumes only what fill_buf returned), so this does no I/O.
        if let Ok(avail) = self.inner.fill_buf() {
            let done = &avail[..n.min(avail.len())];
            match memchr::memrchr(b'<', done) {
                Some(i) => self.run = (done.len() - i - 1) as u64,
                None => self.run += done.len() as u64,
            }
        }
        self.consumed += n as u64;
        self.inner.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = r#"<RCMR_IN030000UK06 xmlns="urn:hl7-org:v3">"#;

    fn read(s: &str) -> Result<Extract, InputError> {
        read_extract(s.as_bytes(), &Limits::default(), s.len() as u64)
    }

    #[test]
    fn a_nullified_statement_is_marked_entered_in_error() {
        let st = |id: &str, status: &str| {
            format!(
                r#"<component><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/><code code="H33..00" codeSystem="2.16.840.1.113883.2.1.6.2"/><statusCode code="{status}"/></ObservationStatement></component>"#
            )
        };
        let doc = format!(
            "{ROOT}<ControlActEvent><subject><EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><statusCode code=\"COMPLETE\"/>{}{}{}</ehrComposition></component></ehrFolder></component></EhrExtract></subject></ControlActEvent></RCMR_IN030000UK06>",
            st("A", "nullified"),
            st("B", "COMPLETE"),
            st("D", " NULLIFIED ")
        );
        let mut ex = read(&doc).expect("reads");
        ex.finish();
        let eie = |id: &str| ex.get(id).map(|i| i.entered_in_error);
        assert_eq!(eie("a"), Some(true));
        assert_eq!(eie("b"), Some(false));
        assert_eq!(eie("d"), Some(true));
        assert_eq!(eie("c"), Some(false));
    }

    #[test]
    fn a_second_root_element_is_malformed() {
        let doc = format!("{ROOT}</RCMR_IN030000UK06>{ROOT}</RCMR_IN030000UK06>");
        let e = read(&doc).expect_err("two roots");
        assert_eq!(e.code, ErrorCode::MalformedXml);
        assert_eq!(e.element.as_deref(), Some("RCMR_IN030000UK06"));
    }

    #[test]
    fn each_record_target_is_one_patient_with_or_without_an_id() {
        let pt = |id: &str| format!(r#"<recordTarget><patient>{id}</patient></recordTarget>"#);
        let nhs = r#"<id root="2.16.840.1.113883.2.1.4.1" extension="9990000018"/>"#;
        let doc = |body: String| {
            format!("{ROOT}<ControlActEvent><subject><EhrExtract>{body}</EhrExtract></subject></ControlActEvent></RCMR_IN030000UK06>")
        };
        let ex = read(&doc(pt(nhs))).expect("one");
        assert_eq!(ex.nhs_numbers, vec!["9990000018".to_string()]);
        let ex = read(&doc(format!("{}{}", pt(nhs), pt(nhs)))).expect("two");
        assert_eq!(ex.nhs_numbers.len(), 2);
        let ex = read(&doc(format!("{}{}", pt(""), pt(nhs)))).expect("two");
        assert_eq!(ex.nhs_numbers.len(), 2);
    }

    #[test]
    fn a_node_over_the_limit_fails_before_it_is_buffered_whole() {
        let limits = Limits {
            max_text_bytes: 1000,
            ..Limits::default()
        };
        // Far bigger than 2 x the limit: the read stops near 2000 bytes in.
        let doc = format!(
            "{ROOT}<text>{}</text></RCMR_IN030000UK06>",
            "x".repeat(1 << 20)
        );
        let source = std::io::BufReader::with_capacity(4096, doc.as_bytes());
        let e = read_extract(source, &limits, 0).expect_err("too big");
        assert_eq!(e.code, ErrorCode::LimitExceeded);
        assert!(e.offset.is_some_and(|o| o < 10_000), "{e:?}");
        assert_eq!(e.element.as_deref(), Some("text"));
        // Within the limit, the same shape reads.
        let doc = format!("{ROOT}<text>{}</text></RCMR_IN030000UK06>", "x".repeat(900));
        assert!(read_extract(doc.as_bytes(), &limits, 0).is_ok());
    }

    #[test]
    fn elements_after_the_extract_closes_are_read_safely() {
        // Found by fuzzing: an element after </EhrExtract>, shallower than its children,
        // indexed past the end of the path.
        let doc = format!(
            "{ROOT}<a><b><EhrExtract><id root=\"1\"/></EhrExtract></b></a><id root=\"2\"/></RCMR_IN030000UK06>"
        );
        assert!(read(&doc).is_ok());
        // A second EhrExtract in one message is read too: its patient counts.
        let pt = r#"<recordTarget><patient><id root="2.16.840.1.113883.2.1.4.1" extension="9990000018"/></patient></recordTarget>"#;
        let doc = format!(
            "{ROOT}<EhrExtract>{pt}</EhrExtract><EhrExtract>{pt}</EhrExtract></RCMR_IN030000UK06>"
        );
        assert_eq!(read(&doc).expect("reads").nhs_numbers.len(), 2);
    }

    #[test]
    fn the_agent_directory_and_participations_are_read_and_checked() {
        let agent = |id: &str, extra: &str| {
            format!(
                r#"<part typeCode="PART"><Agent classCode="AGNT"><id root="{id}"/>{extra}</Agent></part>"#
            )
        };
        let long = "x".repeat(MAX_STAFF_TEXT + 1);
        let dir = [
            agent(
                "A",
                r#"<id root="1.2.826.0.1285.0.2.0.65" extension="123456789012"/><id root="2.16.840.1.113883.2.1.4.2" extension="G1234567"/><id root="1.2.826.0.1285.0.2.0.67" extension="555"/><code code="62247001" codeSystem="2.16.840.1.113883.2.1.3.2.4.15"/><agentPerson><name><prefix>Dr</prefix><given>Ann</given><given>B</given><family>Example</family></name></agentPerson><representedOrganization><id root="2.16.840.1.113883.2.1.4.3" extension="A12345"/><name>Fixture &amp; Co</name></representedOrganization>"#,
            ),
            // Identifiers out of syntax and an over-long name part are not kept.
            agent(
                "B",
                &format!(r#"<id root="1.2.826.0.1285.0.2.0.65" extension="12 34"/><id root="2.16.840.1.113883.2.1.4.2" extension="not a number"/><agentPerson><name><family>{long}</family><given>Kept</given></name></agentPerson><agentOrganization><id root="2.16.840.1.113883.2.1.4.3" extension="no such code!"/></agentOrganization>"#),
            ),
            // Given twice: ambiguous, so neither is referenced.
            agent("D", "<agentPerson/>"),
            agent("D", "<agentPerson/>"),
        ]
        .concat();
        let stmt = |id: &str, parts: &str| {
            format!(
                r#"<component><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/>{parts}</ObservationStatement></component>"#
            )
        };
        let p = |ty: &str, who: &str| {
            format!(
                r#"<Participant typeCode="{ty}"><agentRef><id root="{who}"/></agentRef></Participant>"#
            )
        };
        let body = [
            stmt("S1", &[p("PRF", "A"), p("PPRF", "B"), p("AUT", "A"), p("RESP", "B")].concat()),
            stmt("S2", r#"<Participant nullFlavor="UNK" typeCode="PRF"><agentRef><id root="A"/></agentRef></Participant>"#),
        ]
        .concat();
        let doc = format!(
            r#"{ROOT}<EhrExtract><component><ehrFolder><responsibleParty><agentDirectory>{dir}</agentDirectory></responsibleParty><component><ehrComposition><id root="C"/><author><time value="2020"/><agentRef><id root="A"/></agentRef></author><Participant2 typeCode="RESP"><agentRef><id root="B"/></agentRef></Participant2>{body}</ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>"#
        );
        let ex = match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        };
        let a = &ex.agents["a"];
        assert!(a.person);
        assert_eq!(a.sds_user_id.as_deref(), Some("123456789012"));
        assert_eq!(a.gmp_number.as_deref(), Some("G1234567"));
        assert_eq!(a.role_profile_id.as_deref(), Some("555"));
        assert_eq!(a.role.len(), 1);
        let name = a.name.as_ref().expect("a name");
        assert_eq!(
            (
                name.prefix.clone(),
                name.given.clone(),
                name.family.as_deref()
            ),
            (
                vec!["Dr".to_string()],
                vec!["Ann".to_string(), "B".to_string()],
                Some("Example")
            )
        );
        let org = a.org.as_ref().expect("an organisation");
        assert_eq!(org.ods.as_deref(), Some("A12345"));
        assert_eq!(org.name.as_deref(), Some("Fixture & Co"));
        let b = &ex.agents["b"];
        assert_eq!(
            (b.sds_user_id.as_ref(), b.gmp_number.as_ref()),
            (None, None)
        );
        let bn = b.name.as_ref().expect("the part that passed");
        assert_eq!((bn.family.as_ref(), bn.given.len()), (None, 1));
        assert_eq!(b.org.as_ref().map(|o| o.ods.is_none()), Some(true));
        assert!(
            !ex.agents.contains_key("d"),
            "an id given twice names nobody"
        );
        let kinds = |id: &str| -> Vec<(StaffKind, String)> {
            ex.get(id)
                .expect(id)
                .staff
                .iter()
                .map(|s| (s.kind, s.agent.clone()))
                .collect()
        };
        assert_eq!(
            kinds("s1"),
            vec![
                (StaffKind::Performer, "a".into()),
                (StaffKind::PrimaryPerformer, "b".into()),
                (StaffKind::Recorder, "a".into()),
            ]
        );
        assert!(
            kinds("s2").is_empty(),
            "a nullFlavor participant names nobody"
        );
        assert_eq!(
            kinds("c"),
            vec![
                (StaffKind::Recorder, "a".into()),
                (StaffKind::Performer, "b".into())
            ]
        );
    }

    #[test]
    fn only_a_transfer_degraded_allergy_code_keeps_its_text() {
        let sct = "2.16.840.1.113883.2.1.3.2.4.15";
        let obs = |id: &str, code: &str, text: &str| {
            format!(
                r#"<ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/><code code="{code}" codeSystem="{sct}"><originalText>{text}</originalText></code></ObservationStatement>"#
            )
        };
        let body = [
            obs("D1", "196461000000101", "Penicillin V 250mg tablets"),
            obs("D2", "196471000000108", "Peanuts"),
            // Another degraded code, an ordinary code, and an over-long text: free text only.
            obs("D3", "196411000000103", "Seen in clinic"),
            obs("D4", "91936005", "Allergy to penicillin, said so"),
            obs("D5", "196461000000101", &"x".repeat(MAX_KEPT_TEXT + 1)),
        ]
        .concat();
        let doc = format!("{ROOT}<EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><component>{body}</component></ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>");
        let ex = match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        };
        let kept = |id: &str| {
            let i = ex.get(id).expect(id);
            (i.code_text.as_deref(), i.free_text)
        };
        assert_eq!(kept("d1"), (Some("Penicillin V 250mg tablets"), false));
        assert_eq!(kept("d2"), (Some("Peanuts"), false));
        assert_eq!(kept("d3"), (None, true));
        assert_eq!(kept("d4"), (None, true));
        assert_eq!(kept("d5"), (None, true));
    }

    #[test]
    fn dose_text_and_unit_texts_are_kept_free_text_only_flagged() {
        let med = r#"<MedicationStatement classCode="SBADM" moodCode="INT"><id root="M1"/>
            <component><ehrSupplyAuthorise classCode="SPLY" moodCode="INT"><id root="A1"/>
              <quantity value="28" unit="1"><translation value="28"><originalText>tablet</originalText></translation></quantity>
              <pertinentInformation><pertinentSupplyAnnotation><text>note</text></pertinentSupplyAnnotation></pertinentInformation>
            </ehrSupplyAuthorise></component>
            <pertinentInformation><pertinentMedicationDosage><text>
              One &amp; a half &#x2013; daily</text></pertinentMedicationDosage></pertinentInformation>
          </MedicationStatement>"#;
        let obs = |id: &str, value: &str| {
            format!(
                r#"<ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/>{value}</ObservationStatement>"#
            )
        };
        let body = [
            med.to_string(),
            obs("O1", r#"<value xsi:type="PQ" value="5.1" unit="1"><translation value="5.1"><originalText>10*9/L</originalText></translation></value>"#),
            obs("O2", r#"<value xsi:type="PQ" value="140" unit="mm[Hg]"/>"#),
            obs("O3", &format!(r#"<value xsi:type="PQ" value="1" unit="1"><translation value="1"><originalText>{}</originalText></translation></value>"#, "x".repeat(MAX_KEPT_TEXT + 1))),
            obs("O4", r#"<value xsi:type="PQ" value="1" unit="1"><translation value="1"><originalText>a &bogus; b</originalText></translation></value>"#),
        ]
        .concat();
        let doc = format!("{ROOT}<EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><component>{body}</component></ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>");
        let ex = match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        };
        let m = ex.get("m1").expect("medication");
        assert_eq!(
            m.dosage_text.as_deref(),
            Some("One & a half \u{2013} daily")
        );
        assert!(
            !m.free_text,
            "the dose text is kept, not flagged as narrative"
        );
        let a = ex.get("a1").expect("authorise");
        assert_eq!(
            (a.quantity.as_deref(), a.quantity_unit.as_deref()),
            (Some("28"), Some("tablet"))
        );
        assert!(a.free_text, "the supply annotation stays free text");
        let unit = |id: &str| match &ex.get(id).expect(id).value {
            Some(Value::Quantity { unit, .. }) => unit.clone(),
            v => panic!("{v:?}"),
        };
        assert_eq!(unit("o1").as_deref(), Some("10*9/L"));
        assert_eq!(unit("o2").as_deref(), Some("mm[Hg]"));
        // Too long, or an undefined entity: not kept, flagged as free text instead.
        for id in ["o3", "o4"] {
            assert_eq!(unit(id), None, "{id}");
            assert!(ex.get(id).expect(id).free_text, "{id}");
        }
    }

    #[test]
    fn hostile_names_never_reach_messages() {
        assert_eq!(safe_name(b"ObservationStatement"), "ObservationStatement");
        assert_eq!(safe_name("Jane Smith".as_bytes()), "?");
        assert_eq!(safe_name(&[b'a'; 65]), "?");
        assert_eq!(safe_name(b""), "?");
    }
}
