//! The access audit: one FHIR R4 `AuditEvent` per disclosed bundle, recording who received
//! it, under which consent and purpose, for which patient and which exact bundle (by its
//! SHA-256), so a practice can answer a subject access request (`migx audit`).

use crate::consent::ConsentOrigin;
use crate::fhir::ids::derived_uuid;
use crate::fhir::r4::audit_event::{
    AuditAgent, AuditEntity, AuditEntityDetail, AuditEvent, AuditSource,
};
use crate::fhir::r4::{Bundle, CodeableConcept, Coding, Identifier, Meta, Reference, Text};
use crate::fhir::{NHS_NUMBER_SYSTEM, ODS_SYSTEM};
use crate::outcome::Conversion;
use crate::policy::Policy;
use serde::Deserialize;
use serde_json::Value as Json;
use std::io::{self, BufRead};
use std::path::Path;

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";

/// The AuditEvent for one disclosed bundle (`None` when nothing was disclosed).
///
/// Who received it: the requesting organisation (ODS code; its name from the consent row,
/// else from the policy's requester list; its role from the policy) and, when the consent
/// file's optional `requester_person` column gives one, the person. What: the patient and
/// the consent as the disclosure made them (the typed bundle's Patient and Consent entries),
/// and the bundle by its id and the SHA-256 of what was written.
pub fn access_event(
    c: &Conversion,
    bundle: &BundleIds,
    bundle_file: &str,
    bundle_sha256: &str,
    policy: &Policy,
) -> Option<AuditEvent> {
    let consent = c.consent.as_ref()?;
    let nhs = c.nhs_number.as_deref()?;
    let as_of = c.as_of?;
    let patient = bundle.patient.as_str();
    let consent_ref = bundle.consent.as_str();
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
                text: Some(Text::from(r.role.as_str())),
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
        id: derived_uuid(&["access", &bundle.bundle_id, bundle_sha256]),
        meta: Meta::ukcore("AuditEvent"),
        r#type: Coding::displayed(DCM, "110106", "Export"),
        action: "R",
        recorded: as_of.fhir_instant(),
        outcome: "0",
        purpose_of_event: vec![CodeableConcept::one(Coding {
            code: Text::from(consent.purpose.as_str()),
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
                        format!("urn:uuid:{}", bundle.bundle_id),
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

/// What a shared bundle is known by in the access audit (ids only, never content): known
/// before its first entry is written, from the plan of its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleIds {
    /// The Bundle's id.
    pub bundle_id: String,
    /// The Patient entry's `fullUrl`.
    pub patient: String,
    /// The Consent entry's `fullUrl`.
    pub consent: String,
}

impl BundleIds {
    /// The ids of a bundle held in memory (`None` without a Patient or a Consent).
    pub fn of(bundle: &Bundle) -> Option<BundleIds> {
        Some(BundleIds {
            bundle_id: bundle.id.clone(),
            patient: bundle.full_url_of("Patient")?.to_string(),
            consent: bundle.full_url_of("Consent")?.to_string(),
        })
    }
}

/// The disclosures recorded in `<dir>/access-audit.ndjson`, optionally for one NHS number: the
/// patient of each is found by its role, as [`DisclosureRecord`] reads it (the entity in the
/// role `Patient`), never by its position. With a number, an event that names no patient
/// in that role is no disclosure of that patient.
pub fn disclosures(dir: &Path, nhs_number: Option<&str>) -> io::Result<Vec<Json>> {
    let f = std::fs::File::open(dir.join("access-audit.ndjson"))?;
    let mut out = Vec::new();
    for line in io::BufReader::new(f).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let ev: Json = serde_json::from_str(&line).map_err(io::Error::other)?;
        let wanted = match nhs_number {
            None => true,
            Some(n) => DisclosureRecord::from_event(&ev)
                .and_then(|r| r.patient_nhs_number)
                .is_some_and(|who| who == n),
        };
        if wanted {
            out.push(ev);
        }
    }
    Ok(out)
}

/// One disclosure as the access audit records it (`migx audit`), read from its AuditEvent by
/// what each part is, never by its position: the requester is the requesting agent, the
/// patient the entity whose role is `Patient` (object-role `1`), the bundle the entity that
/// carries a `sha256` detail, the consent time the `consent-recorded-at` detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisclosureRecord {
    /// When it was disclosed: the as-of time it was judged at.
    pub recorded: String,
    /// The requesting organisation's ODS code.
    pub requester_ods: String,
    /// When the consent it was disclosed under was recorded (none: an operator assertion).
    pub consent_recorded_at: Option<String>,
    /// The purpose of use.
    pub purpose: String,
    /// The bundle, relative to the output folder.
    pub bundle: String,
    /// The bundle's SHA-256.
    pub bundle_sha256: String,
    /// The patient's NHS number: the identifier of the entity in the role `Patient`.
    pub patient_nhs_number: Option<String>,
}

/// The object-role code system of an AuditEvent entity's `role`.
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";

/// The parts of an access-audit AuditEvent that [`DisclosureRecord`] reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventShape {
    #[serde(default)]
    recorded: String,
    #[serde(default)]
    agent: Vec<AgentShape>,
    #[serde(default)]
    purpose_of_event: Vec<CodeableShape>,
    #[serde(default)]
    entity: Vec<EntityShape>,
}

#[derive(Deserialize)]
struct AgentShape {
    #[serde(default)]
    requestor: bool,
    who: Option<WhoShape>,
}

#[derive(Deserialize)]
struct WhoShape {
    identifier: Option<IdentifierShape>,
}

#[derive(Deserialize)]
struct IdentifierShape {
    value: Option<String>,
}

#[derive(Deserialize)]
struct CodeableShape {
    #[serde(default)]
    coding: Vec<CodingShape>,
}

#[derive(Deserialize)]
struct CodingShape {
    code: Option<String>,
}

#[derive(Deserialize)]
struct EntityShape {
    what: Option<WhoShape>,
    role: Option<RoleShape>,
    name: Option<String>,
    #[serde(default)]
    detail: Vec<DetailShape>,
}

#[derive(Deserialize)]
struct RoleShape {
    system: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DetailShape {
    #[serde(rename = "type")]
    kind: String,
    value_string: Option<String>,
}

impl DisclosureRecord {
    /// Read one AuditEvent of `access-audit.ndjson` (`None`: not an AuditEvent migx reads).
    pub fn from_event(event: &Json) -> Option<DisclosureRecord> {
        Self::from_shape(EventShape::deserialize(event).ok()?)
    }

    /// Read one line of `access-audit.ndjson` (`None`: not an AuditEvent migx reads), without
    /// building a JSON tree of it.
    pub fn from_line(line: &[u8]) -> Option<DisclosureRecord> {
        Self::from_shape(serde_json::from_slice(line).ok()?)
    }

    fn from_shape(e: EventShape) -> Option<DisclosureRecord> {
        let detail = |kind: &str| {
            e.entity.iter().find_map(|en| {
                en.detail
                    .iter()
                    .find(|d| d.kind == kind)
                    .map(|d| (en, d.value_string.clone().unwrap_or_default()))
            })
        };
        let (bundle, sha) = detail("sha256")?;
        let requester = e
            .agent
            .iter()
            .find(|a| a.requestor)
            .and_then(|a| a.who.as_ref()?.identifier.as_ref()?.value.clone())
            .unwrap_or_default();
        Some(DisclosureRecord {
            recorded: e.recorded.clone(),
            requester_ods: requester,
            consent_recorded_at: detail("consent-recorded-at").map(|(_, t)| t),
            purpose: e
                .purpose_of_event
                .iter()
                .flat_map(|p| p.coding.iter())
                .find_map(|c| c.code.clone())
                .unwrap_or_default(),
            bundle: bundle.name.clone().unwrap_or_default(),
            bundle_sha256: sha,
            patient_nhs_number: e
                .entity
                .iter()
                .find(|en| {
                    en.role.as_ref().is_some_and(|r| {
                        r.system.as_deref() == Some(OBJECT_ROLE) && r.code.as_deref() == Some("1")
                    })
                })
                .and_then(|en| en.what.as_ref()?.identifier.as_ref()?.value.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::map::testing::*;
    use crate::outcome::Status;

    /// The event names the disclosure's own Patient and Consent entries and the bundle by id
    /// and hash; the person is named only when the consent row gives one.
    #[test]
    fn the_event_is_built_from_the_typed_bundle() {
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
            let ids = BundleIds::of(bundle).unwrap();
            let ev = access_event(&c, &ids, "bundles/x.json", "ab", &p).unwrap();
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
            // Nothing disclosed to nobody: no consent, no event.
            c.consent = None;
            assert!(access_event(&c, &ids, "bundles/x.json", "ab", &p).is_none());
        });
    }

    #[test]
    fn a_disclosure_is_read_by_what_each_part_is_not_by_its_position() {
        let event = serde_json::json!({
            "resourceType": "AuditEvent",
            "recorded": "2026-03-14T10:00:00+00:00",
            "purposeOfEvent": [{ "coding": [{ "code": "TREAT" }] }],
            "agent": [
                { "who": { "display": "migx" }, "requestor": false },
                { "who": { "identifier": { "value": "Y02345" } }, "requestor": true }
            ],
            "entity": [
                { "what": { "reference": "urn:uuid:c" }, "detail": [{ "type": "consent-recorded-at", "valueString": "2026-03-14T09:55:00+00:00" }] },
                { "name": "bundles/a.json", "detail": [{ "type": "sha256", "valueString": "ab12" }] },
                { "what": { "identifier": { "value": "9434765919" } } },
                { "what": { "identifier": { "value": "9990000018" } },
                  "role": { "system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1" } }
            ]
        });
        let r = DisclosureRecord::from_event(&event).expect("a disclosure");
        // The patient is the entity in the role Patient, wherever it stands.
        assert_eq!(r.patient_nhs_number.as_deref(), Some("9990000018"));
        assert_eq!(
            DisclosureRecord::from_line(event.to_string().as_bytes()),
            Some(r.clone())
        );
        assert_eq!(r.requester_ods, "Y02345");
        assert_eq!(r.bundle, "bundles/a.json");
        assert_eq!(r.bundle_sha256, "ab12");
        assert_eq!(r.purpose, "TREAT");
        assert_eq!(
            r.consent_recorded_at.as_deref(),
            Some("2026-03-14T09:55:00+00:00")
        );
        let mut asserted = event.clone();
        asserted["entity"][0]["detail"] = Json::Array(vec![]);
        let r = DisclosureRecord::from_event(&asserted).expect("a disclosure");
        assert_eq!(r.consent_recorded_at, None);
        // No bundle entity: not a disclosure migx recorded.
        let mut bare = event;
        bare["entity"] = Json::Array(vec![]);
        assert!(DisclosureRecord::from_event(&bare).is_none());
    }

    /// `disclosures` finds the patient by the entity's role, never by its position: an event
    /// whose Patient entity is not first is that patient's, and an identifier in the first
    /// entity that is not in the role Patient names nobody.
    #[test]
    fn disclosures_find_the_patient_by_role() {
        let event = |entities: Json| {
            serde_json::json!({
                "resourceType": "AuditEvent",
                "recorded": "2026-03-14T10:00:00+00:00",
                "agent": [{ "who": { "identifier": { "value": "Y02345" } }, "requestor": true }],
                "entity": entities,
            })
        };
        let patient = |n: &str| {
            serde_json::json!({ "what": { "identifier": { "value": n } },
                "role": { "system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1" } })
        };
        let bundle = serde_json::json!({ "name": "bundles/a.json",
            "what": { "identifier": { "value": "9990000018" } },
            "detail": [{ "type": "sha256", "valueString": "ab" }] });
        let moved = event(serde_json::json!([bundle.clone(), patient("9434765919")]));
        let unnamed = event(serde_json::json!([bundle]));
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("access-audit.ndjson"),
            format!("{moved}\n\n{unnamed}\n"),
        )
        .unwrap();
        assert_eq!(
            disclosures(d.path(), None).unwrap(),
            [moved.clone(), unnamed]
        );
        assert_eq!(disclosures(d.path(), Some("9434765919")).unwrap(), [moved]);
        // The bundle entity's identifier is no patient's.
        assert!(disclosures(d.path(), Some("9990000018"))
            .unwrap()
            .is_empty());
    }
}
