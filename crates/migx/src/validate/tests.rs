use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::*;

fn fixture(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("fixtures/validate")
        .join(rel)
}

fn load(rel: &str) -> Value {
    let text = std::fs::read_to_string(fixture(rel)).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn brief(v: &[Violation]) -> String {
    v.iter()
        .map(|v| format!("{} [{}] {} ({:?})", v.pointer, v.rule, v.message, v.value))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn embedded_fhir_schema_is_the_published_file() {
    assert_eq!(FHIR_SCHEMA.len(), 3_365_955);
    let digest = Sha256::digest(FHIR_SCHEMA.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, FHIR_SCHEMA_SHA256);
    let parsed: Value = serde_json::from_str(FHIR_SCHEMA).unwrap();
    assert_eq!(parsed["id"], FHIR_SCHEMA_ID);
    assert_eq!(parsed["$schema"], "http://json-schema.org/draft-06/schema#");
}

#[test]
fn own_schemas_compile_and_are_valid_2020_12() {
    let own = schemas::own();
    assert!(own.bundle.is_some());
    assert!(own.resource().is_some());
    assert!(own.audit().is_some());
    assert!(own.summary().is_some());
    assert!(own.report().is_some());
    for text in [
        MIGX_BUNDLE_SCHEMA,
        AUDIT_SCHEMA,
        SUMMARY_SCHEMA,
        VALIDATE_REPORT_SCHEMA,
    ] {
        let schema: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert!(jsonschema::meta::is_valid(&schema));
    }
}

#[test]
fn valid_fixtures_pass_fhir_profile() {
    for rel in [
        "valid/bundle-migx.json",
        "valid/patient.json",
        "valid/consent.json",
    ] {
        let v = validate_value(&load(rel), Profile::Fhir);
        assert!(v.is_empty(), "{rel}:\n{}", brief(&v));
    }
}

#[test]
fn migx_bundle_passes_migx_profile() {
    let v = validate_value(&load("valid/bundle-migx.json"), Profile::Migx);
    assert!(v.is_empty(), "{}", brief(&v));
}

#[test]
fn single_resources_under_migx_profile_use_the_resource_rules() {
    let bundle = load("valid/bundle-migx.json");
    let consent = &bundle["entry"][3]["resource"];
    assert!(validate_value(consent, Profile::Migx).is_empty());
    let mut bad = consent.clone();
    bad.as_object_mut().unwrap().remove("provision");
    let v = validate_value(&bad, Profile::Migx);
    assert!(
        v.iter()
            .any(|v| v.rule == "required" && v.message.contains("provision")),
        "{}",
        brief(&v)
    );
    // AuditEvent is a FHIR resource but never part of a migx bundle.
    let audit = json!({"resourceType": "AuditEvent", "id": "11111111-1111-4111-8111-111111111111",
        "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-AuditEvent"]},
        "type": {"code": "rest"}, "recorded": "2024-01-01T00:00:00Z",
        "agent": [{"requestor": true}], "source": {"observer": {"display": "x"}}});
    assert!(validate_value(&audit, Profile::Fhir).is_empty());
    let v = validate_value(&audit, Profile::Migx);
    assert!(
        v.iter()
            .any(|v| v.pointer == "/resourceType" && v.rule == "enum"),
        "{}",
        brief(&v)
    );
}

struct Case {
    file: &'static str,
    profile: Profile,
    pointer: &'static str,
    rule: &'static str,
    entry: Option<usize>,
    resource_type: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        file: "consent-bad-status.json",
        profile: Profile::Fhir,
        pointer: "/status",
        rule: "enum",
        entry: None,
        resource_type: Some("Consent"),
    },
    Case {
        file: "consent-missing-scope.json",
        profile: Profile::Fhir,
        pointer: "",
        rule: "required",
        entry: None,
        resource_type: Some("Consent"),
    },
    Case {
        file: "patient-unknown-property.json",
        profile: Profile::Fhir,
        pointer: "",
        rule: "additionalProperties",
        entry: None,
        resource_type: Some("Patient"),
    },
    Case {
        file: "patient-bad-date.json",
        profile: Profile::Fhir,
        pointer: "/birthDate",
        rule: "pattern",
        entry: None,
        resource_type: Some("Patient"),
    },
    Case {
        file: "patient-wrong-type.json",
        profile: Profile::Fhir,
        pointer: "/active",
        rule: "type",
        entry: None,
        resource_type: Some("Patient"),
    },
    Case {
        file: "unknown-resource-type.json",
        profile: Profile::Fhir,
        pointer: "/resourceType",
        rule: "resourceType",
        entry: None,
        resource_type: Some("Spaceship"),
    },
    Case {
        file: "bundle-consent-bad-status.json",
        profile: Profile::Fhir,
        pointer: "/entry/3/resource/status",
        rule: "enum",
        entry: Some(3),
        resource_type: Some("Consent"),
    },
    Case {
        file: "bundle-observation-bad-date.json",
        profile: Profile::Fhir,
        pointer: "/entry/7/resource/effectiveDateTime",
        rule: "pattern",
        entry: Some(7),
        resource_type: Some("Observation"),
    },
    Case {
        file: "bundle-consent-missing-status.json",
        profile: Profile::Migx,
        pointer: "/entry/3/resource",
        rule: "required",
        entry: Some(3),
        resource_type: Some("Consent"),
    },
    Case {
        file: "bundle-missing-type.json",
        profile: Profile::Migx,
        pointer: "",
        rule: "required",
        entry: None,
        resource_type: Some("Bundle"),
    },
    Case {
        file: "bundle-consent-no-provision.json",
        profile: Profile::Migx,
        pointer: "/entry/3/resource",
        rule: "required",
        entry: Some(3),
        resource_type: Some("Consent"),
    },
    Case {
        file: "bundle-duplicate-fullurl.json",
        profile: Profile::Migx,
        pointer: "/entry/8/fullUrl",
        rule: "fullUrl-unique",
        entry: Some(8),
        resource_type: Some("Bundle"),
    },
    Case {
        file: "bundle-condition-bad-identifier.json",
        profile: Profile::Migx,
        pointer: "/entry/6/resource/identifier",
        rule: "contains",
        entry: Some(6),
        resource_type: Some("Condition"),
    },
    // Issue 16 (UK Core 2.0).
    Case {
        file: "bundle-list-nocontent.json",
        profile: Profile::Migx,
        pointer: "/entry/8/resource/emptyReason/coding/0",
        rule: "anyOf",
        entry: Some(8),
        resource_type: Some("List"),
    },
    // Issue 16 (UK Core 2.0).
    Case {
        file: "bundle-list-warning-valuecode.json",
        profile: Profile::Migx,
        pointer: "/entry/8/resource/extension/0/valueCode",
        rule: "not",
        entry: Some(8),
        resource_type: Some("List"),
    },
    // Issue 16 (UK Core 2.0).
    Case {
        file: "bundle-list-warned-no-content-recorded.json",
        profile: Profile::Migx,
        pointer: "/entry/8/resource/emptyReason/coding/0",
        rule: "not",
        entry: Some(8),
        resource_type: Some("List"),
    },
    // Issue 16 (UK Core 2.0).
    Case {
        file: "bundle-list-code-text-only.json",
        profile: Profile::Migx,
        pointer: "/entry/8/resource/code",
        rule: "required",
        entry: Some(8),
        resource_type: Some("List"),
    },
    // Issue 16 (UK Core 2.0).
    Case {
        file: "bundle-medicationrequest-no-substitution.json",
        profile: Profile::Migx,
        pointer: "/entry/9/resource",
        rule: "required",
        entry: Some(9),
        resource_type: Some("MedicationRequest"),
    },
    // Issue 16 (UK Core 2.0).
    Case {
        file: "bundle-observation-interpretation-local.json",
        profile: Profile::Migx,
        pointer: "/entry/7/resource/interpretation/0/coding",
        rule: "contains",
        entry: Some(7),
        resource_type: Some("Observation"),
    },
    // Issue 16 (UK Core 2.0).
    Case {
        file: "bundle-condition-problem-no-clinical-status.json",
        profile: Profile::Migx,
        pointer: "/entry/6/resource",
        rule: "required",
        entry: Some(6),
        resource_type: Some("Condition"),
    },
];

#[test]
fn invalid_fixtures_fail_with_the_expected_pointer() {
    for case in CASES {
        let value = load(&format!("invalid/{}", case.file));
        let v = validate_value(&value, case.profile);
        let hit = v
            .iter()
            .find(|v| v.pointer == case.pointer && v.rule == case.rule);
        let Some(hit) = hit else {
            panic!(
                "{}: expected {} [{}], got:\n{}",
                case.file,
                case.pointer,
                case.rule,
                brief(&v)
            );
        };
        assert_eq!(hit.entry, case.entry, "{}", case.file);
        assert_eq!(
            hit.resource_type.as_deref(),
            case.resource_type,
            "{}",
            case.file
        );
        assert!(!hit.message.is_empty());
        // Under the FHIR profile, the migx-only failures are valid FHIR.
        if case.profile == Profile::Migx {
            let fhir = validate_value(&value, Profile::Fhir);
            assert!(
                fhir.is_empty(),
                "{} is valid FHIR:\n{}",
                case.file,
                brief(&fhir)
            );
        }
    }
}

#[test]
fn violation_details_are_useful_and_truncated() {
    let v = validate_value(
        &load("invalid/bundle-consent-bad-status.json"),
        Profile::Fhir,
    );
    assert_eq!(v.len(), 1, "{}", brief(&v));
    let v = &v[0];
    assert_eq!(
        v.resource_id.as_deref(),
        Some("44444444-4444-4444-8444-444444444444")
    );
    assert_eq!(v.value.as_deref(), Some("\"bogus\""));
    assert!(v.message.contains("not one of"), "{}", v.message);
    assert!(
        !v.message.contains("bogus"),
        "message echoes the value: {}",
        v.message
    );

    let long = "x".repeat(500);
    let v = validate_value(
        &json!({"resourceType": "Patient", "gender": long}),
        Profile::Fhir,
    );
    assert_eq!(v.len(), 1);
    let shown = v[0].value.as_deref().unwrap();
    assert!(shown.chars().count() <= MAX_VALUE_CHARS + 1, "{shown}");
    assert!(shown.ends_with('…'));
    assert!(v[0].message.len() <= 300 + 3);

    // Whole objects are never echoed.
    let v = validate_value(
        &json!({"resourceType": "Patient", "gender": {"name": "Jane Doe"}}),
        Profile::Fhir,
    );
    assert!(!v.is_empty());
    assert!(v.iter().all(|v| v.value.is_none()), "{}", brief(&v));
    assert!(v.iter().all(|v| !v.message.contains("Jane")));

    // Pattern failures name the FHIR primitive instead of printing the regex.
    let v = validate_value(&load("invalid/patient-bad-date.json"), Profile::Fhir);
    assert_eq!(v[0].message, "value is not a valid FHIR date");
}

#[test]
fn non_objects_and_missing_resource_type_are_errors() {
    let v = validate_value(&json!([1, 2]), Profile::Fhir);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule, "type");
    let v = validate_value(&json!({"id": "x"}), Profile::Fhir);
    assert_eq!(v[0].pointer, "/resourceType");
    let v = validate_value(
        &json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Nope"}}]}),
        Profile::Fhir,
    );
    assert_eq!(v.len(), 1, "{}", brief(&v));
    assert_eq!(v[0].pointer, "/entry/0/resource/resourceType");
    assert_eq!(v[0].entry, Some(0));
}

#[test]
fn bundle_shell_is_checked() {
    let v = validate_value(
        &json!({"resourceType": "Bundle", "type": "nonsense", "entry": [{"fullUrl": 7}]}),
        Profile::Fhir,
    );
    let pointers: Vec<_> = v.iter().map(|v| v.pointer.as_str()).collect();
    assert!(pointers.contains(&"/type"), "{}", brief(&v));
    assert!(pointers.contains(&"/entry/0/fullUrl"), "{}", brief(&v));
}

#[test]
fn nested_bundles_are_checked_entry_by_entry() {
    let inner = json!({"resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "gender": "bogus"}}]});
    let outer =
        json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": inner}]});
    let v = validate_value(&outer, Profile::Fhir);
    assert_eq!(v.len(), 1, "{}", brief(&v));
    assert_eq!(v[0].pointer, "/entry/0/resource/entry/0/resource/gender");
    assert_eq!(v[0].entry, Some(0));
    assert_eq!(v[0].resource_type.as_deref(), Some("Patient"));
}

#[test]
fn validation_is_thread_safe() {
    let bundle = load("valid/bundle-migx.json");
    let bad = load("invalid/bundle-consent-bad-status.json");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20 {
                    assert!(validate_value(&bundle, Profile::Migx).is_empty());
                    assert_eq!(validate_value(&bad, Profile::Fhir).len(), 1);
                }
            });
        }
    });
}

fn opts(paths: Vec<PathBuf>, profile: Profile) -> ValidateOptions {
    ValidateOptions {
        paths,
        profile,
        jobs: 2,
        max_errors_per_file: 50,
        ..ValidateOptions::default()
    }
}

#[test]
fn validate_paths_walks_folders_sorted() {
    let report = validate_paths(&opts(vec![fixture("valid")], Profile::Fhir));
    let names: Vec<_> = report
        .files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "bundle-migx.json",
            "consent.json",
            "patient.json",
            "resources.ndjson"
        ]
    );
    assert!(report.is_valid(), "{}", render_text(&report));
    assert_eq!(report.files[3].resources, 3);
    assert_eq!(report.exit_code(), 0);

    let report = validate_paths(&opts(vec![fixture("invalid")], Profile::Fhir));
    let mut sorted = report
        .files
        .iter()
        .map(|f| f.path.clone())
        .collect::<Vec<_>>();
    sorted.sort();
    assert_eq!(
        sorted,
        report
            .files
            .iter()
            .map(|f| f.path.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn ndjson_line_that_is_not_json_reports_its_line() {
    let report = validate_paths(&opts(
        vec![fixture("invalid/lines-not-json.ndjson")],
        Profile::Fhir,
    ));
    let file = &report.files[0];
    assert_eq!(file.resources, 3);
    assert_eq!(file.violation_count, 2, "{}", render_text(&report));
    assert_eq!(file.findings[0].line, Some(2));
    assert_eq!(file.findings[0].violation.rule, "json");
    assert!(file.findings[0].column.is_some());
    // Line 3 is JSON but gender is not a FHIR code value.
    assert_eq!(file.findings[1].line, Some(3));
    assert_eq!(file.findings[1].violation.pointer, "/gender");
    let text = render_text(&report);
    assert!(text.contains("line 2"), "{text}");
}

#[test]
fn non_json_file_is_invalid_with_position() {
    let report = validate_paths(&opts(vec![fixture("invalid/not-json.json")], Profile::Fhir));
    let f = &report.files[0].findings[0];
    assert_eq!(f.violation.rule, "json");
    assert_eq!(f.line, Some(1));
    assert!(f.column.is_some_and(|c| c <= 2), "{f:?}");
    assert!(!f.violation.message.contains("this is not"));
}

#[test]
fn unreadable_and_empty_files_are_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.json"), "").unwrap();
    std::fs::write(dir.path().join("skip.txt"), "ignored in folders").unwrap();
    std::fs::create_dir(dir.path().join("sub.json")).unwrap(); // a folder named *.json
    let report = validate_paths(&opts(vec![dir.path().to_path_buf()], Profile::Fhir));
    assert_eq!(report.files.len(), 1, "{}", render_text(&report));
    assert_eq!(report.files[0].findings[0].violation.message, "empty file");
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn max_errors_per_file_caps_findings_but_counts_all() {
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..30)
        .map(|i| format!("{{\"resourceType\":\"Patient\",\"id\":\"p{i}\",\"gender\":\"x\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("many.ndjson"), lines).unwrap();
    let mut o = opts(vec![dir.path().to_path_buf()], Profile::Fhir);
    o.max_errors_per_file = 5;
    let report = validate_paths(&o);
    assert_eq!(report.files[0].violation_count, 30);
    assert_eq!(report.files[0].findings.len(), 5);
    assert!(render_text(&report).contains("... and 25 more"));
    o.max_errors_per_file = 100;
    let report = validate_paths(&o);
    assert!(render_text(&report).contains("... and 10 more"));
}

#[test]
fn json_report_matches_its_schema() {
    let mut o = opts(vec![fixture("valid"), fixture("invalid")], Profile::Fhir);
    o.jobs = 1;
    let result = validate_paths(&o);
    assert_eq!(result.exit_code(), 1);
    let report: Value = serde_json::from_str(&render(&result, ReportFormat::Json)).unwrap();
    let v = validate_report_json(&report);
    assert!(v.is_empty(), "{}", brief(&v));
    assert_eq!(report["valid"], false);
    // The migx-only failures are valid under the FHIR profile (8, the 7 UK Core cases of
    // issue 16, and bundle-duplicate-fullurl.json of issue 13.9).
    assert_eq!(report["files_valid"], 16);
    let ndjson = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["path"]
                .as_str()
                .unwrap()
                .ends_with("lines-not-json.ndjson")
        })
        .unwrap();
    assert_eq!(ndjson["violations"][0]["line"], 2);
}

#[test]
fn junit_report_is_well_formed_xml() {
    use quick_xml::events::Event;
    let dir = tempfile::tempdir().unwrap();
    // A file name and content full of XML metacharacters.
    let nasty = dir.path().join("a&b<c>\"d'.json");
    std::fs::write(
        &nasty,
        r#"{"resourceType":"Patient","gender":"<&]]>\u0001"}"#,
    )
    .unwrap();
    std::fs::copy(fixture("valid/patient.json"), dir.path().join("ok.json")).unwrap();
    std::fs::copy(
        fixture("invalid/lines-not-json.ndjson"),
        dir.path().join("lines.ndjson"),
    )
    .unwrap();
    let report = validate_paths(&opts(vec![dir.path().to_path_buf()], Profile::Fhir));
    let xml = render_junit(&report);
    let mut reader = quick_xml::Reader::from_str(&xml);
    reader.config_mut().check_end_names = true;
    let (mut testcases, mut failures) = (0, 0);
    let mut names = Vec::new();
    let mut failure_text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let name = e.name().into_inner().to_string();
                if name == "testcase" {
                    testcases += 1;
                    for attr in e.attributes() {
                        let attr = attr.unwrap();
                        if attr.key.into_inner() == "name" {
                            let value = attr
                                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .unwrap();
                            names.push(value.to_string());
                        }
                    }
                } else if name == "failure" {
                    failures += 1;
                }
            }
            Ok(Event::Text(t)) => failure_text.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) => {
                let c = match r.resolve_char_ref().unwrap() {
                    Some(c) => c,
                    None => match &*r.xml10_content() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => panic!("unknown entity {other:?}"),
                    },
                };
                failure_text.push(c);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("malformed JUnit XML: {e}\n{xml}"),
        }
    }
    assert_eq!(testcases, 3, "{xml}");
    assert_eq!(failures, 2, "{xml}");
    assert!(
        names.iter().any(|n| n.ends_with("a&b<c>\"d'.json")),
        "{names:?}"
    );
    assert!(failure_text.contains("line 2"), "{failure_text}");
    assert!(xml.contains("failures=\"2\""));
}

#[test]
fn audit_and_summary_schemas() {
    let good_lines = [
        json!({"kind": "file", "input": "in/a.xml", "status": "converted", "reason": null, "bundle": "bundles/a.json"}),
        json!({"kind": "file", "input": "in/b.xml", "status": "withheld", "reason": "dissent-recorded", "bundle": null}),
        json!({"kind": "file", "input": "in/c.xml", "status": "rejected", "reason": null, "bundle": null,
               "error": {"code": "malformed-xml", "message": "unexpected end of input", "line": 3, "column": 9}}),
        json!({"kind": "item", "input": "in/a.xml", "source_id": "abc-123", "element": "ObservationStatement",
               "category": "tests", "reason": "sensitive-code"}),
        json!({"kind": "item", "input": "in/a.xml", "source_id": "abc-124", "element": "LinkSet",
               "category": null, "reason": "unclassified"}),
    ];
    for line in &good_lines {
        let v = validate_audit_line(line);
        assert!(v.is_empty(), "{line}\n{}", brief(&v));
    }
    let bad_lines = [
        (
            json!({"kind": "file", "input": "a", "status": "done", "reason": null, "bundle": null}),
            "/status",
        ),
        (
            json!({"kind": "file", "input": "a", "status": "rejected", "reason": null, "bundle": null}),
            "",
        ),
        (
            json!({"kind": "item", "input": "a", "source_id": "x", "element": "E", "category": "nope", "reason": "free-text"}),
            "/category",
        ),
        (
            json!({"kind": "item", "input": "a", "source_id": "x", "element": "E", "category": null, "reason": "free-text", "text": "clinical"}),
            "",
        ),
        (json!({"kind": "other"}), "/kind"),
    ];
    for (line, pointer) in &bad_lines {
        let v = validate_audit_line(line);
        assert!(
            v.iter().any(|v| v.pointer == *pointer),
            "{line}\n{}",
            brief(&v)
        );
    }
    let summary = json!({
        "migx_version": "0.1.0", "policy_sha256": "0".repeat(64),
        "inputs": 3, "converted": 1, "withheld": 1, "rejected": 1,
        "file_reasons": {"dissent-recorded": 1}, "error_codes": {"malformed-xml": 1},
        "items_shared": {"problems": 4, "risks-warnings": 1}, "items_withheld": {"sensitive-code": 2}
    });
    assert!(
        validate_summary(&summary).is_empty(),
        "{}",
        brief(&validate_summary(&summary))
    );
    let mut bad = summary.clone();
    bad["items_shared"]["gossip"] = json!(1);
    bad["inputs"] = json!(-1);
    let v = validate_summary(&bad);
    assert!(v.iter().any(|v| v.pointer == "/inputs"), "{}", brief(&v));
    assert!(
        v.iter().any(|v| v.pointer.starts_with("/items_shared")),
        "{}",
        brief(&v)
    );
}

/// The same verdicts as Python's `jsonschema` (Draft6Validator on the whole FHIR schema,
/// Draft202012Validator on migx-bundle.schema.json) for every JSON fixture.
#[test]
fn agrees_with_python_jsonschema() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output();
    if !matches!(probe, Ok(ref o) if o.status.success()) {
        eprintln!(
            "SKIP agrees_with_python_jsonschema: python3 with the `jsonschema` package is not \
             available (pip install jsonschema)"
        );
        return;
    }
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root.join("fixtures/validate"))
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).is_ok())
        .collect();
    files.sort();
    assert!(files.len() >= 15);
    let script = r#"
import json, sys, jsonschema
root = sys.argv[1]
fhir = jsonschema.Draft6Validator(json.load(open(root + "/schemas/fhir.schema.json")))
migx = jsonschema.Draft202012Validator(json.load(open(root + "/schemas/migx-bundle.schema.json")))
out = {}
for path in sys.argv[2:]:
    doc = json.load(open(path))
    f = fhir.is_valid(doc)
    m = f and (doc.get("resourceType") != "Bundle" or migx.is_valid(doc))
    out[path] = [f, m]
print(json.dumps(out))
"#;
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(root)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut checked = 0;
    for path in &files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let key = path.to_string_lossy();
        let py = &verdicts[key.as_ref()];
        let fhir_ok = validate_value(&doc, Profile::Fhir).is_empty();
        assert_eq!(
            py[0].as_bool(),
            Some(fhir_ok),
            "FHIR verdict differs for {key}"
        );
        if doc["resourceType"] == "Bundle" {
            // Cross-entry rules (links.rs) cannot be written in JSON Schema: Python judges
            // the schema part only.
            let cross_entry = [
                "fullUrl",
                "fullUrl-unique",
                "reference",
                "provenance-target",
            ];
            let migx_ok = validate_value(&doc, Profile::Migx)
                .iter()
                .all(|v| cross_entry.contains(&v.rule.as_str()));
            assert_eq!(
                py[1].as_bool(),
                Some(migx_ok),
                "migx verdict differs for {key}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, files.len());
}

/// Throughput: `cargo test --release -- --ignored --nocapture validate_throughput`.
#[test]
#[ignore]
fn validate_throughput() {
    let base = load("valid/bundle-migx.json");
    // A bundle of ~1 MB: the fixture's clinical entries repeated.
    let mut big = base.clone();
    let entries = big["entry"].as_array_mut().unwrap();
    let templates: Vec<Value> = entries[6..].to_vec();
    for i in 0..1500 {
        let mut e = templates[i % templates.len()].clone();
        let id = format!("{:08x}-0000-4000-8000-{:012x}", i, i);
        e["fullUrl"] = json!(format!("urn:uuid:{id}"));
        e["resource"]["id"] = json!(id);
        entries.push(e);
        // The Provenance (entry 4) targets every other entry.
        entries[4]["resource"]["target"]
            .as_array_mut()
            .unwrap()
            .push(json!({"reference": format!("urn:uuid:{id}")}));
    }
    let text = serde_json::to_string_pretty(&big).unwrap();
    let mb = text.len() as f64 / 1e6;
    let t0 = std::time::Instant::now();
    let v = validate_value(&big, Profile::Migx);
    assert!(v.is_empty(), "{}", brief(&v));
    eprintln!("first call (compiles schemas): {:?}", t0.elapsed());
    let fhir = schemas::fhir().unwrap();
    let types: Vec<String> = serde_json::from_str::<Value>(FHIR_SCHEMA).unwrap()["discriminator"]
        ["mapping"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let t = std::time::Instant::now();
    for rt in &types {
        let mut out = Vec::new();
        assert!(
            fhir.check_resource(&json!({ "resourceType": rt }), "", &mut out),
            "{rt}"
        );
    }
    eprintln!(
        "a minimal resource of each of the {} resource types (one graph: nothing to compile): {:?}",
        types.len(),
        t.elapsed()
    );
    for profile in [Profile::Fhir, Profile::Migx] {
        let rounds = 20;
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert!(validate_value(&v, profile).is_empty());
        }
        let total = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            let _v: Value = serde_json::from_str(&text).unwrap();
        }
        let parse = t.elapsed().as_secs_f64();
        eprintln!(
            "{:?}: {:.1} MB bundle, parse+validate {:.1} MB/s, parse only {:.1} MB/s (one core)",
            profile,
            mb,
            mb * rounds as f64 / total,
            mb * rounds as f64 / parse
        );
    }
    // Whole files through validate_paths (read + parse + validate), one thread.
    let dir = tempfile::tempdir().unwrap();
    let files = 40;
    for i in 0..files {
        std::fs::write(dir.path().join(format!("b{i:03}.json")), &text).unwrap();
    }
    for profile in [Profile::Fhir, Profile::Migx] {
        let mut o = opts(vec![dir.path().to_path_buf()], profile);
        o.jobs = 1;
        let t = std::time::Instant::now();
        let report = validate_paths(&o);
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(report.files.len(), files);
        assert!(report.is_valid());
        eprintln!(
            "{profile:?}: validate_paths, {files} files, {:.1} MB/s (jobs=1)",
            mb * files as f64 / secs
        );
    }
}

#[test]
fn migx_profile_messages_say_what_was_expected() {
    let bundle = load("valid/bundle-migx.json");
    let mut two_patients = bundle.clone();
    let patient = two_patients["entry"][0].clone();
    two_patients["entry"].as_array_mut().unwrap().push(patient);
    let v = validate_value(&two_patients, Profile::Migx);
    assert!(
        v.iter()
            .any(|v| v.pointer == "/entry" && v.message == "expected exactly one Patient"),
        "{}",
        brief(&v)
    );
    let mut named = bundle.clone();
    named["entry"][0]["resource"]["name"] = json!([{"family": "Doe"}]);
    let v = validate_value(&named, Profile::Migx);
    assert!(v.iter().all(|v| !v.message.contains("Doe")));
    assert!(
        v.iter()
            .any(|v| v.pointer == "/entry/0/resource/name" && v.message.starts_with("not allowed")),
        "{}",
        brief(&v)
    );
    let mut bad_id = bundle.clone();
    bad_id["entry"][6]["resource"]["id"] = json!("ABC");
    let v = validate_value(&bad_id, Profile::Migx);
    let hit = v
        .iter()
        .find(|v| v.pointer == "/entry/6/resource/id")
        .expect("id violation");
    assert_eq!(
        hit.message,
        "value does not have the expected form: a lowercase UUID"
    );
    let mut audit_event = bundle.clone();
    audit_event["entry"][6]["resource"] = json!({"resourceType": "AuditEvent", "id": "x"});
    let v = validate_value(&audit_event, Profile::Migx);
    assert!(
        v.iter()
            .any(|v| v.pointer == "/entry/6/resource/resourceType" && v.rule == "enum"),
        "{}",
        brief(&v)
    );
}

#[test]
fn migx_profile_checks_links_between_entries() {
    let bundle = load("valid/bundle-migx.json");
    let mut b = bundle.clone();
    b["entry"][6]["fullUrl"] = json!("urn:uuid:99999999-9999-4999-8999-999999999999");
    let v = validate_value(&b, Profile::Migx);
    let rules: Vec<_> = v
        .iter()
        .map(|v| (v.pointer.as_str(), v.rule.as_str()))
        .collect();
    assert!(
        rules.contains(&("/entry/6/fullUrl", "fullUrl")),
        "{}",
        brief(&v)
    );
    // The List and the Provenance pointed at the old fullUrl.
    assert!(
        rules.contains(&("/entry/5/resource/entry/0/item/reference", "reference")),
        "{}",
        brief(&v)
    );
    assert!(
        rules.contains(&("/entry/4/resource/target", "provenance-target")),
        "{}",
        brief(&v)
    );
    assert_eq!(
        v.iter().find(|v| v.rule == "fullUrl").unwrap().entry,
        Some(6)
    );
    // Under the FHIR profile the same bundle is fine.
    assert!(validate_value(&b, Profile::Fhir).is_empty());
}

/// Every JSON pointer under `v` at which a `$ref` names `#/definitions/<target>`.
fn refs_to(v: &Value, target: &str, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if k == "$ref" && x.as_str() == Some(&format!("#/definitions/{target}")) {
                    out.push(at.to_string());
                } else {
                    refs_to(x, target, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                refs_to(x, target, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The written graph lacks `ResourceList` (it allows nothing there); instances are routed to
/// the full graph by `contained` and `response` alone. That is sound only if, in the R4
/// schema, the definitions the written types reach meet `ResourceList` nowhere else: read
/// here from the schema itself.
#[test]
fn the_written_types_reach_every_resource_type_only_where_the_full_graph_is_chosen() {
    let fhir: Value = serde_json::from_str(FHIR_SCHEMA).unwrap();
    let defs = fhir["definitions"].as_object().unwrap();
    let mut reached = std::collections::BTreeSet::new();
    let mut stack: Vec<String> = schemas::COMMON_TYPES
        .iter()
        .map(|t| t.to_string())
        .chain(["Bundle".to_string()])
        .collect();
    while let Some(name) = stack.pop() {
        if name == "ResourceList" || !reached.insert(name.clone()) {
            continue;
        }
        let mut to = Vec::new();
        for other in defs.keys() {
            refs_to(&defs[&name], other, "", &mut to);
            if !to.is_empty() {
                stack.push(other.clone());
                to.clear();
            }
        }
    }
    assert!(
        reached.len() > 50 && reached.len() < defs.len() / 2,
        "{}",
        reached.len()
    );
    let (mut lists, mut responses, mut entries) = (Vec::new(), Vec::new(), Vec::new());
    for name in &reached {
        let mut at = Vec::new();
        refs_to(&defs[name.as_str()], "ResourceList", "", &mut at);
        lists.extend(at.into_iter().map(|p| format!("{name}{p}")));
        let mut at = Vec::new();
        refs_to(&defs[name.as_str()], "Bundle_Response", "", &mut at);
        responses.extend(at.into_iter().map(|p| format!("{name}{p}")));
        let mut at = Vec::new();
        refs_to(&defs[name.as_str()], "Bundle_Entry", "", &mut at);
        entries.extend(at.into_iter().map(|p| format!("{name}{p}")));
    }
    let mut expected: Vec<String> = schemas::COMMON_TYPES
        .iter()
        .map(|t| format!("{t}/properties/contained/items"))
        .chain([
            "Bundle_Entry/properties/resource".to_string(),
            "Bundle_Response/properties/outcome".to_string(),
        ])
        .collect();
    expected.sort();
    lists.sort();
    assert_eq!(lists, expected);
    assert_eq!(responses, ["Bundle_Entry/properties/response"]);
    assert_eq!(entries, ["Bundle/properties/entry/items"]);
    // And the route: a resource with `contained` goes to the full graph, where a valid
    // contained resource of a type migx does not write passes (the written graph would
    // reject it).
    let fhir = schemas::fhir().unwrap();
    let basic = json!({ "resourceType": "Basic", "code": { "text": "x" } });
    for t in schemas::COMMON_TYPES {
        let resource = json!({ "resourceType": t, "contained": [basic] });
        let (mut routed, mut full, mut written) = (Vec::new(), Vec::new(), Vec::new());
        assert!(fhir.check_resource(&resource, "", &mut routed));
        assert!(fhir.check_resource_with(Some(schemas::Graph::Full), &resource, "", &mut full));
        assert!(fhir.check_resource_with(
            Some(schemas::Graph::Written),
            &resource,
            "",
            &mut written
        ));
        assert_eq!(routed, full, "{t}");
        let under = |v: &[Violation]| v.iter().any(|v| v.pointer.starts_with("/contained"));
        assert!(
            !under(&full) && under(&written),
            "{t}:\n{}\n{}",
            brief(&full),
            brief(&written)
        );
    }
    let entry = json!({ "response": { "status": "200", "outcome": basic } });
    let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": [entry] });
    assert_eq!(schemas::Fhir::graph_of_entry(&entry), schemas::Graph::Full);
    assert_eq!(schemas::Fhir::graph_of_shell(&bundle), schemas::Graph::Full);
}

/// Positions of `v` (generated: every member and item, at every depth), each replaced by a
/// number, an empty object and an array of a string, and each member left out.
fn mutations(v: &Value) -> Vec<Value> {
    fn walk(root: &Value, v: &Value, at: &mut Vec<String>, out: &mut Vec<Value>) {
        let children: Vec<(String, &Value)> = match v {
            Value::Object(m) => m.iter().map(|(k, x)| (k.clone(), x)).collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, x)| (i.to_string(), x))
                .collect(),
            _ => return,
        };
        for (key, child) in children {
            at.push(key.replace('~', "~0").replace('/', "~1"));
            let pointer: String = at.iter().map(|s| format!("/{s}")).collect();
            for replacement in [json!(7), json!({}), json!(["x"])] {
                let mut m = root.clone();
                *m.pointer_mut(&pointer).unwrap() = replacement;
                out.push(m);
            }
            if v.is_object() {
                let mut m = root.clone();
                let parent: String = at[..at.len() - 1].iter().map(|s| format!("/{s}")).collect();
                m.pointer_mut(&parent)
                    .and_then(Value::as_object_mut)
                    .unwrap()
                    .shift_remove(
                        at.last()
                            .unwrap()
                            .replace("~1", "/")
                            .replace("~0", "~")
                            .as_str(),
                    );
                out.push(m);
            }
            walk(root, child, at, out);
            at.pop();
        }
    }
    let mut out = vec![v.clone()];
    walk(v, v, &mut Vec::new(), &mut out);
    out
}

/// The written graph gives exactly the full graph's violations (pointers, rules, messages,
/// values, order) for what it is chosen for: every resource, entry and frame of the
/// validation fixtures, valid and broken, mutated at every position.
#[test]
fn the_written_graph_checks_as_the_full_graph() {
    use schemas::Graph::{Full, Written};
    let fhir = schemas::fhir().unwrap();
    let mut bundles = Vec::new();
    for dir in ["valid", "invalid"] {
        for e in std::fs::read_dir(fixture(dir)).unwrap() {
            let path = e.unwrap().path();
            let Ok(v) = serde_json::from_str::<Value>(&std::fs::read_to_string(&path).unwrap())
            else {
                continue;
            };
            if v["resourceType"] == "Bundle" {
                bundles.push(v);
            }
        }
    }
    assert!(bundles.len() >= 10, "{}", bundles.len());
    let mut seen = std::collections::HashSet::new();
    let (mut checked, mut violations) = (0usize, 0usize);
    let mut same =
        |what: &str, v: &Value, check: &dyn Fn(schemas::Graph, &mut Vec<Violation>) -> bool| {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            assert!(check(Written, &mut a) && check(Full, &mut b), "{what}");
            assert_eq!(
                a,
                b,
                "{what}: {v}\nwritten:\n{}\nfull:\n{}",
                brief(&a),
                brief(&b)
            );
            checked += 1;
            violations += a.len();
        };
    for bundle in &bundles {
        let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
        let mut frame = bundle.clone();
        frame["entry"] = json!([]);
        for m in mutations(&frame) {
            if schemas::Fhir::graph_of_shell(&m) == Full || !seen.insert(m.to_string()) {
                continue;
            }
            same("frame", &m, &|g, out| {
                fhir.check_shell_with(Some(g), &m, "", out)
            });
        }
        for entry in &entries {
            let resource = &entry["resource"];
            let mut shell = entry.clone();
            shell["resource"] = json!({});
            for m in mutations(&shell) {
                if schemas::Fhir::graph_of_entry(&m) == Full || !seen.insert(m.to_string()) {
                    continue;
                }
                same("entry", &m, &|g, out| {
                    fhir.check_entry_with(Some(g), &m, "/e", out)
                });
            }
            for m in mutations(resource) {
                let written = m["resourceType"]
                    .as_str()
                    .is_some_and(|t| schemas::COMMON_TYPES.contains(&t));
                if !written || m.get("contained").is_some() || !seen.insert(m.to_string()) {
                    continue;
                }
                same("resource", &m, &|g, out| {
                    fhir.check_resource_with(Some(g), &m, "/r", out)
                });
            }
        }
    }
    assert!(
        checked > 2_000 && violations > 1_000,
        "{checked} checks, {violations} violations"
    );
}
