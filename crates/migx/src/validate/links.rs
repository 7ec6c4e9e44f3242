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
//! the others are kept until the end, in fixed-size records (issue 24.12): every `fullUrl`
//! and reference as 128 bits (a canonical UUID's own bits, any other string interned: exact,
//! no hash to collide), a pointer as an interned shape and its array indices, its text
//! made again only for a violation.

use std::borrow::Cow;

// foldhash (hashbrown's default), not SipHash: every `fullUrl`, reference and pending
// pointer shape is looked up here, per entry; no map is ever iterated, so the hasher
// decides no order.
use hashbrown::HashMap;

use jsonschema::json::{Array as _, Json, Node as _, Object as _, SerdeJson};
use jsonschema::types::JsonType;
use serde_json::Value;

use super::{display_value, Violation};
use crate::digest::{uuid_bits, uuid_text};

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
    Key(Cow<'a, str>),
    Index(usize),
}

/// A key as a JSON pointer writes it (`~` as `~0`, `/` as `~1`): an escaped key never holds
/// `~2`, which marks an array index in a [`Shapes`] template.
fn push_key(k: &str, out: &mut String) {
    if !k.contains(['~', '/']) {
        out.push_str(k);
        return;
    }
    for c in k.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// Where the array-index segments of a pointer template are (`/~2`, see [`push_key`]).
const INDEX: &str = "~2";

/// The pointers of the pending references, compactly: each pointer is its shape (the
/// pointer with every array index written `~2`, interned: a resource's references sit at a
/// few shapes) and its indices (in one arena); the text is made again only for a violation.
#[derive(Default)]
struct Shapes {
    ids: HashMap<Box<str>, u32>,
    shapes: Vec<Box<str>>,
    indices: Vec<u32>,
    /// The shape being made, reused: a shape allocates only the first time it is seen.
    scratch: String,
}

impl Shapes {
    /// Record the pointer of `path`: (its shape, where its indices start).
    fn record(&mut self, path: &[Seg<'_>]) -> (u32, u32) {
        let start = u32::try_from(self.indices.len()).unwrap_or(u32::MAX);
        let mut shape = std::mem::take(&mut self.scratch);
        shape.clear();
        for seg in path {
            shape.push('/');
            match seg {
                Seg::Key(k) => push_key(k, &mut shape),
                Seg::Index(i) => {
                    shape.push_str(INDEX);
                    // Past u32::MAX items (never) the pointer of a violation shows the bound.
                    self.indices.push(u32::try_from(*i).unwrap_or(u32::MAX));
                }
            }
        }
        let id = match self.ids.get(shape.as_str()) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.shapes.len()).unwrap_or(u32::MAX);
                self.shapes.push(shape.as_str().into());
                self.ids.insert(shape.as_str().into(), id);
                id
            }
        };
        self.scratch = shape;
        (id, start)
    }

    /// The pointer text of a recorded (shape, start).
    fn text(&self, shape: u32, start: u32) -> String {
        let Some(t) = self.shapes.get(shape as usize) else {
            return String::new();
        };
        let mut out = String::with_capacity(t.len());
        let mut indices = self.indices.iter().skip(start as usize);
        let mut parts = t.split(INDEX);
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        for part in parts {
            if let Some(i) = indices.next() {
                out.push_str(&i.to_string());
            }
            out.push_str(part);
        }
        out
    }
}

/// A `fullUrl` or reference string as 128 bits: a `urn:uuid:` with a canonical lowercase
/// UUID as the UUID's bits, anything else interned ([`Keys`]) and numbered in a band no
/// such UUID takes (a UUID in that band is interned as text too), so that equal strings
/// and only equal strings have equal keys, and each key is fixed-size.
type Key = u128;

/// The band of the interned keys: the upper 64 bits all set.
const TEXT_BAND: u128 = (u64::MAX as u128) << 64;

/// The strings that are not keyed by their UUID.
#[derive(Default)]
struct Keys {
    ids: HashMap<Box<str>, u64>,
    texts: Vec<Box<str>>,
}

impl Keys {
    fn of(&mut self, s: &str) -> Key {
        if let Some(u) = s.strip_prefix("urn:uuid:").and_then(uuid_bits) {
            if u & TEXT_BAND != TEXT_BAND {
                return u;
            }
        }
        let n = match self.ids.get(s) {
            Some(&n) => n,
            None => {
                let n = self.texts.len() as u64;
                self.texts.push(s.into());
                self.ids.insert(s.into(), n);
                n
            }
        };
        TEXT_BAND | u128::from(n)
    }

    /// The string a key stands for.
    fn text(&self, k: Key) -> String {
        if k & TEXT_BAND == TEXT_BAND {
            let n = (k & u128::from(u64::MAX)) as usize;
            return self.texts.get(n).map(|t| t.to_string()).unwrap_or_default();
        }
        format!("urn:uuid:{}", uuid_text(k))
    }
}

/// The references not yet settled, one column each (fixed-size: no `String` per
/// reference): the entry making it, what it names, and where it sits in the entry's
/// resource ([`Shapes`]).
#[derive(Default)]
struct Pending {
    entry: Vec<u32>,
    key: Vec<Key>,
    shape: Vec<u32>,
    start: Vec<u32>,
}

/// What an entry contributes that is only judged at the end.
enum Later {
    /// `fullUrl` is not `urn:uuid:<id>`.
    Mismatch(Violation),
    /// A Provenance: its own `fullUrl` and the references it targets (sorted, each once).
    Provenance { own: Option<Key>, targets: Vec<Key> },
}

/// The cross-entry checks of one Bundle, fed entry by entry.
#[derive(Default)]
pub(crate) struct Links {
    entries: u32,
    keys: Keys,
    /// Each `fullUrl` seen: its first entry and how many entries have it.
    seen: HashMap<Key, (u32, u32)>,
    /// Entries with a `fullUrl`.
    with_url: u32,
    /// Duplicate `fullUrl`s, as found (entry order).
    unique: Vec<Violation>,
    pending: Pending,
    shapes: Shapes,
    later: Vec<(u32, Later)>,
    /// The entry begun last, when its resource is a Provenance: its own `fullUrl` and the
    /// targets seen so far.
    provenance: Option<(Option<Key>, Vec<Key>)>,
}

/// The member `name` of `node`, when it is an object (its only one: the trees and tapes the
/// links read hold each key once).
fn member<'a, F: Json>(node: &F::Node<'a>, name: &str) -> Option<F::Node<'a>> {
    node.as_object()?
        .members()
        .find(|(k, _)| k.as_ref() == name)
        .map(|(_, v)| v)
}

fn is_container<'a, F: Json>(node: &F::Node<'a>) -> bool {
    matches!(node.json_type(), JsonType::Object | JsonType::Array)
}

impl Links {
    /// One entry (the `entry` array's next item), while its tree exists.
    pub(crate) fn entry(&mut self, entry: &Value) {
        self.entry_node::<SerdeJson>(entry);
    }

    /// One entry in any representation the schemas read (a tree, or an entry's tape:
    /// [`super::tape`]): what [`Links::entry`] takes of its tree.
    pub(crate) fn entry_node<'a, F: Json>(&mut self, entry: F::Node<'a>) {
        let Some(resource) = self.begin_node::<F>(&entry) else {
            return;
        };
        match resource.as_object() {
            Some(map) => {
                let mut path = Vec::new();
                for (key, v) in map.members() {
                    path.clear();
                    self.field_at::<F>(key.into(), v, &mut path);
                }
            }
            None => {
                let i = self.entries - 1;
                self.references::<F>(i, resource, &mut Vec::new());
            }
        }
        self.end();
    }

    /// Start an entry given in parts (a tree without some of its resource's arrays, then
    /// each field: [`Links::field`], or the items of an array given in chunks:
    /// [`Links::items`]; then [`Links::end`]): its `fullUrl` and id. The resource, if any.
    pub(crate) fn begin<'v>(&mut self, entry: &'v Value) -> Option<&'v Value> {
        self.begin_node::<SerdeJson>(&entry)
    }

    fn begin_node<'a, F: Json>(&mut self, entry: &F::Node<'a>) -> Option<F::Node<'a>> {
        let i = self.entries;
        self.entries += 1;
        let full_url = member::<F>(entry, "fullUrl").and_then(|u| u.as_string());
        if let Some(u) = full_url.as_deref() {
            self.with_url += 1;
            let key = self.keys.of(u);
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
        let resource = member::<F>(entry, "resource");
        let id = resource
            .as_ref()
            .and_then(|r| member::<F>(r, "id"))
            .and_then(|id| id.as_string());
        if let (Some(full_url), Some(id)) = (full_url.as_deref(), id.as_deref()) {
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
        let provenance = resource.as_ref().is_some_and(|r| {
            member::<F>(r, "resourceType")
                .and_then(|t| t.as_string())
                .is_some_and(|t| t == "Provenance")
        });
        self.provenance =
            provenance.then(|| (full_url.as_deref().map(|u| self.keys.of(u)), Vec::new()));
        resource
    }

    /// One field of the resource of the entry begun last, in the resource's order.
    pub(crate) fn field(&mut self, key: &str, v: &Value) {
        self.field_at::<SerdeJson>(Cow::Borrowed(key), v, &mut Vec::new());
    }

    /// [`Links::field`] in any representation; `path` is empty, and is left as it was.
    fn field_at<'a, F: Json>(
        &mut self,
        key: Cow<'a, str>,
        v: F::Node<'a>,
        path: &mut Vec<Seg<'a>>,
    ) {
        let i = self.entries - 1;
        let target = key == "target";
        let reference = key == "reference";
        path.push(Seg::Key(key));
        match v.as_string() {
            Some(r) if reference && r.starts_with("urn:uuid:") => {
                self.pending_reference(i, &r, path);
            }
            _ if is_container::<F>(&v) => self.references::<F>(i, v.clone(), path),
            _ => {}
        }
        path.pop();
        if target {
            if let Some(items) = v.as_array() {
                self.targets::<F>(items.elements());
            }
        }
    }

    /// Items `offset..` of the array `key` of the resource of the entry begun last (the
    /// array given chunk by chunk, in order, where the field comes in the resource).
    pub(crate) fn items(&mut self, key: &str, offset: usize, chunk: &[Value]) {
        let i = self.entries - 1;
        let mut path = vec![Seg::Key(Cow::Borrowed(key))];
        for (k, v) in chunk.iter().enumerate() {
            if matches!(v, Value::Object(_) | Value::Array(_)) {
                path.push(Seg::Index(offset + k));
                self.references::<SerdeJson>(i, v, &mut path);
                path.pop();
            }
        }
        if key == "target" {
            self.targets::<SerdeJson>(chunk.iter());
        }
    }

    /// A Provenance's `target` references (or a chunk of them), when the entry begun last is one.
    fn targets<'a, F: Json>(&mut self, items: impl Iterator<Item = F::Node<'a>>) {
        if let Some((_, targets)) = self.provenance.as_mut() {
            for r in items {
                if let Some(r) = member::<F>(&r, "reference").and_then(|r| r.as_string()) {
                    targets.push(self.keys.of(&r));
                }
            }
        }
    }

    /// The end of the entry begun last.
    pub(crate) fn end(&mut self) {
        if let Some((own, mut targets)) = self.provenance.take() {
            targets.sort_unstable();
            targets.dedup();
            targets.shrink_to_fit();
            let i = self.entries - 1;
            self.later.push((i, Later::Provenance { own, targets }));
        }
    }

    /// A `urn:uuid:` reference at `path` (relative to the entry's resource): settled when it
    /// names an entry already seen, else kept with its pointer's shape.
    fn pending_reference(&mut self, entry: u32, r: &str, path: &[Seg<'_>]) {
        let key = self.keys.of(r);
        if !self.seen.contains_key(&key) {
            let (shape, start) = self.shapes.record(path);
            let p = &mut self.pending;
            p.entry.push(entry);
            p.key.push(key);
            p.shape.push(shape);
            p.start.push(start);
        }
    }

    /// Every `reference` string starting `urn:uuid:` in `value`: settled when it names an
    /// entry already seen, else kept with its pointer (relative to the entry's resource).
    fn references<'a, F: Json>(&mut self, entry: u32, value: F::Node<'a>, path: &mut Vec<Seg<'a>>) {
        if let Some(map) = value.as_object() {
            for (key, v) in map.members() {
                let key: Cow<'a, str> = key.into();
                let reference = key == "reference";
                path.push(Seg::Key(key));
                match v.as_string() {
                    Some(r) if reference && r.starts_with("urn:uuid:") => {
                        self.pending_reference(entry, &r, path);
                    }
                    _ if is_container::<F>(&v) => self.references::<F>(entry, v, path),
                    _ => {}
                }
                path.pop();
            }
        } else if let Some(items) = value.as_array() {
            for (i, v) in items.elements().enumerate() {
                if is_container::<F>(&v) {
                    path.push(Seg::Index(i));
                    self.references::<F>(entry, v, path);
                    path.pop();
                }
            }
        }
    }

    /// The violations, once every entry has been seen.
    pub(crate) fn finish(self, out: &mut Vec<Violation>) {
        let Links {
            keys,
            seen,
            with_url,
            unique,
            pending,
            shapes,
            later,
            ..
        } = self;
        out.extend(unique);
        let count = |k: &Key| seen.get(k).map_or(0, |&(_, n)| n);
        let mut next = 0usize;
        // The dangling references of the entries before `limit`.
        let mut dangling_before = |limit: u64, out: &mut Vec<Violation>| {
            while let Some(&entry) = pending.entry.get(next) {
                if u64::from(entry) >= limit {
                    break;
                }
                let k = next;
                next += 1;
                let key = pending.key[k];
                if count(&key) > 0 {
                    continue;
                }
                let rel = shapes.text(pending.shape[k], pending.start[k]);
                out.push(violation(
                    format!("/entry/{entry}/resource{rel}"),
                    "reference",
                    "reference does not resolve to an entry of this Bundle".into(),
                    display_value(&Value::String(keys.text(key))),
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
                        Some(k) => (1, u32::from(targets.binary_search(k).is_ok())),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Generated paths (keys with `~`, `/`, the `~2` index marker itself, digits, empty
    /// keys; indices at any depth): the pointer made again from a shape and its indices is
    /// the pointer written directly, however many pointers share the shapes.
    #[test]
    fn pointers_made_again_from_shapes_are_the_pointers() {
        let keys = [
            "target",
            "a~b",
            "a/b",
            "~2",
            "~",
            "/",
            "",
            "12",
            "reference",
            "x~1y",
        ];
        let direct = |path: &[Seg<'_>]| {
            let mut s = String::new();
            for seg in path {
                s.push('/');
                match seg {
                    Seg::Key(k) => push_key(k, &mut s),
                    Seg::Index(i) => s.push_str(&i.to_string()),
                }
            }
            s
        };
        // The key escaped in place is the key escaped by replacing (`~` first, then `/`).
        for k in keys
            .iter()
            .copied()
            .chain(["~/", "/~", "~~//", "é/~ü", "a~0b", "~1"])
        {
            let mut s = String::from("x");
            push_key(k, &mut s);
            assert_eq!(
                s,
                format!("x{}", k.replace('~', "~0").replace('/', "~1")),
                "{k}"
            );
        }
        let mut shapes = Shapes::default();
        let mut recorded = Vec::new();
        for n in 0..2000usize {
            // A path of up to 5 segments chosen by the digits of n.
            let mut path = Vec::new();
            let mut m = n;
            for depth in 0..(n % 5 + 1) {
                if (m + depth) % 3 == 0 {
                    path.push(Seg::Index(m % 7 * 1000 + depth));
                } else {
                    path.push(Seg::Key(Cow::Borrowed(keys[m % keys.len()])));
                }
                m /= 3;
            }
            let (shape, start) = shapes.record(&path);
            recorded.push((direct(&path), shape, start));
        }
        assert!(shapes.shapes.len() < 2000);
        for (text, shape, start) in recorded {
            assert_eq!(shapes.text(shape, start), text);
        }
    }

    /// Keys: equal strings and only equal strings get equal keys, and each gives its string
    /// back, for UUIDs (in and out of the interned band), other urns and plain text.
    #[test]
    fn keys_are_exact_for_every_string() {
        let strings = [
            "urn:uuid:8f3b744a-93d9-433c-8d46-6ef68ac95052",
            "urn:uuid:ffffffff-ffff-ffff-0000-000000000000",
            "urn:uuid:ffffffff-ffff-ffff-0000-000000000001",
            "urn:uuid:00000000-0000-0000-0000-000000000000",
            "urn:uuid:8F3B744A-93D9-433C-8D46-6EF68AC95052",
            "urn:uuid:not-a-uuid",
            "Patient/1",
            "",
        ];
        let mut keys = Keys::default();
        let made: Vec<Key> = strings.iter().map(|s| keys.of(s)).collect();
        for (a, ka) in strings.iter().zip(&made) {
            assert_eq!(keys.text(*ka), *a);
            assert_eq!(keys.of(a), *ka);
            for (b, kb) in strings.iter().zip(&made) {
                assert_eq!(ka == kb, a == b, "{a} {b}");
            }
        }
    }
}
