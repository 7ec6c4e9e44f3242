//! The command line, laid out as ripgrep lays out its own: every flag is defined once
//! (`flags.rs`, clap derive), and the help, the man pages (`man.rs`) and the shell
//! completions are generated from that one definition (`help.rs`). Each subcommand's runner
//! is a file of its own (`convert.rs`, `explain.rs`, `validate.rs`, `summary.rs`,
//! `policy.rs`, `audit.rs`, `report.rs`, `snomed.rs`), which builds the library's settings
//! from the flags (`settings.rs`), calls into the library and prints. Here: the exit codes
//! and the dispatch.

/// Print to stdout; a closed pipe (`migx policy show | head`) ends output quietly instead
/// of panicking.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}

mod audit;
mod convert;
mod explain;
mod flags;
mod help;
mod man;
mod policy;
mod progress;
mod report;
mod settings;
mod snomed;
mod summary;
mod validate;

use flags::{Cli, Command, SnomedCommand};
use help::command;

/// Exit codes: each means one thing.
pub(crate) mod exit {
    /// Every input converted or withheld by policy; every file valid.
    pub(crate) const OK: i32 = 0;
    /// At least one input rejected (or, for validate, invalid).
    pub(crate) const REJECTED: i32 = 1;
    /// Usage or configuration error: nothing was converted.
    pub(crate) const USAGE: i32 = 2;
    /// A write error (disk full, read-only, I/O) stopped the run: the output folder is
    /// incomplete; what was disclosed is audited; fix the cause and rerun to complete it.
    pub(crate) const WRITE_STOPPED: i32 = 3;
    /// The output folder was refused: it holds a different run (see `--replace`), or
    /// another run is writing to it now. Nothing was written.
    pub(crate) const FOLDER_REFUSED: i32 = 4;

    /// Every exit code with its meaning, as the README and `docs/error-codes.md` list them
    /// (a test keeps them in step).
    #[cfg(test)]
    pub(crate) const ALL: [(i32, &str); 5] = [
        (OK, "every input converted or withheld by policy (for `validate`: every file valid)"),
        (REJECTED, "at least one input rejected, each with its error code in the audit (for `validate`: at least one invalid file)"),
        (USAGE, "usage or configuration error: nothing converted"),
        (WRITE_STOPPED, "a write error (disk full, read-only or failing storage) stopped the run: the folder is incomplete, every record disclosed so far is audited and the count is on stderr; fix the cause and rerun the same command to complete it"),
        (FOLDER_REFUSED, "the output folder was refused, nothing written: it holds a different run (give `--replace` or a fresh `--out`), or another run is writing to it now"),
    ];
}

/// The exit-code table (README and `docs/error-codes.md`), from [`exit::ALL`].
#[cfg(test)]
pub(crate) fn exit_codes_markdown() -> String {
    let mut s = String::from("| exit code | meaning |\n|---|---|\n");
    for (code, meaning) in exit::ALL {
        s.push_str(&format!("| `{code}` | {} |\n", meaning.replace('|', "\\|")));
    }
    s
}

/// The exit-code section of `docs/error-codes.md`.
#[cfg(test)]
pub(crate) fn exit_codes_section() -> String {
    format!(
        "\n## Exit codes\n\nEvery command exits with one of these; each means one thing (`exit::ALL` in `crates/cli/cli.rs`).\n\n{}",
        exit_codes_markdown()
    )
}

/// Parse the process arguments and run; returns the exit code.
pub(crate) fn main() -> i32 {
    let cli = match command()
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match &cli.command {
        Command::Convert(a) => convert::run(a, &cli),
        Command::Explain(a) => explain::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Summary(a) => summary::run(a, &cli),
        Command::Policy(p) => policy::run(p),
        Command::Audit(a) => audit::run(a),
        Command::Report(a) => report::run(a, &cli),
        Command::Snomed(SnomedCommand::Index { release, out }) => snomed::index(release, out),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut command(), "migx", &mut std::io::stdout());
            exit::OK
        }
        Command::Man(a) => man::run(a),
    }
}

/// A usage or configuration error: the message on stderr, exit 2.
fn fail(msg: &str) -> i32 {
    eprintln!("migx: error: {msg}");
    exit::USAGE
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use flags::Cli;
    use std::path::PathBuf;

    #[test]
    fn the_readme_lists_every_exit_code_with_its_one_meaning() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        assert!(
            readme.contains(&exit_codes_markdown()),
            "README.md's exit-code table is out of date; it must read:\n{}",
            exit_codes_markdown()
        );
        let mut seen = std::collections::BTreeSet::new();
        for (code, meaning) in exit::ALL {
            assert!(seen.insert(code), "exit code {code} twice");
            assert!(!meaning.is_empty());
        }
        assert_eq!(seen.len(), 5);
    }

    /// Every command path of the clap definition that runs something (leaves: `convert`,
    /// `policy show`, ...), without clap's `help`.
    fn leaf_commands(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut p = prefix.to_vec();
            p.push(sub.get_name().to_string());
            if sub.has_subcommands() {
                leaf_commands(sub, &p, out);
            } else {
                out.push(p);
            }
        }
    }

    /// The `migx ...` invocations the README's command table shows in its first column.
    fn readme_command_cells() -> Vec<String> {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        let start = readme.find("\n## Commands\n").expect("a Commands section");
        let table = readme[start..]
            .lines()
            .skip_while(|l| !l.starts_with("| command |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'));
        let mut cells = Vec::new();
        for row in table {
            let first = row.trim_start_matches('|');
            // The first cell ends at the first `|` outside backticks (`\|` inside them).
            let mut in_code = false;
            let mut end = first.len();
            for (i, c) in first.char_indices() {
                match c {
                    '`' => in_code = !in_code,
                    '|' if !in_code => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            for (i, part) in first[..end].split('`').enumerate() {
                if i % 2 == 1 && part.starts_with("migx ") {
                    cells.push(part.to_string());
                }
            }
        }
        cells
    }

    /// Issue 20.10: the README's command table lists every command of the clap definition,
    /// and names none that does not exist; a command added to clap and not to the table
    /// fails here.
    #[test]
    fn the_readme_command_table_matches_the_clap_definition() {
        let mut leaves = Vec::new();
        leaf_commands(&Cli::command(), &[], &mut leaves);
        assert!(leaves.len() >= 12, "{leaves:?}");
        let cells = readme_command_cells();
        let names = |cell: &str| -> Vec<String> {
            cell.split_whitespace()
                .skip(1)
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
                .map(str::to_string)
                .collect()
        };
        for leaf in &leaves {
            assert!(
                cells.iter().any(|c| names(c).starts_with(leaf)),
                "README.md's command table lacks `migx {}`",
                leaf.join(" ")
            );
        }
        for cell in &cells {
            let n = names(cell);
            let known = leaves.iter().any(|l| n.starts_with(l));
            assert!(
                known,
                "README.md's command table names `{cell}`, which clap does not define"
            );
        }
    }

    fn error_codes_doc_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/error-codes.md")
    }

    #[test]
    fn the_error_codes_doc_ends_with_the_exit_codes() {
        let doc = std::fs::read_to_string(error_codes_doc_path()).expect("docs/error-codes.md");
        assert_eq!(
            doc,
            format!("{}{}", migx::error::error_codes_doc(), exit_codes_section()),
            "docs/error-codes.md is out of date: regenerate it (see its header)"
        );
    }

    #[test]
    #[ignore = "writes docs/error-codes.md"]
    fn write_error_codes_doc() {
        std::fs::write(
            error_codes_doc_path(),
            format!("{}{}", migx::error::error_codes_doc(), exit_codes_section()),
        )
        .expect("write docs/error-codes.md");
    }
}
