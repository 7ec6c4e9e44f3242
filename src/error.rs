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
    /// `missing-nhs-number`: no NHS number in `recordTarget`, so the patient cannot be identified.
    MissingNhsNumber,
    /// `invalid-nhs-number`: fails the modulus 11 check (test identities are allowed only on
    /// request).
    InvalidNhsNumber,
    /// `multiple-patients`: more than one patient in one file.
    MultiplePatients,
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
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::EmptyFile,
        ErrorCode::NotXml,
        ErrorCode::InvalidEncoding,
        ErrorCode::MalformedXml,
        ErrorCode::UnsupportedMessage,
        ErrorCode::WrongNamespace,
        ErrorCode::DoctypeForbidden,
        ErrorCode::LimitExceeded,
        ErrorCode::FileTooLarge,
        ErrorCode::MissingNhsNumber,
        ErrorCode::InvalidNhsNumber,
        ErrorCode::MultiplePatients,
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
            ErrorCode::MissingNhsNumber => "missing-nhs-number",
            ErrorCode::InvalidNhsNumber => "invalid-nhs-number",
            ErrorCode::MultiplePatients => "multiple-patients",
            ErrorCode::IoError => "io-error",
            ErrorCode::ValidationFailed => "validation-failed",
            ErrorCode::WriteFailed => "write-failed",
            ErrorCode::InternalError => "internal-error",
        }
    }

    /// What it means and what to do next (used in the README table and in messages).
    pub fn help(self) -> &'static str {
        match self {
            ErrorCode::EmptyFile => "the file is empty; re-export it from the GP system",
            ErrorCode::NotXml => "the file is not XML (or not a GP Connect JSON bundle); check what was exported",
            ErrorCode::InvalidEncoding => "the bytes are not valid UTF-8/UTF-16, or the declaration names an unsupported encoding; re-encode as UTF-8",
            ErrorCode::MalformedXml => "the XML is not well-formed (often a truncated transfer); fetch the file again",
            ErrorCode::UnsupportedMessage => "the root is not RCMR_IN030000UK06/UK07 or EhrExtract (or the JSON is not a GP Connect STU3 bundle)",
            ErrorCode::WrongNamespace => "the root element is not in the HL7 v3 namespace urn:hl7-org:v3",
            ErrorCode::DoctypeForbidden => "the file has a DOCTYPE; entities are never expanded or fetched, so it is refused",
            ErrorCode::LimitExceeded => "a streaming limit (depth, attributes, text size) was exceeded; the file is hostile or corrupt",
            ErrorCode::FileTooLarge => "the file is larger than --max-file-size",
            ErrorCode::MissingNhsNumber => "no NHS number in recordTarget; the patient cannot be identified",
            ErrorCode::InvalidNhsNumber => "the NHS number fails the modulus 11 check (use --allow-test-identities for test data)",
            ErrorCode::MultiplePatients => "more than one patient in one file; split the extract",
            ErrorCode::IoError => "the file could not be read (permissions, vanished); fix access and re-run",
            ErrorCode::ValidationFailed => "the bundle migx built failed schema validation; this is a migx bug: please report it",
            ErrorCode::WriteFailed => "the output could not be written (permissions, disk full); fix and re-run",
            ErrorCode::InternalError => "migx failed on this file (a bug); the rest of the batch went on: please report it",
        }
    }
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
