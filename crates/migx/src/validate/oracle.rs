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
            own.resource()
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

// ---------------------------------------------------------------------------------------
// The FHIR validators as they were compiled before the one graph (`schemas::Fhir`): the
// Bundle shell, the shell's entry and one validator for the types migx writes, each compiled
// separately from the kept registry, other types one by one on first use. Test-only: the
// oracle that the one graph gives exactly the same violations, in the same order.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use jsonschema::{Draft, Registry, Validator};
use serde_json::json;

use super::schemas::{parse_embedded, shell_schema, FHIR_SCHEMA, FHIR_SCHEMA_ID, SHELL_ID};

/// The types the old shared validator covered.
const OLD_COMMON_TYPES: [&str; 14] = [
    "Patient",
    "Organization",
    "Consent",
    "Provenance",
    "List",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "AllergyIntolerance",
    "Observation",
    "DiagnosticReport",
    "Procedure",
    "Flag",
    "AuditEvent",
];

pub(crate) struct OldCompiles {
    registry: Registry<'static>,
    by_type: RwLock<HashMap<String, Arc<Validator>>>,
    shell: Option<Validator>,
    entry_shell: Option<Validator>,
    common: Option<Validator>,
}

impl OldCompiles {
    fn load() -> OldCompiles {
        let fhir = parse_embedded(FHIR_SCHEMA);
        let shell = shell_schema(&fhir);
        let registry = Registry::new()
            .draft(Draft::Draft6)
            .add(FHIR_SCHEMA_ID, fhir)
            .and_then(|b| b.add(SHELL_ID, shell))
            .and_then(|b| b.prepare())
            .expect("the FHIR registry");
        let branches: Vec<Value> = OLD_COMMON_TYPES
            .iter()
            .map(|t| {
                json!({
                    "if": {
                        "properties": { "resourceType": { "const": t } },
                        "required": ["resourceType"]
                    },
                    "then": { "$ref": format!("{FHIR_SCHEMA_ID}#/definitions/{t}") }
                })
            })
            .collect();
        let common = jsonschema::options()
            .with_draft(Draft::Draft7)
            .with_registry(&registry)
            .build(&json!({ "allOf": branches }))
            .ok();
        let mut old = OldCompiles {
            registry,
            by_type: RwLock::new(HashMap::new()),
            shell: None,
            entry_shell: None,
            common,
        };
        old.shell = old.build(&format!("{SHELL_ID}#/definitions/Bundle"));
        old.entry_shell = old.build(&format!("{SHELL_ID}#/definitions/Bundle_Entry"));
        old
    }

    /// `#/definitions/<target>` compiled alone, from the registry.
    pub(crate) fn build(&self, target: &str) -> Option<Validator> {
        jsonschema::options()
            .with_draft(Draft::Draft6)
            .with_registry(&self.registry)
            .build(&json!({ "$ref": target }))
            .ok()
    }

    pub(crate) fn check_resource(
        &self,
        resource: &Value,
        prefix: &str,
        out: &mut Vec<Violation>,
    ) -> bool {
        let Some(rt) = resource.get("resourceType").and_then(Value::as_str) else {
            return false;
        };
        if OLD_COMMON_TYPES.contains(&rt) {
            let Some(v) = self.common.as_ref() else {
                return false;
            };
            collect(v, resource, prefix, out);
            return true;
        }
        let cached = self.by_type.read().ok().and_then(|m| m.get(rt).cloned());
        let v = match cached {
            Some(v) => v,
            None => {
                let Some(v) = self.build(&format!("{FHIR_SCHEMA_ID}#/definitions/{rt}")) else {
                    return false;
                };
                let v = Arc::new(v);
                if let Ok(mut m) = self.by_type.write() {
                    m.insert(rt.to_string(), Arc::clone(&v));
                }
                v
            }
        };
        collect(&v, resource, prefix, out);
        true
    }

    pub(crate) fn check_shell(
        &self,
        bundle: &Value,
        prefix: &str,
        out: &mut Vec<Violation>,
    ) -> bool {
        let Some(v) = self.shell.as_ref() else {
            return false;
        };
        collect(v, bundle, prefix, out);
        true
    }

    pub(crate) fn check_entry(
        &self,
        entry: &Value,
        prefix: &str,
        out: &mut Vec<Violation>,
    ) -> bool {
        let Some(v) = self.entry_shell.as_ref() else {
            return false;
        };
        collect(v, entry, prefix, out);
        true
    }
}

thread_local! {
    static OLD: Cell<bool> = const { Cell::new(false) };
}

/// The old compiles, while [`with_old_compiles`] runs on this thread.
pub(crate) fn old_compiles() -> Option<&'static OldCompiles> {
    static COMPILES: OnceLock<OldCompiles> = OnceLock::new();
    OLD.with(Cell::get)
        .then(|| COMPILES.get_or_init(OldCompiles::load))
}

/// `f` run with the FHIR checks made by the old compiles.
pub(crate) fn with_old_compiles<T>(f: impl FnOnce() -> T) -> T {
    OLD.with(|o| o.set(true));
    let out = f();
    OLD.with(|o| o.set(false));
    out
}

#[cfg(test)]
mod tests {
    use super::super::{validate_value, BundleCheck, Profile};
    use super::*;

    fn brief(v: &[Violation]) -> String {
        v.iter()
            .map(|v| format!("{} [{}] {} ({:?})", v.pointer, v.rule, v.message, v.value))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Broken resources of type `t`: each breaks a rule every resource definition has.
    fn broken(t: &str) -> Vec<Value> {
        vec![
            json!({ "resourceType": t, "id": "a" }),
            json!({ "resourceType": t, "id": "not valid!", "status": 7, "meta": { "profile": [1] } }),
            json!({ "resourceType": t, "subject": { "reference": 3 }, "bogus": true }),
            json!({ "resourceType": t, "text": { "status": "x" }, "extension": [{ "url": 1 }] }),
            json!({ "resourceType": t, "contained": [{ "resourceType": "Patient", "gender": 1 }, { "resourceType": "Nope" }, 7] }),
            json!({ "resourceType": t, "implicitRules": "", "language": [], "modifierExtension": {} }),
        ]
    }

    /// The one graph reports, for a resource of each type, exactly what that type's own
    /// definition compiled alone reports: pointers, rules, messages, values, order. Every
    /// type migx writes, and every fifth of the others (each separate compile costs the
    /// whole R4 graph: all of them would take minutes in a debug build).
    #[test]
    fn the_graph_checks_each_type_as_its_own_definition() {
        let fhir = super::super::schemas::fhir().expect("the FHIR graph");
        let old = OldCompiles::load();
        let types: Vec<String> = parse_embedded(FHIR_SCHEMA)["discriminator"]["mapping"]
            .as_object()
            .expect("mapping")
            .keys()
            .cloned()
            .collect();
        let written = super::super::schemas::COMMON_TYPES;
        let mut checked = 0;
        for (k, t) in types.iter().enumerate() {
            if !(written.contains(&t.as_str()) || k % 5 == 0 || t == "Bundle") {
                continue;
            }
            let alone = old
                .build(&format!("{FHIR_SCHEMA_ID}#/definitions/{t}"))
                .expect("compiles");
            for case in broken(t) {
                let mut a = Vec::new();
                collect(&alone, &case, "/x", &mut a);
                let mut b = Vec::new();
                assert!(fhir.check_resource(&case, "/x", &mut b), "{t}");
                assert_eq!(
                    a,
                    b,
                    "{t}: {case}\nalone:\n{}\ngraph:\n{}",
                    brief(&a),
                    brief(&b)
                );
                checked += usize::from(!b.is_empty());
            }
        }
        assert!(checked >= 5 * 40, "violations found in {checked} cases");
    }

    /// What the graph's dispatch alone cannot tell apart goes through a wrapper, with the
    /// same violations as the separate compiles: a frame that is not a Bundle, entries with
    /// a `resourceType` property, Bundles nested past the depth where they are checked whole.
    #[test]
    fn wrapped_instances_check_as_compiled_apart() {
        let both = |f: &dyn Fn() -> Vec<Violation>| {
            let new = f();
            let old = with_old_compiles(f);
            assert_eq!(
                new,
                old,
                "\none graph:\n{}\ncompiled apart:\n{}",
                brief(&new),
                brief(&old)
            );
            new.len()
        };
        let mut found = 0;
        for frame in [
            json!({ "resourceType": "Patient", "type": "x", "entry": [] }),
            json!({ "type": "collection", "entry": [] }),
            json!(7),
            json!({ "resourceType": 7, "zz": 1 }),
        ] {
            found += both(&|| {
                let mut check = BundleCheck::new(&frame, Profile::Fhir);
                check.entry(&json!({ "resourceType": "Patient", "fullUrl": 1 }));
                check.finish()
            });
        }
        for entry in [
            json!({ "resourceType": "Patient", "fullUrl": 1, "resource": { "resourceType": "Patient" } }),
            json!({ "resourceType": "Bundle", "resource": 1 }),
            json!({ "resourceType": "urn:migx:wrap:bundle-entry", "request": 3 }),
            json!({ "resourceType": 7 }),
            json!({ "fullUrl": 7, "response": { "outcome": { "resourceType": "Nope" } } }),
            json!({ "response": { "outcome": { "resourceType": "OperationOutcome", "issue": 1 } } }),
            json!("entry"),
            json!(null),
        ] {
            let bundle =
                json!({ "resourceType": "Bundle", "type": "collection", "entry": [entry] });
            for profile in [Profile::Fhir, Profile::Migx] {
                found += both(&|| validate_value(&bundle, profile));
            }
        }
        // A Bundle in a Bundle in ... : past the depth, the innermost is checked whole.
        let mut nested = json!({ "resourceType": "Bundle", "type": "collection",
            "entry": [{ "resource": { "resourceType": "Patient", "gender": 1 } }] });
        for _ in 0..10 {
            nested = json!({ "resourceType": "Bundle", "type": "nope", "entry": [{ "resource": nested }] });
            found += both(&|| validate_value(&nested, Profile::Fhir));
        }
        assert!(found > 40, "{found}");
    }
}
