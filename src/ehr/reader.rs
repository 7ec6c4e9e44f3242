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

/// Streaming limits; a file that exceeds one is rejected with `limit-exceeded`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_attributes: usize,
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
    Statement(Element),
}

fn tag_of(local: &str) -> Tag {
    match local {
        "id" => Tag::Id,
        "creationTime" => Tag::CreationTime,
        "EhrExtract" => Tag::EhrExtract,
        "recordTarget" => Tag::RecordTarget,
        "patient" => Tag::Patient,
        "author" => Tag::Author,
        "AgentOrgSDS" => Tag::AgentOrgSds,
        "agentOrganizationSDS" => Tag::AgentOrganizationSds,
        "availabilityTime" => Tag::AvailabilityTime,
        "code" => Tag::Code,
        "translation" => Tag::Translation,
        "originalText" => Tag::OriginalText,
        "qualifier" => Tag::Qualifier,
        "name" => Tag::Name,
        "statusCode" => Tag::StatusCode,
        "effectiveTime" => Tag::EffectiveTime,
        "low" => Tag::Low,
        "high" => Tag::High,
        "center" => Tag::Center,
        "confidentialityCode" => Tag::ConfidentialityCode,
        "value" => Tag::Value,
        "interpretationCode" => Tag::InterpretationCode,
        "referenceRange" => Tag::ReferenceRange,
        "referenceInterpretationRange" => Tag::ReferenceInterpretationRange,
        "text" => Tag::Text,
        "pertinentInformation" => Tag::PertinentInformation,
        "pertinentAnnotation" => Tag::PertinentAnnotation,
        "pertinentMedicationDosage" => Tag::PertinentMedicationDosage,
        "pertinentSupplyAnnotation" => Tag::PertinentSupplyAnnotation,
        "component" => Tag::Component,
        "statementRef" => Tag::StatementRef,
        "conditionNamed" => Tag::ConditionNamed,
        "namedStatementRef" => Tag::NamedStatementRef,
        "consumable" => Tag::Consumable,
        "manufacturedProduct" => Tag::ManufacturedProduct,
        "manufacturedMaterial" => Tag::ManufacturedMaterial,
        "repeatNumber" => Tag::RepeatNumber,
        "quantity" => Tag::Quantity,
        "inFulfillmentOf" => Tag::InFulfillmentOf,
        "reversalOf" => Tag::ReversalOf,
        "priorMedicationRef" => Tag::PriorMedicationRef,
        "ehrComposition" => Tag::Statement(Element::EhrComposition),
        "ObservationStatement" => Tag::Statement(Element::ObservationStatement),
        "CompoundStatement" => Tag::Statement(Element::CompoundStatement),
        "LinkSet" => Tag::Statement(Element::LinkSet),
        "MedicationStatement" => Tag::Statement(Element::MedicationStatement),
        "ehrSupplyAuthorise" => Tag::Statement(Element::EhrSupplyAuthorise),
        "ehrSupplyPrescribe" => Tag::Statement(Element::EhrSupplyPrescribe),
        "ehrSupplyDiscontinue" => Tag::Statement(Element::EhrSupplyDiscontinue),
        "NarrativeStatement" => Tag::Statement(Element::NarrativeStatement),
        "PlanStatement" => Tag::Statement(Element::PlanStatement),
        "RequestStatement" => Tag::Statement(Element::RequestStatement),
        "RegistrationStatement" => Tag::Statement(Element::RegistrationStatement),
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
    let mut reader = Reader::from_reader(source);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
    }
    let mut st = State {
        ex: Extract::default(),
        path: Vec::with_capacity(64),
        items: Vec::with_capacity(32),
        extract_depth: None,
        text_target: None,
        root_seen: false,
        in_value_text: None,
        pending_nhs: 0,
    };
    st.ex.items.reserve((len_hint / 2048) as usize);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let pos = reader.buffer_position();
        let ev = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => return Err(xml_error(e, reader.error_position(), &st)),
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
                            format!("the XML declaration names an unsupported encoding {enc:?}; re-encode as UTF-8"),
                        )
                        .at(pos));
                    }
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::PI(_) => {}
        }
        buf.clear();
    }
    if !st.root_seen {
        return Err(InputError::new(
            ErrorCode::NotXml,
            "no XML root element found",
        ));
    }
    if !st.path.is_empty() {
        return Err(InputError::new(
            ErrorCode::MalformedXml,
            "the document ends before its root element is closed (truncated?)",
        )
        .at(reader.buffer_position()));
    }
    let mut ex = st.ex;
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
    pending_nhs: usize,
}

impl State {
    fn open(&mut self, e: &BytesStart<'_>, pos: u64, limits: &Limits) -> Result<(), InputError> {
        if self.path.len() >= limits.max_depth {
            return Err(InputError::new(
                ErrorCode::LimitExceeded,
                format!("elements nested deeper than {}", limits.max_depth),
            )
            .at(pos));
        }
        let local = e.local_name();
        let local = local.as_ref();
        let tag = tag_of(local);
        let attrs = read_attrs(e, limits, pos)?;
        if !self.root_seen {
            self.root_seen = true;
            self.check_root(local, e, &attrs, pos)?;
        }
        self.path.push(tag);
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
                    class_code: attr_of(e, "classCode"),
                    mood_code: attr_of(e, "moodCode"),
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
            None => self.extract_field(&attrs),
        }
        Ok(())
    }

    fn close(&mut self) {
        let depth = self.path.len().saturating_sub(1);
        if let Some(&(_, idepth)) = self.items.last() {
            if idepth == depth {
                self.items.pop();
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
                    format!("root element <{local}> is not RCMR_IN030000UK06, RCMR_IN030000UK07 or EhrExtract"),
                )
                .at(pos))
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
            .at(pos));
        }
        self.ex.kind = Some(kind);
        Ok(())
    }

    /// Fields of the EhrExtract itself (outside any statement).
    fn extract_field(&mut self, attrs: &Attrs) {
        let Some(xd) = self.extract_depth else { return };
        let rel = &self.path[xd + 1..];
        match rel {
            [Tag::Id] if self.ex.extract_id.is_none() => {
                self.ex.extract_id = attrs.root.as_deref().map(normalise_id)
            }
            [Tag::AvailabilityTime] => {
                if let (Some(v), DateField::Absent) = (&attrs.value, self.ex.created) {
                    self.ex.created = DateField::from_hl7(v);
                }
            }
            [Tag::RecordTarget] => self.pending_nhs += 1,
            [Tag::RecordTarget, Tag::Patient, Tag::Id]
                if attrs.root.as_deref() == Some(OID_NHS_NUMBER) =>
            {
                self.ex
                    .nhs_numbers
                    .push(own(&attrs.extension).unwrap_or_default());
            }
            [Tag::Author, Tag::AgentOrgSds, Tag::AgentOrganizationSds, Tag::Id]
                if attrs.root.as_deref() == Some(OID_ODS) && self.ex.practice_ods.is_none() =>
            {
                self.ex.practice_ods = own(&attrs.extension);
            }
            _ => {}
        }
        // Two recordTargets with no usable id still mean two patients.
        if self.pending_nhs > 1 && self.ex.nhs_numbers.len() < self.pending_nhs {
            self.ex.nhs_numbers.push(String::new());
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
                    let id = match &a.extension {
                        Some(ext) => format!("{}/{}", normalise_id(root), ext),
                        None => normalise_id(root),
                    };
                    if item.id.is_empty() {
                        item.id = id;
                    } else {
                        item.alt_ids.push(id);
                    }
                }
            }
            [Tag::Code] => match coding(a) {
                Some(c) => item.codes.push(c),
                None => item.code_uncoded = true,
            },
            [Tag::Code, Tag::Translation] => {
                if let Some(c) = coding(a) {
                    item.codes.push(c)
                }
            }
            [Tag::Code, Tag::Qualifier, Tag::Name] => {
                if let Some(c) = coding(a) {
                    item.qualifiers.push(c)
                }
            }
            [Tag::StatusCode] => item.status_code = own(&a.code),
            [Tag::EffectiveTime] => {
                if let Some(v) = &a.value {
                    item.effective.center = DateField::from_hl7(v);
                }
            }
            [Tag::EffectiveTime, Tag::Low] => set_date(&mut item.effective.low, a),
            [Tag::EffectiveTime, Tag::High] => set_date(&mut item.effective.high, a),
            [Tag::EffectiveTime, Tag::Center] => set_date(&mut item.effective.center, a),
            [Tag::AvailabilityTime] => set_date(&mut item.availability, a),
            [Tag::ConfidentialityCode] => {
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
                    "CD" | "CV" | "CE" | "CS" => {
                        Some(Value::Coded(coding(a).into_iter().collect()))
                    }
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
                if let (Some(Value::Coded(cs)), Some(c)) = (&mut item.value, coding(a)) {
                    cs.push(c);
                }
            }
            [Tag::InterpretationCode] => {
                if let Some(c) = coding(a) {
                    item.interpretation.push(c)
                }
            }
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
                if let Some(c) = coding(a) {
                    item.consumable.push(c)
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
            [Tag::Quantity] => item.quantity = own(&a.value),
            [Tag::InFulfillmentOf | Tag::ReversalOf, Tag::PriorMedicationRef, Tag::Id] => {
                if let Some(r) = &a.root {
                    item.prior_ref = Some(normalise_ref(r, a));
                }
            }
            // Free text: only whether it is there, never what it says.
            [.., Tag::Text] | [Tag::Code, Tag::OriginalText] | [.., Tag::OriginalText] => {
                self.text_target = Some(idx);
            }
            _ => {}
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
            system: CodeSystem::from_oid(sys.trim()),
            code: code.trim().to_string(),
            display: own(&a.display_name),
        }),
        _ => None,
    }
}

/// Ids are compared case-insensitively (UUIDs arrive upper-case).
pub fn normalise_id(root: &str) -> String {
    root.trim().to_ascii_lowercase()
}

fn normalise_ref(root: &str, a: &Attrs) -> String {
    match &a.extension {
        Some(ext) => format!("{}/{}", normalise_id(root), ext),
        None => normalise_id(root),
    }
}

fn attr_of(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
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
            .in_element(e.local_name().as_ref().to_string()));
        }
        let attr = attr.map_err(|err| {
            InputError::new(ErrorCode::MalformedXml, format!("bad attribute: {err}"))
                .at(pos)
                .in_element(e.local_name().as_ref().to_string())
        })?;
        let key = attr.key.as_ref();
        let local = attr.key.local_name();
        let local = local.as_ref();
        let value = || -> Result<Cow<'a, str>, InputError> {
            attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| {
                    InputError::new(
                        ErrorCode::MalformedXml,
                        format!("bad attribute value: {err}"),
                    )
                    .at(pos)
                    .in_element(e.local_name().as_ref().to_string())
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
            _ => {}
        }
    }
    Ok(out)
}

fn xml_error(e: quick_xml::Error, pos: u64, st: &State) -> InputError {
    use quick_xml::Error as E;
    let element = st.path.len();
    let (code, msg) = match &e {
        E::Io(io) => (ErrorCode::IoError, format!("read failed: {}", io.kind())),
        E::Encoding(_) => (
            ErrorCode::InvalidEncoding,
            "the bytes are not valid UTF-8".to_string(),
        ),
        E::Syntax(s) => (ErrorCode::MalformedXml, format!("XML syntax error: {s}")),
        E::IllFormed(s) => (
            ErrorCode::MalformedXml,
            format!("XML is not well-formed: {s}"),
        ),
        E::InvalidAttr(s) => (ErrorCode::MalformedXml, format!("bad attribute: {s}")),
        E::Escape(s) => (ErrorCode::MalformedXml, format!("bad escape: {s}")),
        E::Namespace(s) => (ErrorCode::MalformedXml, format!("namespace error: {s}")),
    };
    let mut err = InputError::new(code, msg).at(pos);
    if element > 0 {
        err.element = Some(format!("depth {element}"));
    }
    err
}
