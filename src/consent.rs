//! Point-of-care consent decisions: the CSV the gateway records when it asks the patient,
//! or one operator-asserted decision for fixture and CI runs (`--consent-all`).
//!
//! The file is checked, not trusted: a bad row is an error naming its line (never the NHS
//! number in full), and the patient it concerns is withheld. Several rows for one patient:
//! the latest by `recorded_at` wins; two different decisions at the same instant: deny.

use crate::nhs::{is_valid_nhs_number, mask_nhs_number};
use chrono::{DateTime, FixedOffset};
use std::collections::HashMap;
use std::path::Path;

/// The patient's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentDecision {
    Permit,
    Deny,
}

impl ConsentDecision {
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
    FileRow { line: u64 },
    OperatorAssertion,
}

/// One decision for one patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub decision: ConsentDecision,
    /// When it was recorded; `None` for an operator assertion (valid for the whole run).
    pub recorded_at: Option<DateTime<FixedOffset>>,
    pub requester_ods: String,
    pub requester_name: Option<String>,
    /// `TREAT` or `ETREAT` (v3 ActReason).
    pub purpose: String,
    pub origin: ConsentOrigin,
}

/// A bad consent row (the message never holds a full NHS number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

/// Everything the run knows about point-of-care consent.
#[derive(Debug, Clone, Default)]
pub struct ConsentBook {
    by_patient: HashMap<String, ConsentRecord>,
    /// Patients named by a bad row: withheld whatever else the file says.
    tainted: HashMap<String, u64>,
    /// `--consent-all`: one decision for everyone.
    all: Option<ConsentRecord>,
    pub errors: Vec<RowError>,
}

/// What the book says for one patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    Found(&'a ConsentRecord),
    /// A row for this patient was malformed (line number).
    BadRow(u64),
    None,
}

/// A usage problem with the consent source as a whole (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ConsentFileError {
    #[error("cannot read consent file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("consent file {path}: header must be `nhs_number,decision,recorded_at,requester_ods,requester_name,purpose`")]
    Header { path: String },
    #[error("consent file {path}: line {line}: {message}")]
    Csv {
        path: String,
        line: u64,
        message: String,
    },
}

const HEADER: [&str; 6] = [
    "nhs_number",
    "decision",
    "recorded_at",
    "requester_ods",
    "requester_name",
    "purpose",
];

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
        if headers.iter().collect::<Vec<_>>() != HEADER {
            return Err(ConsentFileError::Header {
                path: origin.to_string(),
            });
        }
        let mut book = ConsentBook::default();
        for row in rdr.records() {
            let row = match row {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    book.errors.push(RowError {
                        line,
                        message: "unreadable CSV row".to_string(),
                    });
                    continue;
                }
            };
            let line = row.position().map(|p| p.line()).unwrap_or(0);
            let nhs = row.get(0).unwrap_or("").to_string();
            match parse_row(&row, line, allow_test_identities) {
                Ok(rec) => book.insert(nhs, rec),
                Err(message) => {
                    book.errors.push(RowError { line, message });
                    if !nhs.is_empty() {
                        book.tainted.entry(nhs).or_insert(line);
                    }
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
        match self.by_patient.get(nhs_number) {
            Some(r) => Lookup::Found(r),
            None => Lookup::None,
        }
    }
}

fn parse_row(
    row: &csv::StringRecord,
    line: u64,
    allow_test: bool,
) -> Result<ConsentRecord, String> {
    if row.len() != 6 {
        return Err(format!(
            "line {line}: expected 6 fields, found {}",
            row.len()
        ));
    }
    let nhs = &row[0];
    if !(nhs.len() == 10 && nhs.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("line {line}: nhs_number is not 10 digits"));
    }
    if !is_valid_nhs_number(nhs) && !allow_test {
        return Err(format!(
            "line {line}: NHS number {} fails the modulus 11 check",
            mask_nhs_number(nhs)
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
        return Err(format!("line {line}: requester_ods is not an ODS code"));
    }
    let purpose = &row[5];
    if !matches!(purpose, "TREAT" | "ETREAT") {
        return Err(format!("line {line}: purpose must be TREAT or ETREAT"));
    }
    let name = row[4].trim();
    Ok(ConsentRecord {
        decision,
        recorded_at: Some(recorded_at),
        requester_ods: ods.to_string(),
        requester_name: (!name.is_empty()).then(|| name.to_string()),
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
    fn header_is_checked() {
        assert!(ConsentBook::parse(b"a,b\n", "t.csv", false).is_err());
    }
}
