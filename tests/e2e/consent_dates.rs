//! Issue 13.4: the dates that decide a practice consent against a practice dissent, end to
//! end in both input formats. A consent dated after the extract's own time (or a placeholder
//! such as `99991231`) grants nothing, and an order that cannot be decided at the precision
//! given (a dissent recorded as `2025` against a consent inside 2025) keeps the dissent.

use crate::common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;

/// The file-level audit line of the only input converted into `out`.
fn file_line(out: &Path) -> Value {
    read_ndjson(&out.join("audit.ndjson"))
        .into_iter()
        .find(|l| l["kind"] == "file")
        .expect("a file line")
}

/// `(status, reason)` of converting one generated input.
fn outcome(name: &str, bytes: &[u8], consent: Option<&str>) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join(name), bytes).unwrap();
    let consent_path = match consent {
        Some(rows) => {
            let p = dir.path().join("consent.csv");
            std::fs::write(
                &p,
                format!(
                    "nhs_number,decision,recorded_at,requester_ods,requester_name,purpose\n{rows}"
                ),
            )
            .unwrap();
            p
        }
        None => root().join("fixtures/consent.csv"),
    };
    let out = dir.path().join("out");
    let o = convert_with_consent(&input, &consent_path, &out, &[]);
    assert!(
        o.status.code() == Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let l = file_line(&out);
    (
        l["status"].as_str().unwrap_or_default().to_string(),
        l["reason"].as_str().unwrap_or_default().to_string(),
    )
}

/// Fixture 10 (dissent 2023-03-01, later consent 2025-03-01, extract created 2026-03-14)
/// with the dissent and consent statements re-dated.
fn xml(dissent: &str, consent: &str) -> Vec<u8> {
    let src = std::fs::read_to_string(root().join("fixtures/extracts/10-dissent-then-consent.xml"))
        .unwrap();
    assert_eq!(src.matches("value=\"20230301\"/>").count(), 2);
    assert_eq!(src.matches("value=\"20250301\"/>").count(), 2);
    src.replace("value=\"20230301\"/>", &format!("value=\"{dissent}\"/>"))
        .replace("value=\"20250301\"/>", &format!("value=\"{consent}\"/>"))
        .into_bytes()
}

/// The authored GP Connect fixture with a practice dissent and a practice consent added
/// (bundle `lastUpdated` 2024-03-05T09:00:00+00:00; it already holds a consent dated
/// 2024-02-01).
fn gpconnect(dissent: &str, consent: &str) -> Vec<u8> {
    let mut b: Value = serde_json::from_slice(
        &std::fs::read(root().join("fixtures/gpconnect/record.json")).unwrap(),
    )
    .unwrap();
    let obs = |id: &str, code: &str, when: &str| {
        json!({"fullUrl": format!("Observation/{id}"), "resource": {
            "resourceType": "Observation", "id": id, "status": "final",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
            "effectiveDateTime": when}})
    };
    let entries = b["entry"].as_array_mut().unwrap();
    entries.push(obs(
        "f0000000-0000-4000-8000-00000000000d",
        "416409005",
        dissent,
    ));
    entries.push(obs(
        "f0000000-0000-4000-8000-00000000000c",
        "417528008",
        consent,
    ));
    serde_json::to_vec(&b).unwrap()
}

const STU3_CONSENT: &str = "9000000009,permit,2024-03-05T08:55:00+00:00,Y02345,OOH,TREAT\n";

fn x(dissent: &str, consent: &str) -> (String, String) {
    outcome("10.xml", &xml(dissent, consent), None)
}

fn j(dissent: &str, consent: &str) -> (String, String) {
    outcome("r.json", &gpconnect(dissent, consent), Some(STU3_CONSENT))
}

fn converted() -> (String, String) {
    ("converted".into(), String::new())
}

fn dissent() -> (String, String) {
    ("withheld".into(), "dissent-recorded".into())
}

#[test]
fn xml_consent_dates_decide_against_the_extract_time_and_precision() {
    // As authored: the later consent overrides the earlier dissent.
    assert_eq!(x("20230301", "20250301"), converted());
    // A consent after the extract's own time (20260314100000), on either side of it.
    assert_eq!(x("20230301", "20260315"), dissent());
    assert_eq!(x("20230301", "20260314100001"), dissent());
    assert_eq!(x("20230301", "20260314100000"), converted());
    // Placeholders.
    assert_eq!(x("20230301", "99991231"), dissent());
    assert_eq!(x("20230301", "99991231235959"), dissent());
    // A dissent at year precision against a consent inside and after that year.
    assert_eq!(x("2025", "20250601"), dissent());
    assert_eq!(x("2025", "20251231235959"), dissent());
    assert_eq!(x("2025", "20260101"), converted());
    // The same instant: dissent.
    assert_eq!(x("20250301", "20250301"), dissent());
}

#[test]
fn gpconnect_consent_dates_decide_against_the_bundle_time_and_precision() {
    // The authored record already holds a practice consent dated 2024-02-01.
    assert_eq!(j("2024-02-10", "2024-03-01"), converted());
    assert_eq!(j("2024-02-10", "2024-03-06"), dissent());
    assert_eq!(j("2024-02-10", "2024-03-05T09:00:01+00:00"), dissent());
    assert_eq!(j("2024-02-10", "2024-03-05T09:00:00+00:00"), converted());
    assert_eq!(j("2024-02-10", "9999-12-31"), dissent());
    assert_eq!(j("2024", "2024-03-01"), dissent());
    assert_eq!(j("2024-02", "2024-02-29T23:59:59+00:00"), dissent());
    assert_eq!(j("2024-02", "2024-03-01"), converted());
    assert_eq!(j("2024-02-10", "2024-02-10"), dissent());
}

/// Issue 24.2, end to end: a STU3 `Consent` with no dissent code whose refusal is only
/// structural (a deny exception, status `rejected`, an opt-out policy), top-level or
/// contained, withholds the patient `dissent-recorded`; a clear permission converts.
#[test]
fn a_gpconnect_consent_refusing_by_its_structure_withholds_the_patient() {
    let with = |consent: Value, contained: bool| {
        let mut b: Value = serde_json::from_slice(
            &std::fs::read(root().join("fixtures/gpconnect/record.json")).unwrap(),
        )
        .unwrap();
        let entries = b["entry"].as_array_mut().unwrap();
        let resource = if contained {
            json!({"resourceType": "Observation", "id": "f0000000-0000-4000-8000-0000000000c1",
                "status": "final", "contained": [consent],
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1000731000000107"}]},
                "effectiveDateTime": "2024-03-01"})
        } else {
            consent
        };
        entries.push(json!({ "resource": resource }));
        serde_json::to_vec(&b).unwrap()
    };
    let clear = json!({
        "resourceType": "Consent", "id": "f0000000-0000-4000-8000-0000000000c2",
        "status": "active", "dateTime": "2024-03-01",
        "policyRule": "http://hl7.org/fhir/ConsentPolicy/opt-in",
        "except": [{ "type": "permit" }]
    });
    let mut cases: Vec<(&str, Value, (String, String))> =
        vec![("clear", clear.clone(), converted())];
    for (what, key, value) in [
        ("deny exception", "except", json!([{ "type": "deny" }])),
        ("rejected", "status", json!("rejected")),
        (
            "opt-out",
            "policyRule",
            json!("http://hl7.org/fhir/ConsentPolicy/opt-out"),
        ),
    ] {
        let mut c = clear.clone();
        c[key] = value;
        cases.push((what, c, dissent()));
    }
    for (what, c, want) in cases {
        for contained in [false, true] {
            let got = outcome("r.json", &with(c.clone(), contained), Some(STU3_CONSENT));
            assert_eq!(got, want, "{what}, contained {contained}");
        }
    }
}
