//! The whole-tree validation of a Bundle as it was before [`super::BundleCheck`]: the
//! migx Bundle schema compiled as written, run on the whole document, and the cross-entry
//! links walked over the whole document. Test-only: the oracle that the per-entry
//! mechanism gives exactly the same violations, in the same order.

use std::collections::HashSet;

use serde_json::Value;

use super::{collect, display_value, fhir_resource, internal, locate, schemas, Profile, Violation};

/// `validate_value` as it was: the whole Bundle at once.
pub(crate) fn whole_tree(value: &Value, profile: Profile) -> Vec<Violation> {
    let mut out = Vec::new();
    fhir_resource(value, "", 0, &mut out);
    if profile == Profile::Migx {
        let own = schemas::own();
        let is_bundle = value.get("resourceType").and_then(Value::as_str) == Some("Bundle");
        let validator = if is_bundle {
            own.bundle.as_ref()
        } else {
            own.resource.as_ref()
        };
        match validator {
            Some(v) => {
                let mut extra = Vec::new();
                collect(v, value, "", &mut extra);
                if is_bundle {
                    check(value, &mut extra);
                }
                for e in extra {
                    if !out.iter().any(|o| {
                        o.pointer == e.pointer && o.rule == e.rule && o.message == e.message
                    }) {
                        out.push(e);
                    }
                }
            }
            None => out.push(internal("", "migx profile")),
        }
    }
    for v in &mut out {
        locate(value, v);
    }
    out
}

fn violation(pointer: String, rule: &str, message: String, value: Option<String>) -> Violation {
    Violation {
        entry: None,
        resource_type: None,
        resource_id: None,
        pointer,
        rule: rule.into(),
        message,
        value,
    }
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn pointer_of(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            Seg::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Seg::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// Every `reference` string starting `urn:uuid:` that is not in `known`, with its pointer.
/// Pointers are built only for the (rare) dangling references.
fn dangling<'a>(
    value: &'a Value,
    known: &HashSet<&str>,
    path: &mut Vec<Seg<'a>>,
    out: &mut Vec<(String, &'a str)>,
) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                path.push(Seg::Key(key));
                match (key.as_str(), v) {
                    ("reference", Value::String(r))
                        if r.starts_with("urn:uuid:") && !known.contains(r.as_str()) =>
                    {
                        out.push((pointer_of(path), r.as_str()));
                    }
                    (_, Value::Object(_) | Value::Array(_)) => dangling(v, known, path, out),
                    _ => {}
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                if matches!(v, Value::Object(_) | Value::Array(_)) {
                    path.push(Seg::Index(i));
                    dangling(v, known, path, out);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

/// Cross-entry checks of a migx Bundle (`bundle` is known to be a Bundle).
fn check(bundle: &Value, out: &mut Vec<Violation>) {
    let Some(entries) = bundle.get("entry").and_then(Value::as_array) else {
        return;
    };
    let full_urls: Vec<Option<&str>> = entries
        .iter()
        .map(|e| e.get("fullUrl").and_then(Value::as_str))
        .collect();
    let known: HashSet<&str> = full_urls.iter().flatten().copied().collect();
    // Each fullUrl names one entry: a second entry with the same one is ambiguous.
    let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, u) in full_urls.iter().enumerate() {
        let Some(u) = u else { continue };
        if let Some(&j) = first.get(u) {
            out.push(violation(
                format!("/entry/{i}/fullUrl"),
                "fullUrl-unique",
                format!("fullUrl is not unique: entry {j} has the same one"),
                display_value(&Value::String((*u).to_string())),
            ));
        } else {
            first.insert(u, i);
        }
    }
    for (i, entry) in entries.iter().enumerate() {
        let resource = entry.get("resource");
        let id = resource.and_then(|r| r.get("id")).and_then(Value::as_str);
        if let (Some(full_url), Some(id)) = (full_urls[i], id) {
            if full_url.strip_prefix("urn:uuid:") != Some(id) {
                out.push(violation(
                    format!("/entry/{i}/fullUrl"),
                    "fullUrl",
                    "fullUrl must be urn:uuid:<the resource's id>".into(),
                    display_value(&Value::String(full_url.to_string())),
                ));
            }
        }
        let Some(resource) = resource else { continue };
        let mut refs = Vec::new();
        let mut path = vec![Seg::Key("entry"), Seg::Index(i), Seg::Key("resource")];
        dangling(resource, &known, &mut path, &mut refs);
        for (pointer, r) in &refs {
            out.push(violation(
                pointer.clone(),
                "reference",
                "reference does not resolve to an entry of this Bundle".into(),
                display_value(&Value::String((*r).to_string())),
            ));
        }
        if resource.get("resourceType").and_then(Value::as_str) == Some("Provenance") {
            let targets: HashSet<&str> = resource
                .get("target")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(|x| x.get("reference").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            let missing = full_urls
                .iter()
                .enumerate()
                .filter(|(j, u)| *j != i && u.is_some_and(|u| !targets.contains(u)))
                .count();
            if missing > 0 {
                out.push(violation(
                    format!("/entry/{i}/resource/target"),
                    "provenance-target",
                    format!("Provenance.target must list every other entry ({missing} missing)"),
                    None,
                ));
            }
        }
    }
}
