//! The policy may label confidential items instead of dropping them (issue 3): with
//! `confidentiality.handling = "label"`, NOPAT items are shared with the `meta.security`
//! label `NOPAT` from v3-ActCode; with the default `drop` they are withheld.

mod common;
use common::*;

fn convert_with(handling: &str, dir: &std::path::Path) -> serde_json::Value {
    let o = run(&["policy", "template"]);
    let mut p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    p["confidentiality"]["handling"] = serde_json::json!(handling);
    p["permitted_requesters"] = serde_json::json!([{ "ods_code": "Y02345", "name": "Fixture Out of Hours Service", "role": "out-of-hours" }]);
    let policy = dir.join(format!("{handling}.json"));
    std::fs::write(&policy, serde_json::to_vec_pretty(&p).unwrap()).unwrap();
    let out = dir.join(handling);
    let o = run(&[
        "-q",
        "convert",
        "fixtures/extracts/13-nopat-positions.xml",
        "--consent",
        "fixtures/consent.csv",
        "--policy",
        policy.to_str().unwrap(),
        "--without-official-refsets",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("bundles/13-nopat-positions.json")).unwrap())
        .unwrap()
}

fn labelled(b: &serde_json::Value) -> Vec<String> {
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["meta"]["security"].is_array())
        .map(|e| {
            let s = &e["resource"]["meta"]["security"][0];
            assert_eq!(
                s["system"],
                "http://terminology.hl7.org/CodeSystem/v3-ActCode"
            );
            assert_eq!(s["code"], "NOPAT");
            e["resource"]["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn label_shares_nopat_items_with_a_security_label_and_drop_withholds_them() {
    let dir = tempfile::tempdir().unwrap();
    let dropped = convert_with("drop", dir.path());
    let label = convert_with("label", dir.path());
    assert!(
        labelled(&dropped).is_empty(),
        "drop: nothing labelled, NOPAT items withheld"
    );
    let ids = labelled(&label);
    assert!(
        !ids.is_empty(),
        "label: NOPAT items are shared with the label"
    );
    let dropped_text = dropped.to_string();
    for id in &ids {
        assert!(
            !dropped_text.contains(id.as_str()),
            "{id} is NOPAT: the default policy must not share it"
        );
    }
    assert!(label["entry"].as_array().unwrap().len() > dropped["entry"].as_array().unwrap().len());
}
