//! What a clinician acts on survives the conversion (issue 17): dose, units, certainty, who
//! and when; and what the policy turns off does not.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn bundle(out: &Path, stem: &str) -> Value {
    let p = out.join("bundles").join(format!("{stem}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"))).unwrap()
}

fn resources<'a>(b: &'a Value, ty: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(move |r| r["resourceType"] == ty)
}

/// A site policy: the embedded default with `clinical_detail` replaced.
fn policy_with_detail(dir: &Path, detail: Value) -> std::path::PathBuf {
    let mut v: Value = serde_json::from_str(migx::policy::config::DEFAULT_POLICY_JSON).unwrap();
    v.as_object_mut().unwrap().remove("code_lists");
    v["clinical_detail"] = detail;
    let p = dir.join("policy.json");
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    p
}

#[test]
fn dose_and_quantity_text_are_shared_by_default_and_the_policy_turns_them_off() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("on");
    convert_fixtures(&out, &[]);
    assert_bundles_valid(&out);
    let b = bundle(&out, "03-medications");
    let ms: Vec<&Value> = resources(&b, "MedicationStatement").collect();
    assert!(!ms.is_empty());
    for m in &ms {
        assert_eq!(m["dosage"][0]["text"], "One daily", "{m}");
    }
    let requests: Vec<&Value> = resources(&b, "MedicationRequest").collect();
    assert!(requests.len() >= 2, "a plan and an order");
    for r in &requests {
        assert_eq!(r["dosageInstruction"][0]["text"], "One daily", "{r}");
        let q = &r["dispenseRequest"]["quantity"];
        assert_eq!(
            (q["value"].as_i64(), q["unit"].as_str()),
            (Some(28), Some("tablet"))
        );
        // "tablet" is a known unit string but not UCUM: no system or code is claimed.
        assert!(q.get("system").is_none() && q.get("code").is_none(), "{q}");
    }
    let audit = read_ndjson(&out.join("audit.ndjson"));
    let text_lines = |audit: &[Value]| {
        audit
            .iter()
            .filter(|l| {
                l["kind"] == "text" && l["input"].as_str().unwrap_or("").contains("03-medications")
            })
            .count()
    };
    let before = text_lines(&audit);

    let policy = policy_with_detail(
        dir.path(),
        serde_json::json!({ "dose_instructions": false, "quantity_text": false }),
    );
    let off = dir.path().join("off");
    convert_fixtures(&off, &["--policy", policy.to_str().unwrap()]);
    assert_bundles_valid(&off);
    let b = bundle(&off, "03-medications");
    let text = b.to_string();
    assert!(
        !text.contains("One daily") && !text.contains("\"unit\":\"tablet\""),
        "{text}"
    );
    for r in resources(&b, "MedicationRequest") {
        let q = &r["dispenseRequest"]["quantity"];
        assert_eq!(q["value"].as_i64(), Some(28), "the number stays: {q}");
        assert!(q.get("unit").is_none(), "{q}");
    }
    // What was removed is audited as free text removed, never silently.
    let audit = read_ndjson(&off.join("audit.ndjson"));
    assert!(text_lines(&audit) > before, "{before}");
}
