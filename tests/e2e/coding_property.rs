//! Property tests (issues 13 and 24, codes): a marker (a sensitive code under any system
//! alias, a dissent code, a text string) at any coded or text-bearing position of a generated
//! extract, in both formats. The positions are listed once, in `tests/e2e/common/positions.rs`;
//! `tests/e2e/coding_positions.rs` runs every combination through the binary.

use migx::consent::{ConsentBook, ConsentDecision};
use migx::pipeline::{convert_file, ConvertSettings, Status};
use migx::policy::Policy;
use proptest::prelude::*;
use std::sync::Arc;

fn settings() -> ConvertSettings {
    let policy = Arc::new(Policy::embedded_default().unwrap());
    let consent = Arc::new(ConsentBook::all(ConsentDecision::Permit, "Y02345", "TREAT"));
    let mut s = ConvertSettings::new(policy, consent);
    s.run_permitted_requesters = vec!["Y02345".into()];
    s
}

// ---------------------------------------------------------------------------------------
// Issue 13/24: a marker (a sensitive code under any alias, a dissent code, a text string) at
// any coded or text-bearing position of a generated extract, in both formats. The positions
// are listed once, in `tests/e2e/common/positions.rs`.

use crate::common;
use common::positions::{
    all_markers, gpconnect_extract, json_has_victim, xml_extract, xml_has_victim, Generated,
    JsonPos, Marker, Placement, XmlPos, JSON_POSITIONS, XML_POSITIONS,
};
use migx::pipeline::admission::PatientWithheld;

/// Convert one generated extract and check the property: no forbidden string in anything
/// convert produces; a dissent anywhere withholds the patient; items carrying a sensitive
/// code are not in the bundle; benign items are.
fn check_generated(g: &Generated, file: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    std::fs::write(&path, &g.bytes).unwrap();
    let c = convert_file(&path, &settings());
    let bundle = c
        .bundle
        .as_ref()
        .map(|b| serde_json::to_string(b).unwrap())
        .unwrap_or_default();
    let everything = format!("{bundle}\n{:?}\n{:?}\n{:?}", c.items, c.error, c.withheld);
    for f in &g.forbidden {
        prop_assert!(!everything.contains(f.as_str()), "{:?} got out", f);
    }
    if g.dissent {
        prop_assert_eq!(c.status, Status::Withheld, "{:?}", c.error);
        prop_assert_eq!(c.withheld, Some(PatientWithheld::DissentRecorded));
        return Ok(());
    }
    prop_assert_eq!(
        c.status,
        Status::Converted,
        "{:?} {:?}",
        c.error,
        c.withheld
    );
    for id in &g.withheld_ids {
        prop_assert!(
            !bundle.contains(id.as_str()),
            "sensitive item {} shared",
            id
        );
    }
    for id in &g.shared_ids {
        prop_assert!(bundle.contains(id.as_str()), "benign item {} missing", id);
    }
    Ok(())
}

fn xml_placement() -> impl Strategy<Value = Placement<XmlPos>> {
    (
        proptest::sample::select(XML_POSITIONS.to_vec()),
        proptest::sample::select(all_markers()),
    )
        .prop_map(|(pos, marker)| {
            let pos = if marker.sensitive() && !xml_has_victim(pos) {
                XmlPos::Code
            } else {
                pos
            };
            Placement { pos, marker }
        })
}

fn json_placement() -> impl Strategy<Value = Placement<JsonPos>> {
    (
        proptest::sample::select(JSON_POSITIONS.to_vec()),
        proptest::sample::select(all_markers()),
    )
        .prop_map(|(pos, marker)| {
            let pos = if marker.sensitive() && !json_has_victim(pos) {
                JsonPos::ObsCode
            } else {
                pos
            };
            Placement { pos, marker }
        })
}

/// Cases per run: 256 by default (CI); `MIGX_PROPTEST_CASES` runs more locally.
fn cases() -> u32 {
    std::env::var("MIGX_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), .. ProptestConfig::default() })]

    #[test]
    fn a_marker_at_any_xml_position_never_gets_out(
        placements in proptest::collection::vec(xml_placement(), 1..4),
        benign in 0usize..3,
        salt in 1u32..0xFFFF,
    ) {
        let g = xml_extract(placements.len() + benign, &placements, salt);
        check_generated(&g, "x.xml")?;
    }

    #[test]
    fn a_marker_at_any_gp_connect_position_never_gets_out(
        placements in proptest::collection::vec(json_placement(), 1..4),
        benign in 0usize..3,
        salt in 1u32..0xFFFF,
    ) {
        let g = gpconnect_extract(placements.len() + benign, &placements, salt);
        check_generated(&g, "x.json")?;
    }
}

/// Every position with every marker, deterministically (the random runs above sample it).
#[test]
fn every_position_with_every_marker() {
    let mut n = 0;
    let mut failures = Vec::new();
    for marker in all_markers() {
        for pos in XML_POSITIONS {
            if marker.sensitive() && !xml_has_victim(pos) {
                continue;
            }
            let g = xml_extract(2, &[Placement { pos, marker }], 7);
            if let Err(e) = check_generated(&g, "x.xml") {
                failures.push(format!("XML {pos:?} {marker:?}: {e}"));
            }
            n += 1;
        }
        for pos in JSON_POSITIONS {
            if marker.sensitive() && !json_has_victim(pos) {
                continue;
            }
            let g = gpconnect_extract(2, &[Placement { pos, marker }], 7);
            if let Err(e) = check_generated(&g, "x.json") {
                failures.push(format!("STU3 {pos:?} {marker:?}: {e}"));
            }
            n += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(n > 500, "{n}");
    let _ = Marker::Text;
}
