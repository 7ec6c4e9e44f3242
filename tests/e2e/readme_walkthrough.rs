//! The README walk-through works when pasted into a shell: its `sh` blocks are run in order
//! (with the built binary instead of a fresh release build) in a scratch folder holding the
//! fixtures, and what they print is what the README says.

use crate::common;
use common::*;

#[test]
fn readme_walkthrough_runs_as_pasted() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("## Walk-through")
        .expect("walk-through section");
    let end = start + readme[start..].find("\n## Commands").expect("next section");
    let section = &readme[start..end];
    let mut script = String::new();
    let mut rest = section;
    while let Some(i) = rest.find("```sh\n") {
        let body = &rest[i + 6..];
        let j = body.find("```").unwrap();
        script.push_str(&body[..j]);
        rest = &body[j + 3..];
    }
    assert!(
        script.contains("convert fixtures/extracts"),
        "walk-through has the main command"
    );
    // The binary under test replaces the release build.
    let script = script.replace("cargo build --release\n", "").replace(
        "B=target/release/migx",
        &format!("B={}", crate::common::MIGX),
    );
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root().join("fixtures"), dir.path().join("fixtures")).unwrap();
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "the walk-through failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for expected in [
        "exit code 1",
        "access-audit.ndjson",
        "withheld: sensitive-code",
        "\"reason\":\"sensitive-code\"",
        "confidential-items",
        "14 valid, 0 invalid",
        "1 release(s)",
    ] {
        assert!(
            stdout.contains(expected),
            "walk-through output lacks {expected:?}:\n{stdout}"
        );
    }
    assert!(dir.path().join("out/report.html").is_file());
}
