//! Deterministic resource ids: a source UUID is used as it is (lowercase); anything else
//! (numeric ids, resources migx makes itself) gets a name-based UUID derived with SHA-256
//! from a fixed namespace and the parts, so reruns give byte-identical output.

use crate::digest::{uuid_bits, uuid_chars, uuid_lowercase, uuid_text, UuidChars};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A UUID derived from `parts` (RFC 9562 version 8, name-based with SHA-256).
pub fn derived_uuid(parts: &[&str]) -> String {
    uuid_text(derived_bits(parts))
}

/// The 128 bits of [`derived_uuid`].
fn derived_bits(parts: &[&str]) -> u128 {
    let mut h = Sha256::new();
    h.update(b"migx:v1");
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC variant
    u128::from_be_bytes(b)
}

/// The resource id (and `urn:uuid:` identifier) for a source element id. A source UUID is
/// used as it is unless it has version 8, the version of every id migx derives: such a
/// UUID is derived too, so no source id can equal another item's derived id (two entries
/// with one `fullUrl`).
pub fn source_uuid(source_id: &str) -> String {
    source_uuid_chars(source_id).as_str().to_string()
}

/// [`source_uuid`] without allocating: the audit names every withheld item by it.
pub fn source_uuid_chars(source_id: &str) -> UuidChars {
    match uuid_lowercase(source_id) {
        None => uuid_chars(derived_bits(&["source-id", source_id])),
        Some(lower) if lower.as_str().as_bytes()[14] != b'8' => lower,
        Some(lower) => uuid_chars(derived_bits(&["source-uuid", lower.as_str()])),
    }
}

/// The ids of a bundle's entries in entry order (each entry's `fullUrl` is `urn:uuid:<id>`),
/// compactly: a canonical lowercase UUID (every id migx makes) as its 16 bytes, any other id
/// (never expected) as its text. What the bundle's plan, its Provenance targets and its
/// Lists' members are made from, instead of a `String` per entry (issue 24.12).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryIds {
    uuids: Vec<u128>,
    /// Entry index -> id, for the ids that are not canonical UUIDs.
    text: BTreeMap<usize, Box<str>>,
}

impl EntryIds {
    /// Append the next entry's id.
    pub fn push(&mut self, id: &str) {
        match uuid_bits(id) {
            Some(u) => self.uuids.push(u),
            None => {
                self.text.insert(self.uuids.len(), id.into());
                self.uuids.push(0);
            }
        }
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.uuids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.uuids.is_empty()
    }

    /// Entry `k`'s id.
    pub fn id(&self, k: usize) -> Option<String> {
        let u = *self.uuids.get(k)?;
        Some(match self.text.get(&k) {
            Some(t) => t.to_string(),
            None => uuid_text(u),
        })
    }

    /// Entry `k`'s `fullUrl`, `urn:uuid:<id>`.
    pub fn full_url(&self, k: usize) -> Option<String> {
        self.id(k).map(|id| format!("urn:uuid:{id}"))
    }

    /// Whether entry `k`'s id is `id`.
    pub fn is(&self, k: usize, id: &str) -> bool {
        match (self.uuids.get(k), self.text.get(&k)) {
            (None, _) => false,
            (Some(_), Some(t)) => &**t == id,
            (Some(&u), None) => uuid_bits(id) == Some(u),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::is_uuid;

    #[test]
    fn entry_ids_give_back_every_id_pushed_uuid_or_not() {
        let ids = [
            "8f3b744a-93d9-433c-8d46-6ef68ac95052",
            "00000000-0000-0000-0000-000000000000",
            "not-a-uuid",
            "8F3B744A-93D9-433C-8D46-6EF68AC95052",
            "",
            "derived",
        ];
        let mut e = EntryIds::default();
        assert!(e.is_empty());
        for id in ids {
            e.push(id);
        }
        assert_eq!(e.len(), ids.len());
        for (k, id) in ids.iter().enumerate() {
            assert_eq!(e.id(k).as_deref(), Some(*id));
            assert_eq!(e.full_url(k), Some(format!("urn:uuid:{id}")));
            assert!(e.is(k, id));
            for (j, other) in ids.iter().enumerate() {
                assert_eq!(e.is(k, other), j == k, "{k} {j}");
            }
        }
        assert_eq!(e.id(ids.len()), None);
        assert!(!e.is(ids.len(), ids[0]));
    }

    /// The id made without allocating is the former one (a source UUID lowercased unless it
    /// has version 8, anything else derived), for UUIDs in both cases and every version, and
    /// for ids that are not UUIDs.
    #[test]
    fn a_source_uuid_is_the_former_one() {
        fn former(source_id: &str) -> String {
            if !is_uuid(source_id) {
                derived_uuid(&["source-id", source_id])
            } else if source_id.as_bytes()[14] != b'8' {
                source_id.to_ascii_lowercase()
            } else {
                derived_uuid(&["source-uuid", &source_id.to_ascii_lowercase()])
            }
        }
        let mut ids: Vec<String> = vec![
            String::new(),
            "394559384658936".into(),
            "not-a-uuid".into(),
            "8f3b744a93d9433c8d466ef68ac95052".into(),
            "8f3b744a-93d9-433c-8d46-6ef68ac9505g".into(),
        ];
        for v in "0123456789abcdefABCDEF".chars() {
            let u = format!("8f3b744a-93d9-{v}33c-8d46-6ef68ac95052");
            ids.push(u.to_ascii_uppercase());
            ids.push(u.replace("6ef6", "6EF6"));
            ids.push(u);
        }
        for id in &ids {
            assert_eq!(source_uuid_chars(id).as_str(), former(id), "{id:?}");
            assert_eq!(source_uuid(id), former(id), "{id:?}");
        }
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("8f3b744a-93d9-433c-8d46-6ef68ac95052"));
        assert!(!is_uuid("394559384658936"));
        assert_eq!(
            source_uuid("8F3B744A-93D9-433C-8D46-6EF68AC95052"),
            "8f3b744a-93d9-433c-8d46-6ef68ac95052"
        );
        let a = source_uuid("394559384658936");
        assert!(is_uuid(&a));
        assert_eq!(a, source_uuid("394559384658936"));
        assert_ne!(derived_uuid(&["a", "bc"]), derived_uuid(&["ab", "c"]));
        assert_eq!(&a[14..15], "8");
    }

    #[test]
    fn a_source_id_equal_to_a_derived_id_does_not_collide() {
        let derived = source_uuid("394559384658936");
        // An item whose source id IS that derived UUID gets another id.
        assert_ne!(source_uuid(&derived), derived);
        assert_ne!(source_uuid(&derived.to_ascii_uppercase()), derived);
        assert!(is_uuid(&source_uuid(&derived)));
        assert_eq!(source_uuid(&derived), source_uuid(&derived));
    }
}
