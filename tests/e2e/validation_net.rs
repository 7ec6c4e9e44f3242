//! The output safety net (issue 4): convert validates every bundle against the FHIR R4
//! schema and the migx profile before writing it. A bundle that fails is not written, the
//! input is `rejected` with `validation-failed` and the JSON pointers, and the exit code is 1.
//!
//! The failure is provoked through a real path, not a test hook: a GP Connect record whose
//! problem carries a coding in a code system that is neither SNOMED CT, Read, CTV3, an OID
//! nor a web URI, which the migx profile does not accept in disclosed output.

use crate::common;
use common::*;

#[test]
fn a_bundle_that_fails_validation_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let good = std::fs::read_to_string(root().join("fixtures/gpconnect/record.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    let mut touched = 0;
    for e in v["entry"].as_array_mut().unwrap() {
        let r = &mut e["resource"];
        if r["resourceType"] == "Condition" {
            r["code"]["coding"]
                .as_array_mut()
                .unwrap()
                // A URI, so the code screen keeps it (text such as `local-codes` is dropped
                // before it can reach the bundle), but not one the migx profile accepts.
                .push(serde_json::json!({ "system": "urn:x-local:codes", "code": "X1" }));
            touched += 1;
        }
    }
    assert_eq!(touched, 1, "the fixture has one problem");
    std::fs::write(input.join("bad.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    std::fs::write(input.join("good.json"), good).unwrap();
    let out = dir.path().join("out");
    let o = run(&[
        "-q",
        "convert",
        input.to_str().unwrap(),
        "--consent-all",
        "permit",
        "--requester",
        "Y02345",
        "--permit-requester",
        "Y02345",
        "--without-official-refsets",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let audit = read_ndjson(&out.join("audit.ndjson"));
    let bad = audit
        .iter()
        .find(|a| a["kind"] == "file" && a["input"].as_str().unwrap().ends_with("bad.json"))
        .unwrap();
    assert_eq!(bad["status"], "rejected");
    assert_eq!(bad["error"]["code"], "validation-failed");
    let msg = bad["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("/entry/") && msg.contains("/code/coding/"),
        "{msg}"
    );
    assert!(
        !out.join("bundles/bad.json").exists(),
        "a failing bundle must not be written"
    );
    // The good file in the same batch was converted.
    let goodline = audit
        .iter()
        .find(|a| a["kind"] == "file" && a["input"].as_str().unwrap().ends_with("good.json"))
        .unwrap();
    assert_eq!(goodline["status"], "converted");
    assert!(out.join("bundles/good.json").is_file());
}
