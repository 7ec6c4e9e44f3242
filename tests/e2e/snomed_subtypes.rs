//! Issue 21, end to end: with a SNOMED CT release holding an IS-A hierarchy
//! (`fixtures/snomed-hierarchy`, authored), a concept below a listed sensitive concept is
//! withheld and a concept below a listed dissent concept withholds the patient, in every
//! coded position of both formats (the positions of `tests/e2e/common/positions.rs`, the listed
//! code replaced by a subtype); the run says which check it made. Without the release the
//! same subtypes are not caught, and summary, terminal summary and Provenance say that only
//! exact matches and Read v2/CTV3 prefixes were checked. Issue 13.6: with the release a
//! SNOMED CT coding's display is the release's preferred term.

use crate::common;
use common::positions::*;
use common::*;
use std::path::Path;

const RELEASE: &str = "fixtures/snomed-hierarchy";
/// Listed sensitive concept (76272004 syphilis) -> its subtypes in the fixture release: a
/// child, a grandchild and a member of a cycle below the grandchild.
const SENSITIVE_SUBTYPES: [&str; 3] = ["999102009", "999103004", "999106007"];
/// Below the listed dissent concept 416409005.
const DISSENT_SUBTYPE: &str = "999109000";

struct Inputs {
    forbidden: Vec<String>,
    withheld_ids: Vec<String>,
    dissent_files: Vec<String>,
}

/// Every coded position of both formats, once with each sensitive subtype (under a varying
/// SNOMED CT alias) and once with the dissent subtype, one file each.
fn write_inputs(dir: &Path) -> Inputs {
    let mut inputs = Inputs {
        forbidden: Vec::new(),
        withheld_ids: Vec::new(),
        dissent_files: Vec::new(),
    };
    let k = std::cell::Cell::new(0u32);
    let mut add = |g: Generated, listed: &str, subtype: &str, ext: &str| {
        let bytes = String::from_utf8(g.bytes).unwrap().replace(listed, subtype);
        assert!(bytes.contains(subtype));
        let name = format!("f{:04}.{ext}", k.get());
        std::fs::write(dir.join(&name), bytes).unwrap();
        inputs.forbidden.push(subtype.to_string());
        inputs.withheld_ids.extend(g.withheld_ids);
        if g.dissent {
            inputs.dissent_files.push(name);
        }
        k.set(k.get() + 1);
    };
    for (i, pos) in XML_POSITIONS.into_iter().enumerate() {
        for (j, code) in SENSITIVE_SUBTYPES.iter().enumerate() {
            if xml_has_victim(pos) {
                let marker = Marker::SensitiveSnomed(i + j);
                let g = xml_extract(2, &[Placement { pos, marker }], 300 + k.get());
                add(g, "76272004", code, "xml");
            }
        }
        let marker = Marker::DissentSnomed(i);
        let g = xml_extract(2, &[Placement { pos, marker }], 300 + k.get());
        add(g, "416409005", DISSENT_SUBTYPE, "xml");
    }
    for (i, pos) in JSON_POSITIONS.into_iter().enumerate() {
        for (j, code) in SENSITIVE_SUBTYPES.iter().enumerate() {
            if json_has_victim(pos) {
                let marker = Marker::SensitiveSnomed(i + j);
                let g = gpconnect_extract(2, &[Placement { pos, marker }], 300 + k.get());
                add(g, "76272004", code, "json");
            }
        }
        let marker = Marker::DissentSnomed(i);
        let g = gpconnect_extract(2, &[Placement { pos, marker }], 300 + k.get());
        add(g, "416409005", DISSENT_SUBTYPE, "json");
    }
    inputs.forbidden.sort();
    inputs.forbidden.dedup();
    inputs
}

fn file_line<'a>(audit: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    audit
        .iter()
        .find(|l| l["kind"] == "file" && l["input"].as_str().is_some_and(|i| i.ends_with(name)))
        .unwrap_or_else(|| panic!("{name} not audited"))
}

fn bundles_text(out: &Path) -> String {
    files_under(&out.join("bundles"))
        .into_iter()
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn subtypes_of_listed_concepts_are_withheld_in_every_position_with_a_release() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let inputs = write_inputs(&input);
    assert!(inputs.dissent_files.len() >= XML_POSITIONS.len() + JSON_POSITIONS.len());
    assert!(
        inputs.withheld_ids.len() > 30,
        "{}",
        inputs.withheld_ids.len()
    );

    // With the release: withheld everywhere, and said so.
    let out = dir.path().join("with");
    let o = convert_permit_all_loud(&input, &out, &["--snomed", RELEASE]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    for (name, bytes) in files_under(&out) {
        let text = String::from_utf8_lossy(&bytes);
        for f in &inputs.forbidden {
            assert!(!text.contains(f.as_str()), "subtype {f} in {name}");
        }
    }
    let bundles = bundles_text(&out);
    for id in &inputs.withheld_ids {
        assert!(!bundles.contains(id.as_str()), "subtype item {id} shared");
    }
    let audit = read_ndjson(&out.join("audit.ndjson"));
    for name in &inputs.dissent_files {
        let line = file_line(&audit, name);
        assert_eq!(line["status"], "withheld", "{name}");
        assert_eq!(line["reason"], "dissent-recorded", "{name}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["exclusion_refsets"]["subtypes"],
        "IS-A subtypes checked (release INT_20250101)"
    );
    assert!(
        stderr.contains("listed concepts and their IS-A subtypes (release INT_20250101)"),
        "{stderr}"
    );
    assert!(bundles.contains("listed concepts and their IS-A subtypes"));
    assert_bundles_valid(&out);

    // Without it: the same subtypes are not caught (the release is what withholds them),
    // and every place the operator looks says only exact matches were checked.
    let out = dir.path().join("without");
    let o = convert_permit_all_loud(&input, &out, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let audit = read_ndjson(&out.join("audit.ndjson"));
    for name in &inputs.dissent_files {
        assert_eq!(file_line(&audit, name)["status"], "converted", "{name}");
    }
    let bundles = bundles_text(&out);
    assert!(
        inputs
            .withheld_ids
            .iter()
            .any(|id| bundles.contains(id.as_str())),
        "no subtype item shared without the release: the test would not bite"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["exclusion_refsets"]["subtypes"],
        "only exact matches and Read v2/CTV3 prefixes were checked"
    );
    assert!(
        stderr.contains("only exact matches and Read v2/CTV3 prefixes were checked"),
        "{stderr}"
    );
    assert!(bundles.contains("only exact matches and Read v2/CTV3 prefixes were checked"));
    let report = run(&["report", out.to_str().unwrap()]);
    assert_eq!(report.status.code(), Some(0));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("only exact matches and Read v2/CTV3 prefixes were checked"));
}

#[test]
fn an_inactive_is_a_or_another_relationship_does_not_make_a_concept_sensitive() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    // 999104005: its IS-A to syphilis is inactive; 999111009: a finding-site relationship
    // to syphilis, not IS-A; 999101002: syphilis's parent. Placed where a sensitive code
    // would withhold the item, so a wrong closure would show as a withheld item.
    let codes = ["999104005", "999111009", "999101002"];
    let mut ids = Vec::new();
    for (k, code) in codes.iter().enumerate() {
        let marker = Marker::SensitiveSnomed(0);
        let pos = XmlPos::Code;
        let g = xml_extract(1, &[Placement { pos, marker }], 700 + k as u32);
        let bytes = String::from_utf8(g.bytes)
            .unwrap()
            .replace("76272004", code);
        std::fs::write(input.join(format!("n{k}.xml")), bytes).unwrap();
        ids.extend(g.withheld_ids);
    }
    let out = dir.path().join("out");
    let o = convert_permit_all(&input, &out, &["--snomed", RELEASE]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let audit = read_ndjson(&out.join("audit.ndjson"));
    assert!(
        !audit.iter().any(|l| l["reason"] == "sensitive-code"),
        "{audit:?}"
    );
    let bundles = bundles_text(&out);
    for code in codes {
        assert!(bundles.contains(code), "{code} not shared");
    }
}

#[test]
fn a_release_supplies_the_display_of_a_snomed_coding() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    // A benign coded diagnosis: 73211009 in the code position, with a source display that
    // must not be used (the default `displays: terminology`).
    let g = xml_extract(
        1,
        &[Placement {
            pos: XmlPos::Code,
            marker: Marker::SensitiveSnomed(0),
        }],
        800,
    );
    let text = String::from_utf8(g.bytes)
        .unwrap()
        .replace("76272004", "73211009");
    assert!(text.contains("73211009"));
    std::fs::write(input.join("dm.xml"), text).unwrap();
    let display_of = |out: &Path| -> Vec<String> {
        let b: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("bundles/dm.json")).unwrap()).unwrap();
        let mut found = Vec::new();
        fn walk(v: &serde_json::Value, found: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(o) => {
                    if o.get("code").and_then(|c| c.as_str()) == Some("73211009") {
                        found.push(
                            o.get("display")
                                .and_then(|d| d.as_str())
                                .unwrap_or("")
                                .to_string(),
                        );
                    }
                    o.values().for_each(|x| walk(x, found));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, found)),
                _ => {}
            }
        }
        walk(&b, &mut found);
        found
    };
    let with = dir.path().join("with");
    let o = convert_permit_all(&input, &with, &["--snomed", RELEASE]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(display_of(&with), vec!["Diabetes mellitus".to_string()]);
    // Without a release 73211009 is in no code list and no tag classifies it: withheld,
    // so no display either.
    let without = dir.path().join("without");
    let o = convert_permit_all(&input, &without, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(display_of(&without).is_empty());
    assert!(!bundles_text(&without).contains("Diabetes mellitus"));
}
