//! The Bundle and its references: every entry read once into [`Res`], the one index of
//! `Type/id`, `fullUrl` and identifiers ([`Slot`]: one resource, or several that no
//! reference may pick from), the one resolver of every FHIR reference form ([`Resolved`]),
//! and the driver that emits each resource under its parent through the readers of the
//! sibling files.

use super::index::{Index, Slot, Span, Texts};
use super::json::{all_codings, arr, has_text, ref_key, reference, str_at};
use super::labels::security;
use super::raw::parse;
use crate::codes::Coding;
use crate::ehr::model::{Element, ExtractBuilder, Item, ItemHead};
use crate::error::{ErrorCode, InputError};
use serde_json::Value as Json;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ops::Deref;
use std::rc::Rc;

/// Nesting of groups (report > specimen > battery > ...) and list trees beyond this is refused.
pub(super) const MAX_NESTING: usize = 64;

/// Resource types that carry no clinical statement of their own (administrative, or read as
/// part of another resource).
pub(super) const STRUCTURAL_TYPES: [&str; 11] = [
    "Patient",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Location",
    "HealthcareService",
    "List",
    "Medication",
    "MedicationStatement",
    "Specimen",
    "Device",
];

/// What the first pass keeps for every later pass to borrow: each resource type's name
/// (once), and the parsed trees of the resources others refer to (structural types and
/// Encounters, within `survey::KEPT_BYTES`; every resource of a small bundle).
#[derive(Default)]
pub(super) struct Kept {
    pub(super) types: Vec<String>,
    pub(super) trees: Vec<Json>,
}

/// What a Consent anywhere in a resource says (read in the first pass).
#[derive(Debug, Default)]
pub(super) struct ConsentFacts {
    /// Each refusal's date, in document order.
    pub(super) refusals: Vec<crate::ehr::model::DateField>,
    /// False when a Consent there refuses or is unclear.
    pub(super) grants: bool,
}

/// One resource of the Bundle: its type, where its JSON is (a slice of the input, and its
/// tree when kept), its item id, and what the first pass read of it that needs no other
/// resource.
pub(super) struct Res<'a> {
    pub(super) ty: &'a str,
    pub(super) raw: &'a str,
    pub(super) kept: Option<&'a Json>,
    /// Item id derived from the resource (in the reader's `ids`: see [`Reader::id`]).
    pub(super) id: Span,
    /// The resource (or one it contains) says it was entered in error.
    pub(super) says_entered_in_error: bool,
    /// The Consents in it (itself, contained or nested), when there are any.
    pub(super) consent: Option<Box<ConsentFacts>>,
    /// The security labels of the resources it contains.
    pub(super) contained_security: Box<[String]>,
}

/// What a FHIR `Reference` resolves to, in every form FHIR allows: `Type/id` (padded,
/// any case, `_history`), absolute `http(s)://.../Type/id`, `urn:uuid:` / `urn:oid:` matched
/// against `fullUrl`, `#id` of a contained resource, and `identifier` (system and value,
/// or value alone).
#[derive(Debug)]
pub(super) enum Resolved {
    /// No reference was given.
    Absent,
    /// One resource of the Bundle.
    Found(usize),
    /// A resource contained in the referring one (a copy of it).
    Contained(Json),
    /// Several resources match: none is picked (fail closed).
    Ambiguous(Vec<usize>),
    /// A reference was given but matches nothing in the Bundle.
    Missing,
}

/// The first pass over the entries: each resource parsed once (alone), what needs no other
/// resource read from it, the one reference index built, and the tree dropped unless others
/// refer to the resource.
pub(super) struct Survey<'a> {
    pub(super) kept: Kept,
    /// Each resource's type and kept tree: where they are in `kept`.
    pub(super) kept_at: Vec<(u32, Option<usize>)>,
    pub(super) facts: Vec<Res<'a>>,
    /// The resources' item ids (each `Res::id` is a span of it).
    pub(super) ids: Texts,
    /// `type/id`, `fullUrl` and its `type/id` (lowercase) -> resources.
    pub(super) index: Index,
    /// `system|value` and `|value` of every identifier (lowercase) -> resources.
    pub(super) idents: Index,
    /// Some resource carries a GP Connect profile, or is a Patient with an NHS number.
    pub(super) gpconnect: bool,
    /// The first entry whose security metadata is malformed.
    pub(super) bad_labels: Option<InputError>,
    /// The codings of the resources that become no item, in entry order.
    pub(super) record_codings: Vec<Coding>,
}

pub(super) fn internal_error() -> InputError {
    InputError::new(
        ErrorCode::InternalError,
        "a resource checked once could not be read again",
    )
}

/// A resource's JSON as [`Reader::json`] gives it: the kept tree, or one parsed again.
pub(super) enum Doc<'a> {
    Kept(&'a Json),
    Parsed(Rc<Json>),
}

impl Deref for Doc<'_> {
    type Target = Json;
    fn deref(&self) -> &Json {
        match self {
            Doc::Kept(v) => v,
            Doc::Parsed(v) => v,
        }
    }
}

pub(super) struct Reader<'a> {
    pub(super) bundle: &'a Json,
    pub(super) res: Vec<Res<'a>>,
    /// The resources' item ids.
    ids: Texts,
    /// `type/id`, `fullUrl` and its `type/id` (lowercase) -> resources.
    index: Index,
    /// `system|value` and `|value` of every identifier (lowercase) -> resources.
    idents: Index,
    /// The codings of the resources that become no item (from the first pass).
    record_codings: Vec<Coding>,
    /// A resource could not be parsed again (never expected): the read fails.
    broken: Cell<bool>,
    /// The last resource parsed again, and its tree.
    last: RefCell<Option<(usize, Rc<Json>)>>,
    /// Resources whose confidentiality depends on a reference that did not resolve to
    /// exactly one resource: withheld as `unresolvable-reference`.
    pub(super) unresolved: HashSet<usize>,
    /// Resource -> every container placing it (reports, groups, panels, consultations),
    /// beside the one it is emitted under: confidentiality follows each.
    pub(super) placed_in: HashMap<usize, Vec<usize>>,
    /// Resource -> its main item (composition, group, statement, medication statement):
    /// the first made from it (one slot per resource: most make one item).
    first_item: Vec<Option<usize>>,
    /// Resource -> the items made from it after its first, for the resources that make
    /// more than one.
    more_items: HashMap<usize, Vec<usize>>,
    /// Resource -> the resource that contains it (report result, group member).
    pub(super) owner: HashMap<usize, usize>,
    /// Resource -> the Encounter it was recorded in.
    pub(super) encounter_of: HashMap<usize, usize>,
    /// Plan MedicationRequest -> GP Connect MedicationStatement based on it.
    pub(super) statement_of_plan: HashMap<usize, usize>,
    /// Encounter resource -> composition item.
    pub(super) composition: HashMap<usize, usize>,
    /// Resource -> whether it has been emitted.
    emitted: Vec<bool>,
    /// The resource being emitted (its items are recorded in `items_of`).
    pub(super) current: Option<usize>,
    /// (problem item, List resource) for problems relating a list.
    pub(super) related_lists: Vec<(usize, usize)>,
    /// (Medication resource, MedicationRequest resource using it).
    pub(super) medication_users: Vec<(usize, usize)>,
    /// (item, resource) whose withholding withholds the item (a problem's `actualProblem`
    /// when it is not read as the named statement itself).
    pub(super) depends: Vec<(usize, usize)>,
    /// Observations that own members (test groups inside reports).
    pub(super) groups: HashSet<usize>,
    /// Encounter resource -> the codings of its consultation list tree.
    pub(super) list_codings: HashMap<usize, Vec<Coding>>,
    pub(super) ex: ExtractBuilder,
}

pub(super) fn nesting_error() -> InputError {
    InputError::new(
        ErrorCode::LimitExceeded,
        format!("resources nested (groups, lists) deeper than {MAX_NESTING}"),
    )
}

impl<'a> Reader<'a> {
    /// A reader of the surveyed resources; `kept` is the survey's, borrowed for as long
    /// as the reader lives.
    pub(super) fn new(bundle: &'a Json, kept: &'a Kept, survey: Survey<'a>) -> Self {
        let mut res = survey.facts;
        let n = res.len();
        for (r, &(ty, tree)) in res.iter_mut().zip(&survey.kept_at) {
            r.ty = kept.types.get(ty as usize).map_or("", String::as_str);
            r.kept = tree.and_then(|t| kept.trees.get(t));
        }
        Reader {
            bundle,
            res,
            ids: survey.ids,
            index: survey.index,
            idents: survey.idents,
            record_codings: survey.record_codings,
            broken: Cell::new(false),
            last: RefCell::new(None),
            unresolved: HashSet::new(),
            placed_in: HashMap::new(),
            first_item: vec![None; n],
            more_items: HashMap::new(),
            owner: HashMap::new(),
            encounter_of: HashMap::new(),
            statement_of_plan: HashMap::new(),
            composition: HashMap::new(),
            emitted: vec![false; n],
            current: None,
            related_lists: Vec::new(),
            medication_users: Vec::new(),
            depends: Vec::new(),
            groups: HashSet::new(),
            list_codings: HashMap::new(),
            ex: ExtractBuilder::default(),
        }
    }

    /// Resource `i`'s JSON: its kept tree, else parsed again from its slice of the input,
    /// one resource at a time (the last one parsed is kept until another is asked for, so
    /// the readers of one resource parse it once).
    pub(super) fn json(&self, i: usize) -> Doc<'a> {
        let r = &self.res[i];
        if let Some(v) = r.kept {
            return Doc::Kept(v);
        }
        if let Some((j, v)) = &*self.last.borrow() {
            if *j == i {
                return Doc::Parsed(Rc::clone(v));
            }
        }
        let v = Rc::new(parse(r.raw).unwrap_or_else(|_| {
            self.broken.set(true);
            Json::Null
        }));
        *self.last.borrow_mut() = Some((i, Rc::clone(&v)));
        Doc::Parsed(v)
    }

    /// Resource `i`'s item id.
    pub(super) fn id(&self, i: usize) -> &str {
        self.ids.get(self.res[i].id)
    }

    /// Resolve a `Reference` made by resource `from` (the one reader of every form).
    pub(super) fn resolve(&self, r: Option<&Json>, from: usize) -> Resolved {
        let Some(r) = r.filter(|r| r.is_object()) else {
            return Resolved::Absent;
        };
        let slot = |s: Option<Slot>| match s {
            Some(Slot::One(i)) => Resolved::Found(i),
            Some(Slot::Many(v)) => Resolved::Ambiguous(v.to_vec()),
            None => Resolved::Missing,
        };
        match r.get("reference") {
            Some(Json::String(s)) if !s.trim().is_empty() => {
                let s = s.trim();
                if let Some(local) = s.strip_prefix('#') {
                    let from = self.json(from);
                    return arr(Some(&from), "contained")
                        .find(|c| str_at(c, "id").map(str::trim) == Some(local))
                        .map_or(Resolved::Missing, |c| Resolved::Contained(c.clone()));
                }
                let lower = s.to_ascii_lowercase();
                if let Some(found) = self.index.get(&lower) {
                    return slot(Some(found));
                }
                if lower.starts_with("urn:") {
                    return Resolved::Missing;
                }
                return slot(ref_key(&lower).and_then(|k| self.index.get(&k)));
            }
            Some(Json::Null) | None => {}
            // A reference that is not a string cannot be read: it refers to something.
            Some(_) => return Resolved::Missing,
        }
        match r.get("identifier") {
            Some(ident) => {
                let value = str_at(ident, "value").map(str::trim).unwrap_or("");
                if value.is_empty() {
                    return Resolved::Missing;
                }
                let system = str_at(ident, "system").map(str::trim).unwrap_or("");
                slot(
                    self.idents
                        .get(&format!("{system}|{value}").to_ascii_lowercase()),
                )
            }
            None => Resolved::Absent,
        }
    }

    /// The one resource a reference names, if it names exactly one in the Bundle.
    pub(super) fn lookup(&self, r: Option<&Json>, from: usize) -> Option<usize> {
        match self.resolve(r, from) {
            Resolved::Found(i) => Some(i),
            _ => None,
        }
    }

    /// Like `lookup`, for a reference `from`'s confidentiality depends on: a reference that
    /// is given but does not resolve to exactly one resource withholds `from` (and, when
    /// ambiguous, every candidate).
    pub(super) fn depend(&mut self, r: Option<&Json>, from: usize) -> Option<usize> {
        match self.resolve(r, from) {
            Resolved::Found(i) => Some(i),
            Resolved::Absent | Resolved::Contained(_) => None,
            Resolved::Missing => {
                self.unresolved.insert(from);
                None
            }
            Resolved::Ambiguous(v) => {
                self.unresolved.insert(from);
                self.unresolved.extend(v);
                None
            }
        }
    }

    /// The item id a reference stands for (resolved resource's id, else the referenced id).
    pub(super) fn ref_item_id(&self, r: &Json, from: usize) -> Option<String> {
        match self.resolve(Some(r), from) {
            Resolved::Found(i) => Some(self.id(i).to_string()),
            _ => reference(Some(r))
                .and_then(|s| ref_key(s.trim()))
                .and_then(|k| k.split_once('/').map(|(_, id)| id.to_string())),
        }
    }

    pub(super) fn read(&mut self) -> Result<(), InputError> {
        // About one item per resource: reserved once, so the item list is not grown by
        // doubling (a copy of the whole list, and up to twice its size, at its peak).
        self.ex.items.reserve_exact(self.res.len());
        self.read_patient();
        let record_codings = std::mem::take(&mut self.record_codings);
        self.ex.record_codings.extend(record_codings);
        self.structure()?;
        // Compositions first, so every parent precedes its children.
        for i in 0..self.res.len() {
            if self.res[i].ty == "Encounter" {
                self.encounter(i);
            }
        }
        for i in 0..self.res.len() {
            if !self.owner.contains_key(&i) {
                self.emit(i, None, 0)?;
            }
        }
        // Anything left (members of a group cycle with no top-level owner).
        for i in 0..self.res.len() {
            self.emit(i, None, 0)?;
        }
        self.staff();
        self.entered_in_error();
        self.consents();
        self.confidentiality_graph();
        if self.broken.get() {
            return Err(internal_error());
        }
        Ok(())
    }

    pub(super) fn push(&mut self, mut item: Item) -> usize {
        item.line = 0;
        item.compact();
        self.ex.items.push(item);
        let idx = self.ex.items.len() - 1;
        if let Some(r) = self.current {
            match self.first_item.get_mut(r) {
                Some(first @ None) => *first = Some(idx),
                Some(Some(_)) => self.more_items.entry(r).or_default().push(idx),
                None => {}
            }
        }
        idx
    }

    /// Resource `r`'s main item: the first made from it.
    pub(super) fn item_of(&self, r: usize) -> Option<usize> {
        self.first_item.get(r).copied().flatten()
    }

    /// Every item made from resource `r`, in the order they were made.
    pub(super) fn items_of(&self, r: usize) -> Vec<usize> {
        self.item_of(r)
            .into_iter()
            .chain(self.more_items.get(&r).into_iter().flatten().copied())
            .collect()
    }

    /// Whether resource `i` has been emitted.
    fn is_emitted(&self, i: usize) -> bool {
        self.emitted.get(i).copied().unwrap_or(false)
    }

    /// Resource `i` is emitted (no later pass emits it again).
    pub(super) fn mark_emitted(&mut self, i: usize) {
        if let Some(e) = self.emitted.get_mut(i) {
            *e = true;
        }
    }

    /// Emit resource `i` (and what it contains) under `parent` (else its composition).
    pub(super) fn emit(
        &mut self,
        i: usize,
        parent: Option<usize>,
        depth: usize,
    ) -> Result<(), InputError> {
        if depth > MAX_NESTING {
            return Err(nesting_error());
        }
        if self.is_emitted(i) {
            return Ok(());
        }
        let ty = self.res[i].ty;
        if STRUCTURAL_TYPES.contains(&ty) {
            return Ok(());
        }
        self.mark_emitted(i);
        let parent = parent.or_else(|| {
            self.encounter_of
                .get(&i)
                .and_then(|e| self.composition.get(e))
                .copied()
        });
        let saved = self.current.replace(i);
        let r = self.emit_as(i, ty, parent, depth);
        self.current = saved;
        r
    }

    fn emit_as(
        &mut self,
        i: usize,
        ty: &str,
        parent: Option<usize>,
        depth: usize,
    ) -> Result<(), InputError> {
        match ty {
            "Encounter" => {}
            "Condition" => self.condition(i, parent),
            "AllergyIntolerance" => self.allergy(i, parent),
            "MedicationRequest" => self.medication_request(i, parent),
            "Observation" => self.observation(i, parent, depth)?,
            "DiagnosticReport" => self.report(i, parent, depth)?,
            "Immunization" => self.immunization(i, parent),
            "ProcedureRequest" => self.simple(i, parent, Element::PlanStatement),
            "ReferralRequest" => self.simple(i, parent, Element::RequestStatement),
            "DocumentReference" => self.simple(i, parent, Element::NarrativeStatement),
            _ => self.simple(i, parent, Element::Other),
        }
        Ok(())
    }

    pub(super) fn base(&self, i: usize, element: Element, parent: Option<usize>) -> Item {
        let v = self.json(i);
        let v: &Json = &v;
        Item::of(ItemHead {
            id: self.id(i).into(),
            parent,
            confidentiality: security(v).into(),
            carried: all_codings(v).into(),
            free_text: has_text(v.get("note"))
                || has_text(v.get("comment"))
                || has_text(v.get("description"))
                || v.get("text").is_some_and(|t| has_text(t.get("div"))),
            ..ItemHead::new(element)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpconnect::testing::*;

    #[test]
    fn ids_differing_only_by_case_are_ambiguous_and_withheld() {
        let a = format!(r#"{{"resourceType":"Observation","id":"abc",{OBS}}}"#);
        let b2 = format!(r#"{{"resourceType":"Observation","id":"ABC",{OBS}}}"#);
        let enc = r#"{"resourceType":"Encounter","id":"e","meta":{"security":[{"code":"NOPAT"}]},"period":{"start":"2026-03-01"}}"#;
        let list = r#"{"resourceType":"List","id":"l","code":{"coding":[{"system":"http://snomed.info/sct","code":"325851000000107"}]},"encounter":{"reference":"Encounter/e"},"entry":[{"item":{"reference":"Observation/abc"}}]}"#;
        let (ex, o) = outcomes(&bundle("", &[enc, list, &a, &b2]));
        let obs: Vec<usize> = (0..ex.items.len())
            .filter(|&i| ex.items[i].element == Some(Element::ObservationStatement))
            .collect();
        assert_eq!(obs.len(), 2);
        for i in obs {
            assert!(matches!(o[i], Outcome::Withheld(_)), "{:?}", o[i]);
        }
    }

    #[test]
    fn an_unresolvable_placement_withholds_and_says_so() {
        let lost = format!(
            r#"{{"resourceType":"Observation","id":"a","context":{{"reference":"Encounter/nowhere"}},{OBS}}}"#
        );
        let ok = format!(r#"{{"resourceType":"Observation","id":"b",{OBS}}}"#);
        let (ex, o) = outcomes(&bundle("", &[&lost, &ok]));
        assert_eq!(
            o[ex.at("a")],
            Outcome::Withheld(WithheldReason::UnresolvableReference)
        );
        assert!(matches!(o[ex.at("b")], Outcome::Shared(_)));
    }
}
