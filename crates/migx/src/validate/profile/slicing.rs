//! Slicing: each repetition of a sliced element is assigned to the slice whose
//! discriminators (value, pattern, type, profile, exists) it matches; then slice
//! cardinality and closed slicing are checked. The walker then checks each item against
//! its slice's own rules: slicing only assigns, so it never walks (and never imports the
//! walker); whether a value conforms to a profile (a `profile` discriminator) is asked of
//! the caller.

use serde_json::Value;

use super::bindings::{self, Membership};
use super::package::Definitions;
use super::snapshot::{type_suffix, Binding, Elem, TypeRef};
use super::values::{fixed_equal, pattern_match, Item, Place};

/// What the definitions say of the element at a discriminator path.
#[derive(Debug, Clone, Default)]
struct Facts {
    fixed: Option<Value>,
    pattern: Option<Value>,
    binding: Option<Binding>,
    min: u64,
    max: Option<u64>,
    types: Vec<TypeRef>,
}

fn facts(e: &Elem) -> Facts {
    Facts {
        fixed: e.fixed.clone(),
        pattern: e.pattern.clone(),
        binding: e.binding.clone(),
        min: e.min,
        max: e.max,
        types: e.types.clone(),
    }
}

/// The facts at `path` below a slice, unfolding types (profile first) where the slice does
/// not list the children.
fn facts_at(defs: &Definitions, slice: &Elem, path: &str) -> Result<Facts, String> {
    if path == "$this" {
        return Ok(facts(slice));
    }
    if path.contains('(') || path.contains('[') {
        return Err(format!("discriminator path {path} is not supported"));
    }
    let names: Vec<&str> = path.split('.').collect();
    walk_facts(defs, slice, &names, 0)
}

fn walk_facts(defs: &Definitions, e: &Elem, names: &[&str], depth: usize) -> Result<Facts, String> {
    let Some((first, rest)) = names.split_first() else {
        return Ok(facts(e));
    };
    if depth > 8 {
        return Err("discriminator path too deep".into());
    }
    let pick = |e: &Elem| -> Option<Elem> {
        e.child(first)
            .or_else(|| e.child(&format!("{first}[x]")))
            .cloned()
    };
    if let Some(c) = pick(e) {
        return walk_facts(defs, &c, rest, depth + 1);
    }
    // Not listed: look in the type's definition (its profile first).
    let urls: Vec<String> = e
        .types
        .iter()
        .flat_map(|t| {
            let mut v: Vec<String> = t.profiles.clone();
            v.push(Definitions::core_url(&t.code));
            v
        })
        .collect();
    for url in urls {
        let tree = defs.tree(&url);
        if let Ok(t) = tree.as_ref() {
            if let Some(c) = pick(&t.root) {
                return walk_facts(defs, &c, rest, depth + 1);
            }
        }
    }
    Err(format!("discriminator element {first} not found"))
}

/// Instance values at a discriminator path, with their type codes when told by a choice
/// suffix or a `resourceType`.
fn values_at<'v>(v: &'v Value, path: &str) -> Vec<(&'v Value, Option<String>)> {
    let mut cur: Vec<(&'v Value, Option<String>)> = vec![(v, None)];
    if path == "$this" {
        return cur;
    }
    for name in path.split('.') {
        let mut next = Vec::new();
        for (x, _) in &cur {
            let Some(obj) = x.as_object() else { continue };
            let mut found: Vec<(&'v Value, Option<String>)> = Vec::new();
            if let Some(val) = obj.get(name) {
                found.push((val, None));
            } else {
                for (k, val) in obj {
                    if let Some(rest) = k.strip_prefix(name) {
                        if rest.starts_with(|c: char| c.is_ascii_uppercase()) {
                            found.push((val, Some(rest.to_string())));
                        }
                    }
                }
            }
            for (val, ty) in found {
                match val {
                    Value::Array(a) => next.extend(a.iter().map(|i| (i, ty.clone()))),
                    other => next.push((other, ty)),
                }
            }
        }
        cur = next;
    }
    cur
}

/// One discriminator of one slice, ready to test.
enum Matcher {
    Value {
        path: String,
        fixed: Option<Value>,
        pattern: Option<Value>,
        vs: Option<String>,
    },
    Exists {
        path: String,
        must: bool,
    },
    Type {
        path: String,
        codes: Vec<String>,
    },
    Profile {
        path: String,
        urls: Vec<String>,
    },
}

fn matchers(defs: &Definitions, elem: &Elem, slice: &Elem) -> Result<Vec<Matcher>, String> {
    let Some(slicing) = &elem.slicing else {
        return Ok(Vec::new());
    };
    if slicing.discriminators.is_empty() {
        return Err("slicing has no discriminator".into());
    }
    let mut out = Vec::new();
    for d in &slicing.discriminators {
        let f = facts_at(defs, slice, &d.path)?;
        let path = d.path.clone();
        out.push(match d.kind.as_str() {
            "value" | "pattern" => {
                let vs = f
                    .binding
                    .as_ref()
                    .filter(|b| b.strength == "required")
                    .and_then(|b| b.value_set.clone());
                if f.fixed.is_none() && f.pattern.is_none() && vs.is_none() {
                    return Err(format!("no fixed or pattern value at {}", d.path));
                }
                Matcher::Value {
                    path,
                    fixed: f.fixed,
                    pattern: f.pattern,
                    vs,
                }
            }
            "exists" => {
                if f.min >= 1 {
                    Matcher::Exists { path, must: true }
                } else if f.max == Some(0) {
                    Matcher::Exists { path, must: false }
                } else {
                    return Err(format!("neither required nor prohibited at {}", d.path));
                }
            }
            "type" => Matcher::Type {
                path,
                codes: f.types.iter().map(|t| t.code.clone()).collect(),
            },
            "profile" => {
                let urls: Vec<String> = f.types.iter().flat_map(|t| t.profiles.clone()).collect();
                if urls.is_empty() {
                    return Err(format!("no profile at {}", d.path));
                }
                Matcher::Profile { path, urls }
            }
            other => return Err(format!("discriminator type {other} is not supported")),
        });
    }
    Ok(out)
}

fn type_of(v: &Value, suffix: Option<&String>, item_type: Option<&str>) -> Option<String> {
    if let Some(rt) = v.get("resourceType").and_then(Value::as_str) {
        return Some(rt.to_string());
    }
    suffix.cloned().or_else(|| item_type.map(str::to_string))
}

/// Does a value conform to a profile (the caller walks it against the profile alone)?
pub(crate) type Conforms<'c> = &'c dyn Fn(&Value, &str) -> bool;

fn matches(defs: &Definitions, conforms: Conforms<'_>, m: &Matcher, item: &Item<'_>) -> bool {
    match m {
        Matcher::Value {
            path,
            fixed,
            pattern,
            vs,
        } => {
            let vals = values_at(item.value, path);
            vals.iter().any(|(v, _)| {
                if let Some(f) = fixed {
                    return fixed_equal(v, f);
                }
                if let Some(p) = pattern {
                    return pattern_match(v, p);
                }
                if let (Some(vs), Some(code)) = (vs, v.as_str()) {
                    let exp = defs.expansion(vs);
                    return matches!(
                        bindings::membership(&exp, None, code),
                        Membership::In | Membership::InSystem(_)
                    );
                }
                false
            })
        }
        Matcher::Exists { path, must } => values_at(item.value, path).is_empty() != *must,
        Matcher::Type { path, codes } => values_at(item.value, path).iter().any(|(v, suffix)| {
            let item_type = if path == "$this" {
                item.type_code.as_deref()
            } else {
                None
            };
            type_of(v, suffix.as_ref(), item_type)
                .is_some_and(|t| codes.iter().any(|c| *c == t || type_suffix(c) == t))
        }),
        Matcher::Profile { path, urls } => values_at(item.value, path)
            .iter()
            .any(|(v, _)| urls.iter().any(|url| conforms(v, url))),
    }
}

/// A finding of slicing, for the walker to record: JSON Pointer, rule, message.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub pointer: String,
    pub rule: &'static str,
    pub message: String,
}

/// How the items of a sliced element fall into its slices.
#[derive(Debug)]
pub(crate) struct Assignment<'e> {
    /// Slices whose discriminators cannot be evaluated (notes, before anything else).
    pub not_evaluated: Vec<Finding>,
    /// Per item, in order: the slice it belongs to, or the error of an item that matches
    /// no slice of a closed slicing, or neither.
    pub items: Vec<Result<Option<&'e Elem>, Finding>>,
    /// Slice cardinality errors, after the items.
    pub cardinality: Vec<Finding>,
}

/// Assign the items of `elem` to its slices (none when `elem` is not sliced, or is a choice:
/// the walker applies a choice's type slices per item).
pub(crate) fn assign<'e>(
    defs: &Definitions,
    conforms: Conforms<'_>,
    elem: &'e Elem,
    items: &[Item<'_>],
    pointer: &str,
    place: &Place,
) -> Option<Assignment<'e>> {
    let slicing = elem.slicing.as_ref()?;
    if elem.slices.is_empty() {
        return None;
    }
    let array_pointer = format!("{pointer}/{}", elem.name.trim_end_matches("[x]"));
    if elem.is_choice() {
        // Type slices of a choice are applied per item by the walker.
        return None;
    }
    let mut out = Assignment {
        not_evaluated: Vec::new(),
        items: Vec::new(),
        cardinality: Vec::new(),
    };
    let mut prepared = Vec::new();
    let mut unknown = false;
    for (name, s) in &elem.slices {
        match matchers(defs, elem, s) {
            Ok(m) => prepared.push((name, s, Some(m))),
            Err(why) => {
                unknown = true;
                out.not_evaluated.push(Finding {
                    pointer: array_pointer.clone(),
                    rule: "slicing",
                    message: format!("{}: slice {name} not evaluated: {why}", place.path),
                });
                prepared.push((name, s, None));
            }
        }
    }
    let mut counts = vec![0u64; prepared.len()];
    for it in items {
        let mut assigned = None;
        for (i, (_, _, m)) in prepared.iter().enumerate() {
            let Some(ms) = m else { continue };
            if ms.iter().all(|m| matches(defs, conforms, m, it)) {
                assigned = Some(i);
                break;
            }
        }
        out.items.push(match assigned {
            Some(i) => {
                counts[i] += 1;
                Ok(Some(prepared[i].1))
            }
            None if slicing.rules == "closed" && !unknown => Err(Finding {
                pointer: it.pointer.clone(),
                rule: "slicing",
                message: format!(
                    "{}: matches no slice, and the slicing is closed",
                    place.path
                ),
            }),
            None => Ok(None),
        });
    }
    for (i, (name, s, m)) in prepared.iter().enumerate() {
        if m.is_none() {
            continue;
        }
        let n = counts[i];
        if n < s.min {
            out.cardinality.push(Finding {
                pointer: array_pointer.clone(),
                rule: "slice",
                message: format!(
                    "{}: slice {name} requires at least {}, found {n}",
                    place.path, s.min
                ),
            });
        }
        if let Some(max) = s.max {
            if n > max {
                out.cardinality.push(Finding {
                    pointer: array_pointer.clone(),
                    rule: "slice",
                    message: format!(
                        "{}: slice {name} allows at most {max}, found {n}",
                        place.path
                    ),
                });
            }
        }
    }
    Some(out)
}
