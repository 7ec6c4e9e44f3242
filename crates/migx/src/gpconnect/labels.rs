//! Security labels and duplicate keys: the labels a resource carries, and the checks that
//! refuse a bundle whose labels or keys cannot be read as FHIR defines them.

use super::json::{arr, str_at};
use crate::error::{ErrorCode, InputError};
use serde_json::Value as Json;
use std::collections::HashSet;

/// coded `NOPAT`, `R` or `V`). The shapes were checked by [`check_labels`] first.
pub(super) fn security(r: &Json) -> Vec<String> {
    let meta = r.get("meta");
    arr(meta, "security")
        .chain(arr(meta, "tag").filter(|t| is_security_tag(t)))
        .map(|s| {
            str_at(s, "code")
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                // An unreadable security label is still a restriction: keep a marker.
                .unwrap_or_else(|| "UNKNOWN".to_string())
        })
        .collect()
}

/// Code systems of security labels (any spelling: URL, OID).
const SECURITY_SYSTEMS: [&str; 5] = [
    "actcode",
    "confidentiality",
    "2.16.840.1.113883.5.4",
    "2.16.840.1.113883.5.25",
    "2.16.840.1.113883.4.642.3.47",
];

fn is_security_tag(t: &Json) -> bool {
    let system = str_at(t, "system").unwrap_or("").to_ascii_lowercase();
    let code = str_at(t, "code").unwrap_or("").trim().to_ascii_uppercase();
    SECURITY_SYSTEMS.iter().any(|s| system.contains(s))
        || matches!(code.as_str(), "NOPAT" | "R" | "V")
}

/// Whether a resource's security metadata has the shape FHIR gives it: `meta` an object,
/// `meta.security` and `meta.tag` arrays of codings (objects whose `system` and `code` are
/// strings).
fn labels_well_formed(r: &Json) -> bool {
    let Some(meta) = r.get("meta") else {
        return true;
    };
    let Some(meta) = meta.as_object() else {
        return false;
    };
    ["security", "tag"].iter().all(|k| match meta.get(*k) {
        None => true,
        Some(Json::Array(codings)) => codings.iter().all(|c| {
            c.as_object().is_some_and(|o| {
                o.get("code").is_none_or(Json::is_string)
                    && o.get("system").is_none_or(Json::is_string)
            })
        }),
        Some(_) => false,
    })
}

fn malformed(what: String) -> InputError {
    InputError::new(
        ErrorCode::MalformedSecurity,
        format!(
            "the security metadata of {what} is not shaped as FHIR defines it (meta an object; meta.security and meta.tag arrays of codings)"
        ),
    )
}

/// Refuse a bundle whose own security metadata cannot be read as FHIR defines it (its
/// entries: [`check_entry_labels`]): never read past it.
pub(super) fn check_bundle_labels(bundle: &Json) -> Result<(), InputError> {
    if !labels_well_formed(bundle) {
        return Err(malformed("the Bundle".into()));
    }
    Ok(())
}

/// Refuse entry `n` when the security metadata of its resource, or of a resource it
/// contains, cannot be read as FHIR defines it.
pub(super) fn check_entry_labels(r: &Json, n: usize) -> Result<(), InputError> {
    if !labels_well_formed(r) || !arr(Some(r), "contained").all(labels_well_formed) {
        return Err(malformed(format!("entry {n}")));
    }
    if r.get("contained").is_some_and(|c| !c.is_array()) {
        return Err(malformed(format!("entry {n} (contained is not an array)")));
    }
    Ok(())
}

/// Refuse a JSON document in which an object names one key twice: serde_json keeps the last
/// one, so a second `meta` would silently replace the first (and its labels).
pub(super) fn check_duplicate_keys(bytes: &[u8]) -> Result<(), InputError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match <NoDuplicateKeys as serde::Deserialize>::deserialize(&mut de) {
        Ok(_) => Ok(()),
        Err(e) => {
            let mut err = InputError::new(
                ErrorCode::DuplicateJsonKey,
                "a JSON object names the same key twice, so which one counts is ambiguous",
            );
            err.line = Some(e.line() as u64);
            err.column = Some(e.column() as u64);
            Err(err)
        }
    }
}

/// Walks a JSON document, failing on the first object that repeats a key.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        while a.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut seen = HashSet::new();
        while let Some(k) = a.next_key::<String>()? {
            if !seen.insert(k) {
                // Not the key itself: a hostile file could put anything there.
                return Err(serde::de::Error::custom("duplicate key"));
            }
            a.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpconnect::testing::*;
    #[test]
    fn malformed_security_metadata_is_refused_and_tags_count() {
        let obs = |meta: &str| format!(r#"{{"resourceType":"Observation","id":"b",{meta}{OBS}}}"#);
        let code = |b: &[u8]| read_gpconnect(b).map(|_| ()).unwrap_err().code;
        // meta.security as an object, meta as a string, a label that is not a coding.
        for meta in [
            r#""meta":{"security":{"code":"NOPAT"}},"#,
            r#""meta":"NOPAT","#,
            r#""meta":{"security":["NOPAT"]},"#,
            r#""meta":{"tag":{"code":"NOPAT"}},"#,
            r#""meta":{"security":[{"code":7}]},"#,
        ] {
            assert_eq!(
                code(&bundle("", &[&obs(meta)])),
                ErrorCode::MalformedSecurity,
                "{meta}"
            );
        }
        // meta twice: the second would silently replace the first.
        let twice = obs(r#""meta":{"security":[{"code":"NOPAT"}]},"meta":{},"#);
        let e = read_gpconnect(&bundle("", &[&twice])).unwrap_err();
        assert_eq!(e.code, ErrorCode::DuplicateJsonKey);
        assert!(!e.to_string().contains("NOPAT") && !e.to_string().contains("\"meta\""));
        // On a contained resource and on the Bundle too.
        let contained =
            obs(r#""contained":[{"resourceType":"Provenance","meta":{"security":{}}}],"#);
        assert_eq!(
            code(&bundle("", &[&contained])),
            ErrorCode::MalformedSecurity
        );
        assert_eq!(
            code(&bundle(r#","security":{"code":"R"}"#, &[&obs("")])),
            ErrorCode::MalformedSecurity
        );
        // NOPAT in meta.tag is a label.
        let tagged =
            obs(r#""meta":{"tag":[{"system":"http://hl7.org/fhir/v3/ActCode","code":"NOPAT"}]},"#);
        let (ex, o) = outcomes(&bundle("", &[&tagged]));
        assert_eq!(
            o[ex.at("b")],
            Outcome::Withheld(WithheldReason::Confidential)
        );
        // A tag that is not a label changes nothing.
        let other =
            obs(r#""meta":{"tag":[{"system":"https://example.org/workflow","code":"reviewed"}]},"#);
        let (ex, o) = outcomes(&bundle("", &[&other]));
        assert!(matches!(o[ex.at("b")], Outcome::Shared(_)));
    }

    #[test]
    fn a_tag_is_a_security_label_by_its_system_or_by_its_code() {
        let tag = |system: Option<&str>, code: &str| match system {
            Some(s) => serde_json::json!({"system": s, "code": code}),
            None => serde_json::json!({"code": code}),
        };
        // A label system in any spelling, whatever the code.
        for system in [
            "http://hl7.org/fhir/v3/ActCode",
            "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
            "urn:oid:2.16.840.1.113883.5.25",
            "2.16.840.1.113883.4.642.3.47",
        ] {
            assert!(is_security_tag(&tag(Some(system), "X")), "{system}");
        }
        // A restricting code in any system, or in none.
        for code in ["NOPAT", " nopat ", "R", "v"] {
            assert!(
                is_security_tag(&tag(Some("https://example.org/workflow"), code)),
                "{code:?}"
            );
            assert!(is_security_tag(&tag(None, code)), "{code:?}");
        }
        assert!(!is_security_tag(&tag(
            Some("https://example.org/workflow"),
            "reviewed"
        )));
        assert!(!is_security_tag(&tag(None, "N")));
    }

    #[test]
    fn a_duplicate_key_is_refused_with_where_it_is() {
        // The position lets the operator find it; nothing of the value is said.
        for (doc, line) in [
            ("{\"a\":1,\n\"a\":2}", 2),
            ("{\"x\":{\"b\":[1,{\"c\":1,\"c\":\"NOPAT\"}]}}", 1),
        ] {
            let e = check_duplicate_keys(doc.as_bytes()).expect_err(doc);
            assert_eq!(e.code, ErrorCode::DuplicateJsonKey);
            assert_eq!(e.line, Some(line), "{doc}");
            assert!(e.column.is_some_and(|c| c > 0), "{doc}");
            assert!(!e.to_string().contains("NOPAT"));
        }
        for doc in [
            "{\"a\":1,\"b\":{\"a\":2}}",
            "[{\"a\":1},{\"a\":1}]",
            "{}",
            "\"s\"",
            "[1,true,null,1.5,-2]",
        ] {
            assert!(check_duplicate_keys(doc.as_bytes()).is_ok(), "{doc}");
        }
    }
}
