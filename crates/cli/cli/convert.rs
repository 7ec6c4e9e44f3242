//! `migx convert`: the run's checks, its output folder claimed, the batch with progress, and
//! the end-of-run table on stderr.

use crate::pipeline::{self, BatchOptions, RunTotals};
use std::io::Write;
use std::time::Instant;

use super::flags::{AllDecision, Cli, ConvertArgs, FormatArg};
use super::progress;
use super::report::report_target_problem;
use super::settings::{missing_inputs, no_official_refsets, settings_from, NO_SNOMED_NOTE};
use super::{exit, fail};

/// `migx convert`.
pub(super) fn run(a: &ConvertArgs, cli: &Cli) -> i32 {
    if let Some(e) = missing_inputs(&a.inputs) {
        return fail(&e);
    }
    // With more than one worker, the schemas compile on another core while this one loads
    // the policy and walks the inputs (a single worker compiles them when it needs them).
    if a.jobs != Some(1) {
        migx::validate::compile_schemas_in_background();
    }
    let settings = match settings_from(&a.policy, cli.quiet) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    if a.jobs == Some(0) {
        return fail("--jobs must be at least 1");
    }
    // A run that may disclose records needs the official exclusion refsets, or the operator's
    // explicit assertion that it goes without them (a deny-all run discloses nothing).
    let may_share = a.policy.consent_all != Some(AllDecision::Deny);
    if settings.policy.has_official_refsets() {
        if settings.without_official_refsets && !cli.quiet {
            eprintln!("migx: note: the official exclusion refsets are loaded; --without-official-refsets is not needed and is not recorded");
        }
    } else if may_share && !settings.without_official_refsets {
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
            let disclosed = e
                .get_ref()
                .and_then(|r| r.downcast_ref::<pipeline::Stopped>())
                .map(|s| s.disclosed);
            eprintln!(
                "migx: error: the run stopped: cannot write to {}: {e}\n  {} record(s) were disclosed before it stopped, each described in {}; the folder is incomplete: fix the cause (e.g. free disk space) and rerun the same command to complete it",
                a.out.display(),
                disclosed.unwrap_or(0),
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
