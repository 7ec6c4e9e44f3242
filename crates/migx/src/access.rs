//! The access audit: one FHIR R4 `AuditEvent` per released bundle, recording who received
//! it, under which consent and purpose, for which patient and which exact bundle (by its
//! SHA-256), so a practice can answer a subject access request (`migx audit`).

use crate::consent::ConsentOrigin;
use crate::fhir::ids::derived_uuid;
use crate::fhir::r4::audit_event::{
    AuditAgent, AuditEntity, AuditEntityDetail, AuditEvent, AuditSource,
};
use crate::fhir::r4::{Bundle, CodeableConcept, Coding, Identifier, Meta, Reference};
use crate::fhir::{NHS_NUMBER_SYSTEM, ODS_SYSTEM};
use crate::outcome::Conversion;
use crate::policy::Policy;
use serde_json::Value as Json;
use std::borrow::Cow;
use std::io::{self, BufRead};
use std::path::Path;

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";

/// The AuditEvent for one released bundle (`None` when nothing was released).
///
/// Who received it: the requesting organisation (ODS code; its name from the consent row,
/// else from the policy's requester list; its role from the policy) and, when the consent
/// file's optional `requester_person` column gives one, the person. What: the patient and
/// the consent as the release made them (the typed bundle's Patient and Consent entries),
/// and the bundle by its id and the SHA-256 of what was written.
pub fn access_event(
    c: &Conversion,
    bundle: &Bundle,
    bundle_file: &str,
    bundle_sha256: &str,
    policy: &Policy,
) -> Option<AuditEvent> {
    let consent = c.consent.as_ref()?;
    let nhs = c.nhs_number.as_deref()?;
    let as_of = c.as_of?;
    let patient = bundle.full_url_of("Patient")?;
    let consent_ref = bundle.full_url_of("Consent")?;
    let migx = || Reference::display(format!("migx {}", env!("CARGO_PKG_VERSION")));
    let listed = policy.requester(&consent.requester_ods);
    let mut agent = vec![AuditAgent {
        r#type: CodeableConcept::one(Coding::displayed(DCM, "110152", "Destination Role ID")),
        who: Reference {
            identifier: Some(Identifier::new(ODS_SYSTEM, consent.requester_ods.as_str())),
            display: consent
                .requester_name
                .as_deref()
                .or(listed.map(|r| r.name.as_str()))
                .map(str::to_string),
            ..Reference::default()
        },
        name: None,
        requestor: true,
        role: listed
            .map(|r| CodeableConcept {
                coding: None,
                text: Some(Cow::Owned(r.role.to_string())),
            })
            .into_iter()
            .collect(),
    }];
    if let Some(person) = &consent.requester_person {
        agent.push(AuditAgent {
            r#type: CodeableConcept::one(Coding::displayed(
                "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                "humanuser",
                "human user",
            )),
            who: Reference::display(person.as_str()),
            name: Some(person.clone()),
            requestor: true,
            role: Vec::new(),
        });
    }
    agent.push(AuditAgent {
        r#type: CodeableConcept::one(Coding::displayed(DCM, "110153", "Source Role ID")),
        who: migx(),
        name: None,
        requestor: false,
        role: Vec::new(),
    });
    let consent_entity = AuditEntity {
        what: Reference::to(consent_ref),
        r#type: Coding::displayed(ENTITY_TYPE, "2", "System Object"),
        role: None,
        name: None,
        description: Some(match consent.origin {
            ConsentOrigin::OperatorAssertion => {
                "consent asserted by the operator (--consent-all)".to_string()
            }
            ConsentOrigin::FileRow { line } => {
                format!("point-of-care consent, consent file line {line}")
            }
        }),
        detail: consent
            .recorded_at
            .map(|t| AuditEntityDetail {
                r#type: "consent-recorded-at",
                value_string: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            })
            .into_iter()
            .collect(),
    };
    Some(AuditEvent {
        resource_type: "AuditEvent",
        id: derived_uuid(&["access", &bundle.id, bundle_sha256]),
        meta: Meta::ukcore("AuditEvent"),
        r#type: Coding::displayed(DCM, "110106", "Export"),
        action: "R",
        recorded: as_of.fhir_instant(),
        outcome: "0",
        purpose_of_event: vec![CodeableConcept::one(Coding {
            code: Cow::Owned(consent.purpose.clone()),
            ..Coding::fixed("http://terminology.hl7.org/CodeSystem/v3-ActReason", "")
        })],
        agent,
        source: AuditSource { observer: migx() },
        entity: vec![
            AuditEntity {
                what: Reference {
                    reference: Some(patient.to_string()),
                    identifier: Some(Identifier::new(NHS_NUMBER_SYSTEM, nhs)),
                    display: None,
                },
                r#type: Coding::displayed(ENTITY_TYPE, "1", "Person"),
                role: Some(Coding::displayed(
                    "http://terminology.hl7.org/CodeSystem/object-role",
                    "1",
                    "Patient",
                )),
                name: None,
                description: None,
                detail: Vec::new(),
            },
            AuditEntity {
                what: Reference {
                    identifier: Some(Identifier::new(
                        "urn:ietf:rfc:3986",
                        format!("urn:uuid:{}", bundle.id),
                    )),
                    ..Reference::default()
                },
                r#type: Coding::displayed(ENTITY_TYPE, "2", "System Object"),
                role: None,
                name: Some(bundle_file.to_string()),
                description: None,
                detail: vec![AuditEntityDetail {
                    r#type: "sha256",
                    value_string: bundle_sha256.to_string(),
                }],
            },
            consent_entity,
        ],
    })
}

/// The releases recorded in `<dir>/access-audit.ndjson`, optionally for one NHS number.
pub fn disclosures(dir: &Path, nhs_number: Option<&str>) -> io::Result<Vec<Json>> {
    let f = std::fs::File::open(dir.join("access-audit.ndjson"))?;
    let mut out = Vec::new();
    for line in io::BufReader::new(f).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let ev: Json = serde_json::from_str(&line).map_err(io::Error::other)?;
        let who = ev["entity"][0]["what"]["identifier"]["value"].as_str();
        if nhs_number.is_none() || who == nhs_number {
            out.push(ev);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::map::testing::*;
    use crate::outcome::Status;

    /// The event names the release's own Patient and Consent entries and the bundle by id
    /// and hash; the person is named only when the consent row gives one.
    #[test]
    fn the_event_is_built_from_the_typed_release() {
        let p = policy();
        one_shared_procedure(|bundle, rc| {
            let mut c = Conversion::withheld(
                crate::outcome::PatientWithheld::ConsentDenied,
                1,
                "9434765919".into(),
            );
            c.status = Status::Converted;
            c.consent = Some(rc.consent.clone());
            c.as_of = Some(rc.as_of);
            let ev = access_event(&c, bundle, "bundles/x.json", "ab", &p).unwrap();
            let v = serde_json::to_value(&ev).unwrap();
            assert_eq!(v["resourceType"], "AuditEvent");
            assert_eq!(
                v["entity"][0]["what"]["reference"],
                bundle.full_url_of("Patient").unwrap()
            );
            assert_eq!(v["entity"][0]["what"]["identifier"]["value"], "9434765919");
            assert_eq!(
                v["entity"][1]["what"]["identifier"]["value"],
                format!("urn:uuid:{}", bundle.id)
            );
            assert_eq!(v["entity"][1]["detail"][0]["valueString"], "ab");
            assert_eq!(
                v["entity"][2]["what"]["reference"],
                bundle.full_url_of("Consent").unwrap()
            );
            assert_eq!(v["agent"][0]["who"]["identifier"]["value"], "Y02345");
            assert_eq!(v["agent"].as_array().unwrap().len(), 2, "no person given");
            let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                [
                    "resourceType",
                    "id",
                    "meta",
                    "type",
                    "action",
                    "recorded",
                    "outcome",
                    "purposeOfEvent",
                    "agent",
                    "source",
                    "entity"
                ]
            );
            // Nothing released to nobody: no consent, no event.
            c.consent = None;
            assert!(access_event(&c, bundle, "bundles/x.json", "ab", &p).is_none());
        });
    }
}
