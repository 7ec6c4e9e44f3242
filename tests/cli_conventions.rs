//! Command-line conventions: every subcommand's --help ends with an example, --version names
//! the policy and schema, completions and the man page generate, and NO_COLOR is honoured.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MIGX: &str = env!("CARGO_BIN_EXE_migx");

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
pub fn listed_subcommands(prefix: &[String]) -> Vec<String> {
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

/// The library knows nothing of the command line (issue 18): no file of it names clap; the
/// binary (`src/main.rs`, `src/cli.rs`, `src/cli/`) maps its own flag enums onto the
/// library's types.
#[test]
fn the_library_never_names_clap() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for e in walkdir::WalkDir::new(&src) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&src).unwrap();
        let binary = rel == Path::new("main.rs")
            || rel == Path::new("cli.rs")
            || rel.starts_with("cli")
            || rel.starts_with("bin");
        if binary || e.path().extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        assert!(
            !text.contains("clap"),
            "src/{} names clap: the library must not know the command line",
            rel.display()
        );
        checked += 1;
    }
    assert!(checked > 30, "only {checked} library files found");
}
