//! The clinical safety case stays true to the code: every test the hazard log names exists,
//! every hazard has at least one test, and every hazard the file must cover is there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The hazards the risk management file must always cover (the DCB0129 minimum set migx
/// committed to), matched against the hazard headings, case-insensitively.
const REQUIRED_HAZARDS: &[&str] = &[
    "sensitive item is disclosed",
    "marked confidential is disclosed",
    "dissented or unconsented record is disclosed",
    "wrong patient",
    "omission is read as absence",
    "dose, unit or date is lost or altered",
    "unverified item is shown as confirmed",
    "stale output from an earlier run",
    "terminology or policy file is missing, outdated or wrong",
    "operator override is used in production",
];

/// Hazard id -> (heading, the test references in its section).
fn hazards(log: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in log.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            let (id, title) = h.split_once(' ').unwrap_or((h, ""));
            if id.starts_with('H') && id[1..].chars().all(|c| c.is_ascii_digit()) {
                current = Some(id.to_string());
                out.insert(id.to_string(), (title.to_string(), Vec::new()));
            } else {
                current = None;
            }
            continue;
        }
        let Some(id) = &current else { continue };
        for reference in backticked(line).filter(|r| is_test_reference(r)) {
            out.get_mut(id).unwrap().1.push(reference.to_string());
        }
    }
    out
}

fn backticked(line: &str) -> impl Iterator<Item = &str> {
    line.split('`').skip(1).step_by(2)
}

/// `tests/x.rs::name` or `crates/migx/src/a/b.rs::name` (any crate of the workspace).
fn is_test_reference(s: &str) -> bool {
    match s.split_once("::") {
        Some((file, name)) => {
            (file.starts_with("tests/") || file.starts_with("crates/"))
                && file.ends_with(".rs")
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// Whether `file` defines a test function `name` (a `#[test]` fn, or a proptest case).
fn defines_test(file: &Path, name: &str) -> bool {
    let Ok(src) = std::fs::read_to_string(file) else {
        return false;
    };
    let needle = format!("fn {name}(");
    let Some(at) = src.find(&needle) else {
        return false;
    };
    // The attribute lines just above the function must mark it as a test (or it is a
    // proptest! case, whose body is a test by construction).
    let before = &src[..at];
    let window: String = before.lines().rev().take(6).collect::<Vec<_>>().join("\n");
    window.contains("#[test]") || before.contains("proptest!")
}

#[test]
fn every_test_the_hazard_log_names_exists() {
    let log_path = root().join("docs/clinical-safety/hazard-log.md");
    let log = std::fs::read_to_string(&log_path).expect("docs/clinical-safety/hazard-log.md");
    let hz = hazards(&log);
    assert!(hz.len() >= REQUIRED_HAZARDS.len(), "hazards found: {hz:?}");
    let mut missing = Vec::new();
    for (id, (_, refs)) in &hz {
        for r in refs {
            let (file, name) = r.split_once("::").unwrap();
            if !defines_test(&root().join(file), name) {
                missing.push(format!("{id}: {r}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the hazard log names tests that do not exist (rename them in \
         docs/clinical-safety/hazard-log.md too):\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_hazard_has_a_test_and_the_required_hazards_are_covered() {
    let log = std::fs::read_to_string(root().join("docs/clinical-safety/hazard-log.md"))
        .expect("hazard log");
    let hz = hazards(&log);
    let untested: Vec<_> = hz.iter().filter(|(_, (_, r))| r.is_empty()).collect();
    assert!(untested.is_empty(), "hazards without a test: {untested:?}");
    for required in REQUIRED_HAZARDS {
        assert!(
            hz.values()
                .any(|(title, _)| title.to_lowercase().contains(required)),
            "no hazard covers \"{required}\""
        );
    }
    // Every hazard states severity, likelihood and residual risk on the matrix.
    for id in hz.keys() {
        let section = log
            .split(&format!("## {id} "))
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap_or("");
        for field in [
            "**Cause.**",
            "**Effect.**",
            "**Controls.**",
            "**Severity**",
            "residual",
        ] {
            assert!(section.contains(field), "{id} lacks {field}");
        }
    }
}

#[test]
fn the_checker_itself_tells_a_test_from_a_helper() {
    // A helper function is not a test; a #[test] function is.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.rs");
    std::fs::write(&f, "fn helper() {}\n#[test]\nfn real_one() {}\n").unwrap();
    assert!(defines_test(&f, "real_one"));
    assert!(!defines_test(&f, "helper"));
    assert!(!defines_test(&f, "absent"));
    assert!(is_test_reference("tests/a.rs::b_c"));
    assert!(!is_test_reference("crates/migx/src/a.rs"));
    assert!(!is_test_reference("policy/default.json"));
}
