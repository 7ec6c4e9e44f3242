//! Deciding, for one extract, what may be shared and why everything else may not.
//!
//! Two steps per item, in document order (parents before children): *classify* (which of
//! the eight shared categories, and in what role) then *filter* (confidential, sensitive,
//! unresolvable, not current, outside the window, free text). The first filter that applies
//! gives the recorded reason. Anything that cannot be classified is withheld: a bug here
//! may lose a shareable item but never leaks a withheld one.
//!
//! Here: the decisions' types and [`decide`], which runs both steps over every item and then
//! lets parts share the fate of what they belong to. Beside it: `context` (what deciding
//! needs to hand, computed once per extract), `filter` (the filters, over the context),
//! `classify` (classification, then the filters), `members` (what each shared item holds of
//! the others, for the mappers), `lists` (what the withheld items mean for each category's
//! List and for the Bundle, for the mappers), `patient` (the whole patient: the judged
//! time and a practice dissent); the rules' tests are in `rules.rs`.

use crate::ehr::model::Extract;
use crate::ehr::ts::Ts;
use crate::policy::graph::Reach;
use crate::policy::screen;
use crate::policy::{ConfidentialityAction, Policy};

mod classify;
mod context;
mod filter;
mod lists;
mod members;
mod patient;

use context::Ctx;
pub use filter::plan_ended;
use filter::withheld;
pub use lists::{ListWithholding, Withholding};
pub use members::Members;
pub use patient::{dissent_stands, judged_time, practice_dissent, DatedInFuture};

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

    /// A decision of policy about the item (a List that lost it says `withheld`), rather than
    /// data that could not be used (`unavailable`). Only meaningful for reasons that are not
    /// scope.
    pub fn is_policy_decision(self) -> bool {
        use WithheldReason as W;
        match self {
            W::Confidential
            | W::SensitiveCode
            | W::UnresolvedCode
            | W::FreeText
            | W::EnteredInError => true,
            W::UnresolvableReference | W::InvalidCode | W::InvalidDate | W::Unclassified => false,
            W::NotCurrent | W::OutsideWindow | W::Refuted | W::CategoryNotShared => false,
        }
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
    /// A pathology report (CLUSTER 16488004), shared as a DiagnosticReport.
    DiagnosticReport,
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

/// All decisions for one extract.
#[derive(Debug, Clone)]
pub struct Decisions {
    /// One decision per item, indexed like `Extract::items`.
    pub items: Vec<Decision>,
    /// What the withheld items mean for each category's List (its warning and empty
    /// reason) and for the Bundle (incomplete), decided once from the outcomes above.
    pub lists: ListWithholding,
    /// Shared items whose free text was removed.
    pub free_text_removed: Vec<usize>,
    /// What each shared report, group, problem and medication holds of the other shared
    /// items, decided once from the outcomes above: the mappers read it.
    pub members: Members,
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
    let mut free_text_removed = Vec::new();
    for (i, d) in items.iter().enumerate() {
        match d.outcome {
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
    let members = members::members(ex, &items);
    let lists = lists::list_withholding(&items);
    Decisions {
        items,
        lists,
        free_text_removed,
        members,
        as_of,
        confidentiality: ctx.conf,
    }
}

#[cfg(test)]
mod rules;
