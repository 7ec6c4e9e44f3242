//! Issue 24.8: one bundle, one verified patient. A record naming two NHS numbers, an NHS
//! number that is not verified or given under a legacy system, or a resource about another
//! patient is rejected with a clear code, in both input formats, and its message never
//! carries an NHS number.

use crate::common;
use common::*;
use serde_json::{json, Value};

/// Convert one generated input with an operator-asserted permit; returns (status, code,
/// message) of its audit file line, and stderr.
fn convert(name: &str, bytes: &[u8]) -> (String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join(name), bytes).unwrap();
    let out = dir.path().join("out");
    let o = convert_permit_all(&input, &out, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let line = read_ndjson(&out.join("audit.ndjson"))
        .into_iter()
        .find(|l| l["kind"] == "file")
        .expect("a file line");
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let status = s(&line["status"]);
    let code = s(&line["error"]["code"]);
    let message = s(&line["error"]["message"]);
    for secret in ["9434765919", "9000000009", "9990000018", "other-patient"] {
        assert!(!message.contains(secret), "{message}");
        assert!(!stderr.contains(secret), "{stderr}");
    }
    (status, code, message)
}

fn ok() -> (String, String) {
    ("converted".into(), String::new())
}

fn rejected(code: &str) -> (String, String) {
    ("rejected".into(), code.into())
}

fn short(r: (String, String, String)) -> (String, String) {
    (r.0, r.1)
}

const NHS_OID: &str = "2.16.840.1.113883.2.1.4.1";

/// Fixture 01 (patient 9990000018) with `extra` after the recordTarget's NHS number id.
fn xml(extra: &str) -> Vec<u8> {
    let src = std::fs::read_to_string(root().join("fixtures/extracts/01-core-shared.xml")).unwrap();
    let id = format!(r#"<id root="{NHS_OID}" extension="9990000018"/>"#);
    assert_eq!(src.matches(&id).count(), 1);
    src.replace(&id, &format!("{id}{extra}")).into_bytes()
}

#[test]
fn xml_one_record_target_one_nhs_number() {
    assert_eq!(short(convert("a.xml", &xml(""))), ok());
    // The same number twice is one patient.
    let same = format!(r#"<id root="{NHS_OID}" extension="9990000018"/>"#);
    assert_eq!(short(convert("a.xml", &xml(&same))), ok());
    // A second, different NHS number: rejected, whichever is valid.
    for other in ["9434765919", "9990000019"] {
        let two = format!(r#"<id root="{NHS_OID}" extension="{other}"/>"#);
        let r = convert("a.xml", &xml(&two));
        assert_eq!(short(r.clone()), rejected("multiple-patients"), "{other}");
        assert!(r.2.contains("two different NHS numbers"), "{}", r.2);
    }
    // Another id (not an NHS number) beside it is not a second patient.
    let local = r#"<id root="2.16.840.1.113883.2.1.3.2.4.18.24" extension="LOCAL1"/>"#;
    assert_eq!(short(convert("a.xml", &xml(local))), ok());
}

/// The authored GP Connect record (Patient 9000000009), changed by `f`.
fn gpconnect(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut b: Value = serde_json::from_slice(
        &std::fs::read(root().join("fixtures/gpconnect/record.json")).unwrap(),
    )
    .unwrap();
    f(&mut b);
    serde_json::to_vec(&b).unwrap()
}

fn patient(b: &mut Value) -> &mut Value {
    b["entry"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .map(|e| &mut e["resource"])
        .find(|r| r["resourceType"] == "Patient")
        .unwrap()
}

/// The first Observation of the record.
fn observation(b: &mut Value) -> &mut Value {
    b["entry"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .map(|e| &mut e["resource"])
        .find(|r| r["resourceType"] == "Observation")
        .unwrap()
}

fn nhs_id(system: &str, value: &str) -> Value {
    json!({"system": system, "value": value})
}

fn verification(code: &str) -> Value {
    json!([{
        "url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-NHSNumberVerificationStatus-1",
        "valueCodeableConcept": {"coding": [{
            "system": "https://fhir.nhs.uk/STU3/CodeSystem/CareConnect-NHSNumberVerificationStatus-1",
            "code": code}]}
    }])
}

const CURRENT: &str = "https://fhir.nhs.uk/Id/nhs-number";
const LEGACY: &str = "http://fhir.nhs.net/Id/nhs-number";

fn j(f: impl FnOnce(&mut Value)) -> (String, String) {
    short(convert("r.json", &gpconnect(f)))
}

#[test]
fn gpconnect_patient_numbers_systems_and_verification() {
    assert_eq!(j(|_| {}), ok());
    // Two NHS numbers on the Patient (as one permit row and one deny row would name).
    assert_eq!(
        j(|b| patient(b)["identifier"]
            .as_array_mut()
            .unwrap()
            .push(nhs_id(CURRENT, "9434765919"))),
        rejected("multiple-patients")
    );
    // The same number twice is one patient.
    assert_eq!(
        j(|b| patient(b)["identifier"]
            .as_array_mut()
            .unwrap()
            .push(nhs_id(CURRENT, "9000000009"))),
        ok()
    );
    // The legacy system, beside the current one or alone.
    assert_eq!(
        j(|b| patient(b)["identifier"]
            .as_array_mut()
            .unwrap()
            .push(nhs_id(LEGACY, "9000000009"))),
        rejected("unverified-identity")
    );
    assert_eq!(
        j(|b| patient(b)["identifier"] = json!([nhs_id(LEGACY, "9000000009")])),
        rejected("unverified-identity")
    );
    // Verification status: 01 is verified; every other status is not.
    assert_eq!(
        j(|b| patient(b)["identifier"][0]["extension"] = verification("01")),
        ok()
    );
    for status in ["02", "03", "04", "05", "06", "07", "08", ""] {
        assert_eq!(
            j(|b| patient(b)["identifier"][0]["extension"] = verification(status)),
            rejected("unverified-identity"),
            "{status}"
        );
    }
}

#[test]
fn gpconnect_every_resource_is_about_the_bundle_patient() {
    let pid = "11111111-1111-4111-8111-111111111111";
    // Forms that name the bundle's Patient.
    for subject in [
        json!({"reference": format!("Patient/{pid}")}),
        json!({"reference": format!("https://gpconnect.example/fhir/Patient/{pid}")}),
        json!({"identifier": nhs_id(CURRENT, "9000000009")}),
        json!({"reference": format!("Patient/{pid}"), "identifier": nhs_id(CURRENT, "9000000009")}),
    ] {
        assert_eq!(
            j(|b| observation(b)["subject"] = subject.clone()),
            ok(),
            "{subject}"
        );
    }
    // Forms that name someone else, or no one migx can check.
    for subject in [
        json!({"reference": "Patient/other-patient"}),
        json!({"reference": "Group/other-patient"}),
        json!({"reference": "#p1"}),
        json!({"identifier": nhs_id(CURRENT, "9434765919")}),
        json!({"identifier": nhs_id(LEGACY, "9000000009")}),
        json!({"reference": format!("Patient/{pid}"), "identifier": nhs_id(CURRENT, "9434765919")}),
        json!({"display": "a name"}),
        json!({}),
    ] {
        assert_eq!(
            j(|b| observation(b)["subject"] = subject.clone()),
            rejected("multiple-patients"),
            "{subject}"
        );
    }
    // `patient` (AllergyIntolerance, Immunization) is checked like `subject`.
    assert_eq!(
        j(|b| {
            let a = b["entry"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .map(|e| &mut e["resource"])
                .find(|r| r["resourceType"] == "AllergyIntolerance")
                .unwrap();
            a["patient"] = json!({"reference": "Patient/other-patient"});
        }),
        rejected("multiple-patients")
    );
    // A contained Patient, and a contained resource about another patient.
    assert_eq!(
        j(|b| observation(b)["contained"] = json!([{"resourceType": "Patient", "id": "p1"}])),
        rejected("multiple-patients")
    );
    assert_eq!(
        j(
            |b| observation(b)["contained"] = json!([{"resourceType": "Observation", "id": "o1",
            "subject": {"reference": "Patient/other-patient"}}])
        ),
        rejected("multiple-patients")
    );
}
