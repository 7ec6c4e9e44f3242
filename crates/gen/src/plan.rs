//! The corpus plan: how many extracts, of which sizes, for which patients and practices,
//! each with its own seed; a pure function of the options.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::ids::gen_nhs;
use crate::rng::Rng;
use crate::time::epoch_of_day;
use crate::MB;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mix {
    Realistic,
    Small,
    Large,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ConsentCode {
    None,
    Given,
    Dissent,
}

#[derive(Clone, Debug)]
pub(crate) struct FilePlan {
    pub(crate) name: String,
    pub(crate) target_bytes: u64,
    pub(crate) nhs: String,
    pub(crate) ods: String,
    pub(crate) uk07: bool,
    pub(crate) creation: i64,
    pub(crate) permit: bool,
    pub(crate) consent_code: ConsentCode,
    pub(crate) seed: u64,
}

pub(crate) struct Opts {
    pub(crate) seed: u64,
    pub(crate) out: PathBuf,
    pub(crate) total_mb: u64,
    pub(crate) mix: Mix,
    pub(crate) max_file_mb: Option<f64>,
}

pub(crate) fn plan(o: &Opts) -> Vec<FilePlan> {
    let mut rng = Rng::new(o.seed);
    let total = o.total_mb * MB;
    let cap = o
        .max_file_mb
        .map(|m| ((m * MB as f64) as u64).max(20_000))
        .unwrap_or(u64::MAX);
    let mut sizes: Vec<u64> = Vec::new();
    let mut left = total;
    // A few big extracts (20 to 200 MB) when the total allows: at most 40% of the budget.
    if o.mix == Mix::Realistic && total >= 100 * MB {
        let mut big_budget = total * 2 / 5;
        let n_big = (o.total_mb / 100).clamp(1, 6);
        for _ in 0..n_big {
            let hi = (200 * MB).min(total / 5).min(big_budget);
            if hi < 20 * MB {
                break;
            }
            let s = rng.range(20 * MB, hi).min(cap);
            big_budget -= s;
            left -= s;
            sizes.push(s);
        }
    }
    while left > 0 {
        let s = match o.mix {
            Mix::Realistic => {
                // Log-uniform 50 KB to 1.5 MB for most, a tail up to 8 MB.
                if rng.permille(40) {
                    (1.5e6 * (8.0f64 / 1.5).powf(rng.f64())) as u64
                } else {
                    (5e4 * 30f64.powf(rng.f64())) as u64
                }
            }
            Mix::Small => (2e4 * 15f64.powf(rng.f64())) as u64,
            Mix::Large => rng.range(20 * MB, 200 * MB),
        };
        let s = s.min(cap).min(left).max(20_000.min(left));
        sizes.push(s);
        left -= s;
    }
    // Shuffle so big files are not all first (Fisher-Yates).
    for i in (1..sizes.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        sizes.swap(i, j);
    }
    let practices: Vec<String> = (0..40)
        .map(|_| {
            let l = b"ABCDEFGHJKLMNPY"[rng.below(15) as usize] as char;
            format!("{l}{:05}", rng.range(81001, 89999))
        })
        .collect();
    let year2024 = epoch_of_day("20240101");
    let mut seen = HashSet::new();
    sizes
        .into_iter()
        .enumerate()
        .map(|(index, target_bytes)| {
            let nhs = loop {
                let n = gen_nhs(&mut rng);
                if seen.insert(n.clone()) {
                    break n;
                }
            };
            let uk07 = rng.permille(100);
            let consent_code = match rng.below(100) {
                0..=2 => ConsentCode::Dissent,
                3..=79 => ConsentCode::Given,
                _ => ConsentCode::None,
            };
            FilePlan {
                name: format!("extract-{index:05}.xml"),
                target_bytes,
                nhs,
                ods: rng.pick(&practices).clone(),
                uk07,
                creation: year2024 + rng.below(366 * 86_400) as i64,
                permit: !rng.permille(50),
                consent_code,
                seed: rng.next(),
            }
        })
        .collect()
}
