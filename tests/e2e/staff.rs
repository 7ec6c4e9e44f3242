//! Issue 17: who recorded, asserted, prescribed or performed a shared item, as Practitioner,
//! PractitionerRole and Organization, for both input formats and each `clinical_detail.staff`
//! setting. Inputs: the authored `fixtures/staff/extracts/` (see its README and MANIFEST.json).

use crate::common;
use common::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;

fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(root().join("fixtures/staff/MANIFEST.json")).unwrap())
        .unwrap()
}

/// Convert `fixtures/staff` with the default policy, or with `staff` set to `mode`.
fn convert(out: &Path, mode: Option<&str>) {
    let mut extra: Vec<String> = Vec::new();
    if let Some(mode) = mode {
        let t = run(&["policy", "template"]);
        assert!(t.status.success());
        let mut p: Value = serde_json::from_slice(&t.stdout).unwrap();
        p["clinical_detail"]["staff"] = Value::from(mode);
        let f = out.with_extension("policy.json");
        std::fs::write(&f, serde_json::to_vec(&p).unwrap()).unwrap();
        extra = vec!["--policy".into(), f.display().to_string()];
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let o = convert_permit_all(&root().join("fixtures/staff/extracts"), out, &extra);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_bundles_valid(out);
}

fn bundles(out: &Path) -> Vec<(String, Value)> {
    files_under(&out.join("bundles"))
        .into_iter()
        .map(|(p, b)| (p, serde_json::from_slice(&b).unwrap()))
        .collect()
}

fn resources(b: &Value) -> impl Iterator<Item = &Value> {
    b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
}

fn by_url(b: &Value) -> HashMap<String, &Value> {
    b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["fullUrl"].as_str().unwrap().to_string(), &e["resource"]))
        .collect()
}

const STAFF_FIELDS: [&str; 5] = [
    "asserter",
    "recorder",
    "requester",
    "performer",
    "informationSource",
];

/// The staff references a resource carries, by field (`performer` is a list).
fn staff_refs(r: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for f in STAFF_FIELDS {
        let v = &r[f];
        let refs: Vec<&Value> = match v {
            Value::Array(a) => a.iter().map(|x| x.get("actor").unwrap_or(x)).collect(),
            Value::Null => vec![],
            x => vec![x],
        };
        for x in refs {
            out.push((f, x["reference"].as_str().unwrap().to_string()));
        }
    }
    out
}

/// Every staff-data string the fixtures hold for someone (or something) only a withheld item
/// names, or in a place never shared (role text): never in any output file.
fn assert_no_markers(out: &Path) {
    for (path, bytes) in files_under(out) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("STAFF-MARKER"), "{path}");
    }
}

#[test]
fn staff_are_shared_once_each_and_only_through_shared_items() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    convert(&out, None);
    assert_no_markers(&out);
    let m = manifest();
    for (path, b) in bundles(&out) {
        let urls = by_url(&b);
        let expect = m["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| path.ends_with(f["bundle"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("{path} not in fixtures/staff/MANIFEST.json"));
        // The references each shared item carries, resolved to the person they name.
        for (id, fields) in expect["references"].as_object().unwrap() {
            let r = resources(&b)
                .find(|r| r["id"] == id.as_str())
                .unwrap_or_else(|| panic!("{path}: {id} not shared"));
            let got: Vec<(&str, String)> = staff_refs(r);
            let want = fields.as_object().unwrap();
            assert_eq!(got.len(), want.len(), "{path} {id}: {got:?}");
            for (field, family) in want {
                let (_, url) = got
                    .iter()
                    .find(|(f, _)| f == field)
                    .unwrap_or_else(|| panic!("{path} {id}: no {field}"));
                let target = urls[url];
                let person = match target["resourceType"].as_str() {
                    Some("PractitionerRole") => {
                        urls[target["practitioner"]["reference"]
                            .as_str()
                            .expect("a role names its practitioner")]
                    }
                    _ => target,
                };
                assert_eq!(person["name"][0]["family"], *family, "{path} {id} {field}");
            }
        }
        // One Practitioner per person, and every staff resource is referred to.
        let practitioners: Vec<&Value> = resources(&b)
            .filter(|r| r["resourceType"] == "Practitioner")
            .collect();
        let families: Vec<&str> = practitioners
            .iter()
            .map(|p| p["name"][0]["family"].as_str().unwrap())
            .collect();
        let unique: HashSet<&&str> = families.iter().collect();
        assert_eq!(unique.len(), families.len(), "{path}: {families:?}");
        let mut want: Vec<&str> = expect["practitioners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut got = families.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{path}");
        let text = serde_json::to_string(&b).unwrap();
        for p in &practitioners {
            let url = format!("urn:uuid:{}", p["id"].as_str().unwrap());
            assert!(
                text.matches(&url).count() >= 3,
                "{path}: {url} unreferenced"
            );
        }
        // Identifiers only in their syntax; the SDS ids the manifest lists, and no other.
        let ids: HashSet<String> = practitioners
            .iter()
            .flat_map(|p| p["identifier"].as_array().into_iter().flatten())
            .filter(|i| i["system"] == "https://fhir.nhs.uk/Id/sds-user-id")
            .map(|i| i["value"].as_str().unwrap().to_string())
            .collect();
        let want_ids: HashSet<String> = expect["sds_user_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, want_ids, "{path}");
        for id in &ids {
            assert!(id.bytes().all(|c| c.is_ascii_digit()), "{path}: {id}");
        }
    }
    // Staff names never reach the audit or the summary.
    for f in ["audit.ndjson", "summary.json", "access-audit.ndjson"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        for name in ["Clinician-", "Fixture Branch"] {
            assert!(!text.contains(name), "{f} names staff");
        }
    }
}

#[test]
fn role_only_keeps_role_and_organisation_and_none_writes_no_staff() {
    let dir = tempfile::tempdir().unwrap();
    let role_only = dir.path().join("role-only");
    convert(&role_only, Some("role-only"));
    assert_no_markers(&role_only);
    let mut roles = 0;
    for (path, b) in bundles(&role_only) {
        let text = serde_json::to_string(&b).unwrap();
        assert!(!text.contains("Clinician-"), "{path}: a staff name");
        assert!(
            !text.contains("sds-user-id"),
            "{path}: a personal identifier"
        );
        assert!(!text.contains("sds-role-profile-id"), "{path}");
        assert!(!text.contains("gmp-number"), "{path}");
        for r in resources(&b) {
            assert_ne!(r["resourceType"], "Practitioner", "{path}");
            if r["resourceType"] == "PractitionerRole" {
                roles += 1;
                assert!(r.get("practitioner").is_none(), "{path}");
                assert!(r.get("organization").is_some() || r.get("code").is_some());
            }
        }
    }
    assert!(roles > 0, "role-only still writes roles");

    let none = dir.path().join("none");
    convert(&none, Some("none"));
    for (path, b) in bundles(&none) {
        for r in resources(&b) {
            assert!(
                !matches!(
                    r["resourceType"].as_str(),
                    Some("Practitioner" | "PractitionerRole")
                ),
                "{path}"
            );
            assert!(staff_refs(r).is_empty(), "{path}: {}", r["id"]);
        }
        // Only the practice and the requester remain as organisations.
        let orgs = resources(&b)
            .filter(|r| r["resourceType"] == "Organization")
            .count();
        assert_eq!(orgs, 2, "{path}");
    }
}

/// The real corpus: every staff reference resolves to a resource of its bundle, every
/// Practitioner is referred to, and no practitioner is written twice for one SDS id.
#[test]
fn corpus_staff_references_resolve() {
    let Some(corpus) = corpus() else {
        eprintln!("SKIP: ../shared/corpus absent");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut referenced = 0;
    for sub in ["gp2gp-ehrextract", "gpconnect-stu3"] {
        let out = dir.path().join(sub);
        let o = convert_permit_all(&corpus.join(sub), &out, &[]);
        assert!(o.status.code().is_some());
        assert_bundles_valid(&out);
        for (path, b) in bundles(&out) {
            let urls = by_url(&b);
            let mut sds = HashSet::new();
            for r in resources(&b) {
                for (field, url) in staff_refs(r) {
                    let t = urls
                        .get(&url)
                        .unwrap_or_else(|| panic!("{path}: {field} dangles"));
                    assert!(matches!(
                        t["resourceType"].as_str(),
                        Some("Practitioner" | "PractitionerRole" | "Organization")
                    ));
                    referenced += 1;
                }
                if r["resourceType"] == "Practitioner" {
                    for i in r["identifier"].as_array().into_iter().flatten() {
                        if i["system"] == "https://fhir.nhs.uk/Id/sds-user-id" {
                            assert!(sds.insert(i["value"].to_string()), "{path}: twice");
                        }
                    }
                }
            }
        }
    }
    assert!(referenced > 0, "the corpus names staff on shared items");
}
