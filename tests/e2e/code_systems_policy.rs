//! Issue 13.1: a site policy names its own code-system alias table (`code_systems`), which
//! both readers then use; a malformed table refuses the run before anything is written.

use crate::common;
use common::positions::*;
use common::*;
use std::path::Path;

/// An unknown system in the generated extracts, which the site's table files as SNOMED CT.
const LOCAL: &str = "urn:oid:1.2.826.0.1285.99.1";

fn site_policy(dir: &Path, table: &str) -> std::path::PathBuf {
    let template = run(&["policy", "template"]);
    assert_eq!(template.status.code(), Some(0));
    let mut v: serde_json::Value = serde_json::from_slice(&template.stdout).unwrap();
    v["code_systems"] = "site-systems.tsv".into();
    std::fs::write(dir.join("site-systems.tsv"), table).unwrap();
    let p = dir.join("site-policy.json");
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    p
}

/// Every (system, code) pair of the bundles' codings.
fn codings(out: &Path) -> Vec<(String, String)> {
    fn walk(v: &serde_json::Value, acc: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(o) => {
                if let (Some(s), Some(c)) = (
                    o.get("system").and_then(|s| s.as_str()),
                    o.get("code").and_then(|c| c.as_str()),
                ) {
                    acc.push((s.to_string(), c.to_string()));
                }
                o.values().for_each(|x| walk(x, acc));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, acc)),
            _ => {}
        }
    }
    let mut acc = Vec::new();
    for (_, bytes) in files_under(&out.join("bundles")) {
        walk(&serde_json::from_slice(&bytes).unwrap(), &mut acc);
    }
    acc
}

#[test]
fn a_site_alias_table_decides_what_a_system_is_and_a_bad_row_refuses_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    assert_eq!(SNOMED_ALIASES[8], LOCAL);
    // A coded diagnosis (38341003, in the categories list) under the local system, in the
    // XML code position and the GP Connect Condition code.
    let g = xml_extract(
        1,
        &[Placement {
            pos: XmlPos::Code,
            marker: Marker::SensitiveSnomed(8),
        }],
        900,
    );
    let x = String::from_utf8(g.bytes)
        .unwrap()
        .replace("76272004", "38341003");
    assert!(x.contains("1.2.826.0.1285.99.1"));
    std::fs::write(input.join("x.xml"), x).unwrap();
    let g = gpconnect_extract(
        1,
        &[Placement {
            pos: JsonPos::ObsCode,
            marker: Marker::SensitiveSnomed(8),
        }],
        901,
    );
    let j = String::from_utf8(g.bytes)
        .unwrap()
        .replace("76272004", "38341003");
    std::fs::write(input.join("j.json"), j).unwrap();

    let shipped = std::fs::read_to_string(root().join("policy/codes/systems.tsv")).unwrap();
    let table = format!(
        "{shipped}snomed\t{LOCAL}\tsite: the local SNOMED CT OID of this practice's system\n"
    );
    let policy = site_policy(dir.path(), &table);
    let snomed = ("http://snomed.info/sct".to_string(), "38341003".to_string());

    let with = dir.path().join("with");
    let o = convert_permit_all(&input, &with, &["--policy", policy.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let found = codings(&with);
    assert_eq!(
        found.iter().filter(|c| **c == snomed).count(),
        2,
        "{found:?}"
    );
    assert!(!found.iter().any(|(s, _)| s.contains("1.2.826.0.1285.99.1")));
    assert_bundles_valid(&with);

    // The embedded table does not know the local system: never read as SNOMED CT.
    let without = dir.path().join("without");
    let o = convert_permit_all(&input, &without, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!codings(&without).contains(&snomed));

    // One malformed row: exit 2, the file and line named, nothing written.
    let bad = format!("{table}snomed\tlocal snomed\tsite\n");
    let policy = site_policy(dir.path(), &bad);
    let refused = dir.path().join("refused");
    let o = convert_permit_all(&input, &refused, &["--policy", policy.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("site-systems.tsv"), "{err}");
    assert!(
        err.contains(&format!("line {}:", bad.lines().count())),
        "{err}"
    );
    assert!(!refused.exists());
    let check = run(&["policy", "check", policy.to_str().unwrap()]);
    assert_ne!(check.status.code(), Some(0));
}
