//! Issue 13.7: no patient data where the operator looks. Raw non-UUID source ids never
//! reach `audit.ndjson` or `explain` (the bundle's derived id is shown instead), element
//! names in errors come only from migx's vocabulary, and `migx validate` masks values,
//! resource ids and object keys in every report format.

use crate::common;
use common::*;
use serde_json::json;

const SECRET_NHS: &str = "9434765919";
const SECRET_NAME: &str = "smithson";

/// Fixture 02 with every source id rewritten to hold an NHS number and a surname.
fn pathology_with_revealing_ids() -> Vec<u8> {
    let src =
        std::fs::read_to_string(root().join("fixtures/extracts/02-pathology-report.xml")).unwrap();
    let mut out = String::new();
    let mut n = 0;
    let mut rest = src.as_str();
    // Replace each `<id root="UUID"/>` of a statement by a revealing non-UUID id.
    while let Some(i) = rest.find("<id root=\"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 10..];
        let end = after.find('"').unwrap();
        let root = &after[..end];
        if root.len() == 36 {
            out.push_str(&format!(
                "<id root=\"{SECRET_NHS}.{n}\" extension=\"{SECRET_NAME}\""
            ));
            n += 1;
        } else {
            out.push_str(&format!("<id root=\"{root}\""));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    assert!(n > 3);
    out.into_bytes()
}

#[test]
fn audit_and_explain_never_show_raw_source_ids() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let file = input.join("p.xml");
    std::fs::write(&file, pathology_with_revealing_ids()).unwrap();
    let out = dir.path().join("out");
    let o = convert_permit_all(&input, &out, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let audit = std::fs::read_to_string(out.join("audit.ndjson")).unwrap();
    let items: Vec<_> = read_ndjson(&out.join("audit.ndjson"))
        .into_iter()
        .filter(|l| l["kind"] != "file")
        .collect();
    assert!(!items.is_empty());
    for l in &items {
        let id = l["source_id"].as_str().unwrap();
        assert_eq!(id.len(), 36, "{id}");
    }
    let e = run(&[
        "explain",
        file.to_str().unwrap(),
        "--consent-all",
        "permit",
        "--requester",
        "Y02345",
        "--permit-requester",
        "Y02345",
        "--allow-test-identities",
    ]);
    let explain = String::from_utf8_lossy(&e.stdout).into_owned();
    assert!(explain.contains("withheld"), "{explain}");
    for text in [
        &audit,
        &explain,
        &String::from_utf8_lossy(&o.stderr).into_owned(),
    ] {
        assert!(!text.contains(SECRET_NHS), "{text}");
        assert!(!text.to_lowercase().contains(SECRET_NAME), "{text}");
    }
    // The audit names the same id the bundle gives the resource.
    let bundle = std::fs::read_to_string(
        out.join("bundles")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    let shared_text = read_ndjson(&out.join("audit.ndjson"))
        .into_iter()
        .find(|l| l["kind"] == "text")
        .expect("a shared item with text removed");
    assert!(bundle.contains(shared_text["source_id"].as_str().unwrap()));
}

#[test]
fn element_names_from_the_input_never_appear_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let hostile = [
        // Mismatched end tag named after a patient.
        format!(
            r#"<RCMR_IN030000UK06 xmlns="urn:hl7-org:v3"><Smithson{SECRET_NHS}></Other></RCMR_IN030000UK06>"#
        ),
        // Truncated inside a patient-named element.
        format!(r#"<RCMR_IN030000UK06 xmlns="urn:hl7-org:v3"><Smithson{SECRET_NHS}>"#),
        // An undeclared prefix named after a patient.
        format!(
            r#"<RCMR_IN030000UK06 xmlns="urn:hl7-org:v3"><smithson{SECRET_NHS}:x/></RCMR_IN030000UK06>"#
        ),
        // An unknown root.
        format!(r#"<Smithson{SECRET_NHS} xmlns="urn:hl7-org:v3"/>"#),
        // Too many attributes on a patient-named element.
        format!(
            r#"<RCMR_IN030000UK06 xmlns="urn:hl7-org:v3"><Smithson{SECRET_NHS} {}/></RCMR_IN030000UK06>"#,
            (0..300)
                .map(|i| format!("a{i}=\"1\""))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        // A declared encoding named after a patient.
        format!(
            r#"<?xml version="1.0" encoding="Smithson{SECRET_NHS}"?><RCMR_IN030000UK06 xmlns="urn:hl7-org:v3"/>"#
        ),
    ];
    for (i, doc) in hostile.iter().enumerate() {
        std::fs::write(input.join(format!("h{i}.xml")), doc).unwrap();
    }
    let out = dir.path().join("out");
    let o = convert_permit_all(&input, &out, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let audit = std::fs::read_to_string(out.join("audit.ndjson")).unwrap();
    let files: Vec<_> = read_ndjson(&out.join("audit.ndjson"))
        .into_iter()
        .filter(|l| l["kind"] == "file")
        .collect();
    assert_eq!(files.len(), hostile.len());
    assert!(files.iter().all(|l| l["status"] == "rejected"), "{audit}");
    for text in [&stderr, &audit] {
        assert!(!text.contains(SECRET_NHS), "{text}");
        assert!(!text.to_lowercase().contains(SECRET_NAME), "{text}");
    }
}

#[test]
fn validate_reports_mask_values_ids_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("b.json");
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": format!("urn:uuid:{SECRET_NHS}"), "resource": {
            "resourceType": "Patient", "id": SECRET_NHS, "gender": "Smithson Jane",
            "birthDate": SECRET_NHS,
            "active": 4242421,
            SECRET_NAME: {"x": 1},
            "name": [{"family": 7}]
        }}
    ]});
    std::fs::write(&f, serde_json::to_vec(&bundle).unwrap()).unwrap();
    for format in ["text", "json", "junit"] {
        let o = run(&["validate", f.to_str().unwrap(), "--report", format]);
        assert_eq!(o.status.code(), Some(1), "{format}");
        let report = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(report.contains("masked"), "{format}: {report}");
        assert!(report.contains("*******919"), "{format}: {report}");
        assert!(!report.contains(SECRET_NHS), "{format}: {report}");
        assert!(
            !report.to_lowercase().contains(SECRET_NAME),
            "{format}: {report}"
        );
        assert!(!report.contains("Jane"), "{format}: {report}");
        assert!(!report.contains("4242421"), "{format}: {report}");
    }
}
