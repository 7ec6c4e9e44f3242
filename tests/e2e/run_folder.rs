//! One run, one folder (issue 14): bundle names that cannot collide, outputs never read
//! back as inputs, symlinks followed or reported, names at the file-name limit. After each
//! run the folder invariant is checked: every file in `bundles/` is audited, and every
//! audited disclosure exists and holds the patient its audit names.

use crate::common;

use common::{convert_permit_all, read_ndjson, root};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    root().join("fixtures/extracts").join(name)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The NHS number of the Patient in a bundle.
fn bundle_patient(b: &Json) -> String {
    let entries = b["entry"].as_array().expect("entries");
    let p = entries
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .expect("a Patient");
    p["resource"]["identifier"][0]["value"]
        .as_str()
        .expect("NHS number")
        .to_string()
}

/// The folder invariant. Returns bundle name -> NHS number of its patient.
fn assert_folder_consistent(out: &Path) -> BTreeMap<String, String> {
    let audit = read_ndjson(&out.join("audit.ndjson"));
    let access = read_ndjson(&out.join("access-audit.ndjson"));
    let disclosed: Vec<&Json> = audit
        .iter()
        .filter(|l| l["kind"] == "file" && l["status"] == "converted")
        .collect();
    assert_eq!(
        disclosed.len(),
        access.len(),
        "one access event per disclosure"
    );
    let mut by_name = BTreeMap::new();
    for ev in &access {
        let name = ev["entity"][1]["name"].as_str().expect("bundle name");
        let nhs = ev["entity"][0]["what"]["identifier"]["value"]
            .as_str()
            .expect("patient");
        let sha = ev["entity"][1]["detail"][0]["valueString"]
            .as_str()
            .expect("sha256");
        let bytes =
            fs::read(out.join(name)).unwrap_or_else(|e| panic!("audited {name} missing: {e}"));
        assert_eq!(
            hex(&Sha256::digest(&bytes)),
            sha,
            "{name}: not the bytes audited"
        );
        let b: Json = serde_json::from_slice(&bytes).expect("bundle JSON");
        assert_eq!(bundle_patient(&b), nhs, "{name} holds another patient");
        assert!(
            by_name.insert(name.to_string(), nhs.to_string()).is_none(),
            "{name} disclosed twice"
        );
    }
    let audited: Vec<&str> = disclosed
        .iter()
        .map(|l| l["bundle"].as_str().expect("bundle"))
        .collect();
    for e in fs::read_dir(out.join("bundles"))
        .expect("bundles/")
        .flatten()
    {
        let name = format!("bundles/{}", e.file_name().to_string_lossy());
        assert!(by_name.contains_key(&name), "{name} is in no access audit");
        assert!(audited.contains(&name.as_str()), "{name} is in no audit");
    }
    by_name
}

fn audit_files(out: &Path) -> BTreeMap<String, Json> {
    read_ndjson(&out.join("audit.ndjson"))
        .into_iter()
        .filter(|l| l["kind"] == "file")
        .map(|l| (l["input"].as_str().expect("input").to_string(), l))
        .collect()
}

#[test]
fn inputs_whose_names_collide_after_hashing_get_one_bundle_each() {
    let t = tempfile::tempdir().unwrap();
    let inp = t.path().join("in");
    for d in ["a", "b", "c"] {
        fs::create_dir_all(inp.join(d)).unwrap();
    }
    let b_display = inp.join("b/rec.xml").display().to_string();
    let h = hex(&Sha256::digest(b_display.as_bytes()));
    let third = inp.join(format!("c/rec-{}.xml", &h[..8]));
    fs::copy(fixture("01-core-shared.xml"), inp.join("a/rec.xml")).unwrap();
    fs::copy(fixture("02-pathology-report.xml"), inp.join("b/rec.xml")).unwrap();
    fs::copy(fixture("03-medications.xml"), &third).unwrap();
    // More inputs impersonating the hashed names of the others.
    fs::create_dir_all(inp.join("d")).unwrap();
    fs::copy(fixture("04-problems.xml"), inp.join("d/REC.xml")).unwrap();
    let out = t.path().join("out");
    let o = convert_permit_all(&inp, &out, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let disclosed = assert_folder_consistent(&out);
    assert_eq!(disclosed.len(), 4, "{disclosed:?}");
    let patients: std::collections::BTreeSet<&String> = disclosed.values().collect();
    assert_eq!(patients.len(), 4, "four patients, four bundles");
}

#[test]
fn an_output_folder_inside_an_input_folder_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let inp = t.path().join("in");
    fs::create_dir_all(&inp).unwrap();
    fs::copy(fixture("01-core-shared.xml"), inp.join("a.xml")).unwrap();
    let out = inp.join("out");
    let o = convert_permit_all(&inp, &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("inside the input folder"), "{err}");
    assert!(!out.exists(), "nothing written");
    // The other way round: an input inside the output folder.
    let out = t.path().join("out");
    let o = convert_permit_all(&inp, &out, &[]);
    assert_eq!(o.status.code(), Some(0));
    let o = convert_permit_all(&out.join("bundles"), &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("inside the output folder"));
}

#[cfg(unix)]
#[test]
fn symlinks_inside_an_input_root_are_followed_or_reported_never_skipped() {
    use std::os::unix::fs::symlink;
    let t = tempfile::tempdir().unwrap();
    let inp = t.path().join("in");
    let elsewhere = t.path().join("elsewhere");
    fs::create_dir_all(inp.join("real")).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    fs::copy(fixture("01-core-shared.xml"), inp.join("real/a.xml")).unwrap();
    fs::copy(fixture("02-pathology-report.xml"), elsewhere.join("b.xml")).unwrap();
    fs::copy(fixture("03-medications.xml"), elsewhere.join("c.xml")).unwrap();
    symlink(elsewhere.join("b.xml"), inp.join("linked-file.xml")).unwrap();
    symlink(&elsewhere, inp.join("linked-dir")).unwrap();
    symlink(&inp, inp.join("real/loop")).unwrap();
    symlink(t.path().join("gone.xml"), inp.join("dangling.xml")).unwrap();
    let out = t.path().join("out");
    // A symlink into the output folder: left out of the walk, with a note.
    fs::create_dir(&out).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&out, fs::Permissions::from_mode(0o700)).unwrap();
    symlink(&out, elsewhere.join("into-out")).unwrap();
    let o = convert_permit_all(&inp, &out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("left out of the inputs"), "{err}");
    let files = audit_files(&out);
    let status = |rel: &str| {
        let key = inp.join(rel).display().to_string();
        let f = files
            .get(&key)
            .unwrap_or_else(|| panic!("{rel} not audited: {files:?}"));
        (
            f["status"].as_str().unwrap().to_string(),
            f["reason"].as_str().map(str::to_string),
        )
    };
    assert_eq!(status("real/a.xml").0, "converted");
    assert_eq!(status("linked-file.xml").0, "converted");
    assert_eq!(status("linked-dir/b.xml").0, "converted");
    assert_eq!(status("linked-dir/c.xml").0, "converted");
    assert_eq!(
        status("real/loop"),
        ("rejected".into(), Some("io-error".into()))
    );
    assert_eq!(
        status("dangling.xml"),
        ("rejected".into(), Some("io-error".into()))
    );
    assert_eq!(files.len(), 6, "{:?}", files.keys());
    assert_folder_consistent(&out);
    // Rerun: the bundles folder reached through `elsewhere/into-out` is not read back.
    let o = convert_permit_all(&inp, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("left out of the inputs"));
    assert_eq!(audit_files(&out).len(), 6);
}

#[test]
fn input_names_at_the_file_name_limit_convert() {
    let t = tempfile::tempdir().unwrap();
    let inp = t.path().join("in");
    fs::create_dir_all(inp.join("a")).unwrap();
    fs::create_dir_all(inp.join("b")).unwrap();
    let long = format!("{}.xml", "n".repeat(251)); // 255 bytes
    fs::copy(fixture("01-core-shared.xml"), inp.join("a").join(&long)).unwrap();
    fs::copy(
        fixture("02-pathology-report.xml"),
        inp.join("b").join(&long),
    )
    .unwrap();
    let long_multibyte = format!("{}.xml", "é".repeat(125)); // 254 bytes
    fs::copy(fixture("03-medications.xml"), inp.join(&long_multibyte)).unwrap();
    let out = t.path().join("out");
    let o = convert_permit_all(&inp, &out, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let disclosed = assert_folder_consistent(&out);
    assert_eq!(disclosed.len(), 3);
    for name in disclosed.keys() {
        let file = name.trim_start_matches("bundles/");
        assert!(file.len() <= 255, "{file}");
    }
}

// ------------------------------------------------------------------ one run per folder

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file under `dir` (relative path -> bytes).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    common::files_under(dir).into_iter().collect()
}

fn assert_same_folder(a: &Path, b: &Path) {
    let (sa, sb) = (snapshot(a), snapshot(b));
    assert_eq!(
        sa.keys().collect::<Vec<_>>(),
        sb.keys().collect::<Vec<_>>(),
        "different file sets"
    );
    for (k, v) in &sa {
        assert!(v == &sb[k], "{k} differs");
    }
}

fn consent_file(dir: &Path, deny: &[&str]) -> PathBuf {
    let text = fs::read_to_string(root().join("fixtures/consent.csv")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if deny.iter().any(|n| line.starts_with(n)) {
            out.push_str(&line.replace(",permit,", ",deny,"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    let p = dir.join(format!("consent-{}.csv", deny.len()));
    fs::write(&p, out).unwrap();
    p
}

fn convert_with(consent: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    common::convert_with_consent(&root().join("fixtures/extracts"), consent, out, extra)
}

#[test]
fn a_reused_folder_with_a_withdrawn_consent_is_refused_or_replaced_whole() {
    let t = tempfile::tempdir().unwrap();
    let all = consent_file(t.path(), &[]);
    let withdrawn = consent_file(t.path(), &["9990000018"]); // 01-core-shared.xml
    let out = t.path().join("out");
    let o = convert_with(&all, &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(assert_folder_consistent(&out)
        .values()
        .any(|n| n == "9990000018"));
    let before = snapshot(&out);
    assert!(before.contains_key("manifest.json"));

    // The same command again confirms the same folder, byte for byte.
    let o = convert_with(&all, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("already holds this run"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(&out), before);

    // Another run (the consent file changed) is refused, and nothing changes.
    let o = convert_with(&withdrawn, &out, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds a different run"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("consent"), "{}", stderr(&o));
    assert_eq!(snapshot(&out), before);

    // --replace: the folder now holds the new run only: the withdrawn patient has no
    // bundle, and the folder is what a clean run writes.
    let o = convert_with(&withdrawn, &out, &["--replace"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let disclosed = assert_folder_consistent(&out);
    assert!(
        !disclosed.values().any(|n| n == "9990000018"),
        "{disclosed:?}"
    );
    let clean = t.path().join("clean");
    assert_eq!(convert_with(&withdrawn, &clean, &[]).status.code(), Some(1));
    assert_same_folder(&out, &clean);
    let siblings: Vec<String> = fs::read_dir(t.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("migx"))
        .collect();
    assert!(siblings.is_empty(), "left beside the folder: {siblings:?}");
}

#[test]
fn a_folder_with_foreign_files_is_refused_and_stray_bundles_are_removed() {
    let t = tempfile::tempdir().unwrap();
    let consent = consent_file(t.path(), &[]);
    let out = t.path().join("out");
    fs::create_dir(&out).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&out, fs::Permissions::from_mode(0o700)).unwrap();
    }
    fs::write(out.join("notes.txt"), b"someone else's").unwrap();
    let o = convert_with(&consent, &out, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("no migx manifest"), "{}", stderr(&o));
    assert_eq!(
        convert_with(&consent, &out, &["--replace"]).status.code(),
        Some(1)
    );
    assert!(!out.join("notes.txt").exists());
    assert_folder_consistent(&out);
    // A file in bundles/ that no input names: the rerun removes it and says so.
    fs::write(out.join("bundles/planted.json"), b"{}").unwrap();
    // validate and audit describe the folder as one run, and name the stray file.
    let v = common::run(&["validate", out.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", stderr(&v));
    assert!(
        stderr(&v).contains("bundles/planted.json: in no access audit"),
        "{}",
        stderr(&v)
    );
    assert!(stderr(&v).contains("run: 20 input(s)"), "{}", stderr(&v));
    let a = common::run(&["audit", out.to_str().unwrap()]);
    assert!(
        stderr(&a).contains("warning: bundles/planted.json"),
        "{}",
        stderr(&a)
    );
    let o = convert_with(&consent, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("removed 1 file(s)"), "{}", stderr(&o));
    assert!(!out.join("bundles/planted.json").exists());
    assert_folder_consistent(&out);
    let v = common::run(&["validate", out.join("bundles").to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
}

/// A batch big enough to take a moment: copies of the fixtures under distinct names.
fn big_batch(dir: &Path, n: usize) -> PathBuf {
    let inp = dir.join("big");
    fs::create_dir_all(&inp).unwrap();
    let goods: Vec<PathBuf> = fs::read_dir(root().join("fixtures/extracts"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    for i in 0..n {
        fs::copy(&goods[i % goods.len()], inp.join(format!("f{i:04}.xml"))).unwrap();
    }
    inp
}

#[test]
fn a_second_concurrent_run_refuses_at_once_and_shards_of_one_run_share_the_folder() {
    let t = tempfile::tempdir().unwrap();
    let inp = big_batch(t.path(), 400);
    let out = t.path().join("out");
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = [
            "-q",
            "convert",
            inp.to_str().unwrap(),
            "--consent-all",
            "permit",
            "--requester",
            "Y02345",
            "--permit-requester",
            "Y02345",
            "--allow-test-identities",
            "--without-official-refsets",
            "--jobs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut first = common::migx().args(args(&[])).spawn().unwrap();
    let started = std::time::Instant::now();
    while !out.join("manifest.json").exists() && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let second = common::migx().args(args(&[])).output().unwrap();
    let still_running = first.try_wait().unwrap().is_none();
    let first_rc = first.wait().unwrap().code();
    assert_eq!(first_rc, Some(1), "two fixtures are rejected on purpose");
    if still_running {
        assert_eq!(second.status.code(), Some(4), "{}", stderr(&second));
        assert!(stderr(&second).contains("another migx run is writing"));
    } else {
        eprintln!("note: the first run finished before the second started");
    }
    assert_folder_consistent(&out);

    // Shards of one run, at the same time, into one fresh folder: all accepted; a second
    // process for the same shard is refused.
    let sharded = t.path().join("sharded");
    let sargs = |k: u32| {
        let mut v = args(&["--shard", &format!("{k}/3")]);
        let i = v.iter().position(|a| a == "--out").unwrap();
        v[i + 1] = sharded.to_str().unwrap().to_string();
        v
    };
    let kids: Vec<_> = (0..3)
        .map(|k| common::migx().args(sargs(k)).spawn().unwrap())
        .collect();
    let dup = common::migx().args(sargs(0)).output().unwrap();
    let codes: Vec<Option<i32>> = kids
        .into_iter()
        .map(|k| k.wait_with_output().unwrap())
        .map(|o| {
            eprintln!("{}", stderr(&o));
            o.status.code()
        })
        .collect();
    // Shards 1 and 2 ran; of the two processes for shard 0, one ran (and the other, if
    // they overlapped, was refused at once).
    assert!(codes[1..].iter().all(|c| *c == Some(1)), "{codes:?}");
    let zero = [codes[0], dup.status.code()];
    assert!(zero.contains(&Some(1)), "{zero:?} {}", stderr(&dup));
    assert!(
        zero.iter().all(|c| matches!(c, Some(1) | Some(4))),
        "{zero:?}"
    );
    let m = common::run(&[
        "-q",
        "summary",
        sharded.to_str().unwrap(),
        "--out",
        sharded.to_str().unwrap(),
    ]);
    assert_eq!(m.status.code(), Some(1), "{}", stderr(&m));
    assert_folder_consistent(&sharded);
    let whole: BTreeMap<String, Vec<u8>> = snapshot(&out);
    let parts: BTreeMap<String, Vec<u8>> = snapshot(&sharded)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("shards/"))
        .collect();
    assert_eq!(whole, parts, "the shards' folder is the unsharded run's");

    // A shard of a different run (other consent source) is refused.
    let o = common::run(&[
        "-q",
        "convert",
        inp.to_str().unwrap(),
        "--consent",
        root().join("fixtures/consent.csv").to_str().unwrap(),
        "--permit-requester",
        "Y02345",
        "--without-official-refsets",
        "--shard",
        "1/3",
        "--out",
        sharded.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
}

// ------------------------------------------------------------------ faults

/// What describes the folder after a stop: access events of its audit and of its journal
/// (bundle name -> every (sha256, NHS number) recorded for it).
fn descriptions(out: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let mut events = Vec::new();
    if out.join("access-audit.ndjson").exists() {
        events.extend(read_ndjson(&out.join("access-audit.ndjson")));
    }
    if out.join("journal.ndjson").exists() {
        for r in read_ndjson(&out.join("journal.ndjson")) {
            if r["access"].is_object() {
                events.push(r["access"].clone());
            }
        }
    }
    let mut m: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for ev in events {
        m.entry(ev["entity"][1]["name"].as_str().unwrap().to_string())
            .or_default()
            .push((
                ev["entity"][1]["detail"][0]["valueString"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                ev["entity"][0]["what"]["identifier"]["value"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            ));
    }
    m
}

/// After a stop: every file in `bundles/` is described (audit or journal), with its exact
/// bytes and the patient it holds; ndjson files exist only beside an audit or journal.
fn assert_every_output_described(out: &Path) {
    let d = descriptions(out);
    if let Ok(rd) = fs::read_dir(out.join("bundles")) {
        for e in rd.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            if file.starts_with(".migx-tmp-") {
                continue;
            }
            let name = format!("bundles/{file}");
            let bytes = fs::read(e.path()).unwrap();
            let sha = hex(&Sha256::digest(&bytes));
            let nhs = bundle_patient(&serde_json::from_slice(&bytes).expect("complete JSON"));
            let described = d.get(&name).is_some_and(|v| v.contains(&(sha, nhs)));
            assert!(
                described,
                "{name} is described by no audit or journal record"
            );
        }
    }
    if let Ok(rd) = fs::read_dir(out.join("ndjson")) {
        let published = rd
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".ndjson"));
        assert!(
            !published || out.join("audit.ndjson").exists() || out.join("journal.ndjson").exists(),
            "ndjson published with no audit"
        );
    }
}

fn small_batch(dir: &Path) -> PathBuf {
    let inp = dir.join("small");
    fs::create_dir_all(&inp).unwrap();
    // Converted, withheld (dissent), rejected (invalid NHS number), converted.
    for f in [
        "01-core-shared.xml",
        "08-practice-dissent.xml",
        "17-invalid-nhs-number.xml",
        "03-medications.xml",
    ] {
        fs::copy(fixture(f), inp.join(f)).unwrap();
    }
    inp
}

fn run_faulty(
    inp: &Path,
    out: &Path,
    format: &str,
    fault: Option<(usize, &str)>,
) -> std::process::Output {
    let mut c = common::migx();
    c.args(["-q", "convert", inp.to_str().unwrap()])
        .args([
            "--consent",
            root().join("fixtures/consent.csv").to_str().unwrap(),
        ])
        .args([
            "--permit-requester",
            "Y02345",
            "--without-official-refsets",
            "--jobs",
            "1",
            "--format",
            format,
        ])
        .args(["--out", out.to_str().unwrap()]);
    if let Some((n, kind)) = fault {
        c.env("MIGX_FAULT_AFTER_WRITES", n.to_string())
            .env("MIGX_FAULT", kind);
    }
    c.output().unwrap()
}

/// Stop the run at every write stage in turn (`MIGX_FAULT_AFTER_WRITES`, debug builds), by
/// an abort (as `kill -9`) or by a full disk (an injected ENOSPC: mounting a tmpfs needs
/// privileges tests do not have): after each stop every output is described; a full disk exits 3
/// saying how many records were disclosed; the rerun says it completes an interrupted run,
/// and leaves the folder byte-identical to a clean run.
fn stop_at_every_write(format: &str, kind: &str) {
    let t = tempfile::tempdir().unwrap();
    let inp = small_batch(t.path());
    {
        let clean = t.path().join(format!("clean-{format}"));
        assert_eq!(
            run_faulty(&inp, &clean, format, None).status.code(),
            Some(1)
        );
        {
            let mut stages = 0;
            for n in 1..200 {
                let out = t.path().join(format!("{format}-{kind}-{n}"));
                let o = run_faulty(&inp, &out, format, Some((n, kind)));
                if o.status.code() == Some(1) {
                    break; // fewer than n write stages: the run completed
                }
                stages = n;
                match kind {
                    "abort" => assert_eq!(o.status.code(), None, "{}", stderr(&o)),
                    _ => {
                        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
                        let err = stderr(&o);
                        let disclosed: usize = err
                            .split(" record(s) were disclosed")
                            .next()
                            .and_then(|s| s.rsplit(' ').next())
                            .and_then(|s| s.trim().parse().ok())
                            .unwrap_or_else(|| panic!("no count: {err}"));
                        if format == "bundle" {
                            let published = fs::read_dir(out.join("bundles"))
                                .map(|rd| {
                                    rd.flatten()
                                        .filter(|e| {
                                            !e.file_name().to_string_lossy().starts_with('.')
                                        })
                                        .count()
                                })
                                .unwrap_or(0);
                            assert_eq!(disclosed, published, "{err}");
                        }
                        // The summary is written last, then the journal dropped.
                        assert!(
                            !out.join("summary.json").exists()
                                || out.join("journal.ndjson").exists()
                        );
                    }
                }
                assert_every_output_described(&out);
                let interrupted = out.join("journal.ndjson").exists();
                let o = run_faulty(&inp, &out, format, None);
                assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
                if interrupted {
                    assert!(stderr(&o).contains("was interrupted"), "{}", stderr(&o));
                }
                if format == "bundle" {
                    assert_folder_consistent(&out);
                }
                assert_same_folder(&out, &clean);
                fs::remove_dir_all(&out).unwrap();
            }
            eprintln!("{format} {kind}: stopped at each of {stages} write stages");
            assert!(stages >= 6, "{format} {kind}: only {stages} write stages");
        }
    }
}

#[test]
fn bundles_a_run_aborted_at_any_write_leaves_a_described_folder_that_a_rerun_completes() {
    stop_at_every_write("bundle", "abort");
}

#[test]
fn bundles_a_full_disk_at_any_write_exits_3_and_a_rerun_completes() {
    stop_at_every_write("bundle", "enospc");
}

#[test]
fn ndjson_a_run_aborted_at_any_write_leaves_a_described_folder_that_a_rerun_completes() {
    stop_at_every_write("ndjson", "abort");
}

#[test]
fn ndjson_a_full_disk_at_any_write_exits_3_and_a_rerun_completes() {
    stop_at_every_write("ndjson", "enospc");
}
