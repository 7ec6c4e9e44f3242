//! Deterministic resource ids: a source UUID is used as it is (lowercase); anything else
//! (numeric ids, resources migx makes itself) gets a name-based UUID derived with SHA-256
//! from a fixed namespace and the parts, so reruns give byte-identical output.

use crate::digest::is_uuid;
use sha2::{Digest, Sha256};

/// A UUID derived from `parts` (RFC 9562 version 8, name-based with SHA-256).
pub fn derived_uuid(parts: &[&str]) -> String {
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
    let hex = crate::digest::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The resource id (and `urn:uuid:` identifier) for a source element id. A source UUID is
/// used as it is unless it has version 8, the version of every id migx derives: such a
/// UUID is derived too, so no source id can equal another item's derived id (two entries
/// with one `fullUrl`).
pub fn source_uuid(source_id: &str) -> String {
    if is_uuid(source_id) && source_id.as_bytes()[14] != b'8' {
        source_id.to_ascii_lowercase()
    } else if is_uuid(source_id) {
        derived_uuid(&["source-uuid", &source_id.to_ascii_lowercase()])
    } else {
        derived_uuid(&["source-id", source_id])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
