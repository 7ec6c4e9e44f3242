//! The generator's tests: determinism, valid identifiers, the size plan, well-formed
//! extracts and dates.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use crate::corpus::generate;
use crate::ids::{description_id, gen_nhs};
use crate::plan::{plan, Mix, Opts};
use crate::rng::Rng;
use crate::terms::*;
use crate::time::{epoch_of_day, Day, Ts};
use crate::{MB, SCT};

/// Whether a whole id (check digit last) passes the library's Verhoeff check.
fn verhoeff_ok(s: &str) -> bool {
    s.len() > 1 && migx::codes::snomed::verhoeff_valid(s.as_bytes())
}

fn opts(dir: &Path, seed: u64, total_mb: u64) -> Opts {
    Opts {
        seed,
        out: dir.to_path_buf(),
        total_mb,
        mix: Mix::Realistic,
        max_file_mb: Some(1.0),
    }
}

fn read_dir_sorted(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn same_seed_same_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    generate(&opts(a.path(), 7, 3)).unwrap();
    generate(&opts(b.path(), 7, 3)).unwrap();
    generate(&opts(c.path(), 8, 3)).unwrap();
    let (fa, fb, fc) = (
        read_dir_sorted(a.path()),
        read_dir_sorted(b.path()),
        read_dir_sorted(c.path()),
    );
    assert!(fa.len() > 3);
    assert!(fa.iter().any(|(n, _)| n == "consent.csv"));
    assert!(!fa.iter().any(|(n, _)| n.ends_with(".tmp")));
    assert_eq!(fa, fb);
    assert_ne!(fa, fc);
}

#[test]
fn nhs_numbers_valid_and_distinct() {
    let o = opts(Path::new("/nonexistent"), 1, 60);
    let plans = plan(&o);
    let mut seen = HashSet::new();
    for p in &plans {
        assert!(migx::nhs::is_valid_nhs_number(&p.nhs), "invalid {}", p.nhs);
        assert!(seen.insert(p.nhs.clone()));
    }
    assert!(migx::nhs::is_valid_nhs_number("9434765919"));
    assert!(!migx::nhs::is_valid_nhs_number("9434765918"));
    assert!(!migx::nhs::is_valid_nhs_number("943476591"));
    let mut rng = Rng::new(3);
    for _ in 0..10_000 {
        assert!(migx::nhs::is_valid_nhs_number(&gen_nhs(&mut rng)));
    }
}

#[test]
fn size_plan_hits_total_and_cap() {
    let o = Opts {
        max_file_mb: Some(50.0),
        ..opts(Path::new("/nonexistent"), 5, 500)
    };
    let plans = plan(&o);
    let total: u64 = plans.iter().map(|p| p.target_bytes).sum();
    assert_eq!(total, 500 * MB);
    assert!(plans.iter().all(|p| p.target_bytes <= 50 * MB));
    assert!(plans.iter().any(|p| p.target_bytes >= 20 * MB));
    let uk07 = plans.iter().filter(|p| p.uk07).count() as f64 / plans.len() as f64;
    assert!((0.05..0.15).contains(&uk07), "uk07 share {uk07}");
}

#[test]
fn snomed_ids_pass_verhoeff() {
    assert!(verhoeff_ok("282653015"));
    assert!(verhoeff_ok("150085018"));
    let (body, check) = description_id(1_234_567);
    assert!(verhoeff_ok(&format!("{body}{check}")));
    assert!(format!("{body}{check}").ends_with(&format!("01{check}")));
    assert!(verhoeff_ok("138875005"));
    assert!(!verhoeff_ok("138875006"));
    let mut bad = Vec::new();
    let all = CONDITIONS
        .iter()
        .chain(FINDINGS)
        .chain(SENSITIVE)
        .chain(DRUG_ALLERGIES)
        .chain(OTHER_ALLERGIES)
        .map(|t| t.sct)
        .chain(DRUGS.iter().map(|d| d.sct))
        .chain(LAB_PANELS.iter().map(|p| p.0))
        .chain(LAB_PANELS.iter().flat_map(|p| p.2.iter().map(|l| l.sct)))
        .chain(VITALS.iter().map(|l| l.sct));
    for c in all {
        if !verhoeff_ok(c) {
            bad.push(c);
        }
    }
    assert!(bad.is_empty(), "bad SNOMED ids: {bad:?}");
}

/// Every attribute unescapes; every SNOMED `code` passes the Verhoeff check.
fn check_attrs(e: &quick_xml::events::BytesStart, snomed_codes: &mut usize) {
    let mut code = None;
    let mut system = None;
    for a in e.attributes() {
        let a = a.unwrap();
        let v = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .unwrap()
            .into_owned();
        match a.key.as_ref() {
            "code" => code = Some(v),
            "codeSystem" => system = Some(v),
            _ => {}
        }
    }
    if let (Some(c), Some(SCT)) = (code, system.as_deref()) {
        assert!(verhoeff_ok(&c), "bad SNOMED id {c}");
        *snomed_codes += 1;
    }
}

#[test]
fn files_are_well_formed() {
    use quick_xml::events::Event;
    let dir = tempfile::tempdir().unwrap();
    let o = Opts {
        mix: Mix::Small,
        ..opts(dir.path(), 11, 4)
    };
    let (files, _) = generate(&o).unwrap();
    let plans = plan(&o);
    assert_eq!(files, plans.len());
    let (mut saw_uk07, mut saw_nopat) = (false, false);
    for p in &plans {
        let path = dir.path().join(&p.name);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(&format!("extension=\"{}\"", p.nhs)));
        let has_nopat = text.contains("NOPAT");
        if p.uk07 {
            saw_uk07 = true;
            saw_nopat |= has_nopat;
            assert!(text.contains("<RCMR_IN030000UK07 "));
        } else {
            assert!(!has_nopat);
            assert!(text.contains("<RCMR_IN030000UK06 "));
        }
        let mut r = quick_xml::Reader::from_str(&text);
        let mut depth = 0i64;
        let mut snomed_codes = 0usize;
        loop {
            match r.read_event() {
                Ok(Event::Eof) => break,
                Ok(Event::Start(e)) => {
                    depth += 1;
                    check_attrs(&e, &mut snomed_codes);
                }
                Ok(Event::Empty(e)) => check_attrs(&e, &mut snomed_codes),
                Ok(Event::End(_)) => depth -= 1,
                Ok(_) => {}
                Err(e) => panic!("{}: {e} at {}", p.name, r.buffer_position()),
            }
        }
        assert_eq!(depth, 0, "{}", p.name);
        assert!(snomed_codes > 10);
    }
    assert!(saw_uk07 && saw_nopat, "expected UK07 files with NOPAT");
    let csv = fs::read_to_string(dir.path().join("consent.csv")).unwrap();
    assert!(
        csv.starts_with("nhs_number,decision,recorded_at,requester_ods,requester_name,purpose\n")
    );
    assert_eq!(csv.lines().count(), plans.len() + 1);
}

#[test]
fn dates_roundtrip() {
    assert_eq!(Ts(0).to_string(), "19700101000000");
    assert_eq!(Ts(86_399).to_string(), "19700101235959");
    assert_eq!(Day(epoch_of_day("20240229")).to_string(), "20240229");
    assert_eq!(
        Day(epoch_of_day("20240229") + 86_399).to_string(),
        "20240229"
    );
    assert_eq!(epoch_of_day("20240101"), 1_704_067_200);
}
