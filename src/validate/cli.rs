//! `migx validate` command-line arguments and entry point.

use std::path::PathBuf;

use super::files::{validate_paths, ValidateOptions};
use super::profile::{Definitions, ProfileOptions};
use super::{report, Profile};

/// Report formats of `migx validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// Grouped per file, for people.
    #[default]
    Text,
    /// Described by schemas/validate-report.schema.json.
    Json,
    /// JUnit XML, one testcase per file, for CI.
    Junit,
}

/// `migx validate <PATH>...`: check FHIR R4 JSON (and migx's output profile) offline.
#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// Files or folders (walked for *.json and *.ndjson); `.ndjson` = one resource per line.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Rules to check: the FHIR R4 JSON Schema, or FHIR plus migx's output profile.
    #[arg(long, value_enum, default_value_t = Profile::Fhir)]
    pub profile: Profile,
    /// Report format (written to stdout unless --report-file is given).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub report: ReportFormat,
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

/// Run `migx validate`; returns the exit code: 0 all valid, 1 any invalid, 2 usage error
/// (no path, a path that does not exist, or the report file cannot be written).
pub fn run(args: &ValidateArgs) -> i32 {
    if args.paths.is_empty() {
        eprintln!("migx validate: no PATH given");
        return 2;
    }
    if args.jobs == Some(0) {
        eprintln!("migx validate: --jobs must be at least 1");
        return 2;
    }
    let definitions = if args.packages.is_empty() && args.profile_urls.is_empty() {
        None
    } else {
        match Definitions::load(&args.packages) {
            Ok(d) => Some(std::sync::Arc::new(d)),
            Err(err) => {
                eprintln!("migx validate: {err}");
                return 2;
            }
        }
    };
    if let Some(defs) = &definitions {
        for p in &defs.packages {
            for dep in &p.missing_dependencies {
                eprintln!(
                    "migx validate: package {}#{} needs {dep}, which is neither built in nor given: what needs it is reported as not evaluated",
                    p.name, p.version
                );
            }
            if !p.unreadable.is_empty() {
                eprintln!(
                    "migx validate: package {}#{}: {} file(s) are not valid JSON and were skipped (first: {})",
                    p.name,
                    p.version,
                    p.unreadable.len(),
                    p.unreadable[0]
                );
            }
        }
        for url in &args.profile_urls {
            if defs.structure_definition(url).is_none() {
                eprintln!("migx validate: --profile-url {url}: no package defines it");
                return 2;
            }
        }
    }
    let opts = ValidateOptions {
        paths: args.paths.clone(),
        profile: args.profile,
        jobs: args.jobs.unwrap_or(0),
        max_errors_per_file: args.max_errors,
        definitions,
        profile_options: ProfileOptions {
            profile_urls: args.profile_urls.clone(),
        },
    };
    let result = validate_paths(&opts);
    // The text report on stdout already lists missing paths; otherwise tell stderr.
    if args.report_file.is_some() || args.report != ReportFormat::Text {
        for path in &result.missing {
            eprintln!("migx validate: {}: no such file or folder", path.display());
        }
    }
    let rendered = report::render(&result, args.report);
    match &args.report_file {
        Some(file) => {
            if let Err(err) = std::fs::write(file, rendered) {
                eprintln!(
                    "migx validate: cannot write report {}: {}",
                    file.display(),
                    err.kind()
                );
                return 2;
            }
            // Keep a one-line verdict on the terminal.
            eprint!(
                "{}",
                report::render_text(&result)
                    .lines()
                    .last()
                    .map(|l| format!("{l}\n"))
                    .unwrap_or_default()
            );
        }
        None => {
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(rendered.as_bytes());
        }
    }
    result.exit_code()
}
