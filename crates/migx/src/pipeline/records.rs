//! The run records: each input's audit lines, the run's totals, and `summary.json`.

use crate::error::InputError;
use crate::input::InputFile;
use crate::outcome::Conversion;
use crate::policy::decide::Category;
use crate::settings::ConvertSettings;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// Counts for the summary and the end-of-run table.
#[derive(Debug, Clone, Default)]
pub struct RunTotals {
    /// Inputs in this run.
    pub inputs: usize,
    /// Inputs per status (`converted`, `withheld`, `rejected`).
    pub by_status: BTreeMap<&'static str, usize>,
    /// Withheld inputs per patient-level reason.
    pub file_reasons: BTreeMap<&'static str, usize>,
    /// Rejected inputs per error code.
    pub error_codes: BTreeMap<&'static str, usize>,
    /// Shared items per category.
    pub items_shared: BTreeMap<&'static str, usize>,
    /// Withheld items per reason.
    pub items_withheld: BTreeMap<&'static str, usize>,
    /// Shared items whose free text was removed.
    pub text_removed: usize,
    /// Input bytes read.
    pub bytes: u64,
    /// `--fail-fast` stopped the run before every input was processed.
    pub stopped_early: bool,
    /// An earlier run of the same manifest into this folder was interrupted: its journal
    /// held this many records, which this run completed.
    pub resumed: Option<usize>,
    /// Records released so far: bundles published (ndjson: records, once the files are).
    pub released: usize,
    /// No SNOMED CT release was loaded, so items coded only by description ids were withheld
    /// (`unresolved-code`).
    pub no_snomed_release: bool,
    /// How far sensitive SNOMED CT codes were matched (IS-A subtypes with a release's
    /// hierarchy, or only exact matches and Read v2/CTV3 prefixes), for the end-of-run table.
    pub hierarchy: String,
    /// Every rejected input, in input order: its path as the audit shows it, and why (the
    /// message names file positions and migx's element names only, never patient data).
    pub rejected: Vec<(String, InputError)>,
    /// Every withheld input, in input order, with its patient-level reason.
    pub withheld: Vec<(String, &'static str)>,
    /// Files the folder walk left out, per reason (not inputs).
    pub skipped: BTreeMap<&'static str, usize>,
}

/// What the operator can do about items withheld because no SNOMED CT release was loaded
/// (printed at the end of a run, in `summary.json` and in the HTML report).
pub const NO_SNOMED_RELEASE_ADVICE: &str = "these items are coded only by SNOMED CT description ids, which need a release to resolve: load a SNOMED CT UK release (--snomed <RF2 folder, or an index made by `migx snomed index`>, or the policy's snomed_release) and convert again";

impl RunTotals {
    /// Items withheld only because no SNOMED CT release was loaded (`unresolved-code` items
    /// of a run without a release; with a release they are ids it does not hold).
    pub fn withheld_no_snomed_release(&self) -> usize {
        if self.no_snomed_release {
            self.items_withheld
                .get("unresolved-code")
                .copied()
                .unwrap_or(0)
        } else {
            0
        }
    }
}

pub(super) fn write_audit(out: &mut Vec<u8>, f: &InputFile, c: &Conversion, bundle: Option<&str>) {
    // Masked once per input, not once per audited item.
    let shown = f.shown();
    let reason = c
        .withheld
        .map(|r| r.as_str())
        .or(c.error.as_ref().map(|e| e.code.as_str()));
    let mut line = json!({
        "kind": "file",
        "input": &shown,
        "status": c.status.as_str(),
        "reason": reason,
        "bundle": bundle,
    });
    if let Some(e) = &c.error {
        line["error"] = json!({
            "code": e.code.as_str(),
            "message": e.message,
            "line": e.line,
            "column": e.column,
            "element": e.element,
        });
    }
    push_line(out, &line);
    for it in &c.items {
        let line = json!({
            "kind": if it.text_only { "text" } else { "item" },
            "input": &shown,
            "source_id": it.source_id,
            "element": it.element,
            "category": it.category.map(Category::as_str),
            "reason": it.reason.as_str(),
        });
        push_line(out, &line);
    }
}

fn push_line(out: &mut Vec<u8>, v: &Json) {
    if serde_json::to_writer(&mut *out, v).is_ok() {
        out.push(b'\n');
    }
}

pub(super) fn tally(t: &mut RunTotals, c: &Conversion) {
    *t.by_status.entry(c.status.as_str()).or_insert(0) += 1;
    t.bytes += c.bytes;
    if let Some(r) = c.withheld {
        *t.file_reasons.entry(r.as_str()).or_insert(0) += 1;
    }
    if let Some(e) = &c.error {
        *t.error_codes.entry(e.code.as_str()).or_insert(0) += 1;
    }
    for (cat, n) in &c.shared {
        *t.items_shared.entry(cat.as_str()).or_insert(0) += n;
    }
    for it in &c.items {
        if it.text_only {
            t.text_removed += 1;
        } else {
            *t.items_withheld.entry(it.reason.as_str()).or_insert(0) += 1;
        }
    }
}

pub(super) fn summary_json(t: &RunTotals, s: &ConvertSettings) -> Json {
    let get = |k: &str| t.by_status.get(k).copied().unwrap_or(0);
    let mut shared = serde_json::Map::new();
    for c in Category::ALL {
        shared.insert(
            c.as_str().into(),
            json!(t.items_shared.get(c.as_str()).copied().unwrap_or(0)),
        );
    }
    json!({
        "migx_version": env!("CARGO_PKG_VERSION"),
        "policy": { "name": s.policy.name(), "version": s.policy.version() },
        "policy_sha256": s.policy.sha256(),
        "snomed_release": s.policy.snomed_release_version(),
        "exclusion_refsets": s.exclusion_basis().summary_json(),
        "consent_source": if s.consent.is_operator_assertion() { "operator-assertion" } else { "consent-file" },
        "inputs": t.inputs,
        "converted": get("converted"),
        "withheld": get("withheld"),
        "rejected": get("rejected"),
        "stopped_early": t.stopped_early,
        "file_reasons": t.file_reasons,
        "error_codes": t.error_codes,
        "items_shared": shared,
        "items_withheld": t.items_withheld,
        "free_text_removed": t.text_removed,
        "withheld_no_snomed_release": t.withheld_no_snomed_release(),
        "snomed_advice": t.no_snomed_release.then_some(NO_SNOMED_RELEASE_ADVICE),
        "input_bytes": t.bytes,
        "skipped": t.skipped,
        "permitted": permitted_json(s),
    })
}

/// The requesting organisations and purposes of use the run could release to: the policy's
/// `permitted_requesters` and those added for the run with `--permit-requester`.
fn permitted_json(s: &ConvertSettings) -> Json {
    let policy = s.policy.permitted_requesters();
    let mut requesters: Vec<Json> = policy
        .iter()
        .map(|r| json!({ "ods_code": r.ods_code, "name": r.name, "role": r.role, "source": "policy" }))
        .collect();
    let mut run: Vec<&String> = s
        .run_permitted_requesters
        .iter()
        .filter(|o| !policy.iter().any(|r| &r.ods_code == *o))
        .collect();
    run.sort();
    run.dedup();
    requesters.extend(run.into_iter().map(
        |o| json!({ "ods_code": o, "name": null, "role": null, "source": "--permit-requester" }),
    ));
    json!({ "requesters": requesters, "purposes": s.policy.permitted_purposes() })
}
