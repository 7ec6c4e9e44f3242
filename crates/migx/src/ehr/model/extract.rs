//! A whole record: what a reader fills ([`ExtractBuilder`]), and the finished [`Extract`]
//! with its id index.

use super::dates::DateField;
use super::element::{Element, MessageKind};
use super::index::IdIndex;
use super::item::Item;
use super::staff::Agent;
use crate::codes::Coding;
use crate::ehr::ts::Ts;
use std::collections::HashMap;

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
    /// Source id -> item index, built once by [`ExtractBuilder::finish`], holding no copy
    /// of any id.
    index: IdIndex,
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

    /// The record, finished: each item compacted (see [`Item::compact`]), `children` filled
    /// and the id index built, once (confidentiality over containment and references is
    /// computed once per extract by `policy::graph`).
    pub fn finish(mut self) -> Extract {
        // Each item as it is kept: no repeated carried coding, its lists exactly as long as
        // they are (a list of one coding was read into room for four).
        self.items.iter_mut().for_each(Item::compact);
        self.finish_compacted()
    }

    /// [`ExtractBuilder::finish`] for a reader that compacted every item as it closed and
    /// changed none after (the XML reader): the items are not walked a second time (on
    /// a large record that walk touches every item again after it has left the cache).
    pub(crate) fn finish_compacted(mut self) -> Extract {
        let items = &mut self.items;
        // The reader grew the list by doubling: give the unused half back before mapping.
        items.shrink_to_fit();
        // Each parent's children counted first, so its list is made once at its length
        // (pushed one by one it grew by doubling and was then shrunk: several
        // reallocations for a composition of many statements).
        let mut counts = vec![0usize; items.len()];
        for item in items.iter() {
            if let Some(p) = item.parent.filter(|&p| p < counts.len()) {
                counts[p] += 1;
            }
        }
        for (item, &n) in items.iter_mut().zip(&counts) {
            item.children.reserve_exact(n);
        }
        for i in 0..items.len() {
            if let Some(p) = items[i].parent.filter(|&p| p < items.len()) {
                items[p].children.push(i);
            }
        }
        let (index, dups) = IdIndex::build(items);
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
    pub fn index(&self) -> Ids<'_> {
        Ids {
            index: &self.index,
            items: &self.items,
        }
    }

    /// Ids seen on more than one element, sorted.
    pub fn duplicate_ids(&self) -> &[String] {
        &self.duplicate_ids
    }

    /// The index of the item with this id, for tests (panics when none has it).
    #[cfg(test)]
    pub(crate) fn at(&self, id: &str) -> usize {
        match self.index().get(id) {
            Some(i) => i,
            None => panic!("no item {id} in the index"),
        }
    }

    /// Look an item up by source id (already lowercase).
    pub fn get(&self, id: &str) -> Option<&Item> {
        self.index().get(id).and_then(|i| self.items.get(i))
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

/// The record's id index, read through the record's items (it holds no id of its own).
#[derive(Debug, Clone, Copy)]
pub struct Ids<'a> {
    index: &'a IdIndex,
    items: &'a [Item],
}

impl<'a> Ids<'a> {
    /// The index of the item with this source id (already lowercase), unless no element or
    /// more than one carries it.
    pub fn get(&self, id: &str) -> Option<usize> {
        self.index.get(self.items, id)
    }

    /// Whether an item carries this id (and no other element does).
    pub fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// How many ids are indexed.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no id is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every indexed id with its item, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, usize)> + 'a {
        self.index.iter(self.items)
    }
}
