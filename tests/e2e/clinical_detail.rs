//! Issue 17: allergy reactions, structured doses and related-problem links, checked against
//! the authored `fixtures/detail/` (expectations in its hand-written MANIFEST.json).

use crate::common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(root().join("fixtures/detail/MANIFEST.json")).unwrap())
        .unwrap()
}

fn convert(out: &Path, extra: &[&str]) {
    let o = convert_permit_all(&root().join("fixtures/detail/extracts"), out, extra);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_bundles_valid(out);
}

fn bundle(out: &Path, input: &str) -> Value {
    let stem = Path::new(input).file_stem().unwrap().to_str().unwrap();
    serde_json::from_slice(&std::fs::read(out.join(format!("bundles/{stem}.json"))).unwrap())
        .unwrap()
}

fn resource<'a>(b: &'a Value, id: &str) -> &'a Value {
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} not shared"))
}

fn code(cc: &Value) -> &str {
    cc["coding"][0]["code"].as_str().unwrap_or_default()
}

#[test]
fn reactions_doses_and_problem_links_as_the_manifest_says() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    convert(&out, &[]);
    for (path, bytes) in files_under(&out) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("DETAIL-MARKER"),
            "{path}: narrative"
        );
    }
    let audit = read_ndjson(&out.join("audit.ndjson"));
    for f in manifest()["files"].as_array().unwrap() {
        let input = f["input"].as_str().unwrap();
        let b = bundle(&out, input);
        let text = serde_json::to_string(&b).unwrap();
        for (id, reason) in f["withheld"].as_object().unwrap() {
            assert!(
                audit
                    .iter()
                    .any(|a| a["source_id"] == id.as_str() && a["reason"] == *reason),
                "{input}: {id} not withheld {reason}"
            );
            // Nothing in the bundle refers to it (no link reveals it).
            assert!(!text.contains(id.as_str()), "{input}: {id} named");
        }
        for (id, want) in f["allergy_reactions"].as_object().into_iter().flatten() {
            let got = resource(&b, id)["reaction"].as_array().unwrap();
            let want = want.as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{input} {id}");
            for (g, w) in got.iter().zip(want) {
                assert_eq!(code(&g["manifestation"][0]), w["manifestation"]);
                assert_eq!(g["severity"], w["severity"]);
                assert_eq!(g["onset"], w["onset"]);
                assert_eq!(code(&g["exposureRoute"]), w["exposureRoute"]);
                assert!(g.get("description").is_none() && g.get("note").is_none());
            }
        }
        for (id, want) in f["related_problems"].as_object().into_iter().flatten() {
            let got: Vec<&str> = resource(&b, id)["extension"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["url"] == "http://hl7.org/fhir/StructureDefinition/condition-related")
                .map(|e| e["valueReference"]["reference"].as_str().unwrap())
                .collect();
            let want: Vec<String> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|t| format!("urn:uuid:{}", t.as_str().unwrap()))
                .collect();
            assert_eq!(got, want, "{input} {id}");
        }
        for (id, want) in f["doses"].as_object().into_iter().flatten() {
            let r = resource(&b, id);
            let d = &r["dosageInstruction"][0];
            assert_eq!(d["text"], want["text"], "{id}");
            for k in ["doseQuantity", "doseRange"] {
                if let Some(w) = want.get(k) {
                    assert_eq!(&d["doseAndRate"][0][k], w, "{id} {k}");
                }
            }
            for k in ["timing", "asNeededBoolean"] {
                assert_eq!(d.get(k), want.get(k), "{id} {k}");
            }
            for k in ["route", "additionalInstruction"] {
                let got = match &d[k] {
                    Value::Array(a) => a.first().map(code),
                    Value::Null => None,
                    x => Some(code(x)),
                };
                assert_eq!(got, want.get(k).and_then(Value::as_str), "{id} {k}");
            }
            // The issues and the statement carry the same dose.
            assert!(d.get("patientInstruction").is_none());
        }
    }
}

#[test]
fn dose_instructions_off_removes_the_structured_dose_too() {
    let dir = tempfile::tempdir().unwrap();
    let t = run(&["policy", "template"]);
    let mut p: Value = serde_json::from_slice(&t.stdout).unwrap();
    p["clinical_detail"]["dose_instructions"] = Value::Bool(false);
    let f = dir.path().join("p.json");
    std::fs::write(&f, serde_json::to_vec(&p).unwrap()).unwrap();
    let out = dir.path().join("out");
    convert(&out, &["--policy", f.to_str().unwrap()]);
    let b = bundle(&out, "detail-gpconnect.json");
    for id in [
        "5a1f2030-0000-4000-8000-000000000030",
        "5a1f2031-0000-4000-8000-000000000031",
    ] {
        assert!(resource(&b, id).get("dosageInstruction").is_none(), "{id}");
    }
}
