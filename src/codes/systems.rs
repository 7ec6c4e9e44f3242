//! Code-system identity: every known spelling of a system is one [`CodeSystem`].
//!
//! The alias table is data (`policy/codes/systems.tsv`, each row with its source), compiled
//! in: both readers call [`identify`] (through [`CodeSystem::parse`]) and every rule compares
//! the result, so a rule never sees a spelling. Normalisation before the table lookup:
//! surrounding whitespace trimmed; ASCII case folded; a `urn:oid:` prefix removed; `https`
//! read as `http`; trailing `/` removed; a SNOMED CT edition or version URI
//! (`http://snomed.info/sct/<module>[/version/<yyyymmdd>]`) cut to `http://snomed.info/sct`.
//! Anything that is then neither an OID nor a URI (inner whitespace, control or invisible
//! characters, non-ASCII, a query or fragment) is [`CodeSystem::Invalid`].

use super::CodeSystem;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The alias table as shipped.
pub const SYSTEMS_TSV: &str = include_str!("../../policy/codes/systems.tsv");

/// Longest identifier accepted (an OID or URI longer than this is text).
const MAX_LEN: usize = 256;

/// One row of the table: the identity and the (normalised) alias.
fn rows(text: &str) -> impl Iterator<Item = (CodeSystem, String)> + '_ {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1) // header
        .filter_map(|l| {
            let mut f = l.split('\t');
            let identity = f.next()?.trim();
            let alias = f.next()?.trim();
            let system = match identity {
                "snomed" => CodeSystem::Snomed,
                "readv2" => CodeSystem::ReadV2,
                "ctv3" => CodeSystem::Ctv3,
                uri => CodeSystem::Other(uri.to_string()),
            };
            Some((system, key(alias)?))
        })
}

fn table() -> &'static HashMap<String, CodeSystem> {
    static TABLE: OnceLock<HashMap<String, CodeSystem>> = OnceLock::new();
    TABLE.get_or_init(|| rows(SYSTEMS_TSV).map(|(s, k)| (k, s)).collect())
}

/// The identity of a system identifier as written in a source.
pub fn identify(raw: &str) -> CodeSystem {
    let t = raw.trim();
    let Some(k) = key(t) else {
        return CodeSystem::Invalid;
    };
    if let Some(s) = table().get(&k) {
        return s.clone();
    }
    if is_oid(&k) {
        return CodeSystem::Other(format!("urn:oid:{k}"));
    }
    if is_uuid(&k) {
        return CodeSystem::Other(format!("urn:uuid:{k}"));
    }
    // An unknown URI is kept as written (trimmed): it is the source's identity for it.
    CodeSystem::Other(t.to_string())
}

/// The comparison key of an identifier, or `None` when it is not an identifier at all.
fn key(t: &str) -> Option<String> {
    let t = t.trim();
    if t.is_empty()
        || t.len() > MAX_LEN
        || !t.bytes().all(|b| b.is_ascii_graphic())
        || t.contains(['?', '#', '"', '<', '>', '\\', '^', '`', '{', '|', '}'])
    {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    if let Some(oid) = lower.strip_prefix("urn:oid:") {
        return is_oid(oid).then(|| oid.to_string());
    }
    if is_oid(&lower) || is_uuid(&lower) {
        return Some(lower);
    }
    if let Some(u) = lower.strip_prefix("urn:uuid:") {
        return is_uuid(u).then(|| u.to_string());
    }
    let (scheme, rest) = lower.split_once(':')?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b));
    if !scheme_ok || rest.is_empty() {
        return None;
    }
    let mut uri = match scheme {
        "http" | "https" => {
            let path = rest.strip_prefix("//")?;
            let host = path.split('/').next().unwrap_or("");
            if host.is_empty()
                || !host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b))
            {
                return None;
            }
            format!("http://{path}")
        }
        _ => lower.clone(),
    };
    while uri.ends_with('/') {
        uri.pop();
    }
    if let Some(rest) = uri.strip_prefix("http://snomed.info/sct/") {
        if snomed_edition_path(rest) {
            uri.truncate("http://snomed.info/sct".len());
        }
    }
    Some(uri)
}

/// `<module>` or `<module>/version/<yyyymmdd>`, the edition URI forms of SNOMED CT.
fn snomed_edition_path(rest: &str) -> bool {
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [module] => digits(module, 6..=18),
        [module, "version", date] => digits(module, 6..=18) && digits(date, 8..=8),
        _ => false,
    }
}

/// An ISO OID: arcs of digits without leading zeros, the first 0..=2.
pub fn is_oid(s: &str) -> bool {
    let mut arcs = s.split('.');
    let first_ok = matches!(arcs.next(), Some("0" | "1" | "2"));
    let mut n = 0;
    let rest_ok = arcs.all(|a| {
        n += 1;
        !a.is_empty()
            && a.len() <= 20
            && a.bytes().all(|b| b.is_ascii_digit())
            && (a == "0" || !a.starts_with('0'))
    });
    first_ok && n >= 1 && rest_ok && s.len() <= MAX_LEN
}

fn is_uuid(s: &str) -> bool {
    crate::fhir::ids::is_uuid(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_every_row_has_a_source() {
        let body: Vec<&str> = SYSTEMS_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .skip(1)
            .collect();
        assert!(body.len() >= 7);
        for l in &body {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "{l}");
            assert!(key(f[1]).is_some(), "alias is not an identifier: {l}");
            assert!(!f[2].trim().is_empty(), "row without a source: {l}");
        }
        assert_eq!(rows(SYSTEMS_TSV).count(), body.len());
    }

    #[test]
    fn every_spelling_of_snomed_is_snomed() {
        for s in [
            "2.16.840.1.113883.2.1.3.2.4.15",
            " 2.16.840.1.113883.2.1.3.2.4.15 ",
            "urn:oid:2.16.840.1.113883.2.1.3.2.4.15",
            "URN:OID:2.16.840.1.113883.2.1.3.2.4.15",
            "2.16.840.1.113883.6.96",
            "urn:oid:2.16.840.1.113883.6.96",
            "http://snomed.info/sct",
            "https://snomed.info/sct",
            "http://snomed.info/sct/",
            "HTTP://SNOMED.INFO/SCT",
            "https://snomed.info/sct//",
            "http://snomed.info/sct/83821000000107",
            "http://snomed.info/sct/999000041000000102/version/20250101",
            "https://snomed.info/sct/900000000000207008/version/20240701/",
        ] {
            assert_eq!(identify(s), CodeSystem::Snomed, "{s:?}");
        }
    }

    #[test]
    fn read_ctv3_and_local_systems_have_one_identity() {
        for s in [
            "2.16.840.1.113883.2.1.6.2",
            "urn:oid:2.16.840.1.113883.2.1.6.2",
            "http://read.info/readv2",
            "https://read.info/readv2/",
            "HTTP://READ.INFO/READV2",
        ] {
            assert_eq!(identify(s), CodeSystem::ReadV2, "{s:?}");
        }
        for s in [
            "2.16.840.1.113883.2.1.3.2.4.14",
            "urn:oid:2.16.840.1.113883.2.1.3.2.4.14",
            "http://read.info/ctv3",
            "https://read.info/ctv3/",
        ] {
            assert_eq!(identify(s), CodeSystem::Ctv3, "{s:?}");
        }
        let emis = CodeSystem::Other("https://fhir.hl7.org.uk/Id/emis-drug-codes".into());
        assert_eq!(identify("2.16.840.1.113883.2.1.6.9"), emis);
        assert_eq!(identify("urn:oid:2.16.840.1.113883.2.1.6.9"), emis);
        assert_eq!(identify("http://fhir.hl7.org.uk/Id/emis-drug-codes/"), emis);
        assert_eq!(
            identify("2.16.840.1.113883.2.1.6.4"),
            CodeSystem::Other("urn:oid:2.16.840.1.113883.2.1.6.4".into())
        );
    }

    #[test]
    fn text_is_not_a_system() {
        for s in [
            "",
            "   ",
            "CodeSystem",
            "Patient said no",
            "http://snomed.info/sct patient",
            "http://snomed.info/sct\u{200b}",
            "http://snomed.info/sct?fhir_vs",
            "urn:oid:2.16.840.1.113883.06.96",
            "urn:oid:hello",
            "http://",
            "http:///x",
            "3.1.2",
            "1.",
        ] {
            assert_eq!(identify(s), CodeSystem::Invalid, "{s:?}");
        }
        // Near misses are other systems (screened as unknown), never SNOMED CT's identity.
        assert_eq!(
            identify("http://snomed.info/sct/extra/path"),
            CodeSystem::Other("http://snomed.info/sct/extra/path".into())
        );
    }
}
