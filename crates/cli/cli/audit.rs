//! `migx audit`: the disclosures an output folder records (subject access requests), as a
//! table or as the AuditEvents themselves.

use std::io::Write;

use super::flags::AuditArgs;
use super::{exit, fail};

/// `migx audit`.
pub(super) fn run(a: &AuditArgs) -> i32 {
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
            "disclosed (as of)", "to", "consent recorded", "purpose", "bundle"
        );
        for e in &events {
            let Some(r) = crate::access::DisclosureRecord::from_event(e) else {
                eprintln!("migx audit: warning: a line of access-audit.ndjson is not a disclosure migx recorded");
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
        let _ = writeln!(out, "{} disclosure(s)", events.len());
    }
    exit::OK
}
