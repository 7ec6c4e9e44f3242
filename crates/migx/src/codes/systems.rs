//! Code-system identity: every known spelling of a system is one [`CodeSystem`].
//!
//! The alias table is data (`policy/codes/systems.tsv`, each row with its source), compiled
//! in as the default; a policy may name its own table (`code_systems`, see [`AliasTable`]),
//! which the pipeline makes the active table while it reads an input ([`with_table`]). Both
//! readers call [`identify`] (through [`CodeSystem::parse`]) and every rule compares the
//! result, so a rule never sees a spelling. Normalisation before the table lookup:
//! surrounding whitespace trimmed; ASCII case folded; a `urn:oid:` prefix removed; `https`
//! read as `http`; trailing `/` removed; a SNOMED CT edition or version URI
//! (`http://snomed.info/sct/<module>[/version/<yyyymmdd>]`) cut to `http://snomed.info/sct`.
//! Anything that is then neither an OID nor a URI (inner whitespace, control or invisible
//! characters, non-ASCII, a query or fragment) is [`CodeSystem::Invalid`].

use super::CodeSystem;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The alias table as shipped.
pub const SYSTEMS_TSV: &str = include_str!("../../../../policy/codes/systems.tsv");

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

/// The spellings every alias table must keep as their identity: the NHS OIDs and FHIR URIs
/// of SNOMED CT, Read v2 and CTV3 (a table that lost them would misfile the commonest codes).
const REQUIRED: [(&str, &str); 6] = [
    (super::OID_SNOMED, "snomed"),
    (super::URI_SNOMED, "snomed"),
    (super::OID_READ_V2, "readv2"),
    (super::URI_READ_V2, "readv2"),
    (super::OID_CTV3, "ctv3"),
    (super::URI_CTV3, "ctv3"),
];

/// A checked alias table: normalised alias -> identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTable {
    map: HashMap<String, CodeSystem>,
}

/// Why an alias table cannot be used: the 1-based line (0: the table as a whole) and what is
/// wrong. Messages name migx's own column names, never a row's content beyond its alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTableError {
    /// 1-based line of the problem (0: the whole table).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl AliasTable {
    /// Parse and check a table in the format of `policy/codes/systems.tsv`: `#` lines, then
    /// the header `identity<TAB>alias<TAB>source`, then one row per alias. Fails closed: a
    /// header other than that, a row without exactly three fields, an identity that is not
    /// `snomed`/`readv2`/`ctv3` or an OID/URI, an alias that is not an OID or URI, an empty
    /// source, an alias given twice, or a table that drops one of the canonical OIDs and URIs
    /// of SNOMED CT, Read v2 and CTV3 (or files it under another identity) is refused.
    pub fn parse(text: &str) -> Result<AliasTable, AliasTableError> {
        let err = |line: usize, message: String| AliasTableError { line, message };
        let mut map: HashMap<String, CodeSystem> = HashMap::new();
        let mut header = false;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim_end_matches('\r');
            if l.starts_with('#') || l.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = l.split('\t').collect();
            if !header {
                if f.iter()
                    .map(|c| c.trim().trim_start_matches('\u{feff}'))
                    .collect::<Vec<_>>()
                    != ["identity", "alias", "source"]
                {
                    return Err(err(
                        line,
                        "expected the header identity<TAB>alias<TAB>source".to_string(),
                    ));
                }
                header = true;
                continue;
            }
            if f.len() != 3 {
                return Err(err(
                    line,
                    format!("expected 3 tab-separated fields, found {}", f.len()),
                ));
            }
            let identity = match f[0].trim() {
                "snomed" => CodeSystem::Snomed,
                "readv2" => CodeSystem::ReadV2,
                "ctv3" => CodeSystem::Ctv3,
                other if key(other).is_some() => CodeSystem::Other(other.to_string()),
                _ => {
                    return Err(err(
                        line,
                        "identity is not snomed, readv2, ctv3 or an OID or URI".to_string(),
                    ))
                }
            };
            let Some(alias) = key(f[1]) else {
                return Err(err(line, "alias is not an OID or URI".to_string()));
            };
            if f[2].trim().is_empty() {
                return Err(err(line, "row without a source".to_string()));
            }
            if map.insert(alias.clone(), identity).is_some() {
                return Err(err(
                    line,
                    format!("alias {alias} is given twice (after normalisation)"),
                ));
            }
        }
        if !header {
            return Err(err(0, "no header: not an alias table".to_string()));
        }
        for (alias, identity) in REQUIRED {
            let found = key(alias).and_then(|k| map.get(&k));
            if found.map(CodeSystem::short_name) != Some(identity) {
                return Err(err(
                    0,
                    format!(
                        "the table must keep {alias} as {identity} (add rows, do not remove these)"
                    ),
                ));
            }
        }
        Ok(AliasTable { map })
    }

    /// The table shipped in the binary (`policy/codes/systems.tsv`).
    pub fn embedded() -> &'static Arc<AliasTable> {
        static TABLE: OnceLock<Arc<AliasTable>> = OnceLock::new();
        TABLE.get_or_init(|| {
            Arc::new(AliasTable {
                map: rows(SYSTEMS_TSV).map(|(s, k)| (k, s)).collect(),
            })
        })
    }

    /// Number of aliases.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the table is empty (a checked table never is).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The identity of a system identifier as written in a source, under this table.
    pub fn identify(&self, raw: &str) -> CodeSystem {
        identify_in(&self.map, raw)
    }
}

thread_local! {
    /// The table [`identify`] uses on this thread (`None`: the embedded one).
    static ACTIVE: RefCell<Option<Arc<AliasTable>>> = const { RefCell::new(None) };
}

/// Run `f` with `table` as the alias table of [`identify`] (and so of both readers) on this
/// thread; the previous table is restored afterwards, also when `f` panics.
pub fn with_table<R>(table: &Arc<AliasTable>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<AliasTable>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            ACTIVE.with(|a| *a.borrow_mut() = prev);
        }
    }
    let prev = ACTIVE.with(|a| a.borrow_mut().replace(Arc::clone(table)));
    let _restore = Restore(prev);
    f()
}

/// The identity of a system identifier as written in a source, under the active table
/// ([`with_table`]; the embedded table otherwise).
pub fn identify(raw: &str) -> CodeSystem {
    ACTIVE.with(|a| match a.borrow().as_deref() {
        Some(t) => t.identify(raw),
        None => AliasTable::embedded().identify(raw),
    })
}

fn identify_in(table: &HashMap<String, CodeSystem>, raw: &str) -> CodeSystem {
    let t = raw.trim();
    let Some(k) = key(t) else {
        return CodeSystem::Invalid;
    };
    if let Some(s) = table.get(&k) {
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
    crate::digest::is_uuid(s)
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
    fn the_shipped_table_passes_the_checks_a_policy_table_must_pass() {
        let t = AliasTable::parse(SYSTEMS_TSV).unwrap();
        assert_eq!(&t, AliasTable::embedded().as_ref());
    }

    const HEADER: &str = "# name: site\nidentity\talias\tsource\n";

    #[test]
    fn a_policy_table_is_refused_unless_every_row_is_well_formed() {
        let base: String = SYSTEMS_TSV
            .lines()
            .filter(|l| !l.starts_with('#'))
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect();
        let ok = format!("{HEADER}{base}");
        assert!(AliasTable::parse(&ok).is_ok());
        let n = ok.lines().count();
        for (row, line, needle) in [
            ("snomed\t1.2.3.4\n", n + 1, "3 tab-separated fields"),
            ("snomed\t1.2.3.4\t\n", n + 1, "without a source"),
            ("snomed\tsome text\tlocal\n", n + 1, "not an OID or URI"),
            ("snowmed\t1.2.3.4\tlocal\n", n + 1, "identity"),
            (
                "ctv3\thttps://snomed.info/sct/\tlocal\n",
                n + 1,
                "given twice",
            ),
            (
                "snomed\t1.2.3.4\tlocal\textra\n",
                n + 1,
                "3 tab-separated fields",
            ),
        ] {
            let e = AliasTable::parse(&format!("{ok}{row}")).unwrap_err();
            assert_eq!(e.line, line, "{row:?}: {e:?}");
            assert!(e.message.contains(needle), "{row:?}: {e:?}");
        }
        let e = AliasTable::parse("identity\talias\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert_eq!(AliasTable::parse("# only comments\n").unwrap_err().line, 0);
        // Dropping a canonical spelling, or filing it under another identity, is refused.
        let dropped: String = ok
            .lines()
            .filter(|l| !l.contains("2.16.840.1.113883.2.1.3.2.4.14"))
            .map(|l| format!("{l}\n"))
            .collect();
        let e = AliasTable::parse(&dropped).unwrap_err();
        assert!(
            e.message.contains("2.16.840.1.113883.2.1.3.2.4.14"),
            "{e:?}"
        );
        let moved = ok.replace(
            "readv2\thttp://read.info/readv2",
            "ctv3\thttp://read.info/readv2",
        );
        assert!(AliasTable::parse(&moved).is_err());
    }

    #[test]
    fn the_active_table_decides_while_it_is_active() {
        let local = "urn:oid:1.2.826.0.1.99999.1";
        let other = CodeSystem::Other("urn:oid:1.2.826.0.1.99999.1".into());
        assert_eq!(identify(local), other);
        let text = format!("{SYSTEMS_TSV}snomed\t1.2.826.0.1.99999.1\tsite: local SNOMED CT OID\n");
        let t = Arc::new(AliasTable::parse(&text).unwrap());
        assert_eq!(with_table(&t, || identify(local)), CodeSystem::Snomed);
        assert_eq!(
            with_table(&t, || identify("2.16.840.1.113883.2.1.6.2")),
            CodeSystem::ReadV2
        );
        // Restored afterwards, also after a panic inside.
        assert_eq!(identify(local), other);
        let r = std::panic::catch_unwind(|| with_table(&t, || panic!("inside")));
        assert!(r.is_err());
        assert_eq!(identify(local), other);
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
