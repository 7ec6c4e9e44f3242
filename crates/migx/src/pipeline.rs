//! Files in, outcomes out: every input ends as exactly one of converted, withheld (by
//! policy, with a reason) or rejected (bad input, with an error code). Work runs in
//! parallel across files (never inside one file's hot loop); results are merged in input
//! order, so the audit and summary are byte-identical whatever `--jobs` is.

pub use crate::batch::{OutputFormat, Shard};
use crate::consent::{ConsentDecision, ConsentOrigin, ConsentRecord, Lookup};
use crate::ehr::model::{Element, Extract, IdentityProblem};
use crate::ehr::reader::read_extract;
use crate::ehr::ts::Ts;
use crate::error::{ErrorCode, InputError};
use crate::fhir::r4::Bundle;
use crate::fhir::{self, ReleaseContext};
pub use crate::input::InputFile;
use crate::nhs::is_valid_nhs_number;
pub use crate::outcome::{AuditItem, Conversion, Status};
use crate::output;
use crate::policy::decide::{
    decide, judged_time, practice_dissent, Category, Decisions, Outcome, PatientWithheld,
    WithheldReason,
};
use crate::policy::ConsentValidity;
pub use crate::settings::{ConvertSettings, DEFAULT_MAX_FILE_SIZE};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A reader that hashes what passes through it (the Provenance names the source's SHA-256).
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes what passes through it (the access audit names the bundle's SHA-256).
struct HashingWriter<'a, W: ?Sized> {
    inner: &'a mut W,
    hasher: &'a mut Sha256,
}

impl<W: io::Write + ?Sized> io::Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What the first bytes say the file is.
enum Sniff {
    Xml,
    Utf16Xml { big_endian: bool },
    Json,
    Html,
    Other,
}

fn sniff(head: &[u8]) -> Sniff {
    match head {
        [0xFF, 0xFE, ..] => return Sniff::Utf16Xml { big_endian: false },
        [0xFE, 0xFF, ..] => return Sniff::Utf16Xml { big_endian: true },
        _ => {}
    }
    let body = head.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(head);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let lead: Vec<u8> = body[start..]
        .iter()
        .take(14)
        .map(u8::to_ascii_lowercase)
        .collect();
    if lead.starts_with(b"<!doctype html") || lead.starts_with(b"<html") {
        return Sniff::Html;
    }
    match body.get(start) {
        Some(b'<') => Sniff::Xml,
        Some(b'{') | Some(b'[') => Sniff::Json,
        _ => Sniff::Other,
    }
}

/// Convert one file: read, identify, decide, map, validate. Writes nothing.
pub fn convert_file(path: &Path, settings: &ConvertSettings) -> Conversion {
    #[cfg(test)]
    tests::maybe_panic(path);
    match read_input(path, settings) {
        Ok((ex, hash, size)) => release(&ex, &hash, size, settings),
        Err((e, size)) => Conversion::rejected(e, size),
    }
}

/// Read one input into the model, with the SHA-256 of its bytes and its size, or the
/// rejection (with the size read so far).
pub fn read_input(
    path: &Path,
    settings: &ConvertSettings,
) -> Result<(Extract, String, u64), (InputError, u64)> {
    // Both readers identify code systems with the policy's alias table (`code_systems`).
    crate::codes::systems::with_table(settings.policy.code_systems(), || {
        read_input_with(path, settings)
    })
}

fn read_input_with(
    path: &Path,
    settings: &ConvertSettings,
) -> Result<(Extract, String, u64), (InputError, u64)> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Err((io_error(&e), 0)),
    };
    let size = meta.len();
    if !meta.is_file() {
        return Err((InputError::new(ErrorCode::IoError, "not a regular file"), 0));
    }
    if size == 0 {
        return Err((
            InputError::new(ErrorCode::EmptyFile, "the file is empty"),
            0,
        ));
    }
    if size > settings.max_file_size {
        return Err((
            InputError::new(
                ErrorCode::FileTooLarge,
                format!(
                    "the file is {size} bytes; the limit is {} (--max-file-size)",
                    settings.max_file_size
                ),
            ),
            size,
        ));
    }
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Err((io_error(&e), size)),
    };
    let mut head = [0u8; 512];
    let n = match read_head(&mut file, &mut head) {
        Ok(n) => n,
        Err(e) => return Err((io_error(&e), size)),
    };
    let head = &head[..n];
    let read = match sniff(head) {
        Sniff::Xml => {
            let mut hr = HashingReader {
                inner: io::Cursor::new(head.to_vec()).chain(file),
                hasher: Sha256::new(),
            };
            let r = read_extract(
                BufReader::with_capacity(64 * 1024, &mut hr),
                &settings.limits,
                size,
            );
            // Drain so the hash covers the whole file even if the reader stopped early.
            let r = r.and_then(|ex| {
                io::copy(&mut hr, &mut io::sink()).map_err(|e| io_error(&e))?;
                Ok(ex)
            });
            let hash = crate::digest::hex(&hr.hasher.finalize());
            r.map(|ex| (ex, hash))
                .map_err(|e| with_position(e, path, None))
        }
        Sniff::Utf16Xml { big_endian } => read_utf16(head, file, big_endian, settings),
        Sniff::Json => read_json(head, file, settings),
        Sniff::Html => Err(InputError::new(
            ErrorCode::NotXml,
            "an HTML page, not an XML extract (an error page saved in its place?)",
        )),
        Sniff::Other => Err(InputError::new(
            ErrorCode::NotXml,
            "the file is neither XML nor JSON (binary, PDF or text?)",
        )),
    };
    read.map(|(ex, hash)| (ex, hash, size))
        .map_err(|e| (e, size))
}

fn read_head(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn read_utf16(
    head: &[u8],
    mut file: File,
    big_endian: bool,
    settings: &ConvertSettings,
) -> Result<(Extract, String), InputError> {
    let mut bytes = head.to_vec();
    file.read_to_end(&mut bytes).map_err(|e| io_error(&e))?;
    let hash = crate::digest::hex(&Sha256::digest(&bytes));
    let units: Vec<u16> = bytes[2..]
        .chunks(2)
        .map(|c| {
            let pair = [c[0], *c.get(1).unwrap_or(&0)];
            if big_endian {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        })
        .collect();
    if bytes.len() % 2 != 0 {
        return Err(InputError::new(
            ErrorCode::InvalidEncoding,
            "a UTF-16 file with an odd number of bytes",
        ));
    }
    let text = String::from_utf16(&units)
        .map_err(|_| InputError::new(ErrorCode::InvalidEncoding, "the UTF-16 text is not valid"))?;
    // The declaration may say UTF-16: it described the bytes we have just decoded.
    let text = text
        .replacen("encoding=\"UTF-16\"", "encoding=\"UTF-8\"", 1)
        .replacen("encoding='UTF-16'", "encoding='UTF-8'", 1);
    let ex = read_extract(text.as_bytes(), &settings.limits, text.len() as u64)
        .map_err(|e| with_position(e, Path::new(""), Some(text.as_bytes())))?;
    Ok((ex, hash))
}

fn read_json(
    head: &[u8],
    mut file: File,
    _settings: &ConvertSettings,
) -> Result<(Extract, String), InputError> {
    let mut bytes = head.to_vec();
    file.read_to_end(&mut bytes).map_err(|e| io_error(&e))?;
    let hash = crate::digest::hex(&Sha256::digest(&bytes));
    read_json_bytes(&bytes).map(|ex| (ex, hash))
}

fn read_json_bytes(bytes: &[u8]) -> Result<Extract, InputError> {
    // JSON is read as a GP Connect structured record; any other JSON is simply not an
    // input migx takes (`not-xml`: neither an EhrExtract nor a GP Connect bundle).
    crate::gpconnect::read_gpconnect(bytes).map_err(|e| match e.code {
        ErrorCode::UnsupportedMessage => InputError {
            code: ErrorCode::NotXml,
            message:
                "a JSON document that is not a GP Connect structured record (nor an EhrExtract)"
                    .into(),
            ..e
        },
        _ => e,
    })
}

/// Decide and build the bundle for a read extract.
/// A patient admitted for release: the verified NHS number, the point-of-care decision that
/// permits it, and the time currency is judged at.
#[derive(Debug, Clone)]
pub struct Admission {
    /// The patient's NHS number (never logged).
    pub nhs_number: String,
    /// The consent the record is released under.
    pub consent: ConsentRecord,
    /// Until when that decision is valid, when it is limited (FHIR dateTime).
    pub consent_valid_until: Option<String>,
    /// The judged time "current" and "recent" are decided at (issue 24.11).
    pub as_of: Ts,
}

/// Patient admission, the stage between reading and item decisions: one verified patient,
/// no practice dissent, a judged time, and a point-of-care decision that permits this
/// requester and purpose now. Otherwise the input ends here, rejected or withheld, as the
/// returned [`Conversion`] says (boxed: the error path is the rare one).
pub fn admit(ex: &Extract, size: u64, s: &ConvertSettings) -> Result<Admission, Box<Conversion>> {
    let policy = &*s.policy;
    // One bundle, one verified patient: what the reader found against it rejects the file.
    if let Some(p) = &ex.identity_problem {
        let (code, message) = match p {
            IdentityProblem::Conflicting(m) => (ErrorCode::MultiplePatients, m),
            IdentityProblem::Unverified(m) => (ErrorCode::UnverifiedIdentity, m),
        };
        return Err(Box::new(Conversion::rejected(
            InputError::new(code, message.clone()),
            size,
        )));
    }
    // Identity: one recordTarget slot per patient, so more than one is more than one patient.
    if ex.nhs_numbers.len() > 1 {
        return Err(Box::new(Conversion::rejected(
            InputError::new(
                ErrorCode::MultiplePatients,
                format!(
                    "{} patients (recordTarget elements) in one file",
                    ex.nhs_numbers.len()
                ),
            ),
            size,
        )));
    }
    let Some(nhs) = ex
        .nhs_numbers
        .first()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
    else {
        return Err(Box::new(Conversion::rejected(
            InputError::new(
                ErrorCode::MissingNhsNumber,
                "no NHS number in recordTarget/patient/id",
            ),
            size,
        )));
    };
    let shaped = nhs.len() == 10 && nhs.bytes().all(|b| b.is_ascii_digit());
    if !shaped || (!is_valid_nhs_number(&nhs) && !s.allow_test_identities) {
        return Err(Box::new(Conversion::rejected(
            InputError::new(
                ErrorCode::InvalidNhsNumber,
                format!(
                    "NHS number {} fails the modulus 11 check",
                    crate::nhs::mask_nhs_number(&nhs)
                ),
            ),
            size,
        )));
    }
    let Some(claimed) = s.as_of.or(ex.created.value()) else {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::AsOfUnknown,
            size,
            nhs,
        )));
    };
    // A dissent recorded in the practice stands, whatever is asked at the point of care; a
    // practice consent lifts it only when recorded before the time the record was asked for.
    if practice_dissent(ex, policy, claimed) {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::DissentRecorded,
            size,
            nhs,
        )));
    }
    // Currency is judged no earlier than the record's own latest date (issue 24.11).
    let as_of = match judged_time(ex, claimed, now_epoch_secs()) {
        Ok(t) => t,
        Err(reason) => return Err(Box::new(Conversion::withheld(reason, size, nhs))),
    };
    let consent = match s.consent.lookup(&nhs) {
        Lookup::None => {
            return Err(Box::new(Conversion::withheld(
                PatientWithheld::NoConsentDecision,
                size,
                nhs,
            )))
        }
        Lookup::BadRow(_) => {
            return Err(Box::new(Conversion::withheld(
                PatientWithheld::ConsentRowInvalid,
                size,
                nhs,
            )))
        }
        Lookup::Found(c) => c.clone(),
    };
    if consent.decision == ConsentDecision::Deny {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::ConsentDenied,
            size,
            nhs,
        )));
    }
    let permitted = policy.requester(&consent.requester_ods).is_some()
        || s.run_permitted_requesters
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&consent.requester_ods));
    if !permitted {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::RequesterNotPermitted,
            size,
            nhs,
        )));
    }
    if !policy.is_purpose_permitted(&consent.purpose) {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::PurposeNotPermitted,
            size,
            nhs,
        )));
    }
    // A decision recorded after the claimed time grants nothing, whatever the judged time.
    if consent
        .recorded_at
        .is_some_and(|at| at.timestamp() > claimed.epoch_secs())
    {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::ConsentOutsideWindow,
            size,
            nhs,
        )));
    }
    let valid_until = match consent_window(&consent, as_of, policy.consent_validity()) {
        Ok(until) => until,
        Err(()) => {
            return Err(Box::new(Conversion::withheld(
                PatientWithheld::ConsentOutsideWindow,
                size,
                nhs,
            )))
        }
    };
    Ok(Admission {
        nhs_number: nhs,
        consent,
        consent_valid_until: valid_until,
        as_of,
    })
}

/// The FHIR mapping stage: the bundle of what `decisions` share, for an admitted patient.
pub fn map_bundle(
    ex: &Extract,
    decisions: &Decisions,
    admission: &Admission,
    source_sha256: &str,
    s: &ConvertSettings,
) -> Bundle {
    let exclusion = s.exclusion_basis();
    let rc = ReleaseContext {
        exclusion: &exclusion,
        nhs_number: &admission.nhs_number,
        consent: &admission.consent,
        consent_valid_until: admission.consent_valid_until.clone(),
        as_of: admission.as_of,
        source_sha256,
        policy: &s.policy,
        run_permitted_requesters: &s.run_permitted_requesters,
    };
    fhir::build_bundle(ex, decisions, &rc)
}

/// The validation stage (when the settings ask for it): the bundle against the FHIR R4
/// schema and migx's profile; a violation is migx's bug, and the input is rejected.
pub fn check_bundle(bundle: &Bundle, s: &ConvertSettings) -> Result<(), InputError> {
    if !s.validate {
        return Ok(());
    }
    check_value(&bundle_value(bundle)?, s)
}

/// [`check_bundle`] of the bundle's JSON tree.
fn check_value(bundle: &Json, s: &ConvertSettings) -> Result<(), InputError> {
    if !s.validate {
        return Ok(());
    }
    let violations = crate::validate::validate_value(bundle, crate::validate::Profile::Migx);
    if violations.is_empty() {
        return Ok(());
    }
    let first: Vec<String> = violations
        .iter()
        .take(5)
        .map(|v| format!("{} ({})", v.pointer, v.rule))
        .collect();
    Err(InputError::new(
        ErrorCode::ValidationFailed,
        format!(
            "{} schema violation(s): {}",
            violations.len(),
            first.join("; ")
        ),
    ))
}

/// The bundle as a JSON tree (what the validator and, for now, the writers take).
fn bundle_value(bundle: &Bundle) -> Result<Json, InputError> {
    serde_json::to_value(bundle).map_err(|e| {
        InputError::new(
            ErrorCode::InternalError,
            format!("the bundle does not serialise: {e}"),
        )
    })
}

/// Admission, item decisions, mapping and validation of one read extract: the stages in
/// the order the data flows.
fn release(ex: &Extract, source_sha256: &str, size: u64, s: &ConvertSettings) -> Conversion {
    let admission = match admit(ex, size, s) {
        Ok(a) => a,
        Err(ended) => return *ended,
    };
    let decisions = decide(ex, &s.policy, admission.as_of);
    let bundle = map_bundle(ex, &decisions, &admission, source_sha256, s);
    let bundle = match bundle_value(&bundle).and_then(|b| check_value(&b, s).map(|()| b)) {
        Ok(b) => b,
        Err(e) => {
            let mut c = Conversion::rejected(e, size);
            c.nhs_number = Some(admission.nhs_number);
            return c;
        }
    };
    let (items, shared) = audit_items(ex, &decisions);
    Conversion {
        status: Status::Converted,
        withheld: None,
        error: None,
        bundle: Some(bundle),
        items,
        shared,
        bytes: size,
        nhs_number: Some(admission.nhs_number),
        consent: Some(admission.consent),
        as_of: Some(admission.as_of),
    }
}

/// Whether the point-of-care decision is valid at `as_of` (the judged time), and until
/// when. (`release` also refuses a decision recorded after the claimed time.)
fn consent_window(
    c: &ConsentRecord,
    as_of: Ts,
    validity: ConsentValidity,
) -> Result<Option<String>, ()> {
    let Some(at) = c.recorded_at else {
        return match c.origin {
            ConsentOrigin::OperatorAssertion => Ok(None),
            ConsentOrigin::FileRow { .. } => Err(()),
        };
    };
    let recorded = at.timestamp();
    let asof = as_of.epoch_secs();
    if recorded > asof {
        return Err(()); // recorded after the time it is used for: not valid
    }
    if recorded > now_epoch_secs() {
        return Err(()); // a decision "recorded" in the future (with a future --as-of): not valid
    }
    match validity {
        ConsentValidity::EncounterDay => {
            // The same local (UK) calendar day as the as-of time.
            let local = at.naive_utc()
                + chrono::Duration::seconds(i64::from(crate::ehr::ts::uk_offset_secs(
                    at.naive_utc(),
                )));
            if local.date() != as_of.date() {
                return Err(());
            }
            let end = local.date().and_hms_opt(23, 59, 59).unwrap_or(local);
            let off = crate::ehr::ts::uk_offset_secs(end);
            Ok(Some(format!(
                "{}{}",
                end.format("%Y-%m-%dT%H:%M:%S"),
                fmt_off(off)
            )))
        }
        ConsentValidity::Hours(h) => {
            let until = recorded + i64::from(h) * 3600;
            if asof > until {
                return Err(());
            }
            let end = chrono::DateTime::from_timestamp(until, 0)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            Ok(end)
        }
    }
}

/// The moment of the run (seconds since the epoch): decisions only, never written out.
fn now_epoch_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn fmt_off(secs: i32) -> String {
    format!(
        "{}{:02}:{:02}",
        if secs < 0 { '-' } else { '+' },
        secs.abs() / 3600,
        (secs.abs() % 3600) / 60
    )
}

/// The id the audit and `explain` show for an item: the id its bundle resource has or would
/// have ([`crate::fhir::ids::source_uuid`]: a source UUID as it is, anything else a UUID
/// derived from it), never a raw non-UUID source id, which may hold an NHS number or text;
/// `#<n>` (its position) for an item without an id.
fn audit_id(item: &crate::ehr::model::Item, i: usize) -> String {
    if item.id.is_empty() {
        format!("#{i}")
    } else {
        crate::fhir::ids::source_uuid(&item.id)
    }
}

fn audit_items(ex: &Extract, d: &Decisions) -> (Vec<AuditItem>, BTreeMap<Category, usize>) {
    let mut items = Vec::new();
    let mut shared = BTreeMap::new();
    for (i, dec) in d.items.iter().enumerate() {
        let item = &ex.items[i];
        let element = item.element.map(Element::name).unwrap_or("unknown");
        match dec.outcome {
            Outcome::Withheld(reason) => items.push(AuditItem {
                source_id: audit_id(item, i),
                element,
                category: dec.category,
                reason,
                text_only: false,
            }),
            Outcome::Shared(_) => {
                if let Some(c) = dec.category {
                    *shared.entry(c).or_insert(0) += 1;
                }
            }
            _ => {}
        }
    }
    for &i in &d.free_text_removed {
        let item = &ex.items[i];
        items.push(AuditItem {
            source_id: audit_id(item, i),
            element: item.element.map(Element::name).unwrap_or("unknown"),
            category: d.items[i].category,
            reason: WithheldReason::FreeText,
            text_only: true,
        });
    }
    // Record-level values dropped for their syntax (an ODS code carrying text).
    for &field in &ex.record_text_removed {
        items.push(AuditItem {
            source_id: format!("#{field}"),
            element: "Organization",
            category: None,
            reason: WithheldReason::FreeText,
            text_only: true,
        });
    }
    (items, shared)
}

fn io_error(e: &io::Error) -> InputError {
    InputError::new(
        ErrorCode::IoError,
        format!("cannot read the file: {}", e.kind()),
    )
}

/// Fill line and column from a byte offset (read only on error, so it costs nothing on the
/// good path).
fn with_position(mut e: InputError, path: &Path, bytes: Option<&[u8]>) -> InputError {
    let Some(offset) = e.offset else { return e };
    let count = |data: &[u8]| {
        let upto = &data[..(offset as usize).min(data.len())];
        let line = upto.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let col = upto.iter().rev().take_while(|&&b| b != b'\n').count() as u64 + 1;
        (line, col)
    };
    let lc = match bytes {
        Some(b) => Some(count(b)),
        None => File::open(path).ok().and_then(|f| {
            let mut buf = Vec::new();
            f.take(offset).read_to_end(&mut buf).ok()?;
            Some(count(&buf))
        }),
    };
    if let Some((l, c)) = lc {
        e.line = Some(l);
        e.column = Some(c);
    }
    e
}

// ------------------------------------------------------------------ batches

/// Why a folder walk left a file out of the run (it is neither converted nor rejected, and
/// not counted as an input; `summary.json` counts it under `skipped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A hidden file or folder (its name starts with `.`, e.g. `.DS_Store`, `.git/`): a
    /// hidden folder is one entry, not entered.
    Hidden,
    /// Plainly not an extract: its name does not end `.xml` or `.json`, and its first bytes
    /// are neither XML (`<`, after an optional byte order mark and white space, or UTF-16)
    /// nor a JSON object (`{`), e.g. a README, a consent CSV, a PDF.
    NotAnExtract,
}

impl SkipReason {
    /// Every reason, in documentation order.
    pub const ALL: [SkipReason; 2] = [SkipReason::Hidden, SkipReason::NotAnExtract];

    /// The stable string of `summary.json`'s `skipped` and the end-of-run table.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Hidden => "hidden",
            SkipReason::NotAnExtract => "not-an-extract",
        }
    }

    /// The reason in words, for the operator.
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::Hidden => "hidden (its name starts with `.`)",
            SkipReason::NotAnExtract => {
                "not an extract (its name does not end .xml or .json, and it starts with neither XML nor a JSON object)"
            }
        }
    }
}

/// A file (or hidden folder) a folder walk left out, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The path as walked from the given argument.
    pub display: String,
    /// Path relative to the input root (what `--shard` hashes, as for inputs).
    pub rel: String,
    /// Why it was left out.
    pub reason: SkipReason,
}

/// What walking the command line's paths found.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    /// The run's inputs, sorted, with their bundle names.
    pub inputs: Vec<InputFile>,
    /// Folders left out because they resolve inside the output folder.
    pub excluded: usize,
    /// Files a folder walk left out (never a file named on the command line), sorted.
    pub skipped: Vec<Skipped>,
}

/// How many bytes [`looks_like_an_extract`] reads.
const SNIFF_BYTES: u64 = 512;

/// Whether a file a folder walk found may be an extract, by name and first bytes: a name
/// ending `.xml` or `.json` (any case) always; any other file when it is empty or cannot be
/// read (so convert rejects it, `empty-file` or `io-error`, never a silent skip), or when its
/// first bytes are XML or a JSON object.
pub fn looks_like_an_extract(path: &Path) -> bool {
    let by_name = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("xml") || e.eq_ignore_ascii_case("json"));
    if by_name {
        return true;
    }
    let mut head = Vec::new();
    match File::open(path).and_then(|f| f.take(SNIFF_BYTES).read_to_end(&mut head)) {
        Ok(_) => starts_like_an_extract(&head),
        Err(_) => true,
    }
}

/// Whether these first bytes may begin an extract: empty; a UTF-16 byte order mark or a
/// UTF-16 `<`; or, after an optional UTF-8 byte order mark and white space, `<` or `{`.
pub fn starts_like_an_extract(head: &[u8]) -> bool {
    if head.is_empty()
        || head.starts_with(&[0xFF, 0xFE])
        || head.starts_with(&[0xFE, 0xFF])
        || head.starts_with(b"<\0")
        || head.starts_with(b"\0<")
    {
        return true;
    }
    let rest = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
    match rest.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b) => *b == b'<' || *b == b'{',
        // Only white space in the first bytes: not plainly anything; let convert judge.
        None => rest.len() as u64 >= SNIFF_BYTES - 3,
    }
}

/// Walk files and folders (recursively, sorted; hidden entries and files that are plainly
/// not extracts skipped, see [`Walk::skipped`]) into the run's inputs.
pub fn collect_inputs(paths: &[PathBuf]) -> Vec<InputFile> {
    walk_inputs(paths, None).inputs
}

/// [`collect_inputs`], never entering `out` (the output folder): symlinks inside an input
/// root are followed (a symlink loop or a dangling link becomes an input rejected
/// `io-error` in the audit, never a silent skip), and a folder that resolves inside `out`
/// is left out of the walk. A folder walk skips hidden entries and files that are plainly
/// not extracts ([`looks_like_an_extract`]); a path given on the command line is always an
/// input, whatever its name or content.
pub fn walk_inputs(paths: &[PathBuf], out: Option<&Path>) -> Walk {
    let out_resolved = out.map(crate::rundir::resolved);
    let excluded = std::cell::Cell::new(0usize);
    let skipped = std::cell::RefCell::new(Vec::new());
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let keep = |e: &walkdir::DirEntry| {
                if e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.') {
                    skipped.borrow_mut().push(Skipped {
                        display: e.path().display().to_string(),
                        rel: rel_path(e.path(), p),
                        reason: SkipReason::Hidden,
                    });
                    return false;
                }
                let inside = e.file_type().is_dir()
                    && out_resolved.as_ref().is_some_and(|o| {
                        std::fs::canonicalize(e.path()).is_ok_and(|c| c.starts_with(o))
                    });
                if inside {
                    excluded.set(excluded.get() + 1);
                }
                !inside
            };
            for entry in walkdir::WalkDir::new(p)
                .follow_links(true)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(keep)
            {
                match entry {
                    Ok(e) => {
                        if e.file_type().is_file() {
                            if !looks_like_an_extract(e.path()) {
                                skipped.borrow_mut().push(Skipped {
                                    display: e.path().display().to_string(),
                                    rel: rel_path(e.path(), p),
                                    reason: SkipReason::NotAnExtract,
                                });
                                continue;
                            }
                            let mut f = input(e.path().to_path_buf(), None);
                            f.rel = rel_path(e.path(), p);
                            out.push(f);
                        }
                    }
                    Err(err) => {
                        let path = err
                            .path()
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|| p.clone());
                        let rel = rel_path(&path, p);
                        let mut f = input(
                            path,
                            Some(format!(
                                "cannot walk: {}",
                                err.io_error()
                                    .map(|e| e.kind().to_string())
                                    .unwrap_or_else(|| "loop".into())
                            )),
                        );
                        f.rel = rel;
                        out.push(f);
                    }
                }
            }
        } else {
            out.push(input(p.clone(), None));
        }
    }
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out.dedup_by(|a, b| a.display == b.display);
    crate::batch::assign_bundle_names(&mut out);
    let mut skipped = skipped.into_inner();
    skipped.sort_by(|a, b| a.display.cmp(&b.display));
    skipped.dedup_by(|a, b| a.display == b.display);
    // A file named on the command line and also found in a folder walk is an input.
    skipped.retain(|s| out.binary_search_by(|f| f.display.cmp(&s.display)).is_err());
    Walk {
        inputs: out,
        excluded: excluded.get(),
        skipped,
    }
}

/// `path` relative to `root`, `/`-separated (the file name when `path` is not under it).
fn rel_path(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        parts.join("/")
    }
}

fn input(path: PathBuf, walk_error: Option<String>) -> InputFile {
    InputFile {
        rel: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        display: path.display().to_string(),
        path,
        bundle_name: String::new(),
        walk_error,
    }
}

/// Options for a whole run.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Output folder.
    pub out: PathBuf,
    /// Worker threads.
    pub jobs: usize,
    /// Stop scheduling inputs after the first rejection.
    pub fail_fast: bool,
    /// One Bundle per input, or FHIR bulk NDJSON per resource type.
    pub format: OutputFormat,
    /// Convert only this share of the inputs; audit and summary go to `shards/K-of-N/`.
    pub shard: Option<Shard>,
    /// Files the folder walk left out, per reason ([`SkipReason::as_str`]): counted in
    /// `summary.json`, never inputs.
    pub skipped: BTreeMap<&'static str, usize>,
}

impl BatchOptions {
    /// Where audit.ndjson, summary.json and access-audit.ndjson (and ndjson/) go: the output
    /// folder itself, or `shards/K-of-N/` under it for a sharded run.
    pub fn meta_dir(&self) -> PathBuf {
        match &self.shard {
            Some(s) => self.out.join("shards").join(s.dir_name()),
            None => self.out.clone(),
        }
    }
}

/// Counts for the summary and the end-of-run table.
#[derive(Debug, Clone, Default)]
pub struct RunTotals {
    /// Inputs in this run.
    pub inputs: usize,
    /// Inputs per status (`converted`, `withheld`, `rejected`).
    pub by_status: BTreeMap<&'static str, usize>,
    /// Withheld inputs per patient-level reason.
    pub file_reasons: BTreeMap<&'static str, usize>,
    /// Rejected inputs per error code.
    pub error_codes: BTreeMap<&'static str, usize>,
    /// Shared items per category.
    pub items_shared: BTreeMap<&'static str, usize>,
    /// Withheld items per reason.
    pub items_withheld: BTreeMap<&'static str, usize>,
    /// Shared items whose free text was removed.
    pub text_removed: usize,
    /// Input bytes read.
    pub bytes: u64,
    /// `--fail-fast` stopped the run before every input was processed.
    pub stopped_early: bool,
    /// An earlier run of the same manifest into this folder was interrupted: its journal
    /// held this many records, which this run completed.
    pub resumed: Option<usize>,
    /// Records released so far: bundles published (ndjson: records, once the files are).
    pub released: usize,
    /// No SNOMED CT release was loaded, so items coded only by description ids were withheld
    /// (`unresolved-code`).
    pub no_snomed_release: bool,
    /// How far sensitive SNOMED CT codes were matched (IS-A subtypes with a release's
    /// hierarchy, or only exact matches and Read v2/CTV3 prefixes), for the end-of-run table.
    pub hierarchy: String,
    /// Every rejected input, in input order: its path as the audit shows it, and why (the
    /// message names file positions and migx's element names only, never patient data).
    pub rejected: Vec<(String, InputError)>,
    /// Every withheld input, in input order, with its patient-level reason.
    pub withheld: Vec<(String, &'static str)>,
    /// Files the folder walk left out, per reason (not inputs).
    pub skipped: BTreeMap<&'static str, usize>,
}

/// What the operator can do about items withheld because no SNOMED CT release was loaded
/// (printed at the end of a run, in `summary.json` and in the HTML report).
pub const NO_SNOMED_RELEASE_ADVICE: &str = "these items are coded only by SNOMED CT description ids, which need a release to resolve: load a SNOMED CT UK release (--snomed <RF2 folder, or an index made by `migx snomed index`>, or the policy's snomed_release) and convert again";

impl RunTotals {
    /// Items withheld only because no SNOMED CT release was loaded (`unresolved-code` items
    /// of a run without a release; with a release they are ids it does not hold).
    pub fn withheld_no_snomed_release(&self) -> usize {
        if self.no_snomed_release {
            self.items_withheld
                .get("unresolved-code")
                .copied()
                .unwrap_or(0)
        } else {
            0
        }
    }
}

/// Progress callback: (files done, total, bytes done, rejected so far).
pub type Progress<'a> = &'a (dyn Fn(usize, usize, u64, usize) + Sync);

/// Results claimed ahead of the writer, per worker. It bounds memory: a result holds one
/// input's audit records (small) and, with `--format ndjson`, its serialised resources (about
/// a fifth of the input). With bundles the window is wide so that workers keep going while
/// one of them is on a very large input.
const WINDOW_PER_JOB: usize = 64;
const WINDOW_PER_JOB_NDJSON: usize = 4;

/// After an input this large, hand freed memory back to the OS, so that peak memory is
/// set by the largest input, not by how the allocator's free lists fragment over a run.
const TRIM_AFTER_BYTES: u64 = 8 << 20;

/// Convert a batch: outputs under `opts.out`, audit and summary merged in input order.
/// Workers convert and write bundles in parallel; one writer streams the audit, the access
/// audit and (ndjson) the resources, strictly in input order, to temp files renamed into
/// place at the end, so outputs are byte-identical whatever `--jobs` is and memory stays
/// flat however many inputs there are.
pub fn run_batch(
    inputs: &[InputFile],
    settings: &ConvertSettings,
    opts: &BatchOptions,
    progress: Progress<'_>,
) -> io::Result<RunTotals> {
    let bundles = opts.out.join("bundles");
    let meta = opts.meta_dir();
    output::secure_dir(&opts.out)?;
    output::secure_dir(&meta)?;
    output::remove_stale_temps(&meta)?;
    if opts.format == OutputFormat::Bundle {
        output::secure_dir(&bundles)?;
        if opts.shard.is_some() {
            // The bundles folder is shared with other shards that may be running now:
            // remove only the temp files of this shard's own inputs.
            remove_own_stale_temps(&bundles, inputs)?;
        } else {
            output::remove_stale_temps(&bundles)?;
        }
    }
    let mut ndjson = match opts.format {
        OutputFormat::Ndjson => Some(crate::ndjson::Writer::new(&meta.join("ndjson"))?),
        OutputFormat::Bundle => None,
    };

    let done = AtomicUsize::new(0);
    let rejected = AtomicUsize::new(0);
    let bytes_done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut totals = RunTotals {
        inputs: inputs.len(),
        no_snomed_release: settings.policy.snomed_release_version().is_none(),
        hierarchy: settings.exclusion_basis().hierarchy_text(),
        skipped: opts.skipped.clone(),
        ..RunTotals::default()
    };
    let mut journal = output::Journal::open(&meta)?;
    totals.resumed = journal.inherited;
    let mut audit = output::AtomicFile::create(&meta.join("audit.ndjson"))?;
    let mut access = output::AtomicFile::create(&meta.join("access-audit.ndjson"))?;
    let work = |i: usize| {
        let f = &inputs[i];
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let r = process_one(f, settings, &bundles, opts.format);
        if r.c.bytes >= TRIM_AFTER_BYTES {
            output::release_free_memory();
        }
        if r.c.status == Status::Rejected {
            rejected.fetch_add(1, Ordering::Relaxed);
            if opts.fail_fast {
                stop.store(true, Ordering::SeqCst);
            }
        }
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        let b = bytes_done.fetch_add(r.c.bytes as usize, Ordering::Relaxed) + r.c.bytes as usize;
        progress(n, inputs.len(), b as u64, rejected.load(Ordering::Relaxed));
        Some(r)
    };
    let mut sink = Sink {
        inputs,
        bundles: &bundles,
        totals: &mut totals,
        audit: &mut audit,
        access: &mut access,
        journal: &mut journal,
        ndjson: ndjson.as_mut(),
        group: Vec::new(),
        group_bytes: 0,
    };
    // With several workers, start the largest inputs in the window first (output order is
    // unchanged). One worker keeps plain input order (`--fail-fast` stops where it did).
    let sizes: Option<Vec<u64>> = (opts.jobs > 1).then(|| {
        inputs
            .iter()
            .map(|f| std::fs::metadata(&f.path).map_or(0, |m| m.len()))
            .collect()
    });
    let complete = crate::batch::ordered_map_weighted(
        inputs.len(),
        opts.jobs,
        opts.jobs.max(1)
            * match opts.format {
                OutputFormat::Bundle => WINDOW_PER_JOB,
                OutputFormat::Ndjson => WINDOW_PER_JOB_NDJSON,
            },
        sizes.as_deref(),
        &stop,
        &work,
        |i, r| sink.take(i, r),
    );
    let complete = complete.and_then(|c| sink.flush().map(|()| c));
    if complete.is_err() {
        sink.discard();
    }
    let stopped = |e: io::Error, t: &RunTotals| -> io::Error {
        io::Error::new(
            e.kind(),
            Stopped {
                released: t.released,
                source: e,
            },
        )
    };
    let complete = match complete {
        Ok(c) => c,
        Err(e) => return Err(stopped(e, &totals)),
    };
    if !complete {
        totals.stopped_early = true;
    }
    // Publish the audit (its journal durable first: the ndjson files and the bundles'
    // renames it describes come after it), then the summary, then drop the journal.
    let finish = (|| -> io::Result<()> {
        output::fault_point()?;
        journal.sync()?;
        if let Some(w) = ndjson {
            output::fault_point()?;
            w.commit()?;
            totals.released = totals.by_status.get("converted").copied().unwrap_or(0);
        }
        crate::rundir::sync_dir(&bundles);
        output::fault_point()?;
        audit.commit()?;
        output::fault_point()?;
        access.commit()?;
        Ok(())
    })();
    if let Err(e) = finish {
        return Err(stopped(e, &totals));
    }
    let mut summary = summary_json(&totals, settings);
    if let (Some(s), Some(m)) = (&opts.shard, summary.as_object_mut()) {
        m.insert(
            "shard".into(),
            json!({ "index": s.index, "count": s.count }),
        );
    }
    let mut s = serde_json::to_vec_pretty(&summary).map_err(io::Error::other)?;
    s.push(b'\n');
    let finish = (|| -> io::Result<()> {
        output::fault_point()?;
        output::write_atomic(&meta.join("summary.json"), &s)?;
        output::fault_point()?;
        journal.finish()?;
        crate::rundir::sync_dir(&meta);
        Ok(())
    })();
    if let Err(e) = finish {
        return Err(stopped(e, &totals));
    }
    Ok(totals)
}

/// The error of a run stopped by a write error: how many records it had released (each
/// published and audited in the journal) when it stopped.
#[derive(Debug)]
pub struct Stopped {
    /// Records released (bundles published, or ndjson records written) before the stop.
    pub released: usize,
    /// The write error.
    pub source: io::Error,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.source)
    }
}

impl std::error::Error for Stopped {}

/// Bundles written (unsynced) since the last group commit are published together once
/// there are this many, or this many input bytes behind them.
const GROUP_FILES: usize = 64;
const GROUP_BYTES: u64 = 128 << 20;

/// The single writer: receives results in input order; publishes bundles in groups (one
/// filesystem sync, then renames), then writes each input's audit lines, tally, access
/// event and ndjson lines, in order.
struct Sink<'a> {
    inputs: &'a [InputFile],
    bundles: &'a Path,
    totals: &'a mut RunTotals,
    audit: &'a mut output::AtomicFile,
    access: &'a mut output::AtomicFile,
    journal: &'a mut output::Journal,
    ndjson: Option<&'a mut crate::ndjson::Writer>,
    group: Vec<(usize, Processed)>,
    group_bytes: u64,
}

impl Sink<'_> {
    fn take(&mut self, i: usize, r: Option<Processed>) -> io::Result<()> {
        let Some(mut r) = r else {
            self.totals.stopped_early = true;
            return Ok(());
        };
        if let Some(e) = r.fatal.take() {
            // The storage failed under this input's bundle: stop the run (nothing of this
            // input was written).
            return Err(e);
        }
        self.group_bytes += r.c.bytes;
        self.group.push((i, r));
        let unsynced = self.group.iter().any(|(_, p)| p.pending.is_some());
        if !unsynced || self.group.len() >= GROUP_FILES || self.group_bytes >= GROUP_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// One input's audit lines and access-event line.
    fn records(&self, i: usize, p: &Processed) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let mut a = Vec::new();
        write_audit(
            &mut a,
            &self.inputs[i],
            &p.c,
            p.written.as_ref().map(|w| w.name.as_str()),
        );
        let mut ev = Vec::new();
        if let Some(e) = &p.access {
            serde_json::to_writer(&mut ev, e).map_err(io::Error::other)?;
            ev.push(b'\n');
        }
        Ok((a, ev))
    }

    /// Write-ahead: the group's records go to the journal and are made durable (with the
    /// bundles' temp files, one filesystem sync) before any bundle is published or an
    /// earlier one removed; then the audit and access audit get the same records.
    fn flush(&mut self) -> io::Result<()> {
        let mut group = std::mem::take(&mut self.group);
        self.group_bytes = 0;
        let mut records = Vec::with_capacity(group.len());
        let ahead = (|| -> io::Result<()> {
            let mut must_sync = false;
            for (i, p) in &group {
                let (a, ev) = self.records(*i, p)?;
                self.journal.record(&self.inputs[*i].shown(), &a, &ev)?;
                must_sync |= p.pending.is_some() || p.remove.as_ref().is_some_and(|t| t.exists());
                records.push((a, ev));
            }
            output::fault_point()?;
            self.journal.flush()?;
            if must_sync {
                let mut files: Vec<&Path> = group
                    .iter()
                    .filter_map(|(_, p)| p.pending.as_ref().map(|(t, _)| t.as_path()))
                    .collect();
                files.push(self.journal.path());
                output::sync_files(self.bundles, &files)?;
            }
            Ok(())
        })();
        let published = ahead.and_then(|()| self.publish(&mut group, &mut records));
        if let Err(e) = published {
            self.group = group;
            return Err(e);
        }
        for ((i, p), (a, ev)) in group.iter().zip(records) {
            self.audit.write_all(&a)?;
            tally(self.totals, &p.c);
            if let Some(e) = &p.c.error {
                self.totals
                    .rejected
                    .push((self.inputs[*i].display.clone(), e.clone()));
            }
            if let Some(r) = p.c.withheld {
                self.totals
                    .withheld
                    .push((self.inputs[*i].display.clone(), r.as_str()));
            }
            self.access.write_all(&ev)?;
            if let (Some(w), Some(lines)) = (self.ndjson.as_deref_mut(), &p.lines) {
                w.append(lines)?;
            }
        }
        Ok(())
    }

    /// Rename the group's bundles into place and remove earlier bundles of inputs not
    /// released now. A rename that fails for one input (say a folder in the way) makes that
    /// input `write-failed` (recorded again in the journal); a failing storage stops the run.
    fn publish(
        &mut self,
        group: &mut [(usize, Processed)],
        records: &mut [(Vec<u8>, Vec<u8>)],
    ) -> io::Result<()> {
        for ((i, p), rec) in group.iter_mut().zip(records.iter_mut()) {
            if let Some((tmp, target)) = p.pending.take() {
                if let Err(e) = output::fault_point().and_then(|()| output::publish(&tmp, &target))
                {
                    let _ = std::fs::remove_file(&tmp);
                    if output::stops_run(&e) {
                        return Err(e);
                    }
                    *p = Processed::write_failed(p.c.bytes, "cannot rename the bundle into place");
                    *rec = self.records(*i, p)?;
                    self.journal
                        .record(&self.inputs[*i].shown(), &rec.0, &rec.1)?;
                    p.remove = Some(target);
                } else {
                    self.totals.released += 1;
                }
            }
            if let Some(t) = p.remove.take() {
                output::fault_point()?;
                if let Err(e) = output::remove_if_exists(&t) {
                    if output::stops_run(&e) {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// After an error: remove the temp files of bundles not yet published.
    fn discard(&mut self) {
        for (_, p) in self.group.drain(..) {
            if let Some((tmp, _)) = p.pending {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

/// Remove temp files an interrupted run of the same inputs left in a shared folder
/// (`.migx-tmp-<pid>-<tag of the bundle name>`), leaving other shards' files alone.
fn remove_own_stale_temps(dir: &Path, inputs: &[InputFile]) -> io::Result<()> {
    let own: std::collections::HashSet<String> = inputs
        .iter()
        .map(|f| output::temp_tag(&f.bundle_name))
        .collect();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(output::TEMP_PREFIX) else {
            continue;
        };
        let Some((pid, bundle)) = rest.split_once('-') else {
            continue;
        };
        if pid.bytes().all(|b| b.is_ascii_digit()) && own.contains(bundle) {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// A release written (or, for ndjson, prepared for the writer).
struct Written {
    /// Relative to the output folder, e.g. `bundles/x.json` (`ndjson/` for ndjson).
    name: String,
}

/// One input's result as the writer receives it: the bundle itself is already written (or
/// serialised into `lines`) and dropped.
struct Processed {
    c: Conversion,
    written: Option<Written>,
    access: Option<Json>,
    lines: Option<crate::ndjson::Lines>,
    /// A bundle written to its temp file, not yet synced: (temp, final path).
    pending: Option<(PathBuf, PathBuf)>,
    /// An earlier bundle of this input to remove (it is not released now), once the
    /// journal says so.
    remove: Option<PathBuf>,
    /// A write error that stops the run (the storage is full or failing).
    fatal: Option<io::Error>,
}

impl Processed {
    fn write_failed(size: u64, what: &str) -> Processed {
        Processed {
            c: Conversion::rejected(InputError::new(ErrorCode::WriteFailed, what), size),
            written: None,
            access: None,
            lines: None,
            pending: None,
            remove: None,
            fatal: None,
        }
    }
}

/// Convert one input and write its bundle; a panic (a bug) becomes `internal-error`.
fn process_one(
    f: &InputFile,
    settings: &ConvertSettings,
    bundles: &Path,
    format: OutputFormat,
) -> Processed {
    let target = bundles.join(&f.bundle_name);
    // Never leave an earlier run's bundle for an input that is not released now (removed
    // by the writer once the journal records why).
    let remove = (format == OutputFormat::Bundle).then(|| target.clone());
    let plain = |c: Conversion| Processed {
        c,
        written: None,
        access: None,
        lines: None,
        pending: None,
        remove: remove.clone(),
        fatal: None,
    };
    let internal = |msg: String, size: u64| {
        plain(Conversion::rejected(
            InputError::new(ErrorCode::InternalError, msg),
            size,
        ))
    };
    if let Some(msg) = &f.walk_error {
        return plain(Conversion::rejected(
            InputError::new(ErrorCode::IoError, msg.clone()),
            0,
        ));
    }
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        convert_file(&f.path, settings)
    }));
    let mut c = match caught {
        Ok(c) => c,
        Err(_) => {
            return internal(
                "migx failed on this file (a bug); the rest of the batch went on".into(),
                0,
            )
        }
    };
    let Some(bundle) = c.bundle.take() else {
        return plain(c);
    };
    match format {
        OutputFormat::Bundle => {
            // Stream the pretty JSON to the temp file, hashing as it goes.
            let mut hasher = Sha256::new();
            let written = output::write_temp_with(&target, |w| {
                output::fault_point()?;
                let mut hw = HashingWriter {
                    inner: w,
                    hasher: &mut hasher,
                };
                serde_json::to_writer_pretty(&mut hw, &bundle).map_err(io::Error::other)?;
                hw.write_all(b"\n")
            });
            match written {
                Ok(tmp) => {
                    let name = format!("bundles/{}", f.bundle_name);
                    let sha = crate::digest::hex(&hasher.finalize());
                    let access =
                        crate::access::access_event(&c, &bundle, &name, &sha, &settings.policy);
                    Processed {
                        c,
                        written: Some(Written { name }),
                        access,
                        lines: None,
                        pending: Some((tmp, target)),
                        remove: None,
                        fatal: None,
                    }
                }
                Err(e) => {
                    let size = c.bytes;
                    let mut p = plain(Conversion::rejected(
                        InputError::new(
                            ErrorCode::WriteFailed,
                            format!("cannot write the bundle: {}", e.kind()),
                        ),
                        size,
                    ));
                    if output::stops_run(&e) {
                        p.fatal = Some(e);
                    }
                    p
                }
            }
        }
        OutputFormat::Ndjson => {
            // What the access event needs from the bundle: its id and the entries' types.
            let skeleton = json!({
                "id": bundle["id"],
                "entry": bundle["entry"].as_array().map(|es| es.iter().map(|e| json!({
                    "fullUrl": e["fullUrl"],
                    "resource": { "resourceType": e["resource"]["resourceType"] }
                })).collect::<Vec<_>>()),
            });
            let lines = match crate::ndjson::bundle_lines(bundle) {
                Ok(l) => l,
                Err(e) => return internal(format!("ndjson: {e}"), c.bytes),
            };
            let name = "ndjson/".to_string();
            let access =
                crate::access::access_event(&c, &skeleton, &name, &lines.sha256, &settings.policy);
            Processed {
                c,
                written: Some(Written { name }),
                access,
                lines: Some(lines),
                pending: None,
                remove: None,
                fatal: None,
            }
        }
    }
}

fn write_audit(out: &mut Vec<u8>, f: &InputFile, c: &Conversion, bundle: Option<&str>) {
    // Masked once per input, not once per audited item.
    let shown = f.shown();
    let reason = c
        .withheld
        .map(|r| r.as_str())
        .or(c.error.as_ref().map(|e| e.code.as_str()));
    let mut line = json!({
        "kind": "file",
        "input": &shown,
        "status": c.status.as_str(),
        "reason": reason,
        "bundle": bundle,
    });
    if let Some(e) = &c.error {
        line["error"] = json!({
            "code": e.code.as_str(),
            "message": e.message,
            "line": e.line,
            "column": e.column,
            "element": e.element,
        });
    }
    push_line(out, &line);
    for it in &c.items {
        let line = json!({
            "kind": if it.text_only { "text" } else { "item" },
            "input": &shown,
            "source_id": it.source_id,
            "element": it.element,
            "category": it.category.map(Category::as_str),
            "reason": it.reason.as_str(),
        });
        push_line(out, &line);
    }
}

fn push_line(out: &mut Vec<u8>, v: &Json) {
    if serde_json::to_writer(&mut *out, v).is_ok() {
        out.push(b'\n');
    }
}

fn tally(t: &mut RunTotals, c: &Conversion) {
    *t.by_status.entry(c.status.as_str()).or_insert(0) += 1;
    t.bytes += c.bytes;
    if let Some(r) = c.withheld {
        *t.file_reasons.entry(r.as_str()).or_insert(0) += 1;
    }
    if let Some(e) = &c.error {
        *t.error_codes.entry(e.code.as_str()).or_insert(0) += 1;
    }
    for (cat, n) in &c.shared {
        *t.items_shared.entry(cat.as_str()).or_insert(0) += n;
    }
    for it in &c.items {
        if it.text_only {
            t.text_removed += 1;
        } else {
            *t.items_withheld.entry(it.reason.as_str()).or_insert(0) += 1;
        }
    }
}

fn summary_json(t: &RunTotals, s: &ConvertSettings) -> Json {
    let get = |k: &str| t.by_status.get(k).copied().unwrap_or(0);
    let mut shared = serde_json::Map::new();
    for c in Category::ALL {
        shared.insert(
            c.as_str().into(),
            json!(t.items_shared.get(c.as_str()).copied().unwrap_or(0)),
        );
    }
    json!({
        "migx_version": env!("CARGO_PKG_VERSION"),
        "policy": { "name": s.policy.name(), "version": s.policy.version() },
        "policy_sha256": s.policy.sha256(),
        "snomed_release": s.policy.snomed_release_version(),
        "exclusion_refsets": s.exclusion_basis().summary_json(),
        "consent_source": if s.consent.is_operator_assertion() { "operator-assertion" } else { "consent-file" },
        "inputs": t.inputs,
        "converted": get("converted"),
        "withheld": get("withheld"),
        "rejected": get("rejected"),
        "stopped_early": t.stopped_early,
        "file_reasons": t.file_reasons,
        "error_codes": t.error_codes,
        "items_shared": shared,
        "items_withheld": t.items_withheld,
        "free_text_removed": t.text_removed,
        "withheld_no_snomed_release": t.withheld_no_snomed_release(),
        "snomed_advice": t.no_snomed_release.then_some(NO_SNOMED_RELEASE_ADVICE),
        "input_bytes": t.bytes,
        "skipped": t.skipped,
        "permitted": permitted_json(s),
    })
}

/// The requesting organisations and purposes of use the run could release to: the policy's
/// `permitted_requesters` and those added for the run with `--permit-requester`.
fn permitted_json(s: &ConvertSettings) -> Json {
    let policy = s.policy.permitted_requesters();
    let mut requesters: Vec<Json> = policy
        .iter()
        .map(|r| json!({ "ods_code": r.ods_code, "name": r.name, "role": r.role, "source": "policy" }))
        .collect();
    let mut run: Vec<&String> = s
        .run_permitted_requesters
        .iter()
        .filter(|o| !policy.iter().any(|r| &r.ods_code == *o))
        .collect();
    run.sort();
    run.dedup();
    requesters.extend(run.into_iter().map(
        |o| json!({ "ods_code": o, "name": null, "role": null, "source": "--permit-requester" }),
    ));
    json!({ "requesters": requesters, "purposes": s.policy.permitted_purposes() })
}

// ------------------------------------------------------------------ explain

/// One source item as `migx explain` shows it.
#[derive(Debug, Clone)]
pub struct ExplainedItem {
    /// The source element id (lowercase), or `#<index>`.
    pub source_id: String,
    /// The construct, as in the GP2GP specification.
    pub element: &'static str,
    /// The category, when the item has one.
    pub category: Option<Category>,
    /// `shared`, `shared-as-part` (of the item named in `part_of`), `container` (structure
    /// whose contents are decided one by one, e.g. a specimen in a report), or `withheld`.
    pub decision: &'static str,
    /// For `shared-as-part`: the id of the item it is shared as part of.
    pub part_of: Option<String>,
    /// For `withheld`: the rule.
    pub reason: Option<&'static str>,
    /// For `withheld: confidential` by a code on another construct (an enclosing
    /// composition, the problem naming it, the extract, a GP Connect `List`): that
    /// construct's name, never its id.
    pub inherited_from: Option<&'static str>,
    /// The item is shared but its free text was removed.
    pub free_text_removed: bool,
}

/// What convert would do with one file, item by item.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The file explained.
    pub input: String,
    /// What convert would do with it.
    pub status: Status,
    /// Patient-level reason (withheld) or error code (rejected).
    pub reason: Option<String>,
    /// The rejection message, when rejected.
    pub message: Option<String>,
    /// SHA-256 of the policy the decisions were made under.
    pub policy_sha256: String,
    /// What the sensitive-code check rested on (official refsets or not; SNOMED CT subtypes
    /// or only exact matches and Read v2/CTV3 prefixes).
    pub exclusion_checked: Vec<String>,
    /// Every item but compositions, in document order.
    pub items: Vec<ExplainedItem>,
}

/// Explain one file with the same functions convert uses (so they cannot disagree).
pub fn explain_file(path: &Path, settings: &ConvertSettings) -> Explanation {
    let mut out = Explanation {
        input: path.display().to_string(),
        status: Status::Rejected,
        reason: None,
        message: None,
        policy_sha256: settings.policy.sha256().to_string(),
        exclusion_checked: {
            let b = settings.exclusion_basis();
            vec![b.refsets_text(), b.hierarchy_text()]
        },
        items: Vec::new(),
    };
    let (ex, _hash, size) = match read_input(path, settings) {
        Ok(v) => v,
        Err((e, _)) => {
            out.reason = Some(e.code.as_str().to_string());
            out.message = Some(e.to_string());
            return out;
        }
    };
    // The stages convert runs, up to the item decisions (made once, here): mapping and the
    // output safety net (schema validation) are convert's job, so explain does not pay for
    // them, and nothing they do changes a decision.
    let as_of = match admit(&ex, size, settings) {
        Ok(admission) => {
            out.status = Status::Converted;
            Some(admission.as_of)
        }
        Err(ended) => {
            out.status = ended.status;
            out.reason = ended
                .withheld
                .map(|r| r.as_str().to_string())
                .or(ended.error.as_ref().map(|e| e.code.as_str().to_string()));
            out.message = ended.error.as_ref().map(|e| e.to_string());
            // A rejected file releases nothing: no item of it is listed, so none reads `shared`.
            if ended.status == Status::Rejected {
                return out;
            }
            // A withheld patient's items are shown at the judged time the record would have
            // had (the claimed time when it has none).
            settings
                .as_of
                .or(ex.created.value())
                .map(|claimed| judged_time(&ex, claimed, now_epoch_secs()).unwrap_or(claimed))
        }
    };
    let Some(as_of) = as_of else { return out };
    let d = decide(&ex, &settings.policy, as_of);
    let text: std::collections::HashSet<usize> = d.free_text_removed.iter().copied().collect();
    for (i, dec) in d.items.iter().enumerate() {
        let item = &ex.items[i];
        let (decision, part_of, reason) = match dec.outcome {
            Outcome::Container if item.element == Some(Element::EhrComposition) => continue,
            Outcome::Container => ("container", None, None),
            Outcome::Shared(_) => ("shared", None, None),
            Outcome::PartOf(o) => ("shared-as-part", Some(audit_id(&ex.items[o], o)), None),
            Outcome::Withheld(r) => ("withheld", None, Some(r.as_str())),
        };
        out.items.push(ExplainedItem {
            source_id: audit_id(item, i),
            element: item.element.map(Element::name).unwrap_or("unknown"),
            category: dec.category,
            decision,
            part_of,
            reason,
            inherited_from: match dec.outcome {
                Outcome::Withheld(WithheldReason::Confidential) => d.inherited_from(i),
                _ => None,
            },
            free_text_removed: text.contains(&i),
        });
    }
    out
}

impl Explanation {
    /// The explanation as JSON (`migx explain --json`).
    pub fn to_json(&self) -> Json {
        let items: Vec<Json> = self
            .items
            .iter()
            .map(|i| {
                json!({
                    "source_id": i.source_id,
                    "element": i.element,
                    "category": i.category.map(Category::as_str),
                    "decision": i.decision,
                    "part_of": i.part_of,
                    "reason": i.reason,
                    "inherited_from": i.inherited_from,
                    "free_text_removed": i.free_text_removed,
                })
            })
            .collect();
        json!({
            "input": self.input,
            "status": self.status.as_str(),
            "reason": self.reason,
            "message": self.message,
            "policy_sha256": self.policy_sha256,
            "exclusion_checked": self.exclusion_checked,
            "items": items,
        })
    }

    /// The explanation as a table; `colour` adds ANSI colours (terminals without `NO_COLOR`).
    pub fn to_table(&self, colour: bool) -> String {
        use std::fmt::Write as _;
        let paint = |s: &str, code: &str| {
            if colour {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let mut t = String::new();
        let status = match self.status {
            Status::Converted => paint("converted", "32"),
            Status::Withheld => paint("withheld", "33"),
            Status::Rejected => paint("rejected", "31"),
        };
        let _ = writeln!(
            t,
            "{}: {}{}",
            self.input,
            status,
            self.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        if let Some(m) = &self.message {
            let _ = writeln!(t, "  {m}");
        }
        let _ = writeln!(t, "policy sha256 {}", self.policy_sha256);
        for line in &self.exclusion_checked {
            let _ = writeln!(t, "{line}");
        }
        if self.items.is_empty() {
            return t;
        }
        let _ = writeln!(
            t,
            "{:<38} {:<22} {:<15} decision",
            "source id", "element", "category"
        );
        for i in &self.items {
            let decision = match (i.decision, i.reason, &i.part_of) {
                ("withheld", Some(r), _) => match i.inherited_from {
                    Some(from) => paint(&format!("withheld: {r} (from {from})"), "33"),
                    None => paint(&format!("withheld: {r}"), "33"),
                },
                ("shared-as-part", _, Some(o)) => paint(&format!("shared as part of {o}"), "32"),
                _ => paint(i.decision, "32"),
            };
            let _ = writeln!(
                t,
                "{:<38} {:<22} {:<15} {}{}",
                i.source_id,
                i.element,
                i.category.map(Category::as_str).unwrap_or("-"),
                decision,
                if i.free_text_removed {
                    " (free text removed)"
                } else {
                    ""
                }
            );
        }
        t
    }
}

#[cfg(test)]
mod admission_rules;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::ConsentBook;
    use crate::policy::Policy;
    use std::sync::Arc;

    /// Test-only seam: converting a file with this name panics, standing in for a bug.
    const PANIC_NAME: &str = "migx-test-panic.xml";

    pub(super) fn maybe_panic(path: &Path) {
        if path.file_name().is_some_and(|n| n == PANIC_NAME) {
            panic!("test-only panic seam");
        }
    }

    #[test]
    fn first_bytes_that_may_begin_an_extract() {
        for head in [
            &b""[..],
            b"<?xml version=\"1.0\"?>",
            b"  \r\n\t<EhrExtract",
            b"\xEF\xBB\xBF<x/>",
            b"\xEF\xBB\xBF \n{\"resourceType\": \"Bundle\"}",
            b"{}",
            b"\xFF\xFE<\0?\0",
            b"\xFE\xFF\0<",
            b"<\0x\0",
            b"\0<\0x",
        ] {
            assert!(starts_like_an_extract(head), "{head:?}");
        }
        for head in [
            &b"# README"[..],
            b"nhs_number,decision,recorded_at",
            b"%PDF-1.4",
            b"[1, 2]",
            b"\x00\x00\x00\x01Bud1",
            b"   \n",
            b"\xEF\xBB\xBFtext",
        ] {
            assert!(!starts_like_an_extract(head), "{head:?}");
        }
        // Only white space in all the bytes sniffed: not plainly anything, so it is read.
        assert!(starts_like_an_extract(&[b' '; SNIFF_BYTES as usize]));
    }

    #[test]
    fn skip_reasons_are_the_summary_schemas() {
        let schema: Json =
            serde_json::from_str(crate::validate::schemas::SUMMARY_SCHEMA).expect("schema");
        let listed: Vec<&str> = schema["properties"]["skipped"]["propertyNames"]["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(Json::as_str)
            .collect();
        let ours: Vec<&str> = SkipReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(listed, ours);
    }

    fn settings() -> ConvertSettings {
        let policy = Arc::new(Policy::embedded_default().expect("embedded policy"));
        let consent = Arc::new(ConsentBook::all(ConsentDecision::Permit, "Y02345", "TREAT"));
        let mut s = ConvertSettings::new(policy, consent);
        s.allow_test_identities = true;
        s.run_permitted_requesters = vec!["Y02345".to_string()];
        s
    }

    #[test]
    fn a_panic_in_a_worker_is_an_internal_error_and_the_batch_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("fixtures/extracts/01-core-shared.xml");
        let inputs_dir = dir.path().join("in");
        std::fs::create_dir(&inputs_dir).expect("mkdir");
        std::fs::copy(&good, inputs_dir.join("a-good.xml")).expect("copy");
        std::fs::copy(&good, inputs_dir.join(PANIC_NAME)).expect("copy");
        std::fs::copy(&good, inputs_dir.join("z-good.xml")).expect("copy");
        let inputs = collect_inputs(&[inputs_dir]);
        let opts = BatchOptions {
            out: dir.path().join("out"),
            jobs: 2,
            fail_fast: false,
            format: OutputFormat::Bundle,
            shard: None,
            skipped: Default::default(),
        };
        // Keep the expected panic's message out of the test output.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let totals = run_batch(&inputs, &settings(), &opts, &|_, _, _, _| {});
        std::panic::set_hook(hook);
        let totals = totals.expect("batch runs");
        assert_eq!(totals.by_status.get("converted"), Some(&2));
        assert_eq!(totals.error_codes.get("internal-error"), Some(&1));
        let audit = std::fs::read_to_string(opts.out.join("audit.ndjson")).expect("audit");
        let line = audit
            .lines()
            .find(|l| l.contains(PANIC_NAME))
            .expect("an audit line for the panicking file");
        let v: Json = serde_json::from_str(line).expect("json");
        assert_eq!(v["status"], "rejected");
        assert_eq!(v["error"]["code"], "internal-error");
        assert!(opts.out.join("bundles/a-good.json").is_file());
        assert!(opts.out.join("bundles/z-good.json").is_file());
        assert!(!opts.out.join("bundles/migx-test-panic.json").exists());
    }
}
