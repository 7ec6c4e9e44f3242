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
    let mut first_nine = [0u8; 9];
    for (d, b) in first_nine.iter_mut().zip(bytes) {
        *d = b - b'0';
    }
    check_digit(&first_nine) == Some(bytes[9] - b'0')
}

/// The modulus 11 check digit of an NHS number's first nine digits (each 0 to 9), or `None`
/// when it would be 10 (no valid number starts with these nine digits).
pub fn check_digit(first_nine: &[u8; 9]) -> Option<u8> {
    let sum: u32 = first_nine
        .iter()
        .zip((2..=10u32).rev())
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        c => u8::try_from(c).ok(),
    }
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

/// `text` (an input path, a file name) with everything that could be an NHS number masked
/// to its last three digits: every run of 10 or more digits, and 10 digits written in the
/// presentation form 3-3-4 with one space or one dash between the groups (`943 476 5919`,
/// `943-476-5919`). Validity is not asked (test-range and mistyped numbers are masked too,
/// and so are long timestamps: masking too much is safe). GP2GP exports are often named
/// after the patient's NHS number; the operator's records name inputs through this.
pub fn mask_nhs_numbers_in(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let digit = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !digit(i) || (i > 0 && digit(i - 1)) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i;
        while digit(end) {
            end += 1;
        }
        let run = end - i;
        // The 3-3-4 presentation form: ddd?ddd?dddd with one separator, the same twice.
        let grouped = run == 3
            && matches!(chars.get(end), Some(' ') | Some('-'))
            && (end + 1..end + 4).all(digit)
            && chars.get(end + 4) == chars.get(end)
            && (end + 5..end + 9).all(digit)
            && !digit(end + 9);
        if grouped {
            let digits: String = chars[i..end + 9]
                .iter()
                .filter(|c| c.is_ascii_digit())
                .collect();
            out.push_str(&mask_nhs_number(&digits));
            i = end + 9;
        } else if run >= 10 {
            out.push_str(&mask_nhs_number(&chars[i..end].iter().collect::<String>()));
            i = end;
        } else {
            out.extend(&chars[i..end]);
            i = end;
        }
    }
    out
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

/// Characters that are invisible in a spreadsheet cell and carry nothing: zero-width spaces
/// and joiners, the byte-order mark, word joiner, soft hyphen, and bidirectional marks.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Full-width forms (U+FF01 to U+FF5E) of ASCII characters, as East Asian input methods and
/// some spreadsheets write digits, back to ASCII; the ideographic space to a space.
fn narrow(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Read an NHS number as spreadsheets and hand-typed files write it, or `None` when no
/// 10-digit number can be read from it without guessing.
///
/// Accepted forms, each undone exactly: surrounding and inner white space of any kind
/// (including no-break and ideographic spaces), so spaced groups `943 476 5919`; hyphenated
/// groups `943-476-5919`; invisible characters (zero-width spaces and joiners, byte-order
/// marks, soft hyphens, bidirectional marks); full-width characters (`９４３４７６５９１９`);
/// a leading text-marker apostrophe (`'9434765919`, also `’`); a leading `+`; the
/// `="9434765919"` formula form; a trailing decimal fraction of zeros (`9434765919.0`); and
/// scientific notation that keeps every digit (`9.434765919E+09`). Scientific notation that
/// dropped digits (`9.43477E+09`) is refused: its last digits are a guess. The check digit is
/// not tested here ([`is_valid_nhs_number`]).
pub fn normalise_nhs_number(field: &str) -> Option<String> {
    let s: String = field
        .chars()
        .filter(|c| !is_invisible(*c))
        .map(narrow)
        .collect();
    let mut s = s.trim();
    if let Some(inner) = s.strip_prefix("=\"").and_then(|r| r.strip_suffix('"')) {
        s = inner.trim();
    }
    if let Some(rest) = s.strip_prefix(['\'', '\u{2019}', '\u{2018}']) {
        s = rest.trim_start();
    }
    if let Some(rest) = s.strip_prefix('+') {
        s = rest.trim_start();
    }
    let compact: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let digits = match compact.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => from_scientific(mantissa, exponent)?,
        None => match compact.split_once('.') {
            Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => {
                int.to_string()
            }
            Some(_) => return None,
            None => compact,
        },
    };
    (digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// `d.ddddddddd` times ten to `exponent`, only when every digit of the integer is written.
fn from_scientific(mantissa: &str, exponent: &str) -> Option<String> {
    let exponent: usize = exponent
        .strip_prefix('+')
        .unwrap_or(exponent)
        .parse()
        .ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.len() != 1 || frac.len() != exponent {
        return None;
    }
    let all = format!("{int}{frac}");
    all.bytes().all(|b| b.is_ascii_digit()).then_some(all)
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

    #[test]
    fn spreadsheet_forms_are_read_exactly() {
        let n = "9434765919";
        for form in [
            "9434765919",
            " 9434765919 ",
            "\t9434765919\u{00A0}",
            "'9434765919",
            "\u{2019}9434765919",
            "9434765919.0",
            "9434765919.00",
            "+9434765919",
            "\u{200B}9434765919",
            "9434\u{200D}765919\u{FEFF}",
            "\u{FEFF}'9434765919",
            "９４３４７６５９１９",
            "９４３ ４７６ ５９１９",
            "943 476 5919",
            "943\u{00A0}476\u{00A0}5919",
            "943\u{3000}476\u{3000}5919",
            "943-476-5919",
            "=\"9434765919\"",
            "9.434765919E+09",
            "9.434765919e9",
            "'943 476 5919.0",
        ] {
            assert_eq!(normalise_nhs_number(form).as_deref(), Some(n), "{form:?}");
        }
    }

    #[test]
    fn forms_that_lose_or_add_digits_are_refused() {
        for form in [
            "",
            "'",
            "943476591",
            "94347659190",
            "9.43477E+09",
            "9.4347659190E+09",
            "9434765919.5",
            "9434765919.",
            "94347659a9",
            "9434765919 x",
            "٩٤٣٤٧٦٥٩١٩",
            "9434765919\u{FFFD}",
            "-",
            "+-'",
        ] {
            assert_eq!(normalise_nhs_number(form), None, "{form:?}");
        }
    }
    #[test]
    fn nhs_numbers_in_names_are_masked_in_every_form_and_position() {
        for (name, want) in [
            (
                "9434765919_SMITH_20200101.xml",
                "*******919_SMITH_20200101.xml",
            ),
            ("in/9434765919/x.xml", "in/*******919/x.xml"),
            ("a-943 476 5919-b.json", "a-*******919-b.json"),
            ("943-476-5919.xml", "*******919.xml"),
            (
                "uat-tc4-9465698490_Daniels_full_20210119.xml",
                "uat-tc4-*******490_Daniels_full_20210119.xml",
            ),
            ("x.9434765919", "x.*******919"),
            ("94347659190123.xml", "***********123.xml"),
        ] {
            assert_eq!(mask_nhs_number_check(name), want, "{name}");
        }
        // Nothing else changes: dates, short numbers, a mixed separator, text.
        for same in [
            "20200101.xml",
            "x-123456789.xml",
            "943 476-5919",
            "rec.xml",
            "é/9.xml",
        ] {
            assert_eq!(mask_nhs_numbers_in(same), same);
        }
    }

    fn mask_nhs_number_check(name: &str) -> String {
        let masked = mask_nhs_numbers_in(name);
        // No ten digits of the number survive, in any grouping.
        let digits: String = masked.chars().filter(char::is_ascii_digit).collect();
        assert!(
            !digits.contains("9434765919") && !digits.contains("9465698490"),
            "{masked}"
        );
        masked
    }
}
