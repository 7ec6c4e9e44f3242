//! The Patient: the NHS number and the registered practice, nothing else.

use super::urn;
use crate::fhir::r4::{Identifier, Meta, Patient, Reference, Resource};
use crate::fhir::{SharingContext, NHS_NUMBER_SYSTEM};

/// The disclosed Patient.
pub(super) fn patient(id: &str, practice_id: &str, rc: &SharingContext<'_>) -> Resource {
    Resource::Patient(Box::new(Patient {
        id: id.to_string(),
        meta: Meta::ukcore("Patient"),
        identifier: vec![Identifier::new(NHS_NUMBER_SYSTEM, rc.nhs_number)],
        general_practitioner: vec![Reference::to(urn(practice_id))],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::map::testing::context;
    use crate::fhir::map::testing::json;

    #[test]
    fn the_patient_is_its_nhs_number_and_its_practice_only() {
        context(|rc| {
            let p = json(&patient("p", "o", rc));
            assert_eq!(p["resourceType"], "Patient");
            assert_eq!(p["identifier"][0]["system"], NHS_NUMBER_SYSTEM);
            assert_eq!(p["identifier"][0]["value"], "9434765919");
            assert_eq!(p["generalPractitioner"][0]["reference"], "urn:uuid:o");
            let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                [
                    "resourceType",
                    "id",
                    "meta",
                    "identifier",
                    "generalPractitioner"
                ]
            );
        });
    }
}
