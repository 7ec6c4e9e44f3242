//! An item's source id, held in the item itself when it is short enough.
//!
//! Almost every id in an extract is a UUID (36 bytes). As a `String` each was an allocation
//! of its own, freed one by one with the record, and read back from wherever the heap had put
//! it by the stages after reading (the id index, the audit of every withheld item, the
//! mapping of every shared one): on a large record each of those reads missed the caches.
//! Here an id of up to [`INLINE`] bytes (a UUID, a UUID with a short extension) lies in the
//! item beside the fields read with it; a longer one is on the heap as before. Either way
//! it reads as the `str` it is: equality, order, hashing and `Debug` are the text's.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// The longest id held inline: a UUID (36) and room for a short `/extension`.
pub(crate) const INLINE: usize = 38;

/// An item's id (see the module's documentation); empty when the source gave none.
#[derive(Clone)]
pub struct SourceId(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl SourceId {
    /// The id `root` (lowercased: ids are compared case-insensitively) with `/extension`
    /// after it when there is one: how the reader names an `id` element, made in place.
    #[inline]
    pub fn from_root(root: &str, extension: Option<&str>) -> SourceId {
        let len = root.len() + extension.map_or(0, |e| e.len() + 1);
        if len > INLINE {
            return SourceId::from_root_on_heap(root, extension);
        }
        let mut bytes = [0u8; INLINE];
        let (head, rest) = bytes.split_at_mut(root.len());
        head.copy_from_slice(root.as_bytes());
        head.make_ascii_lowercase();
        if let Some(e) = extension {
            rest[0] = b'/';
            rest[1..=e.len()].copy_from_slice(e.as_bytes());
        }
        SourceId(Repr::Inline {
            len: len as u8,
            bytes,
        })
    }

    /// [`SourceId::from_root`] for an id longer than [`INLINE`] (rare: kept out of the
    /// reader's loop).
    #[cold]
    #[inline(never)]
    fn from_root_on_heap(root: &str, extension: Option<&str>) -> SourceId {
        SourceId(Repr::Heap(id_text(root, extension).into_boxed_str()))
    }

    /// The id as text.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let text = &bytes[..usize::from(*len)];
                debug_assert!(std::str::from_utf8(text).is_ok());
                // SAFETY: `bytes[..len]` is only ever written (in this module) as copies of
                // whole `str`s, one of them ASCII-lowercased (which keeps UTF-8 valid), and
                // the ASCII '/' between them, so it is valid UTF-8. Asked at every look-up
                // of an id, so not checked again each time.
                unsafe { std::str::from_utf8_unchecked(text) }
            }
            Repr::Heap(s) => s,
        }
    }
}

/// The text of the id `root` with `/extension` after it when there is one, `root`
/// lowercased, in one allocation: what [`SourceId::from_root`] holds, and the form the
/// reader keeps references and further ids in (`String`s, so that both agree).
pub(crate) fn id_text(root: &str, extension: Option<&str>) -> String {
    let mut s = String::with_capacity(root.len() + extension.map_or(0, |e| e.len() + 1));
    s.push_str(root);
    s.make_ascii_lowercase();
    if let Some(e) = extension {
        s.push('/');
        s.push_str(e);
    }
    s
}

impl Default for SourceId {
    fn default() -> SourceId {
        SourceId(Repr::Inline {
            len: 0,
            bytes: [0; INLINE],
        })
    }
}

impl From<&str> for SourceId {
    fn from(s: &str) -> SourceId {
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            SourceId(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            SourceId(Repr::Heap(s.into()))
        }
    }
}

impl From<String> for SourceId {
    fn from(s: String) -> SourceId {
        if s.len() <= INLINE {
            SourceId::from(s.as_str())
        } else {
            SourceId(Repr::Heap(s.into_boxed_str()))
        }
    }
}

impl From<&String> for SourceId {
    fn from(s: &String) -> SourceId {
        SourceId::from(s.as_str())
    }
}

impl Deref for SourceId {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SourceId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SourceId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for SourceId {
    fn eq(&self, other: &SourceId) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SourceId {}

impl PartialEq<str> for SourceId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SourceId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SourceId {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for SourceId {
    fn partial_cmp(&self, other: &SourceId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SourceId {
    fn cmp(&self, other: &SourceId) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for SourceId {
    // As the text hashes, so that a map keyed by ids can be asked with a `&str`.
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h);
    }
}

impl fmt::Debug for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    /// Made from a root and an extension, an id is the text the `String` form made
    /// (`root` trimmed by the caller, lowercased, `/extension` appended), at every length
    /// around the inline bound, with non-ASCII text, and reads, compares, orders, hashes and
    /// debug-prints as that text.
    #[test]
    fn an_id_is_its_text_at_every_length() {
        let roots = [
            "",
            "A",
            "8F3B744A-93D9-433C-8D46-6EF68AC95052",
            "2.16.840.1.113883.2.1.4",
        ];
        let exts = [
            None,
            Some(""),
            Some("X"),
            Some("ext-ÉÜ"),
            Some("0123456789"),
        ];
        let mut made = Vec::new();
        for root in roots {
            for n in 0..=root.len() {
                let root = &root[..n];
                for ext in exts {
                    let mut want = root.to_ascii_lowercase();
                    if let Some(e) = ext {
                        want.push('/');
                        want.push_str(e);
                    }
                    assert_eq!(id_text(root, ext), want);
                    let id = SourceId::from_root(root, ext);
                    assert_eq!(id.as_str(), want);
                    assert_eq!(&*id, want.as_str());
                    assert_eq!(id, SourceId::from(want.as_str()));
                    assert_eq!(id, SourceId::from(want.clone()));
                    assert_eq!(format!("{id:?}"), format!("{want:?}"));
                    assert_eq!(id.to_string(), want);
                    assert_eq!(hash_of(&id), hash_of(want.as_str()));
                    assert_eq!(id.is_empty(), want.is_empty());
                    made.push((id, want));
                }
            }
        }
        for (a, wa) in &made {
            for (b, wb) in made.iter().take(200) {
                assert_eq!(a.cmp(b), wa.cmp(wb));
                assert_eq!(a == b, wa == wb);
            }
        }
        assert!(made.iter().any(|(id, _)| matches!(id.0, Repr::Heap(_))));
        assert!(made
            .iter()
            .any(|(id, w)| w.len() == INLINE && matches!(id.0, Repr::Inline { .. })));
        assert_eq!(SourceId::default().as_str(), "");
    }

    /// A UUID, the usual id, is held inline, and the id costs no more than a `String` and
    /// its 48-byte heap block did.
    #[test]
    fn a_uuid_is_held_inline() {
        let id = SourceId::from_root("8F3B744A-93D9-433C-8D46-6EF68AC95052", None);
        assert!(matches!(id.0, Repr::Inline { .. }));
        assert!(std::mem::size_of::<SourceId>() <= 40);
    }
}
