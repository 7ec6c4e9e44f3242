//! Error messages that never quote the input: quick-xml's errors and element names read
//! through migx's own vocabulary.

use super::bound::NodeTooLarge;
use super::tags::{tag_of, Tag};
use super::State;
use crate::error::{ErrorCode, InputError};

/// Where a quick-xml error happened: (start of the event being read, quick-xml's own error
/// offset, bytes consumed from the source).
type ErrorAt = (u64, u64, u64);

pub(super) fn xml_error(
    e: quick_xml::Error,
    (pos, err_pos, consumed): ErrorAt,
    st: &State,
) -> InputError {
    use quick_xml::encoding::EncodingError;
    use quick_xml::Error as E;
    let (code, msg, offset) = match &e {
        E::Io(io) if io.get_ref().is_some_and(|i| i.is::<NodeTooLarge>()) => (
            ErrorCode::LimitExceeded,
            "a single XML node (tag or text) is larger than the limit".to_string(),
            consumed,
        ),
        E::Io(io) => (
            ErrorCode::IoError,
            format!("read failed: {}", io.kind()),
            consumed,
        ),
        // The event started at `pos`; the bad byte is where valid UTF-8 stopped.
        E::Encoding(EncodingError::Utf8(u)) => (
            ErrorCode::InvalidEncoding,
            "the bytes are not valid UTF-8".to_string(),
            pos + u.valid_up_to() as u64,
        ),
        E::Encoding(_) => (
            ErrorCode::InvalidEncoding,
            "the bytes are not valid UTF-8".to_string(),
            pos,
        ),
        E::Syntax(s) => (
            ErrorCode::MalformedXml,
            format!("XML syntax error: {s}"),
            err_pos,
        ),
        E::IllFormed(s) => (
            ErrorCode::MalformedXml,
            format!("XML is not well-formed: {}", ill_formed(s)),
            err_pos,
        ),
        E::InvalidAttr(s) => (
            ErrorCode::MalformedXml,
            format!("bad attribute: {s}"),
            err_pos,
        ),
        E::Escape(_) => (
            ErrorCode::MalformedXml,
            "an unknown entity or a bad character reference".to_string(),
            err_pos,
        ),
        E::Namespace(s) => (
            ErrorCode::MalformedXml,
            // Not the error's text: it quotes the prefix, which comes from the input.
            {
                let _ = s;
                "a namespace prefix is undeclared or declared wrongly".to_string()
            },
            err_pos,
        ),
    };
    let mut err = InputError::new(code, msg).at(offset);
    err.element = st.innermost();
    err
}

/// An ill-formedness message without the names quick-xml quotes (a hostile file could put
/// anything in an end tag's name).
fn ill_formed(e: &quick_xml::errors::IllFormedError) -> String {
    use quick_xml::errors::IllFormedError as I;
    match e {
        I::MismatchedEndTag { expected, .. } => {
            format!(
                "an end tag does not match <{}>",
                safe_name(expected.as_bytes())
            )
        }
        I::MissingEndTag(name) => format!(
            "the document ends before <{}> is closed (truncated?)",
            safe_name(name.as_bytes())
        ),
        I::UnmatchedEndTag(_) => "an end tag with no start tag".to_string(),
        I::MissingDeclVersion(_) => "the XML declaration does not start with version".to_string(),
        // Other variants may quote input text (names, comment or doctype content).
        _ => "the XML is not well-formed".to_string(),
    }
}

/// HL7 v3 interaction ids (`MCCI_IN010000UK13`: four letters, `_`, two letters, six digits,
/// two letters, two digits), HL7's own vocabulary: shown so a wrong message type is named.
fn is_interaction_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 17
        && b.iter().enumerate().all(|(i, &c)| match i {
            0..=3 | 5..=6 | 13..=14 => c.is_ascii_uppercase(),
            4 => c == b'_',
            _ => c.is_ascii_digit(),
        })
}

/// An element name fit for a message: XML name characters only, at most 64 of them.
/// An element name fit for a message: only names from migx's own vocabulary (the elements
/// the reader knows, and the three roots it accepts). Any other name came from the input,
/// which may have put a patient's name or NHS number there: it is shown as `?`.
pub(super) fn safe_name(name: &[u8]) -> String {
    let Ok(s) = std::str::from_utf8(name) else {
        return "?".to_string();
    };
    let local = s.rsplit(':').next().unwrap_or(s);
    let known = tag_of(local) != Tag::Other
        || matches!(
            local,
            "RCMR_IN030000UK06" | "RCMR_IN030000UK07" | "EhrExtract"
        )
        || is_interaction_id(local);
    if known {
        local.to_string()
    } else {
        "?".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_never_reach_messages() {
        assert_eq!(safe_name(b"ObservationStatement"), "ObservationStatement");
        assert_eq!(safe_name("Jane Smith".as_bytes()), "?");
        assert_eq!(safe_name(&[b'a'; 65]), "?");
        assert_eq!(safe_name(b""), "?");
    }
}
