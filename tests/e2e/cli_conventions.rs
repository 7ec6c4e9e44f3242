//! Command-line conventions: every subcommand's --help ends with an example, --version names
//! the policy and schema, completions and the man page generate, and NO_COLOR is honoured.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::MIGX;

fn run(args: &[&str]) -> Output {
    Command::new(MIGX)
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run migx")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The subcommands `migx <prefix> --help` lists under "Commands:" (clap's layout: two
/// spaces, the name, then its summary; wrapped summaries are indented further).
pub(crate) fn listed_subcommands(prefix: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = prefix.iter().map(String::as_str).collect();
    args.push("--help");
    let help = stdout(&run(&args));
    let Some(start) = help.find("Commands:\n") else {
        return Vec::new();
    };
    help[start + 10..]
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect()
}

/// Every subcommand path (e.g. ["policy", "show"]), from the binary's own help (the one
/// clap definition).
fn subcommand_paths(prefix: &[String], out: &mut Vec<Vec<String>>) {
    for sub in listed_subcommands(prefix) {
        let mut path = prefix.to_vec();
        path.push(sub);
        out.push(path.clone());
        subcommand_paths(&path, out);
    }
}

#[test]
fn every_subcommand_help_has_an_example() {
    let mut paths = vec![Vec::new()];
    subcommand_paths(&[], &mut paths);
    // The walk found the real tree, not an empty one.
    for expected in [
        vec!["convert"],
        vec!["explain"],
        vec!["report"],
        vec!["policy", "check"],
        vec!["snomed", "index"],
        vec!["completions"],
        vec!["man"],
    ] {
        assert!(
            paths.iter().any(|p| p == &expected),
            "subcommand {expected:?} missing from the walk"
        );
    }
    for path in &paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "migx {}", args.join(" "));
        let help = stdout(&o);
        assert!(
            help.contains("Example"),
            "`migx {}` has no example:\n{help}",
            args.join(" ")
        );
        // The example is a real invocation of this subcommand.
        let invocation = format!("migx {}", path.join(" "));
        assert!(
            help.contains(invocation.trim_end()),
            "`migx {}`'s example does not show `{invocation}`",
            args.join(" ")
        );
    }
}

#[test]
fn version_names_policy_and_schema() {
    let o = run(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let v = stdout(&o);
    assert!(v.starts_with(&format!("migx {}", env!("CARGO_PKG_VERSION"))));
    assert!(v.contains("policy migx-default"), "{v}");
    assert!(v.contains("JSON Schema"), "{v}");
}

#[test]
fn completions_and_man_page_generate() {
    for shell in ["bash", "zsh", "fish"] {
        let o = run(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "completions {shell}");
        let s = stdout(&o);
        assert!(s.len() > 500, "completions {shell} is {} bytes", s.len());
        for sub in ["convert", "explain", "report", "validate"] {
            assert!(s.contains(sub), "completions {shell} lack {sub}");
        }
    }
    let o = run(&["completions", "bash"]);
    assert!(stdout(&o).contains("--report-html"));

    let o = run(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    let man = stdout(&o);
    assert!(man.starts_with('.'), "man page is not roff");
    let th = man
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect("a .TH header");
    assert!(th.starts_with(".TH migx 1"), "{th}");
    assert!(man.lines().take(5).any(|l| l.starts_with(".TH ")));
    assert!(man.contains(".SH NAME") && man.contains(".SH SYNOPSIS"));
    assert!(man.contains("report"));
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn explain_args() -> Vec<String> {
    let f = fixtures();
    vec![
        "explain".into(),
        f.join("extracts/02-pathology-report.xml")
            .display()
            .to_string(),
        "--consent".into(),
        f.join("consent.csv").display().to_string(),
        "--permit-requester".into(),
        "Y02345".into(),
    ]
}

#[test]
fn no_color_means_no_ansi_escapes() {
    // Piped: never coloured, NO_COLOR or not.
    let o = Command::new(MIGX)
        .args(explain_args())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("shared"), "explain printed its table");
    assert!(!o.stdout.contains(&0x1b) && !o.stderr.contains(&0x1b));

    // On a terminal (a pty from `script`, Debian package bsdutils): coloured, unless NO_COLOR is set.
    if !Path::new("/usr/bin/script").is_file() {
        eprintln!("SKIP the terminal half of no_color_means_no_ansi_escapes: no /usr/bin/script (Debian package bsdutils) to make a pty");
        return;
    }
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line = std::iter::once(MIGX.to_string())
        .chain(explain_args())
        .map(|a| quote(&a))
        .collect::<Vec<_>>()
        .join(" ");
    let on_tty = |no_color: bool| {
        let mut c = Command::new("/usr/bin/script");
        c.args(["-qec", &line, "/dev/null"]).env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        let o = c.output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    assert!(
        on_tty(false).contains(&0x1b),
        "explain on a terminal is coloured (else this check proves nothing)"
    );
    let plain = on_tty(true);
    assert!(String::from_utf8_lossy(&plain).contains("shared"));
    assert!(!plain.contains(&0x1b), "ANSI escape with NO_COLOR=1");
}

/// The library knows nothing of the command line (issues 15, 18): no file of the `migx`
/// crate names clap or a terminal crate, and its manifest depends on none of them; the
/// binary (`crates/cli/`) maps its own flag enums onto the library's types.
#[test]
fn the_library_never_names_clap() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/migx");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("the library's manifest has dependencies");
    for terminal in [
        "clap",
        "indicatif",
        "clap_complete",
        "clap_mangen",
        "console",
    ] {
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with(terminal)),
            "the library depends on {terminal}: command-line crates belong to crates/cli"
        );
    }
    let src = root.join("src");
    let mut checked = 0;
    for e in walkdir::WalkDir::new(&src) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&src).unwrap();
        if e.path().extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        assert!(
            !text.contains("clap") && !text.contains("indicatif"),
            "crates/migx/src/{} names clap or indicatif: the library must not know the command line",
            rel.display()
        );
        checked += 1;
    }
    assert!(checked > 30, "only {checked} library files found");
}

/// `migx <path> --help` with the terminal width set to `columns` (stdout is a pipe, so clap
/// reads COLUMNS).
fn help_at(path: &[String], columns: usize) -> String {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let o = Command::new(MIGX)
        .args(&args)
        .env("COLUMNS", columns.to_string())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "migx {}", args.join(" "));
    stdout(&o)
}

/// The example lines of a help text: those of its `Example:`/`Examples:` block.
fn example_lines(help: &str) -> Vec<String> {
    let Some(start) = help
        .find("\nExamples:\n")
        .or_else(|| help.find("\nExample:\n"))
    else {
        return Vec::new();
    };
    help[start + 1..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Issue 20.8: no example in any `--help` is wrapped: a narrow terminal prints the same
/// example lines as a wide one (so a pasted example is the whole command), for every command.
#[test]
fn help_examples_are_never_wrapped() {
    let mut paths = vec![Vec::new()];
    subcommand_paths(&[], &mut paths);
    let mut long_examples = 0;
    for path in &paths {
        let wide = example_lines(&help_at(path, 1000));
        let narrow = example_lines(&help_at(path, 40));
        assert!(
            !wide.is_empty(),
            "migx {} --help has no examples",
            path.join(" ")
        );
        assert_eq!(
            narrow,
            wide,
            "migx {} --help wraps its examples at 40 columns",
            path.join(" ")
        );
        long_examples += wide.iter().filter(|l| l.len() > 40).count();
        // No command line outside the examples block either (prose is wrapped).
        for l in help_at(path, 40).lines() {
            assert!(
                !l.trim_start().starts_with("migx ") || wide.iter().any(|w| w == l),
                "migx {} --help: a command line outside the examples: {l:?}",
                path.join(" ")
            );
        }
        // The prose is still wrapped to the terminal.
        for l in help_at(path, 60).lines() {
            if !wide.iter().any(|w| w == l) && !l.starts_with("Usage:") {
                assert!(
                    l.chars().count() <= 60,
                    "migx {} --help: a line wider than 60 columns that is no example: {l:?}",
                    path.join(" ")
                );
            }
        }
    }
    assert!(long_examples >= 5, "the check saw long examples");
}

/// Issue 20.8: the fixture example of `convert --help`, pasted into a shell, runs (exit 1:
/// two fixtures are rejected on purpose) and writes the run.
#[test]
fn a_pasted_convert_example_runs() {
    let help = help_at(&["convert".to_string()], 80);
    let example = example_lines(&help)
        .into_iter()
        .find(|l| l.contains("fixtures/extracts"))
        .unwrap_or_else(|| panic!("no fixture example:\n{help}"));
    let line = example
        .trim()
        .strip_prefix("migx ")
        .expect("a migx command");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(fixtures(), dir.path().join("fixtures")).unwrap();
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!("'{MIGX}' {line}"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{line}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(dir.path().join("out/summary.json").is_file());
}

/// Issue 20.8: the usage lines of convert and explain show that one of `--consent` /
/// `--consent-all` is required, and clap enforces exactly one.
#[test]
fn usage_shows_that_a_consent_source_is_required() {
    for sub in ["convert", "explain"] {
        let help = help_at(&[sub.to_string()], 200);
        let usage = help
            .lines()
            .find(|l| l.starts_with("Usage:"))
            .expect("a usage line");
        assert!(
            usage.contains("<--consent <FILE>|--consent-all <permit|deny>>"),
            "{usage}"
        );
    }
    let f = fixtures();
    let consent = f.join("consent.csv");
    let input = f.join("extracts/01-core-shared.xml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let base = [
        "convert",
        input.to_str().unwrap(),
        "--permit-requester",
        "Y02345",
        "--without-official-refsets",
        "--out",
        out.to_str().unwrap(),
    ];
    let neither = run(&base);
    assert_eq!(neither.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&neither.stderr).contains("--consent <FILE>|--consent-all"),
        "{}",
        String::from_utf8_lossy(&neither.stderr)
    );
    let mut both = base.to_vec();
    both.extend([
        "--consent",
        consent.to_str().unwrap(),
        "--consent-all",
        "permit",
        "--requester",
        "Y02345",
    ]);
    assert_eq!(run(&both).status.code(), Some(2));
    assert!(!out.exists(), "a usage error wrote the output folder");
}

/// Issue 20.9: a man page per command. `migx man <command>` prints `migx-<command>(1)`
/// (nested: `migx-policy-show(1)`), `migx man --out-dir DIR` writes one file per command,
/// and every `migx-...(N)` cross reference in any page names a page that was written.
#[test]
fn every_command_has_a_man_page_and_every_reference_resolves() {
    let mut paths = vec![Vec::new()];
    subcommand_paths(&[], &mut paths);
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let written: std::collections::BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for path in &paths {
        let page = if path.is_empty() {
            "migx".to_string()
        } else {
            format!("migx-{}", path.join("-"))
        };
        assert!(
            written.contains(&format!("{page}.1")),
            "no {page}.1 in {written:?}"
        );
        // The same page on stdout, with its own title.
        let mut args = vec!["man"];
        args.extend(path.iter().map(String::as_str));
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "migx {}", args.join(" "));
        let roff = stdout(&o);
        let th = roff
            .lines()
            .find(|l| l.starts_with(".TH "))
            .unwrap_or_default();
        assert!(th.starts_with(&format!(".TH {page} 1")), "{th}");
        assert_eq!(
            roff.as_bytes(),
            std::fs::read(dir.path().join(format!("{page}.1"))).unwrap(),
            "{page}: printed and written pages differ"
        );
        // Examples are printed as written (no fill), with real hyphen-minus signs.
        assert!(
            roff.contains(".SH EXAMPLES\n.nf\n"),
            "{page} has no EXAMPLES"
        );
    }
    assert_eq!(written.len(), paths.len(), "{written:?}");
    let reference = regex::Regex::new(r"(migx(?:\\?-[a-z]+)*)\((\d)\)").unwrap();
    let mut refs = 0;
    for name in &written {
        let roff = std::fs::read_to_string(dir.path().join(name)).unwrap();
        for c in reference.captures_iter(&roff) {
            let target = format!("{}.{}", c[1].replace("\\-", "-"), &c[2]);
            assert!(
                written.contains(&target),
                "{name} refers to {target}, which does not exist"
            );
            refs += 1;
        }
    }
    assert!(refs >= paths.len() - 1, "{refs} references checked");
    // An unknown command is a usage error.
    assert_eq!(run(&["man", "nonesuch"]).status.code(), Some(2));
}

/// Names that say one thing (issue 15): "release" is only ever a SNOMED CT release (or a
/// release build). migx shares records, and a bundle given to a requester is a
/// disclosure. Two checks over every source file and document: no name in the code (a
/// field, a local, a function, a type, a test), outside comments and string literals, uses
/// the verb for a record; and no text at all (messages, help, comments, documents) uses its
/// past, third-person, gerund or "(s)" forms except on a line about a SNOMED CT release or a
/// build. The bare noun cannot be told apart by a word list; the names check covers it where
/// it was used.
#[test]
fn disclosure_is_the_one_word_for_giving_out_a_record() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Built at run time so this file's own source does not hold the words it looks for.
    let stem = ["rel", "eas"].concat();
    let inflected: Vec<String> = ["ed", "es", "ing", "e(s)"]
        .iter()
        .map(|e| format!("{stem}{e}"))
        .collect();
    let about_snomed_or_builds = regex::Regex::new(
        r"(?i)snomed|rf2|trud|uk release|release folder|release build|--release|edition|codes::release|codes/release",
    )
    .unwrap();
    let mut checked = 0;
    let mut names = Vec::new();
    let mut texts = Vec::new();
    let documents = ["docs", "policy", "fixtures", "benches"]
        .into_iter()
        .flat_map(|d| walkdir::WalkDir::new(root.join(d)))
        .chain(walkdir::WalkDir::new(root).max_depth(1));
    let sources = ["crates", "tests"]
        .into_iter()
        .flat_map(|d| walkdir::WalkDir::new(root.join(d)));
    for e in sources.chain(documents) {
        let e = e.unwrap();
        let ext = e.path().extension().and_then(|x| x.to_str());
        if !matches!(ext, Some("rs" | "md")) {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        if ext == Some("rs") {
            for (n, line) in code_only(&text).lines().enumerate() {
                let words = line.split(|c: char| !(c.is_alphanumeric() || c == '_'));
                for w in words.filter(|w| {
                    let w = w.to_ascii_lowercase();
                    inflected[..3].iter().any(|bad| w.contains(bad.as_str()))
                        || w == stem.clone() + "e" && line.contains("impl FnOnce(Share")
                }) {
                    names.push(format!("{}:{}: {w}", e.path().display(), n + 1));
                }
            }
        }
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_ascii_lowercase();
            let said = inflected.iter().any(|w| {
                lower.match_indices(w.as_str()).any(|(i, _)| {
                    // A whole word: not part of a longer name (those are the names check's).
                    let before = lower[..i].chars().next_back();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                })
            });
            if said && !about_snomed_or_builds.is_match(line) {
                texts.push(format!("{}:{}: {}", e.path().display(), n + 1, line.trim()));
            }
        }
        checked += 1;
    }
    assert!(checked > 150, "only {checked} files found");
    assert!(
        names.is_empty(),
        "names that say a record is {stem}ed: {names:#?}"
    );
    assert!(
        texts.is_empty(),
        "text that says a record is {stem}ed (say disclosed or shared): {texts:#?}"
    );
}

/// `text` with its comments, string and character literals blanked (line structure kept).
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            '/' if b.get(i + 1) == Some(&'/') => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            // A character literal ('x', '\n', '"'), not a lifetime ('a).
            '\'' if b.get(i + 1) == Some(&'\\') => {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
            }
            '\'' if b.get(i + 2) == Some(&'\'') => i += 2,
            '"' => {
                i += 1;
                while i < b.len() && b[i] != '"' {
                    if b[i] == '\n' {
                        out.push('\n');
                    }
                    if b[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}
