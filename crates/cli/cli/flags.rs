//! Every flag of the command line, defined once (clap derive): the help, the man pages and
//! the shell completions are generated from these definitions (`help.rs`, `man.rs`). The
//! flags' own enums map onto the library's types, which know nothing of clap.

use clap::{Args, Parser, Subcommand, ValueEnum};
use migx::validate::{Profile, ReportFormat};
use std::path::PathBuf;

use crate::pipeline;

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
            "Permitted requesters: records are disclosed only to organisations listed under `permitted_requesters` in the sharing policy, and only for its `permitted_purposes` (default TREAT, ETREAT). The embedded default lists none, so configure them first (the first two examples), or add an organisation for one run with --permit-requester <ODS> (recorded in the Provenance). See policy/README.md.\n\n",
            "Exclusion refsets: a run that may disclose records needs the four official GP summary exclusion refsets (licensed UK SNOMED CT release: --snomed <release> or --exclusion-refset <der2_Refset_SimpleSnapshot_*.txt>), or the operator's assertion --without-official-refsets (fixtures and tests; recorded in each Provenance and in summary.json). Otherwise convert refuses (exit 2) before writing anything.\n\n",
            "Examples:\n  migx policy template > site-policy.json   # then edit: \"permitted_requesters\": [{\"ods_code\": \"Y02345\", \"name\": \"Out of hours service\", \"role\": \"out-of-hours\"}]\n  migx convert extracts/ --consent consent.csv --policy site-policy.json --snomed uk_sct2cl/ --out out\n  migx convert fixtures/extracts --consent fixtures/consent.csv --permit-requester Y02345 --without-official-refsets --out out\n  migx convert extracts/ --consent-all permit --requester Y02345 --permit-requester Y02345 --allow-test-identities --without-official-refsets --out out"
        )
    )]
    Convert(ConvertArgs),
    /// Show, for one extract, every source item with its category and decision.
    #[command(
        after_help = "A rejected file is reported as rejected, with its error code and message, and no item rows (it discloses nothing).\n\nExit codes: 0 the file would be converted or withheld by policy; 1 it would be rejected; 2 usage or configuration error.\n\nExample:\n  migx explain fixtures/extracts/02-pathology-report.xml --consent fixtures/consent.csv --permit-requester Y02345"
    )]
    Explain(ExplainArgs),
    /// Validate FHIR R4 JSON (resources, Bundles, NDJSON) against the official schema.
    #[command(
        after_help = "Examples:\n  migx validate out/bundles --profile migx\n  migx validate fixtures/ --report junit --report-file junit.xml"
    )]
    Validate(ValidateArgs),
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
    /// List the disclosures recorded in an output folder (subject access requests).
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
    // Disclose every patient's record (the operator asserts consent was given). Plain comments: a
    // `///` on a value would switch clap's whole --help to the long layout.
    #[allow(missing_docs)]
    Permit,
    // Disclose nobody's record.
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
    /// Disclose records without the official GP summary exclusion refsets (fixtures and tests only): an operator assertion, recorded in each bundle's Provenance and in summary.json. Without it, convert refuses unless --snomed or --exclusion-refset loads all four official refsets.
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
    /// Only disclosures of this patient's record.
    #[arg(long, value_name = "NHS_NUMBER")]
    pub nhs_number: Option<String>,
    /// Print the AuditEvents as NDJSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--profile`: which rules to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum ProfileArg {
    /// The official FHIR R4 JSON Schema only.
    #[default]
    Fhir,
    /// FHIR R4 plus migx's output profile (schemas/migx-bundle.schema.json).
    Migx,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Profile {
        match p {
            ProfileArg::Fhir => Profile::Fhir,
            ProfileArg::Migx => Profile::Migx,
        }
    }
}

/// `--report`: report formats of `migx validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum ReportArg {
    /// Grouped per file, for people.
    #[default]
    Text,
    /// Described by schemas/validate-report.schema.json.
    Json,
    /// JUnit XML, one testcase per file, for CI.
    Junit,
}

impl From<ReportArg> for ReportFormat {
    fn from(r: ReportArg) -> ReportFormat {
        match r {
            ReportArg::Text => ReportFormat::Text,
            ReportArg::Json => ReportFormat::Json,
            ReportArg::Junit => ReportFormat::Junit,
        }
    }
}

/// `migx validate <PATH>...`: check FHIR R4 JSON (and migx's output profile) offline.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ValidateArgs {
    /// Files or folders (walked for *.json and *.ndjson); `.ndjson` = one resource per line.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Rules to check: the FHIR R4 JSON Schema, or FHIR plus migx's output profile.
    #[arg(long, value_enum, default_value_t = ProfileArg::Fhir)]
    pub profile: ProfileArg,
    /// Report format (written to stdout unless --report-file is given).
    #[arg(long, value_enum, default_value_t = ReportArg::Text)]
    pub report: ReportArg,
    /// Write the report to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub report_file: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Violations kept per file in the report (all are counted).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_errors: usize,
    /// FHIR NPM package (`.tgz` or unpacked folder) whose profiles to validate against
    /// (repeatable; dependencies are resolved among the packages given by their
    /// package.json; the R4 4.0.1 core is built in). Each resource is checked against its
    /// `meta.profile`.
    #[arg(long = "package", value_name = "PACKAGE")]
    pub packages: Vec<PathBuf>,
    /// Validate every resource of the profile's type against this profile instead of its
    /// `meta.profile` (repeatable; implies profile validation even without --package).
    #[arg(long = "profile-url", value_name = "URL")]
    pub profile_urls: Vec<String>,
}
