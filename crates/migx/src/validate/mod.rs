//! Schema validation of migx outputs (and any FHIR R4 JSON).
//!
//! Two profiles: [`Profile::Fhir`] checks every resource against its own type's definition in
//! the official FHIR R4 JSON Schema (vendored unmodified in `schemas/fhir.schema.json`);
//! [`Profile::Migx`] additionally checks migx's output profile
//! (`schemas/migx-bundle.schema.json`). A Bundle is checked entry by entry (each resource
//! against `#/definitions/<Type>`) plus the Bundle shell itself, so errors point at the exact
//! element instead of the root `oneOf`.
//!
//! Every schema is compiled once per process and shared across threads (see `schemas`).
//! Messages never echo instance content except the offending value of a violation, truncated
//! to [`MAX_VALUE_CHARS`] characters.

mod bundle;
mod files;
mod links;
#[cfg(test)]
mod oracle;
pub mod profile;
mod report;
pub(crate) mod schemas;
mod tape;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use bundle::BundleCheck;
pub use files::{validate_paths, FileNote, FileReport, Finding, ValidateOptions, ValidateReport};
pub use report::{render, render_json, render_junit, render_text, ReportFormat};
pub use schemas::{
    AUDIT_SCHEMA, FHIR_SCHEMA, FHIR_SCHEMA_ID, FHIR_SCHEMA_SHA256, MIGX_BUNDLE_SCHEMA,
    SUMMARY_SCHEMA, VALIDATE_REPORT_SCHEMA,
};

/// Offending values are truncated to this many characters (plus an ellipsis).
pub const MAX_VALUE_CHARS: usize = 80;
/// Messages are truncated to this many characters (enum lists can be long).
const MAX_MESSAGE_CHARS: usize = 300;
/// Nested Bundles (a Bundle inside an entry) are followed to this depth.
const MAX_BUNDLE_DEPTH: usize = 8;

/// Which rules to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// The official FHIR R4 JSON Schema only.
    #[default]
    Fhir,
    /// FHIR R4 plus migx's output profile (schemas/migx-bundle.schema.json).
    Migx,
}

impl Profile {
    /// The profile's name as used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Fhir => "fhir",
            Profile::Migx => "migx",
        }
    }
}

/// One schema violation (or a file that could not be read or parsed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// Index in the Bundle's `entry` array, when the violation is inside an entry.
    pub entry: Option<usize>,
    /// `resourceType` of the resource the violation is in (the entry's, else the root's).
    pub resource_type: Option<String>,
    /// `id` of that resource.
    pub resource_id: Option<String>,
    /// JSON Pointer of the offending instance location, relative to the document root
    /// (for NDJSON: relative to the line's resource).
    pub pointer: String,
    /// The schema keyword that failed (`enum`, `required`, `additionalProperties`, ...), or
    /// `resourceType`, `json`, `io` for migx's own checks.
    pub rule: String,
    /// Human-readable message; never contains instance content.
    pub message: String,
    /// The offending value as compact JSON, truncated to [`MAX_VALUE_CHARS`] characters.
    /// Absent for `required`/`additionalProperties` and for whole objects/arrays.
    pub value: Option<String>,
}

/// Truncate `text` to at most `max` characters, appending `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((idx, _)) => format!("{}…", &text[..idx]),
        None => text.to_string(),
    }
}

fn unescape_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn display_value(value: &Value) -> Option<String> {
    match value {
        // Whole objects would echo a resource's content; report only their location.
        Value::Object(_) => None,
        Value::Array(items) => Some(format!("[array of {}]", items.len())),
        other => Some(mask_nhs_numbers(&truncate(
            &other.to_string(),
            MAX_VALUE_CHARS,
        ))),
    }
}

/// Anything shaped like an NHS number (a run of exactly ten digits) is masked to its last
/// three digits: an offending value may be a patient's identifier.
fn mask_nhs_numbers(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let run = &s[start..i];
            if run.len() == 10 {
                out.push_str(&crate::nhs::mask_nhs_number(run));
            } else {
                out.push_str(run);
            }
        } else {
            let ch = s[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The `description` that migx's own schemas give the failing keyword's schema object (or,
/// for `contains`, the item schema), to say what was expected.
/// Also says whether the holder counts matches (`minContains`/`maxContains`).
fn own_description(error: &jsonschema::ValidationError<'_>) -> Option<(String, bool)> {
    let loc = error.absolute_keyword_location()?;
    if loc.scheme().as_str() != "urn" {
        return None;
    }
    let id = format!("urn:{}", loc.path().as_str());
    let fragment = loc.fragment()?.as_str();
    let holder_ptr = &fragment[..fragment.rfind('/')?];
    let own = schemas::own();
    let described = |node: &Value| {
        node.get("description")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let holder = own.node(&id, holder_ptr)?;
    let counted = holder.get("maxContains").is_some() || holder.get("minContains").is_some();
    if let Some(d) = described(holder) {
        return Some((d, counted));
    }
    let item = holder.get("contains")?;
    described(item)
        .or_else(|| {
            let target = item.get("$ref")?.as_str()?.strip_prefix('#')?;
            described(own.node(&id, target)?)
        })
        .map(|d| (d, counted))
}

fn message_for(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    let kind = error.kind();
    if let K::Pattern { pattern } = kind {
        if let Some(name) = schemas::fhir().and_then(|f| f.primitive_for_pattern(pattern)) {
            return format!("value is not a valid FHIR {name}");
        }
    }
    let described = match kind {
        K::Pattern { .. } | K::Contains | K::Not { .. } | K::AnyOf { .. } => own_description(error),
        _ => None,
    };
    // Property names come from the instance (a key may be a name or an NHS number): count
    // them, never quote them.
    match kind {
        K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
            return format!(
                "{} propert{} not allowed here (names not shown)",
                unexpected.len(),
                if unexpected.len() == 1 { "y" } else { "ies" }
            );
        }
        K::PropertyNames { .. } => return "a property name is not allowed here".to_string(),
        _ => {}
    }
    let message = match (kind, described) {
        (K::Pattern { .. }, Some((d, _))) => format!("value does not have the expected form: {d}"),
        (K::Not { .. }, Some((d, _))) => format!("not allowed: {d}"),
        (K::Contains, Some((d, true))) => format!("expected {d}"),
        (K::Contains, Some((d, false))) => format!("no item matching: {d}"),
        (K::AnyOf { .. }, Some((d, _))) => format!("expected {d}"),
        _ => error.masked().to_string(),
    };
    truncate(&message, MAX_MESSAGE_CHARS)
}

fn violation_from(error: &jsonschema::ValidationError<'_>, prefix: &str) -> Violation {
    let kind = error.kind();
    let rule = kind.keyword().to_string();
    let message = message_for(error);
    let value = match kind {
        jsonschema::error::ValidationErrorKind::Required { .. }
        | jsonschema::error::ValidationErrorKind::AdditionalProperties { .. } => None,
        _ => display_value(error.instance()),
    };
    Violation {
        entry: None,
        resource_type: None,
        resource_id: None,
        pointer: format!("{prefix}{}", error.instance_path().as_str()),
        rule,
        message,
        value,
    }
}

fn collect(
    validator: &jsonschema::Validator,
    instance: &Value,
    prefix: &str,
    out: &mut Vec<Violation>,
) {
    collect_under(validator, instance, "", prefix, out);
}

/// [`collect`] of `instance` whose part at `within` (a JSON pointer) is what is checked: each
/// violation's pointer has `within` replaced by `prefix`.
fn collect_under(
    validator: &jsonschema::Validator,
    instance: &Value,
    within: &str,
    prefix: &str,
    out: &mut Vec<Violation>,
) {
    if validator.is_valid(instance) {
        return;
    }
    out.extend(validator.iter_errors(instance).map(|e| {
        let mut v = violation_from(&e, prefix);
        if !within.is_empty() {
            let path = e.instance_path().as_str();
            v.pointer = format!("{prefix}{}", path.strip_prefix(within).unwrap_or(path));
        }
        v
    }));
}

fn internal(pointer: &str, what: &str) -> Violation {
    Violation {
        entry: None,
        resource_type: None,
        resource_id: None,
        pointer: pointer.to_string(),
        rule: "internal".into(),
        message: format!("internal error: the embedded {what} schema could not be compiled"),
        value: None,
    }
}

/// Validate one resource (at `pointer`) against the FHIR schema, descending into Bundles.
fn fhir_resource(resource: &Value, pointer: &str, depth: usize, out: &mut Vec<Violation>) {
    let Some(fhir) = schemas::fhir() else {
        out.push(internal(pointer, "FHIR"));
        return;
    };
    let Some(obj) = resource.as_object() else {
        out.push(Violation {
            entry: None,
            resource_type: None,
            resource_id: None,
            pointer: pointer.to_string(),
            rule: "type".into(),
            message: "a resource must be a JSON object".into(),
            value: display_value(resource),
        });
        return;
    };
    let rt = match obj.get("resourceType") {
        Some(Value::String(rt)) if fhir.is_resource_type(rt) => rt.as_str(),
        other => {
            let message = match other {
                None => "resourceType is missing".to_string(),
                Some(Value::String(_)) => "unknown resourceType (not a FHIR R4 resource)".into(),
                Some(_) => "resourceType must be a string".into(),
            };
            out.push(Violation {
                entry: None,
                resource_type: None,
                resource_id: None,
                pointer: format!("{pointer}/resourceType"),
                rule: "resourceType".into(),
                message,
                value: other.and_then(display_value),
            });
            return;
        }
    };
    if rt == "Bundle" && depth < MAX_BUNDLE_DEPTH {
        if !fhir.check_shell(resource, pointer, out) {
            out.push(internal(pointer, "FHIR Bundle"));
        }
        if let Some(Value::Array(entries)) = obj.get("entry") {
            for (i, entry) in entries.iter().enumerate() {
                if let Some(res) = entry.get("resource") {
                    fhir_resource(
                        res,
                        &format!("{pointer}/entry/{i}/resource"),
                        depth + 1,
                        out,
                    );
                }
            }
        }
        return;
    }
    if !fhir.check_resource(resource, pointer, out) {
        out.push(internal(pointer, "FHIR"));
    }
}

/// Fill `entry`, `resource_type`, `resource_id` from the pointer and the document: the entry
/// is the top-level `/entry/<n>` of a Bundle; the resource is the innermost object on the
/// path carrying a string `resourceType`.
fn locate(root: &Value, v: &mut Violation) {
    let is_bundle = root.get("resourceType").and_then(Value::as_str) == Some("Bundle");
    let mut tokens = v.pointer.split('/').skip(1);
    v.entry = match (is_bundle, tokens.next(), tokens.next()) {
        (true, Some("entry"), Some(idx)) => idx.parse().ok(),
        _ => None,
    };
    let mut target = root;
    let mut owner = root;
    for token in v.pointer.split('/').skip(1) {
        let token = unescape_token(token);
        let next = match target {
            Value::Object(map) => map.get(&token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        let Some(next) = next else { break };
        target = next;
        if target.get("resourceType").is_some_and(Value::is_string) {
            owner = target;
        }
    }
    let field = |name: &str| {
        owner
            .get(name)
            .and_then(Value::as_str)
            .map(|s| truncate(s, MAX_VALUE_CHARS))
    };
    v.resource_type = field("resourceType");
    v.resource_id = field("id");
}

/// The FHIRPath location of a JSON Pointer in a document: the root's `resourceType`, then
/// each property, with `[i]` for array items (`Bundle.entry[3].resource.code.coding[0]`).
pub fn fhirpath_location(root: &Value, pointer: &str) -> String {
    let mut out = root
        .get("resourceType")
        .and_then(Value::as_str)
        .map(|s| truncate(s, MAX_VALUE_CHARS))
        .unwrap_or_default();
    let mut cur = Some(root);
    for token in pointer.split('/').skip(1) {
        let token = unescape_token(token);
        match cur {
            Some(Value::Array(items)) => {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("[{token}]"));
                cur = token.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            other => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&truncate(&token, MAX_VALUE_CHARS));
                cur = other.and_then(|o| o.get(&token));
            }
        }
    }
    out
}

/// Compile the schemas every bundle is checked against (the FHIR graphs, then migx's
/// profile) now, on a thread of their own, for a caller with a core to spare before its
/// first bundle (the command line while it loads the policy and walks the inputs). Each is
/// compiled once per process by the first thread that asks; any other that asks meanwhile
/// waits for it. If the thread cannot be started, they are compiled when first needed.
pub fn compile_schemas_in_background() {
    let _ = std::thread::Builder::new()
        .name("migx-schemas".into())
        .spawn(|| {
            schemas::fhir();
            schemas::own();
        });
}

/// Validate a resource or a Bundle held in memory.
///
/// For a Bundle, each entry's resource is checked against its own type's definition and the
/// Bundle shell against `Bundle` (with `Profile::Migx`, also against migx's output profile),
/// entry by entry through [`BundleCheck`], the mechanism that checks a bundle as it is
/// written. Returns violations in document order of the checks (shell first, then entries);
/// empty when valid. Schemas are compiled on first use only; later calls just validate.
pub fn validate_value(value: &Value, profile: Profile) -> Vec<Violation> {
    let mut out = match value.as_object() {
        Some(bundle) if bundle.get("resourceType").and_then(Value::as_str) == Some("Bundle") => {
            // One mechanism for a Bundle, whole or streamed: its frame, then entry by entry.
            let frame: serde_json::Map<String, Value> = bundle
                .iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("entry", Value::Array(_)) => (k.clone(), Value::Array(Vec::new())),
                    _ => (k.clone(), v.clone()),
                })
                .collect();
            let mut check = BundleCheck::new(&Value::Object(frame), profile);
            if let Some(Value::Array(entries)) = bundle.get("entry") {
                for entry in entries {
                    check.entry(entry);
                }
            }
            check.finish()
        }
        _ => {
            let mut out = Vec::new();
            fhir_resource(value, "", 0, &mut out);
            if profile == Profile::Migx {
                match schemas::own().resource() {
                    Some(v) => {
                        let mut extra = Vec::new();
                        collect(v, value, "", &mut extra);
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
            out
        }
    };
    for v in &mut out {
        locate(value, v);
    }
    out
}

fn validate_with(
    validator: Option<&jsonschema::Validator>,
    value: &Value,
    what: &str,
) -> Vec<Violation> {
    let mut out = Vec::new();
    match validator {
        Some(v) => collect(v, value, "", &mut out),
        None => out.push(internal("", what)),
    }
    out
}

/// Validate one `audit.ndjson` line (already parsed) against `schemas/audit.schema.json`.
pub fn validate_audit_line(value: &Value) -> Vec<Violation> {
    validate_with(schemas::own().audit(), value, "audit")
}

/// Validate `summary.json` against `schemas/summary.schema.json`.
pub fn validate_summary(value: &Value) -> Vec<Violation> {
    validate_with(schemas::own().summary(), value, "summary")
}

/// Validate a `migx validate --report json` document against
/// `schemas/validate-report.schema.json`.
pub fn validate_report_json(value: &Value) -> Vec<Violation> {
    validate_with(schemas::own().report(), value, "validate-report")
}

#[cfg(test)]
mod mask_tests {
    #[test]
    fn masks_ten_digit_runs_only() {
        assert_eq!(super::mask_nhs_numbers("\"9990000018\""), "\"*******018\"");
        assert_eq!(
            super::mask_nhs_numbers("12345 2026-03-14"),
            "12345 2026-03-14"
        );
        assert_eq!(super::mask_nhs_numbers("x99900000181"), "x99900000181");
    }
}
