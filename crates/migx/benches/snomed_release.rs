//! SNOMED CT index benchmark: writes a synthetic RF2 Snapshot release of realistic size
//! (default 350,000 concepts, ~1.5 million descriptions, 60,000 simple refset rows), then
//! times `SnomedIndex::build`, `write` and `load`, and reports the index file size and memory.
//!
//!     cargo bench --bench snomed_release
//!     MIGX_SCT_CONCEPTS=500000 cargo bench --bench snomed_release
//!     MIGX_SCT_KEEP=/tmp/sct cargo bench --bench snomed_release   # keep the release + index
//!
//! The data is synthetic (invented ids with valid partition and Verhoeff check digits, invented
//! terms); only the RF2 layout, file names and column order are real.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use migx::codes::release::{SnomedIndex, EXCLUSION_REFSETS, FSN_TYPE_ID};
use migx::codes::snomed::verhoeff_valid;

const TAGS: [&str; 8] = [
    "disorder",
    "finding",
    "procedure",
    "observable entity",
    "regime/therapy",
    "situation",
    "substance",
    "body structure",
];

/// `item` + partition `part` + a Verhoeff check digit.
fn sctid(item: u64, part: &str) -> u64 {
    let base = format!("{item}{part}");
    for d in 0..10u8 {
        let mut digits: Vec<u8> = base.clone().into_bytes();
        digits.push(b'0' + d);
        if verhoeff_valid(&digits) {
            return format!("{base}{d}").parse().unwrap_or(0);
        }
    }
    unreachable!("a Verhoeff check digit always exists")
}

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn generate(dir: &Path, n_concepts: u64) -> std::io::Result<(u64, u64, u64)> {
    let root = dir.join("SnomedCT_MIGXBench_PRODUCTION_20250101T120000Z/Snapshot");
    let term = root.join("Terminology");
    let refset = root.join("Refset/Content");
    std::fs::create_dir_all(&term)?;
    std::fs::create_dir_all(&refset)?;
    let mut c = BufWriter::new(std::fs::File::create(
        term.join("sct2_Concept_Snapshot_INT_20250101.txt"),
    )?);
    let mut d = BufWriter::new(std::fs::File::create(
        term.join("sct2_Description_Snapshot-en_INT_20250101.txt"),
    )?);
    let mut r = BufWriter::new(std::fs::File::create(
        refset.join("der2_Refset_SimpleSnapshot_GB1000000_20250101.txt"),
    )?);
    write!(
        c,
        "id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId\r\n"
    )?;
    write!(d, "id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId\r\n")?;
    write!(
        r,
        "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\r\n"
    )?;
    let (mut n_desc, mut n_ref) = (0u64, 0u64);
    let mut desc_item = 1_000_000u64;
    for i in 0..n_concepts {
        let concept = sctid(100_000 + i * 7, "00");
        let active = u8::from(i % 13 != 0);
        write!(
            c,
            "{concept}\t20250101\t{active}\t900000000000207008\t900000000000074008\r\n"
        )?;
        let tag = TAGS[(i % TAGS.len() as u64) as usize];
        // 1 FSN + 2..=6 synonyms: 4.3 descriptions per concept on average.
        let n = 1 + 2 + (i * 2_654_435_761 % 1000) * 33 / 10_000;
        for k in 0..n {
            desc_item += 1;
            let id = sctid(desc_item, "01");
            let (type_id, term) = if k == 0 {
                (
                    FSN_TYPE_ID,
                    format!("Synthetic benchmark concept number {i} ({tag})"),
                )
            } else {
                (
                    900_000_000_000_013_009,
                    format!("Synthetic benchmark synonym {k} of concept {i}"),
                )
            };
            let dactive = u8::from(k % 9 != 8);
            write!(
                d,
                "{id}\t20250101\t{dactive}\t900000000000207008\t{concept}\ten\t{type_id}\t{term}\t900000000000448009\r\n"
            )?;
            n_desc += 1;
        }
        // Simple refsets: ~17% of concepts in some refset, 1 in 200 in an exclusion refset.
        if i % 6 == 0 {
            let refset_id = if i % 200 == 0 {
                EXCLUSION_REFSETS[(i / 200 % 4) as usize]
            } else {
                446_609_009
            };
            writeln!(
                r,
                "00000000-0000-4000-8000-{n_ref:012x}\t20250101\t1\t999000011000000103\t{refset_id}\t{concept}\r"
            )?;
            n_ref += 1;
        }
    }
    c.flush()?;
    d.flush()?;
    r.flush()?;
    Ok((n_concepts, n_desc, n_ref))
}

fn dir_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn main() {
    let n_concepts: u64 = std::env::var("MIGX_SCT_CONCEPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(350_000);
    let tmp = tempfile::tempdir().expect("temp dir");
    let base = std::env::var("MIGX_SCT_KEEP")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    let release = base.join("release");
    let t = Instant::now();
    let (nc, nd, nr) = generate(&release, n_concepts).expect("write release");
    let gen_time = t.elapsed();
    let release_bytes = dir_size(&release);
    println!("SNOMED CT index benchmark");
    println!(
        "release: {nc} concepts, {nd} descriptions, {nr} simple refset rows, {:.1} MB RF2 (written in {:.1} s)",
        release_bytes as f64 / 1e6,
        gen_time.as_secs_f64()
    );

    let rss0 = rss_kb("VmRSS:");
    let t = Instant::now();
    let idx = SnomedIndex::build(&release).expect("build");
    let build = t.elapsed();
    let hwm_build = rss_kb("VmHWM:");
    let index_path = base.join("snomed.migxidx");
    let t = Instant::now();
    idx.write(&index_path).expect("write");
    let write = t.elapsed();
    let size = std::fs::metadata(&index_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "build: {:.2} s (peak RSS {:.0} MB, from {:.0} MB before); write: {:.0} ms; index file: {:.1} MB",
        build.as_secs_f64(),
        hwm_build as f64 / 1024.0,
        rss0 as f64 / 1024.0,
        ms(write),
        size as f64 / 1e6
    );
    let probe: Vec<u64> = {
        let b = idx.to_bytes();
        // Every 7th description id of the built index, to look up after loading.
        let mut v = Vec::new();
        let mut item = 1_000_000u64;
        for _ in 0..(nd.min(1_000_000)) {
            item += 1;
            if item % 7 == 0 {
                v.push(sctid(item, "01"));
            }
        }
        drop(b);
        v
    };
    drop(idx);

    let mut loads = Vec::new();
    let mut rss_delta = 0u64;
    let mut last = None;
    for _ in 0..7 {
        drop(last.take());
        let before = rss_kb("VmRSS:");
        let t = Instant::now();
        let loaded = SnomedIndex::load(&index_path).expect("load");
        loads.push(t.elapsed());
        rss_delta = rss_kb("VmRSS:").saturating_sub(before);
        last = Some(loaded);
    }
    loads.sort();
    let loaded = last.expect("loaded");
    println!(
        "load (7 runs, warm page cache): min {:.1} ms, median {:.1} ms, max {:.1} ms; RSS growth for one loaded index: {:.1} MB",
        ms(loads[0]),
        ms(loads[loads.len() / 2]),
        ms(loads[loads.len() - 1]),
        rss_delta as f64 / 1024.0
    );
    let t = Instant::now();
    let mut found = 0usize;
    for &p in &probe {
        if let Some(c) = loaded.resolve_description(p) {
            if loaded.in_exclusion_refset(c).is_some() || loaded.semantic_tag(c).is_some() {
                found += 1;
            }
        }
    }
    let lookups = t.elapsed();
    println!(
        "lookups: {} description -> concept -> tag/refset in {:.1} ms ({:.0} ns each; {found} found)",
        probe.len(),
        ms(lookups),
        lookups.as_nanos() as f64 / probe.len().max(1) as f64
    );
}
