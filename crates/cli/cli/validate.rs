//! `migx validate` command-line arguments and entry point. The flags' enums are the command
//! line's own and map onto the library's [`Profile`] and [`ReportFormat`], which know
//! nothing of clap.

use std::path::PathBuf;

use migx::validate::profile::{Definitions, ProfileOptions};
use migx::validate::{render, render_text, validate_paths, Profile, ReportFormat, ValidateOptions};

/// `--profile`: which rules to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProfileArg {
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
pub enum ReportArg {
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

/// Run `migx validate`; returns the exit code: 0 all valid, 1 any invalid, 2 usage error
/// (no path, a path that does not exist, or the report file cannot be written).
pub(super) fn run(args: &ValidateArgs) -> i32 {
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
        profile: args.profile.into(),
        jobs: args.jobs.unwrap_or(0),
        max_errors_per_file: args.max_errors,
        definitions,
        profile_options: ProfileOptions {
            profile_urls: args.profile_urls.clone(),
        },
    };
    let result = validate_paths(&opts);
    // The text report on stdout already lists missing paths; otherwise tell stderr.
    if args.report_file.is_some() || args.report != ReportArg::Text {
        for path in &result.missing {
            eprintln!("migx validate: {}: no such file or folder", path.display());
        }
    }
    let rendered = render(&result, args.report.into());
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
                render_text(&result)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/validate")
            .join(rel)
    }

    #[test]
    fn flag_enums_map_onto_the_library_types() {
        assert_eq!(Profile::from(ProfileArg::Fhir), Profile::Fhir);
        assert_eq!(Profile::from(ProfileArg::Migx), Profile::Migx);
        assert_eq!(ReportFormat::from(ReportArg::Text), ReportFormat::Text);
        assert_eq!(ReportFormat::from(ReportArg::Json), ReportFormat::Json);
        assert_eq!(ReportFormat::from(ReportArg::Junit), ReportFormat::Junit);
        // Each flag value is the library profile's own name.
        use clap::ValueEnum as _;
        for p in ProfileArg::value_variants() {
            let name = p.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(name.as_deref(), Some(Profile::from(*p).as_str()));
        }
    }

    fn args(paths: Vec<PathBuf>) -> ValidateArgs {
        ValidateArgs {
            paths,
            profile: ProfileArg::Fhir,
            report: ReportArg::Text,
            report_file: None,
            jobs: Some(1),
            max_errors: 50,
            packages: Vec::new(),
            profile_urls: Vec::new(),
        }
    }

    #[test]
    fn run_exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.txt");
        let mut a = args(vec![fixture("valid")]);
        a.report_file = Some(out.clone());
        assert_eq!(run(&a), 0);
        a.paths = vec![fixture("invalid")];
        assert_eq!(run(&a), 1);
        a.paths = vec![
            fixture("valid/bundle-migx.json"),
            fixture("does-not-exist.json"),
        ];
        assert_eq!(run(&a), 2);
        a.paths = vec![fixture("valid/bundle-migx.json")];
        a.profile = ProfileArg::Migx;
        assert_eq!(run(&a), 0);
        a.paths = vec![fixture("invalid/bundle-consent-no-provision.json")];
        assert_eq!(run(&a), 1);
        a.profile = ProfileArg::Fhir;
        assert_eq!(run(&a), 0);
        a.jobs = Some(0);
        assert_eq!(run(&a), 2);
        a.jobs = None;
        a.report_file = Some(dir.path().join("no/such/dir/r.txt"));
        assert_eq!(run(&a), 2);
    }

    #[test]
    fn clap_parses_validate_args() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: ValidateArgs,
        }
        let cli = Cli::try_parse_from([
            "migx",
            "a.json",
            "dir",
            "--profile",
            "migx",
            "--report",
            "junit",
            "--report-file",
            "r.xml",
            "--jobs",
            "3",
        ])
        .unwrap();
        assert_eq!(cli.args.paths.len(), 2);
        assert_eq!(cli.args.profile, ProfileArg::Migx);
        assert_eq!(cli.args.report, ReportArg::Junit);
        assert_eq!(cli.args.jobs, Some(3));
        let cli = Cli::try_parse_from(["migx", "a.json"]).unwrap();
        assert_eq!(cli.args.profile, ProfileArg::Fhir);
        assert_eq!(cli.args.report, ReportArg::Text);
        assert!(Cli::try_parse_from(["migx"]).is_err());
        assert!(Cli::try_parse_from(["migx", "a", "--profile", "x"]).is_err());
    }
}
