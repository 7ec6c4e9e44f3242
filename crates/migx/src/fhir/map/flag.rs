//! Risks and warnings: `Flag`.

use super::Mapper;
use crate::fhir::r4::{CodeableConcept, Coding, Flag, Period, Resource};

impl Mapper<'_> {
    /// A shared risk or warning.
    pub(super) fn flag(&self, i: usize) -> Resource {
        let item = self.item(i);
        Resource::Flag(Box::new(Flag {
            base: self.base("Flag", i),
            status: "active",
            category: vec![CodeableConcept::one(Coding::fixed(
                "http://terminology.hl7.org/CodeSystem/flag-category",
                "clinical",
            ))],
            code: self.concept(&item.codes),
            subject: self.patient(),
            period: item
                .effective
                .point()
                .value()
                .or(item.availability.value())
                .map(|t| Period {
                    start: Some(t.fhir()),
                    end: None,
                }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::ehr::model::Element;
    use crate::fhir::map::testing::*;

    #[test]
    fn a_risk_is_an_active_clinical_flag_from_when_it_was_recorded() {
        let p = policy();
        // 304253006 "Not for resuscitation": a risk or warning (DE-DNR).
        let (ex, d) = decided(
            vec![item(
                "f1",
                Element::ObservationStatement,
                vec![sct("304253006")],
            )],
            &p,
        );
        let out = mapped(&ex, &d, &p);
        assert_eq!(out.len(), 1, "{out:?}");
        let r = json(&out[0].0);
        assert_eq!(r["resourceType"], "Flag");
        assert_eq!(r["status"], "active");
        assert_eq!(r["category"][0]["coding"][0]["code"], "clinical");
        assert_eq!(r["period"]["start"], "2025-06-01");
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "resourceType",
                "id",
                "meta",
                "identifier",
                "status",
                "category",
                "code",
                "subject",
                "period"
            ]
        );
    }
}
