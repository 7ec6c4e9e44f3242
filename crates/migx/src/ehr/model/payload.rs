//! What only one kind of construct has: the payloads of [`super::ItemKind`] (observation,
//! allergy, problem header, medication, supply) and the values, ranges, reactions and doses
//! inside them.

use super::dates::DateField;
use super::list::List;
use crate::codes::{Coding, CompactString};

/// A measured or coded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A physical quantity (`PQ`): the number as written (not reformatted) and its unit.
    Quantity {
        /// The number exactly as the source wrote it.
        value: CompactString,
        /// The unit, when given.
        unit: Option<CompactString>,
    },
    /// An interval of quantities (`IVL_PQ`), either bound optional.
    Range {
        /// Lower bound as written.
        low: Option<CompactString>,
        /// Upper bound as written.
        high: Option<CompactString>,
        /// Unit of both bounds.
        unit: Option<CompactString>,
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
    pub low: Option<CompactString>,
    /// Upper limit of normal, as written.
    pub high: Option<CompactString>,
    /// Unit of the limits.
    pub unit: Option<CompactString>,
}

/// An observation's own fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// The statement's `value`, if any (boxed: many observations have none, and a range is
    /// nine words).
    pub value: Option<Box<Value>>,
    /// `interpretationCode`s on a result (e.g. high/low/abnormal flags).
    pub interpretation: List<Coding>,
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
    pub quantity: Option<CompactString>,
    /// The quantity's unit as the source wrote it (`quantity/@unit` unless `1`, else
    /// `translation/originalText`; STU3 `dispenseRequest.quantity.unit`). Emitted only when
    /// the policy's unit list knows it.
    pub quantity_unit: Option<CompactString>,
    /// ehrSupplyPrescribe/ehrSupplyDiscontinue: the id of the authorisation it issues or stops.
    pub prior_ref: Option<String>,
}

impl Observation {
    /// The coded value and the interpretation codes (exhaustive: see [`Item::codings`]).
    pub(super) fn emitted_codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        let Observation {
            value,
            interpretation,
            reference_range: _,
            code_text: _,
        } = self;
        let value_codes: &[Coding] = match value.as_deref() {
            Some(Value::Coded(cs)) => cs,
            _ => &[],
        };
        value_codes.iter().chain(interpretation)
    }
}

impl Allergy {
    /// Every reaction's codings.
    pub(super) fn codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        let Allergy { reactions } = self;
        reactions.iter().flat_map(Reaction::codings)
    }
}

impl Medication {
    /// The drug and the structured dose's codings (exhaustive: see [`Item::codings`]).
    pub(super) fn codings(&self) -> impl Iterator<Item = &Coding> + '_ {
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
    pub value: CompactString,
    /// The unit, when given.
    pub unit: Option<CompactString>,
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
    pub period: Option<CompactString>,
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

impl Reaction {
    /// The reaction's codings: manifestation and exposure route.
    pub fn codings(&self) -> impl Iterator<Item = &Coding> + '_ {
        self.manifestation.iter().chain(&self.exposure_route)
    }
}

/// Give back the room a reader's list of codings grew into, in each coding and the list.
fn shrink_codings(cs: &mut Vec<Coding>) {
    cs.iter_mut().for_each(Coding::shrink);
    cs.shrink_to_fit();
}

impl Observation {
    /// Give back the room the reader's lists grew into (see `ItemHead::shrink`).
    pub(super) fn shrink(&mut self) {
        if let Some(Value::Coded(cs)) = self.value.as_deref_mut() {
            shrink_codings(cs);
        }
        self.interpretation.iter_mut().for_each(Coding::shrink);
        self.interpretation.shrink_to_fit();
    }
}

impl Allergy {
    /// Give back the room the reader's lists grew into (see `ItemHead::shrink`).
    pub(super) fn shrink(&mut self) {
        for r in &mut self.reactions {
            shrink_codings(&mut r.manifestation);
            shrink_codings(&mut r.exposure_route);
        }
        self.reactions.shrink_to_fit();
    }
}

impl LinkSet {
    /// Give back the room the reader's lists grew into (see `ItemHead::shrink`).
    pub(super) fn shrink(&mut self) {
        self.component_refs.shrink_to_fit();
        self.related_problems.shrink_to_fit();
        shrink_codings(&mut self.qualifiers);
    }
}

impl Medication {
    /// Give back the room the reader's lists grew into (see `ItemHead::shrink`).
    pub(super) fn shrink(&mut self) {
        shrink_codings(&mut self.consumable);
        if let Some(d) = &mut self.dose {
            shrink_codings(&mut d.route);
            shrink_codings(&mut d.as_needed_for);
            shrink_codings(&mut d.additional);
        }
    }
}
