//! The first step for each item: *classify* it (which of the shared categories, in what
//! role; a part of another item; a container), then run the filters over it.

use crate::codes::CodeSystem;
use crate::ehr::model::{Element, Item, Value};
use crate::policy::semantic::TagClass;

use super::*;

impl<'a> Ctx<'a> {
    pub(super) fn decide_item(&self, i: usize, done: &[Decision]) -> Decision {
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
            if self.screen.item_sensitive(item) {
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
                if let Some((p, Shared(Role::DiagnosticReport), c)) = parent_outcome {
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
                    Some("pathology-report") => (
                        Some(Category::Investigations),
                        Shared(Role::DiagnosticReport),
                    ),
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
                        Shared(Role::ResultGroup { .. }) | Shared(Role::DiagnosticReport) => {
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
        let value = item.observation().and_then(|o| o.value.as_deref());
        let numeric = matches!(
            value,
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
        match value {
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
            .named_statement()
            .and_then(|id| self.ex.index().get(id));
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
                .prior_ref()
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
}
