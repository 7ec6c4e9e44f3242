//! Digests as text: the SHA-256 of inputs and outputs (Provenance, audit, run journal) and
//! derived ids are written as lower-case hex. One helper, used by every stage.

use sha2::{Digest, Sha256};

/// Lower-case hex of bytes (a digest).
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX_DIGITS[usize::from(b >> 4)] as char);
        s.push(HEX_DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// The lower-case hex digits, by value.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Whether `s` is a UUID in its canonical text form (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    // Asked of every item's id (its resource id and its audit id): the hyphens at their
    // four places, then the five groups of digits, with no test of each byte's place.
    let Ok(b) = <&[u8; 36]>::try_from(s.as_bytes()) else {
        return false;
    };
    let hex = |group: &[u8]| group.iter().all(u8::is_ascii_hexdigit);
    b[8] == b'-'
        && b[13] == b'-'
        && b[18] == b'-'
        && b[23] == b'-'
        && hex(&b[..8])
        && hex(&b[9..13])
        && hex(&b[14..18])
        && hex(&b[19..23])
        && hex(&b[24..])
}

/// The 128 bits of a canonical UUID (lowercase, hyphenated `8-4-4-4-12` hex digits), else
/// `None`: [`uuid_text`] gives the same string back.
pub fn uuid_bits(s: &str) -> Option<u128> {
    let b: &[u8; 36] = s.as_bytes().try_into().ok()?;
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    // Two 64-bit halves (16 digits each: 8-4-4 and 4-12), one table look-up per digit: read
    // for every `fullUrl` and reference the validation's links take.
    let half = |groups: [&[u8]; 2]| -> Option<u64> {
        let mut v = 0u64;
        for &c in groups[0].iter().chain(groups[1]) {
            let d = HEX_DIGIT[usize::from(c)];
            if d > 15 {
                return None;
            }
            v = (v << 4) | u64::from(d);
        }
        Some(v)
    };
    let hi = half([&b[0..8], &b[9..13]])?;
    let hi = (hi << 16) | half([&b[14..18], &[]])?;
    let lo = half([&b[19..23], &b[24..36]])?;
    Some((u128::from(hi) << 64) | u128::from(lo))
}

/// The value of a lowercase hex digit, 255 for any other byte.
const HEX_DIGIT: [u8; 256] = {
    let mut t = [255u8; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u8;
        c += 1;
    }
    t
};

/// The canonical text of a UUID's 128 bits (lowercase, hyphenated).
pub fn uuid_text(u: u128) -> String {
    // One allocation: this runs for every entry of every bundle.
    uuid_chars(u).as_str().to_string()
}

/// [`uuid_text`] held on the stack: the 36 bytes of a UUID's canonical text.
#[derive(Clone, Copy)]
pub struct UuidChars([u8; 36]);

impl UuidChars {
    /// The text (ASCII: hex digits and hyphens).
    #[inline]
    pub fn as_str(&self) -> &str {
        debug_assert!(self.0.is_ascii());
        // SAFETY: the bytes are only ever written (in this module) as hex digits and
        // hyphens ([`uuid_chars`]) or as a UUID's own text, which [`is_uuid`] found to be
        // hex digits and hyphens, lowercased ([`uuid_lowercase`]): ASCII, so valid UTF-8.
        // Asked for every entry's id, so not checked again each time.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

/// `s` in lowercase when it is a UUID ([`is_uuid`]), on the stack.
pub fn uuid_lowercase(s: &str) -> Option<UuidChars> {
    if !is_uuid(s) {
        return None;
    }
    let mut b: [u8; 36] = s.as_bytes().try_into().ok()?;
    b.make_ascii_lowercase();
    Some(UuidChars(b))
}

/// The canonical text of a UUID's 128 bits, without allocating (see [`uuid_text`]).
pub fn uuid_chars(u: u128) -> UuidChars {
    let mut s = [b'-'; 36];
    let mut at = 0;
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            at += 1;
        }
        let nibble = (u >> (124 - 4 * i)) & 0xf;
        s[at] = HEX_DIGITS[nibble as usize];
        at += 1;
    }
    UuidChars(s)
}

/// The canonical text of a UUID's 16 bytes, most significant first (see [`uuid_text`]).
pub fn uuid_text_of_bytes(b: &[u8; 16]) -> String {
    uuid_text(u128::from_be_bytes(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table reading of [`is_uuid`] says what the position-by-position one said, for
    /// canonical UUIDs in both cases and every string made by putting any byte at any of
    /// their positions, cutting or lengthening one.
    #[test]
    fn is_uuid_equals_the_position_by_position_reading() {
        fn reference(s: &str) -> bool {
            let b = s.as_bytes();
            b.len() == 36
                && b.iter().enumerate().all(|(i, &c)| match i {
                    8 | 13 | 18 | 23 => c == b'-',
                    _ => c.is_ascii_hexdigit(),
                })
        }
        let bases = [
            "8f3b744a-93d9-433c-8d46-6ef68ac95052".to_string(),
            "8F3B744A-93D9-433C-8D46-6EF68AC95052".to_string(),
        ];
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for base in &bases {
            let b = base.as_bytes();
            for i in 0..b.len() {
                for byte in 0..=255u8 {
                    let mut v = b.to_vec();
                    v[i] = byte;
                    inputs.push(v);
                }
                inputs.push(b[..i].to_vec());
                let mut longer = b.to_vec();
                longer.insert(i, b'a');
                inputs.push(longer);
            }
        }
        for v in inputs {
            if let Ok(s) = std::str::from_utf8(&v) {
                assert_eq!(is_uuid(s), reference(s), "{s:?}");
            }
        }
        // A multi-byte character in a 36-byte text.
        let s = "8f3b744a-93d9-433c-8d46-6ef68ac950é";
        assert_eq!(is_uuid(s), reference(s));
    }

    /// The former, plain [`uuid_bits`]: the reference of the table-driven one.
    fn uuid_bits_reference(s: &str) -> Option<u128> {
        let b = s.as_bytes();
        if b.len() != 36 {
            return None;
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return None;
                }
                continue;
            }
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return None,
            };
            v = (v << 4) | u128::from(d);
        }
        Some(v)
    }

    /// The former [`uuid_text`], through `format!`.
    fn uuid_text_reference(u: u128) -> String {
        let h = format!("{u:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// The table-driven reading and writing equal the plain ones: on canonical UUIDs (random
    /// bits, all zero, all one, each digit position at each value) and on every string made
    /// by putting any byte at any position of one, or by cutting or lengthening one.
    #[test]
    fn uuid_bits_and_text_equal_the_plain_forms_on_every_one_byte_change() {
        let mut x: u128 = 0x8f3b_744a_93d9_433c_8d46_6ef6_8ac9_5052;
        let mut values = vec![0u128, u128::MAX];
        for _ in 0..64 {
            x = x
                .wrapping_mul(0x2545_f491_4f6c_dd1d_9e37_79b9_7f4a_7c15)
                .wrapping_add(1442695040888963407);
            values.push(x);
        }
        for pos in 0..32 {
            for d in 0..16u128 {
                values.push(d << (4 * pos));
            }
        }
        for &u in &values {
            let text = uuid_text(u);
            assert_eq!(text, uuid_text_reference(u));
            assert_eq!(uuid_bits(&text), Some(u));
            let bytes = text.as_bytes();
            for i in 0..bytes.len() {
                for c in 0..=255u8 {
                    let mut b = bytes.to_vec();
                    b[i] = c;
                    if let Ok(s) = std::str::from_utf8(&b) {
                        assert_eq!(uuid_bits(s), uuid_bits_reference(s), "{s:?}");
                    }
                }
                let cut = &text[..i];
                assert_eq!(uuid_bits(cut), uuid_bits_reference(cut));
            }
            for tail in ["0", "-", "é"] {
                let long = format!("{text}{tail}");
                assert_eq!(uuid_bits(&long), None);
                let s = format!("{tail}{}", &text[1..]);
                assert_eq!(uuid_bits(&s), uuid_bits_reference(&s), "{s:?}");
            }
        }
    }

    #[test]
    fn hex_and_uuid_text_equal_the_formatter() {
        let samples: Vec<u128> = (0..2000u128)
            .map(|i| {
                i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
                    .rotate_left(i as u32)
            })
            .chain([0, u128::MAX, 1, 1 << 127])
            .collect();
        for u in samples {
            let reference = uuid_text_reference(u);
            assert_eq!(uuid_text(u), reference);
            assert_eq!(uuid_text_of_bytes(&u.to_be_bytes()), reference);
            let bytes = u.to_be_bytes();
            let by_write: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex(&bytes), by_write);
        }
    }

    #[test]
    fn uuid_bits_take_only_the_canonical_form_and_give_it_back() {
        for s in [
            "00000000-0000-0000-0000-000000000000",
            "8f3b744a-93d9-433c-8d46-6ef68ac95052",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
        ] {
            assert_eq!(uuid_bits(s).map(uuid_text).as_deref(), Some(s));
        }
        for s in [
            "8F3B744A-93D9-433C-8D46-6EF68AC95052",
            "8f3b744a93d9433c8d466ef68ac95052",
            "8f3b744a-93d9-433c-8d46-6ef68ac9505",
            "8f3b744a-93d9-433c-8d46-6ef68ac950522",
            "8f3b744a-93d9+433c-8d46-6ef68ac95052",
            "8f3b744g-93d9-433c-8d46-6ef68ac95052",
            "",
        ] {
            assert_eq!(uuid_bits(s), None, "{s}");
        }
    }

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
