//! End to end over the authored fixtures: every file ends as the manifest says, every item
//! gets the decision the manifest says (checked through `migx explain`, which must agree
//! with the audit convert writes), nothing withheld leaks into any output, every output
//! conforms to its schema, and reruns are byte-identical whatever `--jobs` is.

use crate::common;
use common::*;
use migx::validate::{validate_audit_line, validate_summary, validate_value, Profile};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn extracts(m: &Value) -> Vec<&Value> {
    m["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().starts_with("extracts/"))
        .collect()
}

#[test]
fn every_file_ends_as_the_manifest_says() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = convert_fixtures(&out, &[]);
    // Two fixtures are rejected on identity, so the run exits 1.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let audit = read_ndjson(&out.join("audit.ndjson"));
    let files: BTreeMap<String, &Value> = audit
        .iter()
        .filter(|a| a["kind"] == "file")
        .map(|a| (a["input"].as_str().unwrap().to_string(), a))
        .collect();
    let m = manifest();
    for f in extracts(&m) {
        let path = format!("fixtures/{}", f["path"].as_str().unwrap());
        let a = files
            .get(&path)
            .unwrap_or_else(|| panic!("{path} not in audit"));
        let exp = &f["expected"];
        assert_eq!(a["status"], exp["status"], "{path}");
        let want_reason = if exp["reason"].is_null() {
            &exp["error_code"]
        } else {
            &exp["reason"]
        };
        if !want_reason.is_null() {
            assert_eq!(&a["reason"], want_reason, "{path}");
        }
        if a["status"] == "converted" {
            let b = a["bundle"].as_str().unwrap();
            assert!(out.join(b).is_file(), "{b}");
        } else {
            assert!(a["bundle"].is_null());
        }
    }
    assert_eq!(files.len(), extracts(&m).len(), "one audit line per input");
}

/// What `migx explain --json` says about every item of one file.
fn explain(path: &str) -> Value {
    let o = run(&[
        "explain",
        path,
        "--consent",
        "fixtures/consent.csv",
        "--permit-requester",
        "Y02345",
        "--json",
    ]);
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn every_item_gets_the_manifest_decision_and_explain_agrees_with_convert() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    convert_fixtures(&out, &[]);
    let audit = read_ndjson(&out.join("audit.ndjson"));
    let m = manifest();
    let mut checked = 0;
    for f in extracts(&m) {
        if f["expected"]["status"] != "converted" {
            continue;
        }
        let path = format!("fixtures/{}", f["path"].as_str().unwrap());
        let ex = explain(&path);
        assert_eq!(ex["status"], "converted", "{path}");
        let by_id: BTreeMap<&str, &Value> = ex["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["source_id"].as_str().unwrap(), i))
            .collect();
        // explain and the audit agree on every withheld item, and on free text removed.
        let audited: BTreeSet<(String, String)> = audit
            .iter()
            .filter(|a| a["input"] == path.as_str() && a["kind"] == "item")
            .map(|a| {
                (
                    a["source_id"].as_str().unwrap().to_string(),
                    a["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let explained: BTreeSet<(String, String)> = ex["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["decision"] == "withheld")
            .map(|i| {
                (
                    i["source_id"].as_str().unwrap().to_string(),
                    i["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(audited, explained, "{path}: explain and convert disagree");
        for it in f["items"].as_array().into_iter().flatten() {
            let sid = it["source_id"].as_str().unwrap();
            // explain shows the id the bundle derives (issue 13.7), never a raw source id.
            let got = by_id
                .get(migx::fhir::ids::source_uuid(sid).as_str())
                .unwrap_or_else(|| panic!("{path}: item {sid} not explained"));
            let got_s = match got["decision"].as_str().unwrap() {
                "withheld" => format!("withheld:{}", got["reason"].as_str().unwrap()),
                _ => format!("shared:{}", got["category"].as_str().unwrap_or("?")),
            };
            let mut allowed = vec![it["expected"].as_str().unwrap().to_string()];
            for a in it["allowed"].as_array().into_iter().flatten() {
                allowed.push(a.as_str().unwrap().to_string());
            }
            assert!(
                allowed.contains(&got_s),
                "{path}: item {sid} ({}): expected one of {allowed:?}, got {got_s}",
                it["element"]
            );
            checked += 1;
        }
    }
    assert!(checked > 80, "only {checked} items checked");
}

#[test]
fn nothing_withheld_appears_anywhere_in_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = convert_fixtures(&out, &[]);
    let printed = [o.stdout.clone(), o.stderr.clone()].concat();
    let all = files_under(&out);
    let bundles: Vec<(String, String)> = all
        .iter()
        .filter(|(p, _)| p.starts_with("bundles/"))
        .map(|(p, b)| (p.clone(), String::from_utf8_lossy(b).into_owned()))
        .collect();
    let audit = read_ndjson(&out.join("audit.ndjson"));
    let m = manifest();
    let mut markers = 0;
    for f in extracts(&m) {
        for mk in f["markers"].as_array().into_iter().flatten() {
            let mk = mk.as_str().unwrap();
            markers += 1;
            for (p, b) in &all {
                assert!(
                    !String::from_utf8_lossy(b).contains(mk),
                    "free text {mk} leaked into {p}"
                );
            }
            assert!(!String::from_utf8_lossy(&printed).contains(mk));
        }
        // A code withheld from this patient must not appear in this patient's bundle, nor in
        // any file that is not a bundle (another patient may legitimately share the code).
        let stem = std::path::Path::new(f["path"].as_str().unwrap())
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for c in f["withheld_codes"].as_array().into_iter().flatten() {
            let c = c.as_str().unwrap();
            for (p, b) in &all {
                if p.starts_with("bundles/") && *p != format!("bundles/{stem}.json") {
                    continue;
                }
                let text = String::from_utf8_lossy(b);
                assert!(
                    !text.contains(&format!("\"{c}\"")),
                    "withheld code {c} leaked into {p}"
                );
            }
        }
    }
    assert!(markers > 10, "the fixtures carry free-text markers");
    // No withheld source id in any bundle.
    let withheld: Vec<&str> = audit
        .iter()
        .filter(|a| a["kind"] == "item")
        .map(|a| a["source_id"].as_str().unwrap())
        .collect();
    assert!(withheld.len() > 40, "{} withheld items", withheld.len());
    for (p, b) in &bundles {
        for id in &withheld {
            assert!(!b.contains(id), "withheld item {id} appears in {p}");
        }
    }
    // Full NHS numbers never printed.
    for f in extracts(&m) {
        if let Some(n) = f["nhs_number"].as_str() {
            assert!(
                !String::from_utf8_lossy(&printed).contains(n),
                "NHS number printed"
            );
        }
    }
}

#[test]
fn outputs_conform_to_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    convert_fixtures(&out, &[]);
    let mut bundles = 0;
    for (p, b) in files_under(&out) {
        if p.starts_with("bundles/") {
            let v: Value = serde_json::from_slice(&b).unwrap();
            assert_eq!(validate_value(&v, Profile::Migx), vec![], "{p}");
            bundles += 1;
        }
    }
    assert_eq!(bundles, 14);
    for line in read_ndjson(&out.join("audit.ndjson")) {
        assert!(validate_audit_line(&line).is_empty(), "{line}");
    }
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert!(validate_summary(&summary).is_empty(), "{summary}");
    assert_eq!(summary["converted"], 14);
    assert_eq!(summary["withheld"], 4);
    assert_eq!(summary["rejected"], 2);
    let events = read_ndjson(&out.join("access-audit.ndjson"));
    assert_eq!(events.len(), 14, "one AuditEvent per disclosure");
    for e in &events {
        assert!(validate_value(e, Profile::Fhir).is_empty(), "{e}");
    }
    // And the independent command-line validator agrees.
    assert_bundles_valid(&out);
}

#[test]
fn bundles_carry_consent_provenance_and_category_lists() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    convert_fixtures(&out, &[]);
    let b: Value =
        serde_json::from_slice(&std::fs::read(out.join("bundles/01-core-shared.json")).unwrap())
            .unwrap();
    assert_eq!(b["type"], "collection");
    let entries = b["entry"].as_array().unwrap();
    let types: Vec<&str> = entries
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(
        &types[..5],
        [
            "Patient",
            "Organization",
            "Organization",
            "Consent",
            "Provenance"
        ]
    );
    assert_eq!(types.iter().filter(|t| **t == "List").count(), 8);
    let consent = &entries[3]["resource"];
    assert_eq!(consent["status"], "active");
    assert_eq!(consent["provision"]["type"], "permit");
    assert_eq!(consent["provision"]["purpose"][0]["code"], "TREAT");
    assert_eq!(
        consent["category"][0]["coding"][0]["code"],
        "887031000000108"
    );
    assert_eq!(consent["dateTime"], "2026-03-14T09:55:00+00:00");
    let prov = &entries[4]["resource"];
    assert_eq!(prov["target"].as_array().unwrap().len(), entries.len() - 1);
    let policy_sha = migx::policy::Policy::embedded_default()
        .unwrap()
        .sha256()
        .to_string();
    assert!(
        prov.to_string().contains(&policy_sha),
        "provenance names the policy hash"
    );
    // Every category but investigations (fixture 02) has a populated list in this fixture;
    // the empty one says why.
    for e in entries
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "List")
    {
        let l = &e["resource"];
        if l["title"] == "Investigations and results" {
            // Nothing of the category was recorded: UK Core's own code (HL7's
            // list-empty-reason has no `nocontent`).
            assert_eq!(l["emptyReason"]["coding"][0]["code"], "no-content-recorded");
        } else {
            assert!(
                l["entry"].is_array(),
                "{} is empty in the all-categories fixture",
                l["title"]
            );
        }
    }
    // The sensitive-result fixture warns on its category list and says nothing else.
    let b: Value = serde_json::from_slice(
        &std::fs::read(out.join("bundles/02-pathology-report.json")).unwrap(),
    )
    .unwrap();
    let warned: Vec<&Value> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "List" && r["extension"].is_array())
        .collect();
    assert_eq!(warned.len(), 1);
    // Extension-UKCore-ListWarningCode carries a CodeableConcept (a `valueCode` is invalid).
    assert_eq!(
        warned[0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"],
        "confidential-items"
    );
    assert!(warned[0]["extension"][0].get("valueCode").is_none());
}

#[test]
fn reruns_are_byte_identical_whatever_jobs_is() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    convert_fixtures(&a, &["--jobs", "1"]);
    convert_fixtures(&b, &["--jobs", "2"]);
    let fa = files_under(&a);
    let fb = files_under(&b);
    assert_eq!(fa.len(), fb.len());
    for ((pa, ba), (pb, bb)) in fa.iter().zip(fb.iter()) {
        assert_eq!(pa, pb);
        assert!(ba == bb, "{pa} differs between runs");
    }
    // A second run into the same folder rewrites the same bytes and leaves no temp files.
    convert_fixtures(&a, &[]);
    assert_eq!(files_under(&a), fa);
}
