//! One pass over a GP2GP `EhrExtract` with quick-xml into the typed [`Extract`], streamed
//! ([`read_extract`]) or over a document in memory ([`read_extract_bytes`]), through one
//! event loop.
//!
//! The reader keeps a stack of element tags and a stack of open statements; each element is
//! matched by its path *relative to the statement it belongs to*, so nested statements are
//! read the same way wherever they sit. Nothing is rescanned: ids are indexed once at the
//! end ([`ExtractBuilder::finish`](crate::ehr::model::ExtractBuilder::finish)). Hostile input costs bounded work: depth, attributes per
//! element and text size are limited while streaming, and a DOCTYPE is refused outright
//! (entities are never expanded, nothing is fetched).
//!
//! One file per construct the pass reads, each an `impl State` block called from `open`
//! and `close` here: `extract` (the root, the wrapper and the `EhrExtract`'s own fields:
//! patient, practice), `agent` (the agentDirectory and who took part in each statement),
//! `statement` (what every statement has: ids, codes, status, dates, confidentiality, free
//! text, and the dispatch of a statement's fields), `observation` (values, interpretation,
//! reference ranges), `medication` (drug, quantity, repeats, dose text, prior issues),
//! `link_set` (problem links). Below them: `tags` (the element names the reader knows),
//! `attrs` (one element's attributes and codings), `errors` (messages that never quote the
//! input) and `bound` (the byte bound on one node).

mod agent;
mod attrs;
mod bound;
mod errors;
mod extract;
mod link_set;
mod medication;
mod observation;
mod statement;
mod tags;
#[cfg(test)]
mod testing;

pub use attrs::normalise_id;

use crate::ehr::model::*;
use crate::error::{ErrorCode, InputError};
use attrs::{local_name, own, AttrReader, Attrs};
use errors::{safe_name, xml_error};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::io::Read;
use tags::{tag_of, Tag};

/// HL7 v3 namespace.
pub const HL7_NS: &str = "urn:hl7-org:v3";
/// OID of NHS numbers in `recordTarget/patient/id/@root`.
pub const OID_NHS_NUMBER: &str = "2.16.840.1.113883.2.1.4.1";
/// OID of ODS (SDS organisation) codes.
pub const OID_ODS: &str = "1.2.826.0.1285.0.1.10";
/// OID of ODS organisation codes as an agentDirectory organisation writes them (the NHS
/// GP2GP translator's `ORG_ROOT`).
pub const OID_ODS_ORG: &str = "2.16.840.1.113883.2.1.4.3";
/// OID of GMP (GP national) numbers on an agentDirectory `Agent` (the translator maps the
/// agent's second id to `gmp-number`).
pub const OID_GMP_NUMBER: &str = "2.16.840.1.113883.2.1.4.2";
/// OID of SDS user ids.
pub const OID_SDS_USER: &str = "1.2.826.0.1285.0.2.0.65";
/// OID of SDS role profile ids.
pub const OID_SDS_ROLE_PROFILE: &str = "1.2.826.0.1285.0.2.0.67";

/// Streaming limits; a file that exceeds one is rejected with `limit-exceeded`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest element nesting accepted (guards against stack and memory exhaustion).
    pub max_depth: usize,
    /// Most attributes accepted on one element.
    pub max_attributes: usize,
    /// Largest single node (a text node or a whole tag with its attributes); enforced before
    /// the node is buffered whole (see `bound::NodeBound`), so memory stays bounded.
    pub max_text_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 256,
            max_attributes: 64,
            max_text_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Read an EhrExtract from a UTF-8 byte stream (read in blocks of at most 64 KiB: no need
/// to buffer it first). `len_hint` sizes the item vector.
pub fn read_extract<R: Read>(
    source: R,
    limits: &Limits,
    len_hint: u64,
) -> Result<Extract, InputError> {
    let reader = Reader::from_reader(bound::bounded(source, limits.max_text_bytes));
    read_events(
        Streamed {
            reader,
            buf: Vec::with_capacity(64 * 1024),
        },
        limits,
        len_hint,
    )
}

/// Read an EhrExtract that is in memory whole (UTF-8 bytes): the same reading as
/// [`read_extract`], with every event borrowed from `doc` instead of copied out of a stream's
/// blocks into a buffer of its own.
pub fn read_extract_bytes(doc: &[u8], limits: &Limits) -> Result<Extract, InputError> {
    read_events(
        InMemory {
            reader: Reader::from_reader(doc),
        },
        limits,
        doc.len() as u64,
    )
}

/// Where the reader's events come from.
trait Events {
    /// The next event, with the offset just after it.
    fn next_event(&mut self) -> Result<(Event<'_>, u64), quick_xml::Error>;
    /// The offset where the next event starts.
    fn position(&self) -> u64;
    /// (quick-xml's own offset of its last error, bytes handed to the parser so far).
    fn error_at(&self) -> (u64, u64);
    /// quick-xml's settings (the loop changes whitespace trimming as it goes).
    fn config_mut(&mut self) -> &mut quick_xml::reader::Config;
}

/// A stream, read in bounded blocks (see [`bound`]); each event is copied into `buf`.
struct Streamed<R> {
    reader: Reader<std::io::BufReader<bound::NodeBound<R>>>,
    buf: Vec<u8>,
}

impl<R: Read> Events for Streamed<R> {
    fn next_event(&mut self) -> Result<(Event<'_>, u64), quick_xml::Error> {
        self.buf.clear();
        let ev = self.reader.read_event_into(&mut self.buf)?;
        Ok((ev, self.reader.buffer_position()))
    }
    fn position(&self) -> u64 {
        self.reader.buffer_position()
    }
    fn error_at(&self) -> (u64, u64) {
        (
            self.reader.error_position(),
            bound::consumed(self.reader.get_ref()),
        )
    }
    fn config_mut(&mut self) -> &mut quick_xml::reader::Config {
        self.reader.config_mut()
    }
}

/// A document in memory: events borrow from it (nothing is buffered, so no node needs
/// bounding before it is seen; the per-event size check still applies).
struct InMemory<'a> {
    reader: Reader<&'a [u8]>,
}

impl Events for InMemory<'_> {
    fn next_event(&mut self) -> Result<(Event<'_>, u64), quick_xml::Error> {
        let ev = self.reader.read_event()?;
        Ok((ev, self.reader.buffer_position()))
    }
    fn position(&self) -> u64 {
        self.reader.buffer_position()
    }
    fn error_at(&self) -> (u64, u64) {
        (self.reader.error_position(), self.reader.buffer_position())
    }
    fn config_mut(&mut self) -> &mut quick_xml::reader::Config {
        self.reader.config_mut()
    }
}

fn read_events(
    mut reader: impl Events,
    limits: &Limits,
    len_hint: u64,
) -> Result<Extract, InputError> {
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        // Whitespace-only text (the line breaks between elements, one per element) is
        // skipped without an event or a copy; text with content is still seen (leading
        // whitespace trimmed), and only whether there is any is used.
        cfg.trim_text_start = true;
        cfg.trim_text_end = false;
    }
    let mut st = State {
        ex: ExtractBuilder::default(),
        path: Vec::with_capacity(64),
        items: Vec::with_capacity(32),
        extract_depth: None,
        text_target: None,
        root_seen: false,
        in_value_text: None,
        names: Vec::with_capacity(1024),
        name_starts: Vec::with_capacity(64),
        capture: None,
        captured: String::new(),
        capture_overflow: false,
        agent: None,
        agent_dups: Vec::new(),
        participation: None,
        attr_reader: AttrReader::default(),
    };
    st.ex.items.reserve((len_hint / 2048) as usize);
    loop {
        let pos = reader.position();
        let (ev, end) = match reader.next_event() {
            Ok(ev) => ev,
            Err(e) => {
                let (err_pos, consumed) = reader.error_at();
                return Err(xml_error(e, (pos, err_pos, consumed), &st));
            }
        };
        if (end - pos) as usize > limits.max_text_bytes {
            return Err(InputError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "a single XML node is larger than {} bytes",
                    limits.max_text_bytes
                ),
            )
            .at(pos));
        }
        match ev {
            Event::Start(e) => {
                st.open(&e, pos, limits)?;
            }
            Event::Empty(e) => {
                st.open(&e, pos, limits)?;
                st.close();
            }
            Event::End(_) => st.close(),
            Event::Text(t) if st.capture.is_some() => st.keep_text(&t.xml10_content()),
            Event::CData(t) if st.capture.is_some() => st.keep_text(&t.into_inner()),
            Event::GeneralRef(r) if st.capture.is_some() => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => match r.as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    },
                    Err(_) => None,
                };
                match c {
                    Some(c) => st.keep_text(c.encode_utf8(&mut [0u8; 4])),
                    // An entity nobody defined: not text migx can stand behind.
                    None => st.capture_overflow = true,
                }
            }
            Event::Text(t) => {
                if let Some(i) = st.text_target {
                    if !t.as_ref().bytes().all(|b| b.is_ascii_whitespace()) {
                        st.ex.items[i].free_text = true;
                    }
                }
            }
            Event::CData(_) => {
                if let Some(i) = st.text_target {
                    st.ex.items[i].free_text = true;
                }
            }
            Event::GeneralRef(_) => {
                // `&amp;` and friends inside text: the text is non-empty.
                if let Some(i) = st.text_target {
                    st.ex.items[i].free_text = true;
                }
            }
            Event::DocType(_) => {
                return Err(InputError::new(
                    ErrorCode::DoctypeForbidden,
                    "DOCTYPE declarations are not accepted (entities are never expanded or fetched)",
                )
                .at(pos));
            }
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    let enc = enc.to_ascii_lowercase();
                    if !matches!(enc.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii") {
                        return Err(InputError::new(
                            ErrorCode::InvalidEncoding,
                            "the XML declaration names an encoding other than UTF-8 or ASCII; re-encode as UTF-8",
                        )
                        .at(pos));
                    }
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::PI(_) => {}
        }
        // Kept text is read whole (the spaces after an entity are part of it).
        reader.config_mut().trim_text_start = st.capture.is_none();
    }
    if !st.root_seen {
        return Err(InputError::new(
            ErrorCode::NotXml,
            "no XML root element found",
        ));
    }
    if !st.path.is_empty() {
        let mut err = InputError::new(
            ErrorCode::MalformedXml,
            "the document ends before its root element is closed (truncated?)",
        )
        .at(reader.position());
        err.element = st.innermost();
        return Err(err);
    }
    let mut ex = st.ex;
    for d in &st.agent_dups {
        ex.agents.remove(d);
    }
    if ex.kind == Some(MessageKind::BareExtract) {
        ex.message_id = ex.extract_id.clone();
    }
    // Every item was compacted as it closed (`State::close`).
    Ok(ex.finish_compacted())
}

struct State {
    ex: ExtractBuilder,
    path: Vec<Tag>,
    /// Open items: (index in ex.items, depth of the item's element in `path`).
    items: Vec<(usize, usize)>,
    extract_depth: Option<usize>,
    /// Item whose free-text flag a text node would set, with the path depth that opened it.
    text_target: Option<usize>,
    root_seen: bool,
    in_value_text: Option<usize>,
    /// Local names of the open elements, concatenated (for error messages only).
    names: Vec<u8>,
    name_starts: Vec<usize>,
    /// A text node the model keeps (dose instruction, unit text): (item, slot, depth of the
    /// element holding the text).
    capture: Option<(usize, Slot, usize)>,
    captured: String,
    /// The kept text was too long or held an undefined entity: recorded as free text instead.
    capture_overflow: bool,
    /// The agentDirectory `Agent` being read: its source id, what it says, its depth.
    agent: Option<(String, Agent, usize)>,
    /// Agent ids given twice in the directory: neither is referenced (fail closed).
    agent_dups: Vec<String>,
    /// How the open `Participant`/`Participant2`/`author` takes part (`None`: not staff,
    /// or a nullFlavor).
    participation: Option<StaffKind>,
    /// Reads each element's attributes (the code systems seen so far, identified once each).
    attr_reader: AttrReader,
}

/// The texts the model keeps (everything else is only "present").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// `pertinentMedicationDosage/text` of a MedicationStatement.
    Dosage,
    /// `quantity/translation/originalText` of a supply (the unit EMIS writes as text).
    QuantityUnit,
    /// `value/translation/originalText` of a physical quantity (`unit="1"` in EMIS).
    ValueUnit,
    /// `code/originalText` of a transfer-degraded allergy code (it names the allergen).
    CodeText,
    /// `agentPerson/name/prefix` of the agent being read.
    StaffPrefix,
    /// `agentPerson/name/given`.
    StaffGiven,
    /// `agentPerson/name/family`.
    StaffFamily,
    /// `representedOrganization/name` or `agentOrganization/name`.
    OrgName,
}

/// Longest dose instruction or unit text kept; longer is treated as free text.
const MAX_KEPT_TEXT: usize = 1024;

impl State {
    fn open(&mut self, e: &BytesStart<'_>, pos: u64, limits: &Limits) -> Result<(), InputError> {
        let qname = e.name();
        let local = local_name(qname.as_ref());
        if self.path.len() >= limits.max_depth {
            return Err(InputError::new(
                ErrorCode::LimitExceeded,
                format!("elements nested deeper than {}", limits.max_depth),
            )
            .at(pos)
            .in_element(safe_name(local.as_bytes())));
        }
        let tag = tag_of(local);
        // Filled in place: most elements use none of its fields, and it is large to move.
        let mut attrs = Attrs::default();
        self.attr_reader.read(e, limits, pos, &mut attrs)?;
        if !self.root_seen {
            self.root_seen = true;
            self.check_root(local, e, &attrs, pos)?;
        } else if self.path.is_empty() {
            return Err(InputError::new(
                ErrorCode::MalformedXml,
                "a second root element after the first one closed",
            )
            .at(pos)
            .in_element(safe_name(local.as_bytes())));
        }
        self.path.push(tag);
        self.name_starts.push(self.names.len());
        self.names.extend_from_slice(local.as_bytes());
        let depth = self.path.len() - 1;

        if tag == Tag::EhrExtract && self.extract_depth.is_none() {
            self.extract_depth = Some(depth);
        }
        // Wrapper fields (children of the root).
        if depth == 1 && self.ex.kind != Some(MessageKind::BareExtract) {
            match tag {
                Tag::Id if self.ex.message_id.is_none() => {
                    self.ex.message_id = attrs.root.as_deref().map(normalise_id)
                }
                Tag::CreationTime => {
                    if let Some(v) = &attrs.value {
                        self.ex.created = DateField::from_hl7(v);
                    }
                }
                _ => {}
            }
        }
        if let Tag::Statement(element) = tag {
            if self.extract_depth.is_some() {
                let parent = self.items.last().map(|&(i, _)| i);
                let idx = self.ex.items.len();
                self.ex.items.push(Item::of(ItemHead {
                    class_code: attrs.class_code.as_deref().map(hl7_code),
                    mood_code: attrs.mood_code.as_deref().map(hl7_code),
                    parent,
                    line: pos as u32,
                    ..ItemHead::new(element)
                }));
                self.items.push((idx, depth));
            }
            return Ok(());
        }
        match self.items.last().copied() {
            Some((idx, idepth)) => self.item_field(idx, idepth, tag, &attrs),
            None if tag == Tag::ConfidentialityCode => {
                // Outside every statement: on the folder, the extract or the message around
                // it, and so on the whole record (fail closed wherever it sits).
                let construct = if self.path.contains(&Tag::EhrFolder) {
                    "ehrFolder"
                } else if self.extract_depth.is_some() {
                    "EhrExtract"
                } else {
                    self.ex.kind.map_or("EhrExtract", MessageKind::name)
                };
                let code = own(&attrs.code).unwrap_or_else(|| "UNKNOWN".to_string());
                self.ex.record_confidentiality.push((construct, code));
            }
            None => self.extract_field(&attrs),
        }
        Ok(())
    }

    fn close(&mut self) {
        let depth = self.path.len().saturating_sub(1);
        // Past the end of the EhrExtract: a later one (a second patient?) is read afresh.
        if self.extract_depth == Some(depth) {
            self.extract_depth = None;
        }
        if let Some(&(idx, idepth)) = self.items.last() {
            if idepth == depth {
                self.items.pop();
                // Complete: the room its lists grew into is given back now, not at the end.
                self.ex.items[idx].compact();
            }
        }
        self.close_staff_text(depth);
        self.close_agent(depth);
        self.close_kept_text(depth);
        if self.in_value_text == Some(depth) {
            self.in_value_text = None;
            self.text_target = None;
        }
        if let Some(Tag::Text | Tag::OriginalText) = self.path.last() {
            self.text_target = None;
        }
        self.path.pop();
        if let Some(start) = self.name_starts.pop() {
            self.names.truncate(start);
        }
    }

    /// Append to the text being kept, within its bound.
    fn keep_text(&mut self, t: &str) {
        if self.captured.len() + t.len() > MAX_KEPT_TEXT {
            self.capture_overflow = true;
        } else {
            self.captured.push_str(t);
        }
    }

    /// The innermost open element's name, for an error message.
    fn innermost(&self) -> Option<String> {
        let start = *self.name_starts.last()?;
        Some(safe_name(self.names.get(start..)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testing::*;

    /// The two event sources read every fixture (good and hostile) alike, whole and cut
    /// short at positions spread over each file (inside tags, attributes, text and
    /// multi-byte characters), and under a small node limit: the same model or the same
    /// rejection, at the same offset.
    #[test]
    fn streamed_and_in_memory_readings_agree_on_every_fixture_and_every_cut() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let mut files = Vec::new();
        for dir in ["extracts", "hostile", "detail/extracts"] {
            for e in std::fs::read_dir(root.join(dir)).expect("fixture folder") {
                let p = e.expect("entry").path();
                if p.extension().is_some_and(|x| x == "xml") {
                    files.push(p);
                }
            }
        }
        assert!(files.len() > 30, "fixtures found: {}", files.len());
        let small = Limits {
            max_text_bytes: 200,
            ..Limits::default()
        };
        for p in &files {
            let doc = std::fs::read(p).expect("fixture");
            let _ = read_with(&doc, &Limits::default());
            let _ = read_with(&doc, &small);
            let step = (doc.len() / 97).max(1);
            for cut in (0..doc.len()).step_by(step) {
                let _ = read_with(&doc[..cut], &Limits::default());
            }
        }
    }

    /// Elements are matched by their local name, after the first ':': a document whose
    /// every element carries a namespace prefix reads as the same document without one; a
    /// name with a second colon keeps it in its local name (and such a root is refused).
    #[test]
    fn prefixed_elements_read_as_their_local_names() {
        let body = r#"<EhrExtract><recordTarget><patient><id root="2.16.840.1.113883.2.1.4.1" extension="9990000018"/></patient></recordTarget><component><ehrFolder><component><ehrComposition><id root="C1"/><component><ObservationStatement classCode="OBS" moodCode="EVN"><id root="O1"/><code code="22K.." codeSystem="2.16.840.1.113883.2.1.6.2" displayName="BMI"/><statusCode code="COMPLETE"/><availabilityTime value="20200314"/></ObservationStatement></component></ehrComposition></component></ehrFolder></component></EhrExtract>"#;
        let plain = read(&format!("{ROOT}{body}</RCMR_IN030000UK06>")).expect("plain reads");
        for prefix in ["hl7:", "a:b:"] {
            let p = prefix.trim_end_matches(':');
            let prefixed = body
                .replace("</", "\u{1}")
                .replace('<', &format!("<{prefix}"))
                .replace('\u{1}', &format!("</{prefix}"));
            let root_ns = format!(r#"<{prefix}RCMR_IN030000UK06 xmlns:{p}="urn:hl7-org:v3">"#);
            let doc = format!("{root_ns}{prefixed}</{prefix}RCMR_IN030000UK06>");
            match read(&doc) {
                Ok(ex) => {
                    assert_eq!(ex.items.len(), plain.items.len(), "{prefix}");
                    for (a, b) in ex.items.iter().zip(&plain.items) {
                        assert_eq!((&a.id, a.element, &a.codes), (&b.id, b.element, &b.codes));
                    }
                    assert_eq!(ex.nhs_numbers, plain.nhs_numbers);
                }
                // With two colons the local name keeps the second prefix: the root is
                // then no message migx reads, and the file is refused, not read as another.
                Err(e) => assert_eq!((prefix, e.code), ("a:b:", ErrorCode::UnsupportedMessage)),
            }
        }
    }

    #[test]
    fn a_second_root_element_is_malformed() {
        let doc = format!("{ROOT}</RCMR_IN030000UK06>{ROOT}</RCMR_IN030000UK06>");
        let e = read(&doc).expect_err("two roots");
        assert_eq!(e.code, ErrorCode::MalformedXml);
        assert_eq!(e.element.as_deref(), Some("RCMR_IN030000UK06"));
    }

    #[test]
    fn elements_after_the_extract_closes_are_read_safely() {
        // Found by fuzzing: an element after </EhrExtract>, shallower than its children,
        // indexed past the end of the path.
        let doc = format!(
            "{ROOT}<a><b><EhrExtract><id root=\"1\"/></EhrExtract></b></a><id root=\"2\"/></RCMR_IN030000UK06>"
        );
        assert!(read(&doc).is_ok());
        // A second EhrExtract in one message is read too: its patient counts.
        let pt = r#"<recordTarget><patient><id root="2.16.840.1.113883.2.1.4.1" extension="9990000018"/></patient></recordTarget>"#;
        let doc = format!(
            "{ROOT}<EhrExtract>{pt}</EhrExtract><EhrExtract>{pt}</EhrExtract></RCMR_IN030000UK06>"
        );
        assert_eq!(read(&doc).expect("reads").nhs_numbers.len(), 2);
    }
}
