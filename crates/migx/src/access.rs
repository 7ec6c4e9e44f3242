//! The access audit: one FHIR R4 `AuditEvent` per released bundle, recording who received
//! it, under which consent and purpose, for which patient and which exact bundle (by its
//! SHA-256), so a practice can answer a subject access request (`migx audit`).

use crate::consent::ConsentOrigin;
use crate::fhir::ids::derived_uuid;
use crate::fhir::{NHS_NUMBER_SYSTEM, ODS_SYSTEM, UKCORE};
use crate::outcome::Conversion;
use crate::policy::Policy;
use serde_json::{json, Value as Json};
use std::io::{self, BufRead};
use std::path::Path;

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";

/// The AuditEvent for one released bundle (`None` when nothing was released).
///
/// Who received it: the requesting organisation (ODS code; its name from the consent row,
/// else from the policy's requester list; its role from the policy) and, when the consent
/// file's optional `requester_person` column gives one, the person.
pub fn access_event(
    c: &Conversion,
    bundle: &Json,
    bundle_file: &str,
    bundle_sha256: &str,
    policy: &Policy,
) -> Option<Json> {
    let consent = c.consent.as_ref()?;
    let nhs = c.nhs_number.as_deref()?;
    let as_of = c.as_of?;
    let bundle_id = bundle["id"].as_str()?;
    let entries = bundle["entry"].as_array()?;
    let find = |ty: &str| {
        entries
            .iter()
            .find(|e| e["resource"]["resourceType"] == ty)
            .and_then(|e| e["fullUrl"].as_str())
            .map(str::to_string)
    };
    let patient = find("Patient")?;
    let consent_ref = find("Consent")?;
    let recorded_consent = consent
        .recorded_at
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false));
    let mut requester = json!({
        "type": { "coding": [{ "system": DCM, "code": "110152", "display": "Destination Role ID" }] },
        "who": { "identifier": { "system": ODS_SYSTEM, "value": consent.requester_ods } },
        "requestor": true
    });
    let listed = policy.requester(&consent.requester_ods);
    if let Some(name) = consent
        .requester_name
        .as_deref()
        .or(listed.map(|r| r.name.as_str()))
    {
        requester["who"]["display"] = json!(name);
    }
    if let Some(r) = listed {
        requester["role"] = json!([{ "text": r.role }]);
    }
    let mut agents = vec![requester];
    if let Some(person) = &consent.requester_person {
        agents.push(json!({
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "humanuser", "display": "human user" }] },
            "who": { "display": person },
            "name": person,
            "requestor": true
        }));
    }
    agents.push(json!({
        "type": { "coding": [{ "system": DCM, "code": "110153", "display": "Source Role ID" }] },
        "who": { "display": format!("migx {}", env!("CARGO_PKG_VERSION")) },
        "requestor": false
    }));
    let mut consent_entity = json!({
        "what": { "reference": consent_ref },
        "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object" },
        "description": match consent.origin {
            ConsentOrigin::OperatorAssertion => "consent asserted by the operator (--consent-all)".to_string(),
            ConsentOrigin::FileRow { line } => format!("point-of-care consent, consent file line {line}"),
        }
    });
    if let Some(t) = &recorded_consent {
        consent_entity["detail"] = json!([{ "type": "consent-recorded-at", "valueString": t }]);
    }
    Some(json!({
        "resourceType": "AuditEvent",
        "id": derived_uuid(&["access", bundle_id, bundle_sha256]),
        "meta": { "profile": [format!("{UKCORE}AuditEvent")] },
        "type": { "system": DCM, "code": "110106", "display": "Export" },
        "action": "R",
        "recorded": as_of.fhir_instant(),
        "outcome": "0",
        "purposeOfEvent": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": consent.purpose }] }],
        "agent": agents,
        "source": { "observer": { "display": format!("migx {}", env!("CARGO_PKG_VERSION")) } },
        "entity": [
            {
                "what": { "reference": patient, "identifier": { "system": NHS_NUMBER_SYSTEM, "value": nhs } },
                "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person" },
                "role": { "system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient" }
            },
            {
                "what": { "identifier": { "system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{bundle_id}") } },
                "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object" },
                "name": bundle_file,
                "detail": [{ "type": "sha256", "valueString": bundle_sha256 }]
            },
            consent_entity
        ]
    }))
}

/// The releases recorded in `<dir>/access-audit.ndjson`, optionally for one NHS number.
pub fn releases(dir: &Path, nhs_number: Option<&str>) -> io::Result<Vec<Json>> {
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
