//! Issue 24.9 / issue 17 (certainty): statuses reach the bundle as the source says them,
//! never stronger, in both formats.
//!
//! GP Connect: `verificationStatus` and `clinicalStatus` mapped by fixed tables; a refuted
//! condition or allergy is withheld (`refuted`), an entered-in-error one
//! (`entered-in-error`). GP2GP says nothing about certainty: allergies are `unconfirmed`
//! (as the NHS GP2GP translator writes them) and conditions carry no verificationStatus.
//! The problem qualifier "Significant" is never written as `severity`.

use crate::common;

use common::{convert_permit_all, read_ndjson, root};
use serde_json::{json, Value};
use std::path::Path;

fn resources<'a>(bundle: &'a Value, ty: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(move |r| r["resourceType"] == ty)
}

fn code_at(r: &Value, field: &str) -> Option<String> {
    r[field]["coding"][0]["code"].as_str().map(str::to_string)
}

fn bundle_of(out: &Path, name: &str) -> Value {
    let p = out.join("bundles").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|_| panic!("{p:?}"))).unwrap()
}

/// The STU3 fixture with its one Condition and one AllergyIntolerance given these fields.
fn gpconnect(condition: &[(&str, Value)], allergy: &[(&str, Value)]) -> Vec<u8> {
    let mut b: Value = serde_json::from_slice(
        &std::fs::read(root().join("fixtures/gpconnect/record.json")).unwrap(),
    )
    .unwrap();
    for e in b["entry"].as_array_mut().unwrap() {
        let r = &mut e["resource"];
        let set = match r["resourceType"].as_str() {
            Some("Condition") => condition,
            Some("AllergyIntolerance") => allergy,
            _ => continue,
        };
        for (k, v) in set {
            r[*k] = v.clone();
        }
    }
    serde_json::to_vec_pretty(&b).unwrap()
}

#[test]
fn gp_connect_certainty_and_clinical_status_reach_the_bundle_as_the_source_says() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "said",
            gpconnect(
                &[("verificationStatus", json!("provisional"))],
                &[("verificationStatus", json!("confirmed"))],
            ),
        ),
        ("silent", gpconnect(&[], &[])),
        (
            "recurrence",
            gpconnect(
                &[
                    ("clinicalStatus", json!("recurrence")),
                    ("verificationStatus", json!("unknown")),
                ],
                &[("verificationStatus", json!("unconfirmed"))],
            ),
        ),
        (
            "refuted",
            gpconnect(
                &[("verificationStatus", json!("refuted"))],
                &[("verificationStatus", json!("refuted"))],
            ),
        ),
    ];
    for (name, bytes) in &cases {
        std::fs::write(input.join(format!("{name}.json")), bytes).unwrap();
    }
    let out = dir.path().join("out");
    let o = convert_permit_all(&input, &out, &["--as-of", "2026-03-14"]);
    assert!(
        out.join("audit.ndjson").is_file(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let b = bundle_of(&out, "said");
    let c: Vec<&Value> = resources(&b, "Condition").collect();
    assert_eq!(c.len(), 1);
    assert_eq!(
        code_at(c[0], "verificationStatus").as_deref(),
        Some("provisional")
    );
    assert_eq!(code_at(c[0], "clinicalStatus").as_deref(), Some("active"));
    let a: Vec<&Value> = resources(&b, "AllergyIntolerance").collect();
    assert_eq!(
        code_at(a[0], "verificationStatus").as_deref(),
        Some("confirmed")
    );

    let b = bundle_of(&out, "silent");
    let c: Vec<&Value> = resources(&b, "Condition").collect();
    assert!(c[0].get("verificationStatus").is_none(), "{}", c[0]);
    let a: Vec<&Value> = resources(&b, "AllergyIntolerance").collect();
    assert_eq!(
        code_at(a[0], "verificationStatus").as_deref(),
        Some("unconfirmed")
    );

    let b = bundle_of(&out, "recurrence");
    let c: Vec<&Value> = resources(&b, "Condition").collect();
    assert_eq!(
        code_at(c[0], "clinicalStatus").as_deref(),
        Some("recurrence")
    );
    assert!(c[0].get("verificationStatus").is_none(), "{}", c[0]);

    let b = bundle_of(&out, "refuted");
    assert_eq!(resources(&b, "Condition").count(), 0);
    assert_eq!(resources(&b, "AllergyIntolerance").count(), 0);
    let refuted: Vec<Value> = read_ndjson(&out.join("audit.ndjson"))
        .into_iter()
        .filter(|r| r["kind"] == "item" && r["reason"] == "refuted")
        .collect();
    // The problem and the allergy, each with the part that names it.
    assert_eq!(refuted.len(), 4, "{refuted:?}");
    assert!(refuted
        .iter()
        .all(|r| r["input"].as_str().unwrap_or("").ends_with("refuted.json")));
}

#[test]
fn gp2gp_certainty_is_never_invented_and_significance_is_not_severity() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    convert_permit_all(&root().join("fixtures/extracts"), &out, &[]);
    let mut allergies = 0;
    let mut problems = 0;
    for e in std::fs::read_dir(out.join("bundles")).unwrap() {
        let b: Value = serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        for c in resources(&b, "Condition") {
            assert!(
                c.get("severity").is_none(),
                "significance written as severity: {c}"
            );
            assert!(
                c.get("verificationStatus").is_none(),
                "invented certainty: {c}"
            );
            problems += 1;
        }
        for a in resources(&b, "AllergyIntolerance") {
            assert_eq!(
                code_at(a, "verificationStatus").as_deref(),
                Some("unconfirmed")
            );
            allergies += 1;
        }
    }
    assert!(allergies > 0 && problems > 0, "{allergies} {problems}");
}

#[test]
fn completed_plans_are_not_current_and_vaccinations_not_given_are_never_done() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let imm = |not_given: bool| {
        json!({
            "resourceType": "Immunization",
            "id": "12121212-1212-4121-8121-121212121212",
            "status": "completed",
            "notGiven": not_given,
            "extension": [{
                "url": "https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-VaccinationProcedure-1",
                "valueCodeableConcept": { "coding": [{ "system": "http://snomed.info/sct", "code": "1037311000000106" }] }
            }],
            "vaccineCode": { "coding": [{ "system": "http://snomed.info/sct", "code": "39114911000001105" }] },
            "patient": { "reference": "Patient/11111111-1111-4111-8111-111111111111" },
            "date": "2026-03-01"
        })
    };
    for (name, status, not_given) in [("given", "active", false), ("not-given", "completed", true)]
    {
        let mut b: Value = serde_json::from_slice(&gpconnect(&[], &[])).unwrap();
        let entries = b["entry"].as_array_mut().unwrap();
        for e in entries.iter_mut() {
            let r = &mut e["resource"];
            if r["resourceType"] == "MedicationRequest" && r["intent"] == "plan" {
                r["status"] = json!(status);
            }
        }
        entries.push(json!({ "resource": imm(not_given) }));
        std::fs::write(
            input.join(format!("{name}.json")),
            serde_json::to_vec_pretty(&b).unwrap(),
        )
        .unwrap();
    }
    let out = dir.path().join("out");
    convert_permit_all(&input, &out, &["--as-of", "2026-03-14"]);
    let plans = |b: &Value| {
        resources(b, "MedicationRequest")
            .filter(|r| r["intent"] == "plan")
            .count()
    };
    let given = bundle_of(&out, "given");
    assert_eq!(plans(&given), 1);
    let not_given = bundle_of(&out, "not-given");
    assert_eq!(plans(&not_given), 0, "a completed plan is shown as current");
    // The vaccination not given is never a completed act, whatever it is mapped to.
    let id = "12121212-1212-4121-8121-121212121212";
    for e in not_given["entry"].as_array().unwrap() {
        let r = &e["resource"];
        if r["id"] == id {
            assert_eq!(r["resourceType"], "Procedure", "{r}");
            assert_eq!(r["status"], "not-done", "{r}");
        }
    }
    let audit = read_ndjson(&out.join("audit.ndjson"));
    assert!(audit.iter().any(|r| r["kind"] == "item"
        && r["reason"] == "not-current"
        && r["input"]
            .as_str()
            .unwrap_or("")
            .ends_with("not-given.json")));
}
