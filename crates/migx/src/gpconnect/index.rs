//! The reference index and the resources' ids without a heap string for each (issue 24.12):
//! every key's text (and every id) is written once, lowercase, into one arena ([`Texts`]);
//! the index table holds fixed-size records (where the key's text lies, and its [`Slot`]),
//! and a lookup compares the key asked for exactly against that text. Two different keys
//! never share a slot, and one key given by several resources makes a slot none of them is
//! picked from (fail closed, as before).

use crate::error::{ErrorCode, InputError};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// Where one text lies in a [`Texts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Span {
    start: u32,
    len: u32,
}

/// Strings written one after another into one buffer (lowercase ASCII where asked), each
/// known by its [`Span`].
#[derive(Debug, Default)]
pub(super) struct Texts {
    text: String,
}

fn too_large() -> InputError {
    InputError::new(
        ErrorCode::LimitExceeded,
        "the bundle's ids and references take more than 4 GiB",
    )
}

impl Texts {
    /// Append the pieces, each lowercased (ASCII), as one text.
    pub(super) fn push_lower(&mut self, pieces: &[&str]) -> Result<Span, InputError> {
        let start = self.text.len();
        for p in pieces {
            self.text.push_str(p);
        }
        self.text[start..].make_ascii_lowercase();
        self.span_from(start)
    }

    /// Append the text as it is.
    pub(super) fn push(&mut self, s: &str) -> Result<Span, InputError> {
        let start = self.text.len();
        self.text.push_str(s);
        self.span_from(start)
    }

    fn span_from(&mut self, start: usize) -> Result<Span, InputError> {
        let end = u32::try_from(self.text.len()).map_err(|_| too_large())?;
        let start = u32::try_from(start).map_err(|_| too_large())?;
        Ok(Span {
            start,
            len: end - start,
        })
    }

    /// The text of a span this arena gave.
    pub(super) fn get(&self, s: Span) -> &str {
        let start = s.start as usize;
        self.text
            .get(start..start + s.len as usize)
            .unwrap_or_default()
    }

    /// Forget the last span given (it was not kept).
    fn pop(&mut self, s: Span) {
        self.text.truncate(s.start as usize);
    }

    /// Give back the room the buffer grew into.
    pub(super) fn shrink(&mut self) {
        self.text.shrink_to_fit();
    }
}

/// What a key names: one resource, or several (duplicate ids, ids differing only by case,
/// shared fullUrls or identifiers), which no reference may pick from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot<'a> {
    One(usize),
    Many(&'a [usize]),
}

/// A slot as the table holds it: a resource, or which list of several.
#[derive(Debug, Clone, Copy)]
enum Held {
    One(u32),
    Many(u32),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Span,
    held: Held,
}

/// Lowercase key -> [`Slot`]; keys are compared exactly, by their text.
#[derive(Default)]
pub(super) struct Index {
    keys: Texts,
    table: HashTable<Entry>,
    many: Vec<Vec<usize>>,
    hasher: DefaultHashBuilder,
}

impl Index {
    /// An index with room for about `n` keys.
    pub(super) fn with_capacity(n: usize) -> Index {
        Index {
            table: HashTable::with_capacity(n),
            ..Index::default()
        }
    }

    /// Add resource `i` under the key made of `pieces` lowercased: a key already naming
    /// another resource names both from now on.
    pub(super) fn add(&mut self, pieces: &[&str], i: usize) -> Result<(), InputError> {
        let r = u32::try_from(i).map_err(|_| too_large())?;
        let key = self.keys.push_lower(pieces)?;
        let Index {
            keys,
            table,
            many,
            hasher,
        } = self;
        let text = keys.get(key);
        let h = hasher.hash_one(text);
        match table.find_mut(h, |e| keys.get(e.key) == text) {
            None => {
                table.insert_unique(
                    h,
                    Entry {
                        key,
                        held: Held::One(r),
                    },
                    |e| hasher.hash_one(keys.get(e.key)),
                );
            }
            Some(e) => {
                match e.held {
                    Held::One(j) if j == r => {}
                    Held::One(j) => {
                        let k = u32::try_from(many.len()).map_err(|_| too_large())?;
                        many.push(vec![j as usize, i]);
                        e.held = Held::Many(k);
                    }
                    Held::Many(k) => {
                        let v = many.get_mut(k as usize).ok_or_else(|| {
                            InputError::new(
                                ErrorCode::InternalError,
                                "the reference index lost a list it made",
                            )
                        })?;
                        if v.last() != Some(&i) {
                            v.push(i);
                        }
                    }
                }
                // The key's text is held already.
                keys.pop(key);
            }
        }
        Ok(())
    }

    /// What `key` (lowercase) names, if anything.
    pub(super) fn get(&self, key: &str) -> Option<Slot<'_>> {
        let h = self.hasher.hash_one(key);
        let e = self.table.find(h, |e| self.keys.get(e.key) == key)?;
        Some(match e.held {
            Held::One(i) => Slot::One(i as usize),
            Held::Many(k) => Slot::Many(self.many.get(k as usize).map_or(&[], Vec::as_slice)),
        })
    }

    /// Give back the room the key text and the table grew into.
    pub(super) fn shrink(&mut self) {
        self.keys.shrink();
        let Index {
            keys,
            table,
            hasher,
            ..
        } = self;
        table.shrink_to_fit(|e| hasher.hash_one(keys.get(e.key)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The index answers as a map of copied lowercase keys filled by the former rule (a
    /// key gets one resource, or several in the order first added, none twice in a row).
    #[test]
    fn the_index_answers_as_a_map_of_copied_keys() {
        #[derive(Debug, PartialEq)]
        enum Want {
            One(usize),
            Many(Vec<usize>),
        }
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let words = [
            "Observation/a",
            "observation/A",
            "urn:uuid:1",
            "|x",
            "s|X",
            "",
            "b",
        ];
        for _ in 0..300 {
            let mut index = Index::with_capacity(2);
            let mut want: HashMap<String, Want> = HashMap::new();
            let adds = next(40);
            for _ in 0..adds {
                let w = words[next(words.len() as u64) as usize];
                let (a, b) = w.split_at(next(w.len() as u64 + 1) as usize);
                let i = next(6) as usize;
                index.add(&[a, b], i).unwrap();
                let key = w.to_ascii_lowercase();
                match want.get_mut(&key) {
                    None => {
                        want.insert(key, Want::One(i));
                    }
                    Some(Want::One(j)) if *j == i => {}
                    Some(slot @ Want::One(_)) => {
                        if let Want::One(j) = *slot {
                            *slot = Want::Many(vec![j, i]);
                        }
                    }
                    Some(Want::Many(v)) => {
                        if v.last() != Some(&i) {
                            v.push(i);
                        }
                    }
                }
            }
            if next(2) == 0 {
                index.shrink();
            }
            for w in words.iter().chain(&["OBSERVATION/A", "c", "observation/"]) {
                let got = index.get(w).map(|s| match s {
                    Slot::One(i) => Want::One(i),
                    Slot::Many(v) => Want::Many(v.to_vec()),
                });
                assert_eq!(got.as_ref(), want.get(*w), "{w:?}");
            }
        }
    }

    #[test]
    fn texts_are_given_back_as_written() {
        let mut t = Texts::default();
        let a = t.push("Ab-1").unwrap();
        let b = t.push_lower(&["Observation", "/", "Ab-1"]).unwrap();
        let empty = t.push("").unwrap();
        t.shrink();
        assert_eq!(t.get(a), "Ab-1");
        assert_eq!(t.get(b), "observation/ab-1");
        assert_eq!(t.get(empty), "");
    }
}
