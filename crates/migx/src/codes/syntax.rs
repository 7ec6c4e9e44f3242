//! The syntax each code system defines for its codes. A code is emitted only in that syntax;
//! anything else in a `code` attribute (text after a Read code, a phrase in a local code) is
//! dropped and audited as `free-text`.
//!
//! - SNOMED CT: an SCTID (digits, 6..18, partition, Verhoeff check digit; see
//!   [`crate::codes::snomed`]); only concept and description ids, never other kinds.
//! - Read v2: the 5-character concept (letters and digits, then trailing `.` padding),
//!   optionally followed in the source by a 2-character term code (`14L..00`). Only the
//!   concept is emitted.
//! - CTV3: 5 characters of the same shape.
//! - Other systems: a token of letters, digits and `.-_:/+` (at most 64), no whitespace.

use super::snomed::{parse_sctid, SctIdKind};
use super::CodeSystem;

/// The code as it may be emitted, or `None` when it is not in its system's syntax.
pub fn emittable_code<'a>(system: &CodeSystem, code: &'a str) -> Option<&'a str> {
    match system {
        CodeSystem::Snomed => match parse_sctid(code) {
            Ok(id) if matches!(id.kind, SctIdKind::Concept | SctIdKind::Description) => Some(code),
            _ => None,
        },
        CodeSystem::ReadV2 => read_v2_concept(code),
        CodeSystem::Ctv3 => (code.len() == 5 && read_shape(code)).then_some(code),
        CodeSystem::Other(_) => local_token(code).then_some(code),
        CodeSystem::Invalid => None,
    }
}

/// The 5-character concept of a Read v2 code (`14L..00` -> `14L..`), or `None`.
pub fn read_v2_concept(code: &str) -> Option<&str> {
    if !code.is_ascii() || !(code.len() == 5 || code.len() == 7) {
        return None;
    }
    let (concept, term) = code.split_at(5);
    (read_shape(concept) && term.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(concept)
}

/// Letters and digits, then only `.` padding; at least one letter or digit.
fn read_shape(code: &str) -> bool {
    let b = code.as_bytes();
    let n = b.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
    n >= 1 && b[n..].iter().all(|&c| c == b'.')
}

fn local_token(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:/+".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_system_has_its_syntax() {
        let other = CodeSystem::Other("urn:oid:2.16.840.1.113883.2.1.6.9".into());
        for (sys, code, out) in [
            (CodeSystem::ReadV2, "14L..00", Some("14L..")),
            (CodeSystem::ReadV2, "A98..", Some("A98..")),
            (CodeSystem::ReadV2, "13WF100", Some("13WF1")),
            (CodeSystem::ReadV2, "a....", Some("a....")),
            (CodeSystem::ReadV2, "H33..00 partner at clinic", None),
            (CodeSystem::ReadV2, "H33..0", None),
            (CodeSystem::ReadV2, "H.3..", None),
            (CodeSystem::ReadV2, ".....", None),
            (CodeSystem::ReadV2, "H33 .", None),
            (CodeSystem::Ctv3, "XaZ89", Some("XaZ89")),
            (CodeSystem::Ctv3, "14L..", Some("14L..")),
            (CodeSystem::Ctv3, "XaZ8900", None),
            (CodeSystem::Snomed, "76272004", Some("76272004")),
            (CodeSystem::Snomed, "150085018", Some("150085018")),
            (CodeSystem::Snomed, "76272005", None),
            (CodeSystem::Snomed, "76272004 see letter", None),
            (other.clone(), "RACA57NEMIS", Some("RACA57NEMIS")),
            (
                other.clone(),
                "ALLERGY-READ2-14LK",
                Some("ALLERGY-READ2-14LK"),
            ),
            (other, "told by partner", None),
            (CodeSystem::Invalid, "76272004", None),
        ] {
            assert_eq!(emittable_code(&sys, code), out, "{sys:?} {code:?}");
        }
    }
}
