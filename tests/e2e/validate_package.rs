//! `migx validate --package`: the binary with authored packages, in every report format.

use crate::common;

use common::run;
use serde_json::{json, Value};

fn write(dir: &std::path::Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p.display().to_string()
}

#[test]
fn package_profiles_are_checked_and_reported_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let profile = "http://example.org/migx-rules/StructureDefinition/RuleCardinality";
    let good = json!({"resourceType": "Patient", "id": "a", "gender": "male",
        "meta": {"profile": [profile]}});
    let bad = json!({"resourceType": "Bundle", "id": "b", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:6a2f1c0e-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Patient", "id": "c", "meta": {"profile": [profile]}}}]});
    let good = write(dir.path(), "good.json", &good);
    let bad = write(dir.path(), "bad.json", &bad);
    let out = run(&[
        "validate",
        &good,
        "--package",
        "fixtures/packages/migx-rules",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&[
        "validate",
        &bad,
        "--package",
        "fixtures/packages/migx-rules",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("package migx.test.rules#0.1.0"), "{text}");
    assert!(
        text.contains("Bundle.entry[0].resource.gender: [cardinality] Patient.gender: at least 1 required, found 0"),
        "{text}"
    );
    let out = run(&[
        "validate",
        &bad,
        "--package",
        "fixtures/packages/migx-rules",
        "--report",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(migx::validate::validate_report_json(&report).is_empty());
    assert_eq!(report["profiles_checked"], true);
    assert_eq!(report["packages"][0]["name"], "migx.test.rules");
    let v = &report["files"][0]["violations"][0];
    assert_eq!(v["location"], "Bundle.entry[0].resource.gender");
    assert_eq!(v["rule"], "cardinality");
    assert!(report["not_evaluated_total"].as_u64().is_some());
    let out = run(&[
        "validate",
        &bad,
        "--package",
        "fixtures/packages/migx-rules",
        "--report",
        "junit",
    ]);
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(
        xml.contains("<failure") && xml.contains("Bundle.entry[0].resource.gender"),
        "{xml}"
    );
}

#[test]
fn unusable_package_or_profile_url_is_a_usage_error() {
    let out = run(&[
        "validate",
        "fixtures/validate/valid",
        "--package",
        "fixtures/validate",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no package.json"));
    let out = run(&[
        "validate",
        "fixtures/validate/valid",
        "--profile-url",
        "http://example.org/none",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no package defines it"));
}
