//! Deciding, for one extract, what may be shared and why everything else may not.
//!
//! Two steps per item, in document order (parents before children): *classify* (which of
//! the eight shared categories, and in what role) then *filter* (confidential, sensitive,
//! unresolvable, not current, outside the window, free text). The first filter that applies
//! gives the recorded reason. Anything that cannot be classified is withheld: a bug here
//! may lose a shareable item but never leaks a withheld one.

use crate::codes::snomed::{parse_sctid, SctIdKind};
use crate::codes::syntax::emittable_code;
use crate::codes::{CodeSystem, Coding};
use crate::ehr::model::{DateField, Element, Extract, Item, Value};
use crate::ehr::ts::Ts;
use crate::policy::graph::{self, Reach};
use crate::policy::screen;
use crate::policy::semantic::TagClass;
use crate::policy::{ConfidentialityAction, ConsentEffect, Policy};
use std::collections::{HashMap, HashSet};

/// The eight categories a MIG shares, in the order bundles list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// Problem headers (`LinkSet`s), shared while active.
    Problems,
    /// Coded diagnoses recorded as observations (FHIR encounter-diagnosis Conditions).
    Diagnoses,
    /// Current medications: authorisations that have not ended or been discontinued.
    Medications,
    /// Allergies and intolerances (allergy `CompoundStatement`s, e.g. Read `14L..00` drug,
    /// `SN53.00` non-drug).
    Allergies,
    /// Recent test results, alone or in batteries, within the policy's window.
    Tests,
    /// Investigation reports (pathology CLUSTER 16488004) and their result groups.
    Investigations,
    /// Procedures that were done (not planned ones).
    Procedures,
    /// Risks and warnings from the policy's list, shared as FHIR Flags.
    RisksWarnings,
}

impl Category {
    /// Every category, in bundle order.
    pub const ALL: [Category; 8] = [
        Category::Problems,
        Category::Diagnoses,
        Category::Medications,
        Category::Allergies,
        Category::Tests,
        Category::Investigations,
        Category::Procedures,
        Category::RisksWarnings,
    ];

    /// The category id used in policy data, the audit, the summary and List titles.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Problems => "problems",
            Category::Diagnoses => "diagnoses",
            Category::Medications => "medications",
            Category::Allergies => "allergies",
            Category::Tests => "tests",
            Category::Investigations => "investigations",
            Category::Procedures => "procedures",
            Category::RisksWarnings => "risks-warnings",
        }
    }

    /// The category with this id, if any.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Why one item was not shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WithheldReason {
    /// Marked confidential (`NOPAT`) on the item or an ancestor.
    Confidential,
    /// Coded with a concept on a sensitive list (e.g. the GP summary data sharing exclusion
    /// refsets).
    SensitiveCode,
    /// Refers to a statement that is missing or withheld, so it cannot be shared on its own.
    UnresolvableReference,
    /// Coded only by SNOMED description ids the loaded release cannot map to a concept, so
    /// sensitive lists cannot be checked.
    UnresolvedCode,
    /// Coded only by malformed SNOMED ids (wrong length, partition or check digit).
    InvalidCode,
    /// A date that decides currency or recency is present but unreadable (fail closed).
    InvalidDate,
    /// The source marks it entered in error (HL7 v3 `nullified`; GP Connect
    /// `entered-in-error`): not part of the record, never shared.
    EnteredInError,
    /// Free text only (a `NarrativeStatement`); text is never shared.
    FreeText,
    /// Ended, inactive or discontinued as of the as-of date.
    NotCurrent,
    /// A result or report older than the policy's recent-tests window.
    OutsideWindow,
    /// The source says the condition or allergy is refuted (GP Connect `verificationStatus`
    /// `refuted`): it is not one the patient has, so it is not part of the list (policy
    /// decision, `docs/clinical-safety/clinical-decisions.md`).
    Refuted,
    /// A kind of record the MIG does not share (requests, plans, registration, consent codes...).
    CategoryNotShared,
    /// No code or rule places it in a shared category.
    Unclassified,
}

impl WithheldReason {
    /// Every reason, in documentation order.
    pub const ALL: [WithheldReason; 13] = [
        WithheldReason::Confidential,
        WithheldReason::SensitiveCode,
        WithheldReason::UnresolvableReference,
        WithheldReason::UnresolvedCode,
        WithheldReason::InvalidCode,
        WithheldReason::InvalidDate,
        WithheldReason::EnteredInError,
        WithheldReason::FreeText,
        WithheldReason::NotCurrent,
        WithheldReason::OutsideWindow,
        WithheldReason::Refuted,
        WithheldReason::CategoryNotShared,
        WithheldReason::Unclassified,
    ];

    /// The reason id written to the audit and summary.
    pub fn as_str(self) -> &'static str {
        match self {
            WithheldReason::Confidential => "confidential",
            WithheldReason::SensitiveCode => "sensitive-code",
            WithheldReason::UnresolvableReference => "unresolvable-reference",
            WithheldReason::UnresolvedCode => "unresolved-code",
            WithheldReason::InvalidCode => "invalid-code",
            WithheldReason::InvalidDate => "invalid-date",
            WithheldReason::EnteredInError => "entered-in-error",
            WithheldReason::FreeText => "free-text",
            WithheldReason::NotCurrent => "not-current",
            WithheldReason::OutsideWindow => "outside-window",
            WithheldReason::Refuted => "refuted",
            WithheldReason::CategoryNotShared => "category-not-shared",
            WithheldReason::Unclassified => "unclassified",
        }
    }

    /// Withheld by the category's own scope: not current, outside the recent window, a kind
    /// of record the MIG does not share, or free text (never shared). Such an item is not part
    /// of what its List claims to hold; every other reason leaves the List incomplete.
    pub fn is_scope(self) -> bool {
        matches!(
            self,
            WithheldReason::NotCurrent
                | WithheldReason::OutsideWindow
                | WithheldReason::Refuted
                | WithheldReason::CategoryNotShared
                | WithheldReason::FreeText
        )
    }

    /// Withheld for a reason the category List must warn about (UK Core's
    /// `confidential-items` list warning): every reason but the category's own scope.
    pub fn warns(self) -> bool {
        !self.is_scope()
    }
}

/// What a shared item becomes in FHIR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A problem `LinkSet`; `named` is the statement giving its code.
    Problem {
        /// Index of the statement whose code names the problem.
        named: usize,
    },
    /// A coded diagnosis (Condition, category encounter-diagnosis).
    Diagnosis,
    /// A procedure that was done (Procedure).
    Procedure,
    /// A result on its own, or a member of `group` (a battery or a report).
    Result {
        /// Index of the battery or report holding this result.
        group: Option<usize>,
    },
    /// A battery/cluster of results (e.g. blood pressure), inside `report` if any.
    ResultGroup {
        /// Index of the enclosing report.
        report: Option<usize>,
    },
    /// A pathology report (CLUSTER 16488004).
    Report,
    /// An allergy `CompoundStatement`; `observation` is the statement naming the allergen.
    Allergy {
        /// Index of the statement whose code names the allergen, when found.
        observation: Option<usize>,
    },
    /// A `MedicationStatement` with its authorisation (index of the `ehrSupplyAuthorise`).
    Medication {
        /// Index of the `ehrSupplyAuthorise`.
        authorise: usize,
    },
    /// A risk or warning (Flag).
    Flag,
}

/// The outcome for one source item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Shared, becoming this kind of resource.
    Shared(Role),
    /// Not shared, for this reason (recorded in the audit).
    Withheld(WithheldReason),
    /// Structure only (compositions, topics, specimens): its contents are decided one by one.
    Container,
    /// Shared as part of another item (a problem's named statement, an allergy's
    /// observation, an authorisation or an issue of a medication).
    PartOf(usize),
}

/// One item's decision, with the category it would belong to (also when withheld).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The category it belongs to, when it could be classified.
    pub category: Option<Category>,
    /// What happens to it.
    pub outcome: Outcome,
}

/// Why a whole patient gets no bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatientWithheld {
    /// The practice record holds a dissent code (a local dissent is never overridden at the point
    /// of care).
    DissentRecorded,
    /// The point-of-care consent says deny.
    ConsentDenied,
    /// The consent source has no decision for this patient.
    NoConsentDecision,
    /// A consent file row for this patient failed its checks: withheld whatever else the
    /// file says (fail closed).
    ConsentRowInvalid,
    /// The consent is not valid at the as-of time: recorded too long before it, or after it.
    ConsentOutsideWindow,
    /// The requesting organisation is neither in the policy nor in `--permit-requester`.
    RequesterNotPermitted,
    /// The consent's purpose of use is not one the policy allows.
    PurposeNotPermitted,
    /// No as-of date: none given and the extract has no creation time, so currency cannot be
    /// judged.
    AsOfUnknown,
    /// The record holds a date after the moment of the run (a recorded date or the start of
    /// an event: a placeholder such as `99991231`, a mistyped year), so no time is known at
    /// which its currency can be judged (see [`judged_time`]).
    DatedInFuture,
}

impl PatientWithheld {
    /// Every reason, in documentation order.
    pub const ALL: [PatientWithheld; 9] = [
        PatientWithheld::DissentRecorded,
        PatientWithheld::ConsentDenied,
        PatientWithheld::NoConsentDecision,
        PatientWithheld::ConsentRowInvalid,
        PatientWithheld::ConsentOutsideWindow,
        PatientWithheld::RequesterNotPermitted,
        PatientWithheld::PurposeNotPermitted,
        PatientWithheld::AsOfUnknown,
        PatientWithheld::DatedInFuture,
    ];
    /// The reason id written to the audit and summary.
    pub fn as_str(self) -> &'static str {
        match self {
            PatientWithheld::DissentRecorded => "dissent-recorded",
            PatientWithheld::ConsentDenied => "consent-denied",
            PatientWithheld::NoConsentDecision => "no-consent-decision",
            PatientWithheld::ConsentRowInvalid => "consent-row-invalid",
            PatientWithheld::ConsentOutsideWindow => "consent-outside-window",
            PatientWithheld::RequesterNotPermitted => "requester-not-permitted",
            PatientWithheld::PurposeNotPermitted => "purpose-not-permitted",
            PatientWithheld::AsOfUnknown => "as-of-unknown",
            PatientWithheld::DatedInFuture => "dated-in-future",
        }
    }
}

/// All decisions for one extract.
#[derive(Debug, Clone)]
pub struct Decisions {
    /// One decision per item, indexed like `Extract::items`.
    pub items: Vec<Decision>,
    /// Categories in which something was withheld for a reason other than scope
    /// ([`WithheldReason::warns`]).
    pub warn: Vec<Category>,
    /// Shared items whose free text was removed.
    pub free_text_removed: Vec<usize>,
    /// Medication (MedicationStatement index) -> its issues (`ehrSupplyPrescribe` items).
    pub issues: HashMap<usize, Vec<usize>>,
    /// The date "current" and "recent" were judged against.
    pub as_of: Ts,
    /// Per item, the confidentiality that reaches it over containment and references
    /// (`policy::graph`), with where it came from.
    pub confidentiality: Vec<Option<Reach>>,
}

impl Decisions {
    /// Whether item `i` is shared under a security label (policy handling `label`).
    pub fn labelled(&self, i: usize) -> bool {
        self.confidentiality
            .get(i)
            .copied()
            .flatten()
            .is_some_and(|r| r.action == ConfidentialityAction::Label)
    }

    /// Where the confidentiality that withheld item `i` came from, when it was inherited
    /// (the construct's name, never a source id).
    pub fn inherited_from(&self, i: usize) -> Option<&'static str> {
        let r = self.confidentiality.get(i).copied().flatten()?;
        (r.action == ConfidentialityAction::Drop && !r.origin.own).then_some(r.origin.construct)
    }
}

/// The time a record's currency (current medication and problems, recent tests, the
/// point-of-care consent's validity window) is judged at (issue 24.11): never earlier than
/// the latest date the record holds ([`Extract::record_dates`]).
///
/// `claimed` is `--as-of`, else the extract's own creation time (XML `creationTime`, else
/// `EhrExtract/availabilityTime`; GP Connect `Bundle.meta.lastUpdated`). The judged time is
/// the later of `claimed` and the record's latest date, taken at the start of that date's
/// period (`2026` counts from 2026-01-01): a creation time older than the record's contents
/// is stale (every `uat-*` extract of the NHS test corpus is stamped `20200101010101` over
/// entries of 2020 and 2021), and judging at it would make items that ended in between look
/// current.
///
/// A date of the record after `now` (the moment of the run) cannot be a real entry: a
/// placeholder such as `99991231`, or a mistyped year. Judging at it would make every
/// medication and test look ended; ignoring it would trust a record that holds an impossible
/// date. Neither is safe, so the record is not judged at all:
/// [`PatientWithheld::DatedInFuture`] (fail closed, the receiver is told). This is the only
/// place the clock enters a decision beside the consent rows' own check, and it never enters
/// an output: such a record is withheld whenever it is run until its date has passed.
///
/// What *grants* (a practice consent lifting a dissent, the point-of-care decision) is still
/// held to `claimed`: a consent recorded after the time the record was asked for grants
/// nothing, whatever the judged time.
pub fn judged_time(ex: &Extract, claimed: Ts, now: i64) -> Result<Ts, PatientWithheld> {
    let mut judged = claimed;
    for t in ex.record_dates() {
        if t.epoch_secs() > now {
            return Err(PatientWithheld::DatedInFuture);
        }
        if t.epoch_secs() > judged.epoch_secs() {
            judged = Ts {
                precision: crate::ehr::ts::Precision::Second,
                ..t
            };
        }
    }
    Ok(judged)
}

/// Whether a practice dissent stands at `as_of` (the extract's own time, or `--as-of`).
///
/// Every consent/dissent entry of the record is dated by its effective time, else its
/// availability time, at the precision the source gave (a year denotes the whole year, see
/// [`Ts::end_epoch_secs`]). A dissent stands unless a practice consent certainly comes after
/// it; failing closed at every step:
/// - a dissent with no readable date is taken as the latest;
/// - a consent with no readable date, or one that is not certainly at or before `as_of`
///   (dated after it, a placeholder such as `99991231`, or a period reaching past it)
///   grants nothing;
/// - a consent overrides only when it certainly follows every dissent at the precision given:
///   the same instant, or a dissent whose period contains the consent (`2025` against
///   `2025-06-01`), leaves the dissent standing.
///
/// Consent and dissent are found by the same screen as sensitive codes, over every coding an
/// item carries ([`screen::item_consent`]); a dissent coded outside any item (STU3 Lists and
/// other structural resources, the XML extract and folder) has no date of its own and
/// withholds the patient.
pub fn practice_dissent(ex: &Extract, policy: &Policy, as_of: Ts) -> bool {
    if screen::record_dissent(policy, ex) {
        return true;
    }
    // A consent that refuses by its structure (STU3 `Consent`: a deny exception, status
    // `rejected`, an opt-out policy) is a dissent dated by its own `dateTime`.
    let mut entries: Vec<(ConsentEffect, Option<Ts>)> = ex
        .consent_refusals
        .iter()
        .map(|d| (ConsentEffect::Dissent, d.value()))
        .collect();
    for item in &ex.items {
        let effect = match screen::item_consent(policy, item) {
            // A permit on, or around, a Consent migx cannot read as a clear permission
            // grants nothing.
            Some(ConsentEffect::Permit) if item.grants_nothing => continue,
            Some(e @ (ConsentEffect::Permit | ConsentEffect::Dissent)) => e,
            _ => continue,
        };
        let when = match item.effective.point() {
            DateField::Absent => item.availability,
            d => d,
        };
        entries.push((effect, when.value()));
    }
    dissent_stands(&entries, as_of)
}

/// The decision of [`practice_dissent`] over (effect, date) entries; order does not matter.
pub fn dissent_stands(entries: &[(ConsentEffect, Option<Ts>)], as_of: Ts) -> bool {
    // The end of the latest dissent's period; `None` while no dissent has been seen.
    let mut dissent_end: Option<i64> = None;
    for (effect, when) in entries {
        if *effect != ConsentEffect::Dissent {
            continue;
        }
        let Some(ts) = when else {
            return true; // undated dissent: the latest, whatever else is recorded
        };
        let end = ts.end_epoch_secs();
        dissent_end = Some(dissent_end.map_or(end, |e| e.max(end)));
    }
    let Some(dissent_end) = dissent_end else {
        return false;
    };
    let limit = as_of.end_epoch_secs();
    let overridden = entries.iter().any(|(effect, when)| {
        *effect == ConsentEffect::Permit
            && when.is_some_and(|ts| ts.end_epoch_secs() <= limit && ts.epoch_secs() >= dissent_end)
    });
    !overridden
}

/// Decide every item of an extract at `as_of`.
pub fn decide(ex: &Extract, policy: &Policy, as_of: Ts) -> Decisions {
    let ctx = Ctx::new(ex, policy, as_of);
    let n = ex.items.len();
    let mut items: Vec<Decision> = Vec::with_capacity(n);
    for i in 0..n {
        let d = ctx.decide_item(i, &items);
        items.push(d);
    }
    // A shared item whose meaning is a part withheld as confidential or sensitive (also
    // through the part's own parent: a sensitive battery around a problem's named statement)
    // is withheld for the same reason. Medications and allergies first: a problem may name
    // a medication.
    for pass in 0..2 {
        for i in 0..n {
            let part = match items[i].outcome {
                Outcome::Shared(Role::Medication { authorise }) if pass == 0 => Some(authorise),
                Outcome::Shared(Role::Allergy { observation }) if pass == 0 => observation,
                Outcome::Shared(Role::Problem { named }) if pass == 1 => Some(named),
                _ => None,
            };
            if let Some(Outcome::Withheld(r)) = part.map(|p| items[p].outcome) {
                if r.warns() {
                    items[i].outcome = Outcome::Withheld(r);
                }
            }
            if pass == 1 && matches!(items[i].outcome, Outcome::Shared(_)) {
                let dep = ex.items[i]
                    .depends_on
                    .iter()
                    .filter_map(|&d| match items.get(d).map(|x| x.outcome) {
                        Some(Outcome::Withheld(r)) if r.warns() => Some(r),
                        _ => None,
                    })
                    .min();
                if let Some(r) = dep {
                    items[i].outcome = Outcome::Withheld(r);
                }
            }
        }
    }
    // Parts share the fate of what they are part of (owners may come later in the document).
    for i in 0..n {
        if let Outcome::PartOf(owner) = items[i].outcome {
            let mut o = owner;
            let mut hops = 0;
            while let Outcome::PartOf(next) = items[o].outcome {
                o = next;
                hops += 1;
                if hops > n {
                    break;
                }
            }
            match items[o].outcome {
                Outcome::Shared(_) => {}
                Outcome::Withheld(r) => items[i].outcome = Outcome::Withheld(r),
                Outcome::Container | Outcome::PartOf(_) => {
                    items[i].outcome = Outcome::Withheld(WithheldReason::UnresolvableReference)
                }
            }
            if items[i].category.is_none() {
                items[i].category = items[o].category;
            }
        }
    }
    let mut warn = Vec::new();
    let mut free_text_removed = Vec::new();
    for (i, d) in items.iter().enumerate() {
        match d.outcome {
            Outcome::Withheld(r) if r.warns() => {
                if let Some(c) = d.category {
                    if !warn.contains(&c) {
                        warn.push(c);
                    }
                }
            }
            Outcome::Shared(_) | Outcome::PartOf(_)
                if ex.items[i].free_text
                    || screen::drops_text(&ex.items[i])
                    || policy.detail().drops(&ex.items[i]) =>
            {
                free_text_removed.push(i)
            }
            _ => {}
        }
    }
    warn.sort();
    // Issues of each shared medication, found once (no per-medication rescans).
    let mut issues: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, item) in ex.items.iter().enumerate() {
        if item.element != Some(Element::EhrSupplyPrescribe)
            || items[i].outcome != Outcome::PartOf(item.parent.unwrap_or(usize::MAX))
        {
            continue;
        }
        let Some(parent) = item.parent else { continue };
        let owner = match items[parent].outcome {
            Outcome::PartOf(o) => o,
            _ => parent,
        };
        if matches!(
            items[owner].outcome,
            Outcome::Shared(Role::Medication { .. })
        ) {
            issues.entry(owner).or_default().push(i);
        }
    }
    Decisions {
        items,
        warn,
        free_text_removed,
        issues,
        as_of,
        confidentiality: ctx.conf,
    }
}

struct Ctx<'a> {
    ex: &'a Extract,
    policy: &'a Policy,
    as_of: Ts,
    /// Statement index -> the problem LinkSets that name it.
    named_by: HashMap<usize, usize>,
    /// Authorisation id -> (its MedicationStatement, the ehrSupplyAuthorise item).
    authorisations: HashMap<&'a str, (usize, usize)>,
    /// Authorisation ids discontinued on or before the as-of date (or undated).
    discontinued: HashSet<&'a str>,
    /// Per item, the confidentiality reaching it (`policy::graph`), computed once.
    conf: Vec<Option<Reach>>,
}

impl<'a> Ctx<'a> {
    fn new(ex: &'a Extract, policy: &'a Policy, as_of: Ts) -> Self {
        let mut named_by = HashMap::new();
        let mut authorisations = HashMap::new();
        let mut prescriptions = HashMap::new();
        for (i, item) in ex.items.iter().enumerate() {
            match item.element {
                Some(Element::LinkSet) => {
                    if let Some(&n) = item
                        .named_statement
                        .as_deref()
                        .and_then(|id| ex.index.get(id))
                    {
                        named_by.entry(n).or_insert(i);
                    }
                }
                Some(Element::EhrSupplyAuthorise) if !item.id.is_empty() => {
                    if let Some(p) = item.parent {
                        authorisations.insert(item.id.as_str(), (p, i));
                    }
                }
                Some(Element::EhrSupplyPrescribe) if !item.id.is_empty() => {
                    if let Some(prior) = &item.prior_ref {
                        prescriptions.insert(item.id.as_str(), prior.as_str());
                    }
                }
                _ => {}
            }
        }
        let mut discontinued = HashSet::new();
        for item in &ex.items {
            if item.element != Some(Element::EhrSupplyDiscontinue) {
                continue;
            }
            let Some(target) = item.prior_ref.as_deref() else {
                continue;
            };
            let auth = if authorisations.contains_key(target) {
                Some(target)
            } else {
                prescriptions.get(target).copied()
            };
            let Some(auth) = auth else { continue };
            let effective = match item.availability.value() {
                Some(t) => t.epoch_secs() <= as_of.epoch_secs(),
                None => true, // undated discontinuation: treat as done (fail closed)
            };
            if effective {
                discontinued.insert(auth);
            }
        }
        Ctx {
            ex,
            policy,
            as_of,
            named_by,
            authorisations,
            discontinued,
            conf: graph::confidentiality(ex, policy),
        }
    }

    fn item(&self, i: usize) -> &'a Item {
        &self.ex.items[i]
    }

    fn decide_item(&self, i: usize, done: &[Decision]) -> Decision {
        let item = self.item(i);
        let Some(element) = item.element else {
            return withheld(None, WithheldReason::Unclassified);
        };
        if element == Element::EhrComposition {
            // A consultation the source marks entered in error takes its contents along.
            if item.entered_in_error {
                return withheld(None, WithheldReason::EnteredInError);
            }
            // A consultation coded (anywhere: its type, its lists) with a sensitive code
            // takes everything recorded in it along.
            if screen::item_sensitive(self.policy, item).is_some() {
                return withheld(None, WithheldReason::SensitiveCode);
            }
            return Decision {
                category: None,
                outcome: Outcome::Container,
            };
        }
        let (category, role) = self.classify(i, element, done);
        // A withheld enclosing item takes its contents with it: their meaning is part of it.
        if let Some(p) = item.parent {
            if let Outcome::Withheld(r) = done[p].outcome {
                return withheld(category.or(done[p].category), r);
            }
        }
        if let Some(reason) = self.filter(i, element, &role) {
            return withheld(category, reason);
        }
        Decision {
            category,
            outcome: role,
        }
    }

    /// Which category and role an item would have, ignoring the filters; an item that is
    /// not shared by its nature comes back as `Withheld` with the reason.
    fn classify(
        &self,
        i: usize,
        element: Element,
        done: &[Decision],
    ) -> (Option<Category>, Outcome) {
        let item = self.item(i);
        let parent = item.parent;
        let parent_outcome = parent.map(|p| (p, done[p].outcome, done[p].category));
        use Outcome::*;
        use WithheldReason as W;
        match element {
            Element::EhrComposition => (None, Container),
            Element::NarrativeStatement => (None, Withheld(W::FreeText)),
            Element::RequestStatement
            | Element::PlanStatement
            | Element::RegistrationStatement
            | Element::Other => (None, Withheld(W::CategoryNotShared)),
            Element::EhrSupplyAuthorise
            | Element::EhrSupplyPrescribe
            | Element::EhrSupplyDiscontinue => match parent {
                Some(p) => (Some(Category::Medications), PartOf(p)),
                None => (None, Withheld(W::UnresolvableReference)),
            },
            Element::MedicationStatement => self.classify_medication(i),
            Element::LinkSet => self.classify_linkset(i),
            Element::CompoundStatement => {
                // Inside a report or a result group, a compound is a group of results.
                if let Some((p, Shared(Role::Report), c)) = parent_outcome {
                    if self.policy.category_rule(&item.codes) == Some("specimen") {
                        return (c, Container);
                    }
                    return (c, Shared(Role::ResultGroup { report: Some(p) }));
                }
                if let Some((_, Container, Some(c))) = parent_outcome {
                    // A specimen cluster inside a report: results below still belong to it.
                    if let Some(report) = self.enclosing_report(i, done) {
                        return (
                            Some(c),
                            Shared(Role::ResultGroup {
                                report: Some(report),
                            }),
                        );
                    }
                }
                match self.policy.category_rule(&item.codes) {
                    Some("allergy-header") => {
                        let obs = self.first_observation(i);
                        (
                            Some(Category::Allergies),
                            Shared(Role::Allergy { observation: obs }),
                        )
                    }
                    Some("pathology-report") => {
                        (Some(Category::Investigations), Shared(Role::Report))
                    }
                    Some("not-shared") => (None, Withheld(W::CategoryNotShared)),
                    _ => match item.class_code.as_deref() {
                        Some("BATTERY") | Some("CLUSTER") => (
                            Some(Category::Tests),
                            Shared(Role::ResultGroup { report: None }),
                        ),
                        _ => (None, Container),
                    },
                }
            }
            Element::ObservationStatement => {
                if let Some((p, outcome, c)) = parent_outcome {
                    match outcome {
                        Shared(Role::Allergy { .. }) => return (c, PartOf(p)),
                        Shared(Role::ResultGroup { .. }) | Shared(Role::Report) => {
                            return (c, Shared(Role::Result { group: Some(p) }))
                        }
                        Container => {
                            if let Some(report) = self.enclosing_report(i, done) {
                                return (
                                    Some(Category::Investigations),
                                    Shared(Role::Result {
                                        group: Some(report),
                                    }),
                                );
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(&ls) = self.named_by.get(&i) {
                    return (Some(Category::Problems), PartOf(ls));
                }
                self.classify_observation(item)
            }
        }
    }

    fn classify_observation(&self, item: &Item) -> (Option<Category>, Outcome) {
        use WithheldReason as W;
        if self.policy.consent_effect(&item.codes).is_some() {
            return (None, Outcome::Withheld(W::CategoryNotShared));
        }
        if self.policy.is_risk_warning(&item.codes) {
            return (Some(Category::RisksWarnings), Outcome::Shared(Role::Flag));
        }
        match self.policy.category_rule(&item.codes) {
            Some("diagnoses") => {
                return (Some(Category::Diagnoses), Outcome::Shared(Role::Diagnosis))
            }
            Some("procedures") => {
                return (Some(Category::Procedures), Outcome::Shared(Role::Procedure))
            }
            Some("tests") => {
                return (
                    Some(Category::Tests),
                    Outcome::Shared(Role::Result { group: None }),
                )
            }
            Some("not-shared") => return (None, Outcome::Withheld(W::CategoryNotShared)),
            _ => {}
        }
        let numeric = matches!(
            item.value,
            Some(Value::Quantity { .. }) | Some(Value::Range { .. })
        );
        // The code lists gave no category: with a SNOMED CT release, the concept's semantic
        // tag may (policy `semantic_tags`). Inactive concepts are not classified at all.
        match self.policy.semantic_class(&item.codes, numeric) {
            TagClass::Category("diagnoses") => {
                return (Some(Category::Diagnoses), Outcome::Shared(Role::Diagnosis))
            }
            TagClass::Category("procedures") => {
                return (Some(Category::Procedures), Outcome::Shared(Role::Procedure))
            }
            TagClass::Category("tests") => {
                return (
                    Some(Category::Tests),
                    Outcome::Shared(Role::Result { group: None }),
                )
            }
            TagClass::Category("not-shared") => {
                return (None, Outcome::Withheld(W::CategoryNotShared))
            }
            TagClass::OnlyInactive => return (None, Outcome::Withheld(W::Unclassified)),
            TagClass::Category(_) | TagClass::Unknown => {}
        }
        match item.value {
            Some(Value::Quantity { .. }) | Some(Value::Range { .. }) => (
                Some(Category::Tests),
                Outcome::Shared(Role::Result { group: None }),
            ),
            _ => (None, Outcome::Withheld(W::Unclassified)),
        }
    }

    fn classify_linkset(&self, i: usize) -> (Option<Category>, Outcome) {
        use WithheldReason as W;
        let item = self.item(i);
        let is_code = |code: &str| {
            item.codes
                .iter()
                .any(|c| c.system == CodeSystem::Snomed && c.code == code)
        };
        let active = is_code("394774009");
        let inactive = is_code("394775005");
        if !active && !inactive {
            return (None, Outcome::Withheld(W::CategoryNotShared));
        }
        let named = item
            .named_statement
            .as_deref()
            .and_then(|id| self.ex.index.get(id))
            .copied();
        let Some(named) = named else {
            return (
                Some(Category::Problems),
                Outcome::Withheld(W::UnresolvableReference),
            );
        };
        // A problem must name a clinical statement, never another link set (cycles).
        if !matches!(
            self.item(named).element,
            Some(Element::ObservationStatement)
                | Some(Element::CompoundStatement)
                | Some(Element::PlanStatement)
                | Some(Element::RequestStatement)
                | Some(Element::MedicationStatement)
        ) {
            return (
                Some(Category::Problems),
                Outcome::Withheld(W::UnresolvableReference),
            );
        }
        if inactive {
            return (Some(Category::Problems), Outcome::Withheld(W::NotCurrent));
        }
        (
            Some(Category::Problems),
            Outcome::Shared(Role::Problem { named }),
        )
    }

    fn classify_medication(&self, i: usize) -> (Option<Category>, Outcome) {
        use WithheldReason as W;
        let cat = Some(Category::Medications);
        let children: Vec<usize> = self.children(i).collect();
        if let Some(&auth) = children
            .iter()
            .find(|&&c| self.item(c).element == Some(Element::EhrSupplyAuthorise))
        {
            return (cat, Outcome::Shared(Role::Medication { authorise: auth }));
        }
        if let Some(&presc) = children
            .iter()
            .find(|&&c| self.item(c).element == Some(Element::EhrSupplyPrescribe))
        {
            // An issue belongs to the medication whose authorisation it fulfils.
            let owner = self
                .item(presc)
                .prior_ref
                .as_deref()
                .and_then(|a| self.authorisations.get(a));
            return match owner {
                Some(&(med, _)) if med != i => (cat, Outcome::PartOf(med)),
                _ => (cat, Outcome::Withheld(W::UnresolvableReference)),
            };
        }
        if children
            .iter()
            .any(|&c| self.item(c).element == Some(Element::EhrSupplyDiscontinue))
        {
            return (cat, Outcome::Withheld(W::NotCurrent));
        }
        (cat, Outcome::Withheld(W::Unclassified))
    }

    /// An allergy compound's allergen: its first statement child (children are linked by
    /// `Extract::finish` before any decision is made).
    fn first_observation(&self, i: usize) -> Option<usize> {
        self.children(i)
            .find(|&c| self.item(c).element == Some(Element::ObservationStatement))
    }

    fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.ex.items[i].children.iter().copied()
    }

    fn enclosing_report(&self, i: usize, done: &[Decision]) -> Option<usize> {
        self.ex
            .ancestors(i)
            .take_while(|&a| self.item(a).element != Some(Element::EhrComposition))
            .find(|&a| matches!(done[a].outcome, Outcome::Shared(Role::Report)))
    }

    /// The filters, in order; the first that applies is the reason.
    fn filter(&self, i: usize, element: Element, outcome: &Outcome) -> Option<WithheldReason> {
        use WithheldReason as W;
        let item = self.item(i);
        let named = match outcome {
            Outcome::Shared(Role::Problem { named }) => Some(*named),
            Outcome::Shared(Role::Allergy { observation }) => *observation,
            _ => None,
        };
        let part = match outcome {
            Outcome::Shared(Role::Medication { authorise }) => Some(*authorise),
            _ => named,
        };
        // 0. Entered in error: not part of the record, so never shared, whatever else it is;
        // the item or the part that gives it its meaning (a problem's named statement, an
        // allergy's allergen, a medication's authorisation). An item its category's scope
        // leaves out anyway (a plan, a note) keeps that reason.
        if item.entered_in_error || part.is_some_and(|n| self.item(n).entered_in_error) {
            return Some(match outcome {
                Outcome::Withheld(r) if r.is_scope() => *r,
                _ => W::EnteredInError,
            });
        }
        // 1. Confidential: a restricting code reaching the item over the confidentiality
        // graph (containment, references, chains, placements). The part that gives a shared
        // item its meaning counts too (a problem's named statement, an allergy's allergen, a
        // medication's authorisation).
        if self.restricted(i) {
            return Some(W::Confidential);
        }
        if part.is_some_and(|n| self.restricted(n)) {
            return Some(W::Confidential);
        }
        // A placement a confidentiality decision depends on could not be resolved.
        if item.unresolved_placement || part.is_some_and(|n| self.item(n).unresolved_placement) {
            return Some(W::UnresolvableReference);
        }
        // 2. Sensitive: any coding of the item, its value, its drug, or its named statement.
        if self.sensitive(item) || named.is_some_and(|n| self.sensitive(self.item(n))) {
            return Some(W::SensitiveCode);
        }
        if let Outcome::Withheld(r) = outcome {
            // An item we could not classify because its only codes are description ids we
            // cannot resolve: say so, it is the more useful reason (issue: unresolved-code).
            if *r == W::Unclassified && self.code_problem(&item.codes) == Some(W::UnresolvedCode) {
                return Some(W::UnresolvedCode);
            }
            return Some(*r);
        }
        // 3. Identity of the item itself must be clear.
        if !item.id.is_empty() && self.ex.duplicate_ids.binary_search(&item.id).is_ok() {
            return Some(W::UnresolvableReference);
        }
        if matches!(outcome, Outcome::Container | Outcome::PartOf(_)) {
            return None;
        }
        // 4. Codes: a shared item needs at least one code migx can stand behind.
        let codes: &[Coding] = match (element, named) {
            (Element::MedicationStatement, _) => &item.consumable,
            (_, Some(n)) => &self.item(n).codes,
            _ => &item.codes,
        };
        if let Some(r) = self.code_problem(codes) {
            return Some(r);
        }
        // A vaccination the source says was not given is not something that happened: only
        // a Procedure can say so (`not-done`); as anything else it is out of scope.
        if item.not_done && !matches!(outcome, Outcome::Shared(Role::Procedure)) {
            return Some(W::CategoryNotShared);
        }
        // 5. Certainty: a condition or allergy the source says is refuted is not shared.
        if [Some(i), part]
            .into_iter()
            .flatten()
            .any(|k| self.item(k).verification == Some("refuted"))
        {
            return Some(W::Refuted);
        }
        // 6. Currency and recency.
        match outcome {
            Outcome::Shared(Role::Medication { authorise }) => self.medication_current(*authorise),
            Outcome::Shared(Role::Allergy { observation }) => {
                // A resolved allergy (an end date on or before the as-of date, or a clinical
                // status that says so) is not current.
                if matches!(item.clinical_status, Some("inactive" | "resolved")) {
                    return Some(W::NotCurrent);
                }
                let ended = [Some(i), *observation]
                    .into_iter()
                    .flatten()
                    .map(|k| self.item(k).effective.high);
                let mut r = None;
                for high in ended {
                    match high {
                        DateField::Invalid => r = Some(W::InvalidDate),
                        DateField::Value(h) if h.date() <= self.as_of.date() => {
                            r = r.or(Some(W::NotCurrent))
                        }
                        _ => {}
                    }
                }
                r
            }
            Outcome::Shared(Role::Problem { .. }) => match item.effective.high {
                DateField::Invalid => Some(W::InvalidDate),
                DateField::Value(h) if h.date() < self.as_of.date() => Some(W::NotCurrent),
                _ => None,
            },
            Outcome::Shared(Role::Result { group: None })
            | Outcome::Shared(Role::ResultGroup { report: None })
            | Outcome::Shared(Role::Report) => self.recent(item),
            _ => None,
        }
    }

    fn restricted(&self, i: usize) -> bool {
        self.conf
            .get(i)
            .copied()
            .flatten()
            .is_some_and(|r| r.action == ConfidentialityAction::Drop)
    }

    /// Any coding the item carries, wherever it sits, on a sensitive list (the one screen).
    fn sensitive(&self, item: &Item) -> bool {
        screen::item_sensitive(self.policy, item).is_some()
    }

    /// Fail closed on codes: an item coded only by SNOMED ids that are invalid, or only by
    /// description ids that cannot be resolved, cannot be checked against concept lists.
    fn code_problem(&self, codes: &[Coding]) -> Option<WithheldReason> {
        if codes.is_empty() {
            return Some(WithheldReason::Unclassified);
        }
        let mut settled = false;
        let mut unresolved = false;
        for c in codes {
            match c.system {
                CodeSystem::Snomed => match parse_sctid(&c.code) {
                    Ok(id) if id.kind == SctIdKind::Concept => settled = true,
                    Ok(id) if id.kind == SctIdKind::Description => {
                        if self.policy.resolve_description(id.id).is_some() {
                            settled = true;
                        } else {
                            unresolved = true;
                        }
                    }
                    _ => {}
                },
                // A code not in its system's syntax is text: it settles nothing.
                CodeSystem::ReadV2 | CodeSystem::Ctv3 | CodeSystem::Other(_) => {
                    settled |= emittable_code(&c.system, c.code.trim()).is_some()
                }
                CodeSystem::Invalid => {}
            }
        }
        match (settled, unresolved) {
            (true, _) => None,
            (false, true) => Some(WithheldReason::UnresolvedCode),
            (false, false) => Some(WithheldReason::InvalidCode),
        }
    }

    fn medication_current(&self, authorise: usize) -> Option<WithheldReason> {
        let auth = self.item(authorise);
        if self.discontinued.contains(auth.id.as_str()) {
            return Some(WithheldReason::NotCurrent);
        }
        // A plan the source says is over (HL7 v3 `COMPLETE`, `ABORTED`, `CANCELLED`,
        // `OBSOLETE`; GP Connect `completed`, `cancelled`, `stopped`, read as `COMPLETE`) is
        // not current, whatever its end date: never shown as active (the NHS GP2GP
        // translator maps `COMPLETE` to `completed`).
        if auth.status_code.as_deref().is_some_and(plan_ended) {
            return Some(WithheldReason::NotCurrent);
        }
        match auth.effective.high {
            DateField::Invalid => Some(WithheldReason::InvalidDate),
            DateField::Value(h) if h.date() < self.as_of.date() => Some(WithheldReason::NotCurrent),
            DateField::Value(_) | DateField::Absent => None,
        }
    }

    /// Results must fall within the recent-tests window before the as-of date.
    fn recent(&self, item: &Item) -> Option<WithheldReason> {
        let when = match item.effective.point() {
            DateField::Absent => item.availability,
            d => d,
        };
        let Some(ts) = when.value() else {
            return Some(WithheldReason::InvalidDate);
        };
        let months = self.policy.recent_tests_months();
        let cutoff = self
            .as_of
            .date()
            .checked_sub_months(chrono::Months::new(months))
            .unwrap_or(chrono::NaiveDate::MIN);
        if ts.date() < cutoff {
            Some(WithheldReason::OutsideWindow)
        } else {
            None
        }
    }
}

/// Whether an authorisation's HL7 v3 `statusCode` says the plan is over.
pub fn plan_ended(status: &str) -> bool {
    ["COMPLETE", "ABORTED", "CANCELLED", "OBSOLETE"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(status.trim()))
}

fn withheld(category: Option<Category>, r: WithheldReason) -> Decision {
    Decision {
        category,
        outcome: Outcome::Withheld(r),
    }
}

#[cfg(test)]
mod rules;

#[cfg(test)]
mod tests {
    use super::*;
    use ConsentEffect::{Dissent as D, Permit as P};

    fn ts(v: &str) -> Option<Ts> {
        Some(Ts::parse(v).unwrap())
    }

    #[test]
    fn the_judged_time_is_never_before_the_records_own_dates_nor_at_a_future_one() {
        use crate::ehr::model::{Effective, Item};
        let t = |v: &str| Ts::parse(v).unwrap();
        let item = |mood: Option<&str>, avail: &str, low: &str, high: &str| Item {
            mood_code: mood.map(str::to_string),
            availability: DateField::from_hl7(avail),
            effective: Effective {
                low: DateField::from_hl7(low),
                high: DateField::from_hl7(high),
                center: DateField::Absent,
            },
            ..Item::default()
        };
        let ex = |items: Vec<Item>| Extract {
            items,
            ..Extract::default()
        };
        let now = t("20261201000000").epoch_secs();
        let claimed = t("20250801100000");
        let judged = |e: &Extract| judged_time(e, claimed, now).map(|j| j.epoch_secs());
        // Nothing later (an end date never counts): the claimed time.
        let e = ex(vec![item(None, "20250101", "20240101", "99991231")]);
        assert_eq!(judged(&e), Ok(claimed.epoch_secs()));
        // A later recorded time or event start: moved to the start of its period.
        let e = ex(vec![item(None, "20260105", "", "")]);
        assert_eq!(judged(&e), Ok(t("20260105000000").epoch_secs()));
        let e = ex(vec![item(Some("EVN"), "", "2026", "")]);
        assert_eq!(judged(&e), Ok(t("20260101000000").epoch_secs()));
        let e = ex(vec![item(None, "20250801100001", "", "")]);
        assert_eq!(judged(&e), Ok(claimed.epoch_secs() + 1));
        // The start of an intent may lie ahead; placeholders and bad dates are not dates.
        let e = ex(vec![item(Some("INT"), "", "99991231", "")]);
        assert_eq!(judged(&e), Ok(claimed.epoch_secs()));
        let e = ex(vec![item(None, "19000101", "garbage", "")]);
        assert_eq!(judged(&e), Ok(claimed.epoch_secs()));
        // After the run: not judged at all, wherever it sits.
        for e in [
            ex(vec![item(None, "99991231", "", "")]),
            ex(vec![item(Some("EVN"), "", "20261201000001", "")]),
            ex(vec![
                item(None, "20250101", "", ""),
                item(None, "2027", "", ""),
            ]),
        ] {
            assert_eq!(judged(&e), Err(PatientWithheld::DatedInFuture));
        }
    }

    /// The decision, checked in both entry orders (order in the record never matters).
    fn stands(entries: &[(ConsentEffect, Option<Ts>)], as_of: &str) -> bool {
        let as_of = Ts::parse(as_of).unwrap();
        let forward = dissent_stands(entries, as_of);
        let mut rev = entries.to_vec();
        rev.reverse();
        assert_eq!(
            forward,
            dissent_stands(&rev, as_of),
            "order changed the result"
        );
        forward
    }

    const AS_OF: &str = "20260314100000";

    #[test]
    fn only_active_or_suspended_plans_are_current() {
        for s in ["COMPLETE", "complete", " ABORTED ", "CANCELLED", "OBSOLETE"] {
            assert!(plan_ended(s), "{s}");
        }
        for s in ["ACTIVE", "SUSPENDED", "NEW", ""] {
            assert!(!plan_ended(s), "{s}");
        }
    }

    #[test]
    fn no_dissent_no_withholding() {
        assert!(!stands(&[], AS_OF));
        assert!(!stands(&[(P, ts("2020"))], AS_OF));
        assert!(!stands(&[(P, None)], AS_OF));
    }

    #[test]
    fn a_later_consent_overrides_and_an_earlier_one_does_not() {
        assert!(!stands(&[(D, ts("20200101")), (P, ts("20210101"))], AS_OF));
        assert!(stands(&[(P, ts("20200101")), (D, ts("20210101"))], AS_OF));
    }

    #[test]
    fn ties_and_undated_dissents_keep_the_dissent() {
        let t = "20250601120000";
        assert!(stands(&[(D, ts(t)), (P, ts(t))], AS_OF));
        // One second later is certainly later.
        assert!(!stands(&[(D, ts(t)), (P, ts("20250601120001"))], AS_OF));
        assert!(stands(&[(D, None), (P, ts("20250601120001"))], AS_OF));
        // A consent without a readable date grants nothing.
        assert!(stands(&[(D, ts(t)), (P, None)], AS_OF));
    }

    #[test]
    fn a_consent_dated_after_the_as_of_time_grants_nothing() {
        let d = (D, ts("20200101"));
        // Boundary at the as-of instant: at it grants, one second after does not.
        assert!(!stands(&[d, (P, ts("20260314100000"))], AS_OF));
        assert!(stands(&[d, (P, ts("20260314100001"))], AS_OF));
        // Placeholders far in the future.
        assert!(stands(&[d, (P, ts("99991231"))], AS_OF));
        assert!(stands(&[d, (P, ts("9999"))], AS_OF));
        // A period reaching past the as-of time is not certainly before it.
        assert!(stands(&[d, (P, ts("20260314"))], AS_OF));
        assert!(stands(&[d, (P, ts("2026"))], AS_OF));
        assert!(!stands(&[d, (P, ts("20260313"))], AS_OF));
        assert!(!stands(&[d, (P, ts("2025"))], AS_OF));
        // An as-of given as a whole day (its span ends at the next midnight).
        assert!(!stands(&[d, (P, ts("20260314"))], "20260314"));
        assert!(stands(&[d, (P, ts("20260315"))], "20260314"));
    }

    #[test]
    fn a_dissent_at_coarse_precision_is_not_overridden_inside_its_period() {
        for inside in ["2025", "202501", "20250101", "20250601", "20251231235959"] {
            assert!(
                stands(&[(D, ts("2025")), (P, ts(inside))], AS_OF),
                "{inside}"
            );
        }
        assert!(!stands(&[(D, ts("2025")), (P, ts("20260101"))], AS_OF));
        assert!(stands(
            &[(D, ts("202506")), (P, ts("20250630235959"))],
            AS_OF
        ));
        assert!(!stands(&[(D, ts("202506")), (P, ts("20250701"))], AS_OF));
        assert!(stands(
            &[(D, ts("2025061412")), (P, ts("202506141259"))],
            AS_OF
        ));
        assert!(!stands(
            &[(D, ts("2025061412")), (P, ts("202506141300"))],
            AS_OF
        ));
        // A consent at coarse precision that may precede the dissent does not override it.
        assert!(stands(&[(D, ts("20250601")), (P, ts("2025"))], AS_OF));
    }

    #[test]
    fn every_dissent_must_be_overridden() {
        let entries = [
            (D, ts("2020")),
            (P, ts("2021")),
            (D, ts("2022")),
            (P, ts("202101")),
        ];
        assert!(stands(&entries, AS_OF));
        let mut more = entries.to_vec();
        more.push((P, ts("2023")));
        assert!(!stands(&more, AS_OF));
        // A dissent dated after the as-of time still counts (it can only withhold).
        assert!(stands(&[(D, ts("20270101")), (P, ts("20250101"))], AS_OF));
    }
}
