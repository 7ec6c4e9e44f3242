//! `migx report`: the operator's HTML run report of an output folder.

use super::flags::{Cli, ReportArgs};
use super::{exit, fail};

/// Why an HTML report cannot be written to `path` (checked before a run, so a typo costs nothing).
/// `created` is a folder the run itself creates (the output folder).
pub(super) fn report_target_problem(
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
pub(super) fn run(a: &ReportArgs, cli: &Cli) -> i32 {
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
