//! SNOMED CT identifiers (SCTIDs): kind, namespace and Verhoeff check digit.
//!
//! An SCTID is 6 to 18 decimal digits with no leading zero. Read from the right: the last
//! digit is a Verhoeff check digit, the two before it are the partition identifier (`00`
//! concept, `01` description, `02` relationship in the international core; `10`, `11`, `12`
//! the same kinds in an extension, where the seven digits before the partition are the
//! namespace identifier, e.g. `1000000` for the UK).

use std::fmt;

/// What an SCTID identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SctIdKind {
    /// A concept: a clinical meaning; what code lists, refsets and policy rules name.
    Concept,
    /// A description: one term for a concept. EMIS often exports these in `code/@code`; they must
    /// be resolved to their concept (via a release) before any list can match.
    Description,
    /// A relationship between two concepts; never a valid clinical code.
    Relationship,
}

/// A parsed, checked SNOMED CT identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SctId {
    /// The full identifier.
    pub id: u64,
    /// What it identifies, from the partition digits.
    pub kind: SctIdKind,
    /// The extension namespace (`Some(1000000)` for UK), `None` for the international core.
    pub namespace: Option<u32>,
}

/// Why a string is not a valid SCTID. Messages never echo the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SctIdError {
    /// The string is empty.
    #[error("SCTID is empty")]
    Empty,
    /// A character is not `0`-`9`.
    #[error("SCTID has a character that is not a decimal digit")]
    NotDigits,
    /// Fewer than 6 or more than 18 digits (the count given).
    #[error("SCTID has {0} digits, expected 6 to 18")]
    BadLength(usize),
    /// Starts with `0`.
    #[error("SCTID starts with a zero")]
    LeadingZero,
    #[error(
        "SCTID partition identifier {0:?} is not a concept, description or relationship partition"
    )]
    /// The partition digits name no known kind (the partition given).
    UnknownPartition(String),
    /// An extension partition without room for the 7-digit namespace.
    #[error("SCTID is too short to carry a namespace for its extension partition")]
    MissingNamespace,
    /// The Verhoeff check digit is wrong (often a mistyped or truncated code).
    #[error("SCTID Verhoeff check digit does not match")]
    BadCheckDigit,
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];

const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// True if the ASCII digit string (check digit included, last) passes the Verhoeff check.
pub fn verhoeff_valid(digits: &[u8]) -> bool {
    let mut c = 0u8;
    for (i, b) in digits.iter().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let p = VERHOEFF_P[i % 8][usize::from(b - b'0')];
        c = VERHOEFF_D[usize::from(c)][usize::from(p)];
    }
    c == 0
}

/// The Verhoeff check digit to append to the decimal digits of `n` (to make SCTIDs, e.g. in
/// generated test data), without allocating.
pub fn verhoeff_check_digit(mut n: u64) -> u8 {
    const INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];
    let mut c = 0u8;
    let mut i = 1;
    loop {
        let digit = (n % 10) as usize;
        c = VERHOEFF_D[usize::from(c)][usize::from(VERHOEFF_P[i % 8][digit])];
        n /= 10;
        i += 1;
        if n == 0 {
            return INV[usize::from(c)];
        }
    }
}

/// Parse and check an SCTID: digits only, 6..=18 long, no leading zero, known partition,
/// a namespace for extension partitions, and a correct Verhoeff check digit.
pub fn parse_sctid(s: &str) -> Result<SctId, SctIdError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(SctIdError::Empty);
    }
    if !b.iter().all(u8::is_ascii_digit) {
        return Err(SctIdError::NotDigits);
    }
    if !(6..=18).contains(&b.len()) {
        return Err(SctIdError::BadLength(b.len()));
    }
    if b[0] == b'0' {
        return Err(SctIdError::LeadingZero);
    }
    let n = b.len();
    let (kind, extension) = match &b[n - 3..n - 1] {
        b"00" => (SctIdKind::Concept, false),
        b"01" => (SctIdKind::Description, false),
        b"02" => (SctIdKind::Relationship, false),
        b"10" => (SctIdKind::Concept, true),
        b"11" => (SctIdKind::Description, true),
        b"12" => (SctIdKind::Relationship, true),
        other => {
            return Err(SctIdError::UnknownPartition(
                String::from_utf8_lossy(other).into_owned(),
            ))
        }
    };
    // An extension id has at least one item-id digit, the 7-digit namespace, partition, check.
    let namespace = if extension {
        if n < 11 {
            return Err(SctIdError::MissingNamespace);
        }
        Some(digits_value(&b[n - 10..n - 3]) as u32)
    } else {
        None
    };
    if !verhoeff_valid(b) {
        return Err(SctIdError::BadCheckDigit);
    }
    Ok(SctId {
        id: digits_value(b),
        kind,
        namespace,
    })
}

/// Value of at most 19 ASCII digits (callers guarantee digits and length).
fn digits_value(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, d| {
        acc * 10 + u64::from(d.wrapping_sub(b'0') % 10)
    })
}

impl fmt::Display for SctId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_digit_makes_valid_ids() {
        for body in [9056000u64, 15008501, 99900438100000010, 1] {
            let id = format!("{body}{}", super::verhoeff_check_digit(body));
            assert!(super::verhoeff_valid(id.as_bytes()), "{id}");
        }
        assert_eq!(super::verhoeff_check_digit(9056000), 7); // 90560007, gout
    }

    use super::*;

    #[test]
    fn description_id() {
        let s = parse_sctid("150085018").unwrap();
        assert_eq!(s.kind, SctIdKind::Description);
        assert_eq!(s.namespace, None);
        assert_eq!(s.id, 150085018);
    }

    #[test]
    fn concept_id() {
        let s = parse_sctid("90560007").unwrap();
        assert_eq!(s.kind, SctIdKind::Concept);
        assert_eq!(s.namespace, None);
        for c in [
            "195967001",
            "38341003",
            "44054006",
            "138875005",
            "900000000000003001",
        ] {
            assert_eq!(parse_sctid(c).unwrap().kind, SctIdKind::Concept, "{c}");
        }
    }

    #[test]
    fn uk_extension_concept() {
        let s = parse_sctid("999004381000000103").unwrap();
        assert_eq!(s.kind, SctIdKind::Concept);
        assert_eq!(s.namespace, Some(1_000_000));
        assert_eq!(s.id, 999_004_381_000_000_103);
        let d = parse_sctid("320011000000108").unwrap();
        assert_eq!(d.kind, SctIdKind::Concept);
        assert_eq!(d.namespace, Some(1_000_000));
    }

    #[test]
    fn relationship_id() {
        // 100022 is the relationship id used in the SNOMED CT identifier guide's examples.
        let s = parse_sctid("100022").unwrap();
        assert_eq!(s.kind, SctIdKind::Relationship);
    }

    #[test]
    fn bad_check_digit() {
        assert_eq!(parse_sctid("90560008"), Err(SctIdError::BadCheckDigit));
        assert_eq!(parse_sctid("150085019"), Err(SctIdError::BadCheckDigit));
        assert_eq!(
            parse_sctid("999004381000000104"),
            Err(SctIdError::BadCheckDigit)
        );
    }

    #[test]
    fn shape_errors() {
        assert_eq!(parse_sctid(""), Err(SctIdError::Empty));
        assert_eq!(parse_sctid("12a45678"), Err(SctIdError::NotDigits));
        assert_eq!(parse_sctid("10007"), Err(SctIdError::BadLength(5)));
        assert_eq!(
            parse_sctid("1234567890123456789"),
            Err(SctIdError::BadLength(19))
        );
        assert_eq!(parse_sctid("090560007"), Err(SctIdError::LeadingZero));
        assert!(matches!(
            parse_sctid("90560037"),
            Err(SctIdError::UnknownPartition(_))
        ));
        assert_eq!(parse_sctid("1234103"), Err(SctIdError::MissingNamespace));
    }

    #[test]
    fn verhoeff_known_values() {
        // Classic example: 236 has check digit 3.
        assert!(verhoeff_valid(b"2363"));
        assert!(!verhoeff_valid(b"2364"));
    }
}
