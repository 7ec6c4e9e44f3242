//! Input names in the run's records (issue 24.13). GP2GP exports are often named after the
//! patient (`9434765919_SMITH_20200101.xml`): no file inside the output folder (bundles,
//! audit, access audit, journal, manifest, summary, report) holds an NHS number taken from an
//! input's name, in any of the forms it is written, wherever in the path it sits; the records
//! name the input with the number masked to its last three digits.

use crate::common::{convert_with_consent, files_under, read_ndjson, root, run};
use std::path::Path;

/// NHS numbers (valid, and one failing the check) that no fixture patient has, in the
/// forms a file name may carry them.
const NUMBERS: [&str; 3] = ["9434765919", "9990001111", "9434765918"];

fn forms(n: &str) -> Vec<String> {
    let (a, b, c) = (&n[..3], &n[3..6], &n[6..]);
    vec![
        n.to_string(),
        format!("{a} {b} {c}"),
        format!("{a}-{b}-{c}"),
        n[..7].to_string(), // the seven digits the mask hides, on their own
    ]
}

/// Every position a number can take in a path: the stem (start, middle, end), a folder,
/// the extension, with each separator form, for a converted, a withheld and a rejected input.
fn names() -> Vec<String> {
    let mut out = Vec::new();
    for (k, n) in NUMBERS.iter().enumerate() {
        let spaced = format!("{} {} {}", &n[..3], &n[3..6], &n[6..]);
        let dashed = format!("{}-{}-{}", &n[..3], &n[3..6], &n[6..]);
        out.push(format!("{n}_SMITH_20200101-{k}.xml"));
        out.push(format!("gp2gp-{spaced}-full-{k}.xml"));
        out.push(format!("x{k}_{dashed}.xml"));
        out.push(format!("{n}/record-{k}.xml"));
        out.push(format!("record-{k}.{n}.xml"));
    }
    out
}

#[test]
fn no_nhs_number_from_an_input_name_reaches_the_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let sources = [
        "fixtures/extracts/01-core-shared.xml",        // converted
        "fixtures/extracts/08-practice-dissent.xml",   // withheld
        "fixtures/extracts/18-missing-nhs-number.xml", // rejected
    ];
    let names = names();
    for (i, name) in names.iter().enumerate() {
        let to = input.join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root().join(sources[i % sources.len()]), &to).unwrap();
    }
    // One input named on the command line too: the manifest records the arguments.
    let named = dir.path().join("9434765919 extra.xml");
    std::fs::copy(root().join(sources[0]), &named).unwrap();
    let out = dir.path().join("out");
    let o = convert_with_consent(&input, &root().join("fixtures/consent.csv"), &out, &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out2 = dir.path().join("out2");
    let o = run(&[
        "-q",
        "convert",
        named.to_str().unwrap(),
        "--consent",
        "fixtures/consent.csv",
        "--permit-requester",
        "Y02345",
        "--without-official-refsets",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let mut checked = 0;
    for folder in [&out, &out2] {
        for (rel, bytes) in files_under(folder) {
            let text = String::from_utf8_lossy(&bytes);
            for n in NUMBERS {
                for form in forms(n) {
                    assert!(
                        !rel.contains(&form) && !text.contains(&form),
                        "{rel} holds an NHS number from an input name"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} output files");

    // The records still say which input each line is about: the masked name.
    let audit = read_ndjson(&out.join("audit.ndjson"));
    let files: Vec<&str> = audit
        .iter()
        .filter(|l| l["kind"] == "file")
        .map(|l| l["input"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), names.len());
    for n in NUMBERS {
        let masked = format!("*******{}", &n[7..]);
        assert!(
            files.iter().filter(|f| f.contains(&masked)).count() >= 5,
            "{masked} in {files:?}"
        );
    }
    let statuses: Vec<&str> = audit
        .iter()
        .filter(|l| l["kind"] == "file")
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    for s in ["converted", "withheld", "rejected"] {
        assert!(statuses.contains(&s), "no {s} input in {statuses:?}");
    }
    // Every converted input has its own bundle, under a masked name.
    let bundles = std::fs::read_dir(out.join("bundles")).unwrap().count();
    assert_eq!(
        bundles,
        statuses.iter().filter(|s| **s == "converted").count()
    );
    assert!(Path::new(&out2.join("bundles/xxxxxxx919 extra.json")).exists());
}
