//! Issue 9 end to end: the built `migx` binary on fixture extract 15 with and without the
//! authored SNOMED CT release in `fixtures/snomed-release`.

use crate::common::run as migx;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

const EXTRACT: &str = "fixtures/extracts/15-sensitive-sti.xml";
const SYPHILIS_DESC: &str = "9990011000000115";
const SYPHILIS_DESC_ITEM: &str = "c5b2b01e-7bc2-537f-aee4-104f8fd4fa36";
const SYPHILIS_ITEM: &str = "924ed83a-a2d9-508f-85dd-b5717cdbfab7";
const DM_DESC: &str = "999014019";
const DM_ITEM: &str = "e328e260-e2df-5174-9082-366176f11d95";
const SCTDESCID: &str = "http://hl7.org/fhir/StructureDefinition/coding-sctdescid";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `migx convert` of extract 15 into `out`, with extra arguments.
fn convert(out: &Path, extra: &[&str]) -> Output {
    let out_s = out.to_str().expect("utf-8 temp path");
    let mut args = vec![
        "convert",
        EXTRACT,
        "--consent",
        "fixtures/consent.csv",
        "--permit-requester",
        "Y02345",
        "--without-official-refsets",
        "--out",
        out_s,
    ];
    args.extend_from_slice(extra);
    let o = migx(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "migx convert failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read output")).expect("json")
}

fn bundle(out: &Path) -> Value {
    read_json(&out.join("bundles/15-sensitive-sti.json"))
}

/// source_id -> reason of every withheld item in audit.ndjson.
fn withheld_reason(out: &Path, source_id: &str) -> Option<String> {
    let text = std::fs::read_to_string(out.join("audit.ndjson")).expect("audit");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("audit line"))
        .find(|v| v["kind"] == "item" && v["source_id"] == source_id)
        .and_then(|v| v["reason"].as_str().map(str::to_string))
}

/// Every file under the output folder, as text.
fn all_output(out: &Path) -> Vec<(PathBuf, String)> {
    walk(out)
        .into_iter()
        .map(|p| {
            let t = String::from_utf8_lossy(&std::fs::read(&p).expect("read")).into_owned();
            (p, t)
        })
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v
}

fn assert_absent(out: &Path, needle: &str) {
    let files = all_output(out);
    assert!(!files.is_empty(), "no output files");
    for (p, t) in files {
        assert!(!t.contains(needle), "{needle} found in {}", p.display());
    }
}

/// The resource whose identifier is the source item's id.
fn resource_for<'a>(b: &'a Value, source_id: &str) -> Option<&'a Value> {
    let want = format!("urn:uuid:{source_id}");
    b["entry"]
        .as_array()?
        .iter()
        .map(|e| &e["resource"])
        .find(|r| {
            r["identifier"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|i| i["value"] == want.as_str()))
        })
}

fn provenance_displays(b: &Value) -> Vec<String> {
    b["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Provenance")
        .flat_map(|r| r["entity"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["what"]["display"].as_str().map(str::to_string))
        .collect()
}

fn withheld_codes_of_extract_15() -> Vec<String> {
    let m = read_json(&root().join("fixtures/MANIFEST.json"));
    let f = m["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == "extracts/15-sensitive-sti.xml")
        .expect("extract 15 in manifest")
        .clone();
    f["withheld_codes"]
        .as_array()
        .expect("withheld_codes")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect()
}

fn check_with_release(out: &Path) {
    assert_eq!(
        withheld_reason(out, SYPHILIS_DESC_ITEM).as_deref(),
        Some("sensitive-code")
    );
    assert_eq!(
        withheld_reason(out, SYPHILIS_ITEM).as_deref(),
        Some("sensitive-code")
    );
    // Every withheld code of the file (the description id included) appears nowhere.
    for code in withheld_codes_of_extract_15() {
        assert_absent(out, &code);
    }
    // The diabetes description id: shared, classified by its FSN tag (disorder) as a
    // diagnosis, with the concept id as code and the description id in the extension.
    assert_eq!(withheld_reason(out, DM_ITEM), None);
    let b = bundle(out);
    let r = resource_for(&b, DM_ITEM).expect("diabetes item is shared");
    assert_eq!(r["resourceType"], "Condition");
    assert_eq!(r["category"][0]["coding"][0]["code"], "encounter-diagnosis");
    let coding = &r["code"]["coding"][0];
    assert_eq!(coding["system"], "http://snomed.info/sct");
    assert_eq!(coding["code"], "73211009");
    assert_eq!(coding["extension"][0]["url"], SCTDESCID);
    assert_eq!(coding["extension"][0]["valueId"], DM_DESC);
    // Release version in the Provenance and the summary.
    assert!(
        provenance_displays(&b)
            .iter()
            .any(|d| d == "SNOMED CT release INT_20250101"),
        "{:?}",
        provenance_displays(&b)
    );
    let s = read_json(&out.join("summary.json"));
    assert_eq!(s["snomed_release"], "INT_20250101");
    assert_eq!(s["items_shared"]["diagnoses"], 2);
}

#[test]
fn with_the_release_folder_description_ids_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = convert(&out, &["--snomed", "fixtures/snomed-release"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("SNOMED CT release INT_20250101 loaded"),
        "{err}"
    );
    assert!(!err.contains("exclusion coverage is limited"), "{err}");
    check_with_release(&out);
}

#[test]
fn with_a_prebuilt_index_file_the_result_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("snomed.migxidx");
    let o = migx(&[
        "snomed",
        "index",
        "fixtures/snomed-release",
        "--out",
        idx.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = dir.path().join("out");
    convert(&out, &["--snomed", idx.to_str().unwrap()]);
    check_with_release(&out);
    // Same bundle as from the folder (ids are deterministic).
    let out2 = dir.path().join("out2");
    convert(&out2, &["--snomed", "fixtures/snomed-release"]);
    assert_eq!(
        std::fs::read(out.join("bundles/15-sensitive-sti.json")).unwrap(),
        std::fs::read(out2.join("bundles/15-sensitive-sti.json")).unwrap()
    );
}

#[test]
fn without_a_release_description_ids_are_unresolved_and_coverage_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = convert(&out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.matches("exclusion coverage is limited").count(),
        1,
        "said once: {err}"
    );
    assert_eq!(
        withheld_reason(&out, SYPHILIS_DESC_ITEM).as_deref(),
        Some("unresolved-code")
    );
    assert_eq!(
        withheld_reason(&out, DM_ITEM).as_deref(),
        Some("unresolved-code")
    );
    for code in withheld_codes_of_extract_15() {
        assert_absent(&out, &code);
    }
    assert_absent(&out, DM_DESC);
    let b = bundle(&out);
    assert!(resource_for(&b, DM_ITEM).is_none());
    assert!(
        provenance_displays(&b)
            .iter()
            .any(|d| d.contains("no release loaded") && d.contains("exclusion coverage limited")),
        "{:?}",
        provenance_displays(&b)
    );
    let s = read_json(&out.join("summary.json"));
    assert_eq!(s["snomed_release"], Value::Null);
    assert_eq!(s["items_shared"]["diagnoses"], 1);
}

/// Production use: no hand-made sensitive list at all; the exclusion refsets come from the
/// release by their refset ids.
#[test]
fn exclusion_refsets_come_from_the_release_without_a_sensitive_list() {
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("policy");
    std::fs::create_dir_all(pol.join("codes")).unwrap();
    for f in ["consent.tsv", "categories.tsv", "risks-warnings.tsv"] {
        std::fs::copy(
            root().join("policy/codes").join(f),
            pol.join("codes").join(f),
        )
        .unwrap();
    }
    std::fs::write(
        pol.join("codes/sensitive.tsv"),
        "# name: sensitive\n# note: empty on purpose (test)\nsystem\tcode\tmatch\tterm\tsource\tgroup\n",
    )
    .unwrap();
    std::fs::copy(root().join("policy/default.json"), pol.join("default.json")).unwrap();
    let policy = pol.join("default.json");
    let policy_s = policy.to_str().unwrap();

    // Without the release, the syphilis concept is not withheld as sensitive any more...
    let out0 = dir.path().join("out0");
    convert(&out0, &["--policy", policy_s]);
    assert_ne!(
        withheld_reason(&out0, SYPHILIS_ITEM).as_deref(),
        Some("sensitive-code")
    );

    // ...with it, the STD exclusion refset of the release withholds the concept and its
    // description id.
    let out = dir.path().join("out");
    convert(
        &out,
        &["--policy", policy_s, "--snomed", "fixtures/snomed-release"],
    );
    assert_eq!(
        withheld_reason(&out, SYPHILIS_ITEM).as_deref(),
        Some("sensitive-code")
    );
    assert_eq!(
        withheld_reason(&out, SYPHILIS_DESC_ITEM).as_deref(),
        Some("sensitive-code")
    );
    assert_absent(&out, "76272004");
    assert_absent(&out, SYPHILIS_DESC);
    // The diagnoses List warns that confidential items were withheld.
    let b = bundle(&out);
    let lists: Vec<&Value> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "List")
        .collect();
    let diag = lists
        .iter()
        .find(|l| {
            l["title"]
                .as_str()
                .is_some_and(|t| t.to_lowercase().contains("diagnos"))
        })
        .expect("diagnoses list");
    assert!(diag.to_string().contains("confidential-items"), "{diag}");
}
