//! Stable error codes for rejected inputs. Scripts match on these strings; keep them stable
//! and keep the README table in step (`migx::error::ErrorCode::ALL` drives a test).

use std::fmt;

/// Why an input was rejected. Each has one meaning; the README documents them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// `empty-file`: the input has no bytes.
    EmptyFile,
    /// `not-xml`: neither XML nor a GP Connect JSON bundle.
    NotXml,
    /// `invalid-encoding`: not valid UTF-8/UTF-16, or an unsupported declared encoding.
    InvalidEncoding,
    /// `malformed-xml`: not well-formed, often a truncated transfer.
    MalformedXml,
    /// `unsupported-message`: a root other than `RCMR_IN030000UK06`/`UK07`/`EhrExtract`, or JSON
    /// that is not a GP Connect STU3 bundle.
    UnsupportedMessage,
    /// `wrong-namespace`: the root is not in `urn:hl7-org:v3`.
    WrongNamespace,
    /// `doctype-forbidden`: a DOCTYPE is present; entities are never expanded, so the file is
    /// refused.
    DoctypeForbidden,
    /// `limit-exceeded`: a streaming limit (depth, attributes, node size) was exceeded.
    LimitExceeded,
    /// `file-too-large`: larger than `--max-file-size`.
    FileTooLarge,
    /// `json-too-deep`: a JSON input nests arrays and objects deeper than the reader allows
    /// (127 levels).
    JsonTooDeep,
    /// `missing-nhs-number`: no NHS number in `recordTarget`, so the patient cannot be identified.
    MissingNhsNumber,
    /// `invalid-nhs-number`: fails the modulus 11 check (test identities are allowed only on
    /// request).
    InvalidNhsNumber,
    /// `multiple-patients`: more than one patient in one file (two recordTargets or Patients,
    /// two different NHS numbers for the patient, or a resource about another patient).
    MultiplePatients,
    /// `duplicate-json-key`: a JSON object names one key twice (a parser keeps only one of
    /// them, so what the file says is ambiguous, e.g. two `meta`s).
    DuplicateJsonKey,
    /// `malformed-security`: security metadata (`meta`, `meta.security`, `meta.tag`) of the
    /// wrong shape, so its confidentiality cannot be read.
    MalformedSecurity,
    /// `unverified-identity`: the NHS number is not verified (a GP Connect verification
    /// status other than `01`), or is given under a legacy identifier system.
    UnverifiedIdentity,
    /// `io-error`: the file could not be read.
    IoError,
    /// `validation-failed`: the bundle migx built failed schema validation (a migx bug).
    ValidationFailed,
    /// `write-failed`: the output could not be written.
    WriteFailed,
    /// `internal-error`: migx failed on this file (a bug); the rest of the batch went on.
    InternalError,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::EmptyFile,
        ErrorCode::NotXml,
        ErrorCode::InvalidEncoding,
        ErrorCode::MalformedXml,
        ErrorCode::UnsupportedMessage,
        ErrorCode::WrongNamespace,
        ErrorCode::DoctypeForbidden,
        ErrorCode::LimitExceeded,
        ErrorCode::FileTooLarge,
        ErrorCode::JsonTooDeep,
        ErrorCode::MissingNhsNumber,
        ErrorCode::InvalidNhsNumber,
        ErrorCode::MultiplePatients,
        ErrorCode::DuplicateJsonKey,
        ErrorCode::MalformedSecurity,
        ErrorCode::UnverifiedIdentity,
        ErrorCode::IoError,
        ErrorCode::ValidationFailed,
        ErrorCode::WriteFailed,
        ErrorCode::InternalError,
    ];

    /// The stable string written to the audit and summary.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::EmptyFile => "empty-file",
            ErrorCode::NotXml => "not-xml",
            ErrorCode::InvalidEncoding => "invalid-encoding",
            ErrorCode::MalformedXml => "malformed-xml",
            ErrorCode::UnsupportedMessage => "unsupported-message",
            ErrorCode::WrongNamespace => "wrong-namespace",
            ErrorCode::DoctypeForbidden => "doctype-forbidden",
            ErrorCode::LimitExceeded => "limit-exceeded",
            ErrorCode::FileTooLarge => "file-too-large",
            ErrorCode::JsonTooDeep => "json-too-deep",
            ErrorCode::MissingNhsNumber => "missing-nhs-number",
            ErrorCode::InvalidNhsNumber => "invalid-nhs-number",
            ErrorCode::MultiplePatients => "multiple-patients",
            ErrorCode::DuplicateJsonKey => "duplicate-json-key",
            ErrorCode::MalformedSecurity => "malformed-security",
            ErrorCode::UnverifiedIdentity => "unverified-identity",
            ErrorCode::IoError => "io-error",
            ErrorCode::ValidationFailed => "validation-failed",
            ErrorCode::WriteFailed => "write-failed",
            ErrorCode::InternalError => "internal-error",
        }
    }

    /// The code written as `s` (its [`ErrorCode::as_str`]), if migx defines it.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// What it means and what to do next: the one text the README table, the end-of-run
    /// advice on stderr and the HTML report show.
    pub fn help(self) -> &'static str {
        match self {
            ErrorCode::EmptyFile => "the file is empty; re-export it from the GP system",
            ErrorCode::NotXml => "the file is not XML (or not a GP Connect JSON bundle); check what was exported",
            ErrorCode::InvalidEncoding => "the bytes are not valid UTF-8/UTF-16, or the declaration names an unsupported encoding; re-encode as UTF-8",
            ErrorCode::MalformedXml => "the XML is not well-formed (often a truncated transfer); fetch the file again",
            ErrorCode::UnsupportedMessage => "the root is not RCMR_IN030000UK06/UK07 or EhrExtract (or the JSON is a GP Connect bundle of a kind migx does not read)",
            ErrorCode::WrongNamespace => "the root element is not in the HL7 v3 namespace urn:hl7-org:v3",
            ErrorCode::DoctypeForbidden => "the file has a DOCTYPE; entities are never expanded or fetched, so it is refused",
            ErrorCode::LimitExceeded => "a streaming limit (nesting depth, attributes per element, size of one tag or text node) was exceeded; the file is hostile or corrupt",
            ErrorCode::FileTooLarge => "the file is larger than --max-file-size",
            ErrorCode::JsonTooDeep => "the JSON nests arrays and objects 128 levels deep or more (GP Connect records need far fewer); the file is hostile or corrupt",
            ErrorCode::MissingNhsNumber => "no NHS number in recordTarget; the patient cannot be identified",
            ErrorCode::InvalidNhsNumber => "the NHS number fails the modulus 11 check (use --allow-test-identities for test data)",
            ErrorCode::MultiplePatients => "more than one patient in one file (two patients, two different NHS numbers for the patient, or an item whose subject is another patient); split or correct the extract",
            ErrorCode::DuplicateJsonKey => "a JSON object names the same key twice (e.g. two `meta`s), so what it says is ambiguous; the file is refused, re-export it",
            ErrorCode::MalformedSecurity => "security metadata (`meta`, `meta.security`, `meta.tag`) has the wrong shape (an object for an array, a label that is not a coding), so its confidentiality cannot be read; the file is refused",
            ErrorCode::UnverifiedIdentity => "the NHS number is not verified (GP Connect verification status other than 01, e.g. 05 trace needs to be resolved) or is given under a legacy identifier system (http://fhir.nhs.net/Id/nhs-number); trace the patient and re-export",
            ErrorCode::IoError => "the file could not be read (permissions, vanished); fix access and re-run",
            ErrorCode::ValidationFailed => "the bundle migx built failed schema validation; this is a migx bug: please report it",
            ErrorCode::WriteFailed => "the output could not be written (permissions, disk full); fix and re-run",
            ErrorCode::InternalError => "migx failed on this file (a bug); the rest of the batch went on: please report it",
        }
    }
}

/// The error-code table of `docs/error-codes.md`, generated from [`ErrorCode::ALL`] (a test
/// keeps the file in step).
pub fn error_codes_markdown() -> String {
    let mut s = String::from("| code | meaning and what to do |\n|---|---|\n");
    for c in ErrorCode::ALL {
        s.push_str(&format!(
            "| `{}` | {} |\n",
            c.as_str(),
            c.help().replace('|', "\\|")
        ));
    }
    s
}

const ERROR_CODES_DOC_HEADER: &str = "# migx error codes\n\n\
A rejected input's `error.code` in `audit.ndjson` (and its count under `error_codes` in\n\
`summary.json`) is one of these stable strings; scripts may match on them. A rejection's\n\
message names the file position (line, column) and element where known, never patient data.\n\
Any rejection makes `migx convert` exit with 1; the rest of the batch is still converted\n\
(unless `--fail-fast`).\n\n\
Generated from `migx::error::ErrorCode::ALL` and the command line's exit codes; a unit test fails if this file drifts.\n\
Regenerate with `cargo test --bin migx cli::tests::write_error_codes_doc -- --ignored`.\n\n";

/// The head of `docs/error-codes.md`: its introduction and the error-code table (the command
/// line appends its exit codes).
pub fn error_codes_doc() -> String {
    format!("{ERROR_CODES_DOC_HEADER}{}", error_codes_markdown())
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejection: a code, a message naming only the file position and element (never patient
/// data), and where in the file it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// What kind of rejection this is.
    pub code: ErrorCode,
    /// Human-readable detail; names positions and elements, never patient data.
    pub message: String,
    /// Byte offset in the input, when known (converted to line/column for reports).
    pub offset: Option<u64>,
    /// 1-based line of `offset`, filled in when the report is written.
    pub line: Option<u64>,
    /// 1-based column of `offset`, filled in when the report is written.
    pub column: Option<u64>,
    /// The element being read, when known.
    pub element: Option<String>,
}

impl InputError {
    /// A rejection with no position yet.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        InputError {
            code,
            message: message.into(),
            offset: None,
            line: None,
            column: None,
            element: None,
        }
    }
    /// Record the byte offset where the problem was found.
    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
    /// Record the element being read when the problem was found.
    pub fn in_element(mut self, element: impl Into<String>) -> Self {
        self.element = Some(element.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, " (line {l}, column {c})")?;
        }
        if let Some(e) = &self.element {
            write!(f, " in <{e}>")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn doc_path() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("docs/error-codes.md")
    }

    #[test]
    fn docs_list_every_error_code_with_its_help() {
        let doc = std::fs::read_to_string(doc_path()).expect("docs/error-codes.md");
        for c in ErrorCode::ALL {
            assert!(
                doc.contains(&format!("| `{}` |", c.as_str())),
                "docs/error-codes.md does not list {c}"
            );
        }
        assert!(
            doc.starts_with(&error_codes_doc()),
            "docs/error-codes.md is out of date: regenerate it (see its header)"
        );
    }

    /// Every enum in `schema` that lists error codes (it holds `not-xml`).
    fn code_enums(v: &serde_json::Value, out: &mut Vec<Vec<String>>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Array(e)) = m.get("enum") {
                    let names: Vec<String> = e
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect();
                    if names.iter().any(|n| n == "not-xml") {
                        out.push(names);
                    }
                }
                m.values().for_each(|x| code_enums(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| code_enums(x, out)),
            _ => {}
        }
    }

    #[test]
    fn audit_and_summary_schemas_list_every_error_code() {
        for (name, text) in [
            ("audit", crate::validate::AUDIT_SCHEMA),
            ("summary", crate::validate::SUMMARY_SCHEMA),
        ] {
            let schema: serde_json::Value = serde_json::from_str(text).expect("schema is JSON");
            let mut enums = Vec::new();
            code_enums(&schema, &mut enums);
            assert!(!enums.is_empty(), "{name} schema lists no error codes");
            for e in &enums {
                for c in ErrorCode::ALL {
                    assert!(
                        e.iter().any(|n| n == c.as_str()),
                        "the {name} schema does not allow {c}"
                    );
                }
            }
        }
    }

    /// The README's error-code table is this module's, word for word: one text per code for
    /// the README, the docs, the end-of-run advice and the HTML report.
    #[test]
    fn the_readme_error_table_is_the_generated_one() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .expect("README.md");
        assert!(
            readme.contains(&error_codes_markdown()),
            "README.md's error-code table is out of date; it must read:\n{}",
            error_codes_markdown()
        );
    }

    #[test]
    fn every_code_parses_back() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
        assert_eq!(ErrorCode::parse("no-such-code"), None);
    }

    #[test]
    fn codes_are_distinct_and_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(c
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-'));
            assert!(!c.help().is_empty());
        }
    }
}
