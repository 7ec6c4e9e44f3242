//! One element's attributes (borrowed from the event), and the codings, dates and ids read
//! from them.

use super::errors::safe_name;
use super::Limits;
use crate::codes::{CodeSystem, Coding, CompactString};
use crate::ehr::model::{id_text, DateField, SourceId};
use crate::error::{ErrorCode, InputError};
use quick_xml::events::attributes::{AttrError, Attribute};
use quick_xml::events::BytesStart;
use quick_xml::name::QName;
use std::borrow::Cow;
use std::collections::HashSet;

/// The attributes of one element that the reader uses, borrowed from the event.
#[derive(Default)]
pub(super) struct Attrs<'a> {
    // Borrowed from the reader's buffer unless a value needed normalising: most elements'
    // attributes are read and dropped, so this saves an allocation per attribute.
    pub(super) root: Option<Cow<'a, str>>,
    pub(super) extension: Option<Cow<'a, str>>,
    pub(super) code: Option<Cow<'a, str>>,
    /// `codeSystem`, identified (through the reader's [`Systems`]).
    pub(super) code_system: Option<CodeSystem>,
    pub(super) display_name: Option<Cow<'a, str>>,
    pub(super) value: Option<Cow<'a, str>>,
    pub(super) unit: Option<Cow<'a, str>>,
    pub(super) xsi_type: Option<Cow<'a, str>>,
    pub(super) null_flavor: bool,
    pub(super) class_code: Option<Cow<'a, str>>,
    pub(super) mood_code: Option<Cow<'a, str>>,
    pub(super) type_code: Option<Cow<'a, str>>,
    pub(super) xmlns: Vec<(String, String)>,
}

/// An owned copy of an attribute value kept in the model.
pub(super) fn own(v: &Option<Cow<'_, str>>) -> Option<String> {
    v.as_deref().map(str::to_string)
}

/// An owned copy of a short attribute value kept in the model (a number as written, a
/// unit): inline, as nearly all are, so it costs no allocation.
pub(super) fn own_short(v: &Option<Cow<'_, str>>) -> Option<CompactString> {
    v.as_deref().map(CompactString::from)
}

pub(super) fn set_date(slot: &mut DateField, a: &Attrs) {
    if let Some(v) = &a.value {
        *slot = DateField::from_hl7(v);
    }
}

pub(super) fn coding(a: &Attrs) -> Option<Coding> {
    match (&a.code, &a.code_system) {
        (Some(code), Some(sys)) if !code.trim().is_empty() => Some(Coding {
            system: sys.clone(),
            code: CompactString::from(code.trim()),
            display: a.display_name.as_deref().map(CompactString::from),
        }),
        _ => None,
    }
}

/// A code given without a `codeSystem`: its system is unknown, so it is screened under
/// every listed system and never emitted.
pub(super) fn systemless(a: &Attrs) -> Option<Coding> {
    match (&a.code, &a.code_system) {
        (Some(code), None) if !code.trim().is_empty() => Some(Coding {
            system: CodeSystem::Invalid,
            code: CompactString::from(code.trim()),
            display: None,
        }),
        _ => None,
    }
}

/// Ids are compared case-insensitively (UUIDs arrive upper-case): `root` trimmed and
/// lowercased, the text every id the reader keeps is made by ([`id_text`]).
pub fn normalise_id(root: &str) -> String {
    id_text(root.trim(), None)
}

/// The local part of an element's or attribute's name, as quick-xml's `QName::local_name`
/// gives it (what follows the first `:`), found by a byte search: it runs for every element
/// and attribute, and `str::find` sets up a char searcher each time.
pub(super) fn local_name(qname: &str) -> &str {
    match qname.bytes().position(|b| b == b':') {
        Some(i) => &qname[i + 1..],
        None => qname,
    }
}

/// `root` (normalised) and `/extension` when there is one, built in one allocation: a
/// reference or a further id, written as an item's own id is ([`source_id`]).
pub(super) fn normalise_ref(root: &str, a: &Attrs) -> String {
    id_text(root.trim(), a.extension.as_deref())
}

/// An item's own id, as [`normalise_ref`] writes it, held in the item when short (see
/// [`SourceId`]): made straight from the attribute's text, with no `String` between.
#[inline]
pub(super) fn source_id(root: &str, a: &Attrs) -> SourceId {
    SourceId::from_root(root.trim(), a.extension.as_deref())
}

/// Reads one element's attributes: the tag's text scanned in place ([`AttrScanner`]), the
/// names compared as bytes, a value normalised only when it holds what normalisation
/// changes. Holds the extract's code systems and the names of the tag being read, both kept
/// from element to element (no allocation per element).
#[derive(Default)]
pub(super) struct AttrReader {
    systems: Systems,
    /// Where each name read so far in the current tag lies in the tag's text.
    names: Vec<(usize, usize)>,
}

impl AttrReader {
    /// The attributes of `e` that the reader uses, into `out` (default on entry). Every
    /// attribute is checked, used or not: its syntax (quick-xml's own checks and messages),
    /// a duplicate name, the count limit; a used value's entities and character references.
    pub(super) fn read<'a>(
        &mut self,
        e: &'a BytesStart<'_>,
        limits: &Limits,
        pos: u64,
        out: &mut Attrs<'a>,
    ) -> Result<(), InputError> {
        let tag: &'a str = e;
        let scanner = AttrScanner {
            tag,
            at: e.name().as_ref().len(),
        };
        self.names.clear();
        // Made only for a tag with more than `SEEN_LINEARLY` attributes.
        let mut more: Option<HashSet<&'a str>> = None;
        for (n, attr) in scanner.enumerate() {
            if n >= limits.max_attributes {
                return Err(too_many_attributes(e, limits, pos));
            }
            let attr = attr.map_err(|err| bad_attribute(e, pos, &err))?;
            let key = attr.name;
            if let Some(prev) = self.earlier(tag, key, &mut more) {
                let err = AttrError::Duplicated(attr.at, prev);
                return Err(bad_attribute(e, pos, &err));
            }
            self.names.push((attr.at, attr.at + key.len()));
            // One look at each byte of the value: a '<' refuses it, and whether it needs
            // normalising is known before it is used.
            let (less_than, special) = value_bytes(attr.value.as_bytes());
            if less_than {
                return Err(less_than_in_value(e, pos));
            }
            let local = attr.local;
            debug_assert_eq!(local, local_name(key));
            let value = || {
                if special {
                    normalised(attr.value, e, pos)
                } else {
                    Ok(Cow::Borrowed(attr.value))
                }
            };
            if key == "xmlns" || key.starts_with("xmlns:") {
                out.xmlns.push((key.to_string(), value()?.into_owned()));
                continue;
            }
            match local {
                "root" => out.root = Some(value()?),
                "extension" => out.extension = Some(value()?),
                "code" => out.code = Some(value()?),
                "codeSystem" => out.code_system = Some(self.systems.identify(&value()?)),
                "displayName" => out.display_name = Some(value()?),
                "value" => out.value = Some(value()?),
                "unit" => out.unit = Some(value()?),
                "type" if key.starts_with("xsi:") || key == "type" => out.xsi_type = Some(value()?),
                "nullFlavor" => out.null_flavor = true,
                // The first one, as a search for it would find (a duplicate is an error anyway).
                "classCode" if out.class_code.is_none() => out.class_code = Some(value()?),
                "moodCode" if out.mood_code.is_none() => out.mood_code = Some(value()?),
                "typeCode" if out.type_code.is_none() => out.type_code = Some(value()?),
                _ => {}
            }
        }
        Ok(())
    }

    /// Where `name` was given before in this tag, if it was: the first names one by one, any
    /// beyond through a set (so a tag with many attributes costs linear time, not quadratic).
    fn earlier<'a>(
        &self,
        tag: &'a str,
        name: &'a str,
        more: &mut Option<HashSet<&'a str>>,
    ) -> Option<usize> {
        let name_at = |&(s, e): &(usize, usize)| tag.get(s..e) == Some(name);
        if self.names.len() <= SEEN_LINEARLY {
            return self.names.iter().find(|r| name_at(r)).map(|&(s, _)| s);
        }
        let set = more.get_or_insert_with(|| {
            self.names
                .iter()
                .filter_map(|&(s, e)| tag.get(s..e))
                .collect()
        });
        if !set.insert(name) {
            return self.names.iter().find(|r| name_at(r)).map(|&(s, _)| s);
        }
        None
    }
}

/// How many names are compared one by one before a set takes over.
const SEEN_LINEARLY: usize = 16;

/// Whether an attribute value holds a '<', and whether it holds a byte [`normalised`]
/// acts on (`&`, tab, CR, LF).
fn value_bytes(v: &[u8]) -> (bool, bool) {
    // Eight bytes at a time: `x` has a zero byte exactly where the word holds `b`, and
    // `(x - 0x01..) & !x & 0x80..` is non-zero exactly when `x` has a zero byte; likewise
    // `(w - 0x20..) & !w & 0x80..` is non-zero exactly when `w` has a byte below 0x20.
    // Tab, CR and LF are such bytes: the word is asked for those three only when it has
    // one (values almost never do), so a word costs three tests, not five. The last word
    // is filled out with 'a', which is none of them.
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let holds = |w: u64, b: u8| {
        let x = w ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGH != 0
    };
    let (mut less_than, mut special) = (false, false);
    let mut look = |w: u64| {
        less_than |= holds(w, b'<');
        special |= holds(w, b'&');
        if w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0 {
            special |= holds(w, b'\t') | holds(w, b'\r') | holds(w, b'\n');
        }
    };
    // Whole words read straight from the value (copying each into a padded word called
    // memcpy for every word); only the tail is padded.
    let words = v.chunks_exact(8);
    let tail = words.remainder();
    for word in words {
        look(u64::from_le_bytes(word.try_into().unwrap_or([b'a'; 8])));
    }
    if !tail.is_empty() {
        // Byte by byte into the padded word (at most seven; a slice copy would call memcpy).
        let mut w = u64::from_le_bytes([b'a'; 8]);
        for (i, &b) in tail.iter().enumerate() {
            w = (w & !(0xff << (8 * i))) | (u64::from(b) << (8 * i));
        }
        look(w);
    }
    (less_than, special)
}

/// `raw` as XML 1.0 normalises an attribute value (`\t`, `\r`, `\n` to spaces; entities
/// and character references resolved, an unknown or bad one refused): quick-xml's own
/// normalisation, called only when the value holds one of the bytes it acts on
/// ([`value_bytes`]).
fn normalised<'a>(raw: &'a str, e: &BytesStart<'_>, pos: u64) -> Result<Cow<'a, str>, InputError> {
    let attr = Attribute {
        key: QName(""),
        value: Cow::Borrowed(raw),
    };
    attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
        .map_err(|_| {
            // Not the escape error's text: it quotes the value's content.
            InputError::new(
                ErrorCode::MalformedXml,
                "an attribute value has an unknown entity or a bad character reference",
            )
            .at(pos)
            .in_element(safe_name(e.local_name().as_ref().as_bytes()))
        })
}

#[cold]
fn too_many_attributes(e: &BytesStart<'_>, limits: &Limits, pos: u64) -> InputError {
    InputError::new(
        ErrorCode::LimitExceeded,
        format!(
            "an element has more than {} attributes",
            limits.max_attributes
        ),
    )
    .at(pos)
    .in_element(safe_name(e.local_name().as_ref().as_bytes()))
}

/// XML 1.0 allows no `<` in an attribute value (`AttValue`, production 10), in any
/// attribute, used or not; quick-xml does not check it, so the reader does (fail closed: such
/// a file is not XML, and another parser would read it otherwise or not at all).
#[cold]
fn less_than_in_value(e: &BytesStart<'_>, pos: u64) -> InputError {
    InputError::new(
        ErrorCode::MalformedXml,
        "an attribute value holds '<', which XML does not allow",
    )
    .at(pos)
    .in_element(safe_name(e.local_name().as_ref().as_bytes()))
}

#[cold]
fn bad_attribute(e: &BytesStart<'_>, pos: u64, err: &AttrError) -> InputError {
    InputError::new(ErrorCode::MalformedXml, format!("bad attribute: {err}"))
        .at(pos)
        .in_element(safe_name(e.local_name().as_ref().as_bytes()))
}

/// One attribute as the tag writes it: its name and local name, its value between the quotes (not yet
/// normalised), where the name starts in the tag's text, and where the attribute ends.
struct RawAttr<'a> {
    name: &'a str,
    /// What follows the name's first ':' (all of it when it has none).
    local: &'a str,
    value: &'a str,
    at: usize,
    end: usize,
}

/// XML whitespace, as quick-xml counts it.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\r' | b'\n' | b'\t')
}

/// The first byte at or after `from` that `want` accepts.
fn find(b: &[u8], from: usize, want: impl Fn(u8) -> bool) -> Option<usize> {
    let p = b.get(from..)?.iter().position(|&c| want(c))?;
    Some(from + p)
}

/// The attributes in one tag's text (`name="value"` or `name='value'`, whitespace allowed
/// around `=`), read in place: the value's closing quote found with one `memchr`. It accepts
/// exactly what quick-xml's XML-mode iterator (`Attributes`) accepts, with the same errors at
/// the same positions (relative to the tag's text): a name not followed by `=`
/// (`ExpectedEq`), `=` and no value (`ExpectedValue`), an unquoted value (`UnquotedValue`), a
/// value with no closing quote (`ExpectedQuote`). It stops at the first error (quick-xml
/// would try to go on; the reader refuses the tag anyway). Duplicates are the caller's check.
struct AttrScanner<'a> {
    tag: &'a str,
    at: usize,
}

impl<'a> Iterator for AttrScanner<'a> {
    type Item = Result<RawAttr<'a>, AttrError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.tag.as_bytes();
        let start = find(b, self.at, |c| !is_space(c))?;
        let attr = self.attribute(start);
        self.at = match &attr {
            Ok(a) => a.end,
            Err(_) => b.len(),
        };
        Some(attr)
    }
}

impl<'a> AttrScanner<'a> {
    /// The attribute whose name starts at `start` (not whitespace).
    fn attribute(&self, start: usize) -> Result<RawAttr<'a>, AttrError> {
        let b = self.tag.as_bytes();
        let len = b.len();
        // The name's first byte is part of it whatever it is (as quick-xml reads it). Its
        // first ':' is noted on the way (what follows is the local name, as
        // [`local_name`] finds it), so the name is looked at once.
        let mut colon = (b.get(start) == Some(&b':')).then_some(start);
        let mut i = start + 1;
        let name_end = loop {
            match b.get(i) {
                None => return Err(AttrError::ExpectedEq(len)),
                Some(&c) if c == b'=' || is_space(c) => break i,
                Some(b':') if colon.is_none() => colon = Some(i),
                Some(_) => {}
            }
            i += 1;
        };
        let eq = if b.get(name_end) == Some(&b'=') {
            name_end
        } else {
            match find(b, name_end + 1, |c| !is_space(c)) {
                Some(i) if b.get(i) == Some(&b'=') => i,
                Some(i) => return Err(AttrError::ExpectedEq(i)),
                None => return Err(AttrError::ExpectedEq(len)),
            }
        };
        let open = find(b, eq + 1, |c| !is_space(c)).ok_or(AttrError::ExpectedValue(len))?;
        let quote = b.get(open).copied().unwrap_or_default();
        if quote != b'"' && quote != b'\'' {
            return Err(AttrError::UnquotedValue(open));
        }
        let close = b
            .get(open + 1..)
            .and_then(|rest| memchr::memchr(quote, rest))
            .map(|p| open + 1 + p)
            .ok_or(AttrError::ExpectedQuote(len, quote))?;
        // Every boundary is an ASCII byte (or the tag's end), so these are char boundaries.
        Ok(RawAttr {
            name: self.tag.get(start..name_end).unwrap_or_default(),
            local: self
                .tag
                .get(colon.map_or(start, |c| c + 1)..name_end)
                .unwrap_or_default(),
            value: self.tag.get(open + 1..close).unwrap_or_default(),
            at: start,
            end: close + 1,
        })
    }
}

/// The code systems one extract names, each identified once: an extract names a handful of
/// systems on every one of its codings, and identifying one (trimming, lower-casing, the
/// alias table, the OID syntax) costs more than comparing the text it was written as.
#[derive(Default)]
pub(super) struct Systems {
    seen: Vec<(Box<str>, CodeSystem)>,
}

/// Distinct `codeSystem` texts remembered; any beyond are identified each time.
const SYSTEMS_KEPT: usize = 32;

impl Systems {
    /// What [`CodeSystem::parse`] says `raw` is (the alias table in effect is the same for
    /// the whole read).
    pub(super) fn identify(&mut self, raw: &str) -> CodeSystem {
        if let Some((_, s)) = self.seen.iter().find(|(r, _)| &**r == raw) {
            return s.clone();
        }
        let s = CodeSystem::parse(raw);
        if self.seen.len() < SYSTEMS_KEPT {
            self.seen.push((raw.into(), s.clone()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::reader::testing::*;

    /// What the reader keeps of a coding, a number or a unit is held inline when it is short
    /// (the reason for `CompactString`: no allocation each), and is the text as written.
    #[test]
    fn short_texts_are_kept_inline_as_written() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/extracts");
        let mut seen = 0;
        for f in std::fs::read_dir(dir).unwrap() {
            let doc = std::fs::read(f.unwrap().path()).unwrap();
            let Ok(ex) = read_with(&doc, &Limits::default()) else {
                continue;
            };
            let text = String::from_utf8_lossy(&doc);
            for item in ex.items.iter() {
                let mut short: Vec<&CompactString> = Vec::new();
                for c in item.codings() {
                    short.push(&c.code);
                    short.extend(c.display.as_ref());
                }
                if let crate::ehr::model::ItemKind::Observation(o) = &item.kind {
                    match o.value.as_deref() {
                        Some(Value::Quantity { value, unit }) => {
                            short.push(value);
                            short.extend(unit);
                        }
                        Some(Value::Range { low, high, unit }) => {
                            short.extend(low.iter().chain(high).chain(unit))
                        }
                        _ => {}
                    }
                }
                for t in short {
                    seen += 1;
                    assert!(text.contains(t.as_str()), "{t:?} as written");
                    assert_eq!(t.is_heap_allocated(), t.len() > 24, "{t:?}");
                }
            }
        }
        assert!(seen > 100, "only {seen} texts read");
    }

    /// The one look at a value's bytes finds a '<' and a byte normalising acts on exactly
    /// where searching for each finds them, for every byte in every position of short values.
    #[test]
    fn value_bytes_find_what_searching_finds() {
        let mut values: Vec<Vec<u8>> = vec![Vec::new()];
        for b in 0..=255u8 {
            for len in [1usize, 2, 5, 8, 9, 16, 23] {
                for at in 0..len {
                    let mut v = vec![b'a'; len];
                    v[at] = b;
                    values.push(v);
                }
            }
        }
        // Two bytes at once, in every pair of places of two words and a tail, among the
        // bytes looked for, their neighbours and high bytes.
        let some = [
            b'<', b'&', b'\t', b'\r', b'\n', b';', b'=', b'%', 0, 0x7f, 0x80, 0xbc, 0xff,
        ];
        for &x in &some {
            for &y in &some {
                for i in 0..19 {
                    for j in 0..19 {
                        let mut v = vec![b'z'; 19];
                        v[i] = x;
                        v[j] = y;
                        values.push(v);
                    }
                }
            }
        }
        values.push(b"a<b&c".to_vec());
        values.push(b"\t\r\n".to_vec());
        for v in &values {
            let less_than = memchr::memchr(b'<', v).is_some();
            let special = v.iter().any(|b| matches!(b, b'&' | b'\t' | b'\r' | b'\n'));
            assert_eq!(value_bytes(v), (less_than, special), "{v:?}");
        }
    }

    /// Every element's attributes, with `names` as their names in order.
    fn tag(names: &[String]) -> String {
        let attrs: String = names.iter().map(|n| format!(" {n}=\"v\"")).collect();
        format!("{ROOT}<ehrFolder{attrs}/></RCMR_IN030000UK06>")
    }

    /// What quick-xml's own duplicate check says of the same tag (the check migx replaced).
    fn quick_xml_says(doc: &str) -> Option<String> {
        let mut r = quick_xml::Reader::from_str(doc);
        loop {
            match r.read_event() {
                Ok(quick_xml::events::Event::Empty(e)) => {
                    return e.attributes().find_map(|a| a.err()).map(|e| e.to_string())
                }
                Ok(quick_xml::events::Event::Eof) | Err(_) => return None,
                _ => {}
            }
        }
    }

    #[test]
    fn a_duplicate_attribute_is_refused_wherever_it_sits() {
        // Every pair of positions in tags of 1 to 40 attributes (past the names kept on the
        // stack), the same name given twice: refused, with quick-xml's own message.
        for n in 2..=40 {
            for i in 0..n {
                for j in i + 1..n {
                    let mut names: Vec<String> = (0..n).map(|k| format!("a{k}")).collect();
                    names[j] = names[i].clone();
                    let doc = tag(&names);
                    let e = read(&doc).expect_err("duplicate attribute");
                    assert_eq!(e.code, ErrorCode::MalformedXml, "{n} {i} {j}");
                    let want = quick_xml_says(&doc).expect("quick-xml sees it too");
                    assert_eq!(e.message, format!("bad attribute: {want}"), "{n} {i} {j}");
                    assert_eq!(e.element.as_deref(), Some("ehrFolder"));
                }
            }
            // All distinct (a prefixed name is another name): read.
            let mut names: Vec<String> = (0..n).map(|k| format!("a{k}")).collect();
            names[0] = "type".into();
            names[n - 1] = "xsi:type".into();
            let doc = tag(&names).replace("<ehrFolder", "<ehrFolder xmlns:xsi=\"x\"");
            assert!(read(&doc).is_ok(), "{n}");
            assert_eq!(quick_xml_says(&doc), None);
        }
    }

    /// What the reader read before the scanner: quick-xml's attribute iterator (its own
    /// duplicate check off), the count limit, a duplicate check, each used value normalised
    /// by quick-xml, and the one rule quick-xml leaves out (no `<` in a value). The scanner is
    /// held to it.
    fn by_quick_xml<'a>(
        e: &'a BytesStart<'_>,
        limits: &Limits,
        pos: u64,
    ) -> Result<Attrs<'a>, InputError> {
        let element = || safe_name(e.local_name().as_ref().as_bytes());
        let mut out = Attrs::default();
        let mut systems = Systems::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut attributes = e.attributes();
        attributes.with_checks(false);
        for (n, attr) in attributes.enumerate() {
            if n >= limits.max_attributes {
                return Err(InputError::new(
                    ErrorCode::LimitExceeded,
                    format!(
                        "an element has more than {} attributes",
                        limits.max_attributes
                    ),
                )
                .at(pos)
                .in_element(element()));
            }
            let attr = attr.map_err(|err| {
                InputError::new(ErrorCode::MalformedXml, format!("bad attribute: {err}"))
                    .at(pos)
                    .in_element(element())
            })?;
            let key: &'a str = attr.key.0;
            let offset = |k: &str| k.as_ptr() as usize - e.as_ptr() as usize;
            if let Some(prev) = seen.iter().find(|k| **k == key) {
                let err = AttrError::Duplicated(offset(key), offset(prev));
                return Err(InputError::new(
                    ErrorCode::MalformedXml,
                    format!("bad attribute: {err}"),
                )
                .at(pos)
                .in_element(element()));
            }
            seen.push(key);
            // The one rule quick-xml leaves out (XML 1.0 production 10).
            if attr.value.contains('<') {
                return Err(InputError::new(
                    ErrorCode::MalformedXml,
                    "an attribute value holds '<', which XML does not allow",
                )
                .at(pos)
                .in_element(element()));
            }
            let local = attr.key.local_name();
            let local = local.as_ref();
            let value = || -> Result<Cow<'a, str>, InputError> {
                attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|_| {
                        InputError::new(
                            ErrorCode::MalformedXml,
                            "an attribute value has an unknown entity or a bad character reference",
                        )
                        .at(pos)
                        .in_element(element())
                    })
            };
            if key == "xmlns" || key.starts_with("xmlns:") {
                out.xmlns.push((key.to_string(), value()?.into_owned()));
                continue;
            }
            match local {
                "root" => out.root = Some(value()?),
                "extension" => out.extension = Some(value()?),
                "code" => out.code = Some(value()?),
                "codeSystem" => out.code_system = Some(systems.identify(&value()?)),
                "displayName" => out.display_name = Some(value()?),
                "value" => out.value = Some(value()?),
                "unit" => out.unit = Some(value()?),
                "type" if key.starts_with("xsi:") || key == "type" => out.xsi_type = Some(value()?),
                "nullFlavor" => out.null_flavor = true,
                "classCode" if out.class_code.is_none() => out.class_code = Some(value()?),
                "moodCode" if out.mood_code.is_none() => out.mood_code = Some(value()?),
                "typeCode" if out.type_code.is_none() => out.type_code = Some(value()?),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Everything the reader takes from one element's attributes, to compare.
    fn view(a: &Attrs) -> String {
        format!(
            "{:?}",
            (
                (
                    &a.root,
                    &a.extension,
                    &a.code,
                    &a.code_system,
                    &a.display_name
                ),
                (&a.value, &a.unit, &a.xsi_type, a.null_flavor),
                (&a.class_code, &a.mood_code, &a.type_code, &a.xmlns),
            )
        )
    }

    /// The scanner and the quick-xml path on one tag's text (what lies between `<` and `>`
    /// or `/>`), under each of a few attribute limits: the same values, or the same error
    /// (code, message, offset, element). How many were refused.
    fn same_as_quick_xml(content: &str, reader: &mut AttrReader) -> usize {
        let name_len = content.bytes().position(is_space).unwrap_or(content.len());
        let e = BytesStart::from_content(content, name_len);
        let mut refused = 0;
        for max_attributes in [64, 0, 1, 2, 3] {
            let limits = Limits {
                max_attributes,
                ..Limits::default()
            };
            let want = by_quick_xml(&e, &limits, 7);
            let mut got = Attrs::default();
            let got = reader.read(&e, &limits, 7, &mut got).map(|()| got);
            match (&want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(view(w), view(g), "{content:?} {max_attributes}"),
                (Err(w), Err(g)) => {
                    assert_eq!(w, g, "{content:?} {max_attributes}");
                    refused += 1;
                }
                _ => panic!(
                    "{content:?} {max_attributes}: quick-xml {:?}, scanner {:?}",
                    want.as_ref().map(view),
                    got.as_ref().map(view)
                ),
            }
        }
        refused
    }

    /// Names the reader uses (with and without prefixes) and others, values of every kind
    /// normalisation treats (entities known, unknown and unterminated; character references
    /// good and bad; whitespace; `<`, quotes, non-ASCII), whitespace forms around `=`.
    const NAMES: [&str; 16] = [
        "root",
        "extension",
        "code",
        "codeSystem",
        "displayName",
        "value",
        "unit",
        "type",
        "xsi:type",
        "nullFlavor",
        "classCode",
        "moodCode",
        "typeCode",
        "xmlns",
        "xmlns:xsi",
        "a:code",
    ];
    const VALUES: [&str; 24] = [
        "",
        "v",
        "2.16.840.1.113883.2.1.3.2.4.15",
        "a&amp;b",
        "&lt;&gt;&quot;&apos;",
        "&#65;",
        "&#x41;",
        "&#x1F600;",
        "&bogus;",
        "&#0;",
        "&#xD800;",
        "&#;",
        "&#x;",
        "&#-1;",
        "&amp",
        "& x",
        "a\tb",
        "a\r\nb",
        "a\nb\r",
        "x<y",
        "<",
        ">",
        "\u{e9}t\u{e9}",
        "&#1114112;",
    ];
    const SPACES: [&str; 4] = [" ", "\n", "\t", "\r\n  "];

    #[test]
    fn the_scanner_reads_every_well_formed_attribute_as_quick_xml_does() {
        let mut reader = AttrReader::default();
        // One attribute: every name, value, quote and whitespace form around `=`.
        for name in NAMES {
            for value in VALUES {
                for (q, before, after) in [
                    ('"', "", ""),
                    ('\'', "", ""),
                    ('"', " ", " "),
                    ('\'', "\n", "\t"),
                    ('"', "\r\n", ""),
                    ('"', "", "  "),
                ] {
                    for lead in SPACES {
                        let content = format!("code{lead}{name}{before}={after}{q}{value}{q}");
                        same_as_quick_xml(&content, &mut reader);
                        same_as_quick_xml(&format!("{content}{lead}"), &mut reader);
                    }
                }
            }
        }
        // Several: the names at every pair of positions (duplicates, prefixed names that
        // are other names), values in both quotes, with and without space between them.
        for (i, a) in NAMES.iter().enumerate() {
            for (j, b) in NAMES.iter().enumerate() {
                for sep in ["", " ", "\n\t"] {
                    let v = VALUES[(i * 7 + j) % VALUES.len()];
                    let content = format!("code {a}='{v}'{sep}{b}=\"x\" other=\"{v}\"");
                    same_as_quick_xml(&content, &mut reader);
                    let content = format!("code other='1' {a}=\"{v}\"{sep}{b}='{v}'");
                    same_as_quick_xml(&content, &mut reader);
                }
            }
        }
    }

    /// A `<` in any attribute's value, used by the reader or not, anywhere in the value and in
    /// either quote, is refused; `>` is allowed (XML 1.0 production 10).
    #[test]
    fn a_less_than_sign_in_any_attribute_value_is_refused() {
        let mut reader = AttrReader::default();
        for name in ["code", "root", "displayName", "xmlns:x", "unused", "x:y"] {
            for value in ["<", "<a", "a<", "a<b", "&lt;<", "a\t<"] {
                for (open, close) in [('"', '"'), ('\'', '\'')] {
                    let content = format!("e a=\"1\" {name}={open}{value}{close} b='2'");
                    let e = BytesStart::from_content(content.as_str(), 1);
                    let err = reader
                        .read(&e, &Limits::default(), 7, &mut Attrs::default())
                        .expect_err(&content);
                    assert_eq!(err.code, ErrorCode::MalformedXml, "{content}");
                    // Nothing of the value is quoted.
                    assert_eq!(
                        err.message,
                        "an attribute value holds '<', which XML does not allow"
                    );
                }
            }
            let content = format!("e {name}=\"a>b\"");
            let e = BytesStart::from_content(content.as_str(), 1);
            assert!(reader
                .read(&e, &Limits::default(), 7, &mut Attrs::default())
                .is_ok());
        }
    }

    #[test]
    fn the_scanner_refuses_every_malformed_attribute_as_quick_xml_does() {
        // Every sequence of up to three pieces (good attributes, broken ones, stray bytes),
        // so each malformation sits at every position, after and before good attributes.
        let pieces = [
            " a=\"1\"",
            " b='2'",
            " a='3'",
            " code=\"&amp;\"",
            " code='&bad;'",
            " value=\"&#0;\"",
            " u=\"x<y\"",
            " code='<'",
            " x",
            " x ",
            " x=",
            " x= ",
            " x =",
            " x=1",
            " x=\"1",
            " x='1",
            " x=\"1'",
            " =\"1\"",
            " \"",
            " '",
            " =",
            " /",
            " <",
            "=",
            "\"",
            "a",
            " x\ty",
            " x\t=\n\"\r\"",
            "\t",
            "  ",
        ];
        let mut reader = AttrReader::default();
        let mut refused = 0;
        let mut seen = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for content in [
                        format!("code{a}{b}{c}"),
                        format!("code{a}{b}"),
                        format!("code{a}"),
                    ] {
                        refused += same_as_quick_xml(&content, &mut reader);
                        seen += 1;
                    }
                }
            }
        }
        // The pieces make both kinds, in numbers (no vacuous comparison).
        let accepted = 5 * seen - refused;
        assert!(
            refused > 2 * seen,
            "{refused} refused of {seen} tags x 5 limits"
        );
        assert!(
            accepted > seen / 2,
            "{accepted} accepted of {seen} tags x 5 limits"
        );
    }

    #[test]
    fn the_scanner_checks_duplicates_and_the_limit_as_quick_xml_does_in_large_tags() {
        // Past the names compared one by one: a duplicate at every pair of positions in a
        // tag of 40, and tags at and over the default limit of 64.
        let mut reader = AttrReader::default();
        for n in [17, 40] {
            for i in 0..n {
                for j in i + 1..n {
                    let mut names: Vec<String> = (0..n).map(|k| format!("a{k}")).collect();
                    names[j] = names[i].clone();
                    let attrs: String = names.iter().map(|n| format!(" {n}=\"v\"")).collect();
                    assert_eq!(same_as_quick_xml(&format!("code{attrs}"), &mut reader), 5);
                }
            }
        }
        for n in [63, 64, 65, 200] {
            let attrs: String = (0..n).map(|k| format!(" a{k}='v'")).collect();
            let refused = same_as_quick_xml(&format!("code{attrs}"), &mut reader);
            assert_eq!(refused, if n > 64 { 5 } else { 4 }, "{n}");
        }
    }

    #[test]
    fn a_code_system_identified_once_is_what_parse_says_every_time() {
        let raws: Vec<String> = [
            "2.16.840.1.113883.2.1.3.2.4.15",
            " 2.16.840.1.113883.2.1.6.2 ",
            "http://snomed.info/sct",
            "HTTP://SNOMED.INFO/SCT",
            "urn:oid:2.16.840.1.113883.2.1.3.2.4.14",
            "not a system",
            "",
        ]
        .into_iter()
        .map(str::to_string)
        .chain((0..40).map(|k| format!("1.2.3.{k}")))
        .collect();
        let mut systems = Systems::default();
        // Twice over, past the number kept: the same answer as parsing afresh.
        for round in 0..2 {
            for raw in &raws {
                assert_eq!(
                    systems.identify(raw),
                    CodeSystem::parse(raw),
                    "{round} {raw:?}"
                );
            }
        }
    }

    const SCT: &str = "2.16.840.1.113883.2.1.3.2.4.15";

    fn coded<'a>(code: Option<&'a str>, system: Option<&str>) -> Attrs<'a> {
        Attrs {
            code: code.map(Cow::Borrowed),
            code_system: system.map(CodeSystem::parse),
            display_name: Some(Cow::Borrowed("shown")),
            ..Attrs::default()
        }
    }

    #[test]
    fn a_coding_needs_a_non_blank_code_and_a_system() {
        let c = coding(&coded(Some(" 1234 "), Some(SCT))).expect("a coding");
        assert_eq!(c.code, "1234", "the code is trimmed");
        assert_eq!(c.system, CodeSystem::parse(SCT));
        assert_eq!(c.display.as_deref(), Some("shown"));
        assert_eq!(
            coding(&coded(Some(" \t "), Some(SCT))),
            None,
            "a blank code"
        );
        assert_eq!(coding(&coded(Some("1234"), None)), None, "no system");
        assert_eq!(coding(&coded(None, Some(SCT))), None, "no code");
    }

    #[test]
    fn a_code_without_a_system_is_kept_for_screening_under_no_system() {
        // The screen tries a systemless code under every listed system: it must reach it.
        let c = systemless(&coded(Some(" A78.. "), None)).expect("a systemless coding");
        assert_eq!(c.code, "A78..");
        assert_eq!(c.system, CodeSystem::Invalid);
        assert_eq!(c.display, None, "its display is never emitted");
        assert_eq!(systemless(&coded(Some("  "), None)), None, "a blank code");
        assert_eq!(
            systemless(&coded(Some("A78.."), Some(SCT))),
            None,
            "a code with a system is a coding, not systemless"
        );
        assert_eq!(systemless(&coded(None, None)), None);
    }
}
