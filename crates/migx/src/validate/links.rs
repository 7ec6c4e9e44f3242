//! migx-profile checks that span entries and so cannot be written in JSON Schema:
//! `fullUrl` = `urn:uuid:<id>` and unique, every `urn:uuid:` reference resolves inside the Bundle,
//! and the Provenance targets every other entry.
//!
//! Computed entry by entry from what each entry contributes (its `fullUrl`, the `urn:uuid:`
//! references it makes, a Provenance's targets), so that no tree of the whole Bundle is
//! needed: [`Links::entry`] takes one entry while its tree exists, [`Links::finish`] gives
//! the violations, in the order and with the pointers a walk of the whole Bundle gives
//! (every duplicate `fullUrl` first, then per entry: its `fullUrl`, its dangling references,
//! its Provenance targets). A reference to an entry already seen is settled at once; only
//! the others are kept (compactly: a canonical UUID as 16 bytes) until the end.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{display_value, Violation};

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

fn push_pointer(path: &[Seg<'_>], out: &mut String) {
    for seg in path {
        out.push('/');
        match seg {
            Seg::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Seg::Index(i) => out.push_str(&i.to_string()),
        }
    }
}

/// A `fullUrl` or reference string, compactly: a `urn:uuid:` with a canonical lowercase
/// UUID as its 128 bits (formatted back to the same string), anything else as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Uuid(u128),
    Text(Box<str>),
}

impl Key {
    fn of(s: &str) -> Key {
        s.strip_prefix("urn:uuid:")
            .and_then(canonical_uuid)
            .map_or_else(|| Key::Text(s.into()), Key::Uuid)
    }

    fn text(&self) -> String {
        match self {
            Key::Uuid(u) => {
                let h = format!("{u:032x}");
                format!(
                    "urn:uuid:{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                )
            }
            Key::Text(t) => t.to_string(),
        }
    }
}

/// The bits of a lowercase hyphenated UUID (`8-4-4-4-12` hex digits), else `None`.
fn canonical_uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u128::from(d);
    }
    Some(v)
}

/// A reference not yet settled: the entry making it, what it names, and where it sits in
/// the entry's resource (`pointers[start..end]`).
struct Pending {
    entry: u32,
    key: Key,
    start: u32,
    end: u32,
}

/// What an entry contributes that is only judged at the end.
enum Later {
    /// `fullUrl` is not `urn:uuid:<id>`.
    Mismatch(Violation),
    /// A Provenance: its own `fullUrl` and the references it targets.
    Provenance {
        own: Option<Key>,
        targets: HashSet<Key>,
    },
}

/// The cross-entry checks of one Bundle, fed entry by entry.
#[derive(Default)]
pub(crate) struct Links {
    entries: u32,
    /// Each `fullUrl` seen: its first entry and how many entries have it.
    seen: HashMap<Key, (u32, u32)>,
    /// Entries with a `fullUrl`.
    with_url: u32,
    /// Duplicate `fullUrl`s, as found (entry order).
    unique: Vec<Violation>,
    pending: Vec<Pending>,
    pointers: String,
    later: Vec<(u32, Later)>,
}

impl Links {
    /// One entry (the `entry` array's next item), while its tree exists.
    pub(crate) fn entry(&mut self, entry: &Value) {
        let i = self.entries;
        self.entries += 1;
        let full_url = entry.get("fullUrl").and_then(Value::as_str);
        if let Some(u) = full_url {
            self.with_url += 1;
            let key = Key::of(u);
            match self.seen.get_mut(&key) {
                Some((j, n)) => {
                    *n += 1;
                    self.unique.push(violation(
                        format!("/entry/{i}/fullUrl"),
                        "fullUrl-unique",
                        format!("fullUrl is not unique: entry {j} has the same one"),
                        display_value(&Value::String(u.to_string())),
                    ));
                }
                None => {
                    self.seen.insert(key, (i, 1));
                }
            }
        }
        let resource = entry.get("resource");
        let id = resource.and_then(|r| r.get("id")).and_then(Value::as_str);
        if let (Some(full_url), Some(id)) = (full_url, id) {
            if full_url.strip_prefix("urn:uuid:") != Some(id) {
                self.later.push((
                    i,
                    Later::Mismatch(violation(
                        format!("/entry/{i}/fullUrl"),
                        "fullUrl",
                        "fullUrl must be urn:uuid:<the resource's id>".into(),
                        display_value(&Value::String(full_url.to_string())),
                    )),
                ));
            }
        }
        let Some(resource) = resource else { return };
        let mut path = Vec::new();
        self.references(i, resource, &mut path);
        if resource.get("resourceType").and_then(Value::as_str) == Some("Provenance") {
            let targets: HashSet<Key> = resource
                .get("target")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(|x| x.get("reference").and_then(Value::as_str))
                        .map(Key::of)
                        .collect()
                })
                .unwrap_or_default();
            self.later.push((
                i,
                Later::Provenance {
                    own: full_url.map(Key::of),
                    targets,
                },
            ));
        }
    }

    /// Every `reference` string starting `urn:uuid:` in `value`: settled when it names an
    /// entry already seen, else kept with its pointer (relative to the entry's resource).
    fn references<'a>(&mut self, entry: u32, value: &'a Value, path: &mut Vec<Seg<'a>>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    path.push(Seg::Key(key));
                    match (key.as_str(), v) {
                        ("reference", Value::String(r)) if r.starts_with("urn:uuid:") => {
                            let key = Key::of(r);
                            if !self.seen.contains_key(&key) {
                                let start = self.pointers.len() as u32;
                                push_pointer(path, &mut self.pointers);
                                let end = self.pointers.len() as u32;
                                self.pending.push(Pending {
                                    entry,
                                    key,
                                    start,
                                    end,
                                });
                            }
                        }
                        (_, Value::Object(_) | Value::Array(_)) => self.references(entry, v, path),
                        _ => {}
                    }
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    if matches!(v, Value::Object(_) | Value::Array(_)) {
                        path.push(Seg::Index(i));
                        self.references(entry, v, path);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    /// The violations, once every entry has been seen.
    pub(crate) fn finish(self, out: &mut Vec<Violation>) {
        let Links {
            seen,
            with_url,
            unique,
            pending,
            pointers,
            later,
            ..
        } = self;
        out.extend(unique);
        let count = |k: &Key| seen.get(k).map_or(0, |&(_, n)| n);
        let mut pending = pending.into_iter().peekable();
        // The dangling references of the entries before `limit`.
        let mut dangling_before = |limit: u64, out: &mut Vec<Violation>| {
            while let Some(p) = pending.next_if(|p| u64::from(p.entry) < limit) {
                if count(&p.key) > 0 {
                    continue;
                }
                let rel = pointers
                    .get(p.start as usize..p.end as usize)
                    .unwrap_or_default();
                out.push(violation(
                    format!("/entry/{}/resource{rel}", p.entry),
                    "reference",
                    "reference does not resolve to an entry of this Bundle".into(),
                    display_value(&Value::String(p.key.text())),
                ));
            }
        };
        for (i, item) in later {
            match item {
                Later::Mismatch(v) => {
                    dangling_before(u64::from(i), out);
                    out.push(v);
                }
                Later::Provenance { own, targets } => {
                    dangling_before(u64::from(i) + 1, out);
                    // Entries other than this one whose fullUrl it does not target.
                    let targeted: u32 = targets.iter().map(count).sum();
                    let (own_url, own_targeted) = match &own {
                        Some(k) => (1, u32::from(targets.contains(k))),
                        None => (0, 0),
                    };
                    let missing = (with_url - own_url) - (targeted - own_targeted);
                    if missing > 0 {
                        out.push(violation(
                            format!("/entry/{i}/resource/target"),
                            "provenance-target",
                            format!(
                                "Provenance.target must list every other entry ({missing} missing)"
                            ),
                            None,
                        ));
                    }
                }
            }
        }
        dangling_before(u64::MAX, out);
    }
}
