//! The policy may label confidential items instead of dropping them (issue 3): with
//! `confidentiality.handling = "label"`, NOPAT items are shared with the `meta.security`
//! label `NOPAT` from v3-ActCode; with the default `drop` they are withheld.

use crate::common;
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

/// What the fixture's NOPAT positions become in label mode, written by hand from the fixture
/// (`fixtures/MANIFEST.json` marks each source item), never read from migx's own output.
const LABELLED: [(&str, &str); 6] = [
    ("Condition", "1920caf5-6f76-5272-bb16-327d04482ff5"), // NOPAT on the LinkSet
    ("Condition", "9e9ed7b5-d3eb-516d-b3fa-5e7b7b1f3b1f"), // NOPAT on a single statement
    (
        "MedicationStatement",
        "34add69e-d76c-5c13-895c-21ea684fb2cc",
    ), // NOPAT on the medication
    ("MedicationRequest", "5a4ba4b4-ea92-5bb3-bd30-c197aa4f3542"), // its authorisation inherits
    ("AllergyIntolerance", "f69e355d-3659-507e-9b1e-4ff3b0ed6331"), // NOPAT on the allergy compound
    ("Observation", "87686429-f299-55ac-addf-ed06c4c38208"), // NOPAT on one battery member
];

/// Shared in both modes and never labelled: NOSCRUB is no restriction, and a battery is not
/// restricted by one NOPAT member.
const UNLABELLED: [(&str, &str); 4] = [
    ("Condition", "b9b22bbf-dfe4-5a99-91cd-5cee5b547b00"),
    ("Observation", "4e5e49c2-1cc5-5acc-be00-8a11bf69303c"),
    ("Observation", "b906ba2d-c311-54aa-92ab-bb8b7df65dfb"),
    ("Observation", "1514fb1d-c4a4-5988-8b33-9630a554cbc1"),
];

fn resource_ids(b: &serde_json::Value) -> Vec<(String, String)> {
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resource"]["resourceType"].as_str().unwrap().to_string(),
                e["resource"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn label_mode_labels_exactly_the_nopat_positions_and_drop_mode_withholds_them() {
    let dir = tempfile::tempdir().unwrap();
    let dropped = convert_with("drop", dir.path());
    let label = convert_with("label", dir.path());
    assert!(
        labelled(&dropped).is_empty(),
        "drop: nothing labelled, NOPAT items withheld"
    );
    let mut got = labelled(&label);
    got.sort();
    let mut want: Vec<String> = LABELLED.iter().map(|(_, id)| id.to_string()).collect();
    want.sort();
    assert_eq!(
        got, want,
        "label mode: exactly the NOPAT positions are labelled"
    );
    let in_label = resource_ids(&label);
    let in_drop = resource_ids(&dropped);
    for (kind, id) in LABELLED {
        let r = (kind.to_string(), id.to_string());
        assert!(in_label.contains(&r), "label mode shares {kind}/{id}");
        assert!(
            !dropped.to_string().contains(id),
            "drop mode never shows {id}"
        );
    }
    for (kind, id) in UNLABELLED {
        let r = (kind.to_string(), id.to_string());
        assert!(
            in_label.contains(&r) && in_drop.contains(&r),
            "{kind}/{id} shared in both"
        );
    }
}
