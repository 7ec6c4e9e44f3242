//! The input stage: one file in, an [`Extract`] out (with the SHA-256 of its bytes and its
//! size), or the rejection. Sniffs what the file is (XML, UTF-16 XML, JSON, or plainly
//! neither), hashes its bytes once (a small XML file read whole, anything else as it is
//! read), and places a reader's error at its line and column.

use crate::ehr::model::Extract;
use crate::ehr::reader::{read_extract, read_extract_bytes};
use crate::error::{ErrorCode, InputError};
use crate::settings::ConvertSettings;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

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
        Sniff::Xml => read_xml(head, file, path, size, settings),
        Sniff::Utf16Xml { big_endian } => read_utf16(head, file, big_endian, settings),
        Sniff::Json => read_json(head, file, size),
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

/// A UTF-8 XML extract. One of up to [`IN_MEMORY`] bytes is read whole into this thread's
/// document buffer (one copy from the file, hashed in one call) and parsed with every event
/// borrowed from it; a larger one is streamed in bounded blocks, hashed as they are read, so
/// memory stays bounded whatever the file's size (a hostile 100 MB text node included).
fn read_xml(
    head: &[u8],
    mut file: File,
    path: &Path,
    size: u64,
    settings: &ConvertSettings,
) -> Result<(Extract, String), InputError> {
    if size > IN_MEMORY as u64 {
        return read_streamed(head.to_vec(), file, path, size, settings);
    }
    DOCUMENT.with_borrow_mut(|doc| {
        doc.clear();
        doc.reserve_exact(usize::try_from(size).unwrap_or(0).max(head.len()));
        doc.extend_from_slice(head);
        // One byte past the bound tells a file that grew since its size was read.
        let room = IN_MEMORY.saturating_sub(head.len()) as u64 + 1;
        (&mut file)
            .take(room)
            .read_to_end(doc)
            .map_err(|e| io_error(&e))?;
        if doc.len() > IN_MEMORY {
            // It grew past the bound: streamed after all, from the bytes already read.
            return read_streamed(std::mem::take(doc), file, path, size, settings);
        }
        let hash = crate::digest::hex(&Sha256::digest(doc.as_slice()));
        let r = read_extract_bytes(doc, &settings.limits)
            .map(|ex| (ex, hash))
            .map_err(|e| with_position(e, path, Some(doc)));
        // A file that grew while it was read may have doubled the buffer's room.
        if doc.capacity() > IN_MEMORY {
            *doc = Vec::new();
        }
        r
    })
}

/// Largest file read whole (and the most a worker's document buffer keeps between files:
/// reusing it spares the page faults of a fresh allocation per file).
const IN_MEMORY: usize = 8 << 20;

thread_local! {
    /// This thread's document buffer (see [`read_xml`]).
    static DOCUMENT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

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

/// A large XML extract, streamed: `first` (the bytes already read) and then the rest of
/// `file`, hashed as the reader takes its 64 KiB blocks.
fn read_streamed(
    first: Vec<u8>,
    file: File,
    path: &Path,
    size: u64,
    settings: &ConvertSettings,
) -> Result<(Extract, String), InputError> {
    let mut hr = HashingReader {
        inner: io::Cursor::new(first).chain(file),
        hasher: Sha256::new(),
    };
    let r = read_extract(&mut hr, &settings.limits, size);
    // Drain so the hash covers the whole file even if the reader stopped early.
    let r = r.and_then(|ex| {
        io::copy(&mut hr, &mut io::sink()).map_err(|e| io_error(&e))?;
        Ok(ex)
    });
    let hash = crate::digest::hex(&hr.hasher.finalize());
    r.map(|ex| (ex, hash))
        .map_err(|e| with_position(e, path, None))
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

fn read_json(head: &[u8], mut file: File, size: u64) -> Result<(Extract, String), InputError> {
    // The whole file, in a buffer of its size (not grown by doubling: up to twice the input
    // at once), handed to the reader, which frees it before the model is finished.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).max(head.len()));
    bytes.extend_from_slice(head);
    file.read_to_end(&mut bytes).map_err(|e| io_error(&e))?;
    let hash = crate::digest::hex(&Sha256::digest(&bytes));
    read_json_bytes(bytes).map(|ex| (ex, hash))
}

fn read_json_bytes(bytes: Vec<u8>) -> Result<Extract, InputError> {
    // JSON is read as a GP Connect structured record; any other JSON is simply not an
    // input migx takes (`not-xml`: neither an EhrExtract nor a GP Connect bundle).
    crate::gpconnect::read_gpconnect_owned(bytes).map_err(|e| match e.code {
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

fn io_error(e: &io::Error) -> InputError {
    InputError::new(
        ErrorCode::IoError,
        format!("cannot read the file: {}", e.kind()),
    )
}

/// Fill line and column from a byte offset (read only on error, so it costs nothing on the
/// good path).
fn with_position(mut e: InputError, path: &Path, doc: Option<&[u8]>) -> InputError {
    let Some(offset) = e.offset else { return e };
    let count = |data: &[u8]| {
        let upto = &data[..usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len())];
        let line = upto.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let col = upto.iter().rev().take_while(|&&b| b != b'\n').count() as u64 + 1;
        (line, col)
    };
    let lc = match doc {
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
