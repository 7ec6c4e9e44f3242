//! The typed model both readers (EhrExtract XML, GP Connect STU3) produce, and that the
//! policy and the FHIR mapping consume. It holds codes, dates and structure; free text is
//! recorded only as "present", never kept, so it cannot leak by accident.

use crate::codes::Coding;
use crate::ehr::ts::Ts;
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
    EhrComposition,
    ObservationStatement,
    CompoundStatement,
    LinkSet,
    MedicationStatement,
    EhrSupplyAuthorise,
    EhrSupplyPrescribe,
    EhrSupplyDiscontinue,
    NarrativeStatement,
    PlanStatement,
    RequestStatement,
    RegistrationStatement,
    /// A source construct migx has no mapping for (e.g. a GP Connect resource type it does
    /// not know); never shared, recorded as `category-not-shared`.
    Other,
}

impl Element {
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
    #[default]
    Absent,
    Value(Ts),
    Invalid,
}

impl DateField {
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
    pub fn value(&self) -> Option<Ts> {
        match self {
            DateField::Value(t) => Some(*t),
            _ => None,
        }
    }
    pub fn is_invalid(&self) -> bool {
        matches!(self, DateField::Invalid)
    }
}

/// `effectiveTime` as an interval or a point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effective {
    pub low: DateField,
    pub high: DateField,
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
    Quantity {
        value: String,
        unit: Option<String>,
    },
    Range {
        low: Option<String>,
        high: Option<String>,
        unit: Option<String>,
    },
    Coded(Vec<Coding>),
    /// A string value: free text, never shared.
    Text,
}

/// A reference range on a result (numbers and unit only; its text is free text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferenceRange {
    pub low: Option<String>,
    pub high: Option<String>,
    pub unit: Option<String>,
}

/// One statement (or container) of the record, in document order.
#[derive(Debug, Clone, Default)]
pub struct Item {
    /// Source id: `id/@root` (with `/@extension` appended after `:` when present), lowercase.
    pub id: String,
    /// Further ids the element carried (some systems write two).
    pub alt_ids: Vec<String>,
    pub element: Option<Element>,
    pub class_code: Option<String>,
    pub mood_code: Option<String>,
    pub status_code: Option<String>,
    /// Enclosing item (statement or composition), by index into `Extract::items`.
    pub parent: Option<usize>,
    /// `code` and its `translation`s.
    pub codes: Vec<Coding>,
    /// A `code` element was present but carried no usable code (nullFlavor, no codeSystem).
    pub code_uncoded: bool,
    pub effective: Effective,
    pub availability: DateField,
    /// Confidentiality codes on this element itself.
    pub confidentiality: Vec<String>,
    /// Confidentiality codes on this element or any ancestor (filled after reading).
    pub inherited_confidentiality: Vec<String>,
    pub value: Option<Value>,
    pub interpretation: Vec<Coding>,
    pub reference_range: Option<ReferenceRange>,
    /// Free text present in this element (text, annotations, originalText, string values).
    pub free_text: bool,
    // LinkSet
    pub named_statement: Option<String>,
    pub component_refs: Vec<String>,
    pub qualifiers: Vec<Coding>,
    // MedicationStatement
    pub consumable: Vec<Coding>,
    // ehrSupplyAuthorise
    pub repeat_number: Option<u32>,
    pub quantity: Option<String>,
    // ehrSupplyPrescribe / ehrSupplyDiscontinue
    pub prior_ref: Option<String>,
    /// ehrComposition / statement child element count (for structure checks).
    pub children: Vec<usize>,
    /// Source line of the element's start, for messages.
    pub line: u32,
}

/// A whole record: one patient's extract.
#[derive(Debug, Clone, Default)]
pub struct Extract {
    pub kind: Option<MessageKind>,
    /// The message id (wrapper `id/@root`, or the extract's id for a bare extract), lowercase.
    pub message_id: Option<String>,
    pub extract_id: Option<String>,
    /// `creationTime` of the wrapper, else `EhrExtract/availabilityTime`.
    pub created: DateField,
    /// NHS numbers found in `recordTarget` (more than one is an error).
    pub nhs_numbers: Vec<String>,
    pub practice_ods: Option<String>,
    pub items: Vec<Item>,
    /// Source id -> item index, built once after reading.
    pub index: HashMap<String, usize>,
    /// Ids seen on more than one element.
    pub duplicate_ids: Vec<String>,
}

impl Extract {
    /// Look an item up by source id (already lowercase).
    pub fn get(&self, id: &str) -> Option<&Item> {
        self.index.get(id).map(|&i| &self.items[i])
    }

    /// Fill `inherited_confidentiality` and `children`, and build the id index. Parents
    /// always precede their children in `items`, so one forward pass suffices.
    pub fn finish(&mut self) {
        for i in 0..self.items.len() {
            let mut inherited = match self.items[i].parent {
                Some(p) => self.items[p].inherited_confidentiality.clone(),
                None => Vec::new(),
            };
            for c in &self.items[i].confidentiality {
                if !inherited.contains(c) {
                    inherited.push(c.clone());
                }
            }
            self.items[i].inherited_confidentiality = inherited;
            if let Some(p) = self.items[i].parent {
                self.items[p].children.push(i);
            }
        }
        let mut index = HashMap::with_capacity(self.items.len());
        let mut dups = Vec::new();
        for (i, item) in self.items.iter().enumerate() {
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
        self.index = index;
        self.duplicate_ids = dups;
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
