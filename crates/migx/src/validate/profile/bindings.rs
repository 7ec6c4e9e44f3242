//! ValueSet expansion (enumerable composes only) and code membership.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::index::Index;

/// Nested ValueSet imports deeper than this are not followed.
const MAX_DEPTH: usize = 8;

/// What is known of a ValueSet's members.
#[derive(Debug, Clone, Default)]
pub struct Expansion {
    /// Enumerated members (system, code).
    pub codes: HashSet<(String, String)>,
    /// Systems included whole whose codes are not loaded here (any code of them is a member
    /// as far as the binding goes; the code itself is not verified).
    pub whole_systems: HashSet<String>,
    /// Why the set is not fully known (a filter, an unknown import): codes not among
    /// `codes` cannot be said to be outside it.
    pub incomplete: Option<String>,
}

/// Membership of one code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// In the set.
    In,
    /// In the set by its system, which is included whole; the code itself is not verified.
    InSystem(String),
    /// Not in the set.
    NotIn,
    /// Cannot be decided: why.
    NotEvaluated(String),
}

fn codes_of(inc: &Value) -> Vec<String> {
    inc.get("concept")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| match c {
            Value::String(s) => Some(s.clone()),
            other => other
                .get("code")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
        .collect()
}

/// The members one include (or exclude) clause stands for.
fn clause(defs: &Expander<'_>, inc: &Value, depth: usize) -> Expansion {
    let mut out = Expansion::default();
    let system = inc.get("system").and_then(Value::as_str);
    if let Some(filters) = inc.get("filter").and_then(Value::as_array) {
        if !filters.is_empty() {
            let f = &filters[0];
            out.incomplete = Some(format!(
                "defined by a filter ({} {} ...) on {}",
                f.get("property").and_then(Value::as_str).unwrap_or("?"),
                f.get("op").and_then(Value::as_str).unwrap_or("?"),
                system.unwrap_or("?")
            ));
            return out;
        }
    }
    let concepts = codes_of(inc);
    let mut from_system = match system {
        Some(sys) if !concepts.is_empty() => {
            let mut e = Expansion::default();
            e.codes
                .extend(concepts.into_iter().map(|c| (sys.to_string(), c)));
            Some(e)
        }
        Some(sys) => {
            let mut e = Expansion::default();
            match defs.index.code_systems.get(sys) {
                Some(cs) if cs.content == "complete" => {
                    e.codes
                        .extend(cs.codes.iter().map(|c| (sys.to_string(), c.clone())));
                }
                Some(cs) => {
                    e.codes
                        .extend(cs.codes.iter().map(|c| (sys.to_string(), c.clone())));
                    e.incomplete = Some(format!(
                        "code system {sys} is only partly defined here ({})",
                        cs.content
                    ));
                }
                None => {
                    e.whole_systems.insert(sys.to_string());
                }
            }
            Some(e)
        }
        None => None,
    };
    // Imported ValueSets: the clause is their intersection (with the system part, if any).
    for vs in inc
        .get("valueSet")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let imported = expand_at(defs, vs, depth + 1);
        from_system = Some(match from_system {
            None => (*imported).clone(),
            Some(cur) => Expansion {
                codes: cur
                    .codes
                    .iter()
                    .filter(|c| {
                        imported.codes.contains(*c) || imported.whole_systems.contains(&c.0)
                    })
                    .cloned()
                    .collect(),
                whole_systems: cur
                    .whole_systems
                    .intersection(&imported.whole_systems)
                    .cloned()
                    .collect(),
                incomplete: cur.incomplete.or_else(|| imported.incomplete.clone()),
            },
        });
    }
    from_system.unwrap_or(out)
}

fn compute(defs: &Expander<'_>, url: &str, depth: usize) -> Expansion {
    let mut out = Expansion::default();
    if depth > MAX_DEPTH {
        out.incomplete = Some(format!("{url}: imports nest too deep"));
        return out;
    }
    let Some(vs) = defs.index.value_sets.get(url) else {
        out.incomplete = Some(format!("ValueSet {url} is not defined by any package"));
        return out;
    };
    if let Some(compose) = vs.get("compose") {
        for inc in compose
            .get("include")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let part = clause(defs, inc, depth);
            out.codes.extend(part.codes);
            out.whole_systems.extend(part.whole_systems);
            if out.incomplete.is_none() {
                out.incomplete = part.incomplete;
            }
        }
        for exc in compose
            .get("exclude")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let part = clause(defs, exc, depth);
            if part.incomplete.is_some() || !part.whole_systems.is_empty() {
                out.incomplete = Some(format!("{url}: an exclude is not enumerable"));
            }
            out.codes.retain(|c| !part.codes.contains(c));
        }
        return out;
    }
    // No compose: an expansion shipped with the ValueSet.
    match vs.get("expansion") {
        Some(Value::Array(items)) => {
            for it in items {
                if let (Some(s), Some(c)) = (
                    it.get(0).and_then(Value::as_str),
                    it.get(1).and_then(Value::as_str),
                ) {
                    out.codes.insert((s.to_string(), c.to_string()));
                }
            }
        }
        Some(exp) => {
            for it in exp
                .get("contains")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(s), Some(c)) = (
                    it.get("system").and_then(Value::as_str),
                    it.get("code").and_then(Value::as_str),
                ) {
                    out.codes.insert((s.to_string(), c.to_string()));
                }
            }
        }
        None => out.incomplete = Some(format!("ValueSet {url} has neither compose nor expansion")),
    }
    out
}

/// Expanded ValueSets by canonical URL, each computed once per process.
#[derive(Default)]
pub(crate) struct Expansions(RwLock<HashMap<String, Arc<Expansion>>>);

/// What expanding reads: the loaded definitions, and the expansions made so far (an
/// imported ValueSet is expanded through the same cache).
#[derive(Clone, Copy)]
pub(crate) struct Expander<'a> {
    pub(crate) index: &'a Index,
    pub(crate) expansions: &'a Expansions,
}

impl Expander<'_> {
    /// The expansion of a ValueSet, computed once per process.
    pub(crate) fn expand(&self, url: &str) -> Arc<Expansion> {
        expand_at(self, url, 0)
    }
}

fn expand_at(defs: &Expander<'_>, url: &str, depth: usize) -> Arc<Expansion> {
    let url = url.split('|').next().unwrap_or(url);
    if let Ok(map) = defs.expansions.0.read() {
        if let Some(e) = map.get(url) {
            return e.clone();
        }
    }
    let e = Arc::new(compute(defs, url, depth));
    if let Ok(mut map) = defs.expansions.0.write() {
        map.entry(url.to_string())
            .or_insert_with(|| e.clone())
            .clone()
    } else {
        e
    }
}

/// Is (system, code) a member? A code without system (a `code` element) matches any
/// member with that code.
pub fn membership(exp: &Expansion, system: Option<&str>, code: &str) -> Membership {
    let found = match system {
        Some(s) => exp.codes.contains(&(s.to_string(), code.to_string())),
        None => exp.codes.iter().any(|(_, c)| c == code),
    };
    if found {
        return Membership::In;
    }
    if let Some(s) = system {
        if exp.whole_systems.contains(s) {
            return Membership::InSystem(s.to_string());
        }
    } else if let Some(s) = exp.whole_systems.iter().next() {
        return Membership::InSystem(s.clone());
    }
    match &exp.incomplete {
        Some(why) => Membership::NotEvaluated(why.clone()),
        None => Membership::NotIn,
    }
}
