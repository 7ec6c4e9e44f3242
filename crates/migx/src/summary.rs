//! `migx summary`: merge the audits and summaries of shards (`convert --shard K/N`) or of
//! separate runs into one `audit.ndjson`, `access-audit.ndjson` and `summary.json`, exactly
//! as one unsharded run over the same inputs would have written them.
//!
//! Merging sums the counts, concatenates the audit records of each input in input path
//! order (the order an unsharded run uses), and puts each release's AuditEvent beside its
//! input's. It refuses (exit 2) to merge outputs of different migx versions, policies,
//! SNOMED releases or consent sources, an incomplete or duplicated set of shards, or an
//! input that appears in two shards.

use crate::output;
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

/// Summary keys that must agree across everything merged.
const SAME: [&str; 7] = [
    "migx_version",
    "policy",
    "policy_sha256",
    "snomed_release",
    "exclusion_refsets",
    "consent_source",
    "permitted",
];
/// Summary counts that are summed.
const SUMS: [&str; 8] = [
    "inputs",
    "converted",
    "withheld",
    "rejected",
    "free_text_removed",
    "input_bytes",
    "items_shared",
    "withheld_no_snomed_release",
];
/// Summary maps (reason or code -> count) that are summed and kept sorted.
const MAPS: [&str; 4] = ["file_reasons", "error_codes", "items_withheld", "skipped"];

/// What a merge produced.
#[derive(Debug, Clone)]
pub struct Merged {
    /// How many runs (shard folders or output folders) were merged.
    pub parts: usize,
    /// The merged `summary.json`.
    pub summary: Json,
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
    let mut releases: Vec<usize> = Vec::new();
    for (n, line) in read_lines(&dir.join("audit.ndjson"))?
        .into_iter()
        .enumerate()
    {
        if line.is_empty() {
            continue;
        }
        let v: Json =
            serde_json::from_str(&line).map_err(|_| bad(&format!("line {} is not JSON", n + 1)))?;
        let input = v["input"]
            .as_str()
            .ok_or_else(|| bad(&format!("line {} has no input", n + 1)))?;
        if v["kind"] == "file" {
            if v["status"] == "converted" && v["bundle"].is_string() {
                releases.push(groups.len());
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
    if events.len() != releases.len() {
        return Err(format!(
            "{}: {} release(s) but {} access event(s): the folder is incomplete or was edited",
            dir.display(),
            releases.len(),
            events.len()
        ));
    }
    for (gi, ev) in releases.into_iter().zip(events) {
        let mut b = ev.into_bytes();
        b.push(b'\n');
        groups[gi].access = Some(b);
    }
    Ok(groups)
}

fn read_summary(dir: &Path) -> Result<Json, String> {
    let p = dir.join("summary.json");
    let text = std::fs::read_to_string(&p)
        .map_err(|e| format!("cannot read {}: {}", p.display(), e.kind()))?;
    let v: Json = serde_json::from_str(&text).map_err(|_| format!("{}: not JSON", p.display()))?;
    if !v.is_object() {
        return Err(format!("{}: not a migx summary", p.display()));
    }
    Ok(v)
}

fn count(v: &Json, key: &str, part: &Path) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("{}/summary.json: {key} is not a count", part.display()))
}

/// Merge the summaries: sums, maps summed and sorted, `stopped_early` if any stopped.
fn merge_summaries(parts: &[PathBuf], sums: &[Json]) -> Result<Json, String> {
    let Some(first) = sums.first() else {
        return Err("nothing to merge".into());
    };
    for (p, s) in parts.iter().zip(sums).skip(1) {
        for k in SAME {
            if s[k] != first[k] {
                return Err(format!(
                    "{} was made with a different {k} ({} vs {}): merge only runs of one migx, policy, consent source and permitted requesters",
                    p.display(),
                    s[k],
                    first[k]
                ));
            }
        }
    }
    // Shards: one complete set of K-of-N.
    let shards: Vec<(u64, u64)> = sums
        .iter()
        .filter_map(|s| Some((s["shard"]["index"].as_u64()?, s["shard"]["count"].as_u64()?)))
        .collect();
    if !shards.is_empty() {
        let n = shards[0].1;
        if shards.iter().any(|s| s.1 != n) {
            return Err("the shards come from fan-outs of different sizes (N)".into());
        }
        let have: BTreeSet<u64> = shards.iter().map(|s| s.0).collect();
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
    let Some(m) = out.as_object_mut() else {
        return Err("not a migx summary".into());
    };
    m.remove("shard");
    for k in SUMS {
        match &first[k] {
            Json::Object(cats) => {
                let mut merged = Map::new();
                for cat in cats.keys() {
                    let mut total = 0u64;
                    for (p, s) in parts.iter().zip(sums) {
                        total += count(&s[k][cat.as_str()], k, p)?;
                    }
                    merged.insert(cat.clone(), json!(total));
                }
                m.insert(k.into(), Json::Object(merged));
            }
            _ => {
                let mut total = 0u64;
                for (p, s) in parts.iter().zip(sums) {
                    total += count(&s[k], k, p)?;
                }
                m.insert(k.into(), json!(total));
            }
        }
    }
    for k in MAPS {
        let mut merged: BTreeMap<String, u64> = BTreeMap::new();
        for (p, s) in parts.iter().zip(sums) {
            if let Some(obj) = s[k].as_object() {
                for (reason, n) in obj {
                    *merged.entry(reason.clone()).or_insert(0) += count(n, k, p)?;
                }
            }
        }
        m.insert(k.into(), json!(merged));
    }
    let stopped = sums.iter().any(|s| s["stopped_early"] == true);
    m.insert("stopped_early".into(), json!(stopped));
    Ok(out)
}

/// Merge `parts` (shard or run folders) into `out`.
pub fn merge(parts: &[PathBuf], out: &Path) -> Result<Merged, String> {
    let sums: Vec<Json> = parts
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
