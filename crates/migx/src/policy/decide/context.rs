//! What deciding one extract's items needs to hand: the extract and policy, which problem
//! names each statement, the medication authorisations and their discontinuations, and the
//! confidentiality reaching each item (`policy::graph`), each computed once.

use crate::ehr::model::{Element, Extract, Item};
use crate::ehr::ts::Ts;
use crate::policy::graph::{self, Reach};
use crate::policy::screen::Screen;
use crate::policy::Policy;
use hashbrown::{HashMap, HashSet};

use super::*;

pub(super) struct Ctx<'a> {
    pub(super) ex: &'a Extract,
    pub(super) policy: &'a Policy,
    /// The policy's screen, remembering each code's verdict over the extract (and, in a
    /// run, the worker thread's other files: `screen::remembering_shared`).
    pub(super) screen: Screen<'a>,
    pub(super) as_of: Ts,
    /// Statement index -> the problem LinkSets that name it.
    pub(super) named_by: HashMap<usize, usize>,
    /// Authorisation id -> (its MedicationStatement, the ehrSupplyAuthorise item).
    pub(super) authorisations: HashMap<&'a str, (usize, usize)>,
    /// Authorisation ids discontinued on or before the as-of date (or undated).
    pub(super) discontinued: HashSet<&'a str>,
    /// Per item, the confidentiality reaching it (`policy::graph`), computed once.
    pub(super) conf: Vec<Option<Reach>>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(ex: &'a Extract, policy: &'a Policy, as_of: Ts) -> Self {
        let mut named_by = HashMap::new();
        let mut authorisations = HashMap::new();
        let mut prescriptions = HashMap::new();
        for (i, item) in ex.items.iter().enumerate() {
            match item.element {
                Some(Element::LinkSet) => {
                    if let Some(n) = item.named_statement().and_then(|id| ex.index().get(id)) {
                        named_by.entry(n).or_insert(i);
                    }
                }
                Some(Element::EhrSupplyAuthorise) if !item.id.is_empty() => {
                    if let Some(p) = item.parent {
                        authorisations.insert(item.id.as_str(), (p, i));
                    }
                }
                Some(Element::EhrSupplyPrescribe) if !item.id.is_empty() => {
                    if let Some(prior) = item.prior_ref() {
                        prescriptions.insert(item.id.as_str(), prior);
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
            let Some(target) = item.prior_ref() else {
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
            screen: Screen::new(policy),
            as_of,
            named_by,
            authorisations,
            discontinued,
            conf: graph::confidentiality(ex, policy),
        }
    }

    pub(super) fn item(&self, i: usize) -> &'a Item {
        &self.ex.items[i]
    }

    /// An allergy compound's allergen: its first statement child (children are linked by
    /// `ExtractBuilder::finish` before any decision is made).
    pub(super) fn first_observation(&self, i: usize) -> Option<usize> {
        self.children(i)
            .find(|&c| self.item(c).element == Some(Element::ObservationStatement))
    }

    pub(super) fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.ex.items[i].children.iter().copied()
    }

    pub(super) fn enclosing_report(&self, i: usize, done: &[Decision]) -> Option<usize> {
        self.ex
            .ancestors(i)
            .take_while(|&a| self.item(a).element != Some(Element::EhrComposition))
            .find(|&a| matches!(done[a].outcome, Outcome::Shared(Role::DiagnosticReport)))
    }
}
