//! The command line: flags are defined once here (clap derive); help, man page and shell
//! completions are generated from this one definition. Each subcommand is a short function
//! that builds settings and calls into the library.

use crate::consent::{ConsentBook, ConsentDecision};
use crate::ehr::ts::Ts;
use crate::pipeline::{self, BatchOptions, ConvertSettings, RunTotals};
use crate::policy::Policy;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

mod progress;
mod validate;

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

/// Exit codes: each means one thing.
pub(crate) mod exit {
    /// Every input converted or withheld by policy; every file valid.
    pub(crate) const OK: i32 = 0;
    /// At least one input rejected (or, for validate, invalid).
    pub(crate) const REJECTED: i32 = 1;
    /// Usage or configuration error: nothing was converted.
    pub(crate) const USAGE: i32 = 2;
    /// A write error (disk full, read-only, I/O) stopped the run: the output folder is
    /// incomplete; what was released is audited; fix the cause and rerun to complete it.
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
        (WRITE_STOPPED, "a write error (disk full, read-only or failing storage) stopped the run: the folder is incomplete, every record released so far is audited and the count is on stderr; fix the cause and rerun the same command to complete it"),
        (FOLDER_REFUSED, "the output folder was refused, nothing written: it holds a different run (give `--replace` or a fresh `--out`), or another run is writing to it now"),
    ];
}

#[derive(Debug, Parser)]
#[command(
    name = "migx",
    version = version_line(),
    about = "Share a GP record safely: GP2GP EhrExtract (and GP Connect STU3) in, consented FHIR R4 UK Core Bundles out",
    long_about = None,
    after_help = "Example:\n  migx convert fixtures/extracts --consent fixtures/consent.csv --permit-requester Y02345 --without-official-refsets --out out"
)]
/// The whole command line: global flags and one subcommand.
pub(crate) struct Cli {
    /// Print less (no progress, no summary table).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more: convert also names each withheld input with its reason (rejected inputs are always named, with their error code).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const fn version_line() -> &'static str {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (FHIR R4 4.0.1 JSON Schema; output profile migx-bundle v1; default policy migx-default)"
    )
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Convert extracts to consented FHIR R4 Bundles.
    #[command(
        after_help = concat!(
            "Permitted requesters: records are released only to organisations listed under `permitted_requesters` in the sharing policy, and only for its `permitted_purposes` (default TREAT, ETREAT). The embedded default lists none, so configure them first (the first two examples), or add an organisation for one run with --permit-requester <ODS> (recorded in the Provenance). See policy/README.md.\n\n",
            "Exclusion refsets: a run that may release records needs the four official GP summary exclusion refsets (licensed UK SNOMED CT release: --snomed <release> or --exclusion-refset <der2_Refset_SimpleSnapshot_*.txt>), or the operator's assertion --without-official-refsets (fixtures and tests; recorded in each Provenance and in summary.json). Otherwise convert refuses (exit 2) before writing anything.\n\n",
            "Examples:\n  migx policy template > site-policy.json   # then edit: \"permitted_requesters\": [{\"ods_code\": \"Y02345\", \"name\": \"Out of hours service\", \"role\": \"out-of-hours\"}]\n  migx convert extracts/ --consent consent.csv --policy site-policy.json --snomed uk_sct2cl/ --out out\n  migx convert fixtures/extracts --consent fixtures/consent.csv --permit-requester Y02345 --without-official-refsets --out out\n  migx convert extracts/ --consent-all permit --requester Y02345 --permit-requester Y02345 --allow-test-identities --without-official-refsets --out out"
        )
    )]
    Convert(ConvertArgs),
    /// Show, for one extract, every source item with its category and decision.
    #[command(
        after_help = "A rejected file is reported as rejected, with its error code and message, and no item rows (it releases nothing).\n\nExit codes: 0 the file would be converted or withheld by policy; 1 it would be rejected; 2 usage or configuration error.\n\nExample:\n  migx explain fixtures/extracts/02-pathology-report.xml --consent fixtures/consent.csv --permit-requester Y02345"
    )]
    Explain(ExplainArgs),
    /// Validate FHIR R4 JSON (resources, Bundles, NDJSON) against the official schema.
    #[command(
        after_help = "Examples:\n  migx validate out/bundles --profile migx\n  migx validate fixtures/ --report junit --report-file junit.xml"
    )]
    Validate(validate::ValidateArgs),
    /// Merge the audits and summaries of shards (convert --shard K/N) or separate runs.
    #[command(
        after_help = "Examples:\n  migx summary out --out out            # out/shards/*-of-N -> out/{audit.ndjson,summary.json,access-audit.ndjson}\n  migx summary run-a run-b --out merged  # separate --out folders\n\nExit codes: 0 merged, nothing rejected; 1 merged, some inputs rejected; 2 cannot merge (missing or duplicated shard, different policy or version)."
    )]
    Summary(SummaryArgs),
    /// Show or check a sharing policy.
    #[command(
        subcommand,
        after_help = "Examples:\n  migx policy show > my-policy.json\n  migx policy check my-policy.json"
    )]
    Policy(PolicyCommand),
    /// List the releases recorded in an output folder (subject access requests).
    #[command(after_help = "Example:\n  migx audit out --nhs-number 9990000018")]
    Audit(AuditArgs),
    /// Work with a SNOMED CT release.
    #[command(
        subcommand,
        after_help = "Example:\n  migx snomed index uk_sct2cl_40.0.0/ --out snomed.idx"
    )]
    Snomed(SnomedCommand),
    /// Write a self-contained HTML report (figures, charts, rejected and withheld files) of a run.
    #[command(
        after_help = "Examples:\n  migx report out\n  migx report out --out /tmp/run-report.html"
    )]
    Report(ReportArgs),
    /// Print shell completions.
    #[command(after_help = "Example:\n  migx completions bash > /etc/bash_completion.d/migx")]
    Completions {
        /// The shell to print completions for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): migx(1), or one command's, e.g. migx-convert(1); or write them all.
    #[command(
        after_help = "Every command has its page: migx(1) lists migx-convert(1), migx-policy(1), ..., and migx-policy(1) lists migx-policy-show(1), ... With --out-dir DIR, the page and those of all its subcommands are written into DIR (migx.1, migx-convert.1, ...), ready for a man1 folder on MANPATH.\n\nExamples:\n  migx man > migx.1 && man ./migx.1\n  migx man convert | man -l -\n  migx man --out-dir ~/.local/share/man/man1 && man migx-convert"
    )]
    Man(ManArgs),
}

/// Arguments of `migx man`.
#[derive(Debug, Args)]
// The subcommand's help comes from its variant in `Command`, not from this doc comment.
#[command(about = None, long_about = None)]
pub(crate) struct ManArgs {
    /// The command whose page to print (e.g. `convert`, or `policy show`); none: migx(1).
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Write the page and the pages of all its subcommands into this folder instead (one file each: migx.1, migx-convert.1, ...).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// `migx policy` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Print the policy in force (the embedded default, or --policy FILE) as JSON: settings, list origins and sizes, hash.
    #[command(after_help = "Example:\n  migx policy show --policy site-policy.json")]
    Show {
        /// A policy file (default: the embedded migx-default policy).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Print a policy file to start from: the embedded default without `code_lists` (so the built-in lists are used); list your requesters under `permitted_requesters`.
    #[command(
        after_help = "Example:\n  migx policy template > site-policy.json\n  # edit: \"permitted_requesters\": [{\"ods_code\": \"Y02345\", \"name\": \"Out of hours service\", \"role\": \"out-of-hours\"}]\n  migx policy check site-policy.json"
    )]
    Template,
    /// Check a policy file: schema, code lists, refsets.
    #[command(after_help = "Example:\n  migx policy check my-policy.json")]
    Check {
        /// The policy file to check.
        file: PathBuf,
    },
}

/// `migx snomed` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum SnomedCommand {
    /// Build a compact index file from an RF2 release folder (loads in milliseconds).
    #[command(after_help = "Example:\n  migx snomed index uk_sct2cl_40.0.0/ --out snomed.idx")]
    Index {
        /// An RF2 release folder (searched recursively for snapshot files).
        release: PathBuf,
        /// Where to write the index file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Operator-asserted decision for every patient (fixtures and CI only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AllDecision {
    // Release every patient (the operator asserts consent was given). Plain comments: a
    // `///` on a value would switch clap's whole --help to the long layout.
    #[allow(missing_docs)]
    Permit,
    // Release nobody.
    #[allow(missing_docs)]
    Deny,
}

/// Flags shared by convert and explain: consent, policy, terminology, identity.
#[derive(Debug, Args)]
// Exactly one consent source, so the usage line shows `<--consent <FILE>|--consent-all ...>`.
#[command(group(
    clap::ArgGroup::new("consent_source")
        .args(["consent", "consent_all"])
        .required(true)
        .multiple(false)
))]
pub(crate) struct PolicyArgs {
    /// Point-of-care consent decisions (CSV columns: nhs_number, decision, recorded_at, requester_ods, requester_name, purpose, optionally requester_person).
    #[arg(long, value_name = "FILE")]
    pub consent: Option<PathBuf>,
    /// One decision for every patient, recorded as an operator assertion (fixtures and CI runs).
    #[arg(long, value_enum, value_name = "permit|deny", requires = "requester")]
    pub consent_all: Option<AllDecision>,
    /// The requesting organisation's ODS code (with --consent-all).
    #[arg(long, value_name = "ODS")]
    pub requester: Option<String>,
    /// Purpose of use with --consent-all.
    #[arg(long, value_name = "TREAT|ETREAT", default_value = "TREAT")]
    pub purpose: String,
    /// Sharing policy file (default: the embedded migx-default policy, which permits no requester: list yours under `permitted_requesters`).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Extra RF2 exclusion refset file(s) (der2_Refset_SimpleSnapshot_*.txt).
    #[arg(long, value_name = "FILE")]
    pub exclusion_refset: Vec<PathBuf>,
    /// SNOMED CT release folder (RF2) or an index made by `migx snomed index`.
    #[arg(long, value_name = "PATH")]
    pub snomed: Option<PathBuf>,
    /// Release without the official GP summary exclusion refsets (fixtures and tests only): an operator assertion, recorded in each bundle's Provenance and in summary.json. Without it, convert refuses unless --snomed or --exclusion-refset loads all four official refsets.
    #[arg(long)]
    pub without_official_refsets: bool,
    /// Judge "current" and "recent" at this date/time (YYYY-MM-DD, RFC 3339, or HL7 TS; default: each extract's creation time).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Accept NHS numbers that fail the modulus 11 check (test data).
    #[arg(long)]
    pub allow_test_identities: bool,
    /// Permit this requesting organisation (ODS code) for this run only, in addition to the policy's `permitted_requesters` (repeatable; recorded in each bundle's Provenance).
    #[arg(long, value_name = "ODS")]
    pub permit_requester: Vec<String>,
    /// Largest input accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = pipeline::DEFAULT_MAX_FILE_SIZE)]
    pub max_file_size: u64,
}

/// Arguments of `migx convert`.
#[derive(Debug, Args)]
// The subcommand's help comes from its variant in `Command`, not from this doc comment.
#[command(about = None, long_about = None)]
pub(crate) struct ConvertArgs {
    /// Extract files or folders. A file named here is always converted (or rejected). A folder is walked recursively (symlinks followed) and from it are read the files named *.xml or *.json (any case) and any other file that starts like XML (`<`, after an optional byte order mark) or a JSON object (`{`), or is empty; hidden files and folders (.DS_Store, .git/) and files that are plainly not extracts (a README, a consent CSV) are skipped, named on stderr and counted under `skipped` in summary.json.
    #[arg(value_name = "INPUT", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder (created owner-only).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Consent, policy, terminology and identity flags.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Stop at the first rejected input.
    #[arg(long)]
    pub fail_fast: bool,
    /// After the run, also write the HTML report of the output folder here (see `migx report`).
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,
    /// Output format: one Bundle per input (bundles/), or FHIR bulk NDJSON per resource type (ndjson/).
    #[arg(long, value_enum, default_value = "bundle")]
    pub format: FormatArg,
    /// Convert only shard K of N (0 <= K < N), chosen by a stable hash of each input's path; audit and summary go to DIR/shards/K-of-N/ (merge with `migx summary DIR --out DIR`).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Replace the different run the output folder holds: the new run is built beside it and swapped in whole when complete (not with --shard).
    #[arg(long)]
    pub replace: bool,
}

/// Output layout of `migx convert`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    // One Bundle per input under bundles/ (plain comments: see `AllDecision`).
    #[allow(missing_docs)]
    Bundle,
    // FHIR bulk data: one NDJSON file per resource type under ndjson/.
    #[allow(missing_docs)]
    Ndjson,
}

/// Arguments of `migx summary`.
#[derive(Debug, Args)]
// The subcommand's help comes from its variant in `Command`, not from this doc comment.
#[command(about = None, long_about = None)]
pub(crate) struct SummaryArgs {
    /// Output folders of `migx convert` (a folder with shards/ stands for all its shards).
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the merged audit.ndjson, summary.json and access-audit.ndjson.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Arguments of `migx report`.
#[derive(Debug, Args)]
// The subcommand's help comes from its variant in `Command`, not from this doc comment.
#[command(about = None, long_about = None)]
pub(crate) struct ReportArgs {
    /// An output folder of `migx convert` (reads summary.json and audit.ndjson).
    pub dir: PathBuf,
    /// Where to write the report (default: DIR/report.html).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Arguments of `migx explain`.
#[derive(Debug, Args)]
// The subcommand's help comes from its variant in `Command`, not from this doc comment.
#[command(about = None, long_about = None)]
pub(crate) struct ExplainArgs {
    /// One extract.
    pub file: PathBuf,
    /// Consent, policy, terminology and identity flags.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `migx audit`.
#[derive(Debug, Args)]
// The subcommand's help comes from its variant in `Command`, not from this doc comment.
#[command(about = None, long_about = None)]
pub(crate) struct AuditArgs {
    /// An output folder of `migx convert`.
    pub dir: PathBuf,
    /// Only releases of this patient.
    #[arg(long, value_name = "NHS_NUMBER")]
    pub nhs_number: Option<String>,
    /// Print the AuditEvents as NDJSON instead of a table.
    #[arg(long)]
    pub json: bool,
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

/// The clap definition as the binary uses it: [`Cli::command`] with every command's
/// examples printed as written (see [`with_unwrapped_examples`]).
pub(crate) fn command() -> clap::Command {
    with_unwrapped_examples(Cli::command())
}

/// Split a command's `after_help` into its prose and its examples block (from a line
/// `Example:` or `Examples:` to the next blank line or the end), both without trailing
/// newlines.
pub(crate) fn split_examples(after_help: &str) -> (String, Option<String>) {
    let start = ["Examples:\n", "Example:\n"]
        .iter()
        .filter_map(|h| {
            after_help
                .match_indices(h)
                .find(|(i, _)| *i == 0 || after_help[..*i].ends_with('\n'))
                .map(|(i, _)| i)
        })
        .min();
    let Some(start) = start else {
        return (after_help.trim_end().to_string(), None);
    };
    let block_len = after_help[start..]
        .find("\n\n")
        .unwrap_or(after_help.len() - start);
    let examples = after_help[start..start + block_len].trim_end().to_string();
    let prose = format!(
        "{}{}",
        &after_help[..start],
        after_help[start + block_len..].trim_start_matches('\n')
    );
    (prose.trim_end().to_string(), Some(examples))
}

/// clap wraps `after_help` at the terminal width, which breaks a long example pasted into
/// a shell. So each command's examples block moves from its `after_help` into its help
/// template, whose literal text clap prints as written; the prose stays in `after_help`
/// (wrapped). Applied to every command and subcommand alike.
pub(crate) fn with_unwrapped_examples(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.mut_subcommands(with_unwrapped_examples);
    let Some(after) = cmd.get_after_help().map(ToString::to_string) else {
        return cmd;
    };
    let (prose, Some(examples)) = split_examples(&after) else {
        return cmd;
    };
    let head = "{before-help}{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}";
    if prose.is_empty() {
        cmd.after_help(None::<&'static str>)
            .help_template(format!("{head}\n\n{examples}"))
    } else {
        cmd.after_help(prose)
            .help_template(format!("{head}{{after-help}}\n\n{examples}"))
    }
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
        Command::Convert(a) => convert(a, &cli),
        Command::Explain(a) => explain(a),
        Command::Validate(a) => validate_cmd(a),
        Command::Summary(a) => summary(a, &cli),
        Command::Policy(p) => policy_cmd(p),
        Command::Audit(a) => audit(a),
        Command::Report(a) => report(a, &cli),
        Command::Snomed(SnomedCommand::Index { release, out }) => snomed_index(release, out),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut command(), "migx", &mut std::io::stdout());
            exit::OK
        }
        Command::Man(a) => man(a),
    }
}

/// The command at `path` (e.g. `["policy", "show"]`) of a built command tree, whose display
/// name (`migx-policy-show`) names its man page.
fn find_command<'a>(cmd: &'a clap::Command, path: &[String]) -> Option<&'a clap::Command> {
    match path.split_first() {
        None => Some(cmd),
        Some((first, rest)) => find_command(cmd.find_subcommand(first)?, rest),
    }
}

/// The man-page tree: the clap definition (examples moved out of `after_help`), without
/// clap's `help` subcommand, built so that every subcommand has its display name.
fn man_tree() -> clap::Command {
    let mut cmd = command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Escape one line of text for roff's no-fill mode: backslashes, a leading control
/// character, and `-` as a real hyphen-minus (so a pasted example keeps its flags).
fn roff_line(line: &str) -> String {
    let mut s = line.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        s.insert_str(0, "\\&");
    }
    s
}

/// One command's man page: clap_mangen's sections, plus an EXAMPLES section printed as
/// written (no fill, so no example is wrapped).
pub(crate) fn render_man_page(
    cmd: &clap::Command,
    examples: Option<&str>,
) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd.clone())
        .source(concat!("migx ", env!("CARGO_PKG_VERSION")))
        .manual("migx manual");
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    man.render_synopsis_section(&mut w)?;
    man.render_description_section(&mut w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut w)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut w)?;
    }
    if cmd.get_after_help().is_some() {
        man.render_extra_section(&mut w)?;
    }
    if let Some(ex) = examples {
        w.extend_from_slice(b".SH EXAMPLES\n.nf\n");
        for line in ex.lines().skip(1) {
            w.extend_from_slice(roff_line(line.trim_start()).as_bytes());
            w.push(b'\n');
        }
        w.extend_from_slice(b".fi\n");
    }
    if cmd.get_version().is_some() {
        man.render_version_section(&mut w)?;
    }
    Ok(w)
}

/// Every man page of the tree under `path`: (file name, roff), the page of `path` first.
pub(crate) fn man_pages(path: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let tree = man_tree();
    // The examples as written in the definition (the man tree has them in its templates).
    let source = {
        let mut c = Cli::command();
        c.build();
        c
    };
    let Some(top) = find_command(&tree, path) else {
        return Err(format!(
            "no command `migx {}`; see `migx --help`",
            path.join(" ")
        ));
    };
    let mut pages = Vec::new();
    let mut todo = vec![(top, path.to_vec())];
    while let Some((cmd, p)) = todo.pop() {
        let examples = find_command(&source, &p)
            .and_then(|c| c.get_after_help())
            .and_then(|h| split_examples(&h.to_string()).1);
        let roff = render_man_page(cmd, examples.as_deref())
            .map_err(|e| format!("cannot render the man page: {e}"))?;
        let name = cmd.get_display_name().unwrap_or(cmd.get_name());
        pages.push((format!("{name}.1"), roff));
        let mut subs: Vec<_> = cmd.get_subcommands().collect();
        subs.reverse();
        for sub in subs {
            let mut sp = p.clone();
            sp.push(sub.get_name().to_string());
            todo.push((sub, sp));
        }
    }
    Ok(pages)
}

/// `migx man`.
fn man(a: &ManArgs) -> i32 {
    let pages = match man_pages(&a.command) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    match &a.out_dir {
        None => {
            let (_, roff) = &pages[0];
            match std::io::stdout().lock().write_all(roff) {
                Ok(()) => exit::OK,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
                Err(e) => fail(&format!("cannot write the man page: {e}")),
            }
        }
        Some(dir) => {
            if !dir.is_dir() {
                return fail(&format!(
                    "--out-dir {}: no such folder; create it first (e.g. mkdir -p {})",
                    dir.display(),
                    dir.display()
                ));
            }
            for (name, roff) in &pages {
                let f = dir.join(name);
                if let Err(e) = std::fs::write(&f, roff) {
                    return fail(&format!("cannot write {}: {e}", f.display()));
                }
                eprintln!("migx: wrote {}", f.display());
            }
            exit::OK
        }
    }
}

fn fail(msg: &str) -> i32 {
    eprintln!("migx: error: {msg}");
    exit::USAGE
}

/// The refusal when no requester is configured (exit 2).
pub(crate) const NO_REQUESTERS: &str = "no permitted requesters are configured, so nothing may be released.
  List the organisations in your sharing agreement in a policy file and pass it with --policy:
    migx policy template > site-policy.json
    # edit site-policy.json: \"permitted_requesters\": [{\"ods_code\": \"Y02345\", \"name\": \"Out of hours service\", \"role\": \"out-of-hours\"}]
    migx convert ... --policy site-policy.json
  or permit one organisation for this run only with --permit-requester <ODS> (recorded in the Provenance).
  See policy/README.md, \"Permitted requesters\".";

/// The refusal when a run would release records without the official exclusion refsets
/// (exit 2, nothing written).
pub(crate) fn no_official_refsets(policy: &Policy) -> String {
    let missing: Vec<String> = policy
        .official_refset_members()
        .iter()
        .filter(|(_, group, n)| group.is_none() || *n == 0)
        .map(|(id, group, _)| match group {
            Some(g) => format!("{g} {id}"),
            None => format!("{id} (not named in the policy's exclusion_refsets.refset_ids)"),
        })
        .collect();
    format!(
        "the official GP summary exclusion refsets are not loaded (missing: {}), so sensitive records could be released.
  Load them from the licensed UK SNOMED CT release (NHS TRUD):
    migx convert ... --snomed <UK release folder or index>          # a release holding the four refsets
    migx convert ... --exclusion-refset der2_Refset_SimpleSnapshot_GB1000000_<date>.txt
  or, for fixtures and tests only, assert that this run goes without them:
    migx convert ... --without-official-refsets                      # recorded in each bundle's Provenance and in summary.json
  See policy/README.md, \"codes/sensitive.tsv\".",
        missing.join(", ")
    )
}

/// Build the settings convert and explain share; errors are configuration errors (exit 2).
pub(crate) fn settings_from(a: &PolicyArgs, quiet: bool) -> Result<ConvertSettings, String> {
    let mut policy = match &a.policy {
        Some(p) => Policy::from_file(p)
            .map_err(|e| format!("{e}\n  check it with: migx policy check {}", p.display()))?,
        None => Policy::embedded_default().map_err(|e| e.to_string())?,
    };
    for r in &a.exclusion_refset {
        policy.add_exclusion_refset(r).map_err(|e| {
            format!("{e}\n  --exclusion-refset takes an RF2 der2_Refset_SimpleSnapshot_*.txt file")
        })?;
    }
    for (file, ids) in policy.refsets_not_named() {
        let shown: Vec<String> = ids.iter().take(5).map(u64::to_string).collect();
        eprintln!(
            "migx: {file}: {} refset(s) not named by the policy were not loaded ({}{}); only the policy's exclusion_refsets.refset_ids exclude",
            ids.len(),
            shown.join(", "),
            if ids.len() > 5 { ", ..." } else { "" }
        );
    }
    let snomed = a
        .snomed
        .clone()
        .or_else(|| policy.snomed_release().map(PathBuf::from));
    // Without a release, the command prints its note once, after its argument checks
    // (see `NO_SNOMED_NOTE`).
    if let Some(p) = snomed {
        let t = Instant::now();
        let idx = if p.is_dir() {
            crate::codes::release::SnomedIndex::build(&p)
        } else {
            crate::codes::release::SnomedIndex::load(&p)
        }
        .map_err(|e| format!("SNOMED CT release {}: {e}", p.display()))?;
        if !quiet {
            eprintln!(
                "migx: SNOMED CT release {} loaded in {} ms",
                idx.release_version(),
                t.elapsed().as_millis()
            );
        }
        policy.set_snomed_index(Arc::new(idx));
    }
    for r in &a.permit_requester {
        if !crate::consent::is_ods_code(r) {
            return Err(format!("--permit-requester {r:?} is not an ODS code (3 to 10 upper-case letters and digits)"));
        }
    }
    if policy.permitted_requesters().is_empty() && a.permit_requester.is_empty() {
        return Err(NO_REQUESTERS.into());
    }
    let consent = match (&a.consent, a.consent_all) {
        (Some(path), _) => {
            let book =
                ConsentBook::from_file(path, a.allow_test_identities).map_err(|e| e.to_string())?;
            for e in &book.errors {
                eprintln!(
                    "migx: warning: consent file {}: {}; {}",
                    path.display(),
                    e.message,
                    if e.withholds_everyone {
                        "the row names no readable patient, so no patient is released from this file (consent-row-invalid)"
                    } else {
                        "that patient is withheld (consent-row-invalid)"
                    }
                );
            }
            book
        }
        (None, Some(d)) => {
            let ods = a
                .requester
                .clone()
                .ok_or("--consent-all needs --requester <ODS>")?;
            if !crate::consent::is_ods_code(&ods) {
                return Err(format!("--requester {ods:?} is not an ODS code"));
            }
            if !matches!(a.purpose.as_str(), "TREAT" | "ETREAT") {
                return Err("--purpose must be TREAT or ETREAT".into());
            }
            let d = match d {
                AllDecision::Permit => ConsentDecision::Permit,
                AllDecision::Deny => ConsentDecision::Deny,
            };
            ConsentBook::all(d, &ods, &a.purpose)
        }
        (None, None) => {
            return Err(
                "give --consent <FILE> or --consent-all permit|deny --requester <ODS>".into(),
            )
        }
    };
    let mut s = ConvertSettings::new(Arc::new(policy), Arc::new(consent));
    s.allow_test_identities = a.allow_test_identities;
    s.max_file_size = a.max_file_size;
    s.run_permitted_requesters = a.permit_requester.clone();
    s.without_official_refsets = a.without_official_refsets;
    s.as_of = match &a.as_of {
        Some(v) => Some(parse_as_of(v).ok_or_else(|| {
            format!(
                "--as-of {v:?}: use YYYY-MM-DD, an RFC 3339 date-time with offset, or an HL7 TS"
            )
        })?),
        None => None,
    };
    Ok(s)
}

/// `--as-of`: a date means the end of that (UK) day; a date-time is taken as given.
pub(crate) fn parse_as_of(v: &str) -> Option<Ts> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ts::parse(&format!("{}235959", d.format("%Y%m%d"))).ok();
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(v) {
        let off = dt.offset().local_minus_utc();
        let sign = if off < 0 { '-' } else { '+' };
        let hl7 = format!(
            "{}{sign}{:02}{:02}",
            dt.format("%Y%m%d%H%M%S"),
            off.abs() / 3600,
            (off.abs() % 3600) / 60
        );
        return Ts::parse(&hl7).ok();
    }
    Ts::parse(v).ok()
}

/// `migx convert`.
/// The note for a run without a SNOMED CT release, with the fix; printed once per run, after
/// the argument checks (never before a usage error).
pub(crate) const NO_SNOMED_NOTE: &str = "migx: note: no SNOMED CT release loaded: exclusion coverage is limited to migx's built-in lists, and items coded only by unresolvable description ids are withheld; fix: --snomed <UK RF2 release folder, or an index made by `migx snomed index`> (or the policy's snomed_release)";

/// A command-line input that does not exist is a usage error (exit 2, nothing written),
/// not a rejected file: it names no extract at all.
fn missing_inputs(inputs: &[PathBuf]) -> Option<String> {
    // A dangling symlink exists (as a link): an input that cannot be read (`io-error`).
    let missing: Vec<String> = inputs
        .iter()
        .filter(
            |p| matches!(std::fs::symlink_metadata(p), Err(e) if e.kind() == std::io::ErrorKind::NotFound),
        )
        .map(|p| p.display().to_string())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{}: no such file or folder (nothing was written); give extract files or folders",
            missing.join(", ")
        )
    })
}

fn convert(a: &ConvertArgs, cli: &Cli) -> i32 {
    if let Some(e) = missing_inputs(&a.inputs) {
        return fail(&e);
    }
    let settings = match settings_from(&a.policy, cli.quiet) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    if a.jobs == Some(0) {
        return fail("--jobs must be at least 1");
    }
    // A run that may release records needs the official exclusion refsets, or the operator's
    // explicit assertion that it goes without them (a deny-all run releases nothing).
    let may_release = a.policy.consent_all != Some(AllDecision::Deny);
    if settings.policy.has_official_refsets() {
        if settings.without_official_refsets && !cli.quiet {
            eprintln!("migx: note: the official exclusion refsets are loaded; --without-official-refsets is not needed and is not recorded");
        }
    } else if may_release && !settings.without_official_refsets {
        return fail(&no_official_refsets(&settings.policy));
    }
    if let Some(r) = &a.report_html {
        if let Some(e) = report_target_problem(r, Some(&a.out)) {
            return fail(&e);
        }
    }
    let shard = match a.shard.as_deref().map(crate::batch::Shard::parse) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => return fail(&e),
    };
    let started = Instant::now();
    if let Err(e) = crate::rundir::check_apart(&a.out, &a.inputs) {
        return fail(&e);
    }
    let pipeline::Walk {
        mut inputs,
        excluded,
        skipped: mut skipped_files,
    } = pipeline::walk_inputs(&a.inputs, Some(&a.out));
    if excluded > 0 {
        eprintln!(
            "migx: note: {excluded} folder(s) reached through symlinks resolve inside the output folder {} and were left out of the inputs",
            a.out.display()
        );
    }
    if inputs.is_empty() {
        return fail(&if skipped_files.is_empty() {
            "no input files found; give extract files or folders".to_string()
        } else {
            format!(
                "no input files found: the folder walk skipped {} file(s) that are hidden or plainly not extracts (e.g. {}); give extract files (.xml, .json) or folders holding them, or name a file to convert it whatever it is",
                skipped_files.len(),
                skipped_files[0].display
            )
        });
    }
    let format = match a.format {
        FormatArg::Bundle => crate::batch::OutputFormat::Bundle,
        FormatArg::Ndjson => crate::batch::OutputFormat::Ndjson,
    };
    let consent_id = match (&a.policy.consent, a.policy.consent_all) {
        (Some(path), _) => match std::fs::read(path) {
            Ok(b) => crate::rundir::ManifestConsent::ConsentFile {
                sha256: migx::digest::sha256_hex(&b),
            },
            Err(e) => return fail(&format!("cannot read {}: {e}", path.display())),
        },
        (None, d) => crate::rundir::ManifestConsent::OperatorAssertion {
            decision: d.map(|d| match d {
                AllDecision::Permit => "permit",
                AllDecision::Deny => "deny",
            }),
            requester: a.policy.requester.clone(),
            purpose: a.policy.purpose.clone(),
        },
    };
    let manifest = crate::rundir::manifest(
        match format {
            crate::batch::OutputFormat::Bundle => "bundle",
            crate::batch::OutputFormat::Ndjson => "ndjson",
        },
        &a.inputs,
        &inputs,
        &settings,
        consent_id,
    );
    if settings.policy.snomed_index().is_none() && !cli.quiet {
        eprintln!("{NO_SNOMED_NOTE}");
    }
    let names: std::collections::HashSet<String> =
        inputs.iter().map(|f| f.bundle_name.clone()).collect();
    let mut claim = match crate::rundir::claim(&a.out, &manifest, &names, shard, a.replace) {
        Ok(c) => c,
        Err(crate::rundir::Refusal::Unusable(e)) => return fail(&e),
        Err(e) => {
            eprintln!("migx: error: {e}");
            return exit::FOLDER_REFUSED;
        }
    };
    for n in &claim.notes {
        eprintln!("migx: note: {n}");
    }
    if let Some(s) = &shard {
        // Bundle names were settled over all inputs, so they match an unsharded run.
        inputs.retain(|f| s.contains(&f.rel));
        // Each shard counts its own share of the skipped files, so merged counts add up.
        skipped_files.retain(|f| s.contains(&f.rel));
    }
    let mut skipped = pipeline::records::Tally::default();
    for f in &skipped_files {
        skipped.add(f.reason, 1);
    }
    let jobs = a.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = BatchOptions {
        out: claim.dir.clone(),
        jobs,
        fail_fast: a.fail_fast,
        format,
        shard,
        skipped,
    };
    let total_bytes: u64 = inputs
        .iter()
        .filter_map(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum();
    let progress = progress::Progress::new(inputs.len(), total_bytes, cli.quiet);
    let result = pipeline::run_batch(
        &inputs,
        &settings,
        &opts,
        &|done, total, bytes, rejected| progress.update(done, total, bytes, rejected),
    );
    progress.finish();
    let result = result.and_then(|t| claim.finish().map(|()| t));
    drop(claim);
    match result {
        Ok(t) => {
            if let Some(n) = t.resumed {
                eprintln!(
                    "migx: note: an earlier run into {} was interrupted (its journal described {n} input(s)); this run completed the batch",
                    a.out.display()
                );
            }
            if !cli.quiet {
                print_summary(&t, &a.out, started.elapsed().as_secs_f64());
            }
            if !cli.quiet {
                print_skipped(&skipped_files, cli.verbose);
            }
            print_outcomes(&t, cli.verbose);
            if !cli.quiet && !t.error_codes.is_empty() {
                print_error_advice(&t);
            }
            if let Some(r) = &a.report_html {
                if let Err(e) = crate::run_report::report_dir(&a.out, r) {
                    return fail(&format!(
                        "cannot write the HTML report {}: {e}",
                        r.display()
                    ));
                }
                if !cli.quiet {
                    eprintln!("  report: {}", r.display());
                }
            }
            if t.by_status.get(pipeline::Status::Rejected) > 0 {
                exit::REJECTED
            } else {
                exit::OK
            }
        }
        Err(e) => {
            let released = e
                .get_ref()
                .and_then(|r| r.downcast_ref::<pipeline::Stopped>())
                .map(|s| s.released);
            eprintln!(
                "migx: error: the run stopped: cannot write to {}: {e}\n  {} record(s) were released before it stopped, each described in {}; the folder is incomplete: fix the cause (e.g. free disk space) and rerun the same command to complete it",
                a.out.display(),
                released.unwrap_or(0),
                opts.meta_dir().join(crate::output::JOURNAL).display()
            );
            exit::WRITE_STOPPED
        }
    }
}

/// What to do about each error code of the run's rejections (the text the README, the docs
/// and the HTML report show: [`migx::error::ErrorCode::help`]).
pub(crate) fn print_error_advice(t: &RunTotals) {
    let mut w = std::io::stderr().lock();
    let _ = writeln!(
        w,
        "  what to do about each error code (also in docs/error-codes.md):"
    );
    for (code, _) in t.error_codes.by_name() {
        let _ = writeln!(w, "    {}: {}", code.as_str(), code.help());
    }
}

/// How many skipped files the end of a run names without `-v`.
const SKIPPED_NAMED: usize = 10;

/// Name the files the folder walk skipped, with the reason (all of them with `-v`).
pub(crate) fn print_skipped(skipped: &[pipeline::Skipped], verbose: bool) {
    let mut w = std::io::stderr().lock();
    let shown = if verbose {
        skipped.len()
    } else {
        SKIPPED_NAMED
    };
    for f in skipped.iter().take(shown) {
        let _ = writeln!(w, "migx: skipped {}: {}", f.display, f.reason.describe());
    }
    if skipped.len() > shown {
        let _ = writeln!(
            w,
            "migx: skipped {} more file(s) (-v names them all)",
            skipped.len() - shown
        );
    }
}

/// Name each rejected input on stderr (path, error code, message: file positions and migx's
/// element names only); with `--verbose`, each withheld input and its reason too.
pub(crate) fn print_outcomes(t: &RunTotals, verbose: bool) {
    let mut w = std::io::stderr().lock();
    if verbose {
        for (input, reason) in &t.withheld {
            let _ = writeln!(w, "migx: withheld {input}: {}", reason.as_str());
        }
    }
    for (input, e) in &t.rejected {
        let _ = writeln!(w, "migx: rejected {input}: {e}");
    }
}

/// The end-of-run table on stderr.
pub(crate) fn print_summary(t: &RunTotals, out: &std::path::Path, secs: f64) {
    let mut w = std::io::stderr().lock();
    let get = |k: pipeline::Status| t.by_status.get(k);
    let _ = writeln!(
        w,
        "\nmigx: {} input(s), {:.1} MB in {:.2} s",
        t.inputs,
        t.bytes as f64 / 1e6,
        secs
    );
    let _ = writeln!(
        w,
        "  {:<28} {:>8}",
        "converted",
        get(pipeline::Status::Converted)
    );
    let _ = writeln!(
        w,
        "  {:<28} {:>8}",
        "withheld",
        get(pipeline::Status::Withheld)
    );
    for (r, n) in t.file_reasons.by_name() {
        let _ = writeln!(w, "    {:<26} {:>8}", r.as_str(), n);
    }
    let _ = writeln!(
        w,
        "  {:<28} {:>8}",
        "rejected",
        get(pipeline::Status::Rejected)
    );
    for (r, n) in t.error_codes.by_name() {
        let _ = writeln!(w, "    {:<26} {:>8}", r.as_str(), n);
    }
    // Not inputs: files the folder walk left out (hidden, or plainly not extracts).
    let _ = writeln!(
        w,
        "  {:<28} {:>8}",
        "skipped (not inputs)",
        t.skipped.total()
    );
    for (r, n) in t.skipped.by_name() {
        let _ = writeln!(w, "    {:<26} {:>8}", r.as_str(), n);
    }
    let _ = writeln!(w, "  items shared per category:");
    for (c, n) in t.items_shared.by_name() {
        let _ = writeln!(w, "    {:<26} {:>8}", c.as_str(), n);
    }
    let _ = writeln!(w, "  items withheld per reason:");
    for (r, n) in t.items_withheld.by_name() {
        let _ = writeln!(w, "    {:<26} {:>8}", r.as_str(), n);
    }
    // Not a reason anything was withheld: the items were shared, without their text.
    let _ = writeln!(
        w,
        "  {:<28} {:>8}",
        "shared items, text removed", t.text_removed
    );
    if !t.hierarchy.is_empty() {
        let _ = writeln!(w, "  {}", t.hierarchy);
    }
    let no_release = t.withheld_no_snomed_release();
    if no_release > 0 {
        let _ = writeln!(
            w,
            "  {no_release} item(s) withheld because no SNOMED CT release was loaded: {}",
            pipeline::NO_SNOMED_RELEASE_ADVICE
        );
    }
    if t.stopped_early {
        let _ = writeln!(w, "  stopped early (--fail-fast)");
    }
    let _ = writeln!(
        w,
        "  output: {} (audit.ndjson, summary.json, access-audit.ndjson, bundles/)",
        out.display()
    );
}

/// `migx validate`: the files, and, for an output folder of `migx convert` (or its
/// `bundles/`), the folder as one run: its manifest, a finished run, every bundle audited
/// and every audited release there with the bytes audited.
fn validate_cmd(a: &validate::ValidateArgs) -> i32 {
    let rc = validate::run(a);
    let mut problems = 0;
    for p in &a.paths {
        let dir = if p.join(crate::rundir::MANIFEST).is_file() {
            p.clone()
        } else if p.file_name().is_some_and(|n| n == "bundles")
            && p.parent()
                .is_some_and(|d| d.join(crate::rundir::MANIFEST).is_file())
        {
            p.parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default()
        } else {
            continue;
        };
        if let Some(d) = crate::rundir::describe(&dir) {
            eprintln!("migx validate: {}: {d}", dir.display());
        }
        for prob in crate::rundir::check_folder(&dir) {
            eprintln!("migx validate: {prob}");
            problems += 1;
        }
    }
    if problems > 0 && rc == exit::OK {
        exit::REJECTED
    } else {
        rc
    }
}

/// `migx explain`.
fn explain(a: &ExplainArgs) -> i32 {
    if let Some(e) = missing_inputs(std::slice::from_ref(&a.file)) {
        return fail(&e);
    }
    let settings = match settings_from(&a.policy, true) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let ex = pipeline::explain_file(&a.file, &settings);
    if a.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&ex.to_json()).unwrap_or_default()
        );
    } else {
        say_raw!(
            "{}",
            ex.to_table(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        );
    }
    if ex.status == pipeline::Status::Rejected {
        exit::REJECTED
    } else {
        exit::OK
    }
}

/// `migx summary`.
fn summary(a: &SummaryArgs, cli: &Cli) -> i32 {
    let parts = match crate::summary::resolve_parts(&a.dirs) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let m = match crate::summary::merge(&parts, &a.out) {
        Ok(m) => m,
        Err(e) => return fail(&e),
    };
    let s = &m.summary;
    if !cli.quiet {
        eprintln!(
            "migx: merged {} part(s): {} input(s), {} converted, {} withheld, {} rejected -> {} (audit.ndjson, summary.json, access-audit.ndjson)",
            m.parts,
            s.inputs,
            s.converted,
            s.withheld,
            s.rejected,
            a.out.display()
        );
    }
    if s.rejected > 0 {
        exit::REJECTED
    } else {
        exit::OK
    }
}

fn policy_cmd(p: &PolicyCommand) -> i32 {
    match p {
        PolicyCommand::Show { policy } => {
            let pol = match policy {
                Some(f) => Policy::from_file(f),
                None => Policy::embedded_default(),
            };
            match pol {
                Ok(p) => {
                    say!("{}", p.show_json());
                    exit::OK
                }
                Err(e) => fail(&e.to_string()),
            }
        }
        PolicyCommand::Template => match crate::policy::config::policy_template() {
            Ok(t) => {
                let _ = writeln!(std::io::stdout(), "{t}");
                exit::OK
            }
            Err(e) => fail(&e),
        },
        PolicyCommand::Check { file } => match Policy::check_file(file) {
            Ok(p) => {
                say!(
                    "{}: ok (policy {} {}, sha256 {})",
                    file.display(),
                    p.name(),
                    p.version(),
                    p.sha256()
                );
                exit::OK
            }
            Err(e) => {
                eprintln!("migx: {}: {e}", file.display());
                exit::REJECTED
            }
        },
    }
}

fn audit(a: &AuditArgs) -> i32 {
    if let Some(n) = &a.nhs_number {
        if !(n.len() == 10 && n.bytes().all(|b| b.is_ascii_digit())) {
            return fail("--nhs-number must be 10 digits");
        }
    }
    let events = match crate::access::disclosures(&a.dir, a.nhs_number.as_deref()) {
        Ok(e) => e,
        Err(e) => {
            return fail(&format!(
                "cannot read {}/access-audit.ndjson: {e}",
                a.dir.display()
            ))
        }
    };
    if let Some(d) = crate::rundir::describe(&a.dir) {
        eprintln!("migx audit: {}: {d}", a.dir.display());
    }
    for prob in crate::rundir::check_folder(&a.dir) {
        eprintln!("migx audit: warning: {prob}");
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        for e in &events {
            let _ = writeln!(out, "{e}");
        }
    } else {
        let _ = writeln!(
            out,
            "{:<26} {:<10} {:<26} {:<7} {:<40} bundle sha256",
            "released (as of)", "to", "consent recorded", "purpose", "bundle"
        );
        for e in &events {
            let Some(r) = pipeline::records::DisclosureRecord::from_event(e) else {
                eprintln!("migx audit: warning: a line of access-audit.ndjson is not a release migx wrote");
                continue;
            };
            let _ = writeln!(
                out,
                "{:<26} {:<10} {:<26} {:<7} {:<40} {}",
                r.recorded,
                r.requester_ods,
                r.consent_recorded_at
                    .as_deref()
                    .unwrap_or("operator assertion"),
                r.purpose,
                r.bundle,
                r.bundle_sha256,
            );
        }
        let _ = writeln!(out, "{} release(s)", events.len());
    }
    exit::OK
}

/// Why an HTML report cannot be written to `path` (checked before a run, so a typo costs nothing).
/// `created` is a folder the run itself creates (the output folder).
fn report_target_problem(
    path: &std::path::Path,
    created: Option<&std::path::Path>,
) -> Option<String> {
    if path.is_dir() {
        return Some(format!(
            "--report-html {} is a folder; give a file name, e.g. {}",
            path.display(),
            path.join("report.html").display()
        ));
    }
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() && !p.is_dir() && Some(p) != created => Some(format!(
            "--report-html {}: folder {} does not exist",
            path.display(),
            p.display()
        )),
        _ => None,
    }
}

/// `migx report`.
fn report(a: &ReportArgs, cli: &Cli) -> i32 {
    if !a.dir.is_dir() {
        return fail(&format!(
            "{}: no such folder; give the folder a `migx convert` run wrote",
            a.dir.display()
        ));
    }
    let out = a.out.clone().unwrap_or_else(|| a.dir.join("report.html"));
    if let Some(e) = report_target_problem(&out, None) {
        return fail(&e.replace("--report-html", "--out"));
    }
    if let Some(d) = crate::rundir::describe(&a.dir) {
        eprintln!("migx report: {}: {d}", a.dir.display());
    }
    for prob in crate::rundir::check_folder(&a.dir) {
        eprintln!("migx report: warning: {prob}");
    }
    match crate::run_report::report_dir(&a.dir, &out) {
        Ok(()) => {
            if !cli.quiet {
                eprintln!("migx: report written to {}", out.display());
            }
            exit::OK
        }
        Err(e) => fail(&format!("cannot write the report {}: {e}", out.display())),
    }
}

fn snomed_index(release: &std::path::Path, out: &std::path::Path) -> i32 {
    let t = Instant::now();
    let idx = match crate::codes::release::SnomedIndex::build(release) {
        Ok(i) => i,
        Err(e) => return fail(&format!("{}: {e}", release.display())),
    };
    let built = t.elapsed();
    if let Err(e) = idx.write(out) {
        return fail(&format!("{}: {e}", out.display()));
    }
    eprintln!(
        "migx: indexed release {} ({} concepts, {} descriptions, {} exclusion members, {}) in {:.2} s -> {}",
        idx.release_version(),
        idx.concept_count(),
        idx.description_count(),
        idx.exclusion_member_count(),
        if idx.has_hierarchy() {
            format!("{} IS-A relationships", idx.is_a_count())
        } else {
            "no relationship file: subtypes will not be checked".to_string()
        },
        built.as_secs_f64(),
        out.display()
    );
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn split_examples_keeps_prose_and_takes_the_examples_block() {
        let (p, e) =
            split_examples("Some prose.\n\nExamples:\n  migx a\n  migx b\n\nExit codes: 0.");
        assert_eq!(p, "Some prose.\n\nExit codes: 0.");
        assert_eq!(e.as_deref(), Some("Examples:\n  migx a\n  migx b"));
        let (p, e) = split_examples("Example:\n  migx c");
        assert_eq!((p.as_str(), e.as_deref()), ("", Some("Example:\n  migx c")));
        let (p, e) = split_examples("No example here.");
        assert_eq!((p.as_str(), e), ("No example here.", None));
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
