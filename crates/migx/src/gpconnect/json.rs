//! JSON helpers: every access is checked; nothing on input data can panic. The FHIR
//! datatypes every resource reader shares (codings, dates, periods, quantities) are read here.

use crate::codes::{CodeSystem, Coding, CompactString};
use crate::ehr::model::{DateField, Effective};
use serde_json::Value as Json;

const NULL_FLAVOR_SYSTEM: &str = "http://hl7.org/fhir/v3/NullFlavor";

/// JSON nesting the coding enumeration follows (serde_json refuses deeper input anyway).
pub(super) const MAX_JSON_DEPTH: usize = 256;

pub(super) fn str_at<'a>(v: &'a Json, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Json::as_str)
}

pub(super) fn arr<'a>(v: Option<&'a Json>, key: &str) -> impl Iterator<Item = &'a Json> {
    v.and_then(|v| v.get(key))
        .and_then(Json::as_array)
        .map(|a| a.iter())
        .into_iter()
        .flatten()
}

pub(super) fn entries(bundle: &Json) -> impl Iterator<Item = &Json> {
    arr(Some(bundle), "entry").filter_map(|e| e.get("resource"))
}

/// Extensions of `v` whose URL ends with `name` (URLs are versioned and hosted under two
/// domains; the last path segment identifies them).
pub(super) fn extensions<'a>(v: &'a Json, name: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
    arr(Some(v), "extension").filter(move |e| {
        str_at(e, "url").is_some_and(|u| u == name || u.rsplit('/').next() == Some(name))
    })
}

pub(super) fn extension<'a>(v: &'a Json, name: &'a str) -> Option<&'a Json> {
    extensions(v, name).next()
}

/// The value of a resource's identifier in `system`, when exactly one is given.
pub(super) fn identifier<'a>(v: &'a Json, system: &str) -> Option<&'a str> {
    let mut found = arr(Some(v), "identifier")
        .filter(|i| str_at(i, "system").map(str::trim) == Some(system))
        .filter_map(|i| str_at(i, "value"));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

pub(super) fn reference(v: Option<&Json>) -> Option<&str> {
    v.and_then(|r| str_at(r, "reference"))
}

/// Index key of a reference `Type/id` (also absolute URLs ending so), lowercase.
pub(super) fn ref_key(r: &str) -> Option<String> {
    let r = r.split(['#', '?']).next().unwrap_or(r);
    let mut parts = r.rsplit('/');
    let id = parts.next()?;
    let ty = parts.next()?;
    // `Type/id/_history/n`
    let (ty, id) = if ty == "_history" {
        let id2 = parts.next()?;
        let ty2 = parts.next()?;
        (ty2, id2)
    } else {
        (ty, id)
    };
    if ty.is_empty() || id.is_empty() {
        return None;
    }
    Some(format!("{ty}/{id}").to_ascii_lowercase())
}

/// The usable codings of a CodeableConcept, in a list exactly as long as they are (an item
/// holds it to the end of the read: collected, it would have room for four, issue 24.12).
pub(super) fn codings(cc: Option<&Json>) -> Vec<Coding> {
    let mut out: Vec<Coding> = arr(cc, "coding")
        .filter_map(|c| {
            let system = str_at(c, "system")?.trim();
            let code = str_at(c, "code")?.trim();
            if system.is_empty() || code.is_empty() || system == NULL_FLAVOR_SYSTEM {
                return None;
            }
            Some(Coding {
                system: CodeSystem::from_uri(system),
                code: code.into(),
                display: str_at(c, "display").map(Into::into),
            })
        })
        .collect();
    out.shrink_to_fit();
    out
}

/// Every coding anywhere in `v` (its elements, extensions, contained resources): any object
/// with a string `code`, in whatever system it names (none, text or an unknown URI included:
/// those are screened under every listed system). The screen reads these; they are never
/// emitted. The list is exactly as long as it is (an item carries it to the end of the read).
pub(super) fn all_codings(v: &Json) -> Vec<Coding> {
    let mut out = Vec::new();
    each_object(v, &mut |o| {
        if let Some(code) = o.get("code").and_then(Json::as_str) {
            let code = code.trim();
            if !code.is_empty() {
                let system = match o.get("system").and_then(Json::as_str) {
                    Some(s) => CodeSystem::parse(s),
                    None => CodeSystem::Invalid,
                };
                out.push(Coding::new(system, code));
            }
        }
    });
    out.shrink_to_fit();
    out
}

/// Every JSON object in `v` (as its value), `v` itself first, depth first and in document order, to
/// [`MAX_JSON_DEPTH`]: the one walk behind every "anywhere in the resource" reading (the
/// codings the screen reads, the resources nested in an entry).
fn each_object<'a>(v: &'a Json, visit: &mut dyn FnMut(&'a Json)) {
    pub(super) fn walk<'a>(v: &'a Json, visit: &mut dyn FnMut(&'a Json), depth: usize) {
        if depth > MAX_JSON_DEPTH {
            return;
        }
        match v {
            Json::Object(o) => {
                visit(v);
                for x in o.values() {
                    walk(x, visit, depth + 1);
                }
            }
            Json::Array(a) => {
                for x in a {
                    walk(x, visit, depth + 1);
                }
            }
            _ => {}
        }
    }
    walk(v, visit, 0);
}

pub(super) fn has_text(v: Option<&Json>) -> bool {
    match v {
        Some(Json::String(s)) => !s.trim().is_empty(),
        Some(Json::Array(a)) => a.iter().any(|x| has_text(Some(x))),
        Some(Json::Object(o)) => o.get("text").is_some_and(|t| has_text(Some(t))),
        _ => false,
    }
}

pub(super) fn date(v: Option<&Json>) -> DateField {
    match v.and_then(Json::as_str) {
        Some(s) => DateField::from_fhir(s),
        None if v.is_some_and(|v| !v.is_null()) => DateField::Invalid,
        None => DateField::Absent,
    }
}

pub(super) fn period(v: Option<&Json>) -> Effective {
    Effective {
        low: date(v.and_then(|p| p.get("start"))),
        high: date(v.and_then(|p| p.get("end"))),
        center: DateField::Absent,
    }
}

pub(super) fn number(v: Option<&Json>) -> Option<CompactString> {
    match v? {
        Json::Number(n) => Some(compact_str::format_compact!("{n}")),
        Json::String(s) if !s.trim().is_empty() => Some(s.trim().into()),
        _ => None,
    }
}

pub(super) fn snomed(code: &str) -> Coding {
    Coding::new(CodeSystem::Snomed, code)
}

// ---------------------------------------------------------------------------------------

/// Longest dose instruction or unit text kept (as the XML reader); longer is free text.
pub(super) const MAX_KEPT_TEXT: usize = 1024;

/// The unit of a Quantity as text: its UCUM code when the system is UCUM, else `unit`, else
/// `code` (the policy's unit list decides whether it is emitted).
pub(super) fn quantity_unit_text(q: &Json) -> Option<CompactString> {
    let ucum = str_at(q, "system").is_some_and(|s| s.trim() == crate::policy::detail::UCUM_SYSTEM);
    let code = str_at(q, "code").filter(|_| ucum);
    code.or_else(|| str_at(q, "unit"))
        .or_else(|| str_at(q, "code"))
        .map(str::trim)
        .filter(|u| !u.is_empty() && u.len() <= MAX_KEPT_TEXT)
        .map(Into::into)
}

/// The R4 code a STU3 status field means, by a fixed table (anything else, or nothing,
/// says nothing migx can stand behind).
pub(super) fn mapped(v: &Json, key: &str, table: &[(&str, &'static str)]) -> Option<&'static str> {
    let s = str_at(v, key)?.trim();
    table
        .iter()
        .find(|(stu3, _)| stu3.eq_ignore_ascii_case(s))
        .map(|&(_, r4)| r4)
}

/// Every resource in `v`, `v` itself first if it is one: contained resources, and resources
/// nested at any depth (a Bundle inside an entry, a `Parameters` resource). The one
/// enumeration the Consent reading uses, top-level or not.
pub(super) fn resources_in(v: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    each_object(v, &mut |o| {
        if o.get("resourceType").is_some_and(Json::is_string) {
            out.push(o);
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identifier_is_read_only_when_its_system_gives_exactly_one() {
        let v: Json = serde_json::json!({"identifier": [
            {"system": " https://a.example/ids ", "value": "A-1"},
            {"system": "https://b.example/ids", "value": "B-1"},
            {"system": "https://b.example/ids", "value": "B-2"},
            {"system": "https://c.example/ids"}
        ]});
        assert_eq!(identifier(&v, "https://a.example/ids"), Some("A-1"));
        assert_eq!(
            identifier(&v, "https://b.example/ids"),
            None,
            "two values: ambiguous"
        );
        assert_eq!(identifier(&v, "https://c.example/ids"), None, "no value");
        assert_eq!(identifier(&v, "https://d.example/ids"), None);
    }

    #[test]
    fn a_reference_is_read_and_keyed_by_type_and_id_in_every_form() {
        let r: Json = serde_json::json!({"reference": "Observation/ab-1", "display": "x"});
        assert_eq!(reference(Some(&r)), Some("Observation/ab-1"));
        assert_eq!(reference(Some(&serde_json::json!({"display": "x"}))), None);
        assert_eq!(reference(None), None);
        let key = |s: &str| ref_key(s);
        for form in [
            "Observation/AB-1",
            "https://gp.example.org/fhir/Observation/ab-1",
            "Observation/ab-1/_history/2",
            "Observation/ab-1?x=1",
            "Observation/ab-1#frag",
        ] {
            assert_eq!(key(form).as_deref(), Some("observation/ab-1"), "{form}");
        }
        for bad in ["ab-1", "Observation/", "/ab-1", "_history/2", ""] {
            assert_eq!(key(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_codeable_concepts_codings_need_a_system_and_a_code_and_no_null_flavour() {
        let cc: Json = serde_json::json!({"coding": [
            {"system": " http://snomed.info/sct ", "code": " 1000 ", "display": "shown"},
            {"system": "http://snomed.info/sct", "code": "  "},
            {"system": " ", "code": "1001"},
            {"code": "1002"},
            {"system": "http://hl7.org/fhir/v3/NullFlavor", "code": "UNK"},
            {"system": "http://read.info/readv2", "code": "A78.."}
        ]});
        let got: Vec<(CodeSystem, String, Option<String>)> = codings(Some(&cc))
            .into_iter()
            .map(|c| {
                (
                    c.system,
                    c.code.into_string(),
                    c.display.map(|d| d.into_string()),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    CodeSystem::from_uri("http://snomed.info/sct"),
                    "1000".into(),
                    Some("shown".into())
                ),
                (
                    CodeSystem::from_uri("http://read.info/readv2"),
                    "A78..".into(),
                    None
                ),
            ]
        );
        assert!(codings(None).is_empty());
    }

    #[test]
    fn every_coding_anywhere_in_a_resource_is_enumerated() {
        // The sensitive and consent screens read this: a code in an extension, a nested
        // array, a contained resource, or with no system at all must be in it.
        let v: Json = serde_json::json!({
            "resourceType": "Observation",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]},
            "extension": [{"valueCodeableConcept": {"coding": [{"system": "urn:x", "code": " 2 "}]}}],
            "component": [[{"code": {"coding": [{"code": "3"}]}}]],
            "contained": [{"resourceType": "Condition", "code": {"coding": [{"system": "http://snomed.info/sct", "code": "4"}]}}],
            "note": [{"code": "  "}],
            "status": "final"
        });
        let got: Vec<(String, bool)> = all_codings(&v)
            .into_iter()
            .map(|c| (c.code.into_string(), c.system == CodeSystem::Invalid))
            .collect();
        let want: Vec<(String, bool)> = [("1", false), ("2", false), ("3", true), ("4", false)]
            .iter()
            .map(|(c, inv)| (c.to_string(), *inv))
            .collect();
        let mut sorted = got;
        sorted.sort();
        assert_eq!(
            sorted, want,
            "every non-blank code, a systemless one as Invalid"
        );
        assert_eq!(
            all_codings(&serde_json::json!({"code": "9"})).len(),
            1,
            "the value itself"
        );
        assert!(all_codings(&serde_json::json!([["x"], 1, null])).is_empty());
    }

    #[test]
    fn the_walk_reaches_every_object_to_the_depth_limit_and_no_further() {
        // Input nested deeper than MAX_JSON_DEPTH is refused when read (`json-too-deep`); the
        // walk's own bound is a second guard and must not cut a legal depth short.
        let nested = |depth: usize| {
            let mut v = serde_json::json!({"code": "deep"});
            for k in 0..depth {
                v = if k % 2 == 0 {
                    serde_json::json!({ "a": v })
                } else {
                    serde_json::json!([v])
                };
            }
            v
        };
        assert_eq!(all_codings(&nested(MAX_JSON_DEPTH)).len(), 1);
        assert!(all_codings(&nested(MAX_JSON_DEPTH + 1)).is_empty());
    }

    #[test]
    fn text_is_there_only_when_a_string_has_more_than_blanks() {
        assert!(has_text(Some(&serde_json::json!("said"))));
        assert!(!has_text(Some(&serde_json::json!("  "))));
        assert!(has_text(Some(&serde_json::json!(["", " x "]))));
        assert!(!has_text(Some(&serde_json::json!(["", " "]))));
        assert!(has_text(Some(&serde_json::json!({"text": "a note"}))));
        assert!(!has_text(Some(&serde_json::json!({"author": "x"}))));
        assert!(!has_text(Some(&serde_json::json!(5))));
        assert!(!has_text(None));
    }
}
