//! Code lists as reviewable data: a small TSV format (documented in `policy/README.md`).
//!
//! ```text
//! # name: consent
//! # source: where the list as a whole comes from
//! system <TAB> code <TAB> match <TAB> term <TAB> source <TAB> effect
//! readv2 <TAB> 93C0. <TAB> exact <TAB> Consent given for upload to local shared electronic record <TAB> <source> <TAB> permit
//! ```
//!
//! Lines starting with `#` are comments; `# key: value` comments before the header are kept as
//! metadata. The first other line is the column header: the five fixed columns, then any
//! extra columns, whose values each entry carries. Read v2 codes are compared on their first
//! five characters (`14L..00` == `14L..`); `prefix` rules match every code starting with the
//! prefix (trailing dots ignored), the longest prefix winning; exact rules win over prefix
//! rules. Prefix rules are for positional codes only: Read v2, and the part of CTV3 inherited
//! from Read v2 (CTV3-native codes start with `X` or `Y` and carry no positional hierarchy, so a
//! CTV3 prefix may not start with either). Codes are case-sensitive (Read `A` is not Read `a`).

// foldhash (hashbrown's default), not SipHash: the lists are the policy's own, looked up for every
// coding screened, and nothing iterates them.
use hashbrown::HashMap;

use super::snomed::parse_sctid;
use super::{CodeSystem, Coding};

/// The fixed leading columns of every code list.
pub const FIXED_COLUMNS: [&str; 5] = ["system", "code", "match", "term", "source"];

/// How an entry's code is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// The code itself (Read v2 compared on its first five characters).
    Exact,
    /// Every code starting with this prefix (Read v2, and CTV3 codes inherited from Read v2,
    /// which are hierarchical by position); the longest matching prefix wins.
    Prefix,
}

/// One row of a code list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The code system (`snomed`, `readv2`, `ctv3` in the file).
    pub system: CodeSystem,
    /// The normalised code (Read v2: 5 characters; prefix rules: without trailing dots).
    pub code: String,
    /// Whether the code matches exactly or as a prefix.
    pub match_kind: MatchKind,
    /// The code's term, for reviewers (never compared).
    pub term: String,
    /// Where this entry comes from (refset, guidance, supplier page), for review.
    pub source: String,
    /// 1-based line number in the list file.
    pub line: usize,
    /// Values of the extra columns, in header order (names in [`CodeList::extra_columns`]).
    extra: Vec<(String, String)>,
}

impl Entry {
    /// The value of an extra column, e.g. `effect`, `group`, `category`.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(k, _)| k == column)
            .map(|(_, v)| v.as_str())
    }
    /// Shorthand for `get("effect")` (consent lists).
    pub fn effect(&self) -> Option<&str> {
        self.get("effect")
    }
    /// Shorthand for `get("group")` (sensitive lists).
    pub fn group(&self) -> Option<&str> {
        self.get("group")
    }
    /// Shorthand for `get("category")` (category lists).
    pub fn category(&self) -> Option<&str> {
        self.get("category")
    }
    /// All extra columns as (name, value) pairs.
    pub fn extra(&self) -> &[(String, String)] {
        &self.extra
    }
}

/// A parsed code list with its lookup indexes.
#[derive(Debug, Clone, Default)]
pub struct CodeList {
    /// Where it came from (file path or embedded name), for messages.
    pub origin: String,
    /// `# key: value` metadata lines before the header (e.g. `name`, `source`).
    pub meta: Vec<(String, String)>,
    extra_columns: Vec<String>,
    entries: Vec<Entry>,
    exact: [HashMap<String, usize>; 3],
    prefix: [HashMap<String, usize>; 3],
    max_prefix_len: [usize; 3],
}

/// A code list that cannot be loaded. Names the origin and the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {message}")]
pub struct CodeListError {
    /// The file path or embedded name.
    pub origin: String,
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn sys_index(system: &CodeSystem) -> Option<usize> {
    match system {
        CodeSystem::Snomed => Some(0),
        CodeSystem::ReadV2 => Some(1),
        CodeSystem::Ctv3 => Some(2),
        CodeSystem::Other(_) | CodeSystem::Invalid => None,
    }
}

/// Normalise a code of `system` for comparison: trimmed; Read v2 cut to its first five
/// characters (the 2-character term suffix dropped).
pub fn normalise_code<'a>(system: &CodeSystem, code: &'a str) -> &'a str {
    let code = code.trim();
    match system {
        CodeSystem::ReadV2 => match code.char_indices().nth(5) {
            Some((i, _)) => &code[..i],
            None => code,
        },
        _ => code,
    }
}

impl CodeList {
    /// Names of the extra columns, in header order.
    pub fn extra_columns(&self) -> &[String] {
        &self.extra_columns
    }

    /// All entries, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A metadata value (`# name: ...` before the header).
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The entry matching one coding: an exact rule first, else the longest prefix rule.
    pub fn lookup(&self, coding: &Coding) -> Option<&Entry> {
        let s = sys_index(&coding.system)?;
        let code = normalise_code(&coding.system, &coding.code);
        if code.is_empty() {
            return None;
        }
        if let Some(&i) = self.exact[s].get(code) {
            return self.entries.get(i);
        }
        if self.prefix[s].is_empty() {
            return None;
        }
        // The longest prefix first: of at most `max_prefix_len` characters, then shorter at
        // each character boundary, down to one character.
        let longest = code
            .char_indices()
            .nth(self.max_prefix_len[s])
            .map_or(code.len(), |(i, _)| i);
        (1..=longest)
            .rev()
            .filter(|&end| code.is_char_boundary(end))
            .find_map(|end| self.prefix[s].get(&code[..end]))
            .and_then(|&i| self.entries.get(i))
    }

    /// The first coding (in the given order) that matches, and its entry.
    pub fn lookup_any(&self, codings: &[Coding]) -> Option<&Entry> {
        codings.iter().find_map(|c| self.lookup(c))
    }

    /// Check that every entry has a non-empty value in `column`, one of `allowed` (if given).
    pub fn require_column(&self, column: &str, allowed: &[&str]) -> Result<(), CodeListError> {
        if !self.extra_columns.iter().any(|c| c == column) {
            return Err(CodeListError {
                origin: self.origin.clone(),
                line: 0,
                message: format!("missing required column `{column}`"),
            });
        }
        for e in &self.entries {
            let v = e.get(column).unwrap_or("");
            if v.is_empty() || (!allowed.is_empty() && !allowed.contains(&v)) {
                return Err(CodeListError {
                    origin: self.origin.clone(),
                    line: e.line,
                    message: format!(
                        "column `{column}` has {v:?}, expected one of: {}",
                        allowed.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Parse a code list. `origin` names it in errors (a path or an embedded name).
pub fn parse_code_list(text: &str, origin: &str) -> Result<CodeList, CodeListError> {
    let err = |line: usize, message: String| CodeListError {
        origin: origin.to_string(),
        line,
        message,
    };
    let mut list = CodeList {
        origin: origin.to_string(),
        ..CodeList::default()
    };
    let mut header: Option<usize> = None; // number of columns
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line = if idx == 0 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if header.is_none() {
                if let Some((k, v)) = comment.split_once(':') {
                    let k = k.trim();
                    if !k.is_empty() && !k.contains(char::is_whitespace) {
                        list.meta.push((k.to_string(), v.trim().to_string()));
                    }
                }
            }
            continue;
        }
        let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
        let Some(ncols) = header else {
            if cols.len() < FIXED_COLUMNS.len() || cols[..5] != FIXED_COLUMNS {
                return Err(err(
                    line_no,
                    format!(
                        "header must start with the tab-separated columns: {}",
                        FIXED_COLUMNS.join(" ")
                    ),
                ));
            }
            for name in &cols[5..] {
                if name.is_empty()
                    || FIXED_COLUMNS.contains(name)
                    || list.extra_columns.iter().any(|c| c == name)
                {
                    return Err(err(
                        line_no,
                        format!("bad or repeated column name {name:?}"),
                    ));
                }
                list.extra_columns.push((*name).to_string());
            }
            header = Some(cols.len());
            continue;
        };
        if cols.len() != ncols {
            return Err(err(
                line_no,
                format!(
                    "expected {ncols} tab-separated columns, found {}",
                    cols.len()
                ),
            ));
        }
        let system = match cols[0] {
            "snomed" => CodeSystem::Snomed,
            "readv2" => CodeSystem::ReadV2,
            "ctv3" => CodeSystem::Ctv3,
            other => {
                return Err(err(
                    line_no,
                    format!("unknown system {other:?} (expected snomed, readv2 or ctv3)"),
                ))
            }
        };
        let match_kind = match cols[2] {
            "exact" => MatchKind::Exact,
            "prefix" => MatchKind::Prefix,
            other => {
                return Err(err(
                    line_no,
                    format!("unknown match {other:?} (expected exact or prefix)"),
                ))
            }
        };
        let raw_code = cols[1];
        if raw_code.is_empty() || raw_code.chars().any(char::is_whitespace) {
            return Err(err(line_no, "empty code or code with spaces".to_string()));
        }
        let code = match (&system, match_kind) {
            (CodeSystem::Snomed, MatchKind::Prefix) => {
                return Err(err(
                    line_no,
                    "prefix rules are for Read v2 and Read-derived CTV3 chapters only (SNOMED CT ids carry no hierarchy)".to_string(),
                ))
            }
            (CodeSystem::Ctv3, MatchKind::Prefix) if raw_code.starts_with(['X', 'Y']) => {
                return Err(err(
                    line_no,
                    "prefix rules are for Read v2 and Read-derived CTV3 chapters only (CTV3-native X/Y codes carry no hierarchy)".to_string(),
                ))
            }
            (CodeSystem::Snomed, MatchKind::Exact) => {
                parse_sctid(raw_code).map_err(|e| err(line_no, format!("bad SNOMED id: {e}")))?;
                raw_code.to_string()
            }
            (_, MatchKind::Exact) => {
                let n = raw_code.chars().count();
                let ok = match system {
                    CodeSystem::ReadV2 => n == 5 || n == 7,
                    _ => n == 5,
                };
                if !ok || !raw_code.is_ascii() {
                    return Err(err(
                        line_no,
                        format!(
                            "bad {} code {raw_code:?}: expected 5 characters{}",
                            system.short_name(),
                            if system == CodeSystem::ReadV2 {
                                " (or 7 with the term suffix)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
                normalise_code(&system, raw_code).to_string()
            }
            (_, MatchKind::Prefix) => {
                let p = raw_code.trim_end_matches('.');
                if p.is_empty() || p.len() > 5 || !raw_code.is_ascii() {
                    return Err(err(
                        line_no,
                        format!("bad prefix {raw_code:?}: 1 to 5 characters before the dots"),
                    ));
                }
                p.to_string()
            }
        };
        let Some(s) = sys_index(&system) else {
            return Err(err(line_no, "unsupported system".to_string()));
        };
        let map = match match_kind {
            MatchKind::Exact => &mut list.exact[s],
            MatchKind::Prefix => &mut list.prefix[s],
        };
        if let Some(&prev) = map.get(&code) {
            let prev_line = list.entries.get(prev).map_or(0, |e| e.line);
            return Err(err(
                line_no,
                format!(
                    "duplicate rule for {} {code} (first on line {prev_line})",
                    system.short_name()
                ),
            ));
        }
        map.insert(code.clone(), list.entries.len());
        if match_kind == MatchKind::Prefix {
            list.max_prefix_len[s] = list.max_prefix_len[s].max(code.chars().count());
        }
        let extra = list
            .extra_columns
            .iter()
            .cloned()
            .zip(cols[5..].iter().map(|v| (*v).to_string()))
            .collect();
        list.entries.push(Entry {
            system,
            code,
            match_kind,
            term: cols[3].to_string(),
            source: cols[4].to_string(),
            line: line_no,
            extra,
        });
    }
    if header.is_none() {
        return Err(err(
            text.lines().count(),
            "no column header line found".to_string(),
        ));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# name: sample\n# source: tests\n\
system\tcode\tmatch\tterm\tsource\tcategory\n\
readv2\tA....\tprefix\tInfectious diseases chapter\tt\tdiagnoses\n\
readv2\tA98..\tprefix\tGonococcal\tt\tsensitive-ish\n\
readv2\tA9\tprefix\tVenereal\tt\tvd\n\
readv2\t14L..00\texact\tH/O: drug allergy\tt\tallergy-header\n\
snomed\t90560007\texact\tGout\tt\tdiagnoses\n\
ctv3\tXE0Uc\texact\tSomething\tt\tdiagnoses\n\
\n# trailing comment\n";

    fn c(system: CodeSystem, code: &str) -> Coding {
        Coding::new(system, code)
    }

    #[test]
    fn parses_and_matches() {
        let l = parse_code_list(SAMPLE, "sample.tsv").unwrap();
        assert_eq!(l.len(), 6);
        assert_eq!(l.meta("name"), Some("sample"));
        assert_eq!(l.extra_columns(), ["category".to_string()]);
        let e = l.lookup(&c(CodeSystem::ReadV2, "14L..")).unwrap();
        assert_eq!(e.category(), Some("allergy-header"));
        assert_eq!(e.line, 7);
        assert!(l.lookup(&c(CodeSystem::ReadV2, "14L..00")).is_some());
        assert!(l.lookup(&c(CodeSystem::ReadV2, " 14L..11 ")).is_some());
        assert_eq!(
            l.lookup(&c(CodeSystem::Snomed, "90560007")).unwrap().term,
            "Gout"
        );
        assert!(l.lookup(&c(CodeSystem::Snomed, "9056000")).is_none());
        assert!(l.lookup(&c(CodeSystem::Ctv3, "XE0Uc")).is_some());
        assert!(l.lookup(&c(CodeSystem::Ctv3, "XE0UC")).is_none());
        // Longest prefix wins.
        assert_eq!(
            l.lookup(&c(CodeSystem::ReadV2, "A980.00"))
                .unwrap()
                .category(),
            Some("sensitive-ish")
        );
        assert_eq!(
            l.lookup(&c(CodeSystem::ReadV2, "A94.."))
                .unwrap()
                .category(),
            Some("vd")
        );
        assert_eq!(
            l.lookup(&c(CodeSystem::ReadV2, "A0..."))
                .unwrap()
                .category(),
            Some("diagnoses")
        );
        // Case-sensitive: lowercase a is the drug chapter.
        assert!(l.lookup(&c(CodeSystem::ReadV2, "a1...")).is_none());
        // Other systems never match.
        assert!(l
            .lookup(&c(CodeSystem::Other("urn:oid:1.2".into()), "90560007"))
            .is_none());
        assert!(l.lookup(&c(CodeSystem::ReadV2, "")).is_none());
    }

    #[test]
    fn ctv3_prefix_rules_match_read_derived_codes() {
        let text = "system\tcode\tmatch\tterm\tsource\tgroup\n\
ctv3\tA9...\tprefix\tVenereal\tt\tstd\n\
ctv3\tA98..\texact\tGonococcal\tt\tgono\n";
        let l = parse_code_list(text, "c.tsv").unwrap();
        assert_eq!(
            l.lookup(&c(CodeSystem::Ctv3, "A9810")).unwrap().group(),
            Some("std")
        );
        assert_eq!(
            l.lookup(&c(CodeSystem::Ctv3, "A98..")).unwrap().group(),
            Some("gono")
        );
        // The prefix is per system: a Read v2 code with the same characters does not match.
        assert!(l.lookup(&c(CodeSystem::ReadV2, "A9810")).is_none());
        assert!(l.lookup(&c(CodeSystem::Ctv3, "A8...")).is_none());
    }

    /// A prefix is tried at every character boundary, longest first, on codes with
    /// characters of more than one byte (the rules themselves are ASCII).
    #[test]
    fn prefixes_are_tried_at_character_boundaries_longest_first() {
        let text = "system\tcode\tmatch\tterm\tsource\tgroup\n\
ctv3\tA....\tprefix\tShort\tt\tshort\n\
ctv3\tA9...\tprefix\tLong\tt\tlong\n";
        let l = parse_code_list(text, "c.tsv").unwrap();
        let group = |code: &str| l.lookup(&c(CodeSystem::Ctv3, code)).and_then(Entry::group);
        assert_eq!(group("Aé"), Some("short"));
        assert_eq!(group("Aé9"), Some("short"));
        assert_eq!(group("A9é"), Some("long"));
        assert_eq!(group("A9ééé"), Some("long"));
        assert_eq!(group("A"), Some("short"));
        assert_eq!(group("éA9"), None);
        assert_eq!(group("B9é"), None);
    }

    #[test]
    fn lookup_any_takes_first_matching() {
        let l = parse_code_list(SAMPLE, "sample.tsv").unwrap();
        let codings = vec![
            c(
                CodeSystem::Other("urn:oid:2.16.840.1.113883.2.1.6.9".into()),
                "x",
            ),
            c(CodeSystem::Snomed, "90560007"),
            c(CodeSystem::ReadV2, "14L..00"),
        ];
        assert_eq!(l.lookup_any(&codings).unwrap().term, "Gout");
        assert!(l.lookup_any(&[]).is_none());
    }

    #[test]
    fn errors_carry_line_numbers() {
        let cases = [
            ("system\tcode\n", 1, "header"),
            ("x\n", 1, "header"),
            ("system\tcode\tmatch\tterm\tsource\nfoo\t1\texact\tt\ts\n", 2, "unknown system"),
            ("system\tcode\tmatch\tterm\tsource\nsnomed\t90560008\texact\tt\ts\n", 2, "bad SNOMED"),
            ("system\tcode\tmatch\tterm\tsource\nsnomed\t9056\tprefix\tt\ts\n", 2, "SNOMED CT ids carry no hierarchy"),
            ("system\tcode\tmatch\tterm\tsource\n\nreadv2\t14L\texact\tt\ts\n", 3, "expected 5"),
            ("system\tcode\tmatch\tterm\tsource\nreadv2\t14L..\tfuzzy\tt\ts\n", 2, "unknown match"),
            ("system\tcode\tmatch\tterm\tsource\nreadv2\t14L..\texact\tt\n", 2, "columns"),
            (
                "system\tcode\tmatch\tterm\tsource\nreadv2\t14L..\texact\tt\ts\nreadv2\t14L..00\texact\tt\ts\n",
                3,
                "duplicate",
            ),
            ("# only comments\n", 1, "no column header"),
            ("system\tcode\tmatch\tterm\tsource\nctv3\tX\tprefix\tt\ts\n", 2, "CTV3-native"),
            ("system\tcode\tmatch\tterm\tsource\nctv3\tYa1\tprefix\tt\ts\n", 2, "CTV3-native"),
        ];
        for (text, line, needle) in cases {
            let e = parse_code_list(text, "x.tsv").unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
            assert!(e.to_string().starts_with("x.tsv:"));
        }
    }

    #[test]
    fn require_column_checks_values() {
        let l = parse_code_list(SAMPLE, "sample.tsv").unwrap();
        assert!(l.require_column("category", &[]).is_ok());
        let e = l.require_column("category", &["diagnoses"]).unwrap_err();
        assert_eq!(e.line, 5);
        assert!(l.require_column("effect", &[]).is_err());
    }
}
