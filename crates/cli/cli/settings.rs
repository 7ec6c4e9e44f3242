//! The library's settings from the flags convert and explain share (consent, policy,
//! terminology, identity), and the refusals a run meets before it reads anything. Errors
//! are configuration errors (exit 2).

use crate::consent::{ConsentBook, ConsentDecision};
use crate::ehr::ts::Ts;
use crate::pipeline::ConvertSettings;
use crate::policy::Policy;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::flags::{AllDecision, PolicyArgs};

/// The refusal when no requester is configured (exit 2).
pub(crate) const NO_REQUESTERS: &str = "no permitted requesters are configured, so nothing may be disclosed.
  List the organisations in your sharing agreement in a policy file and pass it with --policy:
    migx policy template > site-policy.json
    # edit site-policy.json: \"permitted_requesters\": [{\"ods_code\": \"Y02345\", \"name\": \"Out of hours service\", \"role\": \"out-of-hours\"}]
    migx convert ... --policy site-policy.json
  or permit one organisation for this run only with --permit-requester <ODS> (recorded in the Provenance).
  See policy/README.md, \"Permitted requesters\".";

/// The refusal when a run would disclose records without the official exclusion refsets
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
        "the official GP summary exclusion refsets are not loaded (missing: {}), so sensitive records could be disclosed.
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
                        "the row names no readable patient, so no record is disclosed from this file (consent-row-invalid)"
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

/// The note for a run without a SNOMED CT release, with the fix; printed once per run, after
/// the argument checks (never before a usage error).
pub(crate) const NO_SNOMED_NOTE: &str = "migx: note: no SNOMED CT release loaded: exclusion coverage is limited to migx's built-in lists, and items coded only by unresolvable description ids are withheld; fix: --snomed <UK RF2 release folder, or an index made by `migx snomed index`> (or the policy's snomed_release)";

/// A command-line input that does not exist is a usage error (exit 2, nothing written),
/// not a rejected file: it names no extract at all.
pub(super) fn missing_inputs(inputs: &[PathBuf]) -> Option<String> {
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
