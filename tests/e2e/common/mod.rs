//! Helpers shared by the end-to-end tests: run the built binary, read outputs, walk files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `migx` binary under test.
pub(crate) const MIGX: &str = env!("CARGO_BIN_EXE_migx");

/// A command running the `migx` binary under test (every module starts here).
pub(crate) fn migx() -> Command {
    Command::new(MIGX)
}

/// Run migx with args; returns the output (never panics on a non-zero exit).
pub(crate) fn run(args: &[&str]) -> Output {
    migx()
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("migx runs")
}

/// The shared corpus, when present beside the project.
pub(crate) fn corpus() -> Option<PathBuf> {
    let p = root().join("../shared/corpus");
    p.is_dir().then_some(p)
}

/// The flag every test conversion that discloses records needs: the fixtures and tests run
/// without the licensed official exclusion refsets, which the operator must assert.
pub(crate) const WITHOUT_OFFICIAL_REFSETS: &str = "--without-official-refsets";

/// Convert the authored fixtures with their consent file into `out`.
pub(crate) fn convert_fixtures(out: &Path, extra: &[&str]) -> Output {
    let out = out.to_str().unwrap();
    let mut args = vec![
        "-q",
        "convert",
        "fixtures/extracts",
        "--consent",
        "fixtures/consent.csv",
        "--permit-requester",
        "Y02345",
        "--without-official-refsets",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// Convert `input` (a file or folder) with the consent file `consent` and requester Y02345
/// permitted for this run, as `convert_fixtures` does for the authored fixtures.
pub(crate) fn convert_with_consent(
    input: &Path,
    consent: &Path,
    out: &Path,
    extra: &[&str],
) -> Output {
    let (input, consent, out) = (
        input.to_str().unwrap(),
        consent.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let mut args = vec![
        "-q",
        "convert",
        input,
        "--consent",
        consent,
        "--permit-requester",
        "Y02345",
        WITHOUT_OFFICIAL_REFSETS,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// Every regular file under a folder, sorted, as (relative path, bytes).
pub(crate) fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            out.push((rel, std::fs::read(e.path()).unwrap()));
        }
    }
    out
}

pub(crate) fn read_ndjson(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub(crate) fn manifest() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root().join("fixtures/MANIFEST.json")).unwrap()).unwrap()
}

/// Convert `input` with an operator-asserted permit from requester Y02345 (test identities
/// allowed), as CI runs over real extracts do.
pub(crate) fn convert_permit_all(input: &Path, out: &Path, extra: &[&str]) -> Output {
    permit_all(input, out, extra, true)
}

/// [`convert_permit_all`] without `-q`: the end-of-run summary is printed on stderr.
pub(crate) fn convert_permit_all_loud(input: &Path, out: &Path, extra: &[&str]) -> Output {
    permit_all(input, out, extra, false)
}

fn permit_all(input: &Path, out: &Path, extra: &[&str], quiet: bool) -> Output {
    let (input, out) = (input.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec![
        "-q",
        "convert",
        input,
        "--consent-all",
        "permit",
        "--requester",
        "Y02345",
        "--permit-requester",
        "Y02345",
        "--allow-test-identities",
        "--without-official-refsets",
        "--out",
        out,
    ];
    if !quiet {
        args.retain(|a| *a != "-q");
    }
    args.extend_from_slice(extra);
    run(&args)
}

/// `migx validate <DIR>/bundles --profile migx` must pass: the independent command-line
/// validator agrees with convert's own check.
pub(crate) fn assert_bundles_valid(out: &Path) {
    let o = run(&[
        "validate",
        out.join("bundles").to_str().unwrap(),
        "--profile",
        "migx",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // FHIR R4 org-1 (UK Core validators reject it): every Organization has a name or an
    // identifier, also a practice whose record gave no usable ODS code.
    for (path, bytes) in files_under(&out.join("bundles")) {
        let Ok(b) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        for e in b["entry"].as_array().into_iter().flatten() {
            let r = &e["resource"];
            if r["resourceType"] == "Organization" {
                assert!(
                    r["name"].is_string() || r["identifier"].is_array(),
                    "{path}: an Organization with neither name nor identifier (org-1)"
                );
            }
        }
    }
}

/// Generated extracts of both formats with markers at chosen positions.
pub(crate) mod positions;
