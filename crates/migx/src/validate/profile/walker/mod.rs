//! Walks an instance against element trees: cardinality, choice types, fixed and pattern
//! values, bindings, reference targets, extensions (definitions and contexts), slicing and
//! invariants. Findings carry JSON Pointers; reports turn them into FHIRPath locations.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::package::Definitions;
use super::snapshot::{type_suffix, Constraint, Elem};
use super::values::{fixed_equal, pattern_match, shown, Item, Place};
use super::{fhirpath, slicing, Note, NoteKind, Outcome, ProfileOptions};
use crate::validate::Violation;

mod binding;
mod extension;
mod reference;

/// Resources nested deeper than this (Bundle in Bundle, contained) are not followed.
const MAX_RESOURCE_DEPTH: usize = 8;
/// Elements nested deeper than this are not followed (a hostile document).
const MAX_ELEMENT_DEPTH: usize = 64;

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
                self.slices(child, root, &items, pointer, &cplace, depth + 1);
            }
        }
    }

    /// Items of a sliced element: each is checked against the slice it falls into.
    fn slices(
        &mut self,
        elem: &Elem,
        root: &Elem,
        items: &[Item<'a>],
        pointer: &str,
        place: &Place,
        depth: usize,
    ) {
        let defs = self.defs;
        let conforms = |v: &Value, url: &str| Walker::conforms(defs, v, url);
        let Some(assignment) = slicing::assign(defs, &conforms, elem, items, pointer, place) else {
            return;
        };
        for f in assignment.not_evaluated {
            self.note(NoteKind::NotEvaluated, &f.pointer, f.rule, f.message);
        }
        for (it, slice) in items.iter().zip(assignment.items) {
            match slice {
                Ok(Some(s)) => self.item(
                    it.value,
                    s,
                    root,
                    &it.pointer,
                    it.type_code.as_deref(),
                    place,
                    depth,
                ),
                Ok(None) => {}
                Err(f) => self.error(&f.pointer, f.rule, f.message),
            }
        }
        for f in assignment.cardinality {
            self.error(&f.pointer, f.rule, f.message);
        }
    }

    /// Does a value conform to a profile (no errors when walked against it alone)?
    fn conforms(defs: &Definitions, v: &Value, url: &str) -> bool {
        let tree = defs.tree(url);
        let Ok(t) = tree.as_ref() else { return false };
        let opts = ProfileOptions::default();
        let mut sub = Walker::new(defs, v, &opts);
        let place = Place::root(&t.type_name);
        sub.item(v, &t.root, &t.root, "", Some(&t.type_name), &place, 0);
        sub.error_count() == 0
    }
}
