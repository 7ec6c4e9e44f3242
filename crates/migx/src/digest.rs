//! Digests as text: the SHA-256 of inputs and outputs (Provenance, audit, run journal) and
//! derived ids are written as lower-case hex. One helper, used by every stage.

use sha2::{Digest, Sha256};

/// Lower-case hex of bytes (a digest).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Whether `s` is a UUID in its canonical text form (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_sha256_are_lower_case_and_complete() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn uuids_are_recognised_by_their_canonical_form_only() {
        assert!(is_uuid("8f3b744a-93d9-433c-8d46-6ef68ac95052"));
        assert!(!is_uuid("8f3b744a93d9433c8d466ef68ac95052"));
        assert!(!is_uuid("8f3b744a-93d9-433c-8d46-6ef68ac9505g"));
        assert!(!is_uuid("394559384658936"));
    }
}
