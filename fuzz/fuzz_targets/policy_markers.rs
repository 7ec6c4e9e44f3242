//! The policy's leak property, fuzzed: the input picks the format, the positions and the
//! markers of a generated extract (the generator of `tests/e2e/common/positions.rs`, the one
//! list of positions), and supplies free bytes used as the marker's code-system spelling and
//! as text. Property: no marker string appears in anything convert produces (bundle, audit
//! items, error, patient reason); a dissent code anywhere withholds the patient; an item
//! carrying a sensitive code is never in the bundle.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migx::pipeline::{convert_file, ConvertSettings, Status};
use migx::policy::decide::PatientWithheld;
use migx_fuzz::{permissive_settings, scratch_dir};
use std::path::PathBuf;
use std::sync::OnceLock;

#[allow(dead_code)]
#[path = "../../tests/e2e/common/positions.rs"]
mod positions;
use positions::*;

struct Fixture {
    settings: ConvertSettings,
    dir: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        settings: permissive_settings(),
        dir: scratch_dir("markers"),
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let f = fixture();
    let markers = all_markers();
    let xml = data[0] & 1 == 0;
    let n_place = 1 + usize::from(data[1] % 3);
    let benign = usize::from(data[2] % 3);
    let salt = u32::from(data[3]) + 1;
    let picks: Vec<(usize, usize)> = data[4..]
        .chunks(2)
        .take(n_place)
        .map(|c| (usize::from(c[0]), usize::from(*c.get(1).unwrap_or(&0))))
        .collect();
    if picks.is_empty() {
        return;
    }
    // Free bytes after the picks: spliced in as an extra system spelling of the marker code
    // (XML attribute / JSON string safe), replacing the marker's own alias in the output.
    let rest = data.get(4 + 2 * n_place..).unwrap_or(&[]);
    let spelling: String = String::from_utf8_lossy(rest)
        .chars()
        .filter(|c| !matches!(c, '"' | '<' | '>' | '&' | '\\') && !c.is_control())
        .take(80)
        .collect();
    let (mut g, file) = if xml {
        let placements: Vec<Placement<XmlPos>> = picks
            .iter()
            .map(|&(p, m)| {
                let marker = markers[m % markers.len()];
                let mut pos = XML_POSITIONS[p % XML_POSITIONS.len()];
                if marker.sensitive() && !xml_has_victim(pos) {
                    pos = XmlPos::Code;
                }
                Placement { pos, marker }
            })
            .collect();
        (
            xml_extract(placements.len() + benign, &placements, salt),
            "x.xml",
        )
    } else {
        let placements: Vec<Placement<JsonPos>> = picks
            .iter()
            .map(|&(p, m)| {
                let marker = markers[m % markers.len()];
                let mut pos = JSON_POSITIONS[p % JSON_POSITIONS.len()];
                if marker.sensitive() && !json_has_victim(pos) {
                    pos = JsonPos::ObsCode;
                }
                Placement { pos, marker }
            })
            .collect();
        (
            stu3_extract(placements.len() + benign, &placements, salt),
            "x.json",
        )
    };
    if !spelling.is_empty() {
        // Give every placed marker code the fuzzed system spelling.
        const CODES: [&str; 4] = ["76272004", "A98..00", "416409005", "93C1.00"];
        if xml {
            let mut text = String::from_utf8_lossy(&g.bytes).into_owned();
            for alias in SNOMED_ALIASES.iter().chain(READ_ALIASES.iter()) {
                if alias.trim().is_empty() {
                    continue;
                }
                for code in CODES {
                    text = text.replace(
                        &format!(r#"code="{code}" codeSystem="{}""#, alias.trim()),
                        &format!(r#"code="{code}" codeSystem="{spelling}""#),
                    );
                }
            }
            g.bytes = text.into_bytes();
        } else if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&g.bytes) {
            fn walk(v: &mut serde_json::Value, spelling: &str) {
                match v {
                    serde_json::Value::Object(o) => {
                        if o.get("code")
                            .and_then(|c| c.as_str())
                            .is_some_and(|c| CODES.contains(&c))
                        {
                            o.insert("system".into(), spelling.into());
                        }
                        for x in o.values_mut() {
                            walk(x, spelling);
                        }
                    }
                    serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, spelling)),
                    _ => {}
                }
            }
            walk(&mut v, &spelling);
            g.bytes = serde_json::to_vec(&v).unwrap_or_default();
        }
    }
    let path = f.dir.join(file);
    if std::fs::write(&path, &g.bytes).is_err() {
        return;
    }
    let c = convert_file(&path, &f.settings);
    let bundle = c
        .bundle
        .as_ref()
        .and_then(|b| serde_json::to_string(b).ok())
        .unwrap_or_default();
    let everything = format!("{bundle}\n{:?}\n{:?}\n{:?}", c.items, c.error, c.withheld);
    for s in &g.forbidden {
        assert!(!everything.contains(s.as_str()), "{s:?} got out");
    }
    if g.dissent {
        assert_eq!(c.status, Status::Withheld, "{:?}", c.error);
        assert_eq!(c.withheld, Some(PatientWithheld::DissentRecorded));
        return;
    }
    assert_eq!(
        c.status,
        Status::Converted,
        "{:?} {:?}",
        c.error,
        c.withheld
    );
    for id in &g.withheld_ids {
        assert!(!bundle.contains(id.as_str()), "sensitive item {id} shared");
    }
});
