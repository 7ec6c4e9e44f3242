//! `migx summary`: the audits and summaries of shards or separate runs, merged.

use super::flags::{Cli, SummaryArgs};
use super::{exit, fail};

/// `migx summary`.
pub(super) fn run(a: &SummaryArgs, cli: &Cli) -> i32 {
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
