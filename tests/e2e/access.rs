//! Access control and access audit (issue 10), end to end through the built binary:
//! permitted requesters and purposes, consent file checks, the AuditEvent per disclosure,
//! `migx audit`, and owner-only files at rest.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::run as migx;
use crate::common::MIGX as BIN;
const HEADER: &str = "nhs_number,decision,recorded_at,requester_ods,requester_name,purpose";
/// The fixtures' extract (as-of) time is 2026-03-14T10:00:00Z; consent before it, same day.
const AT: &str = "2026-03-14T09:55:00+00:00";

/// NHS numbers of the fixtures used here (fixtures/MANIFEST.json).
const N01: &str = "9990000018";
const N02: &str = "9990000085";
const N03: &str = "9990000158";
const N04: &str = "9990000220";
const N05: &str = "9990000298";
const N06: &str = "9990000360";
const N07: &str = "9990000433";

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tempdir with `in/` holding copies of the named fixture extracts (by number prefix).
fn setup(prefixes: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    fs::create_dir(&input).unwrap();
    let mut found = 0;
    for e in fs::read_dir(manifest().join("fixtures/extracts")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| name.starts_with(&format!("{p}-"))) {
            fs::copy(e.path(), input.join(&name)).unwrap();
            found += 1;
        }
    }
    assert_eq!(found, prefixes.len(), "fixtures missing");
    dir
}

fn consent(dir: &Path, rows: &[String]) -> PathBuf {
    let p = dir.join("consent.csv");
    fs::write(&p, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    p
}

fn row(nhs: &str, decision: &str, at: &str, ods: &str, purpose: &str) -> String {
    format!("{nhs},{decision},{at},{ods},Test Requester,{purpose}")
}

fn convert(dir: &Path, extra: &[&str]) -> Output {
    let input = dir.join("in");
    let out = dir.join("out");
    let mut args = vec![
        "convert",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
        "--jobs",
        "2",
        // Tests here rerun into one folder with another consent file: a different run,
        // which replaces the one the folder holds.
        "--replace",
        "--without-official-refsets",
    ];
    args.extend_from_slice(extra);
    migx(&args)
}

/// Convert the fixtures with consent file `c`, requester Y02345 permitted for the run;
/// the run must succeed. Returns the output folder.
fn convert_permitted(dir: &Path, c: &Path) -> PathBuf {
    let o = convert(
        dir,
        &[
            "--consent",
            c.to_str().unwrap(),
            "--permit-requester",
            "Y02345",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    dir.join("out")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// input file name -> (status, reason) from `<out>/audit.ndjson`.
fn statuses(out: &Path) -> BTreeMap<String, (String, Option<String>)> {
    fs::read_to_string(out.join("audit.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "file")
        .map(|v| {
            let name = Path::new(v["input"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (
                name,
                (
                    v["status"].as_str().unwrap().to_string(),
                    v["reason"].as_str().map(str::to_string),
                ),
            )
        })
        .collect()
}

fn status_of(out: &Path, prefix: &str) -> (String, Option<String>) {
    statuses(out)
        .into_iter()
        .find(|(k, _)| k.starts_with(&format!("{prefix}-")))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no audit line for {prefix}"))
}

fn withheld(reason: &str) -> (String, Option<String>) {
    ("withheld".to_string(), Some(reason.to_string()))
}

fn converted() -> (String, Option<String>) {
    ("converted".to_string(), None)
}

fn access_events(out: &Path) -> Vec<Value> {
    fs::read_to_string(out.join("access-audit.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A site policy file in `dir`: the embedded default without `code_lists` (the embedded
/// lists are used), with the given requesters and purposes.
fn site_policy(dir: &Path, requesters: Value, purposes: Value) -> PathBuf {
    let mut v: Value =
        serde_json::from_str(&fs::read_to_string(manifest().join("policy/default.json")).unwrap())
            .unwrap();
    v.as_object_mut().unwrap().remove("code_lists");
    v["permitted_requesters"] = requesters;
    v["permitted_purposes"] = purposes;
    let p = dir.join("site-policy.json");
    fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    p
}

fn provenance_displays(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Provenance")
        .unwrap()["resource"]["entity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"]["display"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn unlisted_requester_is_disclosed_nothing_and_run_permits_are_recorded() {
    let d = setup(&["01", "02"]);
    let c = consent(
        d.path(),
        &[
            row(N01, "permit", AT, "Y02345", "TREAT"),
            row(N02, "permit", AT, "RX999", "TREAT"),
        ],
    );
    let out = convert_permitted(d.path(), &c);
    assert_eq!(status_of(&out, "01"), converted());
    assert_eq!(status_of(&out, "02"), withheld("requester-not-permitted"));
    assert!(!out.join("bundles/02-pathology-report.json").exists());
    assert_eq!(access_events(&out).len(), 1);
    // --permit-requester is recorded in the Provenance.
    let b: Value =
        serde_json::from_slice(&fs::read(out.join("bundles/01-core-shared.json")).unwrap())
            .unwrap();
    assert!(
        provenance_displays(&b)
            .iter()
            .any(|d| d.contains("--permit-requester") && d.contains("Y02345")),
        "{:?}",
        provenance_displays(&b)
    );
}

#[test]
fn purpose_not_permitted_by_the_policy() {
    let d = setup(&["01", "02"]);
    let policy = site_policy(
        d.path(),
        serde_json::json!([{ "ods_code": "Y02345", "name": "County Out of Hours", "role": "out-of-hours" }]),
        serde_json::json!(["TREAT"]),
    );
    let c = consent(
        d.path(),
        &[
            row(N01, "permit", AT, "Y02345", "TREAT"),
            row(N02, "permit", AT, "Y02345", "ETREAT"),
        ],
    );
    let o = convert(
        d.path(),
        &[
            "--consent",
            c.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = d.path().join("out");
    assert_eq!(status_of(&out, "01"), converted());
    assert_eq!(status_of(&out, "02"), withheld("purpose-not-permitted"));
    // A requester listed by the policy (no --permit-requester): nothing run-only recorded,
    // and the access audit names the organisation and its role.
    let b: Value =
        serde_json::from_slice(&fs::read(out.join("bundles/01-core-shared.json")).unwrap())
            .unwrap();
    assert!(!provenance_displays(&b)
        .iter()
        .any(|d| d.contains("--permit-requester")));
    let ev = access_events(&out);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["agent"][0]["role"][0]["text"], "out-of-hours");
    assert_eq!(ev[0]["purposeOfEvent"][0]["coding"][0]["code"], "TREAT");
}

#[test]
fn bad_consent_rows_withhold_their_patient_and_name_the_line() {
    let d = setup(&["01", "02", "03", "04", "05", "06", "07"]);
    // Each patient 01..06 has a valid permit row AND one bad row: the bad row wins.
    let mut rows: Vec<String> = [N01, N02, N03, N04, N05, N06, N07]
        .iter()
        .map(|n| row(n, "permit", AT, "Y02345", "TREAT"))
        .collect();
    rows.extend([
        row(N01, "maybe", AT, "Y02345", "TREAT"), // line 9: decision
        row(N02, "permit", "2026-03-14 09:55", "Y02345", "TREAT"), // line 10: not ISO 8601
        row(N03, "permit", "2026-03-14T09:55:00", "Y02345", "TREAT"), // line 11: no offset
        row(N04, "permit", AT, "y02345!", "TREAT"), // line 12: ODS shape
        row(N05, "permit", AT, "Y02345", "RESEARCH"), // line 13: purpose
        format!("{N06},permit,{AT},Y02345,TREAT"), // line 14: field count
        row("9990000019", "permit", AT, "Y02345", "TREAT"), // line 15: checksum
    ]);
    let c = consent(d.path(), &rows);
    let o = convert(
        d.path(),
        &[
            "--consent",
            c.to_str().unwrap(),
            "--permit-requester",
            "Y02345",
        ],
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let out = d.path().join("out");
    for p in ["01", "02", "03", "04", "05", "06"] {
        assert_eq!(status_of(&out, p), withheld("consent-row-invalid"), "{p}");
    }
    // Line 15 names no valid NHS number: it may be a mistyped later deny of any patient, so
    // it leaves no disclosure standing (issue 13.5), and 07's own permit does not disclose it.
    assert_eq!(status_of(&out, "07"), withheld("consent-row-invalid"));
    assert!(
        err.contains("no record is disclosed from this file"),
        "{err}"
    );
    for line in 9..=15 {
        assert!(err.contains(&format!("line {line}:")), "line {line}: {err}");
    }
    assert!(err.contains("decision must be permit or deny"), "{err}");
    assert!(err.contains("recorded_at must be ISO 8601"), "{err}");
    assert!(err.contains("requester_ods is not an ODS code"), "{err}");
    assert!(err.contains("purpose must be TREAT or ETREAT"), "{err}");
    assert!(err.contains("expected 6 fields"), "{err}");
    assert!(err.contains("*******019"), "{err}");
    for n in [N01, N02, N03, N04, N05, N06, N07, "9990000019"] {
        assert!(!err.contains(n), "full NHS number in stderr: {err}");
    }
    let summary: Value =
        serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["file_reasons"]["consent-row-invalid"], 7);
}

#[test]
fn duplicate_and_conflicting_rows() {
    let d = setup(&["01", "02", "03", "04"]);
    let c = consent(
        d.path(),
        &[
            // Latest wins: permit then deny -> denied.
            row(
                N01,
                "permit",
                "2026-03-14T09:00:00+00:00",
                "Y02345",
                "TREAT",
            ),
            row(N01, "deny", "2026-03-14T09:30:00+00:00", "Y02345", "TREAT"),
            // Latest wins, whatever the file order: deny then permit -> disclosed.
            row(
                N02,
                "permit",
                "2026-03-14T09:30:00+00:00",
                "Y02345",
                "TREAT",
            ),
            row(N02, "deny", "2026-03-14T09:00:00+00:00", "Y02345", "TREAT"),
            // Two different decisions at one instant (written with different offsets): deny.
            row(
                N03,
                "permit",
                "2026-03-14T09:55:00+00:00",
                "Y02345",
                "TREAT",
            ),
            row(N03, "deny", "2026-03-14T10:55:00+01:00", "Y02345", "TREAT"),
            // The same decision twice: disclosed.
            row(N04, "permit", AT, "Y02345", "TREAT"),
            row(N04, "permit", AT, "Y02345", "TREAT"),
        ],
    );
    let out = convert_permitted(d.path(), &c);
    assert_eq!(status_of(&out, "01"), withheld("consent-denied"));
    assert_eq!(status_of(&out, "02"), converted());
    assert_eq!(status_of(&out, "03"), withheld("consent-denied"));
    assert_eq!(status_of(&out, "04"), converted());
    // The access audit says when the winning consent was given.
    let ev = access_events(&out);
    assert_eq!(ev.len(), 2);
    let at = |nhs: &str| {
        ev.iter()
            .find(|e| e["entity"][0]["what"]["identifier"]["value"] == nhs)
            .map(|e| e["entity"][2]["detail"][0]["valueString"].clone())
            .unwrap()
    };
    assert_eq!(at(N02), "2026-03-14T09:30:00+00:00");
}

#[test]
fn decisions_after_the_as_of_time_or_in_the_future_are_not_valid() {
    let d = setup(&["01", "02"]);
    let c = consent(
        d.path(),
        &[
            // After the extract's as-of time (10:00), same day.
            row(
                N01,
                "permit",
                "2026-03-14T10:30:00+00:00",
                "Y02345",
                "TREAT",
            ),
            row(N02, "permit", AT, "Y02345", "TREAT"),
        ],
    );
    let args = [
        "--consent",
        c.to_str().unwrap(),
        "--permit-requester",
        "Y02345",
    ];
    let o = convert(d.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = d.path().join("out");
    assert_eq!(status_of(&out, "01"), withheld("consent-outside-window"));
    assert_eq!(status_of(&out, "02"), converted());

    // A decision "recorded" in the future is not valid even when --as-of is later still.
    let c = consent(
        d.path(),
        &[row(
            N01,
            "permit",
            "2999-01-01T09:00:00+00:00",
            "Y02345",
            "TREAT",
        )],
    );
    let o = convert(
        d.path(),
        &[
            "--consent",
            c.to_str().unwrap(),
            "--permit-requester",
            "Y02345",
            "--as-of",
            "2999-01-01",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(status_of(&out, "01"), withheld("consent-outside-window"));
    assert_eq!(access_events(&out).len(), 0);
}

#[test]
fn one_valid_audit_event_per_converted_bundle_in_a_mixed_batch() {
    let d = tempfile::tempdir().unwrap();
    let run = |out: &Path, jobs: &str| {
        migx(&[
            "convert",
            manifest().join("fixtures/extracts").to_str().unwrap(),
            "--consent",
            manifest().join("fixtures/consent.csv").to_str().unwrap(),
            "--permit-requester",
            "Y02345",
            "--without-official-refsets",
            "--out",
            out.to_str().unwrap(),
            "-q",
            "--jobs",
            jobs,
        ])
    };
    let out = d.path().join("out");
    let o = run(&out, "2");
    // Two fixtures are rejected by design (invalid / missing NHS number).
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let st = statuses(&out);
    let converted: Vec<String> = st
        .iter()
        .filter(|(_, (s, _))| s == "converted")
        .map(|(k, _)| format!("bundles/{}.json", k.trim_end_matches(".xml")))
        .collect();
    assert!(st.values().any(|(s, _)| s == "withheld"));
    assert!(st.values().any(|(s, _)| s == "rejected"));
    let ev = access_events(&out);
    assert_eq!(ev.len(), converted.len());
    let mut seen = Vec::new();
    for e in &ev {
        let v = migx::validate::validate_value(e, migx::validate::Profile::Fhir);
        assert!(v.is_empty(), "{v:?}");
        assert_eq!(e["resourceType"], "AuditEvent");
        assert_eq!(
            e["meta"]["profile"][0],
            "https://fhir.hl7.org.uk/StructureDefinition/UKCore-AuditEvent"
        );
        // Who, when consent was given, purpose, which patient (by reference), which bundle.
        assert_eq!(e["agent"][0]["who"]["identifier"]["value"], "Y02345");
        assert_eq!(
            e["agent"][0]["who"]["display"],
            "Fixture Out of Hours Service"
        );
        assert_eq!(e["agent"][0]["requestor"], true);
        assert_eq!(
            e["entity"][2]["detail"][0]["valueString"],
            "2026-03-14T09:55:00+00:00"
        );
        assert!(e["purposeOfEvent"][0]["coding"][0]["code"]
            .as_str()
            .is_some_and(|p| p == "TREAT" || p == "ETREAT"));
        let name = e["entity"][1]["name"].as_str().unwrap().to_string();
        let bytes = fs::read(out.join(&name)).unwrap();
        let bundle: Value = serde_json::from_slice(&bytes).unwrap();
        let patient_url = bundle["entry"][0]["fullUrl"].as_str().unwrap();
        assert_eq!(bundle["entry"][0]["resource"]["resourceType"], "Patient");
        assert_eq!(e["entity"][0]["what"]["reference"], patient_url);
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(e["entity"][1]["detail"][0]["type"], "sha256");
        assert_eq!(e["entity"][1]["detail"][0]["valueString"], sha);
        seen.push(name);
    }
    // Exactly one event per converted file, in input order.
    assert_eq!(seen, converted);
    // Deterministic: the same bytes with a different number of workers.
    let out1 = d.path().join("out1");
    run(&out1, "1");
    assert_eq!(
        fs::read(out.join("access-audit.ndjson")).unwrap(),
        fs::read(out1.join("access-audit.ndjson")).unwrap()
    );
}

#[test]
fn requester_person_column_is_optional_and_recorded() {
    let d = setup(&["01", "02"]);
    let p = d.path().join("consent.csv");
    fs::write(
        &p,
        format!(
            "{HEADER},requester_person\n\
             {N01},permit,{AT},Y02345,County Out of Hours,TREAT,Dr A Example\n\
             {N02},permit,{AT},Y02345,,TREAT,\n"
        ),
    )
    .unwrap();
    let o = convert(
        d.path(),
        &[
            "--consent",
            p.to_str().unwrap(),
            "--permit-requester",
            "Y02345",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let ev = access_events(&d.path().join("out"));
    assert_eq!(ev.len(), 2);
    for e in &ev {
        assert!(migx::validate::validate_value(e, migx::validate::Profile::Fhir).is_empty());
    }
    assert_eq!(ev[0]["agent"][0]["who"]["display"], "County Out of Hours");
    assert_eq!(ev[0]["agent"][1]["who"]["display"], "Dr A Example");
    assert_eq!(ev[0]["agent"][1]["requestor"], true);
    // No person, no name: organisation by ODS code only, and no person agent.
    assert!(ev[1]["agent"][0]["who"].get("display").is_none());
    assert_eq!(ev[1]["agent"].as_array().unwrap().len(), 2);
}

#[test]
fn migx_audit_lists_one_patients_disclosures_only() {
    let d = setup(&["01", "02", "03"]);
    let c = consent(
        d.path(),
        &[
            row(N01, "permit", AT, "Y02345", "TREAT"),
            row(N02, "permit", AT, "Y02345", "ETREAT"),
            row(N03, "permit", AT, "Y02345", "TREAT"),
        ],
    );
    let out = convert_permitted(d.path(), &c);
    let dir = out.to_str().unwrap();

    let t = migx(&["audit", dir, "--nhs-number", N02]);
    assert_eq!(t.status.code(), Some(0));
    let table = text(&t.stdout);
    assert!(
        table.contains("bundles/02-pathology-report.json"),
        "{table}"
    );
    assert!(table.contains("ETREAT"), "{table}");
    assert!(table.contains("1 disclosure(s)"), "{table}");
    assert!(!table.contains("01-core-shared") && !table.contains("03-medications"));
    for n in [N01, N03] {
        assert!(!table.contains(n) && !text(&t.stderr).contains(n));
    }

    let j = migx(&["audit", dir, "--nhs-number", N02, "--json"]);
    assert_eq!(j.status.code(), Some(0));
    let js = text(&j.stdout);
    let lines: Vec<Value> = js
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["entity"][0]["what"]["identifier"]["value"], N02);
    for n in [N01, N03] {
        assert!(!js.contains(n), "another patient's NHS number printed");
    }

    let none = migx(&["audit", dir, "--nhs-number", N04]);
    assert_eq!(none.status.code(), Some(0));
    assert!(text(&none.stdout).contains("0 disclosure(s)"));
    // A malformed number is refused without being echoed.
    let bad = migx(&["audit", dir, "--nhs-number", "99900000X8"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(!text(&bad.stderr).contains("99900000X8"));
}

fn assert_owner_only(root: &Path) {
    let mut n = 0;
    for e in walk(root) {
        let mode = fs::metadata(&e).unwrap().permissions().mode() & 0o777;
        let want = if e.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} has mode {mode:o}", e.display());
        n += 1;
    }
    assert!(n >= 5, "expected outputs under {}", root.display());
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = vec![p.to_path_buf()];
    if p.is_dir() {
        for e in fs::read_dir(p).unwrap() {
            out.extend(walk(&e.unwrap().path()));
        }
    }
    out
}

#[test]
fn outputs_are_owner_only_even_with_a_permissive_umask() {
    let d = setup(&["01", "02", "19"]);
    let c = consent(
        d.path(),
        &[
            row(N01, "permit", AT, "Y02345", "TREAT"),
            row(N02, "permit", AT, "Y02345", "TREAT"),
            row("9990001200", "deny", AT, "Y02345", "TREAT"),
        ],
    );
    // Nested: every folder migx creates is 0700, not only the last.
    let root = d.path().join("o");
    let out = root.join("nested/out");
    let run = || {
        Command::new("sh")
            .arg("-c")
            .arg("umask 000; exec \"$0\" \"$@\"")
            .arg(BIN)
            .args([
                "convert",
                d.path().join("in").to_str().unwrap(),
                "--consent",
                c.to_str().unwrap(),
                "--permit-requester",
                "Y02345",
                "--without-official-refsets",
                "--out",
                out.to_str().unwrap(),
                "-q",
            ])
            .output()
            .unwrap()
    };
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(out.join("bundles/01-core-shared.json").exists());
    assert_owner_only(&root);
    // A second run replacing every file keeps the modes.
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_owner_only(&root);
}

#[test]
fn refuses_an_output_folder_others_can_write_to() {
    let d = setup(&["01"]);
    let c = consent(d.path(), &[row(N01, "permit", AT, "Y02345", "TREAT")]);
    for mode in [0o777, 0o757, 0o1777] {
        let out = d.path().join("out");
        let _ = fs::remove_dir_all(&out);
        fs::create_dir(&out).unwrap();
        fs::set_permissions(&out, fs::Permissions::from_mode(mode)).unwrap();
        let o = convert(
            d.path(),
            &[
                "--consent",
                c.to_str().unwrap(),
                "--permit-requester",
                "Y02345",
            ],
        );
        assert_eq!(o.status.code(), Some(2), "mode {mode:o}");
        assert!(
            text(&o.stderr).contains("can be written by other users"),
            "{}",
            text(&o.stderr)
        );
        assert_eq!(
            fs::read_dir(&out).unwrap().count(),
            0,
            "wrote into {mode:o}"
        );
    }
}

#[test]
fn no_requester_configured_refuses_with_a_how_to() {
    let d = setup(&["01"]);
    let c = consent(d.path(), &[row(N01, "permit", AT, "Y02345", "TREAT")]);
    let check = |o: &Output| {
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("no permitted requesters are configured"),
            "{err}"
        );
        assert!(err.contains("permitted_requesters"), "{err}");
        assert!(err.contains("--policy"), "{err}");
        assert!(err.contains("--permit-requester <ODS>"), "{err}");
        assert!(err.contains("migx policy template"), "{err}");
        assert!(!d.path().join("out").exists(), "nothing may be written");
    };
    // The embedded default lists nobody.
    check(&convert(d.path(), &["--consent", c.to_str().unwrap()]));
    // Nor does a site policy with an empty list.
    let policy = site_policy(
        d.path(),
        serde_json::json!([]),
        serde_json::json!(["TREAT"]),
    );
    check(&convert(
        d.path(),
        &[
            "--consent",
            c.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
    ));
    // --consent-all is not a way round it.
    check(&convert(
        d.path(),
        &["--consent-all", "permit", "--requester", "Y02345"],
    ));
    // The help says how to configure requesters.
    let help = text(&migx(&["convert", "--help"]).stdout);
    assert!(help.contains("permitted_requesters"), "{help}");
    assert!(help.contains("--permit-requester"), "{help}");
    // The template is a loadable policy file.
    let t = migx(&["policy", "template"]);
    assert_eq!(t.status.code(), Some(0));
    let tp = d.path().join("template.json");
    fs::write(&tp, &t.stdout).unwrap();
    let ok = migx(&["policy", "check", tp.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
}

#[test]
fn consent_all_is_recorded_as_an_operator_assertion() {
    let d = setup(&["01"]);
    let o = convert(
        d.path(),
        &[
            "--consent-all",
            "permit",
            "--requester",
            "Y02345",
            "--permit-requester",
            "Y02345",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = d.path().join("out");
    let b: Value =
        serde_json::from_slice(&fs::read(out.join("bundles/01-core-shared.json")).unwrap())
            .unwrap();
    assert!(provenance_displays(&b)
        .iter()
        .any(|d| d.contains("operator assertion") && d.contains("not a patient's decision")));
    let ev = access_events(&out);
    assert_eq!(ev.len(), 1);
    assert!(ev[0]["entity"][2]["description"]
        .as_str()
        .unwrap()
        .contains("operator (--consent-all)"));
    let summary: Value =
        serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["consent_source"], "operator-assertion");
}
