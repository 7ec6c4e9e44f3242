//! NHS numbers: validation (modulus 11) and masking for logs and errors.
//!
//! An NHS number is 10 digits; the 10th is a check digit computed with modulus 11 over the
//! first nine, weighted 10 down to 2. A computed check digit of 10 means the number is
//! invalid (such numbers are never issued). See the NHS Data Dictionary, "NHS NUMBER".

/// True if `s` is exactly 10 ASCII digits whose last digit is the modulus 11 check digit.
///
/// No spaces or separators are accepted: callers normalise presentation forms such as
/// `943 476 5919` themselves if they want to accept them.
pub fn is_valid_nhs_number(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() != 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = bytes[..9]
        .iter()
        .zip((2..=10u32).rev())
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = match 11 - (sum % 11) {
        11 => 0,
        10 => return false,
        c => c,
    };
    u32::from(bytes[9] - b'0') == check
}

/// True if `s` has the shape of an NHS ODS organisation code: 3 to 10 ASCII letters and
/// digits, upper case (practices `A12345`, trusts `RXX`, sites `RXX01`, out-of-hours
/// services `Y02345`, commissioners `00L`), at least one of them a letter or the code 3
/// characters long. Anything else (a name, a phrase, an NHS number) is not an ODS code.
pub fn is_ods_code(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=10).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && (b.len() == 3 || b.iter().any(u8::is_ascii_uppercase))
}

/// Most stars a mask ever shows, so that a huge input does not make a huge log line.
const MAX_STARS: usize = 16;

/// Mask an NHS number (or anything given in its place) for logs and error messages.
///
/// All characters except the last three are replaced by `*`; `9434765919` becomes
/// `*******919`. Never reveals more than three characters: inputs shorter than six
/// characters are masked completely (three characters of a four-character string would reveal
/// too much), and the number of stars is capped at 16.
pub fn mask_nhs_number(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n < 6 {
        return "*".repeat(n.max(1));
    }
    let mut out = "*".repeat((n - 3).min(MAX_STARS));
    out.extend(&chars[n - 3..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_numbers() {
        assert!(is_valid_nhs_number("9000000009"));
        assert!(is_valid_nhs_number("9434765919"));
        assert!(is_valid_nhs_number("9434765870"));
    }

    #[test]
    fn invalid_numbers() {
        assert!(!is_valid_nhs_number("1234567890"));
        assert!(!is_valid_nhs_number("9434765918"));
        assert!(!is_valid_nhs_number(""));
        assert!(!is_valid_nhs_number("943476591"));
        assert!(!is_valid_nhs_number("94347659190"));
        assert!(!is_valid_nhs_number("943 476 5919"));
        assert!(!is_valid_nhs_number("94347659a9"));
        assert!(!is_valid_nhs_number("９４３４７６５９１９"));
    }

    #[test]
    fn check_digit_ten_is_invalid() {
        // 123456781x: sum = 1*10+2*9+3*8+4*7+5*6+6*5+7*4+8*3+1*2 = 194, 194 % 11 = 7,
        // 11 - 7 = 4 -> valid with 4. Find one whose check digit would be 10:
        // 000000001x: sum = 2, 11 - 2 = 9. 000000010x: sum = 3 -> 8 ... 000000100x: sum 4 -> 7.
        // 100000000x: sum 10 -> 1. 000000005x: sum 10 -> 1. 000000000x -> 0.
        // 000000006x: sum 12 -> 12 % 11 = 1 -> 10: invalid whatever the last digit.
        for d in 0..=9 {
            assert!(!is_valid_nhs_number(&format!("000000006{d}")));
        }
        assert!(is_valid_nhs_number("0000000000"));
    }

    #[test]
    fn masking() {
        assert_eq!(mask_nhs_number("9434765919"), "*******919");
        assert_eq!(mask_nhs_number(""), "*");
        assert_eq!(mask_nhs_number("12"), "**");
        assert_eq!(mask_nhs_number("12345"), "*****");
        assert_eq!(mask_nhs_number("123456"), "***456");
        let long = "9".repeat(1000);
        let m = mask_nhs_number(&long);
        assert_eq!(m, format!("{}999", "*".repeat(16)));
        // Multi-byte input never panics and reveals at most three characters.
        let m = mask_nhs_number("éééééééééé");
        assert_eq!(m.chars().filter(|c| *c != '*').count(), 3);
    }

    #[test]
    fn ods_code_shape() {
        for ok in ["A12345", "Y02345", "RXX", "RXX01", "00L", "8HK32"] {
            assert!(is_ods_code(ok), "{ok}");
        }
        for bad in [
            "",
            "A1",
            "a12345",
            "A12 345",
            "Dr Smith",
            "9434765919",
            "A123456789X",
            "Ａ12345",
        ] {
            assert!(!is_ods_code(bad), "{bad}");
        }
    }
}
