//! Profiles compiled to element trees: from the snapshot when present, else generated from
//! the differential over the base definition (recursively), unfolding datatypes where the
//! differential constrains their children.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use super::index::Index;

/// Base definitions deeper than this are a cycle.
const MAX_DEPTH: usize = 16;

/// One type an element may have.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeRef {
    /// Type code (`string`, `CodeableConcept`, `Reference`, `Extension`, ...).
    pub code: String,
    /// Profiles the value must conform to.
    pub profiles: Vec<String>,
    /// For references: the allowed targets' profiles.
    pub target_profiles: Vec<String>,
}

/// A binding of a coded element.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// `required`, `extensible`, `preferred`, `example`.
    pub strength: String,
    /// The ValueSet's canonical URL.
    pub value_set: Option<String>,
}

/// An invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// `ele-1`, `dom-2`, ...
    pub key: String,
    /// `error` or `warning`.
    pub severity: String,
    /// The FHIRPath expression.
    pub expression: Option<String>,
    /// What it requires, in words.
    pub human: String,
}

/// One discriminator of a slicing.
#[derive(Debug, Clone, PartialEq)]
pub struct Discriminator {
    /// `value`, `pattern`, `type`, `profile`, `exists`.
    pub kind: String,
    /// The FHIRPath path relative to the sliced element.
    pub path: String,
}

/// How an element is sliced.
#[derive(Debug, Clone, PartialEq)]
pub struct Slicing {
    /// The discriminators.
    pub discriminators: Vec<Discriminator>,
    /// `open`, `closed`, `openAtEnd`.
    pub rules: String,
}

/// The rules of one element (and, below it, its children and slices).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Elem {
    /// Last segment of the path (`identifier`, `value[x]`), or the type name at the root.
    pub name: String,
    /// The element's id in its definition.
    pub id: String,
    /// Minimum occurrences.
    pub min: u64,
    /// Maximum occurrences; `None` = unbounded.
    pub max: Option<u64>,
    /// Allowed types.
    pub types: Vec<TypeRef>,
    /// `fixed[x]` value.
    pub fixed: Option<Value>,
    /// `pattern[x]` value.
    pub pattern: Option<Value>,
    /// Binding.
    pub binding: Option<Binding>,
    /// Invariants.
    pub constraints: Vec<Constraint>,
    /// Slicing of this element's repetitions.
    pub slicing: Option<Slicing>,
    /// Slices: (slice name, rules of the slice).
    pub slices: Vec<(String, Elem)>,
    /// Children (in definition order).
    pub children: Vec<Elem>,
    /// `contentReference` (`#Questionnaire.item`), id of the element whose content repeats.
    pub content_reference: Option<String>,
    /// `maxLength`.
    pub max_length: Option<u64>,
}

impl Elem {
    /// The child with this name.
    pub fn child(&self, name: &str) -> Option<&Elem> {
        self.children.iter().find(|c| c.name == name)
    }
    fn child_mut(&mut self, name: &str) -> Option<&mut Elem> {
        self.children.iter_mut().find(|c| c.name == name)
    }
    /// The slice with this name.
    pub fn slice(&self, name: &str) -> Option<&Elem> {
        self.slices.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }
    /// Whether this is a choice element (`value[x]`).
    pub fn is_choice(&self) -> bool {
        self.name.ends_with("[x]")
    }
    /// The element of a content reference or at an id, searched from this root.
    pub fn find_id(&self, id: &str) -> Option<&Elem> {
        let segs = segments(id);
        let mut cur = self;
        for (name, slice) in segs.iter().skip(1) {
            cur = cur.child(name)?;
            if let Some(s) = slice {
                cur = cur.slice(s)?;
            }
        }
        Some(cur)
    }
}

/// A compiled profile or core type.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Canonical URL.
    pub url: String,
    /// The type it constrains (`Patient`, `Extension`).
    pub type_name: String,
    /// `resource`, `complex-type`, `primitive-type`, `logical`.
    pub kind: String,
    /// The root element.
    pub root: Elem,
    /// For extensions: `context` (type, expression).
    pub contexts: Vec<(String, String)>,
    /// Differential elements that could not be placed over the base (not evaluated).
    pub unplaced: Vec<String>,
}

/// Split an element id into (name, slice) segments: `Patient.identifier:nhs.system` ->
/// [(Patient, None), (identifier, Some(nhs)), (system, None)]. Dots inside a slice name
/// are not split (slice names are tokens, but some tools write `a.b`); a choice's type
/// slice `value[x]:valueQuantity` keeps its slice name.
pub fn segments(id: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for seg in id.split('.') {
        match seg.split_once(':') {
            Some((n, s)) => out.push((n.to_string(), Some(s.to_string()))),
            None => out.push((seg.to_string(), None)),
        }
    }
    out
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_max(v: &Value) -> Option<Option<u64>> {
    match v.as_str()? {
        "*" => Some(None),
        n => n.parse().ok().map(Some),
    }
}

/// Apply an ElementDefinition's properties onto `e` (snapshot: all; differential: those
/// it states).
fn apply(e: &mut Elem, el: &Map<String, Value>) {
    if let Some(id) = el.get("id").and_then(Value::as_str) {
        e.id = id.to_string();
    }
    if let Some(min) = el.get("min").and_then(Value::as_u64) {
        e.min = min;
    }
    if let Some(max) = el.get("max").and_then(parse_max) {
        e.max = max;
    }
    if let Some(types) = el.get("type").and_then(Value::as_array) {
        e.types = types
            .iter()
            .filter_map(|t| {
                Some(TypeRef {
                    code: t.get("code")?.as_str()?.to_string(),
                    profiles: strings(t.get("profile")),
                    target_profiles: strings(t.get("targetProfile")),
                })
            })
            .collect();
    }
    if let Some(b) = el.get("binding").and_then(Value::as_object) {
        e.binding = Some(Binding {
            strength: b
                .get("strength")
                .and_then(Value::as_str)
                .unwrap_or("example")
                .to_string(),
            value_set: b
                .get("valueSet")
                .and_then(Value::as_str)
                .map(|s| s.split('|').next().unwrap_or(s).to_string()),
        });
    }
    if let Some(cs) = el.get("constraint").and_then(Value::as_array) {
        for c in cs {
            let Some(key) = c.get("key").and_then(Value::as_str) else {
                continue;
            };
            if e.constraints.iter().any(|x| x.key == key) {
                continue;
            }
            e.constraints.push(Constraint {
                key: key.to_string(),
                severity: c
                    .get("severity")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_string(),
                expression: c
                    .get("expression")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                human: c
                    .get("human")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
    }
    if let Some(s) = el.get("slicing").and_then(Value::as_object) {
        e.slicing = Some(Slicing {
            discriminators: s
                .get("discriminator")
                .and_then(Value::as_array)
                .map(|ds| {
                    ds.iter()
                        .filter_map(|d| {
                            Some(Discriminator {
                                kind: d.get("type")?.as_str()?.to_string(),
                                path: d.get("path")?.as_str()?.to_string(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            rules: s
                .get("rules")
                .and_then(Value::as_str)
                .unwrap_or("open")
                .to_string(),
        });
    }
    if let Some(r) = el.get("contentReference").and_then(Value::as_str) {
        e.content_reference = Some(r.trim_start_matches('#').to_string());
    }
    if let Some(n) = el.get("maxLength").and_then(Value::as_u64) {
        e.max_length = Some(n);
    }
    for (k, v) in el {
        if k.starts_with("fixed") && k.len() > 5 {
            e.fixed = Some(v.clone());
        } else if k.starts_with("pattern") && k.len() > 7 {
            e.pattern = Some(v.clone());
        }
    }
}

fn element_segments(el: &Map<String, Value>) -> Option<Vec<(String, Option<String>)>> {
    if let Some(id) = el.get("id").and_then(Value::as_str) {
        return Some(segments(id));
    }
    let path = el.get("path")?.as_str()?;
    let mut segs = segments(path);
    if let (Some(last), Some(slice)) =
        (segs.last_mut(), el.get("sliceName").and_then(Value::as_str))
    {
        last.1 = Some(slice.to_string());
    }
    Some(segs)
}

/// Build a tree from a full element list (a snapshot).
fn from_snapshot(elements: &[Value]) -> Option<Elem> {
    let mut root: Option<Elem> = None;
    for el in elements {
        let Some(el) = el.as_object() else { continue };
        let Some(segs) = element_segments(el) else {
            continue;
        };
        let Some(first) = segs.first() else { continue };
        let root = root.get_or_insert_with(|| Elem {
            name: first.0.clone(),
            min: 0,
            max: None,
            ..Elem::default()
        });
        let mut cur: &mut Elem = root;
        for (name, slice) in segs.iter().skip(1) {
            let pos = match cur.children.iter().position(|c| c.name == *name) {
                Some(p) => p,
                None => {
                    cur.children.push(Elem {
                        name: name.clone(),
                        max: None,
                        ..Elem::default()
                    });
                    cur.children.len() - 1
                }
            };
            cur = &mut cur.children[pos];
            if let Some(s) = slice {
                let pos = match cur.slices.iter().position(|(n, _)| n == s) {
                    Some(p) => p,
                    None => {
                        cur.slices.push((
                            s.clone(),
                            Elem {
                                name: name.clone(),
                                max: None,
                                ..Elem::default()
                            },
                        ));
                        cur.slices.len() - 1
                    }
                };
                cur = &mut cur.slices[pos].1;
            }
        }
        apply(cur, el);
    }
    root
}

/// The type whose children an element has: its only type (a profile on it first).
fn unfold_url(e: &Elem) -> Option<String> {
    let codes: Vec<&TypeRef> = e.types.iter().collect();
    match codes.as_slice() {
        [t] => Some(
            t.profiles
                .first()
                .cloned()
                .unwrap_or_else(|| Index::core_url(&t.code)),
        ),
        _ => None,
    }
}

/// Give `e` the children of its type when it has none yet.
fn unfold(defs: &Compiler<'_>, e: &mut Elem, depth: usize) {
    if !e.children.is_empty() {
        return;
    }
    let Some(url) = unfold_url(e) else { return };
    if let Ok(tree) = defs.tree_at(&url, depth + 1).as_ref() {
        e.children = tree.root.children.clone();
    }
}

/// Suffix of a choice element's type slice (`valueQuantity` -> `Quantity`).
pub fn type_suffix(code: &str) -> String {
    let mut c = code.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Navigate (creating slices) to the element a differential element constrains.
fn place<'a>(
    defs: &Compiler<'_>,
    root: &'a mut Elem,
    segs: &[(String, Option<String>)],
    depth: usize,
) -> Option<&'a mut Elem> {
    let mut cur = root;
    for (name, slice) in segs.iter().skip(1) {
        unfold(defs, cur, depth);
        let mut name = name.clone();
        let mut slice = slice.clone();
        if cur.child(&name).is_none() {
            // `valueQuantity` for `value[x]` restricted to one type.
            let alias = cur
                .children
                .iter()
                .find(|c| {
                    c.is_choice() && {
                        let base = c.name.trim_end_matches("[x]");
                        name.strip_prefix(base)
                            .is_some_and(|rest| rest.starts_with(|ch: char| ch.is_uppercase()))
                    }
                })
                .map(|c| c.name.clone());
            match alias {
                Some(a) => {
                    slice = Some(name.clone());
                    name = a;
                }
                None => return None,
            }
        }
        cur = cur.child_mut(&name)?;
        if let Some(s) = slice {
            if cur.slice(&s).is_none() {
                let mut fresh = cur.clone();
                fresh.slices.clear();
                fresh.slicing = None;
                // A slice's own minimum is 0 unless the differential states one (the
                // sliced element's minimum counts all slices together).
                fresh.min = 0;
                if cur.is_choice() {
                    // A type slice has the one type its name says.
                    let suffix = s
                        .strip_prefix(cur.name.trim_end_matches("[x]"))
                        .unwrap_or("");
                    fresh.types.retain(|t| type_suffix(&t.code) == suffix);
                }
                cur.slices.push((s.clone(), fresh));
            }
            let pos = cur.slices.iter().position(|(n, _)| *n == s)?;
            cur = &mut cur.slices[pos].1;
        }
    }
    Some(cur)
}

/// Compiled trees by canonical URL, each compiled once per process.
#[derive(Default)]
pub(crate) struct Trees(RwLock<HashMap<String, Arc<Result<Tree, String>>>>);

/// What compiling reads: the loaded definitions, and the trees compiled so far (a profile's
/// base, a type's children, are compiled through the same cache).
#[derive(Clone, Copy)]
pub(crate) struct Compiler<'a> {
    pub(crate) index: &'a Index,
    pub(crate) trees: &'a Trees,
}

impl Compiler<'_> {
    /// The tree of `url`, compiled on first use, at a depth of base definitions (a cycle
    /// stops at a limit).
    pub(crate) fn tree_at(&self, url: &str, depth: usize) -> Arc<Result<Tree, String>> {
        let url = url.split('|').next().unwrap_or(url);
        if let Ok(map) = self.trees.0.read() {
            if let Some(t) = map.get(url) {
                return t.clone();
            }
        }
        let compiled = Arc::new(compile(self, url, depth));
        if let Ok(mut map) = self.trees.0.write() {
            map.entry(url.to_string())
                .or_insert_with(|| compiled.clone())
                .clone()
        } else {
            compiled
        }
    }
}

/// Compile the StructureDefinition at `url` into a tree.
fn compile(defs: &Compiler<'_>, url: &str, depth: usize) -> Result<Tree, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{url}: base definitions nest too deep (a cycle?)"));
    }
    let sd = defs
        .index
        .structure_definition(url)
        .ok_or_else(|| format!("{url} is not defined by any package"))?
        .clone();
    let type_name = sd
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = sd
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let contexts = sd
        .get("context")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    Some((
                        c.get("type")?.as_str()?.to_string(),
                        c.get("expression")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let snapshot = sd
        .pointer("/snapshot/element")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    let mut unplaced = Vec::new();
    let root = if let Some(elements) = snapshot {
        from_snapshot(elements).ok_or_else(|| format!("{url}: empty snapshot"))?
    } else {
        let base_url = sd
            .get("baseDefinition")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{url}: neither snapshot nor baseDefinition"))?;
        let base = defs.tree_at(base_url, depth + 1);
        let base = base
            .as_ref()
            .as_ref()
            .map_err(|e| format!("{url}: base {e}"))?;
        let mut root = base.root.clone();
        for el in sd
            .pointer("/differential/element")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(el) = el.as_object() else { continue };
            let Some(segs) = element_segments(el) else {
                continue;
            };
            match place(defs, &mut root, &segs, depth) {
                Some(target) => {
                    let id = target.id.clone();
                    apply(target, el);
                    if target.id.is_empty() {
                        target.id = id;
                    }
                }
                None => unplaced.push(
                    el.get("id")
                        .or_else(|| el.get("path"))
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string(),
                ),
            }
        }
        root
    };
    Ok(Tree {
        url: url.to_string(),
        type_name,
        kind,
        root,
        contexts,
        unplaced,
    })
}
