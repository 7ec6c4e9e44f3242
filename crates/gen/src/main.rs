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

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use migx::codes::snomed::verhoeff_check_digit as verhoeff_digit;
use rayon::prelude::*;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const MB: u64 = 1_000_000;
const SCT: &str = "2.16.840.1.113883.2.1.3.2.4.15";
const READ2: &str = "2.16.840.1.113883.2.1.6.2";
const NHS_OID: &str = "2.16.840.1.113883.2.1.4.1";
const ODS_OID: &str = "1.2.826.0.1285.0.1.10";
const REQUESTER_ODS: &str = "Y02345";
const REQUESTER_NAME: &str = "Riverside Urgent Treatment Centre";

// ---------------------------------------------------------------------------------------------
// PRNG: splitmix64. Tiny, fast, and stable across platforms and versions (determinism).

#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut r = Rng(seed ^ 0x6A09_E667_F3BC_C908);
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0); multiply-shift, bias negligible for our n.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    fn range(&mut self, lo: u64, hi_incl: u64) -> u64 {
        lo + self.below(hi_incl - lo + 1)
    }
    /// True with probability `pct` per mille (0..=1000).
    fn permille(&mut self, pm: u64) -> bool {
        self.below(1000) < pm
    }
    fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    /// Index by weights.
    fn weighted(&mut self, ws: &[u32]) -> usize {
        let total: u32 = ws.iter().sum();
        let mut x = self.below(total as u64) as u32;
        for (i, &w) in ws.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        ws.len() - 1
    }
    /// A version-4 style UUID, uppercase like most GP systems write them.
    fn uuid(&mut self) -> Id {
        let hi = (self.next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        let lo = (self.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = [b'-'; 36];
        let bytes = ((hi as u128) << 64) | lo as u128;
        let mut nib = 0;
        for (i, slot) in out.iter_mut().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                continue;
            }
            *slot = HEX[((bytes >> (124 - 4 * nib)) & 0xF) as usize];
            nib += 1;
        }
        Id(out)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Id([u8; 36]);

impl Id {
    fn as_str(&self) -> &str {
        // Only ASCII hex digits and dashes are ever written into an Id.
        std::str::from_utf8(&self.0).unwrap_or("00000000-0000-4000-8000-000000000000")
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Identifiers with check digits.

/// A valid NHS number in the 9xx test range.
fn gen_nhs(rng: &mut Rng) -> String {
    loop {
        let mut nine = [0u8; 9];
        nine[0] = 9;
        for d in nine.iter_mut().skip(1) {
            *d = rng.below(10) as u8;
        }
        if let Some(c) = migx::nhs::check_digit(&nine) {
            let mut s = String::with_capacity(10);
            for d in nine.iter().chain(std::iter::once(&c)) {
                s.push((b'0' + d) as char);
            }
            return s;
        }
    }
}

/// Whether a whole id (check digit last) passes the library's Verhoeff check.
#[cfg(test)]
fn verhoeff_ok(s: &str) -> bool {
    s.len() > 1 && migx::codes::snomed::verhoeff_valid(s.as_bytes())
}

/// A synthetic SNOMED CT description id (partition `01`, Verhoeff check digit) for an item,
/// as (id without check digit, check digit).
fn description_id(item: u64) -> (u64, u8) {
    let body = item * 100 + 1;
    (body, verhoeff_digit(body))
}

// ---------------------------------------------------------------------------------------------
// Code tables: illustrative (SNOMED concept, term, Read v2). Every SNOMED id passes the Verhoeff
// check (tested), but not every id is verified to be the named concept: synthetic data only.

struct Term {
    sct: &'static str,
    term: &'static str,
    read: &'static str,
}

const fn t(sct: &'static str, term: &'static str, read: &'static str) -> Term {
    Term { sct, term, read }
}

const CONDITIONS: &[Term] = &[
    t("38341003", "Hypertensive disorder", "G20..00"),
    t("44054006", "Type 2 diabetes mellitus", "C10F.00"),
    t("195967001", "Asthma", "H33..00"),
    t("13645005", "Chronic obstructive lung disease", "H3...00"),
    t("35489007", "Depressive disorder", "E2B..00"),
    t("197480006", "Anxiety disorder", "E200.00"),
    t("90560007", "Gout", "C34..00"),
    t("69896004", "Rheumatoid arthritis", "N040.00"),
    t("396275006", "Osteoarthritis", "N05..00"),
    t("22298006", "Myocardial infarction", "G30..00"),
    t("49436004", "Atrial fibrillation", "G573000"),
    t("230690007", "Cerebrovascular accident", "G66..00"),
    t("40930008", "Hypothyroidism", "C04..00"),
    t("84114007", "Heart failure", "G58..00"),
    t("271737000", "Anaemia", "D00..00"),
    t("37796009", "Migraine", "F26..00"),
    t("235595009", "Gastro-oesophageal reflux disease", "J101.00"),
    t("414916001", "Obesity", "C380.00"),
    t("68566005", "Urinary tract infection", "K190.00"),
    t("65363002", "Otitis media", "F52..00"),
];

const FINDINGS: &[Term] = &[
    t("29857009", "Chest pain", "182..00"),
    t("25064002", "Headache", "1B1G.00"),
    t("49727002", "Cough", "171..00"),
    t("386661006", "Fever", "1653.00"),
    t("267036007", "Dyspnoea", "173..00"),
    t("21522001", "Abdominal pain", "1969.00"),
    t("161891005", "Backache", "16C..00"),
    t("271807003", "Eruption of skin", "M2y..00"),
    t("422587007", "Nausea", "1971.00"),
    t("84229001", "Fatigue", "1683.00"),
    t("185317003", "Telephone encounter", "9N31.00"),
    t("390906007", "Follow-up encounter", "8H8..00"),
];

/// Codes the policy must never share (STI, termination of pregnancy).
const SENSITIVE: &[Term] = &[
    t("76272004", "Syphilis", "A94..00"),
    t("15628003", "Gonorrhoea", "A98..00"),
    t("57797005", "Termination of pregnancy", "7E07.00"),
];

struct Lab {
    sct: &'static str,
    term: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
}

const fn lab(
    sct: &'static str,
    term: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
) -> Lab {
    Lab {
        sct,
        term,
        unit,
        low,
        high,
    }
}

const LAB_PANELS: &[(&str, &str, &[Lab])] = &[
    (
        "26604007",
        "Full blood count",
        &[
            lab(
                "1022431000000105",
                "Haemoglobin estimation",
                "g/L",
                115.0,
                165.0,
            ),
            lab(
                "1022541000000102",
                "Total white cell count",
                "10*9/L",
                4.0,
                11.0,
            ),
            lab("1022651000000100", "Platelet count", "10*9/L", 150.0, 400.0),
            lab("1022291000000105", "Haematocrit", "L/L", 0.37, 0.47),
            lab("1022491000000106", "Mean cell volume", "fL", 80.0, 100.0),
            lab("1022551000000104", "Neutrophil count", "10*9/L", 2.0, 7.5),
            lab("1022581000000105", "Lymphocyte count", "10*9/L", 1.0, 4.0),
        ],
    ),
    (
        "26958001",
        "Urea and electrolytes",
        &[
            lab(
                "1000661000000107",
                "Serum sodium level",
                "mmol/L",
                133.0,
                146.0,
            ),
            lab(
                "1000651000000109",
                "Serum potassium level",
                "mmol/L",
                3.5,
                5.3,
            ),
            lab(
                "1000731000000107",
                "Serum creatinine level",
                "umol/L",
                60.0,
                120.0,
            ),
            lab("1000981000000109", "Serum urea level", "mmol/L", 2.5, 7.8),
            lab(
                "1011481000000105",
                "eGFR using creatinine",
                "mL/min/{1.73_m2}",
                60.0,
                120.0,
            ),
        ],
    ),
    (
        "166312007",
        "Blood lipids",
        &[
            lab(
                "1005671000000105",
                "Serum cholesterol level",
                "mmol/L",
                0.0,
                5.0,
            ),
            lab(
                "1005681000000107",
                "Serum triglycerides level",
                "mmol/L",
                0.0,
                1.7,
            ),
            lab(
                "1005691000000109",
                "Serum HDL cholesterol level",
                "mmol/L",
                1.0,
                2.2,
            ),
        ],
    ),
    (
        "26958001",
        "Liver function tests",
        &[
            lab(
                "1018251000000107",
                "Serum alanine aminotransferase level",
                "U/L",
                0.0,
                45.0,
            ),
            lab(
                "1000621000000104",
                "Serum alkaline phosphatase level",
                "U/L",
                30.0,
                130.0,
            ),
            lab(
                "1000611000000105",
                "Serum bilirubin level",
                "umol/L",
                0.0,
                21.0,
            ),
            lab("1000591000000102", "Serum albumin level", "g/L", 35.0, 50.0),
        ],
    ),
    (
        "43396009",
        "Haemoglobin A1c",
        &[lab(
            "1003671000000109",
            "Haemoglobin A1c level",
            "mmol/mol",
            20.0,
            42.0,
        )],
    ),
    (
        "61167004",
        "Thyroid function test",
        &[
            lab("1027151000000105", "Serum TSH level", "mU/L", 0.27, 4.2),
            lab(
                "1016971000000106",
                "Serum free T4 level",
                "pmol/L",
                12.0,
                22.0,
            ),
        ],
    ),
];

const VITALS: &[Lab] = &[
    lab("27113001", "Body weight", "kg", 50.0, 100.0),
    lab("50373000", "Body height", "m", 1.5, 1.95),
    lab("60621009", "Body mass index", "kg/m2", 18.5, 25.0),
    lab("78564009", "Pulse rate", "/min", 60.0, 100.0),
    lab("386725007", "Body temperature", "Cel", 36.1, 37.2),
];

struct Drug {
    sct: &'static str,
    term: &'static str,
    form: &'static str,
    dose: &'static str,
}

const fn drug(
    sct: &'static str,
    term: &'static str,
    form: &'static str,
    dose: &'static str,
) -> Drug {
    Drug {
        sct,
        term,
        form,
        dose,
    }
}

const DRUGS: &[Drug] = &[
    drug(
        "330062008",
        "Allopurinol 300mg tablets",
        "tablet",
        "One To Be Taken Each Day After Food",
    ),
    drug(
        "319773006",
        "Aspirin 75mg dispersible tablets",
        "tablet",
        "One To Be Taken Each Day",
    ),
    drug(
        "320000009",
        "Simvastatin 40mg tablets",
        "tablet",
        "One To Be Taken At Night",
    ),
    drug(
        "325278007",
        "Metformin 500mg tablets",
        "tablet",
        "One To Be Taken Twice A Day",
    ),
    drug(
        "318135008",
        "Ramipril 5mg capsules",
        "capsule",
        "One To Be Taken Each Day",
    ),
    drug(
        "319283006",
        "Amlodipine 5mg tablets",
        "tablet",
        "One To Be Taken Each Day",
    ),
    drug(
        "317335000",
        "Omeprazole 20mg gastro-resistant capsules",
        "capsule",
        "One To Be Taken Each Morning",
    ),
    drug(
        "321208002",
        "Sertraline 50mg tablets",
        "tablet",
        "One To Be Taken Each Day",
    ),
    drug(
        "322236009",
        "Paracetamol 500mg tablets",
        "tablet",
        "Two To Be Taken Four Times A Day When Required",
    ),
    drug(
        "323509004",
        "Amoxicillin 500mg capsules",
        "capsule",
        "One To Be Taken Three Times A Day",
    ),
    drug(
        "320880006",
        "Salbutamol 100micrograms/dose inhaler",
        "inhaler",
        "Two Puffs When Required",
    ),
    drug(
        "376856000",
        "Levothyroxine sodium 50microgram tablets",
        "tablet",
        "One To Be Taken Each Morning",
    ),
    drug(
        "318420003",
        "Bisoprolol 2.5mg tablets",
        "tablet",
        "One To Be Taken Each Day",
    ),
    drug(
        "317972000",
        "Furosemide 40mg tablets",
        "tablet",
        "One To Be Taken Each Morning",
    ),
    drug(
        "408155001",
        "Atorvastatin 20mg tablets",
        "tablet",
        "One To Be Taken Each Day",
    ),
];

const DRUG_ALLERGIES: &[Term] = &[
    t("294505008", "Allergy to amoxicillin", "TJ003.00"),
    t("294532003", "Allergy to penicillin", "TJ00.00"),
    t("293586001", "Allergy to aspirin", "TJ53.00"),
    t("294467001", "Allergy to codeine", "TJ51.00"),
];

const OTHER_ALLERGIES: &[Term] = &[
    t("91935009", "Allergy to peanut", "SN53.00"),
    t("300913006", "Shellfish allergy", "SN53.00"),
    t("300916003", "Latex allergy", "SN53.00"),
    t("232347008", "Dander allergy", "SN53.00"),
];

const COMPOSITION_CODES: &[(&str, &str)] = &[
    ("24591000000103", "Other report"),
    ("325851000000107", "Surgery consultation note"),
    ("185317003", "Telephone encounter"),
    ("185349003", "Encounter for check up"),
];

const WORDS: &[&str] = &[
    "patient",
    "reports",
    "feeling",
    "better",
    "worse",
    "since",
    "last",
    "review",
    "advised",
    "rest",
    "fluids",
    "return",
    "if",
    "symptoms",
    "persist",
    "no",
    "red",
    "flags",
    "examined",
    "chest",
    "clear",
    "abdomen",
    "soft",
    "non-tender",
    "discussed",
    "options",
    "plan",
    "agreed",
    "follow",
    "up",
    "in",
    "two",
    "weeks",
    "bloods",
    "requested",
    "mild",
    "moderate",
    "pain",
    "sleep",
    "appetite",
    "normal",
    "denies",
    "fever",
    "cough",
    "ENT &amp; audiology",
    "BP",
    "&lt;140/90",
    "target",
    "met",
    "lifestyle",
    "advice",
    "given",
    "smoking",
    "cessation",
];

// ---------------------------------------------------------------------------------------------
// Dates (seconds since 1970-01-01, civil calendar, no leap seconds).

/// Seconds since 1970-01-01 UTC at midnight starting `yyyymmdd` (the library's HL7 reader).
fn epoch_of_day(yyyymmdd: &str) -> i64 {
    migx::ehr::ts::Ts::parse(yyyymmdd).map_or(0, |t| t.local.and_utc().timestamp())
}

/// HL7 TS `yyyyMMddHHmmss` of an instant (seconds since the epoch), written by the library's
/// timestamp type.
struct Ts(i64);
/// HL7 TS, date only `yyyyMMdd`.
struct Day(i64);

fn hl7(secs: i64, precision: migx::ehr::ts::Precision) -> String {
    migx::ehr::ts::Ts::from_epoch_secs(secs, precision).map_or_else(String::new, |t| t.hl7())
}

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hl7(self.0, migx::ehr::ts::Precision::Second))
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hl7(self.0, migx::ehr::ts::Precision::Day))
    }
}

// ---------------------------------------------------------------------------------------------
// Corpus plan.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mix {
    Realistic,
    Small,
    Large,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ConsentCode {
    None,
    Given,
    Dissent,
}

#[derive(Clone, Debug)]
struct FilePlan {
    name: String,
    target_bytes: u64,
    nhs: String,
    ods: String,
    uk07: bool,
    creation: i64,
    permit: bool,
    consent_code: ConsentCode,
    seed: u64,
}

struct Opts {
    seed: u64,
    out: PathBuf,
    total_mb: u64,
    mix: Mix,
    max_file_mb: Option<f64>,
}

fn plan(o: &Opts) -> Vec<FilePlan> {
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

// ---------------------------------------------------------------------------------------------
// Writer.

struct Counting<W: Write> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.n += buf.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct Auth {
    id: Id,
    drug: usize,
    issues_left: u32,
    quantity: u32,
}

struct Gen<W: Write> {
    w: Counting<W>,
    rng: Rng,
    p: FilePlan,
    now: i64,
    step: i64,
    agents: [Id; 4],
    recent_obs: Vec<Id>,
    auths: Vec<Auth>,
    compositions: u64,
}

/// Average composition size, used to spread the timeline over the file.
const AVG_COMPOSITION_BYTES: u64 = 4_500;

const NOPAT: &str = "<confidentialityCode code=\"NOPAT\" codeSystem=\"2.16.840.1.113883.4.642.3.47\" displayName=\"no disclosure to patient, family or caregivers without attending provider's authorization\"/>\n";

impl<W: Write> Gen<W> {
    fn new(inner: W, p: FilePlan) -> Self {
        let mut rng = Rng::new(p.seed);
        let agents = [rng.uuid(), rng.uuid(), rng.uuid(), rng.uuid()];
        let span_days = rng.range(5 * 365, 40 * 365) as i64;
        let start = p.creation - span_days * 86_400;
        let n_comp = (p.target_bytes / AVG_COMPOSITION_BYTES).max(4) as i64;
        Gen {
            w: Counting { inner, n: 0 },
            rng,
            now: start,
            step: ((p.creation - start) / n_comp).max(60),
            p,
            agents,
            recent_obs: Vec::new(),
            auths: Vec::new(),
            compositions: 0,
        }
    }

    fn agent(&mut self) -> Id {
        let i = 1 + self.rng.below(3) as usize;
        self.agents[i]
    }

    fn nopat(&mut self, pm: u64) -> io::Result<()> {
        if self.p.uk07 && self.rng.permille(pm) {
            self.w.write_all(NOPAT.as_bytes())?;
        }
        Ok(())
    }

    fn words(&mut self, n: u64) -> io::Result<()> {
        for i in 0..n {
            if i > 0 {
                self.w.write_all(b" ")?;
            }
            let word = *self.rng.pick(WORDS);
            self.w.write_all(word.as_bytes())?;
        }
        Ok(())
    }

    fn participant(&mut self, type_code: &str, agent: Id) -> io::Result<()> {
        write!(
            self.w,
            "<Participant typeCode=\"{type_code}\" contextControlCode=\"OP\">\n<agentRef classCode=\"AGNT\">\n<id root=\"{agent}\"/>\n</agentRef>\n</Participant>\n"
        )
    }

    /// `<code>` for a clinical term: SNOMED concept (or, EMIS-style, a description id) with a
    /// Read v2 translation, or Read v2 with a SNOMED translation.
    /// Consent/dissent records never use description ids (a converter must always see them).
    fn code(&mut self, term: &Term, allow_desc_id: bool) -> io::Result<()> {
        let Term { sct, term, read } = *term;
        let variant = match self.rng.below(10) {
            6..=7 if !allow_desc_id => 0,
            v => v,
        };
        match variant {
            0..=5 => write!(
                self.w,
                "<code code=\"{sct}\" codeSystem=\"{SCT}\" displayName=\"{term}\">\n<translation code=\"{read}\" codeSystem=\"{READ2}\" displayName=\"{term}\"/>\n</code>\n"
            ),
            6..=7 => {
                let item: u64 = sct.parse().unwrap_or(1) % 100_000_000 + 1_000_000;
                let (desc, check) = description_id(item);
                write!(
                    self.w,
                    "<code code=\"{desc}{check}\" codeSystem=\"{SCT}\" displayName=\"{term}\">\n<originalText>{term}</originalText>\n</code>\n"
                )
            }
            _ => write!(
                self.w,
                "<code code=\"{read}\" codeSystem=\"{READ2}\" displayName=\"{term}\">\n<translation code=\"{sct}\" codeSystem=\"{SCT}\" displayName=\"{term}\"/>\n</code>\n"
            ),
        }
    }

    fn remember_obs(&mut self, id: Id) {
        if self.recent_obs.len() >= 64 {
            let i = self.rng.below(64) as usize;
            self.recent_obs[i] = id;
        } else {
            self.recent_obs.push(id);
        }
    }

    /// A plain ObservationStatement with an optional PQ value and reference range.
    fn observation(&mut self, term: &Term, value: Option<&Lab>, annotate: bool) -> io::Result<Id> {
        self.observation_with(term, value, annotate, true)
    }

    fn observation_with(
        &mut self,
        term: &Term,
        value: Option<&Lab>,
        annotate: bool,
        allow_desc_id: bool,
    ) -> io::Result<Id> {
        let id = self.rng.uuid();
        let now = self.now;
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<ObservationStatement classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n"
        )?;
        self.code(term, allow_desc_id)?;
        write!(
            self.w,
            "<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
            Ts(now),
            Ts(now)
        )?;
        if let Some(l) = value {
            self.pq(l)?;
        }
        if annotate {
            self.w.write_all(b"<pertinentInformation typeCode=\"PERT\">\n<sequenceNumber value=\"+1\"/>\n<pertinentAnnotation classCode=\"OBS\" moodCode=\"EVN\">\n<text>")?;
            let n = self.rng.range(4, 30);
            self.words(n)?;
            self.w
                .write_all(b"</text>\n</pertinentAnnotation>\n</pertinentInformation>\n")?;
        }
        let a = self.agent();
        self.participant("PRF", a)?;
        self.nopat(40)?;
        self.w
            .write_all(b"</ObservationStatement>\n</component>\n")?;
        self.remember_obs(id);
        Ok(id)
    }

    /// PQ value, reference range, interpretation when out of range.
    fn pq(&mut self, l: &Lab) -> io::Result<()> {
        let span = (l.high - l.low).max(0.1);
        let v = l.low - 0.15 * span + self.rng.f64() * 1.3 * span;
        let v = if v < 0.0 { 0.0 } else { v };
        let Lab {
            unit, low, high, ..
        } = *l;
        if v > high {
            self.w.write_all(b"<interpretationCode code=\"HI\" codeSystem=\"2.16.840.1.113883.2.1.6.5\" displayName=\"Above high reference limit\"/>\n")?;
        } else if v < low {
            self.w.write_all(b"<interpretationCode code=\"LO\" codeSystem=\"2.16.840.1.113883.2.1.6.5\" displayName=\"Below low reference limit\"/>\n")?;
        }
        write!(
            self.w,
            "<value xsi:type=\"PQ\" value=\"{v:.3}\" unit=\"1\"><translation value=\"{v:.3}\"><originalText>{unit}</originalText></translation></value>\n<referenceRange typeCode=\"REFV\">\n<referenceInterpretationRange classCode=\"OBS\" moodCode=\"EVN.CRT\">\n<value><low value=\"{low:.3}\"/><high value=\"{high:.3}\"/></value>\n</referenceInterpretationRange>\n</referenceRange>\n"
        )
    }

    fn narrative(&mut self, words: u64) -> io::Result<()> {
        let id = self.rng.uuid();
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<NarrativeStatement classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n<text>"
        )?;
        self.words(words)?;
        write!(
            self.w,
            "</text>\n<statusCode code=\"COMPLETE\"/>\n<availabilityTime value=\"{}\"/>\n",
            Ts(self.now)
        )?;
        let a = self.agent();
        self.participant("PRF", a)?;
        self.nopat(30)?;
        self.w.write_all(b"</NarrativeStatement>\n</component>\n")
    }

    fn composition(&mut self) -> io::Result<()> {
        let jitter = self.rng.range(1, 2 * self.step as u64) as i64;
        self.now = (self.now + jitter).min(self.p.creation - 3600);
        self.compositions += 1;
        // Kinds: consult, vitals, pathology, problem, allergy, authorise, issue, narrative, plan/referral
        let kind = self.rng.weighted(&[28, 12, 9, 6, 2, 6, 30, 5, 2]);
        let (ccode, cterm) = match kind {
            5 | 6 => ("196391000000103", "Non-consultation medication data"),
            2 => ("196401000000100", "Non-consultation data"),
            _ => *self.rng.pick(COMPOSITION_CODES),
        };
        let id = self.rng.uuid();
        let author = self.agent();
        let now = self.now;
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<ehrComposition classCode=\"COMPOSITION\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n<code code=\"{ccode}\" codeSystem=\"{SCT}\" displayName=\"{cterm}\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n<author typeCode=\"AUT\" contextControlCode=\"OP\">\n<time value=\"{}\"/>\n<agentRef classCode=\"AGNT\">\n<id root=\"{author}\"/>\n</agentRef>\n</author>\n<location typeCode=\"LOC\">\n<locatedEntity classCode=\"LOCE\">\n<code code=\"394730007\" codeSystem=\"{SCT}\" displayName=\"Healthcare related organisation\"/>\n<locatedPlace classCode=\"PLC\" determinerCode=\"INSTANCE\">\n<name>Main Surgery</name>\n</locatedPlace>\n</locatedEntity>\n</location>\n<Participant2 typeCode=\"PRF\" contextControlCode=\"OP\">\n<agentRef classCode=\"AGNT\">\n<id root=\"{author}\"/>\n</agentRef>\n</Participant2>\n",
            Ts(now),
            Ts(now),
            Ts(now + 300)
        )?;
        self.nopat(20)?;
        if self.compositions == 3 {
            self.consent_record()?;
        }
        match kind {
            0 => self.consultation()?,
            1 => self.vitals()?,
            2 => self.pathology()?,
            3 => self.problem()?,
            4 => self.allergy()?,
            5 => self.authorise()?,
            6 => self.issues()?,
            7 => {
                let n = self.rng.range(10, 120);
                self.narrative(n)?
            }
            _ => self.plan_or_request()?,
        }
        self.w.write_all(b"</ehrComposition>\n</component>\n")
    }

    fn consent_record(&mut self) -> io::Result<()> {
        let t = match self.p.consent_code {
            ConsentCode::None => return Ok(()),
            ConsentCode::Given => t(
                "417528008",
                "Consent given for upload to local shared electronic record",
                "93C0.00",
            ),
            ConsentCode::Dissent => t(
                "416409005",
                "Refused consent for upload to local shared electronic record",
                "93C1.00",
            ),
        };
        self.observation_with(&t, None, false, false).map(|_| ())
    }

    fn consultation(&mut self) -> io::Result<()> {
        let n = self.rng.range(1, 4);
        for _ in 0..n {
            let sensitive = self.rng.permille(15);
            let term = if sensitive {
                self.rng.pick(SENSITIVE)
            } else if self.rng.permille(300) {
                self.rng.pick(CONDITIONS)
            } else {
                self.rng.pick(FINDINGS)
            };
            let annotate = self.rng.permille(500);
            self.observation(term, None, annotate)?;
        }
        if self.rng.permille(300) {
            let v = self.rng.pick(VITALS);
            let term = Term {
                sct: v.sct,
                term: v.term,
                read: "22A..00",
            };
            self.observation(&term, Some(v), false)?;
        }
        if self.rng.permille(600) {
            let n = self.rng.range(5, 60);
            self.narrative(n)?;
        }
        if self.rng.permille(150) {
            self.plan_or_request()?;
        }
        Ok(())
    }

    fn vitals(&mut self) -> io::Result<()> {
        let id = self.rng.uuid();
        let now = self.now;
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<CompoundStatement classCode=\"BATTERY\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n<code code=\"163020007\" codeSystem=\"{SCT}\" displayName=\"O/E - blood pressure reading\">\n<translation code=\"246..00\" codeSystem=\"{READ2}\" displayName=\"O/E - blood pressure reading\"/>\n</code>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
            Ts(now),
            Ts(now)
        )?;
        let sys = lab(
            "72313002",
            "Systolic arterial pressure",
            "mm[Hg]",
            100.0,
            140.0,
        );
        let dia = lab(
            "1091811000000102",
            "Diastolic arterial pressure",
            "mm[Hg]",
            60.0,
            90.0,
        );
        for (l, read) in [(&sys, "2469.00"), (&dia, "246A.00")] {
            let oid = self.rng.uuid();
            write!(
                self.w,
                "<component typeCode=\"COMP\" contextConductionInd=\"true\">\n<ObservationStatement classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{oid}\"/>\n<code code=\"{}\" codeSystem=\"{SCT}\" displayName=\"{}\">\n<translation code=\"{read}\" codeSystem=\"{READ2}\" displayName=\"{}\"/>\n</code>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
                l.sct,
                l.term,
                l.term,
                Ts(now),
                Ts(now)
            )?;
            self.pq(l)?;
            self.w
                .write_all(b"</ObservationStatement>\n</component>\n")?;
        }
        let a = self.agent();
        self.participant("PRF", a)?;
        self.nopat(30)?;
        self.w.write_all(b"</CompoundStatement>\n</component>\n")?;
        if self.rng.permille(500) {
            let v = self.rng.pick(&VITALS[..3]);
            let term = Term {
                sct: v.sct,
                term: v.term,
                read: "22K..00",
            };
            self.observation(&term, Some(v), false)?;
        }
        Ok(())
    }

    fn pathology(&mut self) -> io::Result<()> {
        let now = self.now;
        let (report, specimen, spec_role) = (self.rng.uuid(), self.rng.uuid(), self.rng.uuid());
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<CompoundStatement classCode=\"CLUSTER\" moodCode=\"EVN\">\n<id root=\"{report}\"/>\n<code code=\"16488004\" codeSystem=\"{SCT}\" displayName=\"laboratory reporting\">\n<originalText>Filed Report</originalText>\n</code>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
            Ts(now),
            Ts(now)
        )?;
        if self.rng.permille(500) {
            self.narrative(12)?;
        }
        write!(
            self.w,
            "<component typeCode=\"COMP\" contextConductionInd=\"true\">\n<CompoundStatement classCode=\"CLUSTER\" moodCode=\"EVN\">\n<id root=\"{specimen}\"/>\n<code code=\"123038009\" codeSystem=\"{SCT}\" displayName=\"specimen (specimen)\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n<specimen typeCode=\"SPC\">\n<specimenRole classCode=\"SPEC\">\n<id root=\"{spec_role}\"/>\n<id root=\"2.16.840.1.113883.2.1.4.5.2\" extension=\"LAB{:08}\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<specimenSpecimenMaterial determinerCode=\"INSTANCE\" classCode=\"MAT\">\n<desc>VENOUS BLOOD</desc>\n</specimenSpecimenMaterial>\n</specimenRole>\n</specimen>\n",
            Ts(now),
            Ts(now),
            self.rng.below(100_000_000),
            Ts(now - 86_400)
        )?;
        let n_panels = self.rng.range(1, 3);
        for _ in 0..n_panels {
            let (pcode, pterm, tests) = *self.rng.pick(LAB_PANELS);
            let bid = self.rng.uuid();
            write!(
                self.w,
                "<component typeCode=\"COMP\" contextConductionInd=\"true\">\n<CompoundStatement classCode=\"BATTERY\" moodCode=\"EVN\">\n<id root=\"{bid}\"/>\n<code code=\"{pcode}\" codeSystem=\"{SCT}\" displayName=\"{pterm}\">\n<originalText>{pterm}</originalText>\n</code>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
                Ts(now),
                Ts(now)
            )?;
            for l in tests {
                let oid = self.rng.uuid();
                write!(
                    self.w,
                    "<component typeCode=\"COMP\" contextConductionInd=\"true\">\n<ObservationStatement classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{oid}\"/>\n<code code=\"{}\" codeSystem=\"{SCT}\" displayName=\"{}\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
                    l.sct,
                    l.term,
                    Ts(now),
                    Ts(now)
                )?;
                self.pq(l)?;
                self.w
                    .write_all(b"</ObservationStatement>\n</component>\n")?;
            }
            if self.rng.permille(300) {
                self.narrative(15)?;
            }
            self.w.write_all(b"</CompoundStatement>\n</component>\n")?;
        }
        self.w.write_all(b"</CompoundStatement>\n</component>\n")?;
        self.nopat(20)?;
        self.w.write_all(b"</CompoundStatement>\n</component>\n")
    }

    fn problem(&mut self) -> io::Result<()> {
        let term = if self.rng.permille(30) {
            self.rng.pick(SENSITIVE)
        } else {
            self.rng.pick(CONDITIONS)
        };
        let annotate = self.rng.permille(300);
        let named = self.observation(term, None, annotate)?;
        let id = self.rng.uuid();
        let active = self.rng.permille(600);
        let (scode, sterm) = if active {
            ("394774009", "Active problem")
        } else {
            ("394775005", "Inactive problem")
        };
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<LinkSet classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n<code code=\"{scode}\" codeSystem=\"{SCT}\" displayName=\"{sterm}\">\n"
        )?;
        if self.rng.permille(400) {
            write!(
                self.w,
                "<qualifier inverted=\"false\">\n<name code=\"386134007\" codeSystem=\"{SCT}\" displayName=\"Significant\"/>\n</qualifier>\n"
            )?;
        }
        write!(
            self.w,
            "</code>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<low value=\"{}\"/>\n",
            Day(self.now)
        )?;
        if !active {
            let end = self.now + self.rng.range(7, 700) as i64 * 86_400;
            writeln!(
                self.w,
                "<high value=\"{}\"/>",
                Day(end.min(self.p.creation))
            )?;
        }
        write!(
            self.w,
            "</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
            Ts(self.now)
        )?;
        let n_refs = self.rng.below(4).min(self.recent_obs.len() as u64);
        for _ in 0..n_refs {
            let r = *self.rng.pick(&self.recent_obs);
            if r != named {
                write!(
                    self.w,
                    "<component typeCode=\"COMP\">\n<statementRef classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{r}\"/>\n</statementRef>\n</component>\n"
                )?;
            }
        }
        write!(
            self.w,
            "<conditionNamed typeCode=\"NAME\" inversionInd=\"true\">\n<namedStatementRef classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{named}\"/>\n</namedStatementRef>\n</conditionNamed>\n"
        )?;
        self.nopat(30)?;
        self.w.write_all(b"</LinkSet>\n</component>\n")
    }

    fn allergy(&mut self) -> io::Result<()> {
        let drug = self.rng.permille(650);
        let (read, cterm, term) = if drug {
            (
                "14L..00",
                "H/O: drug allergy",
                self.rng.pick(DRUG_ALLERGIES),
            )
        } else {
            (
                "SN53.00",
                "Allergy, unspecified",
                self.rng.pick(OTHER_ALLERGIES),
            )
        };
        let id = self.rng.uuid();
        let now = self.now;
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<CompoundStatement classCode=\"CATEGORY\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n<code code=\"{read}\" codeSystem=\"{READ2}\" displayName=\"{cterm}\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
            Day(now),
            Day(now)
        )?;
        self.observation(term, None, true)?;
        self.nopat(30)?;
        self.w.write_all(b"</CompoundStatement>\n</component>\n")
    }

    fn medication_open(&mut self, mood: &str, drug: usize, low: i64, high: i64) -> io::Result<Id> {
        let id = self.rng.uuid();
        let d = &DRUGS[drug];
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<MedicationStatement classCode=\"SBADM\" moodCode=\"{mood}\">\n<id root=\"{id}\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<low value=\"{}\"/><high value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n<consumable typeCode=\"CSM\">\n<manufacturedProduct classCode=\"MANU\">\n<manufacturedMaterial determinerCode=\"KIND\" classCode=\"MMAT\">\n<code code=\"{}\" codeSystem=\"{SCT}\" displayName=\"{}\"/>\n</manufacturedMaterial>\n</manufacturedProduct>\n</consumable>\n",
            Day(low),
            Day(high),
            Day(low),
            d.sct,
            d.term
        )?;
        Ok(id)
    }

    fn medication_close(&mut self, drug: usize) -> io::Result<()> {
        write!(
            self.w,
            "<pertinentInformation typeCode=\"PERT\">\n<pertinentMedicationDosage classCode=\"SBADM\" moodCode=\"RMD\">\n<text>{}</text>\n</pertinentMedicationDosage>\n</pertinentInformation>\n",
            DRUGS[drug].dose
        )?;
        let a = self.agent();
        self.participant("AUT", a)?;
        self.nopat(30)?;
        self.w.write_all(b"</MedicationStatement>\n</component>\n")
    }

    fn authorise(&mut self) -> io::Result<()> {
        let n = self.rng.range(1, 3);
        for _ in 0..n {
            let drug = self.rng.below(DRUGS.len() as u64) as usize;
            let acute = self.rng.permille(350);
            let issues: u32 = if acute {
                1
            } else if self.rng.permille(100) {
                self.rng.range(100, 400) as u32
            } else {
                self.rng.range(3, 60) as u32
            };
            let days = 28 * issues as i64;
            let (low, high) = (self.now, (self.now + days * 86_400).min(self.p.creation));
            self.medication_open("INT", drug, low, high)?;
            let auth = self.rng.uuid();
            let quantity = *self.rng.pick(&[28u32, 56, 84, 30, 100, 200]);
            write!(
                self.w,
                "<component typeCode=\"COMP\">\n<ehrSupplyAuthorise classCode=\"SPLY\" moodCode=\"INT\">\n<id root=\"{auth}\"/>\n<code code=\"394823007\" codeSystem=\"{SCT}\" displayName=\"NHS Prescription\"/>\n<statusCode code=\"{}\"/>\n<effectiveTime>\n<low value=\"{}\"/><high value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n<repeatNumber value=\"{}\"/>\n<quantity value=\"{quantity}\" unit=\"1\">\n<translation value=\"{quantity}\">\n<originalText>{}</originalText>\n</translation>\n</quantity>\n<pertinentInformation typeCode=\"PERT\">\n<pertinentSupplyAnnotation>\n<text>Expected Supply Duration: 28 day</text>\n</pertinentSupplyAnnotation>\n</pertinentInformation>\n</ehrSupplyAuthorise>\n</component>\n",
                if high < self.p.creation { "COMPLETE" } else { "ACTIVE" },
                Day(low),
                Day(high),
                Day(low),
                if acute { 0 } else { issues },
                DRUGS[drug].form
            )?;
            if !acute && self.rng.permille(200) {
                let did = self.rng.uuid();
                write!(
                    self.w,
                    "<component typeCode=\"COMP\">\n<ehrSupplyDiscontinue classCode=\"SPLY\" moodCode=\"RQO\">\n<id root=\"{did}\"/>\n<code code=\"394823007\" codeSystem=\"{SCT}\" displayName=\"NHS Prescription\"/>\n<statusCode code=\"COMPLETE\"/>\n<availabilityTime value=\"{}\"/>\n<reversalOf typeCode=\"REV\">\n<priorMedicationRef moodCode=\"ORD\" classCode=\"SBADM\">\n<id root=\"{auth}\"/>\n</priorMedicationRef>\n</reversalOf>\n<pertinentInformation typeCode=\"PERT\">\n<pertinentSupplyAnnotation classCode=\"OBS\" moodCode=\"EVN\">\n<text>Discontinued: side effects</text>\n</pertinentSupplyAnnotation>\n</pertinentInformation>\n</ehrSupplyDiscontinue>\n</component>\n",
                    Ts(high)
                )?;
            }
            self.medication_close(drug)?;
            if self.auths.len() < 24 {
                self.auths.push(Auth {
                    id: auth,
                    drug,
                    issues_left: issues,
                    quantity,
                });
            }
        }
        Ok(())
    }

    fn issues(&mut self) -> io::Result<()> {
        if self.auths.is_empty() {
            return self.authorise();
        }
        let n = self.rng.range(1, 4).min(self.auths.len() as u64);
        for _ in 0..n {
            let i = self.rng.below(self.auths.len() as u64) as usize;
            let (auth, drug, quantity) = {
                let a = &mut self.auths[i];
                a.issues_left = a.issues_left.saturating_sub(1);
                (a.id, a.drug, a.quantity)
            };
            if self.auths[i].issues_left == 0 {
                self.auths.swap_remove(i);
            }
            let (low, high) = (self.now, self.now + 28 * 86_400);
            self.medication_open("ORD", drug, low, high)?;
            let pid = self.rng.uuid();
            write!(
                self.w,
                "<component typeCode=\"COMP\">\n<ehrSupplyPrescribe classCode=\"SPLY\" moodCode=\"RQO\">\n<id root=\"{pid}\"/>\n<code code=\"394823007\" codeSystem=\"{SCT}\" displayName=\"NHS Prescription\"/>\n<statusCode code=\"COMPLETE\"/>\n<availabilityTime value=\"{}\"/>\n<quantity value=\"{quantity}\" unit=\"1\">\n<translation value=\"{quantity}\">\n<originalText>{}</originalText>\n</translation>\n</quantity>\n<inFulfillmentOf typeCode=\"FLFS\">\n<priorMedicationRef moodCode=\"INT\">\n<id root=\"{auth}\"/>\n</priorMedicationRef>\n</inFulfillmentOf>\n</ehrSupplyPrescribe>\n</component>\n",
                Day(low),
                DRUGS[drug].form
            )?;
            self.medication_close(drug)?;
        }
        Ok(())
    }

    fn plan_or_request(&mut self) -> io::Result<()> {
        let id = self.rng.uuid();
        let when = self.now + self.rng.range(7, 365) as i64 * 86_400;
        let a = self.agent();
        if self.rng.permille(500) {
            write!(
                self.w,
                "<component typeCode=\"COMP\">\n<PlanStatement classCode=\"OBS\" moodCode=\"INT\">\n<id root=\"{id}\"/>\n<code code=\"390906007\" codeSystem=\"{SCT}\" displayName=\"Follow-up encounter\">\n<translation code=\"8H8..00\" codeSystem=\"{READ2}\" displayName=\"Follow-up arranged\"/>\n</code>\n<text>Review "
            )?;
            self.words(6)?;
            write!(
                self.w,
                "</text>\n<statusCode code=\"ACTIVE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
                Day(when),
                Ts(self.now)
            )?;
            self.participant("PRF", a)?;
            self.nopat(30)?;
            self.w.write_all(b"</PlanStatement>\n</component>\n")
        } else {
            write!(
                self.w,
                "<component typeCode=\"COMP\">\n<RequestStatement classCode=\"OBS\" moodCode=\"RQO\">\n<id root=\"{id}\"/>\n<code code=\"3457005\" codeSystem=\"{SCT}\" displayName=\"Patient referral\">\n<translation code=\"8H...00\" codeSystem=\"{READ2}\" displayName=\"Referral for further care\"/>\n</code>\n<text>Referral: "
            )?;
            self.words(12)?;
            write!(
                self.w,
                "</text>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n<priorityCode code=\"394848005\" codeSystem=\"{SCT}\" displayName=\"Normal\"><originalText>Routine</originalText></priorityCode>\n",
                Day(self.now),
                Ts(self.now)
            )?;
            self.participant("PPRF", a)?;
            self.nopat(30)?;
            self.w.write_all(b"</RequestStatement>\n</component>\n")
        }
    }

    fn header(&mut self) -> io::Result<()> {
        let interaction = if self.p.uk07 {
            "RCMR_IN030000UK07"
        } else {
            "RCMR_IN030000UK06"
        };
        let (msg, extract, folder) = (self.rng.uuid(), self.rng.uuid(), self.rng.uuid());
        let created = Ts(self.p.creation);
        let ods = self.p.ods.clone();
        let nhs = self.p.nhs.clone();
        let start = Day(self.now);
        let [org, gp1, gp2, gp3] = self.agents;
        write!(
            self.w,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{interaction} xmlns=\"urn:hl7-org:v3\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n<id root=\"{msg}\"/>\n<creationTime value=\"{created}\"/>\n<versionCode code=\"V3NPfIT3.1.10\"/>\n<interactionId root=\"2.16.840.1.113883.2.1.3.2.4.12\" extension=\"{interaction}\"/>\n<processingCode code=\"P\"/>\n<processingModeCode code=\"T\"/>\n<acceptAckCode code=\"NE\"/>\n<communicationFunctionRcv typeCode=\"RCV\">\n<device classCode=\"DEV\" determinerCode=\"INSTANCE\">\n<id root=\"1.2.826.0.1285.0.2.0.107\" extension=\"200000000111\"/>\n</device>\n</communicationFunctionRcv>\n<communicationFunctionSnd typeCode=\"SND\">\n<device classCode=\"DEV\" determinerCode=\"INSTANCE\">\n<id root=\"1.2.826.0.1285.0.2.0.107\" extension=\"200000000222\"/>\n</device>\n</communicationFunctionSnd>\n<ControlActEvent classCode=\"CACT\" moodCode=\"EVN\">\n<author1 typeCode=\"AUT\">\n<AgentSystemSDS classCode=\"AGNT\">\n<agentSystemSDS classCode=\"DEV\" determinerCode=\"INSTANCE\">\n<id root=\"1.2.826.0.1285.0.2.0.107\" extension=\"200000000222\"/>\n</agentSystemSDS>\n</AgentSystemSDS>\n</author1>\n<subject typeCode=\"SUBJ\" contextConductionInd=\"false\">\n<EhrExtract classCode=\"EXTRACT\" moodCode=\"EVN\">\n<id root=\"{extract}\"/>\n<statusCode code=\"COMPLETE\"/>\n<availabilityTime value=\"{created}\"/>\n<recordTarget typeCode=\"RCT\">\n<patient classCode=\"PAT\">\n<id root=\"{NHS_OID}\" extension=\"{nhs}\"/>\n</patient>\n</recordTarget>\n<author typeCode=\"AUT\">\n<time value=\"{created}\"/>\n<AgentOrgSDS classCode=\"AGNT\">\n<agentOrganizationSDS classCode=\"ORG\" determinerCode=\"INSTANCE\">\n<id root=\"{ODS_OID}\" extension=\"{ods}\"/>\n</agentOrganizationSDS>\n</AgentOrgSDS>\n</author>\n<destination typeCode=\"DST\">\n<AgentOrgSDS classCode=\"AGNT\">\n<agentOrganizationSDS classCode=\"ORG\" determinerCode=\"INSTANCE\">\n<id root=\"{ODS_OID}\" extension=\"{REQUESTER_ODS}\"/>\n</agentOrganizationSDS>\n</AgentOrgSDS>\n</destination>\n<component typeCode=\"COMP\">\n<ehrFolder classCode=\"FOLDER\" moodCode=\"EVN\">\n<id root=\"{folder}\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<low value=\"{start}\"/>\n<high value=\"{created}\"/>\n</effectiveTime>\n<availabilityTime value=\"{created}\"/>\n<author typeCode=\"AUT\">\n<time value=\"{created}\"/>\n<AgentOrgSDS classCode=\"AGNT\">\n<agentOrganizationSDS classCode=\"ORG\" determinerCode=\"INSTANCE\">\n<id root=\"{ODS_OID}\" extension=\"{ods}\"/>\n</agentOrganizationSDS>\n</AgentOrgSDS>\n</author>\n<responsibleParty typeCode=\"RESP\">\n<agentDirectory classCode=\"AGNT\">\n<part typeCode=\"PART\">\n<Agent classCode=\"AGNT\">\n<id root=\"{org}\"/>\n<agentOrganization classCode=\"ORG\" determinerCode=\"INSTANCE\">\n<id root=\"{ODS_OID}\" extension=\"{ods}\"/>\n<name>SYNTHETIC MEDICAL PRACTICE {ods}</name>\n</agentOrganization>\n</Agent>\n</part>\n"
        )?;
        for (gp, given) in [(gp1, "Alex"), (gp2, "Sam"), (gp3, "Jo")] {
            write!(
                self.w,
                "<part typeCode=\"PART\">\n<Agent classCode=\"AGNT\">\n<id root=\"{gp}\"/>\n<code code=\"309394004\" codeSystem=\"{SCT}\" displayName=\"General practitioner\"/>\n<agentPerson classCode=\"PSN\" determinerCode=\"INSTANCE\">\n<name>\n<prefix>Dr</prefix>\n<given>{given}</given>\n<family>Synthetic</family>\n</name>\n</agentPerson>\n<representedOrganization classCode=\"ORG\" determinerCode=\"INSTANCE\">\n<id root=\"{ODS_OID}\" extension=\"{ods}\"/>\n<name>SYNTHETIC MEDICAL PRACTICE {ods}</name>\n</representedOrganization>\n</Agent>\n</part>\n"
            )?;
        }
        self.w
            .write_all(b"</agentDirectory>\n</responsibleParty>\n")
    }

    fn trailer(&mut self) -> io::Result<()> {
        let (req, lim) = (self.rng.uuid(), self.rng.uuid());
        let interaction = if self.p.uk07 {
            "RCMR_IN030000UK07"
        } else {
            "RCMR_IN030000UK06"
        };
        write!(
            self.w,
            "</ehrFolder>\n</component>\n<inFulfillmentOf typeCode=\"FLFS\">\n<priorEhrRequest classCode=\"EXTRACT\" moodCode=\"RQO\">\n<id root=\"{req}\"/>\n</priorEhrRequest>\n</inFulfillmentOf>\n<limitation typeCode=\"LIMIT\" inversionInd=\"true\">\n<limitingEhrExtractSpecification classCode=\"OBS\" moodCode=\"DEF\">\n<id root=\"{lim}\"/>\n<code code=\"37241000000102\" codeSystem=\"{SCT}\" displayName=\"Entire record available to originator (administrative concept)\"/>\n</limitingEhrExtractSpecification>\n</limitation>\n</EhrExtract>\n</subject>\n</ControlActEvent>\n</{interaction}>\n"
        )
    }

    /// Whole file; returns bytes written.
    fn run(mut self) -> io::Result<(u64, W)> {
        self.header()?;
        const TRAILER: u64 = 900;
        while self.w.n + TRAILER < self.p.target_bytes || self.compositions < 4 {
            self.composition()?;
        }
        self.trailer()?;
        self.w.flush()?;
        Ok((self.w.n, self.w.inner))
    }
}

// ---------------------------------------------------------------------------------------------
// Files.

fn err_ctx(e: io::Error, what: &str, path: &Path) -> Box<dyn std::error::Error + Send + Sync> {
    format!("{what} {}: {e}", path.display()).into()
}

/// Write `path` through the library's owner-only temp file and rename (readers never see a
/// partial file; no sync per file: a generated corpus can be regenerated).
fn write_atomic<F>(path: &Path, fill: F) -> Res<u64>
where
    F: FnOnce(&mut dyn Write) -> io::Result<u64>,
{
    let mut written = 0;
    let tmp = migx::output::write_temp_with(path, |w| {
        written = fill(w)?;
        Ok(())
    })
    .map_err(|e| err_ctx(e, "write", path))?;
    migx::output::publish(&tmp, path).map_err(|e| err_ctx(e, "rename", path))?;
    Ok(written)
}

fn generate_file(p: &FilePlan, out: &Path) -> Res<u64> {
    let path = out.join(&p.name);
    write_atomic(&path, |w| Gen::new(w, p.clone()).run().map(|(n, _)| n))
}

fn consent_csv(plans: &[FilePlan], out: &Path) -> Res<u64> {
    write_atomic(&out.join("consent.csv"), |w| {
        let mut n = 0u64;
        let head = "nhs_number,decision,recorded_at,requester_ods,requester_name,purpose\n";
        w.write_all(head.as_bytes())?;
        n += head.len() as u64;
        for p in plans {
            let day = migx::ehr::ts::Ts::from_epoch_secs(p.creation, migx::ehr::ts::Precision::Day)
                .map_or_else(String::new, |t| t.date().to_string());
            let line = format!(
                "{},{},{day}T00:00:00+00:00,{REQUESTER_ODS},{REQUESTER_NAME},TREAT\n",
                p.nhs,
                if p.permit { "permit" } else { "deny" }
            );
            w.write_all(line.as_bytes())?;
            n += line.len() as u64;
        }
        Ok(n)
    })
}

fn generate(o: &Opts) -> Res<(usize, u64)> {
    fs::create_dir_all(&o.out).map_err(|e| err_ctx(e, "create dir", &o.out))?;
    let plans = plan(o);
    let bytes: Vec<u64> = plans
        .par_iter()
        .map(|p| generate_file(p, &o.out))
        .collect::<Res<Vec<u64>>>()?;
    consent_csv(&plans, &o.out)?;
    Ok((plans.len(), bytes.iter().sum()))
}

// ---------------------------------------------------------------------------------------------
// Floor.

fn xml_files(dirs: &[PathBuf]) -> Res<Vec<PathBuf>> {
    let mut files = Vec::new();
    for d in dirs {
        for e in walkdir::WalkDir::new(d).follow_links(true) {
            let e = e.map_err(|e| format!("walk {}: {e}", d.display()))?;
            if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "xml") {
                files.push(e.into_path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// One bare quick-xml pass; returns (bytes, events).
fn floor_file(path: &Path, buf: &mut Vec<u8>) -> Res<(u64, u64)> {
    use quick_xml::events::Event;
    let f = File::open(path).map_err(|e| err_ctx(e, "open", path))?;
    let bytes = f.metadata().map_err(|e| err_ctx(e, "stat", path))?.len();
    let mut r = quick_xml::Reader::from_reader(BufReader::with_capacity(64 * 1024, f));
    let mut events = 0u64;
    loop {
        buf.clear();
        match r.read_event_into(buf) {
            Ok(Event::Eof) => break,
            Ok(_) => events += 1,
            Err(e) => {
                return Err(format!(
                    "{}: XML error at byte {}: {e}",
                    path.display(),
                    r.buffer_position()
                )
                .into())
            }
        }
    }
    Ok((bytes, events))
}

fn floor(dirs: &[PathBuf]) -> Res<()> {
    let files = xml_files(dirs)?;
    let t0 = Instant::now();
    let mut buf = Vec::with_capacity(64 * 1024);
    let (mut bytes, mut events) = (0u64, 0u64);
    for f in &files {
        let (b, e) = floor_file(f, &mut buf)?;
        bytes += b;
        events += e;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "floor: files={} bytes={} events={} seconds={:.3} MB/s={:.1}",
        files.len(),
        bytes,
        events,
        secs,
        bytes as f64 / MB as f64 / secs.max(1e-9)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CLI.

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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(csv
            .starts_with("nhs_number,decision,recorded_at,requester_ods,requester_name,purpose\n"));
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
}
