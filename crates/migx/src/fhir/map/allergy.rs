//! Allergies and adverse reactions (a GP2GP allergy `CompoundStatement` with the
//! observation naming the allergen; a GP Connect `AllergyIntolerance`).

use super::staff::ASSERTED;
use super::Mapper;
use crate::ehr::model::StaffKind;
use crate::fhir::r4::{AllergyIntolerance, AllergyReaction, CodeableConcept, Coding, Resource};
use crate::policy::allergy::allergy_category;

const CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";

/// The R4 `allergyintolerance-verification` code a shared allergy carries: `confirmed`
/// only when the source says so, else `unconfirmed` (what the NHS GP2GP translator writes
/// when the source says nothing).
fn allergy_verification(source: Option<&'static str>) -> &'static str {
    match source {
        Some("confirmed") => "confirmed",
        _ => "unconfirmed",
    }
}

impl Mapper<'_> {
    /// A shared allergy; `observation` is the statement naming the allergen, when found.
    pub(super) fn allergy(&self, i: usize, observation: Option<usize>) -> Resource {
        let item = self.item(i);
        let obs = observation.map(|o| self.item(o)).unwrap_or(item);
        // Drug or not is the policy's classification of the header's codes.
        let category = allergy_category(&item.codes);
        let mut code = self.concept(&obs.codes);
        // A transfer-degraded allergy names its allergen only in its code's text: shared
        // when the policy says so (`clinical_detail.degraded_allergy_text`, default on).
        if let Some(t) = self.policy.detail().degraded_text(obs) {
            code.text = Some(t.to_string().into());
        }
        // Each reaction with a manifestation that passes the screen (R4 needs one); its
        // severity, onset and route as the source codes them; its text never.
        let reactions = item.allergy().map_or(&[][..], |a| &a.reactions);
        let reaction = reactions
            .iter()
            .filter_map(|r| {
                Some(AllergyReaction {
                    manifestation: vec![self.concept_if_any(&r.manifestation)?],
                    onset: r.onset.value().map(|t| t.fhir()),
                    severity: r.severity,
                    exposure_route: self.concept_if_any(&r.exposure_route),
                })
            })
            .collect();
        let more: Vec<usize> = observation.into_iter().collect();
        Resource::AllergyIntolerance(Box::new(AllergyIntolerance {
            base: self.base("AllergyIntolerance", i),
            clinical_status: CodeableConcept::one(Coding::fixed(CLINICAL, "active")),
            // Never stronger than the source: GP Connect says it; GP2GP does not, and the
            // NHS GP2GP translator then writes `unconfirmed`, as here.
            verification_status: CodeableConcept::one(Coding::fixed(
                VERIFICATION,
                allergy_verification(item.verification.or(obs.verification)),
            )),
            category: vec![category.as_str()],
            code,
            patient: self.patient(),
            onset_date_time: obs
                .effective
                .point()
                .value()
                .or(item.effective.point().value())
                .map(|t| t.fhir()),
            recorded_date: item.availability.value().map(|t| t.fhir()),
            reaction,
            recorder: self.staff_ref(i, &more, &[StaffKind::Recorder], false),
            asserter: self.staff_ref(i, &more, ASSERTED, false),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::model::Element;
    use crate::fhir::map::testing::*;

    #[test]
    fn allergy_certainty_is_never_stronger_than_the_source() {
        assert_eq!(allergy_verification(None), "unconfirmed");
        assert_eq!(allergy_verification(Some("unconfirmed")), "unconfirmed");
        assert_eq!(allergy_verification(Some("confirmed")), "confirmed");
        assert_eq!(allergy_verification(Some("refuted")), "unconfirmed");
    }

    /// A GP2GP allergy: the header coded `14L..` (drug allergy) holding the observation
    /// naming the allergen: one AllergyIntolerance coded by the observation.
    #[test]
    fn an_allergy_is_coded_by_its_observation() {
        let p = policy();
        let header = item("a1", Element::CompoundStatement, vec![read("14L..")]);
        let mut obs = item("o1", Element::ObservationStatement, vec![read("TJ00.")]);
        obs.parent = Some(0);
        let (ex, d) = decided(vec![header, obs], &p);
        let out = mapped(&ex, &d, &p);
        assert_eq!(out.len(), 1, "{out:?}");
        let r = json(&out[0].0);
        assert_eq!(r["resourceType"], "AllergyIntolerance");
        assert_eq!(r["code"]["coding"][0]["code"], "TJ00.");
        assert_eq!(r["clinicalStatus"]["coding"][0]["code"], "active");
        assert_eq!(r["verificationStatus"]["coding"][0]["code"], "unconfirmed");
        assert_eq!(r["patient"]["reference"], "urn:uuid:patient");
        assert_eq!(r["category"][0], "medication");
        assert!(r.get("reaction").is_none());
    }

    /// The category is what the policy decided of the header's codes, for each header the
    /// policy's category list knows.
    #[test]
    fn the_category_is_the_policys_classification_of_the_header() {
        let p = policy();
        for (header_code, expected) in [("14L..", "medication"), ("SN53.", "environment")] {
            let header = item("a1", Element::CompoundStatement, vec![read(header_code)]);
            let mut obs = item("o1", Element::ObservationStatement, vec![read("TJ00.")]);
            obs.parent = Some(0);
            let (ex, d) = decided(vec![header, obs], &p);
            let out = mapped(&ex, &d, &p);
            assert_eq!(out.len(), 1, "{header_code}: {out:?}");
            let r = json(&out[0].0);
            assert_eq!(r["category"][0], expected, "{header_code}");
            assert_eq!(
                allergy_category(&ex.items[0].codes).as_str(),
                expected,
                "{header_code}"
            );
        }
    }
}
