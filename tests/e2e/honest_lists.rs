//! Issue 16: no List says "nothing" when something was withheld.
//!
//! One check, [`assert_honest`], holds for every bundle against its input's audit: the List of
//! a category carries the UK Core warning exactly when an item of that category was withheld
//! for a reason other than the category's own scope (not current, outside the window, not a
//! shared kind of record, free text); an empty List then says `withheld`/`unavailable`, never
//! `no-content-recorded`; items whose category could not be known mark the whole Bundle
//! (`meta.security` REDACTED and a Provenance `removal` entity), and only they do.
//!
//! The positions are generated: for every withholding reason, one GP2GP extract and one GP
//! Connect STU3 bundle holding a single item withheld for that reason (beside a shared
//! diagnosis so the file converts). The check also runs over the authored fixtures and, when
//! present, both corpora.

use crate::common;

use common::{convert_permit_all, corpus, read_ndjson, root};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Reasons that are the category's own scope (independent of migx's own list).
const SCOPE: [&str; 5] = [
    "not-current",
    "refuted",
    "outside-window",
    "category-not-shared",
    "free-text",
];
const SCT: &str = "2.16.840.1.113883.2.1.3.2.4.15";
const READ: &str = "2.16.840.1.113883.2.1.6.2";

fn list_title(category: &str) -> &'static str {
    match category {
        "problems" => "Problems",
        "diagnoses" => "Diagnoses",
        "medications" => "Medications",
        "allergies" => "Allergies and adverse reactions",
        "tests" => "Recent tests",
        "investigations" => "Investigations and results",
        "procedures" => "Procedures",
        "risks-warnings" => "Risks and warnings",
        other => panic!("unknown category {other}"),
    }
}

/// A withheld item: (category, reason).
type Withheld = (Option<String>, String);

/// Per converted input: its bundle path and its withheld items.
struct Run {
    bundles: BTreeMap<String, (String, Vec<Withheld>)>,
}

fn read_run(out: &Path) -> Run {
    let mut bundles: BTreeMap<String, (String, Vec<Withheld>)> = BTreeMap::new();
    for r in read_ndjson(&out.join("audit.ndjson")) {
        let input = r["input"].as_str().unwrap().to_string();
        match r["kind"].as_str() {
            Some("file") => {
                if let Some(b) = r["bundle"].as_str() {
                    bundles.entry(input).or_default().0 = b.to_string();
                }
            }
            Some("item") => bundles.entry(input).or_default().1.push((
                r["category"].as_str().map(str::to_string),
                r["reason"].as_str().unwrap().to_string(),
            )),
            _ => {}
        }
    }
    bundles.retain(|_, (b, _)| !b.is_empty());
    Run { bundles }
}

/// The honest-list rule for one bundle and its input's withheld items.
fn assert_honest(name: &str, bundle: &Value, withheld: &[Withheld]) {
    let outside_scope = |(_, r): &&Withheld| !SCOPE.contains(&r.as_str());
    let warned: BTreeSet<&str> = withheld
        .iter()
        .filter(outside_scope)
        .filter_map(|(c, _)| c.as_deref())
        .collect();
    let incomplete = withheld
        .iter()
        .filter(outside_scope)
        .any(|(c, _)| c.is_none());
    let entries = bundle["entry"].as_array().unwrap();
    for l in entries
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "List")
    {
        let title = l["title"].as_str().unwrap();
        let should_warn = warned.iter().any(|c| list_title(c) == title);
        let warning = l["extension"].as_array().and_then(|x| {
            x.iter().find(|e| {
                e["url"] == "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ListWarningCode"
            })
        });
        assert_eq!(
            warning.is_some(),
            should_warn,
            "{name}: List {title:?} warning (withheld {withheld:?})"
        );
        if let Some(w) = warning {
            assert_eq!(
                w["valueCodeableConcept"]["coding"][0]["code"], "confidential-items",
                "{name}"
            );
        }
        if let Some(reason) = l.get("emptyReason") {
            let code = reason["coding"][0]["code"].as_str().unwrap();
            if should_warn {
                assert!(
                    code == "withheld" || code == "unavailable",
                    "{name}: List {title:?} is empty after withholding but says {code}"
                );
            } else {
                assert_eq!(code, "no-content-recorded", "{name}: List {title:?}");
            }
        }
    }
    let redacted = bundle["meta"]["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|l| l["code"] == "REDACTED"));
    assert_eq!(
        redacted, incomplete,
        "{name}: Bundle meta.security (withheld {withheld:?})"
    );
    let prov = entries
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "Provenance")
        .unwrap();
    let removal = prov["entity"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["role"] == "removal");
    assert_eq!(removal, incomplete, "{name}: Provenance removal entity");
}

/// Check every bundle of a run; returns the (format, category known, reason) positions seen.
fn check_run(out: &Path) -> BTreeSet<(String, bool, String)> {
    let run = read_run(out);
    assert!(
        !run.bundles.is_empty(),
        "no bundles under {}",
        out.display()
    );
    let mut seen = BTreeSet::new();
    for (input, (bundle, withheld)) in &run.bundles {
        let b: Value = serde_json::from_slice(&std::fs::read(out.join(bundle)).unwrap()).unwrap();
        assert_honest(input, &b, withheld);
        let format = if input.ends_with(".json") {
            "gpconnect"
        } else {
            "gp2gp"
        };
        for (c, r) in withheld {
            seen.insert((format.to_string(), c.is_some(), r.clone()));
        }
    }
    seen
}

// ------------------------------------------------------------------ GP2GP positions

fn obs(id: &str, code: &str, sys: &str, date: &str, value: bool) -> String {
    let v = if value {
        r#"<value xsi:type="PQ" value="5.4" unit="mmol/L"/>"#
    } else {
        ""
    };
    format!(
        r#"<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/><code code="{code}" codeSystem="{sys}"/><statusCode code="COMPLETE"/><effectiveTime><center value="{date}"/></effectiveTime><availabilityTime value="{date}"/>{v}</ObservationStatement></component>"#
    )
}

fn linkset(id: &str, status: &str, named: &str) -> String {
    format!(
        r#"<component typeCode="COMP"><LinkSet classCode="OBS" moodCode="EVN"><id root="{id}"/><code code="{status}" codeSystem="{SCT}"/><statusCode code="COMPLETE"/><effectiveTime><low value="20250101"/></effectiveTime><availabilityTime value="20250101"/><conditionNamed typeCode="NAME" inversionInd="true"><namedStatementRef classCode="OBS" moodCode="EVN"><id root="{named}"/></namedStatementRef></conditionNamed></LinkSet></component>"#
    )
}

/// The item withheld for `reason` (and the category it has), as GP2GP statements.
fn gp2gp_item(reason: &str) -> Option<String> {
    let id = "6D1E0A2B-0000-4000-8000-00000000A001";
    let named = "6D1E0A2B-0000-4000-8000-00000000A002";
    Some(match reason {
        "confidential" => obs(id, "H33..00", READ, "20260301", false).replace(
            "</ObservationStatement>",
            r#"<confidentialityCode code="NOPAT" codeSystem="2.16.840.1.113883.4.642.3.47"/></ObservationStatement>"#,
        ),
        // A diagnosis whose translation is a sensitive concept (termination of pregnancy).
        "sensitive-code" => obs(id, "H33..00", READ, "20260301", false).replace(
            &format!(r#"<code code="H33..00" codeSystem="{READ}"/>"#),
            &format!(r#"<code code="H33..00" codeSystem="{READ}"><translation code="57797005" codeSystem="{SCT}"/></code>"#),
        ),
        // A problem naming a statement that does not exist.
        "unresolvable-reference" => linkset(id, "394774009", named),
        // A recent result coded only by a SNOMED CT description id (no release loaded).
        "unresolved-code" => obs(id, "150085018", SCT, "20260301", true),
        // A recent result coded only by a SNOMED CT id with a wrong check digit.
        "invalid-code" => obs(id, "150085019", SCT, "20260301", true),
        // A result whose date, which decides recency, is not a timestamp.
        "invalid-date" => obs(id, "44J3.00", READ, "2026XX01", true),
        // A diagnosis the source marks nullified (entered in error).
        "entered-in-error" => obs(id, "H33..00", READ, "20260301", false)
            .replace(r#"code="COMPLETE""#, r#"code="nullified""#),
        "free-text" => format!(
            r#"<component typeCode="COMP"><NarrativeStatement classCode="OBS" moodCode="EVN"><id root="{id}"/><text>note</text><statusCode code="COMPLETE"/><availabilityTime value="20260301"/></NarrativeStatement></component>"#
        ),
        "not-current" => format!(
            "{}{}",
            obs(named, "H33..00", READ, "20250101", false),
            linkset(id, "394775005", named)
        ),
        "outside-window" => obs(id, "44J3.00", READ, "20100101", true),
        "category-not-shared" => format!(
            r#"<component typeCode="COMP"><PlanStatement classCode="OBS" moodCode="INT"><id root="{id}"/><code code="8B3..00" codeSystem="{READ}"/><statusCode code="ACTIVE"/><availabilityTime value="20260301"/></PlanStatement></component>"#
        ),
        // Coded, but no code list or rule places it in a category.
        "unclassified" => obs(id, "ZV...00", READ, "20260301", false),
        _ => return None,
    })
}

fn gp2gp(body: &str, salt: usize) -> String {
    let shared = obs(
        &format!("6D1E0A2B-0000-4000-8000-{salt:012X}"),
        "H33..00",
        READ,
        "20260301",
        false,
    );
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><RCMR_IN030000UK07 xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><id root="6D1E0A2B-0000-4000-8001-{salt:012X}"/><creationTime value="20260314100000"/><ControlActEvent classCode="CACT" moodCode="EVN"><subject typeCode="SUBJ"><EhrExtract classCode="EXTRACT" moodCode="EVN"><id root="6D1E0A2B-0000-4000-8002-{salt:012X}"/><availabilityTime value="20260314100000"/><recordTarget typeCode="RCT"><patient classCode="PAT"><id root="2.16.840.1.113883.2.1.4.1" extension="9000000009"/></patient></recordTarget><author typeCode="AUT"><AgentOrgSDS classCode="AGNT"><agentOrganizationSDS classCode="ORG" determinerCode="INSTANCE"><id root="1.2.826.0.1285.0.1.10" extension="A12345"/></agentOrganizationSDS></AgentOrgSDS></author><component typeCode="COMP"><ehrFolder classCode="FOLDER" moodCode="EVN"><id root="6D1E0A2B-0000-4000-8003-{salt:012X}"/><component typeCode="COMP"><ehrComposition classCode="COMPOSITION" moodCode="EVN"><id root="6D1E0A2B-0000-4000-8004-{salt:012X}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/>{shared}{body}</ehrComposition></component></ehrFolder></component></EhrExtract></subject></ControlActEvent></RCMR_IN030000UK07>"#
    )
}

// ------------------------------------------------------------------ STU3 positions

fn gpconnect_obs(code: Value, date: &str, value: bool) -> Value {
    let mut o = json!({
        "resourceType": "Observation",
        "id": "7e2f0b3c-0000-4000-8000-00000000b001",
        "status": "final",
        "code": { "coding": [code] },
        "subject": { "reference": "Patient/11111111-1111-4111-8111-111111111111" },
        "effectiveDateTime": date,
    });
    if value {
        o["valueQuantity"] = json!({ "value": 5.4, "unit": "mmol/L" });
    }
    o
}

fn gpconnect_condition(status: &str, code: &str) -> Value {
    json!({
        "resourceType": "Condition",
        "id": "7e2f0b3c-0000-4000-8000-00000000b002",
        "clinicalStatus": status,
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": code }] },
        "subject": { "reference": "Patient/11111111-1111-4111-8111-111111111111" },
        "onsetDateTime": "2020-01-01",
        "assertedDate": "2020-01-02T00:00:00+00:00"
    })
}

/// The resource withheld for `reason`, as GP Connect STU3 (None: the format has no such
/// position, e.g. free text is never a resource of its own).
fn gpconnect_item(reason: &str) -> Option<Value> {
    let sct = |c: &str| json!({ "system": "http://snomed.info/sct", "code": c });
    Some(match reason {
        "confidential" => {
            let mut o = gpconnect_obs(sct("1022541000000102"), "2024-03-01", true);
            o["meta"] = json!({ "security": [{ "system": "http://hl7.org/fhir/v3/ActCode", "code": "NOPAT" }] });
            o
        }
        // An active problem coded with a sensitive concept (termination of pregnancy).
        "sensitive-code" => gpconnect_condition("active", "57797005"),
        // An issue based on a plan that is not in the record.
        "unresolvable-reference" => json!({
            "resourceType": "MedicationRequest",
            "id": "7e2f0b3c-0000-4000-8000-00000000b003",
            "intent": "order",
            "status": "completed",
            "basedOn": [{ "reference": "MedicationRequest/7e2f0b3c-0000-4000-8000-00000000b0ff" }],
            "medicationReference": { "reference": "Medication/m1" },
            "subject": { "reference": "Patient/11111111-1111-4111-8111-111111111111" },
            "authoredOn": "2024-01-10"
        }),
        "unresolved-code" => gpconnect_obs(sct("150085018"), "2024-03-01", true),
        "invalid-code" => gpconnect_obs(sct("150085019"), "2024-03-01", true),
        "not-current" => gpconnect_condition("resolved", "195967001"),
        // An active problem the source says is refuted.
        "refuted" => {
            let mut c = gpconnect_condition("active", "195967001");
            c["verificationStatus"] = json!("refuted");
            c
        }
        // An active problem the source marks entered in error.
        "entered-in-error" => {
            let mut c = gpconnect_condition("active", "195967001");
            c["verificationStatus"] = json!("entered-in-error");
            c
        }
        "outside-window" => gpconnect_obs(sct("1022541000000102"), "2010-01-01", true),
        "category-not-shared" => json!({
            "resourceType": "QuestionnaireResponse",
            "id": "7e2f0b3c-0000-4000-8000-00000000b004",
            "status": "completed"
        }),
        "unclassified" => gpconnect_obs(sct("363788007"), "2024-03-01", false),
        _ => return None,
    })
}

fn gpconnect(item: Value) -> Value {
    let mut b: Value = serde_json::from_slice(
        &std::fs::read(root().join("fixtures/gpconnect/record.json")).unwrap(),
    )
    .unwrap();
    // Only the shared diagnosis-like problem and the base structure stay: drop what the
    // fixture withholds on purpose so each file isolates one position.
    let keep = [
        "Patient",
        "Organization",
        "Condition",
        "Medication",
        "MedicationRequest",
        "AllergyIntolerance",
    ];
    let entries = b["entry"].as_array_mut().unwrap();
    entries.retain(|e| keep.contains(&e["resource"]["resourceType"].as_str().unwrap_or_default()));
    entries.push(json!({ "resource": item }));
    b
}

const REASONS: [&str; 13] = [
    "confidential",
    "sensitive-code",
    "unresolvable-reference",
    "unresolved-code",
    "invalid-code",
    "invalid-date",
    "entered-in-error",
    "free-text",
    "not-current",
    "outside-window",
    "refuted",
    "category-not-shared",
    "unclassified",
];

#[test]
fn every_withholding_reason_in_both_formats_gives_an_honest_list() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let mut expected = BTreeSet::new();
    for (n, reason) in REASONS.iter().enumerate() {
        if let Some(body) = gp2gp_item(reason) {
            std::fs::write(
                input.join(format!("x{n:02}-{reason}.xml")),
                gp2gp(&body, n + 1),
            )
            .unwrap();
            expected.insert(("gp2gp".to_string(), reason.to_string()));
        }
        if let Some(item) = gpconnect_item(reason) {
            let b = serde_json::to_vec_pretty(&gpconnect(item)).unwrap();
            std::fs::write(input.join(format!("s{n:02}-{reason}.json")), b).unwrap();
            expected.insert(("gpconnect".to_string(), reason.to_string()));
        }
    }
    let out = dir.path().join("out");
    let o = convert_permit_all(&input, &out, &["--as-of", "2026-03-14"]);
    assert!(
        out.join("audit.ndjson").is_file(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let seen = check_run(&out);
    // Every generated position produced its reason (else the check above proved nothing).
    for (format, reason) in &expected {
        assert!(
            seen.iter().any(|(f, _, r)| f == format && r == reason),
            "{format}: no item withheld as {reason}; seen {seen:?}"
        );
    }
    // Every non-scope reason was exercised with a known category in both formats where the
    // format has the position (GP Connect has no free-text or undated-result position).
    for reason in REASONS.iter().filter(|r| !SCOPE.contains(r)) {
        if *reason == "unclassified" {
            continue;
        }
        for format in ["gp2gp", "gpconnect"] {
            if format == "gpconnect" && *reason == "invalid-date" {
                continue;
            }
            assert!(
                seen.contains(&(format.to_string(), true, reason.to_string())),
                "{format}: {reason} never withheld from a category List"
            );
        }
    }
    // And an uncategorised item marked a bundle incomplete in both formats.
    for format in ["gp2gp", "gpconnect"] {
        assert!(
            seen.contains(&(format.to_string(), false, "unclassified".to_string())),
            "{format}: no uncategorised item"
        );
    }
}

#[test]
fn fixture_bundles_are_honest() {
    for folder in [
        "fixtures/extracts",
        "fixtures/gpconnect",
        "fixtures/hostile",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        convert_permit_all(&root().join(folder), &out, &[]);
        check_run(&out);
    }
}

#[test]
fn corpus_bundles_are_honest() {
    let Some(c) = corpus() else {
        eprintln!("skipping: ../shared/corpus is absent");
        return;
    };
    for folder in ["gp2gp-ehrextract", "gpconnect-stu3"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        convert_permit_all(&c.join(folder), &out, &[]);
        check_run(&out);
    }
}

#[test]
fn summary_counts_items_withheld_for_want_of_a_snomed_release() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let body = gp2gp_item("unresolved-code").unwrap();
    std::fs::write(input.join("a.xml"), gp2gp(&body, 1)).unwrap();
    let out = dir.path().join("out");
    let o = common::convert_permit_all_loud(&input, &out, &["--as-of", "2026-03-14"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("1 item(s) withheld because no SNOMED CT release was loaded")
            && stderr.contains("--snomed"),
        "{stderr}"
    );
    let s: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["withheld_no_snomed_release"], 1);
    assert!(s["snomed_advice"].as_str().unwrap().contains("--snomed"));
    let o = common::run(&["-q", "report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("items withheld because no SNOMED CT release was loaded</th><td>1: "),
        "report lacks the count"
    );
}
