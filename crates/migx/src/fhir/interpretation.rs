//! Result interpretation flags in FHIR R4's vocabulary: `Observation.interpretation` is bound
//! (extensible) to HL7 v3 ObservationInterpretation. The mapping from the sources' flags
//! (GP2GP's own OID, HL7 v2 table 0078 in GP Connect STU3) is data:
//! `policy/codes/interpretation.tsv`, each row with its public source.

use super::r4::{CodeableConcept, Coding, Text};
use std::collections::HashMap;
use std::sync::OnceLock;

/// HL7 v3 ObservationInterpretation.
pub const V3_INTERPRETATION: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const TABLE: &str = include_str!("../../../../policy/codes/interpretation.tsv");

/// (source system URI, source code) -> (v3 code, display).
type Table = HashMap<(String, String), (String, String)>;

/// (source system URI, source code) -> (v3 code, display).
fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| parse(TABLE).unwrap_or_default())
}

fn parse(text: &str) -> Result<Table, String> {
    const FILE: &str = "interpretation.tsv";
    let header = [
        "source_system",
        "source_code",
        "v3_code",
        "v3_display",
        "source",
    ];
    let mut out = HashMap::new();
    for (n, cols) in crate::codes::tsv::rows(FILE, text, &header)? {
        let key = (cols[0].to_string(), cols[1].to_string());
        if out
            .insert(key, (cols[2].to_string(), cols[3].to_string()))
            .is_some()
        {
            return Err(format!("{FILE} line {n}: duplicate row"));
        }
    }
    Ok(out)
}

/// The v3 ObservationInterpretation coding for a source coding (already-v3 codings need none).
pub fn v3_coding(system: &str, code: &str) -> Option<Coding> {
    if system == V3_INTERPRETATION {
        return None;
    }
    table()
        .get(&(system.to_string(), code.to_string()))
        .map(|(v3, display)| Coding {
            extension: Vec::new(),
            system: Text::const_new(V3_INTERPRETATION),
            code: Text::from(v3.as_str()),
            display: Some(Text::from(display.as_str())),
        })
}

/// Add the v3 coding beside every mapped source coding of a CodeableConcept (kept first, so
/// the receiver sees the standard code; the source coding stays for fidelity). Returns
/// whether the concept now has a v3 coding (a flag without one is not written).
pub fn add_v3(concept: &mut CodeableConcept) -> bool {
    let Some(codings) = concept.coding.as_mut() else {
        return false;
    };
    let mut added: Vec<Coding> = Vec::new();
    for c in codings.iter() {
        if let Some(v) = v3_coding(&c.system, &c.code) {
            let present = codings
                .iter()
                .chain(added.iter())
                .any(|o| o.system == v.system && o.code == v.code);
            if !present {
                added.push(v);
            }
        }
    }
    for (k, v) in added.into_iter().enumerate() {
        codings.insert(k, v);
    }
    codings.iter().any(|c| c.system == V3_INTERPRETATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v3 ObservationInterpretation codes (FHIR R4 4.0.1) the table may map to.
    const V3_CODES: [&str; 9] = ["H", "HH", "HU", "L", "LL", "LU", "A", "AA", "N"];

    #[test]
    fn the_table_parses_and_maps_only_to_v3_codes() {
        let t = parse(TABLE).unwrap();
        assert!(t.len() >= 3);
        for ((system, _), (v3, _)) in &t {
            assert!(V3_CODES.contains(&v3.as_str()), "{v3}");
            assert!(system.starts_with("urn:oid:") || system.starts_with("http"));
        }
        assert!(parse("a\tb\n").is_err());
        assert!(
            parse("source_system\tsource_code\tv3_code\tv3_display\tsource\nx\ty\tH\tHigh\n")
                .is_err()
        );
    }

    #[test]
    fn gp2gp_high_is_v3_h_and_the_source_coding_stays() {
        let coding = |system: &str, code: &str| Coding {
            extension: Vec::new(),
            system: system.to_string().into(),
            code: code.to_string().into(),
            display: None,
        };
        let mut c = CodeableConcept::of(vec![coding("urn:oid:2.16.840.1.113883.2.1.6.5", "HI")]);
        assert!(add_v3(&mut c));
        assert_eq!(c.codings()[0].system, V3_INTERPRETATION);
        assert_eq!(c.codings()[0].code, "H");
        assert_eq!(c.codings()[1].code, "HI");
        // Unknown flags and v3 codings are left alone.
        let mut u = CodeableConcept::of(vec![
            coding(V3_INTERPRETATION, "H"),
            coding("urn:oid:1.2.3", "ZZ"),
        ]);
        let before = u.clone();
        assert!(add_v3(&mut u));
        assert_eq!(u, before);
        let mut local = CodeableConcept::of(vec![coding("urn:oid:1.2.3", "ZZ")]);
        assert!(!add_v3(&mut local), "an unmapped flag has no v3 coding");
    }
}
