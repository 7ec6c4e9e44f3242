//! The document without a tree: one validating walk over the whole input (JSON syntax, the
//! nesting limit, duplicate keys), then the Bundle split into its own fields and one slice
//! of the input per entry's resource, so that no `serde_json::Value` of the whole bundle is
//! ever held (issue 24.12: that tree is about 13 times the input). Each resource is parsed
//! on its own, when it is read ([`super::bundle`]).

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};
use std::borrow::Cow;
use std::collections::HashSet;

/// Walk the whole document once as `serde_json::from_slice::<Value>` would read it (the same
/// parser, so the same syntax errors at the same positions, the same 128-level nesting limit,
/// and trailing characters refused), holding nothing but the keys of the object being read.
/// Answers whether some object names a key twice (the caller reports it, after the checks
/// that come first).
pub(super) fn check_document(bytes: &[u8]) -> Result<bool, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut duplicate = false;
    Walk {
        duplicate: &mut duplicate,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(duplicate)
}

struct Walk<'d> {
    duplicate: &'d mut bool,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        let duplicate = self.duplicate;
        while a
            .next_element_seed(Walk {
                duplicate: &mut *duplicate,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        let duplicate = self.duplicate;
        let mut seen: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(k) = a.next_key_seed(Key)? {
            if !seen.insert(k) {
                *duplicate = true;
            }
            a.next_value_seed(Walk {
                duplicate: &mut *duplicate,
            })?;
        }
        Ok(())
    }
}

/// An object key, borrowed from the input where it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

/// One element of the Bundle's `entry` array: its `fullUrl` and its `resource`, each as the
/// slice of the input it spans (the last of each, as a parser keeping the last duplicate
/// key reads them; a duplicate is refused later anyway).
pub(super) struct RawEntry<'a> {
    pub(super) full_url: Option<&'a str>,
    pub(super) resource: Option<&'a str>,
}

/// The Bundle split: its own fields (every key but `entry`) as a small tree, and its
/// entries as slices.
pub(super) struct Split<'a> {
    pub(super) bundle: Json,
    pub(super) entries: Vec<RawEntry<'a>>,
}

/// Why a checked document could not be split (never expected: [`check_document`] passed).
#[derive(Debug)]
pub(super) struct SplitError;

/// Split a document [`check_document`] accepted. `None` when its top level is not an object
/// (so not a Bundle).
pub(super) fn split(text: &str) -> Result<Option<Split<'_>>, SplitError> {
    let mut s = Scan { t: text, pos: 0 };
    s.ws();
    if s.peek() != Some(b'{') {
        return Ok(None);
    }
    let mut bundle = Map::new();
    let mut entry: Option<&str> = None;
    s.object(|key, value| {
        if key == "entry" {
            entry = Some(value);
        } else {
            bundle.insert(key.into_owned(), parse(value)?);
        }
        Ok(())
    })?;
    let mut entries = Vec::new();
    if let Some(e) = entry.filter(|e| e.starts_with('[')) {
        let mut a = Scan { t: e, pos: 0 };
        a.array(|element| {
            let mut entry = RawEntry {
                full_url: None,
                resource: None,
            };
            if element.starts_with('{') {
                let mut o = Scan { t: element, pos: 0 };
                o.object(|key, value| {
                    match &*key {
                        "resource" => entry.resource = Some(value),
                        "fullUrl" => entry.full_url = Some(value),
                        _ => {}
                    }
                    Ok(())
                })?;
            }
            entries.push(entry);
            Ok(())
        })?;
    }
    Ok(Some(Split {
        bundle: Json::Object(bundle),
        entries,
    }))
}

/// Parse one value of a checked document (a resource, a field) into a tree of its own.
pub(super) fn parse(text: &str) -> Result<Json, SplitError> {
    serde_json::from_str(text).map_err(|_| SplitError)
}

/// A cursor over JSON text already known to be well formed: it finds where values start
/// and end (strings skipped with their escapes, brackets counted), and decodes keys.
struct Scan<'a> {
    t: &'a str,
    pos: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.t.as_bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), SplitError> {
        self.ws();
        if self.peek() != Some(b) {
            return Err(SplitError);
        }
        self.pos += 1;
        Ok(())
    }

    /// Past the string starting at `pos` (its opening quote).
    fn skip_string(&mut self) -> Result<(), SplitError> {
        let b = self.t.as_bytes();
        self.pos += 1;
        loop {
            match b.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => self.pos += 2,
                Some(_) => self.pos += 1,
                None => return Err(SplitError),
            }
        }
    }

    /// The value starting at `pos` (after white space), as its slice.
    fn value(&mut self) -> Result<&'a str, SplitError> {
        self.ws();
        let start = self.pos;
        let b = self.t.as_bytes();
        match self.peek() {
            Some(b'"') => self.skip_string()?,
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match b.get(self.pos) {
                        Some(b'"') => {
                            self.skip_string()?;
                            continue;
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => {
                            depth = depth.checked_sub(1).ok_or(SplitError)?;
                            if depth == 0 {
                                self.pos += 1;
                                break;
                            }
                        }
                        Some(_) => {}
                        None => return Err(SplitError),
                    }
                    self.pos += 1;
                }
            }
            Some(_) => {
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
                {
                    self.pos += 1;
                }
            }
            None => return Err(SplitError),
        }
        self.t.get(start..self.pos).ok_or(SplitError)
    }

    /// Each key (decoded) and value (its slice) of the object starting at `pos`.
    fn object(
        &mut self,
        mut f: impl FnMut(Cow<'a, str>, &'a str) -> Result<(), SplitError>,
    ) -> Result<(), SplitError> {
        self.expect(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            let raw = self.value()?;
            let key = match raw.get(1..raw.len().saturating_sub(1)) {
                Some(k) if raw.starts_with('"') && !k.contains('\\') => Cow::Borrowed(k),
                _ => Cow::Owned(serde_json::from_str::<String>(raw).map_err(|_| SplitError)?),
            };
            self.expect(b':')?;
            let value = self.value()?;
            f(key, value)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(SplitError),
            }
        }
    }

    /// Each element (its slice) of the array starting at `pos`.
    fn array(
        &mut self,
        mut f: impl FnMut(&'a str) -> Result<(), SplitError>,
    ) -> Result<(), SplitError> {
        self.expect(b'[')?;
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let v = self.value()?;
            f(v)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(SplitError),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(text: &str) -> Json {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_split_reads_what_the_whole_tree_reads() {
        let docs = [
            r#"{"resourceType":"Bundle","entry":[{"fullUrl":"urn:uuid:1","resource":{"a":[1,{"b":"}]\"{["}],"c":"x"}},7,"s",{"resource":null},{}],"id":"b"}"#,
            r#" { "entr\u0079" : [ { "resourc\u0065" : { "k" : "v" } , "fullUrl" : "F" } ] , "meta" : { } } "#,
            r#"{"entry":{"resource":{}},"x":-1.5e3}"#,
            r#"{"entry":[],"entry":[{"resource":{"z":true},"resource":{"y":false}}]}"#,
            r#"{}"#,
        ];
        for doc in docs {
            let tree = whole(doc);
            let split = split(doc).unwrap().unwrap();
            let mut without = tree.clone();
            without.as_object_mut().unwrap().remove("entry");
            assert_eq!(split.bundle, without, "{doc}");
            let entries: Vec<&Json> = tree
                .get("entry")
                .and_then(Json::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            assert_eq!(split.entries.len(), entries.len(), "{doc}");
            for (raw, e) in split.entries.iter().zip(entries) {
                assert_eq!(
                    raw.resource.map(|r| parse(r).unwrap()).as_ref(),
                    e.get("resource"),
                    "{doc}"
                );
                assert_eq!(
                    raw.full_url.map(|r| parse(r).unwrap()).as_ref(),
                    e.get("fullUrl"),
                    "{doc}"
                );
            }
        }
        assert!(split("[1,2]").unwrap().is_none());
        assert!(split(" \"x\"").unwrap().is_none());
    }

    #[test]
    fn the_walk_finds_what_the_parser_refuses_and_every_duplicate_key() {
        let refused = |doc: &str| {
            let ours = check_document(doc.as_bytes()).unwrap_err();
            let theirs = serde_json::from_str::<Json>(doc).unwrap_err();
            assert_eq!(
                (ours.line(), ours.column(), ours.classify()),
                (theirs.line(), theirs.column(), theirs.classify()),
                "{doc}"
            );
            assert_eq!(ours.to_string(), theirs.to_string(), "{doc}");
        };
        for doc in [
            "{",
            "{\"a\":1,}",
            "[1,2] x",
            "{\"a\":\"\\q\"}",
            "{\"a\":1e400}",
            "nul",
            &"[".repeat(200),
            &format!("{}{}", "{\"a\":".repeat(130), "}".repeat(130)),
        ] {
            refused(doc);
        }
        assert!(!check_document(br#"{"a":{"a":[{"a":1}]},"b":2}"#).unwrap());
        for doc in [
            r#"{"a":1,"a":2}"#,
            r#"{"x":[{"meta":{},"meta":{}}]}"#,
            r#"{"k":1,"\u006b":2}"#,
        ] {
            assert!(check_document(doc.as_bytes()).unwrap(), "{doc}");
        }
    }
}
