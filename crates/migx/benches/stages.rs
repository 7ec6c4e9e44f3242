//! Per-stage micro-benchmark of the convert hot path, so a regression can be located. Each
//! stage is the library's own stage function, the ones `pipeline::convert_file` chains:
//! parse (`read_input`: read + SHA-256 + quick-xml into the model), admit (`admit`: identity,
//! dissent, judged time, consent), policy (`decide`), map (`map_bundle`), serialise (pretty
//! JSON, as written), validate (`check_bundle`: FHIR R4 schema + migx profile).
//!
//!   cargo bench --bench stages                       # fixtures/extracts
//!   cargo bench --bench stages -- DIR_OR_FILE...     # e.g. a migx-gen corpus
//!
//! One thread; each stage is timed over every input that converts, best of 3 passes;
//! throughput is input MB (10^6 bytes) per second of that stage. Times are the thread's CPU
//! time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on a machine shared with other builds,
//! wall time counts the waits for a core; the wall total is printed beside it.

use migx::consent::{ConsentBook, ConsentDecision};
use migx::pipeline::{
    admit, check_bundle, collect_inputs, map_bundle, read_input, ConvertSettings,
};
use migx::policy::decide::decide;
use migx::policy::Policy;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// This thread's CPU time so far.
fn cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the call only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

const STAGES: [&str; 6] = ["parse", "admit", "policy", "map", "serialise", "validate"];

fn main() {
    let mut args: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    if args.is_empty() {
        args.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/extracts"));
    }
    let policy = Arc::new(Policy::embedded_default().expect("embedded policy"));
    let consent = Arc::new(ConsentBook::all(ConsentDecision::Permit, "Y02345", "TREAT"));
    let mut settings = ConvertSettings::new(policy.clone(), consent);
    settings.allow_test_identities = true;
    settings.run_permitted_requesters = vec!["Y02345".to_string()];
    settings.without_official_refsets = true;
    let inputs: Vec<PathBuf> = collect_inputs(&args)
        .into_iter()
        .map(|f| f.path)
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    let mut best = [Duration::MAX; 6];
    let mut bytes = 0u64;
    let mut files = 0usize;
    let mut out_bytes = 0usize;
    // Pass 0 warms up (schema compilation on first use, the page cache).
    let mut best_wall = Duration::MAX;
    for pass in 0..4 {
        let wall = Instant::now();
        let mut t = [Duration::ZERO; 6];
        bytes = 0;
        files = 0;
        out_bytes = 0;
        for path in &inputs {
            let s = cpu();
            let Ok((ex, hash, size)) = read_input(path, &settings) else {
                continue;
            };
            t[0] += cpu() - s;
            let s = cpu();
            let Ok(admission) = admit(&ex, size, &settings) else {
                continue;
            };
            t[1] += cpu() - s;
            let s = cpu();
            let d = decide(&ex, &policy, admission.as_of);
            t[2] += cpu() - s;
            let s = cpu();
            let bundle = map_bundle(&ex, &d, &admission, &hash, &settings);
            t[3] += cpu() - s;
            let s = cpu();
            let json = serde_json::to_vec_pretty(&bundle).expect("serialise");
            t[4] += cpu() - s;
            let s = cpu();
            let checked = check_bundle(&bundle, &settings);
            t[5] += cpu() - s;
            assert!(checked.is_ok(), "{}: invalid bundle", path.display());
            bytes += size;
            files += 1;
            out_bytes += json.len();
        }
        if pass > 0 {
            best_wall = best_wall.min(wall.elapsed());
            for (b, t) in best.iter_mut().zip(t) {
                *b = (*b).min(t);
            }
        }
    }
    let mb = bytes as f64 / 1e6;
    println!(
        "stages: {files} file(s), {mb:.1} MB in, {:.1} MB of bundles out (best of 3, 1 thread, CPU time; wall {:.3} s)",
        out_bytes as f64 / 1e6,
        best_wall.as_secs_f64()
    );
    let total: f64 = best.iter().map(Duration::as_secs_f64).sum();
    for (name, d) in STAGES.iter().zip(best) {
        let s = d.as_secs_f64();
        println!(
            "  {name:<10} {:>9.3} s  {:>8.1} MB/s  {:>5.1}%",
            s,
            mb / s.max(1e-9),
            100.0 * s / total.max(1e-9)
        );
    }
    println!(
        "  {:<10} {:>9.3} s  {:>8.1} MB/s  (excluding writes)",
        "total",
        total,
        mb / total.max(1e-9)
    );
}
