//! The second step for each classified item: *filter* it (confidential, sensitive,
//! unresolvable or invalid codes, not current, outside the recent window); the first
//! filter that applies gives the recorded reason.

use crate::codes::snomed::{parse_sctid, SctIdKind};
use crate::codes::syntax::emittable_code;
use crate::codes::{CodeSystem, Coding};
use crate::ehr::model::{DateField, Element, Item};
use crate::policy::ConfidentialityAction;

use super::*;

impl<'a> Ctx<'a> {
    /// The filters, in order; the first that applies is the reason.
    pub(super) fn filter(
        &self,
        i: usize,
        element: Element,
        outcome: &Outcome,
    ) -> Option<WithheldReason> {
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
        if !item.id.is_empty()
            && self
                .ex
                .duplicate_ids()
                .binary_search_by(|d| d.as_str().cmp(item.id.as_str()))
                .is_ok()
        {
            return Some(W::UnresolvableReference);
        }
        if matches!(outcome, Outcome::Container | Outcome::PartOf(_)) {
            return None;
        }
        // 4. Codes: a shared item needs at least one code migx can stand behind.
        let codes: &[Coding] = match (element, named) {
            (Element::MedicationStatement, _) => {
                item.medication().map_or(&[][..], |m| &m.consumable)
            }
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
            | Outcome::Shared(Role::DiagnosticReport) => self.recent(item),
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
        self.screen.item_sensitive(item)
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

pub(super) fn withheld(category: Option<Category>, r: WithheldReason) -> Decision {
    Decision {
        category,
        outcome: Outcome::Withheld(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_or_suspended_plans_are_current() {
        for s in ["COMPLETE", "complete", " ABORTED ", "CANCELLED", "OBSOLETE"] {
            assert!(plan_ended(s), "{s}");
        }
        for s in ["ACTIVE", "SUSPENDED", "NEW", ""] {
            assert!(!plan_ended(s), "{s}");
        }
    }
}
