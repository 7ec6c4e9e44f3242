//! Point-of-care consent decisions: the CSV the gateway records when it asks the patient,
//! or one operator-asserted decision for fixture and CI runs (`--consent-all`).
//!
//! Columns: `nhs_number,decision,recorded_at,requester_ods,requester_name,purpose`, optionally
//! followed by `requester_person` (who received the record; recorded in the access audit).
//! The file is checked, not trusted: a bad row is an error naming its line (never the NHS
//! number in full), and the patient it concerns is withheld (`consent-row-invalid`). NHS
//! numbers are read in the forms spreadsheets write them ([`normalise_nhs_number`]: spaced
//! groups, a leading apostrophe, a trailing `.0`, a `+`, invisible and full-width
//! characters). A row whose NHS number cannot be read as a valid NHS number names no patient
//! migx can find, yet it may be the later `deny` of any of them: then no patient's record is
//! disclosed from this file (every lookup is a bad row), as when the file cannot be read to
//! its end.
//! Several rows for one patient: the latest by `recorded_at` wins; two different decisions
//! at the same instant: deny, in either row order.

use crate::nhs::{is_valid_nhs_number, mask_nhs_number, normalise_nhs_number};
use chrono::{DateTime, FixedOffset};
use std::collections::HashMap;
use std::path::Path;

/// The patient's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentDecision {
    /// The patient agreed to share the record with the requester for this purpose.
    Permit,
    /// The patient refused; the whole record is withheld (`consent-denied`).
    Deny,
}

impl ConsentDecision {
    /// The value as written in the CSV and the audit (`permit`/`deny`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentDecision::Permit => "permit",
            ConsentDecision::Deny => "deny",
        }
    }
}

/// Where a decision came from: a consent file row, or the operator's `--consent-all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentOrigin {
    /// A row of the consent CSV.
    FileRow {
        /// 1-based line number in the file.
        line: u64,
    },
    /// `--consent-all`, asserted by the operator for fixture and CI runs.
    OperatorAssertion,
}

/// One decision for one patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// What the patient decided.
    pub decision: ConsentDecision,
    /// When it was recorded; `None` for an operator assertion (valid for the whole run).
    pub recorded_at: Option<DateTime<FixedOffset>>,
    /// ODS code of the organisation asking for the record; it must be a permitted requester
    /// (policy or `--permit-requester`).
    pub requester_ods: String,
    /// That organisation's name, when given.
    pub requester_name: Option<String>,
    /// The person who received the record (optional `requester_person` column).
    pub requester_person: Option<String>,
    /// `TREAT` or `ETREAT` (v3 ActReason).
    pub purpose: String,
    /// Where this decision came from.
    pub origin: ConsentOrigin,
}

/// A bad consent row (the message never holds a full NHS number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line of the bad row.
    pub line: u64,
    /// What is wrong with it (the NHS number masked).
    pub message: String,
    /// The row names no readable patient, so every patient is withheld; otherwise only the
    /// patient it names.
    pub withholds_everyone: bool,
}

/// Everything the run knows about point-of-care consent.
#[derive(Debug, Clone, Default)]
pub struct ConsentBook {
    by_patient: HashMap<String, ConsentRecord>,
    /// Patients named by a bad row: withheld whatever else the file says.
    tainted: HashMap<String, u64>,
    /// `--consent-all`: one decision for everyone.
    all: Option<ConsentRecord>,
    /// Rows that could not be used, in file order.
    pub errors: Vec<RowError>,
    /// A row that names no readable patient (its NHS number cannot be read), or the file
    /// could not be read to its end: that row may be the latest decision of any patient, so
    /// every lookup is a bad row, naming this line (fail closed).
    unidentified: Option<u64>,
}

/// What the book says for one patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// A usable decision for this patient.
    Found(&'a ConsentRecord),
    /// A row for this patient was malformed (line number).
    BadRow(u64),
    /// No decision for this patient (`no-consent-decision`).
    None,
}

/// A usage problem with the consent source as a whole (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ConsentFileError {
    /// The file could not be opened or read.
    #[error("cannot read consent file {path}: {source}")]
    Io {
        /// The consent file, as given.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The header row is missing or not the expected columns.
    #[error("consent file {path}: header must be `nhs_number,decision,recorded_at,requester_ods,requester_name,purpose` (optionally followed by `,requester_person`)")]
    Header {
        /// The consent file, as given.
        path: String,
    },
    /// A line could not be read as CSV.
    #[error("consent file {path}: line {line}: {message}")]
    Csv {
        /// The consent file, as given.
        path: String,
        /// 1-based line of the problem.
        line: u64,
        /// What is wrong (never an NHS number in full).
        message: String,
    },
}

/// The required columns, in order. An optional 7th column `requester_person` names the
/// person at the requesting organisation who received the record (recorded in the access
/// audit); files without it stay valid.
pub const HEADER: [&str; 6] = [
    "nhs_number",
    "decision",
    "recorded_at",
    "requester_ods",
    "requester_name",
    "purpose",
];
/// The optional 7th column.
pub const PERSON_COLUMN: &str = "requester_person";

/// The patient a row's NHS number field names, when it can be read as one: the normalised
/// 10 digits, passing the modulus 11 check unless test identities are allowed.
fn patient_key(field: &str, allow_test: bool) -> Option<String> {
    normalise_nhs_number(field).filter(|n| allow_test || is_valid_nhs_number(n))
}

/// ODS organisation codes: 3 to 10 upper-case letters and digits (e.g. `Y02345`, `RX1`).
pub fn is_ods_code(s: &str) -> bool {
    (3..=10).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl ConsentBook {
    /// One operator-asserted decision for every patient.
    pub fn all(decision: ConsentDecision, requester_ods: &str, purpose: &str) -> ConsentBook {
        ConsentBook {
            all: Some(ConsentRecord {
                decision,
                recorded_at: None,
                requester_ods: requester_ods.to_string(),
                requester_name: None,
                requester_person: None,
                purpose: purpose.to_string(),
                origin: ConsentOrigin::OperatorAssertion,
            }),
            ..ConsentBook::default()
        }
    }

    /// Whether decisions are an operator assertion rather than patients' answers.
    pub fn is_operator_assertion(&self) -> bool {
        self.all.is_some()
    }

    /// Read a consent CSV file.
    pub fn from_file(
        path: &Path,
        allow_test_identities: bool,
    ) -> Result<ConsentBook, ConsentFileError> {
        let text = std::fs::read(path).map_err(|source| ConsentFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string(), allow_test_identities)
    }

    /// Parse consent CSV bytes; `origin` names the file in errors.
    pub fn parse(
        bytes: &[u8],
        origin: &str,
        allow_test_identities: bool,
    ) -> Result<ConsentBook, ConsentFileError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let headers = rdr.headers().map_err(|e| ConsentFileError::Csv {
            path: origin.to_string(),
            line: 1,
            message: e.to_string(),
        })?;
        let cols: Vec<&str> = headers.iter().collect();
        let width = if cols == HEADER {
            6
        } else if cols.len() == 7 && cols[..6] == HEADER && cols[6] == PERSON_COLUMN {
            7
        } else {
            return Err(ConsentFileError::Header {
                path: origin.to_string(),
            });
        };
        let mut book = ConsentBook::default();
        let mut raw = csv::ByteRecord::new();
        loop {
            let line = rdr.position().line();
            match rdr.read_byte_record(&mut raw) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    // Unreadable CSV (e.g. an unterminated quote): the rest of the file cannot
                    // be trusted to split into the right rows, so stop here; every patient
                    // named so far stays as read, and the error is reported.
                    let line = e.position().map(|p| p.line()).unwrap_or(line);
                    book.errors.push(RowError {
                        line,
                        message: format!(
                            "line {line}: unreadable CSV; the rest of the file is ignored"
                        ),
                        withholds_everyone: true,
                    });
                    book.unidentified.get_or_insert(line);
                    break;
                }
            }
            let line = raw.position().map(|p| p.line()).unwrap_or(line);
            let nhs_field = raw
                .get(0)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            let Some(nhs) = patient_key(&nhs_field, allow_test_identities) else {
                let message = match normalise_nhs_number(&nhs_field) {
                    Some(n) => format!(
                        "line {line}: NHS number {} fails the modulus 11 check",
                        mask_nhs_number(&n)
                    ),
                    None => format!("line {line}: nhs_number cannot be read as 10 digits"),
                };
                book.errors.push(RowError {
                    line,
                    message,
                    withholds_everyone: true,
                });
                book.unidentified.get_or_insert(line);
                continue;
            };
            let parsed = match csv::StringRecord::from_byte_record(raw.clone()) {
                Ok(row) => parse_row(&row, line, width),
                Err(_) => Err(format!("line {line}: not valid UTF-8")),
            };
            match parsed {
                Ok(rec) => book.insert(nhs, rec),
                Err(message) => {
                    book.errors.push(RowError {
                        line,
                        message,
                        withholds_everyone: false,
                    });
                    book.tainted.entry(nhs).or_insert(line);
                }
            }
        }
        Ok(book)
    }

    fn insert(&mut self, nhs: String, rec: ConsentRecord) {
        match self.by_patient.get_mut(&nhs) {
            None => {
                self.by_patient.insert(nhs, rec);
            }
            Some(old) => {
                let (a, b) = (old.recorded_at, rec.recorded_at);
                if b > a {
                    *old = rec;
                } else if b == a && old.decision != rec.decision {
                    // Conflicting answers at one instant: deny.
                    if rec.decision == ConsentDecision::Deny {
                        *old = rec;
                    }
                }
            }
        }
    }

    /// The decision for a patient.
    pub fn lookup(&self, nhs_number: &str) -> Lookup<'_> {
        if let Some(all) = &self.all {
            return Lookup::Found(all);
        }
        if let Some(&line) = self.tainted.get(nhs_number) {
            return Lookup::BadRow(line);
        }
        if let Some(line) = self.unidentified {
            return Lookup::BadRow(line);
        }
        match self.by_patient.get(nhs_number) {
            Some(r) => Lookup::Found(r),
            None => Lookup::None,
        }
    }
}

/// The rest of a row whose NHS number was read (see [`patient_key`]).
fn parse_row(row: &csv::StringRecord, line: u64, width: usize) -> Result<ConsentRecord, String> {
    if row.len() != width {
        return Err(format!(
            "line {line}: expected {width} fields, found {}",
            row.len()
        ));
    }
    let decision = match &row[1] {
        "permit" => ConsentDecision::Permit,
        "deny" => ConsentDecision::Deny,
        _ => return Err(format!("line {line}: decision must be permit or deny")),
    };
    let recorded_at = DateTime::parse_from_rfc3339(&row[2])
        .map_err(|_| format!("line {line}: recorded_at must be ISO 8601 with an offset, e.g. 2026-03-14T09:55:00+00:00"))?;
    let ods = &row[3];
    if !is_ods_code(ods) {
        return Err(format!(
            "line {line}: requester_ods is not an ODS code (3 to 10 upper-case letters and digits)"
        ));
    }
    let purpose = &row[5];
    if !matches!(purpose, "TREAT" | "ETREAT") {
        return Err(format!("line {line}: purpose must be TREAT or ETREAT"));
    }
    let optional = |i: usize| {
        row.get(i)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(ConsentRecord {
        decision,
        recorded_at: Some(recorded_at),
        requester_ods: ods.to_string(),
        requester_name: optional(4),
        requester_person: optional(6),
        purpose: purpose.to_string(),
        origin: ConsentOrigin::FileRow { line },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "nhs_number,decision,recorded_at,requester_ods,requester_name,purpose\n";

    fn book(rows: &str) -> ConsentBook {
        ConsentBook::parse(format!("{H}{rows}").as_bytes(), "t.csv", false).unwrap()
    }

    #[test]
    fn latest_wins_and_ties_deny() {
        let b = book(
            "9000000009,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n\
             9000000009,deny,2026-03-14T09:30:00+00:00,Y02345,OOH,TREAT\n\
             9434765919,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n\
             9434765919,deny,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n",
        );
        assert!(
            matches!(b.lookup("9000000009"), Lookup::Found(r) if r.decision == ConsentDecision::Deny)
        );
        assert!(
            matches!(b.lookup("9434765919"), Lookup::Found(r) if r.decision == ConsentDecision::Deny)
        );
        assert_eq!(b.lookup("9990000018"), Lookup::None);
    }

    #[test]
    fn bad_rows_taint_the_patient_and_never_echo_the_number() {
        let b = book(
            "9000000009,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n\
             9000000009,maybe,2026-03-14T09:30:00+00:00,Y02345,OOH,TREAT\n\
             1234567890,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n\
             9434765919,permit,2026-03-14 09:00,Y02345,OOH,TREAT\n\
             9990000018,permit,2026-03-14T09:00:00+00:00,not-ods,OOH,TREAT\n\
             9990000085,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,RESEARCH\n",
        );
        assert_eq!(b.lookup("9000000009"), Lookup::BadRow(3));
        assert_eq!(b.errors.len(), 5);
        for e in &b.errors {
            assert!(!e.message.contains("1234567890"), "{}", e.message);
        }
        assert!(b.errors.iter().any(|e| e.message.contains("*******890")));
    }

    #[test]
    fn optional_person_column_and_fail_closed_keys() {
        let b = ConsentBook::parse(
            format!(
                "{}{}",
                H.trim_end().to_string() + ",requester_person\n",
                "9000000009,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT,Dr A Example\n\
                 9434765919,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT,\n\
                 9434765919,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n"
            )
            .as_bytes(),
            "t.csv",
            false,
        )
        .unwrap();
        assert!(matches!(b.lookup("9000000009"),
            Lookup::Found(r) if r.requester_person.as_deref() == Some("Dr A Example")));
        // A 6-field row in a 7-column file is an error: the patient is withheld.
        assert_eq!(b.lookup("9434765919"), Lookup::BadRow(4));
        // A number written in spaced groups is that patient's row (issue 13.5: spreadsheet
        // forms are read, not dropped); a row that is not UTF-8 withholds its patient.
        let mut bytes = H.as_bytes().to_vec();
        bytes.extend_from_slice(
            b"9000000009,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n\
              900 000 0009,deny,2026-03-14T09:30:00+00:00,Y02345,OOH,TREAT\n\
              9434765919,permit,2026-03-14T09:00:00+00:00,Y02345,O\xffH,TREAT\n",
        );
        let b = ConsentBook::parse(&bytes, "t.csv", false).unwrap();
        assert!(matches!(b.lookup("9000000009"),
            Lookup::Found(r) if r.decision == ConsentDecision::Deny
                && r.origin == ConsentOrigin::FileRow { line: 3 }));
        assert_eq!(b.lookup("9434765919"), Lookup::BadRow(4));
        assert!(b.errors.iter().all(|e| !e.message.contains("9434765919")));
        // A header with an unknown 7th column is refused.
        assert!(ConsentBook::parse(
            format!("{},extra\n", H.trim_end()).as_bytes(),
            "t.csv",
            false
        )
        .is_err());
    }

    /// A CSV field holding `v`, quoted when it needs to be.
    fn field(v: &str) -> String {
        if v.contains([',', '"', '\n']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    }

    #[test]
    fn a_later_deny_in_any_spreadsheet_form_is_read() {
        for form in [
            "'9434765919",
            "9434765919.0",
            "+9434765919",
            "\u{200B}9434765919",
            "9434765919\u{FEFF}",
            "94347\u{200C}65919",
            "\u{2060}9434765919",
            "９４３４７６５９１９",
            " 9434765919 ",
            "\u{00A0}9434765919\u{00A0}",
            "943 476 5919",
            "943-476-5919",
            "=\"9434765919\"",
            "9.434765919E+09",
        ] {
            let b = book(&format!(
                "9434765919,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n\
                 {},deny,2026-03-14T09:30:00+00:00,Y02345,OOH,TREAT\n",
                field(form)
            ));
            assert!(b.errors.is_empty(), "{form:?}: {:?}", b.errors);
            assert!(
                matches!(b.lookup("9434765919"), Lookup::Found(r) if r.decision == ConsentDecision::Deny),
                "{form:?}"
            );
        }
    }

    #[test]
    fn a_row_naming_no_readable_patient_withholds_everyone() {
        for form in [
            "9.43477E+09",
            "943476591",
            "94347659190",
            "9434765918",
            "94347659l9",
            "",
            "9434765919\u{FFFD}",
            "٩٤٣٤٧٦٥٩١٩",
        ] {
            let b = book(&format!(
                "9434765919,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n\
                 9000000009,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n\
                 {},deny,2026-03-14T09:30:00+00:00,Y02345,OOH,TREAT\n",
                field(form)
            ));
            assert_eq!(b.errors.len(), 1, "{form:?}");
            assert!(b.errors[0].withholds_everyone, "{form:?}");
            assert!(!b.errors[0].message.contains("9434765918"));
            for n in ["9434765919", "9000000009", "9990000018"] {
                assert_eq!(b.lookup(n), Lookup::BadRow(4), "{form:?} {n}");
            }
        }
        // Test identities allowed: a number failing modulus 11 is that (test) patient's row.
        let b = ConsentBook::parse(
            format!("{H}9434765918,deny,2026-03-14T09:30:00+00:00,Y02345,OOH,TREAT\n").as_bytes(),
            "t.csv",
            true,
        )
        .unwrap();
        assert!(b.errors.is_empty());
        assert!(
            matches!(b.lookup("9434765918"), Lookup::Found(r) if r.decision == ConsentDecision::Deny)
        );
        assert_eq!(b.lookup("9434765919"), Lookup::None);
    }

    #[test]
    fn deny_and_permit_at_one_instant_deny_in_both_orders() {
        let rows = [
            "9434765919,deny,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n",
            "9434765919,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n",
            // The same instant written with another offset.
            "9434765919,permit,2026-03-14T10:00:00+01:00,Y02345,OOH,TREAT\n",
        ];
        for order in [
            [0, 1, 2],
            [1, 0, 2],
            [2, 1, 0],
            [1, 2, 0],
            [2, 0, 1],
            [0, 2, 1],
        ] {
            let b = book(&order.iter().map(|&i| rows[i]).collect::<String>());
            assert!(
                matches!(b.lookup("9434765919"), Lookup::Found(r) if r.decision == ConsentDecision::Deny),
                "{order:?}"
            );
        }
        // One second later, the permit is the latest.
        let b = book(&format!(
            "{}9434765919,permit,2026-03-14T09:00:01+00:00,Y02345,OOH,TREAT\n",
            rows[0]
        ));
        assert!(
            matches!(b.lookup("9434765919"), Lookup::Found(r) if r.decision == ConsentDecision::Permit)
        );
    }

    #[test]
    fn an_operator_assertion_decides_for_every_patient_and_says_so() {
        for decision in [ConsentDecision::Permit, ConsentDecision::Deny] {
            let b = ConsentBook::all(decision, "Y02345", "TREAT");
            assert!(b.is_operator_assertion());
            for n in ["9434765919", "9000000009"] {
                assert!(
                    matches!(b.lookup(n), Lookup::Found(r) if r.decision == decision
                        && r.origin == ConsentOrigin::OperatorAssertion
                        && r.recorded_at.is_none()
                        && r.requester_ods == "Y02345"
                        && r.purpose == "TREAT"),
                    "{decision:?} {n}"
                );
            }
        }
        // Rows read from a file are patients' answers, not an assertion.
        let b = book("9000000009,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n");
        assert!(!b.is_operator_assertion());
        assert!(!ConsentBook::default().is_operator_assertion());
    }

    #[test]
    fn a_consent_file_is_read_from_disk_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("consent.csv");
        std::fs::write(
            &path,
            format!("{H}9434765919,deny,2026-03-14T09:30:00+00:00,Y02345,OOH,TREAT\n"),
        )
        .expect("write");
        let b = ConsentBook::from_file(&path, false).expect("read");
        assert!(
            matches!(b.lookup("9434765919"), Lookup::Found(r) if r.decision == ConsentDecision::Deny
                && r.origin == ConsentOrigin::FileRow { line: 2 })
        );
        assert_eq!(b.lookup("9000000009"), Lookup::None);
        assert!(matches!(
            ConsentBook::from_file(&dir.path().join("absent.csv"), false),
            Err(ConsentFileError::Io { .. })
        ));
    }

    #[test]
    fn header_is_checked() {
        assert!(ConsentBook::parse(b"a,b\n", "t.csv", false).is_err());
        // Seven columns are read only when the first six are the header and the seventh is
        // the person column.
        let wrong_first =
            "nhs,decision,recorded_at,requester_ods,requester_name,purpose,requester_person\n";
        assert!(ConsentBook::parse(wrong_first.as_bytes(), "t.csv", false).is_err());
        let eight = format!("{},requester_person,extra\n", H.trim_end());
        assert!(ConsentBook::parse(eight.as_bytes(), "t.csv", false).is_err());
    }

    #[test]
    fn a_later_permit_written_before_an_earlier_deny_stands() {
        // Row order does not matter: the latest recorded_at wins.
        let b = book(
            "9434765919,permit,2026-03-14T09:00:01+00:00,Y02345,OOH,TREAT\n\
             9434765919,deny,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n",
        );
        assert!(
            matches!(b.lookup("9434765919"), Lookup::Found(r) if r.decision == ConsentDecision::Permit
                && r.origin == ConsentOrigin::FileRow { line: 2 })
        );
        // And a later deny written before an earlier permit stands too.
        let b = book(
            "9434765919,deny,2026-03-14T09:00:01+00:00,Y02345,OOH,TREAT\n\
             9434765919,permit,2026-03-14T09:00:00+00:00,Y02345,OOH,TREAT\n",
        );
        assert!(
            matches!(b.lookup("9434765919"), Lookup::Found(r) if r.decision == ConsentDecision::Deny)
        );
    }
}
