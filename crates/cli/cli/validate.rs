//! `migx validate`: the files against the FHIR R4 schema (and migx's profile or packages'
//! profiles), and an output folder of `migx convert` as the record of one run.

use migx::validate::profile::{Definitions, ProfileOptions};
use migx::validate::{render, render_text, validate_paths, ValidateOptions};

use super::exit;
use super::flags::{ReportArg, ValidateArgs};

/// `migx validate`: the files, and, for an output folder of `migx convert` (or its
/// `bundles/`), the folder as one run: its manifest, a finished run, every bundle audited
/// and every audited disclosure there with the bytes audited.
pub(super) fn run(a: &ValidateArgs) -> i32 {
    let rc = validate_files(a);
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

/// Run `migx validate`; returns the exit code: 0 all valid, 1 any invalid, 2 usage error
/// (no path, a path that does not exist, or the report file cannot be written).
fn validate_files(args: &ValidateArgs) -> i32 {
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
    use super::super::flags::ProfileArg;
    use super::*;
    use migx::validate::{Profile, ReportFormat};
    use std::path::{Path, PathBuf};

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
        assert_eq!(validate_files(&a), 0);
        a.paths = vec![fixture("invalid")];
        assert_eq!(validate_files(&a), 1);
        a.paths = vec![
            fixture("valid/bundle-migx.json"),
            fixture("does-not-exist.json"),
        ];
        assert_eq!(validate_files(&a), 2);
        a.paths = vec![fixture("valid/bundle-migx.json")];
        a.profile = ProfileArg::Migx;
        assert_eq!(validate_files(&a), 0);
        a.paths = vec![fixture("invalid/bundle-consent-no-provision.json")];
        assert_eq!(validate_files(&a), 1);
        a.profile = ProfileArg::Fhir;
        assert_eq!(validate_files(&a), 0);
        a.jobs = Some(0);
        assert_eq!(validate_files(&a), 2);
        a.jobs = None;
        a.report_file = Some(dir.path().join("no/such/dir/r.txt"));
        assert_eq!(validate_files(&a), 2);
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
