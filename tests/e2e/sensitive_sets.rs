//! Issue 21: the built-in lists cover each of the four exclusion sets in every coding GP systems
//! use (SNOMED CT, Read v2, CTV3), end to end through `migx convert` with the default policy.
//!
//! Two tests:
//! - a hand-written matrix, one extract per (set, coding system) with the codes the issue names
//!   (expectations written by hand, not derived from the lists), each next to a shareable
//!   control item that must still arrive;
//! - every row of `policy/codes/sensitive.tsv` (exact codes as written, prefix rules through a
//!   code *below* the prefix), one extract each: never in the bundle, audited `sensitive-code`.

use crate::common;
use common::*;

use std::path::Path;

const SCT: &str = "2.16.840.1.113883.2.1.3.2.4.15";
const READ: &str = "2.16.840.1.113883.2.1.6.2";
const CTV3: &str = "2.16.840.1.113883.2.1.3.2.4.14";

fn oid(system: &str) -> &'static str {
    match system {
        "snomed" => SCT,
        "readv2" => READ,
        "ctv3" => CTV3,
        other => panic!("unknown system {other}"),
    }
}

fn uuid(file: usize, n: usize) -> String {
    format!("5E15171E-{file:04X}-4000-8000-{n:012X}")
}

/// One observation (Read v2 H33..00 asthma, a shared diagnosis) plus the sensitive ones.
fn extract(file: usize, sensitive: &[(&str, &str)]) -> String {
    let obs = |n: usize, code: &str, sys: &str| {
        format!(
            r#"<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{}"/><code code="{code}" codeSystem="{sys}" displayName="SENSITIVE-TERM-{file}-{n}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/></ObservationStatement></component>"#,
            uuid(file, n)
        )
    };
    let mut body = String::from(
        r#"<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN"><id root="CDC0FFEE-0000-4000-8000-000000000001"/><code code="H33..00" codeSystem="2.16.840.1.113883.2.1.6.2"/><statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/></ObservationStatement></component>"#,
    );
    for (n, (system, code)) in sensitive.iter().enumerate() {
        body.push_str(&obs(n + 1, code, oid(system)));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><RCMR_IN030000UK07 xmlns="urn:hl7-org:v3"><id root="{}"/><creationTime value="20260314100000"/><ControlActEvent classCode="CACT" moodCode="EVN"><subject typeCode="SUBJ"><EhrExtract classCode="EXTRACT" moodCode="EVN"><id root="{}"/><availabilityTime value="20260314100000"/><recordTarget typeCode="RCT"><patient classCode="PAT"><id root="2.16.840.1.113883.2.1.4.1" extension="9000000009"/></patient></recordTarget><author typeCode="AUT"><AgentOrgSDS classCode="AGNT"><agentOrganizationSDS classCode="ORG" determinerCode="INSTANCE"><id root="1.2.826.0.1285.0.1.10" extension="A12345"/></agentOrganizationSDS></AgentOrgSDS></author><component typeCode="COMP"><ehrFolder classCode="FOLDER" moodCode="EVN"><id root="{}"/><component typeCode="COMP"><ehrComposition classCode="COMPOSITION" moodCode="EVN"><id root="{}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/>{body}</ehrComposition></component></ehrFolder></component></EhrExtract></subject></ControlActEvent></RCMR_IN030000UK07>"#,
        uuid(file, 0xF001),
        uuid(file, 0xF002),
        uuid(file, 0xF003),
        uuid(file, 0xF004),
    )
}

/// Convert every `(name, sensitive codings)` extract; per file, every sensitive item is audited
/// `sensitive-code`, none of its codes or display terms reaches the bundle, and the control
/// diagnosis still arrives.
fn assert_all_withheld(cases: &[(String, Vec<(String, String)>)]) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for (i, (name, codes)) in cases.iter().enumerate() {
        let codes: Vec<(&str, &str)> = codes
            .iter()
            .map(|(s, c)| (s.as_str(), c.as_str()))
            .collect();
        std::fs::write(input.join(format!("{name}.xml")), extract(i, &codes)).unwrap();
    }
    let out = dir.path().join("out");
    let o = convert_permit_all(&input, &out, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let audit = read_ndjson(&out.join("audit.ndjson"));
    for (i, (name, codes)) in cases.iter().enumerate() {
        let bundle_path = out.join("bundles").join(format!("{name}.json"));
        let bundle = std::fs::read_to_string(&bundle_path)
            .unwrap_or_else(|e| panic!("{name}: no bundle at {}: {e}", bundle_path.display()));
        assert!(
            bundle.contains("\"H33..\"") || bundle.contains("\"H33..00\""),
            "{name}: the shareable control diagnosis is missing"
        );
        for (n, (system, code)) in codes.iter().enumerate() {
            assert!(
                !bundle.contains(&format!("\"{code}\"")),
                "{name}: {system} {code} reached the bundle"
            );
            let term = format!("SENSITIVE-TERM-{i}-{}", n + 1);
            assert!(
                !bundle.contains(&term),
                "{name}: the display of {system} {code} reached the bundle"
            );
        }
        let input_name = format!("{name}.xml");
        let sensitive = audit
            .iter()
            .filter(|l| {
                l["kind"] == "item"
                    && l["reason"] == "sensitive-code"
                    && l["input"]
                        .as_str()
                        .is_some_and(|p| Path::new(p).ends_with(&input_name))
            })
            .count();
        assert_eq!(
            sensitive,
            codes.len(),
            "{name}: expected every sensitive item audited as sensitive-code"
        );
    }
}

fn case(name: &str, codes: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    (
        name.to_string(),
        codes
            .iter()
            .map(|(s, c)| (s.to_string(), c.to_string()))
            .collect(),
    )
}

/// One extract per exclusion set and coding system, with the codes issue 21 names as leaking.
#[test]
fn each_set_in_each_coding_system_is_withheld_by_default() {
    let cases = vec![
        // Sexually transmitted disease (including HIV and chlamydia outside chapter A9).
        case(
            "std-snomed",
            &[
                ("snomed", "86406008"),
                ("snomed", "62479008"),
                ("snomed", "165816005"),
                ("snomed", "8098009"),
            ],
        ),
        case(
            "std-readv2",
            &[
                ("readv2", "A788.00"),
                ("readv2", "A789.00"),
                ("readv2", "43C3.00"),
                ("readv2", "A78A.00"),
                ("readv2", "A78A300"),
                ("readv2", "K420900"),
                ("readv2", "Ayu4D00"),
                ("readv2", "ZV01A00"),
                ("readv2", "66j0.00"),
                ("readv2", "A981.00"),
            ],
        ),
        case(
            "std-ctv3",
            &[
                ("ctv3", "A98.."),
                ("ctv3", "A9810"),
                ("ctv3", "A78A."),
                ("ctv3", "X70M6"),
                ("ctv3", "K40y1"),
            ],
        ),
        // Termination of pregnancy.
        case(
            "top-snomed",
            &[
                ("snomed", "386639001"),
                ("snomed", "39406005"),
                ("snomed", "183606009"),
            ],
        ),
        case(
            "top-readv2",
            &[
                ("readv2", "L05..00"),
                ("readv2", "L051.00"),
                ("readv2", "L06..00"),
                ("readv2", "L0A4.00"),
                ("readv2", "7E06600"),
                ("readv2", "7E08400"),
                ("readv2", "7E0B100"),
            ],
        ),
        case(
            "top-ctv3",
            &[("ctv3", "7E086"), ("ctv3", "Xa36H"), ("ctv3", "XE0vi")],
        ),
        // Assisted fertilisation.
        case(
            "af-snomed",
            &[("snomed", "63487001"), ("snomed", "176843009")],
        ),
        case("af-readv2", &[("readv2", "7E0A.00")]),
        case("af-ctv3", &[("ctv3", "7E0Ay")]),
        // Gender identity.
        case(
            "gi-snomed",
            &[
                ("snomed", "407374003"),
                ("snomed", "407378000"),
                ("snomed", "714186001"),
            ],
        ),
        case("gi-readv2", &[("readv2", "Eu64000")]),
        case("gi-ctv3", &[("ctv3", "Eu640")]),
    ];
    assert_all_withheld(&cases);
}

/// A code this rule matches: the code itself for exact rules, a code below the prefix (first
/// child `0`, padded with dots to five characters) for prefix rules.
fn code_for(code: &str, prefix: bool) -> String {
    if !prefix {
        return code.to_string();
    }
    let mut c = format!("{code}0");
    while c.len() < 5 {
        c.push('.');
    }
    c
}

/// Every row of the built-in sensitive list is withheld end to end.
#[test]
fn every_row_of_the_sensitive_list_is_withheld() {
    let text = std::fs::read_to_string(root().join("policy/codes/sensitive.tsv")).unwrap();
    let mut cases = Vec::new();
    let mut header = false;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !header {
            header = true;
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let (system, code, kind) = (cols[0], cols[1], cols[2]);
        let c = code_for(code, kind == "prefix");
        let name = format!("row-{}-{}", system, c.replace('.', "_"));
        cases.push(case(&name, &[(system, c.as_str())]));
    }
    assert!(cases.len() > 100, "the list has {} rows", cases.len());
    assert_all_withheld(&cases);
}

/// A run that may disclose records refuses without the official refsets (exit 2, nothing
/// written, the fix in the message) unless the operator asserts `--without-official-refsets`;
/// the assertion, or the official sets, are recorded in every Provenance and in summary.json.
#[test]
fn a_release_needs_the_official_refsets_or_the_operator_assertion() {
    let dir = tempfile::tempdir().unwrap();
    let base = |out: &Path| {
        vec![
            "-q".to_string(),
            "convert".into(),
            "fixtures/extracts/01-core-shared.xml".into(),
            "--consent".into(),
            "fixtures/consent.csv".into(),
            "--permit-requester".into(),
            "Y02345".into(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let go = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&a)
    };

    // Neither: refused before anything is written.
    let out = dir.path().join("refused");
    let o = go(base(&out));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!out.exists(), "nothing may be written when refused");
    for needle in [
        "official GP summary exclusion refsets are not loaded",
        "999004381000000103",
        "999004371000000100",
        "999004361000000107",
        "999004351000000109",
        "--snomed",
        "--exclusion-refset",
        "--without-official-refsets",
    ] {
        assert!(err.contains(needle), "the refusal lacks {needle:?}: {err}");
    }
    // A release missing one of the four (the fixture release has no assisted-fertilisation
    // member) is not enough either.
    let out = dir.path().join("partial");
    let mut args = base(&out);
    args.extend(["--snomed".into(), "fixtures/snomed-release".into()]);
    let o = go(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("assisted-fertilisation 999004371000000100"),
        "{err}"
    );
    assert!(!err.contains("std 999004381000000103"), "{err}");
    assert!(!out.exists());

    // The operator's assertion: disclosed, and recorded.
    let out = dir.path().join("asserted");
    let mut args = base(&out);
    args.push(WITHOUT_OFFICIAL_REFSETS.into());
    let o = go(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let ex = &summary["exclusion_refsets"];
    assert_eq!(ex["official_complete"], false);
    assert_eq!(ex["operator_assertion"], "--without-official-refsets");
    assert_eq!(
        ex["subtypes"],
        "only exact matches and Read v2/CTV3 prefixes were checked"
    );
    let bundle = std::fs::read_to_string(out.join("bundles/01-core-shared.json")).unwrap();
    assert!(bundle.contains("operator assertion --without-official-refsets"));
    assert!(bundle.contains("only exact matches and Read v2/CTV3 prefixes were checked"));

    // All four official refsets loaded from RF2 files: released without the assertion, and
    // the Provenance says which sets were used.
    let rf2 = dir.path().join("der2_Refset_SimpleSnapshot_TEST.txt");
    std::fs::write(
        &rf2,
        "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\r\n\
m1\t20250101\t1\t999000011000000103\t999004381000000103\t76272004\r\n\
m2\t20250101\t1\t999000011000000103\t999004371000000100\t52637005\r\n\
m3\t20250101\t1\t999000011000000103\t999004361000000107\t57797005\r\n\
m4\t20250101\t1\t999000011000000103\t999004351000000109\t407377005\r\n",
    )
    .unwrap();
    let out = dir.path().join("official");
    let mut args = base(&out);
    args.extend(["--exclusion-refset".into(), rf2.display().to_string()]);
    let o = go(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["exclusion_refsets"]["official_complete"], true);
    assert!(summary["exclusion_refsets"]["operator_assertion"].is_null());
    let bundle = std::fs::read_to_string(out.join("bundles/01-core-shared.json")).unwrap();
    assert!(bundle.contains("exclusion refsets: the official GP summary exclusion refsets"));
    assert!(!bundle.contains("--without-official-refsets"));

    // A deny-all run discloses nothing, so it needs neither.
    let out = dir.path().join("deny");
    let o = run(&[
        "-q",
        "convert",
        "fixtures/extracts/01-core-shared.xml",
        "--consent-all",
        "deny",
        "--requester",
        "Y02345",
        "--permit-requester",
        "Y02345",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.join("bundles/01-core-shared.json").exists());
}

/// `explain` discloses nothing: it runs without the official refsets and says what it checked.
#[test]
fn explain_runs_without_the_official_refsets_and_says_what_it_checked() {
    let o = run(&[
        "explain",
        "fixtures/extracts/16-sensitive-other-bare-root.xml",
        "--consent",
        "fixtures/consent.csv",
        "--permit-requester",
        "Y02345",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("exclusion refsets: NOT the official sets"),
        "{out}"
    );
    assert!(out.contains("no operator assertion"), "{out}");
    assert!(out.contains("only exact matches and Read v2/CTV3 prefixes were checked"));
    assert!(out.contains("withheld: sensitive-code"), "{out}");
    let o = run(&[
        "explain",
        "fixtures/extracts/16-sensitive-other-bare-root.xml",
        "--consent",
        "fixtures/consent.csv",
        "--permit-requester",
        "Y02345",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let checked = v["exclusion_checked"].as_array().unwrap();
    assert_eq!(checked.len(), 2);
}
