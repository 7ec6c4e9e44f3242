//! One statement of the record: the head every construct has ([`ItemHead`]) and the payload
//! only its own construct has ([`ItemKind`]).

use super::dates::{DateField, Effective};
use super::element::{Element, Hl7Code};
use super::list::List;
use super::payload::{Allergy, LinkSet, Medication, Observation, Supply};
use super::source_id::SourceId;
use super::staff::StaffRef;
use crate::codes::Coding;
use smallvec::SmallVec;

/// An item's `code` and its translations: nearly every item has one coding, held in the
/// item itself (a `Vec` allocated a block for it, and freed it with the extract).
pub type Codings = SmallVec<[Coding; 1]>;

/// Who acted on an item: nearly always one author, held in the item itself.
pub type StaffRefs = SmallVec<[StaffRef; 1]>;

/// One statement (or container) of the record, in document order: the head every
/// construct has and the payload only its own construct has. The head's fields read
/// through `Deref` (`item.id` is `item.head.id`).
#[derive(Debug, Clone, Default)]
pub struct Item {
    /// What every construct has: ids, element, codes, dates, place in the record,
    /// confidentiality, staff.
    pub head: ItemHead,
    /// What only this kind of construct has: one payload per construct (see [`ItemKind`]).
    pub kind: ItemKind,
}

impl std::ops::Deref for Item {
    type Target = ItemHead;
    fn deref(&self) -> &ItemHead {
        &self.head
    }
}

impl std::ops::DerefMut for Item {
    fn deref_mut(&mut self) -> &mut ItemHead {
        &mut self.head
    }
}

/// What every construct has, whatever its kind: its ids, element and HL7 structural codes,
/// its codes, dates, place in the record (parent, children, further placements), its
/// confidentiality and status flags, and who acted on it.
#[derive(Debug, Clone, Default)]
pub struct ItemHead {
    /// Source id: `id/@root` (with `/` and `@extension` appended when present), lowercase;
    /// held in the item when short (a UUID, see [`SourceId`]).
    pub id: SourceId,
    /// Further ids the element carried (some systems write two).
    pub alt_ids: List<String>,
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
    pub codes: Codings,
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
    pub confidentiality: List<String>,
    /// Further placements beside `parent` (GP Connect: every consultation, report, group or
    /// list that places the item, when it is emitted under another one). Confidentiality
    /// follows every placement (`policy::graph`).
    pub also_in: List<usize>,
    /// A reference a confidentiality decision about this item depends on (its consultation,
    /// report, list placement) could not be resolved, or resolved ambiguously: withheld as
    /// `unresolvable-reference` (fail closed).
    pub unresolved_placement: bool,
    /// Items whose withholding as confidential or sensitive withholds this one (GP Connect:
    /// the resource a problem's `actualProblem` points at, when it is not read as the
    /// problem's named statement). Confidentiality also flows along these (`policy::graph`).
    pub depends_on: List<usize>,
    /// Free text present in this element (text, annotations, originalText, string values).
    pub free_text: bool,
    /// Every other coding the source construct carries, wherever it sits: in XML any
    /// element inside the statement with `code` and `codeSystem` that no field above reads
    /// (qualifier values, method, body site, reason, reference-range interpretation, ...); in
    /// STU3 every Coding (any object with a string `code`) anywhere in the resource, its
    /// extensions and contained resources, and in resources merged into it. Never emitted;
    /// screened with the rest (see [`Item::codings`]).
    pub carried: List<Coding>,
    /// ehrComposition / statement child element count (for structure checks).
    pub children: List<usize>,
    /// Who acted on the item, as the source names them (agent keys into
    /// [`Extract::agents`]): XML `author`, `Participant` (`PRF`, `PPRF`) and, on a
    /// composition, `Participant2`; STU3 `asserter`, `recorder`, `requester.agent`,
    /// `performer`, `informationSource`. Staff data: the policy's `clinical_detail.staff`
    /// decides what a disclosure says about them.
    pub staff: StaffRefs,
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

impl ItemKind {
    /// Give back the room the reader's lists grew into (see [`ItemHead::shrink`]).
    fn shrink(&mut self) {
        match self {
            ItemKind::Plain | ItemKind::Supply(_) => {}
            ItemKind::Observation(o) => o.shrink(),
            ItemKind::Allergy(a) => a.shrink(),
            ItemKind::LinkSet(l) => l.shrink(),
            ItemKind::Medication(m) => m.shrink(),
        }
    }

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

impl ItemHead {
    /// The head of a new item of a construct.
    pub fn new(element: Element) -> ItemHead {
        ItemHead {
            element: Some(element),
            ..ItemHead::default()
        }
    }

    /// Give back the room the reader's lists grew into (a list of one coding grows room
    /// for four): every list the head holds, exactly as long as it is. Called once per
    /// item by [`super::ExtractBuilder::finish`] (issue 24.12: bytes per item).
    fn shrink(&mut self) {
        let ItemHead {
            // Held inline when short, else in a block exactly its length: nothing to give back.
            id: _,
            alt_ids,
            codes,
            confidentiality,
            also_in,
            depends_on,
            carried,
            children,
            staff,
            element: _,
            class_code: _,
            mood_code: _,
            status_code: _,
            entered_in_error: _,
            verification: _,
            clinical_status: _,
            not_done: _,
            grants_nothing: _,
            parent: _,
            code_uncoded: _,
            effective: _,
            availability: _,
            authored: _,
            unresolved_placement: _,
            free_text: _,
            line: _,
        } = self;
        alt_ids.shrink_to_fit();
        confidentiality.shrink_to_fit();
        also_in.shrink_to_fit();
        depends_on.shrink_to_fit();
        children.shrink_to_fit();
        staff.shrink_to_fit();
        for c in codes.iter_mut().chain(carried.iter_mut()) {
            c.shrink();
        }
        codes.shrink_to_fit();
        carried.shrink_to_fit();
    }
}

/// Below this many codings the carried ones are compared pairwise; above it, through a set
/// (a resource may carry thousands).
const PAIRWISE_CODINGS: usize = 32;

impl Item {
    /// The item as it is kept once read: carried codings that repeat a coding it already
    /// holds dropped (see [`Item::drop_repeated_carried`]) and every list exactly as long as
    /// it is (see [`ItemHead::shrink`]). Readers call it when an item is complete, so the
    /// room a list grew into is given back while the rest is read; [`super::ExtractBuilder::finish`]
    /// calls it on every item again (it changes nothing the second time).
    pub fn compact(&mut self) {
        self.drop_repeated_carried();
        self.head.shrink();
        self.kind.shrink();
    }

    /// Drop each carried coding whose system and code an earlier coding of
    /// [`Item::codings`] already has (a GP Connect resource's `code.coding` is also among
    /// the codings "anywhere in the resource"). The screen reads a coding's code only, never
    /// its display, and the first coding with a sensitive or dissent code is the first
    /// either way, so every decision is the one the repeats would give: the one enumeration
    /// still holds every distinct coding in every position.
    fn drop_repeated_carried(&mut self) {
        let Item { head, kind } = self;
        let ItemHead { codes, carried, .. } = head;
        if carried.is_empty() {
            return;
        }
        let same = |a: &Coding, b: &Coding| a.system == b.system && a.code == b.code;
        let held = || codes.iter().chain(kind.codings());
        if held().count() + carried.len() <= PAIRWISE_CODINGS {
            // In place, with nothing allocated (this runs for every item as it closes):
            // the kept codings move to the front in their order. A coding equal to an
            // earlier dropped one equals what that one repeated, so comparing with the kept
            // ones is comparing with every earlier one.
            let all = carried.as_mut_slice();
            let mut kept = 0;
            for i in 0..all.len() {
                let c = &all[i];
                if !held().any(|h| same(h, c)) && !all[..kept].iter().any(|e| same(e, c)) {
                    all.swap(kept, i);
                    kept += 1;
                }
            }
            carried.truncate(kept);
        } else {
            let mut seen: hashbrown::HashSet<(&crate::codes::CodeSystem, &str)> =
                held().map(|h| (&h.system, h.code.as_str())).collect();
            let keep: Vec<bool> = carried
                .iter()
                .map(|c| seen.insert((&c.system, c.code.as_str())))
                .collect();
            drop(seen);
            let mut keep = keep.into_iter();
            carried.retain(|_| keep.next().unwrap_or(true));
        }
    }

    /// A new item of a construct, with the payload it opens with.
    pub fn new(element: Element) -> Item {
        Item::of(ItemHead::new(element))
    }

    /// An item with this head and the payload its element opens with (none without one).
    pub fn of(head: ItemHead) -> Item {
        let kind = head.element.map(ItemKind::for_element).unwrap_or_default();
        Item { head, kind }
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
