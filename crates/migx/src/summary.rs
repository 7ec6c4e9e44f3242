//! `migx summary`: merge the audits and summaries of shards (`convert --shard K/N`) or of
//! separate runs into one `audit.ndjson`, `access-audit.ndjson` and `summary.json`, exactly
//! as one unsharded run over the same inputs would have written them.
//!
//! Merging sums the counts, concatenates the audit records of each input in input path
//! order (the order an unsharded run uses), and puts each disclosure's AuditEvent beside its
//! input's. It refuses (exit 2) to merge outputs of different migx versions, policies,
//! SNOMED disclosures or consent sources, an incomplete or duplicated set of shards, or an
//! input that appears in two shards.

use crate::output;
use crate::pipeline::records::{AuditLine, OrderedCounts, Summary};
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

/// What a merge produced.
#[derive(Debug, Clone)]
pub struct Merged {
    /// How many runs (shard folders or output folders) were merged.
    pub parts: usize,
    /// The merged `summary.json`.
    pub summary: Summary,
}

/// The folders holding one run's audit + summary each: a folder given with a `shards/`
/// subfolder stands for every `shards/*` folder in it; otherwise a folder with a
/// `summary.json` stands for itself.
pub fn resolve_parts(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut parts = Vec::new();
    for d in dirs {
        let shards = d.join("shards");
        if shards.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&shards)
                .map_err(|e| format!("cannot read {}: {}", shards.display(), e.kind()))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("summary.json").is_file())
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!(
                    "{} holds no shard summaries (shards/K-of-N/summary.json)",
                    shards.display()
                ));
            }
            parts.extend(found);
        } else if d.join("summary.json").is_file() {
            parts.push(d.clone());
        } else {
            return Err(format!(
                "{}: no summary.json and no shards/ folder: give the --out folder of `migx convert`",
                d.display()
            ));
        }
    }
    let unique: BTreeSet<&PathBuf> = parts.iter().collect();
    if unique.len() != parts.len() {
        return Err("the same folder is given twice".into());
    }
    Ok(parts)
}

/// One input's audit lines (its `file` line and its item lines), byte for byte.
struct Group {
    input: String,
    lines: Vec<u8>,
    access: Option<Vec<u8>>,
}

fn read_lines(path: &Path) -> Result<Vec<String>, String> {
    let f = std::fs::File::open(path)
        .map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    io::BufReader::new(f)
        .lines()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))
}

fn read_part(dir: &Path) -> Result<Vec<Group>, String> {
    let bad = |what: &str| format!("{}/audit.ndjson: {what}", dir.display());
    let mut groups: Vec<Group> = Vec::new();
    let mut disclosures: Vec<usize> = Vec::new();
    for (n, line) in read_lines(&dir.join("audit.ndjson"))?
        .into_iter()
        .enumerate()
    {
        if line.is_empty() {
            continue;
        }
        let v: Json =
            serde_json::from_str(&line).map_err(|_| bad(&format!("line {} is not JSON", n + 1)))?;
        let v = AuditLine::deserialize(&v)
            .map_err(|_| bad(&format!("line {} is not a migx audit line", n + 1)))?;
        let input = v.input();
        if let AuditLine::File(f) = &v {
            if f.status == crate::outcome::Status::Converted && f.bundle.is_some() {
                disclosures.push(groups.len());
            }
            groups.push(Group {
                input: input.to_string(),
                lines: Vec::new(),
                access: None,
            });
        }
        let g = groups
            .last_mut()
            .filter(|g| g.input == input)
            .ok_or_else(|| bad(&format!("line {} is not under its file's line", n + 1)))?;
        g.lines.extend_from_slice(line.as_bytes());
        g.lines.push(b'\n');
    }
    let access_path = dir.join("access-audit.ndjson");
    let events: Vec<String> = read_lines(&access_path)?
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect();
    if events.len() != disclosures.len() {
        return Err(format!(
            "{}: {} disclosure(s) but {} access event(s): the folder is incomplete or was edited",
            dir.display(),
            disclosures.len(),
            events.len()
        ));
    }
    for (gi, ev) in disclosures.into_iter().zip(events) {
        let mut b = ev.into_bytes();
        b.push(b'\n');
        groups[gi].access = Some(b);
    }
    Ok(groups)
}

fn read_summary(dir: &Path) -> Result<Summary, String> {
    let p = dir.join("summary.json");
    let text = std::fs::read_to_string(&p)
        .map_err(|e| format!("cannot read {}: {}", p.display(), e.kind()))?;
    let v: Json = serde_json::from_str(&text).map_err(|_| format!("{}: not JSON", p.display()))?;
    if !v.is_object() {
        return Err(format!("{}: not a migx summary", p.display()));
    }
    Summary::deserialize(&v).map_err(|e| format!("{}: not a migx summary: {e}", p.display()))
}

/// The terms a run ran under, which must agree across everything merged, by their key in
/// `summary.json`.
fn terms(s: &Summary) -> [(&'static str, Json); 7] {
    let j = |v: Result<Json, serde_json::Error>| v.unwrap_or(Json::Null);
    [
        ("migx_version", j(serde_json::to_value(&s.migx_version))),
        ("policy", j(serde_json::to_value(&s.policy))),
        ("policy_sha256", j(serde_json::to_value(&s.policy_sha256))),
        ("snomed_release", j(serde_json::to_value(&s.snomed_release))),
        (
            "exclusion_refsets",
            j(serde_json::to_value(&s.exclusion_refsets)),
        ),
        ("consent_source", j(serde_json::to_value(&s.consent_source))),
        ("permitted", j(serde_json::to_value(&s.permitted))),
    ]
}

/// Merge the summaries: sums, maps summed and sorted, `stopped_early` if any stopped.
fn merge_summaries(parts: &[PathBuf], sums: &[Summary]) -> Result<Summary, String> {
    let Some(first) = sums.first() else {
        return Err("nothing to merge".into());
    };
    let first_terms = terms(first);
    for (p, s) in parts.iter().zip(sums).skip(1) {
        for ((k, theirs), (_, ours)) in terms(s).iter().zip(&first_terms) {
            if theirs != ours {
                return Err(format!(
                    "{} was made with a different {k} ({theirs} vs {ours}): merge only runs of one migx, policy, consent source and permitted requesters",
                    p.display(),
                ));
            }
        }
    }
    // Shards: one complete set of K-of-N.
    let shards: Vec<(u32, u32)> = sums
        .iter()
        .filter_map(|s| s.shard.map(|sh| (sh.index, sh.count)))
        .collect();
    if !shards.is_empty() {
        let n = shards[0].1;
        if shards.iter().any(|s| s.1 != n) {
            return Err("the shards come from fan-outs of different sizes (N)".into());
        }
        let have: BTreeSet<u32> = shards.iter().map(|s| s.0).collect();
        if have.len() != shards.len() {
            return Err("a shard is given twice".into());
        }
        let missing: Vec<String> = (0..n)
            .filter(|k| !have.contains(k))
            .map(|k| format!("{k}/{n}"))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "shard(s) {} missing: run them (or wait for them) before merging",
                missing.join(", ")
            ));
        }
    }
    let mut out = first.clone();
    out.shard = None;
    let sum = |f: fn(&Summary) -> u64| sums.iter().map(f).sum::<u64>();
    out.inputs = sum(|s| s.inputs);
    out.converted = sum(|s| s.converted);
    out.withheld = sum(|s| s.withheld);
    out.rejected = sum(|s| s.rejected);
    out.free_text_removed = sum(|s| s.free_text_removed);
    out.input_bytes = sum(|s| s.input_bytes);
    out.withheld_no_snomed_release = sum(|s| s.withheld_no_snomed_release);
    let mut shared = Vec::with_capacity(first.items_shared.0.len());
    for (cat, _) in &first.items_shared.0 {
        let mut total = 0u64;
        for (p, s) in parts.iter().zip(sums) {
            total += s.items_shared.get(cat).ok_or_else(|| {
                format!("{}/summary.json: items_shared is not a count", p.display())
            })?;
        }
        shared.push((cat.clone(), total));
    }
    out.items_shared = OrderedCounts(shared);
    let maps = |f: fn(&Summary) -> &BTreeMap<String, u64>| {
        let mut merged: BTreeMap<String, u64> = BTreeMap::new();
        for s in sums {
            for (reason, n) in f(s) {
                *merged.entry(reason.clone()).or_insert(0) += n;
            }
        }
        merged
    };
    out.file_reasons = maps(|s| &s.file_reasons);
    out.error_codes = maps(|s| &s.error_codes);
    out.items_withheld = maps(|s| &s.items_withheld);
    out.skipped = maps(|s| &s.skipped);
    out.stopped_early = sums.iter().any(|s| s.stopped_early);
    Ok(out)
}

/// Merge `parts` (shard or run folders) into `out`.
pub fn merge(parts: &[PathBuf], out: &Path) -> Result<Merged, String> {
    let sums: Vec<Summary> = parts
        .iter()
        .map(|p| read_summary(p))
        .collect::<Result<_, _>>()?;
    let summary = merge_summaries(parts, &sums)?;
    let mut groups: Vec<Group> = Vec::new();
    for p in parts {
        groups.extend(read_part(p)?);
    }
    groups.sort_by(|a, b| a.input.cmp(&b.input));
    if groups.windows(2).any(|w| w[0].input == w[1].input) {
        return Err(
            "an input appears in more than one of the folders merged (overlapping shards or runs)"
                .into(),
        );
    }
    let write = || -> io::Result<()> {
        output::secure_dir(out)?;
        output::remove_stale_temps(out)?;
        use std::io::Write as _;
        let mut audit = output::AtomicFile::create(&out.join("audit.ndjson"))?;
        let mut access = output::AtomicFile::create(&out.join("access-audit.ndjson"))?;
        for g in &groups {
            audit.write_all(&g.lines)?;
            if let Some(a) = &g.access {
                access.write_all(a)?;
            }
        }
        audit.commit()?;
        access.commit()?;
        let mut s = serde_json::to_vec_pretty(&summary).map_err(io::Error::other)?;
        s.push(b'\n');
        output::write_atomic(&out.join("summary.json"), &s)
    };
    write().map_err(|e| format!("cannot write to {}: {e}", out.display()))?;
    Ok(Merged {
        parts: parts.len(),
        summary,
    })
}
