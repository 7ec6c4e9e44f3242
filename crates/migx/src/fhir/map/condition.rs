//! Problems (a GP2GP `LinkSet`, a GP Connect problem) and diagnoses: `Condition`.

use super::staff::ASSERTED;
use super::Mapper;
use crate::ehr::model::{DateField, StaffKind};
use crate::fhir::r4::{CodeableConcept, Coding, Condition, Extension, ExtensionValue, Resource};
use crate::fhir::CONDITION_RELATED_URL;

const CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";

/// The R4 `condition-ver-status` code a shared Condition carries: the source's own, when it
/// is one a shared item can have (`refuted` and `entered-in-error` are withheld before
/// mapping); none when the source says nothing.
fn condition_verification(source: Option<&'static str>) -> Option<&'static str> {
    source.filter(|v| {
        matches!(
            *v,
            "confirmed" | "provisional" | "differential" | "unconfirmed"
        )
    })
}

impl Mapper<'_> {
    /// A shared problem: coded by the statement it names.
    pub(super) fn problem(&self, i: usize, named: usize) -> Resource {
        self.condition(i, named, "problem-list-item", true)
    }

    /// A shared diagnosis: coded by itself.
    pub(super) fn diagnosis(&self, i: usize) -> Resource {
        self.condition(i, i, "encounter-diagnosis", false)
    }

    fn condition(&self, i: usize, coded: usize, category: &'static str, problem: bool) -> Resource {
        let item = self.item(i);
        let c = self.item(coded);
        let extension = self
            .d
            .members
            .linked_problems(i)
            .iter()
            .map(|&j| {
                Extension::value(
                    CONDITION_RELATED_URL,
                    ExtensionValue::Reference(self.item_ref(j)),
                )
            })
            .collect();
        // Only active problems are shared; `recurrence` (an active status) as the source
        // says it.
        let clinical_status = problem.then(|| {
            let status = match item.clinical_status {
                Some("recurrence") => "recurrence",
                _ => "active",
            };
            CodeableConcept::one(Coding::fixed(CLINICAL, status))
        });
        // Certainty only as the source gives it: GP2GP gives none, and the NHS GP2GP
        // translator writes none for conditions either, so none is claimed.
        let verification_status = condition_verification(item.verification.or(c.verification))
            .map(|v| CodeableConcept::one(Coding::fixed(VERIFICATION, v)));
        let onset = match item.effective.low {
            DateField::Value(t) => Some(t),
            _ => c.effective.point().value(),
        };
        Resource::Condition(Box::new(Condition {
            base: self.base("Condition", i),
            extension,
            clinical_status,
            verification_status,
            category: vec![CodeableConcept::one(Coding::fixed(CATEGORY, category))],
            // The problem qualifier "Significant" (386134007) / "Minor" is significance, not
            // severity: it is never written as `severity`. UK Core 2.0 has no significance
            // extension (the staging repository's `Extension-UKCore-ProblemSignificance` is
            // retired and absent from the 2.0.x packages), so it is not carried (see
            // docs/clinical-safety/clinical-decisions.md).
            code: self.concept(&c.codes),
            subject: self.patient(),
            onset_date_time: onset.map(|t| t.fhir()),
            recorded_date: item.availability.value().map(|t| t.fhir()),
            // A problem's asserter is its consultation's (the NHS translator: the
            // composition's Participant2), not the performer of the statement naming it.
            recorder: self.staff_ref(i, &[], &[StaffKind::Recorder], false),
            asserter: self.staff_ref(i, &[], ASSERTED, false),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::model::Element;
    use crate::fhir::map::testing::*;

    #[test]
    fn condition_certainty_is_the_sources_and_never_invented() {
        assert_eq!(condition_verification(None), None);
        for v in ["confirmed", "provisional", "differential", "unconfirmed"] {
            assert_eq!(condition_verification(Some(v)), Some(v));
        }
        // Withheld before mapping; never written if one slips through.
        assert_eq!(condition_verification(Some("refuted")), None);
        assert_eq!(condition_verification(Some("entered-in-error")), None);
    }

    /// A problem LinkSet naming a diagnosis: one active problem-list Condition coded by the
    /// named statement, and the statement itself is not a second resource.
    #[test]
    fn a_problem_is_coded_by_the_statement_it_names() {
        let p = policy();
        let mut problem = item("p1", Element::LinkSet, vec![sct("394774009")]);
        problem.link_set_mut().expect("a link set").named_statement = Some("o1".into());
        let named = item("o1", Element::ObservationStatement, vec![read("H33..")]);
        let (ex, d) = decided(vec![problem, named], &p);
        let out = mapped(&ex, &d, &p);
        let conditions: Vec<serde_json::Value> = out
            .iter()
            .map(|(r, _)| json(r))
            .filter(|r| r["resourceType"] == "Condition")
            .collect();
        assert_eq!(conditions.len(), 1, "{out:?}");
        let c = &conditions[0];
        assert_eq!(c["category"][0]["coding"][0]["code"], "problem-list-item");
        assert_eq!(c["clinicalStatus"]["coding"][0]["code"], "active");
        assert_eq!(c["code"]["coding"][0]["code"], "H33..");
        assert_eq!(c["subject"]["reference"], "urn:uuid:patient");
        assert!(c.get("verificationStatus").is_none());
        assert!(c.get("extension").is_none());
    }
}
