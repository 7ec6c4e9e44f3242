//! Issue 20: what a first run trips on. Each point through the built binary and the helpers
//! in `tests/common/mod.rs`.

mod common;
use common::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// 20.1: a missing input path is a usage error (exit 2) that writes nothing, for every
/// position of the missing path among real inputs.
#[test]
fn a_missing_input_is_a_usage_error_that_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let real = root().join("fixtures/extracts/01-core-shared.xml");
    let missing = dir.path().join("nonexistent");
    let sets: Vec<Vec<&std::path::Path>> =
        vec![vec![&missing], vec![&missing, &real], vec![&real, &missing]];
    for (i, set) in sets.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let mut args: Vec<&str> = set.iter().map(|p| p.to_str().unwrap()).collect();
        args.insert(0, "convert");
        args.extend([
            "--consent-all",
            "permit",
            "--requester",
            "Y02345",
            "--permit-requester",
            "Y02345",
            "--allow-test-identities",
            WITHOUT_OFFICIAL_REFSETS,
            "--out",
            out.to_str().unwrap(),
        ]);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(!out.exists(), "the output folder was created");
        let e = stderr(&o);
        assert!(e.contains("no such file or folder"), "{e}");
        assert!(e.contains("nonexistent"), "{e}");
    }
    // explain says the same.
    let o = run(&[
        "explain",
        missing.to_str().unwrap(),
        "--consent-all",
        "permit",
        "--requester",
        "Y02345",
        "--permit-requester",
        "Y02345",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no such file or folder"));
}

/// 20.13: the SNOMED CT note is printed once, with the fix, and never before a usage error.
#[test]
fn the_snomed_note_comes_once_after_the_argument_checks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = convert_permit_all_loud(&root().join("fixtures/extracts"), &out, &[]);
    assert!(o.status.code() == Some(0) || o.status.code() == Some(1));
    let e = stderr(&o);
    assert_eq!(
        e.matches("no SNOMED CT release loaded").count(),
        1,
        "the note once:\n{e}"
    );
    assert!(e.contains("fix: --snomed"), "{e}");
    // A usage error after the flags parse (a bad --jobs, a bad --shard, a missing input):
    // the error alone.
    for extra in [&["--jobs", "0"][..], &["--shard", "9/2"][..]] {
        let o = convert_permit_all_loud(
            &root().join("fixtures/extracts"),
            &dir.path().join("o2"),
            extra,
        );
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            !stderr(&o).contains("SNOMED"),
            "the note before a usage error:\n{}",
            stderr(&o)
        );
    }
    let o = convert_permit_all_loud(&dir.path().join("nope"), &dir.path().join("o3"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("SNOMED"), "{}", stderr(&o));
}
