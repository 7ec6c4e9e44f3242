//! Issues 13 and 24, end to end through the binary: extracts of both formats with a marker
//! (a sensitive code under a system alias, a dissent code, a text string) at every position
//! listed in `tests/e2e/common/positions.rs`, converted in one run; no marker may appear in any
//! output file or printed line, and every dissent withholds its patient.

use crate::common;
use common::positions::*;
use common::*;

#[test]
fn no_marker_in_any_output_file_or_printed_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let out = dir.path().join("out");
    std::fs::create_dir(&input).unwrap();
    let mut forbidden = Vec::new();
    let mut dissent_files = Vec::new();
    let mut k = 0usize;
    let markers = |i: usize| {
        let mut v = vec![
            Marker::SensitiveSnomed(i),
            Marker::SensitiveRead(i),
            Marker::DissentSnomed(i),
            Marker::DissentRead(i),
        ];
        v.extend(TEXT_POSITIONS.map(Marker::Text));
        v
    };
    for (i, pos) in XML_POSITIONS.into_iter().enumerate() {
        for marker in markers(i) {
            if marker.sensitive() && !xml_has_victim(pos) {
                continue;
            }
            let g = xml_extract(2, &[Placement { pos, marker }], 100 + k as u32);
            let name = format!("x{k:04}.xml");
            std::fs::write(input.join(&name), &g.bytes).unwrap();
            forbidden.extend(g.forbidden.clone());
            if g.dissent {
                dissent_files.push(name);
            }
            k += 1;
        }
    }
    for (i, pos) in JSON_POSITIONS.into_iter().enumerate() {
        for marker in markers(i) {
            if marker.sensitive() && !json_has_victim(pos) {
                continue;
            }
            let g = gpconnect_extract(2, &[Placement { pos, marker }], 100 + k as u32);
            let name = format!("j{k:04}.json");
            std::fs::write(input.join(&name), &g.bytes).unwrap();
            forbidden.extend(g.forbidden.clone());
            if g.dissent {
                dissent_files.push(name);
            }
            k += 1;
        }
    }
    let o = convert_permit_all(&input, &out, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report = run(&["report", out.to_str().unwrap()]);
    assert_eq!(report.status.code(), Some(0));
    let mut printed = String::from_utf8_lossy(&o.stdout).into_owned();
    printed.push_str(&String::from_utf8_lossy(&o.stderr));
    printed.push_str(&String::from_utf8_lossy(&report.stdout));
    printed.push_str(&String::from_utf8_lossy(&report.stderr));
    let files = files_under(&out);
    assert!(files.len() > 10);
    forbidden.sort();
    forbidden.dedup();
    for f in &forbidden {
        assert!(!printed.contains(f.as_str()), "{f:?} printed");
        for (name, bytes) in &files {
            assert!(
                !String::from_utf8_lossy(bytes).contains(f.as_str()),
                "{f:?} in {name}"
            );
        }
    }
    let audit = read_ndjson(&out.join("audit.ndjson"));
    for name in &dissent_files {
        let line = audit
            .iter()
            .find(|l| l["kind"] == "file" && l["input"].as_str().is_some_and(|i| i.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} not audited"));
        assert_eq!(line["status"], "withheld", "{name}");
        assert_eq!(line["reason"], "dissent-recorded", "{name}");
    }
    assert!(dissent_files.len() > 50, "{}", dissent_files.len());
    assert_bundles_valid(&out);
}
