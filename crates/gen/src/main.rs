//! `migx-gen`: synthetic GP2GP corpus generator and XML parsing floor for benchmarks.
//!
//! ```text
//! migx-gen --seed S --out DIR --total-mb N [--mix realistic|small|large] [--max-file-mb M]
//! migx-gen floor DIR...
//! ```
//!
//! The generator writes `N` MB (1 MB = 1,000,000 bytes) of well-formed `RCMR_IN030000UK06`
//! extracts (about 10% `RCMR_IN030000UK07` with NOPAT items) plus `DIR/consent.csv`. Output is
//! a pure function of the seed and options: same seed, same bytes. All patients, ids, codes
//! and text are synthetic; the clinical codes are illustrative, chosen to exercise the
//! converter's paths (problems, medication chains, pathology, allergies, sensitive codes,
//! consent/dissent, description ids, Read v2 translations), not to be clinically coherent.
//!
//! `floor` is a bare quick-xml pass (no allocation per event, no model) over every `.xml` file:
//! the lower bound a converter reading the same files can approach.
//!
//! The generator by what it generates: `plan.rs` (the corpus plan), `extract/` (one
//! `EhrExtract`: the writer and each kind of statement), `corpus.rs` (the files and
//! `consent.csv`), with `rng.rs`, `ids.rs`, `time.rs` and `terms.rs` (the code tables) below
//! them; `floor.rs` is the reading floor.

use std::path::PathBuf;
use std::time::Instant;

use crate::corpus::generate;
use crate::floor::floor;
use crate::plan::{Mix, Opts};

mod corpus;
mod extract;
mod floor;
mod ids;
mod plan;
mod rng;
mod terms;
mod time;

#[cfg(test)]
mod tests;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const MB: u64 = 1_000_000;
const SCT: &str = "2.16.840.1.113883.2.1.3.2.4.15";
const READ2: &str = "2.16.840.1.113883.2.1.6.2";
const NHS_OID: &str = "2.16.840.1.113883.2.1.4.1";
const ODS_OID: &str = "1.2.826.0.1285.0.1.10";
const REQUESTER_ODS: &str = "Y02345";
const REQUESTER_NAME: &str = "Riverside Urgent Treatment Centre";

const USAGE: &str = "usage:
  migx-gen --seed S --out DIR --total-mb N [--mix realistic|small|large] [--max-file-mb M]
  migx-gen floor DIR...
(1 MB = 1,000,000 bytes)";

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut seed = None;
    let mut out = None;
    let mut total_mb = None;
    let mut mix = Mix::Realistic;
    let mut max_file_mb = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--seed" => seed = Some(val()?.parse::<u64>().map_err(|e| format!("--seed: {e}"))?),
            "--out" => out = Some(PathBuf::from(val()?)),
            "--total-mb" => {
                total_mb = Some(
                    val()?
                        .parse::<u64>()
                        .map_err(|e| format!("--total-mb: {e}"))?,
                )
            }
            "--mix" => {
                mix = match val()?.as_str() {
                    "realistic" => Mix::Realistic,
                    "small" => Mix::Small,
                    "large" => Mix::Large,
                    other => return Err(format!("--mix: unknown value {other}")),
                }
            }
            "--max-file-mb" => {
                let m = val()?
                    .parse::<f64>()
                    .map_err(|e| format!("--max-file-mb: {e}"))?;
                if m.is_nan() || m <= 0.0 {
                    return Err("--max-file-mb must be > 0".into());
                }
                max_file_mb = Some(m)
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Opts {
        seed: seed.ok_or("--seed is required")?,
        out: out.ok_or("--out is required")?,
        total_mb: total_mb.ok_or("--total-mb is required")?,
        mix,
        max_file_mb,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return;
    }
    let result = if args[0] == "floor" {
        if args.len() < 2 {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
        let dirs: Vec<PathBuf> = args[1..].iter().map(PathBuf::from).collect();
        floor(&dirs)
    } else {
        let o = match parse(&args) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("migx-gen: {e}\n{USAGE}");
                std::process::exit(2);
            }
        };
        let t0 = Instant::now();
        generate(&o).map(|(files, bytes)| {
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "generated: files={files} bytes={bytes} seconds={secs:.3} MB/s={:.1} out={}",
                bytes as f64 / MB as f64 / secs.max(1e-9),
                o.out.display()
            );
        })
    };
    if let Err(e) = result {
        eprintln!("migx-gen: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
