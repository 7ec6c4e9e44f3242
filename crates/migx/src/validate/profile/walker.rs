//! Walks an instance against element trees: cardinality, choice types, fixed and pattern
//! values, bindings, reference targets, extensions (definitions and contexts), slicing and
//! invariants. Findings carry JSON Pointers; reports turn them into FHIRPath locations.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::bindings::{self, Membership};
use super::package::Definitions;
use super::snapshot::{type_suffix, Constraint, Elem};
use super::{fhirpath, slicing, Note, NoteKind, Outcome, ProfileOptions};
use crate::validate::Violation;

/// Resources nested deeper than this (Bundle in Bundle, contained) are not followed.
const MAX_RESOURCE_DEPTH: usize = 8;
/// Elements nested deeper than this are not followed (a hostile document).
const MAX_ELEMENT_DEPTH: usize = 64;

/// One repetition of an element in the instance.
#[derive(Debug, Clone)]
pub struct Item<'v> {
    /// The value.
    pub value: &'v Value,
    /// Its JSON Pointer.
    pub pointer: String,
    /// Its type code, when known (a choice's suffix, the element's only type).
    pub type_code: Option<String>,
}

/// Where in the definitions an element is: its path from the resource root
/// (`Patient.identifier`) and from the nearest datatype (`Identifier`).
#[derive(Debug, Clone)]
pub struct Place {
    /// Path from the resource (`Patient.identifier.period`).
    pub path: String,
    /// Path from the nearest complex datatype (`Identifier.period`).
    pub type_path: String,
    /// The element's own type, when known (`string` for `Coding.display`).
    pub type_name: Option<String>,
}

impl Place {
    /// The place of a resource or datatype root.
    pub fn root(type_name: &str) -> Place {
        Place {
            path: type_name.to_string(),
            type_path: type_name.to_string(),
            type_name: Some(type_name.to_string()),
        }
    }
    fn child(&self, name: &str) -> Place {
        Place {
            path: format!("{}.{name}", self.path),
            type_path: format!("{}.{name}", self.type_path),
            type_name: None,
        }
    }
}

/// Does an instance value equal a fixed value (numbers by value)?
pub fn fixed_equal(inst: &Value, fixed: &Value) -> bool {
    match (inst, fixed) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && b.iter()
                    .all(|(k, bv)| a.get(k).is_some_and(|av| fixed_equal(av, bv)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| fixed_equal(x, y))
        }
        (a, b) => a == b,
    }
}

/// Does an instance value match a pattern (every property of the pattern present with a
/// matching value; every pattern array item matched by some instance item)?
pub fn pattern_match(inst: &Value, pat: &Value) -> bool {
    match (inst, pat) {
        (Value::Object(a), Value::Object(p)) => p
            .iter()
            .all(|(k, pv)| a.get(k).is_some_and(|av| pattern_match(av, pv))),
        (Value::Array(a), Value::Array(p)) => {
            p.iter().all(|pv| a.iter().any(|av| pattern_match(av, pv)))
        }
        (Value::Array(a), pv) => a.iter().any(|av| pattern_match(av, pv)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// A value as shown in a message: compact JSON, truncated, NHS-number-shaped runs masked.
pub(crate) fn shown(v: &Value) -> String {
    crate::validate::mask_nhs_numbers(&crate::validate::truncate(
        &v.to_string(),
        crate::validate::MAX_VALUE_CHARS,
    ))
}

fn is_primitive(code: &str) -> bool {
    code.starts_with(|c: char| c.is_ascii_lowercase())
        || code.starts_with("http://hl7.org/fhirpath/")
}

/// Walks one document.
pub struct Walker<'a> {
    pub(crate) defs: &'a Definitions,
    opts: &'a ProfileOptions,
    violations: Vec<Violation>,
    notes: Vec<Note>,
    /// Bundle `fullUrl` -> resourceType, for reference targets.
    full_urls: HashMap<String, String>,
    /// Resources being walked, innermost last (for `#id` references and `%resource`).
    pub(crate) resources: Vec<&'a Value>,
    /// The document root (`%rootResource`).
    pub(crate) root_doc: &'a Value,
    depth: usize,
}

impl<'a> Walker<'a> {
    /// A walker over `doc`.
    pub fn new(defs: &'a Definitions, doc: &'a Value, opts: &'a ProfileOptions) -> Self {
        let mut full_urls = HashMap::new();
        if doc.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
            for e in doc
                .get("entry")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(u), Some(rt)) = (
                    e.get("fullUrl").and_then(Value::as_str),
                    e.pointer("/resource/resourceType").and_then(Value::as_str),
                ) {
                    full_urls.insert(u.to_string(), rt.to_string());
                }
            }
        }
        Walker {
            defs,
            opts,
            violations: Vec::new(),
            notes: Vec::new(),
            full_urls,
            resources: Vec::new(),
            root_doc: doc,
            depth: 0,
        }
    }

    /// Walk the whole document.
    pub fn document(&mut self, doc: &'a Value) {
        self.resource(doc, "");
    }

    /// The findings, each once, in document order.
    pub fn finish(mut self) -> Outcome {
        let mut seen = HashSet::new();
        self.violations
            .retain(|v| seen.insert((v.pointer.clone(), v.rule.clone(), v.message.clone())));
        let mut seen = HashSet::new();
        self.notes.retain(|n| seen.insert(n.clone()));
        Outcome {
            violations: self.violations,
            notes: self.notes,
        }
    }

    pub(crate) fn error(&mut self, pointer: &str, rule: &str, message: String) {
        self.violations
            .push(super::violation(pointer, rule, message));
    }

    pub(crate) fn error_value(&mut self, pointer: &str, rule: &str, message: String, v: String) {
        let mut viol = super::violation(pointer, rule, message);
        viol.value = Some(v);
        self.violations.push(viol);
    }

    pub(crate) fn note(&mut self, kind: NoteKind, pointer: &str, rule: &str, message: String) {
        self.notes.push(Note {
            kind,
            pointer: pointer.to_string(),
            rule: rule.to_string(),
            message: crate::validate::truncate(&message, crate::validate::MAX_VALUE_CHARS * 4),
        });
    }

    /// Errors found so far (slicing by profile counts them).
    pub(crate) fn error_count(&self) -> usize {
        self.violations.len()
    }

    /// Validate a resource: against its core type, then its profiles.
    pub(crate) fn resource(&mut self, res: &'a Value, pointer: &str) {
        let Some(rt) = res.get("resourceType").and_then(Value::as_str) else {
            return;
        };
        if !self.defs.is_resource_type(rt) || self.depth >= MAX_RESOURCE_DEPTH {
            return;
        }
        self.depth += 1;
        self.resources.push(res);
        let place = Place::root(rt);
        let core = self.defs.core_tree(rt);
        match core.as_ref() {
            Ok(tree) => self.item(res, &tree.root, &tree.root, pointer, Some(rt), &place, 0),
            Err(e) => self.note(NoteKind::NotEvaluated, pointer, "profile", e.clone()),
        }
        let claimed: Vec<String> = if self.opts.profile_urls.is_empty() {
            res.pointer("/meta/profile")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        } else {
            self.opts.profile_urls.clone()
        };
        for url in claimed {
            let tree = self.defs.tree(&url);
            match tree.as_ref() {
                Err(e) => self.note(
                    NoteKind::NotEvaluated,
                    pointer,
                    "profile",
                    format!("profile not evaluated: {e}"),
                ),
                Ok(t) if t.type_name != rt => {
                    if self.opts.profile_urls.is_empty() {
                        self.error(
                            pointer,
                            "profile",
                            format!(
                                "claims profile {url}, which constrains {}, not {rt}",
                                t.type_name
                            ),
                        );
                    }
                }
                Ok(t) => {
                    if let Some(first) = t.unplaced.first() {
                        self.note(
                            NoteKind::NotEvaluated,
                            pointer,
                            "snapshot",
                            format!(
                                "{} differential element(s) of {url} could not be placed over its base (first: {first}); their rules are not evaluated",
                                t.unplaced.len()
                            ),
                        );
                    }
                    self.item(res, &t.root, &t.root, pointer, Some(rt), &place, 0);
                }
            }
        }
        self.resources.pop();
        self.depth -= 1;
    }

    /// Check one value against an element's rules, then descend.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn item(
        &mut self,
        v: &'a Value,
        elem: &Elem,
        root: &Elem,
        pointer: &str,
        type_code: Option<&str>,
        place: &Place,
        depth: usize,
    ) {
        if depth > MAX_ELEMENT_DEPTH {
            self.note(
                NoteKind::NotEvaluated,
                pointer,
                "depth",
                format!("elements nested deeper than {MAX_ELEMENT_DEPTH} are not checked"),
            );
            return;
        }
        if let Some(fixed) = &elem.fixed {
            if !fixed_equal(v, fixed) {
                self.error_value(
                    pointer,
                    "fixed",
                    format!("{}: value must be exactly {}", place.path, shown(fixed)),
                    shown(v),
                );
            }
        }
        if let Some(pattern) = &elem.pattern {
            if !pattern_match(v, pattern) {
                self.error(
                    pointer,
                    "pattern",
                    format!(
                        "{}: value must match the pattern {}",
                        place.path,
                        shown(pattern)
                    ),
                );
            }
        }
        if let (Some(max), Some(s)) = (elem.max_length, v.as_str()) {
            if s.chars().count() as u64 > max {
                self.error(
                    pointer,
                    "maxLength",
                    format!("{}: longer than {max} characters", place.path),
                );
            }
        }
        if let Some(code) = type_code {
            self.binding(v, elem, code, pointer, place);
            if code == "Reference" {
                self.reference(v, elem, pointer, place);
            }
            if depth > 0
                && (code == "Resource"
                    || code == "DomainResource"
                    || self.defs.is_resource_type(code))
            {
                self.resource(v, pointer);
                return;
            }
        }
        let mut constraints: Vec<Constraint> = elem.constraints.clone();
        if let Value::Object(obj) = v {
            if let Some(target) = elem
                .content_reference
                .as_deref()
                .and_then(|id| root.find_id(id))
            {
                // The content repeats that of another element: its place is that one's.
                let inner = Place {
                    path: target.id.clone(),
                    type_path: target.id.clone(),
                    type_name: None,
                };
                self.children(obj, target, root, pointer, &inner, depth);
            } else if !elem.children.is_empty() {
                self.children(obj, elem, root, pointer, place, depth);
            } else if let Some(code) = type_code.filter(|c| !is_primitive(c)) {
                let tree = self.defs.core_tree(code);
                if let Ok(t) = tree.as_ref() {
                    let inner = Place {
                        path: place.path.clone(),
                        type_path: code.to_string(),
                        type_name: Some(code.to_string()),
                    };
                    for c in &t.root.constraints {
                        if !constraints.iter().any(|x| x.key == c.key) {
                            constraints.push(c.clone());
                        }
                    }
                    self.children(obj, &t.root, &t.root, pointer, &inner, depth);
                }
            }
            // Profiles on the type (`Identifier` conforming to a profile of it).
            if let Some(code) = type_code {
                let profiles: Vec<String> = elem
                    .types
                    .iter()
                    .filter(|t| t.code == code && code != "Extension")
                    .flat_map(|t| t.profiles.iter().cloned())
                    .collect();
                for url in profiles {
                    let tree = self.defs.tree(&url);
                    match tree.as_ref() {
                        Ok(t) => self.children(obj, &t.root, &t.root, pointer, place, depth),
                        Err(e) => self.note(
                            NoteKind::NotEvaluated,
                            pointer,
                            "profile",
                            format!("type profile not evaluated: {e}"),
                        ),
                    }
                }
            }
        }
        for c in &constraints {
            self.invariant(v, c, pointer);
        }
    }

    /// Evaluate an invariant on a value.
    fn invariant(&mut self, v: &'a Value, c: &Constraint, pointer: &str) {
        let Some(expr) = c.expression.as_deref() else {
            return;
        };
        let resource = self.resources.last().copied().unwrap_or(self.root_doc);
        match fhirpath::check(expr, v, resource, self.root_doc) {
            Ok(true) => {}
            Ok(false) => {
                let message = format!("{}: {}", c.key, c.human);
                if c.severity == "error" {
                    self.error(pointer, "invariant", message);
                } else {
                    self.note(NoteKind::Warning, pointer, "invariant", message);
                }
            }
            Err(why) => self.note(
                NoteKind::NotEvaluated,
                pointer,
                "invariant",
                format!("{} not evaluated: {why}", c.key),
            ),
        }
    }

    /// The instance items of one child element in an object.
    fn items_of(
        &mut self,
        obj: &'a Map<String, Value>,
        child: &Elem,
        pointer: &str,
    ) -> Vec<Item<'a>> {
        let mut out = Vec::new();
        let push = |out: &mut Vec<Item<'a>>, key: &str, v: &'a Value, code: Option<String>| match v
        {
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    out.push(Item {
                        value: x,
                        pointer: format!("{pointer}/{key}/{i}"),
                        type_code: code.clone(),
                    });
                }
            }
            other => out.push(Item {
                value: other,
                pointer: format!("{pointer}/{key}"),
                type_code: code,
            }),
        };
        if child.is_choice() {
            let base = child.name.trim_end_matches("[x]");
            for (k, v) in obj {
                // `_valueBoolean` alone: a primitive choice known only by its extensions.
                let real = k.as_str();
                let k = match k.strip_prefix('_') {
                    Some(plain) if !obj.contains_key(plain) => plain,
                    Some(_) => continue,
                    None => real,
                };
                let Some(rest) = k.strip_prefix(base) else {
                    continue;
                };
                if !rest.starts_with(|c: char| c.is_ascii_uppercase()) {
                    continue;
                }
                let allowed = child.types.iter().find(|t| type_suffix(&t.code) == rest);
                match allowed {
                    Some(_) if real != k => push(&mut out, real, v, None),
                    Some(t) => push(&mut out, k, v, Some(t.code.clone())),
                    None => {
                        let lower = {
                            let mut c = rest.chars();
                            c.next()
                                .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                                .unwrap_or_default()
                        };
                        let known = self.defs.is_core_type(rest) || self.defs.is_core_type(&lower);
                        if known {
                            let allowed: Vec<&str> =
                                child.types.iter().map(|t| t.code.as_str()).collect();
                            self.error(
                                &format!("{pointer}/{k}"),
                                "type",
                                format!(
                                    "{}: type {rest} is not allowed here (allowed: {})",
                                    child.name,
                                    allowed.join(", ")
                                ),
                            );
                            push(&mut out, k, v, None);
                        }
                    }
                }
            }
            return out;
        }
        let code = match child.types.as_slice() {
            [t] => Some(t.code.clone()),
            _ => None,
        };
        if let Some(v) = obj.get(&child.name) {
            push(&mut out, &child.name, v, code.clone());
        } else if let Some(v) = obj.get(&format!("_{}", child.name)) {
            // A primitive present only by its id/extensions counts as present.
            push(&mut out, &format!("_{}", child.name), v, None);
        }
        out
    }

    /// Check an object's children against `elem`'s children.
    fn children(
        &mut self,
        obj: &'a Map<String, Value>,
        elem: &Elem,
        root: &Elem,
        pointer: &str,
        place: &Place,
        depth: usize,
    ) {
        for child in &elem.children {
            let items = self.items_of(obj, child, pointer);
            let n = items.len() as u64;
            let cplace = place.child(&child.name);
            if n < child.min {
                self.error(
                    &format!("{pointer}/{}", child.name.trim_end_matches("[x]")),
                    "cardinality",
                    format!(
                        "{}: at least {} required, found {n}",
                        cplace.path, child.min
                    ),
                );
            }
            if let Some(max) = child.max {
                if n > max {
                    self.error(
                        &format!("{pointer}/{}", child.name.trim_end_matches("[x]")),
                        "cardinality",
                        format!("{}: at most {max} allowed, found {n}", cplace.path),
                    );
                }
            }
            for it in &items {
                self.item(
                    it.value,
                    child,
                    root,
                    &it.pointer,
                    it.type_code.as_deref(),
                    &cplace,
                    depth + 1,
                );
                if child.is_choice() {
                    // A type slice (`value[x]:valueQuantity`) constrains that type.
                    if let Some(code) = &it.type_code {
                        let name = format!(
                            "{}{}",
                            child.name.trim_end_matches("[x]"),
                            type_suffix(code)
                        );
                        if let Some(s) = child.slice(&name) {
                            self.item(
                                it.value,
                                s,
                                root,
                                &it.pointer,
                                Some(code),
                                &cplace,
                                depth + 1,
                            );
                        }
                    }
                }
                if child.name == "extension" || child.name == "modifierExtension" {
                    self.extension(it.value, elem, &it.pointer, place, depth + 1);
                }
            }
            // Extensions and ids of primitives (`_birthDate`).
            if child.types.len() == 1 && is_primitive(&child.types[0].code) {
                if let Some(companion) = obj.get(&format!("_{}", child.name)) {
                    let tree = self.defs.core_tree(&child.types[0].code);
                    if let Ok(t) = tree.as_ref() {
                        let list: Vec<(usize, &'a Value)> = match companion {
                            Value::Array(a) => a.iter().enumerate().collect(),
                            other => vec![(usize::MAX, other)],
                        };
                        for (i, c) in list {
                            let Value::Object(cobj) = c else { continue };
                            let p = if i == usize::MAX {
                                format!("{pointer}/_{}", child.name)
                            } else {
                                format!("{pointer}/_{}/{i}", child.name)
                            };
                            let mut inner = cplace.clone();
                            inner.type_name = Some(child.types[0].code.clone());
                            let mut only = t.root.clone();
                            only.children.retain(|c| c.name != "value");
                            self.children(cobj, &only, &only, &p, &inner, depth + 1);
                        }
                    }
                }
            }
            if child.slicing.is_some() {
                slicing::check(self, child, root, &items, pointer, &cplace, depth + 1);
            }
        }
    }

    /// An extension: its definition (by `url`) and whether it may appear here.
    fn extension(
        &mut self,
        v: &'a Value,
        host: &Elem,
        pointer: &str,
        host_place: &Place,
        depth: usize,
    ) {
        let Some(url) = v.get("url").and_then(Value::as_str) else {
            return;
        };
        if !url.contains(':') {
            // A relative url names a part of a complex extension, defined inline.
            return;
        }
        let tree = self.defs.tree(url);
        let t = match tree.as_ref() {
            Ok(t) => t,
            Err(_) => {
                self.note(
                    NoteKind::NotEvaluated,
                    pointer,
                    "extension",
                    format!(
                        "extension {url} is not defined by any package; its content is not checked"
                    ),
                );
                return;
            }
        };
        if t.type_name != "Extension" {
            self.error(
                pointer,
                "extension",
                format!("{url} is not an extension definition"),
            );
            return;
        }
        let host_is_resource = self.defs.is_resource_type(&host_place.type_path);
        let mut fhirpath_only = Vec::new();
        let ok = t.contexts.is_empty()
            || t.contexts.iter().any(|(kind, expr)| match kind.as_str() {
                "element" => {
                    let e = expr.replace("[x]", "");
                    let p = host_place.path.replace("[x]", "");
                    let tp = host_place.type_path.replace("[x]", "");
                    e == p
                        || e == tp
                        || host_place.type_name.as_deref() == Some(e.as_str())
                        || e == "Element"
                        || e == "Base"
                        || (host_is_resource && (e == "Resource" || e == "DomainResource"))
                        || (host.name == "Extension" && e == "Extension")
                }
                "extension" => {
                    host_place.type_path == "Extension" && {
                        fhirpath_only.push(format!("extension {expr}"));
                        true
                    }
                }
                _ => {
                    fhirpath_only.push(expr.clone());
                    false
                }
            });
        if !ok {
            if fhirpath_only.is_empty() {
                let list: Vec<String> = t.contexts.iter().map(|(_, e)| e.clone()).collect();
                self.error(
                    pointer,
                    "extension-context",
                    format!(
                        "extension {url} is not allowed on {} (contexts: {})",
                        host_place.path,
                        list.join(", ")
                    ),
                );
            } else {
                self.note(
                    NoteKind::NotEvaluated,
                    pointer,
                    "extension-context",
                    format!("context of extension {url} is a FHIRPath expression; not evaluated"),
                );
            }
        }
        let place = Place {
            path: host_place.path.clone() + ".extension",
            type_path: "Extension".into(),
            type_name: Some("Extension".into()),
        };
        self.item(
            v,
            &t.root,
            &t.root,
            pointer,
            Some("Extension"),
            &place,
            depth,
        );
    }

    /// A required or extensible binding.
    fn binding(&mut self, v: &Value, elem: &Elem, code: &str, pointer: &str, place: &Place) {
        let Some(b) = &elem.binding else { return };
        if b.strength != "required" && b.strength != "extensible" {
            return;
        }
        let Some(vs) = b.value_set.as_deref() else {
            return;
        };
        let codings: Vec<(Option<&str>, &str)> = match code {
            "code" | "string" | "uri" => v.as_str().map(|c| vec![(None, c)]).unwrap_or_default(),
            "Coding" | "Quantity" => match v.get("code").and_then(Value::as_str) {
                Some(c) => vec![(v.get("system").and_then(Value::as_str), c)],
                None => return,
            },
            "CodeableConcept" => v
                .get("coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    Some((
                        c.get("system").and_then(Value::as_str),
                        c.get("code").and_then(Value::as_str)?,
                    ))
                })
                .collect(),
            _ => return,
        };
        if codings.is_empty() {
            if b.strength == "required" && code == "CodeableConcept" {
                self.error(
                    pointer,
                    "binding",
                    format!("{}: no coding from the required ValueSet {vs}", place.path),
                );
            }
            return;
        }
        let exp = bindings::expand(self.defs, vs);
        let mut not_evaluated = None;
        for (system, c) in &codings {
            match bindings::membership(&exp, *system, c) {
                Membership::In => return,
                Membership::InSystem(s) => {
                    self.note(
                        NoteKind::NotEvaluated,
                        pointer,
                        "code",
                        format!("codes of {s} are not loaded: the code itself is not verified"),
                    );
                    return;
                }
                Membership::NotIn => {}
                Membership::NotEvaluated(why) => not_evaluated = Some(why),
            }
        }
        if let Some(why) = not_evaluated {
            self.note(
                NoteKind::NotEvaluated,
                pointer,
                "binding",
                format!("binding to {vs} not evaluated: {why}"),
            );
            return;
        }
        let value = codings
            .iter()
            .map(|(s, c)| match s {
                Some(s) => format!("{s}|{c}"),
                None => (*c).to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let value = shown(&Value::String(value));
        if b.strength == "required" {
            self.error_value(
                pointer,
                "binding",
                format!("{}: not in the required ValueSet {vs}", place.path),
                value,
            );
        } else {
            self.note(
                NoteKind::Warning,
                pointer,
                "binding",
                format!(
                    "{}: not in the extensible ValueSet {vs} ({value})",
                    place.path
                ),
            );
        }
    }

    /// The resource type a reference points at, when it can be told.
    fn reference_type(&self, v: &Value) -> Result<Option<String>, String> {
        if let Some(t) = v.get("type").and_then(Value::as_str) {
            return Ok(Some(t.to_string()));
        }
        let Some(r) = v.get("reference").and_then(Value::as_str) else {
            return Ok(None);
        };
        if let Some(id) = r.strip_prefix('#') {
            let found = self.resources.last().and_then(|res| {
                res.get("contained")?.as_array()?.iter().find_map(|c| {
                    (c.get("id")?.as_str()? == id)
                        .then(|| c.get("resourceType")?.as_str().map(str::to_string))?
                })
            });
            return found
                .map(Some)
                .ok_or_else(|| "a contained reference that resolves to nothing".to_string());
        }
        if r.starts_with("urn:") {
            return self
                .full_urls
                .get(r)
                .cloned()
                .map(Some)
                .ok_or_else(|| "a urn reference outside the Bundle".to_string());
        }
        let parts: Vec<&str> = r.split('/').collect();
        let parts = match parts.iter().position(|p| *p == "_history") {
            Some(i) => &parts[..i],
            None => &parts[..],
        };
        if parts.len() >= 2 && self.defs.is_resource_type(parts[0]) {
            // Relative: `Type/id`.
            return Ok(Some(parts[0].to_string()));
        }
        if r.contains("://")
            && parts.len() >= 2
            && self.defs.is_resource_type(parts[parts.len() - 2])
        {
            return Ok(Some(parts[parts.len() - 2].to_string()));
        }
        if let Some(rt) = self.full_urls.get(r) {
            return Ok(Some(rt.clone()));
        }
        Err("a reference whose target type cannot be told".into())
    }

    /// A reference's target type against the element's target profiles.
    fn reference(&mut self, v: &Value, elem: &Elem, pointer: &str, place: &Place) {
        let targets: Vec<&String> = elem
            .types
            .iter()
            .filter(|t| t.code == "Reference")
            .flat_map(|t| t.target_profiles.iter())
            .collect();
        if targets.is_empty() {
            return;
        }
        let mut allowed = Vec::new();
        for url in &targets {
            let ty = match self.defs.structure_definition(url) {
                Some(sd) => sd.get("type").and_then(Value::as_str).map(str::to_string),
                None => url.rsplit('/').next().map(str::to_string),
            };
            if let Some(ty) = ty {
                if ty == "Resource" || ty == "DomainResource" {
                    return;
                }
                allowed.push((ty, (*url).clone()));
            }
        }
        match self.reference_type(v) {
            Ok(None) => {}
            Ok(Some(ty)) => {
                if !allowed.iter().any(|(t, _)| *t == ty) {
                    let list: Vec<&str> = allowed.iter().map(|(t, _)| t.as_str()).collect();
                    self.error(
                        pointer,
                        "reference",
                        format!(
                            "{}: a reference to {ty} is not allowed here (allowed: {})",
                            place.path,
                            list.join(", ")
                        ),
                    );
                } else {
                    for (t, url) in &allowed {
                        if *t == ty && *url != Definitions::core_url(t) {
                            self.note(
                                NoteKind::NotEvaluated,
                                pointer,
                                "reference",
                                format!("target conformance to {url} is not checked (its type is)"),
                            );
                        }
                    }
                }
            }
            Err(why) => self.note(
                NoteKind::NotEvaluated,
                pointer,
                "reference",
                format!("{}: target type not checked: {why}", place.path),
            ),
        }
    }
}
