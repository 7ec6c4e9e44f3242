//! The Consent a disclosure is made under: the patient's point-of-care permit for the
//! requesting organisation, for the purpose and period it was given.

use super::urn;
use crate::fhir::r4::consent::{ConsentActor, ConsentProvision};
use crate::fhir::r4::{CodeableConcept, Coding, Consent, Meta, Period, Reference, Resource, Text};
use crate::fhir::{SharingContext, SNOMED, V3_ACT_CODE, V3_ACT_REASON};

/// The disclosed Consent.
pub(super) fn consent(
    id: &str,
    patient: &str,
    requester: &str,
    rc: &SharingContext<'_>,
) -> Resource {
    let c = rc.consent;
    let recorded = match c.recorded_at {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        None => rc.as_of.fhir_instant(),
    };
    let fixed = |system, code| CodeableConcept::one(Coding::fixed(system, code));
    Resource::Consent(Box::new(Consent {
        id: id.to_string(),
        meta: Meta::ukcore("Consent"),
        status: "active",
        scope: fixed(
            "http://terminology.hl7.org/CodeSystem/consentscope",
            "patient-privacy",
        ),
        category: vec![
            CodeableConcept::one(Coding::displayed(
                SNOMED,
                "887031000000108",
                "Consent for information sharing",
            )),
            fixed(V3_ACT_CODE, "INFA"),
        ],
        patient: Reference::to(urn(patient)),
        date_time: recorded.clone(),
        // Opt-in: the patient agreed at the point of care (an operator assertion says so
        // too, and the Provenance records which it was).
        policy_rule: fixed(V3_ACT_CODE, "OPTIN"),
        provision: ConsentProvision {
            r#type: "permit",
            period: Period {
                start: Some(recorded),
                end: rc.consent_valid_until.clone(),
            },
            actor: vec![ConsentActor {
                role: fixed(
                    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "IRCP",
                ),
                reference: Reference::to(urn(requester)),
            }],
            action: vec![fixed(
                "http://terminology.hl7.org/CodeSystem/consentaction",
                "access",
            )],
            purpose: vec![Coding {
                code: Text::from(c.purpose.as_str()),
                ..Coding::fixed(V3_ACT_REASON, "")
            }],
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::map::testing::context;
    use crate::fhir::map::testing::json;

    #[test]
    fn the_consent_permits_the_requester_for_the_purpose_given() {
        context(|rc| {
            let c = json(&consent("c", "p", "r", rc));
            assert_eq!(c["status"], "active");
            assert_eq!(c["patient"]["reference"], "urn:uuid:p");
            assert_eq!(c["provision"]["type"], "permit");
            assert_eq!(
                c["provision"]["actor"][0]["reference"]["reference"],
                "urn:uuid:r"
            );
            assert_eq!(c["provision"]["purpose"][0]["code"], "TREAT");
            assert_eq!(c["provision"]["purpose"][0]["system"], V3_ACT_REASON);
            // An operator assertion has no recorded time: the consent is dated at the as-of
            // time, with no end.
            assert_eq!(c["dateTime"], rc.as_of.fhir_instant());
            assert_eq!(c["provision"]["period"]["start"], c["dateTime"]);
            assert!(c["provision"]["period"].get("end").is_none());
        });
    }
}
