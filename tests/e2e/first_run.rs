//! Issue 20: what a first run trips on. Each point through the built binary and the helpers
//! in `tests/e2e/common/mod.rs`.

use crate::common;
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

/// 20.2: every rejected input is named on stderr with its error code and message, even with
/// `-q`, exactly as the audit records it; `-v` also names each withheld input with its
/// reason.
#[test]
fn rejected_files_are_named_on_stderr_and_verbose_names_the_withheld() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = convert_fixtures(&out, &["-v"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    let audit = read_ndjson(&out.join("audit.ndjson"));
    let (mut rejected, mut withheld) = (0, 0);
    for f in audit.iter().filter(|r| r["kind"] == "file") {
        let input = f["input"].as_str().unwrap();
        match f["status"].as_str().unwrap() {
            "rejected" => {
                rejected += 1;
                let code = f["error"]["code"].as_str().unwrap();
                let line = format!("migx: rejected {input}: {code}: ");
                assert!(e.contains(&line), "stderr lacks {line:?}:\n{e}");
            }
            "withheld" => {
                withheld += 1;
                let line = format!("migx: withheld {input}: {}", f["reason"].as_str().unwrap());
                assert!(e.contains(&line), "stderr lacks {line:?}:\n{e}");
            }
            _ => assert!(!e.contains(&format!(" {input}:")), "{input} named:\n{e}"),
        }
    }
    assert!(
        rejected >= 2 && withheld >= 2,
        "{rejected} rejected, {withheld} withheld"
    );
    assert_eq!(e.matches("migx: rejected ").count(), rejected);
    // Without -v, only the rejected are named.
    let o = convert_fixtures(&dir.path().join("out2"), &[]);
    let e = stderr(&o);
    assert_eq!(e.matches("migx: rejected ").count(), rejected, "{e}");
    assert_eq!(e.matches("migx: withheld ").count(), 0, "{e}");
}

/// 20.11: the end-of-run table never lists removed free text as a reason items were
/// withheld.
#[test]
fn removed_free_text_is_not_a_withholding_reason_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let o = convert_permit_all_loud(
        &root().join("fixtures/extracts"),
        &dir.path().join("out"),
        &[],
    );
    let e = stderr(&o);
    let start = e.find("items withheld per reason:").expect("the table");
    let section: Vec<&str> = e[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .collect();
    assert!(!section.is_empty(), "{e}");
    for l in &section {
        let reason = l.split_whitespace().next().unwrap();
        assert!(
            migx::policy::decide::WithheldReason::ALL
                .iter()
                .any(|r| r.as_str() == reason),
            "{reason:?} listed as a reason:\n{e}"
        );
    }
    assert!(e.contains("shared items, text removed"), "{e}");
}

/// 20.6: the plain progress line (stderr not a terminal) shows kB below 1 MB, never "0/0 MB".
#[test]
fn small_runs_show_kilobytes_in_the_progress_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = convert_permit_all_loud(
        &root().join("fixtures/extracts/01-core-shared.xml"),
        &dir.path().join("out"),
        &[],
    );
    let e = stderr(&o);
    let line = e
        .lines()
        .find(|l| l.starts_with("migx: 1/1 files, "))
        .unwrap_or_else(|| panic!("no progress line:\n{e}"));
    assert!(line.contains(" kB, ") && line.contains(" kB/s"), "{line}");
    assert!(!line.contains("0/0 MB"), "{line}");
}

/// 20.4: `explain` on a file convert rejects says so (the same error code, and the message)
/// and lists no item, so no row reads `shared`; exit 1 (as `explain --help` documents). Every
/// input convert rejects among the fixtures (identity, parse and hostile ones alike), as a
/// table and as JSON.
#[test]
fn explain_on_a_rejected_file_lists_no_shared_items() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    convert_fixtures(&out, &["fixtures/hostile"]);
    let rejected: Vec<(String, String)> = read_ndjson(&out.join("audit.ndjson"))
        .iter()
        .filter(|r| r["kind"] == "file" && r["status"] == "rejected")
        .map(|r| {
            (
                r["input"].as_str().unwrap().to_string(),
                r["error"]["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(rejected.len() >= 10, "{rejected:?}");
    let flags = [
        "--consent",
        "fixtures/consent.csv",
        "--permit-requester",
        "Y02345",
    ];
    for (path, code) in &rejected {
        let mut args = vec!["explain", path.as_str()];
        args.extend(flags);
        let o = run(&args);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{path}:\n{out}{}", stderr(&o));
        let first = out.lines().next().unwrap_or_default();
        assert_eq!(first, format!("{path}: rejected ({code})"), "{out}");
        let message = out.lines().nth(1).unwrap_or_default();
        assert!(
            message.starts_with(&format!("  {code}: ")),
            "{path}: the message is not on the second line:\n{out}"
        );
        for l in out.lines() {
            assert!(
                !l.contains("shared") && !l.contains("source id"),
                "{path}: an item row for a rejected file: {l:?}\n{out}"
            );
        }
        args.push("--json");
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{path}");
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["status"], "rejected", "{path}");
        assert_eq!(j["reason"], code.as_str(), "{path}");
        assert!(j["message"].is_string(), "{path}");
        assert_eq!(j["items"], serde_json::json!([]), "{path}: {j}");
    }
    // The exit code is the one `explain --help` documents.
    let help = String::from_utf8_lossy(&run(&["explain", "--help"]).stdout).into_owned();
    assert!(help.contains("1 it would be rejected"), "{help}");
}

/// 20.5: `migx report` on a folder that does not exist names that folder, and says nothing of
/// an `--out` that was not given; with a bad `--out`, the message names `--out`.
#[test]
fn report_on_a_missing_folder_names_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let nope = dir.path().join("nope");
    let o = run(&["report", nope.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains(&format!("{}: no such folder", nope.display())),
        "{e}"
    );
    assert!(!e.contains("--out"), "{e}");
    assert!(!e.contains("report.html"), "{e}");
    assert!(!nope.exists());
    // A real run folder with an --out whose folder is missing: that names --out.
    let out = dir.path().join("out");
    convert_fixtures(&out, &[]);
    let target = dir.path().join("missing/r.html");
    let o = run(&[
        "report",
        out.to_str().unwrap(),
        "--out",
        target.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--out"), "{}", stderr(&o));
}

/// A folder holding, beside one real extract, files of every kind a folder walk meets: the
/// real extract converts; what is plainly no extract is skipped (named on stderr, counted in
/// summary.json, never an input); what may be one is read and, if broken, rejected.
fn mixed_folder(dir: &std::path::Path) -> std::path::PathBuf {
    let f = dir.join("in");
    std::fs::create_dir_all(f.join("sub/.git")).unwrap();
    std::fs::copy(
        root().join("fixtures/extracts/01-core-shared.xml"),
        f.join("sub/a.xml"),
    )
    .unwrap();
    // Plainly not extracts.
    std::fs::write(f.join("README"), "# notes\n").unwrap();
    std::fs::copy(root().join("fixtures/consent.csv"), f.join("consent.csv")).unwrap();
    std::fs::write(f.join("report.pdf"), b"%PDF-1.4\n\x00\x01").unwrap();
    std::fs::write(f.join("sub/notes.txt"), "some words\n").unwrap();
    // Hidden: a file and a folder (counted once, not entered).
    std::fs::write(f.join(".DS_Store"), b"\x00\x00\x00\x01Bud1").unwrap();
    std::fs::write(f.join("sub/.git/HEAD"), "ref: refs/heads/main\n").unwrap();
    // May be extracts, whatever their names: read, and rejected when broken.
    std::fs::write(f.join("odd-name.dat"), "<?xml version=\"1.0\"?><x/>").unwrap();
    std::fs::write(f.join("bom.txt"), b"\xEF\xBB\xBF  \n{\"a\": 1}").unwrap();
    std::fs::write(f.join("broken.xml"), "not xml at all").unwrap();
    std::fs::write(f.join("empty"), "").unwrap();
    f
}

/// 20.3: a folder walk skips hidden entries and files that are plainly not extracts (by
/// name and first bytes), counting them under `skipped` in summary.json and naming them on
/// stderr; they are neither inputs nor rejections. Everything that may be an extract is read.
#[test]
fn a_folder_walk_skips_what_is_plainly_not_an_extract() {
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_folder(dir.path());
    let out = dir.path().join("out");
    let o = convert_permit_all_loud(&input, &out, &[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["skipped"],
        serde_json::json!({"hidden": 2, "not-an-extract": 4}),
        "{summary}"
    );
    let audit = read_ndjson(&out.join("audit.ndjson"));
    let files: Vec<(String, String)> = audit
        .iter()
        .filter(|r| r["kind"] == "file")
        .map(|r| {
            let name = r["input"].as_str().unwrap().rsplit('/').next().unwrap();
            (name.to_string(), r["status"].as_str().unwrap().to_string())
        })
        .collect();
    let inputs: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        inputs,
        ["bom.txt", "broken.xml", "empty", "odd-name.dat", "a.xml"],
        "{files:?}"
    );
    assert_eq!(summary["inputs"], 5);
    assert_eq!(summary["converted"], 1);
    assert_eq!(summary["rejected"], 4);
    for skipped in [
        "README",
        "consent.csv",
        "report.pdf",
        "notes.txt",
        ".DS_Store",
        ".git",
    ] {
        assert!(
            e.lines()
                .any(|l| l.starts_with("migx: skipped ") && l.contains(skipped)),
            "stderr does not name {skipped}:\n{e}"
        );
        assert!(!e.contains(&format!("rejected {}", input.join(skipped).display())));
    }
    assert!(!e.contains("HEAD"), "the hidden folder was entered:\n{e}");
    // The end-of-run table counts them apart from the inputs.
    assert!(e.contains("skipped (not inputs)"), "{e}");
    assert!(e.contains("migx: 5 input(s)"), "{e}");
    // The summary passes its schema.
    let o = run(&["validate", out.to_str().unwrap()]);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("summary"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// 20.3: a file named on the command line is never skipped, whatever its name or content: it
/// is converted or rejected. A folder of nothing but skipped files is a usage error naming
/// why, and writes nothing.
#[test]
fn a_file_named_on_the_command_line_is_never_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_folder(dir.path());
    for name in ["README", "consent.csv", "report.pdf", ".DS_Store"] {
        let out = dir.path().join(format!("out-{name}"));
        let o = convert_permit_all(&input.join(name), &out, &[]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        let audit = read_ndjson(&out.join("audit.ndjson"));
        assert_eq!(audit[0]["status"], "rejected", "{name}");
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["skipped"], serde_json::json!({}), "{name}");
        assert!(stderr(&o).contains("migx: rejected "), "{}", stderr(&o));
    }
    let only = dir.path().join("only-notes");
    std::fs::create_dir(&only).unwrap();
    std::fs::write(only.join("README.md"), "# read me\n").unwrap();
    let out = dir.path().join("out-none");
    let o = convert_permit_all(&only, &out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("skipped 1 file(s)"), "{}", stderr(&o));
    assert!(!out.exists());
    // --help says what a folder walk reads.
    let o = migx()
        .args(["convert", "--help"])
        .env("COLUMNS", "1000")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    for words in ["*.xml or *.json", "hidden files and folders", "skipped"] {
        assert!(help.contains(words), "convert --help lacks {words:?}");
    }
}

/// 20.12: the report says what an operator asks next: the output folder, the requesters and
/// purposes the run permitted and disclosed to, every converted file linking to its bundle,
/// and for each error code present what to do, in the same words as the end-of-run advice on
/// stderr (one text per code, `ErrorCode::help`). A rerun writes the same bytes.
#[test]
fn the_report_answers_the_operators_next_questions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = out.join("report.html");
    let r = report.to_str().unwrap();
    let args = [
        "convert",
        "fixtures/extracts",
        "fixtures/hostile",
        "--consent",
        "fixtures/consent.csv",
        "--permit-requester",
        "Y02345",
        WITHOUT_OFFICIAL_REFSETS,
        "--out",
        out.to_str().unwrap(),
        "--report-html",
        r,
    ];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    let html = std::fs::read_to_string(&report).unwrap();
    let esc = migx::run_report::escape;
    assert!(
        html.contains(&format!(
            "<th scope=\"row\">output folder</th><td class=\"mono hash\">{}</td>",
            esc(&out.display().to_string())
        )),
        "no output folder"
    );
    assert!(html.contains("Purposes of use permitted: <code>TREAT</code>, <code>ETREAT</code>."));
    assert!(html.contains(
        "<tr><td><code>Y02345</code></td><td></td><td></td><td>--permit-requester (this run only)</td></tr>"
    ));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let converted = summary["converted"].as_u64().unwrap();
    // Disclosures per requester and purpose, as the access audit records them.
    let mut disclosures = std::collections::BTreeMap::new();
    for ev in read_ndjson(&out.join("access-audit.ndjson")) {
        let key = (
            ev["agent"][0]["who"]["identifier"]["value"]
                .as_str()
                .unwrap()
                .to_string(),
            ev["purposeOfEvent"][0]["coding"][0]["code"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        *disclosures.entry(key).or_insert(0u64) += 1;
    }
    assert_eq!(disclosures.values().sum::<u64>(), converted);
    for ((who, purpose), n) in &disclosures {
        let row = format!(
            "<tr><td><code>{who}</code></td><td><code>{purpose}</code></td><td class=\"num\">{n}</td></tr>"
        );
        assert!(html.contains(&row), "no disclosure row {row}");
    }
    // Every converted file links to its bundle, which is there.
    let audit = read_ndjson(&out.join("audit.ndjson"));
    let mut links = 0;
    for f in audit
        .iter()
        .filter(|f| f["kind"] == "file" && f["status"] == "converted")
    {
        let bundle = f["bundle"].as_str().unwrap();
        assert!(out.join(bundle).is_file(), "{bundle}");
        let row = format!(
            "<tr><td class=\"mono\">{}</td><td class=\"mono\"><a href=\"{}\">{}</a></td></tr>",
            esc(f["input"].as_str().unwrap()),
            esc(bundle),
            esc(bundle)
        );
        assert!(html.contains(&row), "no row {row}");
        links += 1;
    }
    assert_eq!(links as u64, converted);
    assert_eq!(html.matches("href=").count() as u64, converted);
    // What to do about each error code present: the report and stderr say the same.
    let codes = summary["error_codes"].as_object().unwrap();
    assert!(codes.len() >= 5, "{codes:?}");
    for (code, n) in codes {
        let help = migx::error::ErrorCode::parse(code)
            .unwrap_or_else(|| panic!("{code} is no error code"))
            .help();
        let row = format!(
            "<tr><td><code>{code}</code></td><td class=\"num\">{n}</td><td>{}</td></tr>",
            esc(help)
        );
        assert!(html.contains(&row), "no advice row {row}");
        assert!(
            e.contains(&format!("    {code}: {help}\n")),
            "stderr lacks {code}:\n{e}"
        );
    }
    // The same command again: the same report, byte for byte (no clock time in it).
    let before = std::fs::read(&report).unwrap();
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&report).unwrap(), before);
}
