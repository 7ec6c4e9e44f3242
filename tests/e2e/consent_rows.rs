//! Issue 13.5: consent rows in the forms spreadsheets write, end to end in both input
//! formats. A later `deny` whose NHS number carries a spreadsheet form is read and withholds
//! the patient; a row whose NHS number cannot be read leaves no disclosure standing.

use crate::common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Input file name -> (status, reason) for every file line of the audit.
fn outcomes(out: &Path) -> BTreeMap<String, (String, String)> {
    read_ndjson(&out.join("audit.ndjson"))
        .into_iter()
        .filter(|l| l["kind"] == "file")
        .map(|l| {
            let input = l["input"].as_str().unwrap_or_default();
            let name = Path::new(input)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                name,
                (
                    l["status"].as_str().unwrap_or_default().to_string(),
                    l["reason"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

/// Convert the XML fixture 01 (patient 9990000018) and the STU3 fixture (9000000009) with a
/// consent file holding a permit for each and then `later`; returns outcomes and stderr.
fn run_with(later: &str) -> (BTreeMap<String, (String, String)>, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(
        root().join("fixtures/extracts/01-core-shared.xml"),
        input.join("a.xml"),
    )
    .unwrap();
    std::fs::copy(
        root().join("fixtures/gpconnect/record.json"),
        input.join("b.json"),
    )
    .unwrap();
    let consent = dir.path().join("consent.csv");
    std::fs::write(
        &consent,
        format!(
            "nhs_number,decision,recorded_at,requester_ods,requester_name,purpose\n\
             9990000018,permit,2026-03-14T09:55:00+00:00,Y02345,OOH,TREAT\n\
             9000000009,permit,2024-03-05T08:50:00+00:00,Y02345,OOH,TREAT\n\
             {later}"
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = convert_with_consent(&input, &consent, &out, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    (
        outcomes(&out),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn both(status: &str, reason: &str) -> BTreeMap<String, (String, String)> {
    ["a.xml", "b.json"]
        .iter()
        .map(|n| (n.to_string(), (status.to_string(), reason.to_string())))
        .collect()
}

#[test]
fn the_permits_alone_share_both() {
    assert_eq!(run_with("").0, both("converted", ""));
}

#[test]
fn a_later_deny_in_a_spreadsheet_form_withholds_in_both_formats() {
    for (xml, json) in [
        ("'9990000018", "'9000000009"),
        ("9990000018.0", "9000000009.0"),
        ("+9990000018", "+9000000009"),
        ("\u{200B}9990000018", "9000000009\u{200D}"),
        ("\u{FEFF}9990000018", "9000\u{2060}000009"),
        ("９９９０００００１８", "９００００００００９"),
        ("  9990000018  ", "\u{00A0}9000000009"),
        ("999 000 0018", "900 000 0009"),
        ("999-000-0018", "900-000-0009"),
    ] {
        let later = format!(
            "{xml},deny,2026-03-14T09:57:00+00:00,Y02345,OOH,TREAT\n\
             {json},deny,2024-03-05T08:55:00+00:00,Y02345,OOH,TREAT\n"
        );
        let (o, stderr) = run_with(&later);
        assert_eq!(o, both("withheld", "consent-denied"), "{xml:?} {json:?}");
        assert!(!stderr.contains("warning"), "{stderr}");
    }
}

#[test]
fn an_unreadable_row_leaves_no_disclosure_standing() {
    for bad in ["9.99000E+09", "999000001", "9990000019", "99900000l8", ""] {
        let later = format!("{bad},deny,2026-03-14T09:57:00+00:00,Y02345,OOH,TREAT\n");
        let (o, stderr) = run_with(&later);
        assert_eq!(o, both("withheld", "consent-row-invalid"), "{bad:?}");
        assert!(
            stderr.contains("no record is disclosed from this file"),
            "{stderr}"
        );
        assert!(!stderr.contains("9990000019"), "{stderr}");
    }
    // A bad row for a readable patient withholds that patient only.
    let (o, stderr) = run_with("9990000018,maybe,2026-03-14T09:57:00+00:00,Y02345,OOH,TREAT\n");
    assert_eq!(
        o["a.xml"],
        ("withheld".into(), "consent-row-invalid".into())
    );
    assert_eq!(o["b.json"], ("converted".into(), String::new()));
    assert!(stderr.contains("that patient is withheld"), "{stderr}");
}
