//! Sharding and parallelism never change outputs: the union of `--shard K/3` runs, merged
//! with `migx summary`, is byte-identical to one unsharded run (bundles, audit, summary,
//! access audit), and `--jobs 1` and `--jobs 2` write identical folders, in both formats.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn migx(args: &[&str]) -> i32 {
    let out = crate::common::migx()
        .arg("--quiet")
        .args(args)
        .output()
        .expect("run migx");
    assert!(
        out.status.code().unwrap_or(99) <= 1,
        "migx {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.code().unwrap_or(99)
}

fn convert(out: &Path, extra: &[&str]) -> i32 {
    let r = root();
    let inputs = r.join("fixtures/extracts");
    let consent = r.join("fixtures/consent.csv");
    let mut args = vec![
        "convert",
        inputs.to_str().unwrap(),
        "--consent",
        consent.to_str().unwrap(),
        "--permit-requester",
        "Y02345",
        "--without-official-refsets",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    migx(&args)
}

/// Every file under `dir` (relative path -> bytes), skipping `skip` subfolders.
fn files(dir: &Path, skip: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in walk(dir) {
        let rel = e
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if skip.iter().any(|s| rel.starts_with(s)) {
            continue;
        }
        m.insert(rel, std::fs::read(&e).unwrap());
    }
    m
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn assert_same(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "different file sets"
    );
    for (k, v) in a {
        assert!(v == &b[k], "{k} differs");
    }
}

#[test]
fn union_of_three_shards_equals_the_unsharded_run() {
    let t = tempfile::tempdir().unwrap();
    let whole = t.path().join("whole");
    let sharded = t.path().join("sharded");
    let rc = convert(&whole, &["--jobs", "1"]);
    let mut shard_rcs = Vec::new();
    for k in 0..3 {
        shard_rcs.push(convert(
            &sharded,
            &["--jobs", "1", "--shard", &format!("{k}/3")],
        ));
    }
    // Each shard kept to its own share: its audit names only its own inputs, and the
    // shares are non-empty and disjoint.
    let mut seen = std::collections::BTreeSet::new();
    for k in 0..3 {
        let audit =
            std::fs::read_to_string(sharded.join(format!("shards/{k}-of-3/audit.ndjson"))).unwrap();
        let inputs: Vec<String> = audit
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["kind"] == "file")
            .map(|v| v["input"].as_str().unwrap().to_string())
            .collect();
        assert!(!inputs.is_empty(), "shard {k} is empty");
        for i in inputs {
            assert!(seen.insert(i), "an input is in two shards");
        }
    }
    // Merging before every shard is there is refused.
    let partial = t.path().join("partial");
    let out = crate::common::migx()
        .args(["summary", sharded.join("shards/0-of-3").to_str().unwrap()])
        .args(["--out", partial.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));

    let merged_rc = migx(&[
        "summary",
        sharded.to_str().unwrap(),
        "--out",
        sharded.to_str().unwrap(),
    ]);
    assert_eq!(merged_rc, rc, "summary exit code matches convert's");
    assert_eq!(shard_rcs.iter().max().copied().unwrap(), rc);

    let a = files(&whole, &[]);
    let b = files(&sharded, &["shards/"]);
    assert!(a.keys().any(|k| k.starts_with("bundles/")));
    for f in ["audit.ndjson", "summary.json", "access-audit.ndjson"] {
        assert!(a.contains_key(f), "{f} missing");
    }
    assert_same(&a, &b);
}

#[test]
fn jobs_1_and_2_write_identical_outputs_in_both_formats() {
    let t = tempfile::tempdir().unwrap();
    for format in ["bundle", "ndjson"] {
        let one = t.path().join(format!("{format}-1"));
        let two = t.path().join(format!("{format}-2"));
        convert(&one, &["--jobs", "1", "--format", format]);
        convert(&two, &["--jobs", "2", "--format", format]);
        let a = files(&one, &[]);
        let b = files(&two, &[]);
        assert_same(&a, &b);
        if format == "ndjson" {
            assert!(a.contains_key("ndjson/Patient.ndjson"));
            assert!(!a.keys().any(|k| k.starts_with("bundles/")));
        }
    }
}

#[test]
fn ndjson_holds_exactly_the_bundles_resources_in_input_then_entry_order() {
    let t = tempfile::tempdir().unwrap();
    let b = t.path().join("b");
    let n = t.path().join("n");
    convert(&b, &["--jobs", "2"]);
    convert(&n, &["--jobs", "2", "--format", "ndjson"]);
    // Expected: walk bundles in input order (audit order), entries in order, per type.
    let audit = std::fs::read_to_string(b.join("audit.ndjson")).unwrap();
    let mut expected: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for l in audit.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let Some(bundle) = v["bundle"].as_str() else {
            continue;
        };
        let bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.join(bundle)).unwrap()).unwrap();
        for e in bundle["entry"].as_array().unwrap() {
            let ty = e["resource"]["resourceType"].as_str().unwrap().to_string();
            expected.entry(ty).or_default().push(e["resource"].clone());
        }
    }
    let mut got: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for f in walk(&n.join("ndjson")) {
        let ty = f.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.lines() {
            assert!(!line.is_empty() && !line.contains('\n'));
            got.entry(ty.clone())
                .or_default()
                .push(serde_json::from_str(line).unwrap());
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&f).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "ndjson files are owner-only");
        }
    }
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (ty, exp) in &expected {
        let g = &got[ty];
        assert_eq!(exp.len(), g.len(), "{ty}");
        for (e, g) in exp.iter().zip(g) {
            // Same resource except references, which become relative (Type/id).
            let es = e.to_string();
            let gs = g.to_string();
            assert_eq!(e["id"], g["id"]);
            assert!(!gs.contains("\"reference\":\"urn:uuid:"), "{ty}: {gs}");
            if !es.contains("\"reference\"") {
                assert_eq!(e, g);
            }
        }
    }
    // The access audit records each disclosure, naming the ndjson folder.
    let access = std::fs::read_to_string(n.join("access-audit.ndjson")).unwrap();
    let disclosures = std::fs::read_to_string(b.join("access-audit.ndjson")).unwrap();
    assert_eq!(access.lines().count(), disclosures.lines().count());
    assert!(access.contains("\"name\":\"ndjson/\""));
    // The audit of an ndjson run conforms to the audit schema too.
    for line in std::fs::read_to_string(n.join("audit.ndjson"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(migx::validate::validate_audit_line(&v).is_empty(), "{line}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(n.join("summary.json")).unwrap()).unwrap();
    assert!(
        migx::validate::validate_summary(&summary).is_empty(),
        "{summary}"
    );
}
