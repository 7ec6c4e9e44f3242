//! A Bundle validated entry by entry: the one mechanism behind [`super::validate_value`] on
//! a Bundle (what `migx validate` reads from a file) and the check of a bundle as
//! `migx convert` writes it (no tree of the whole Bundle: each entry's tree exists only
//! while it is checked).
//!
//! What the whole-Bundle schemas check is split into the same checks on smaller pieces:
//! - the FHIR R4 Bundle shell on the Bundle's own fields (the *frame*: the Bundle with an
//!   empty `entry`), and on each entry against the shell's `Bundle_Entry`;
//! - each entry's resource against its own type's definition (`#/definitions/<Type>`);
//! - migx's Bundle profile on the frame (its root rules), each entry against
//!   `#/$defs/entry`, and its counts over all entries ("exactly one Patient") from each
//!   entry's match of the clause's item schema;
//! - the cross-entry links ([`super::links`]) from what each entry contributes.
//!
//! Violations keep the pointers (`/entry/N/resource/...`), messages, order and dedup of the
//! whole-Bundle validation: both schemas' violations come property by property in the
//! document's order, so the frame's violations at properties up to `entry` come before the
//! entries', the others (and the Bundle's own, at the root) after them.

use serde_json::Value;

use super::tape::{Tape, TapeJson};
use super::{
    collect, fhir_resource, internal, links::Links, schemas, truncate, Profile, Violation,
};
use super::{unescape_token, MAX_MESSAGE_CHARS};
use jsonschema::json::{Node as _, Object as _};

mod split;

/// Arrays of an entry's resource with more items than this are checked in chunks of this
/// many items ([`BundleCheck::entry_of`]).
pub(crate) const CHUNK: usize = 1024;

/// Whether a frame violation comes at or before the `entry` property: one at a property
/// when that property comes up to `entry` in the frame's document order (`order`: both
/// schemas check properties in the document's order); one at the root when its keyword
/// comes before `properties` in the schema (`keywords`: keywords are checked in the
/// schema's order).
fn at_or_before_entry(v: &Violation, order: &[&str], keywords: &[String]) -> bool {
    let Some(first) = v.pointer.split('/').nth(1) else {
        let at = |k: &str| keywords.iter().position(|x| x == k);
        return match (at(&v.rule), at("properties")) {
            (Some(rule), Some(properties)) => rule < properties,
            _ => false,
        };
    };
    let first = unescape_token(first);
    let Some(entry) = order.iter().position(|k| *k == "entry") else {
        return true;
    };
    order
        .iter()
        .position(|k| *k == first)
        .is_some_and(|p| p <= entry)
}

fn split(
    all: Vec<Violation>,
    order: &[&str],
    keywords: &[String],
) -> (Vec<Violation>, Vec<Violation>) {
    all.into_iter()
        .partition(|v| at_or_before_entry(v, order, keywords))
}

/// The checks of one Bundle, fed its frame, then each entry, then finished.
pub struct BundleCheck {
    profile: Profile,
    /// FHIR shell violations of the frame, at or before `entry` and after it.
    fhir_before: Vec<Violation>,
    fhir_after: Vec<Violation>,
    /// FHIR shell violations of the entries (`/entry/N/...`).
    fhir_entries: Vec<Violation>,
    /// Each entry's resource against its type.
    resources: Vec<Violation>,
    /// migx profile: the frame's violations, the entries' and the counts.
    migx_before: Vec<Violation>,
    migx_after: Vec<Violation>,
    migx_entries: Vec<Violation>,
    /// How many entries match each clause of `properties.entry.allOf`.
    counts: Vec<u64>,
    entries: usize,
    /// Whether `entry` is an array (else no entry is checked, as in the whole-Bundle schema).
    has_entries: bool,
    links: Links,
    /// [`BundleCheck::entry_of`]'s serialisation buffer, reused from entry to entry.
    buf: Vec<u8>,
    /// [`BundleCheck::entry_of`]'s tape of each entry, reused from entry to entry.
    tape: Tape,
    /// How many entries [`BundleCheck::entry_of`] found clean on their tape.
    pub(crate) tape_entries: usize,
    /// How many entries [`BundleCheck::entry_of`] checked in chunks (and found clean).
    pub(crate) split_entries: usize,
    /// [`CHUNK`] (smaller in tests).
    chunk: usize,
}

impl BundleCheck {
    /// Start with the Bundle's frame: the Bundle with `entry` empty (when it is an array;
    /// as it is otherwise), its properties in document order.
    pub fn new(frame: &Value, profile: Profile) -> BundleCheck {
        let has_entries = frame.get("entry").is_some_and(Value::is_array);
        let mut check = BundleCheck {
            profile,
            fhir_before: Vec::new(),
            fhir_after: Vec::new(),
            fhir_entries: Vec::new(),
            resources: Vec::new(),
            migx_before: Vec::new(),
            migx_after: Vec::new(),
            migx_entries: Vec::new(),
            counts: Vec::new(),
            entries: 0,
            has_entries,
            links: Links::default(),
            buf: Vec::new(),
            tape: Tape::default(),
            tape_entries: 0,
            split_entries: 0,
            chunk: CHUNK,
        };
        let keys: Vec<&str> = frame
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut fhir = Vec::new();
        match schemas::fhir() {
            Some(f) if f.check_shell(frame, "", &mut fhir) => {
                (check.fhir_before, check.fhir_after) = split(fhir, &keys, &f.bundle_keywords);
            }
            _ => check.fhir_before.push(internal("", "FHIR Bundle")),
        }
        if profile == Profile::Migx {
            let own = schemas::own();
            let mut migx = Vec::new();
            match own.frame.as_ref() {
                Some(v) => collect(v, frame, "", &mut migx),
                None => migx.push(internal("", "migx profile")),
            }
            (check.migx_before, check.migx_after) = split(migx, &keys, &own.frame_keywords);
            check.counts = vec![0; own.clauses.as_ref().map_or(0, Vec::len)];
        }
        check
    }

    /// The next entry of the Bundle's `entry` array (ignored when `entry` is not an array).
    pub fn entry(&mut self, entry: &Value) {
        if !self.has_entries {
            return;
        }
        let i = self.entries;
        self.entries += 1;
        let prefix = format!("/entry/{i}");
        if let Some(f) = schemas::fhir() {
            f.check_entry(entry, &prefix, &mut self.fhir_entries);
        }
        if let Some(res) = entry.get("resource") {
            fhir_resource(res, &format!("{prefix}/resource"), 1, &mut self.resources);
        }
        if self.profile != Profile::Migx {
            return;
        }
        let own = schemas::own();
        if let Some(v) = own.entry.as_ref() {
            collect(v, entry, &prefix, &mut self.migx_entries);
        }
        for (n, clause) in self.counts.iter_mut().zip(own.clauses.iter().flatten()) {
            if clause.item.is_valid(entry) {
                *n += 1;
            }
        }
        self.links.entry(entry);
    }

    /// The next entry, given as a typed value: checked as [`BundleCheck::entry`] checks its
    /// tree, without the tree of a big array. An array of the entry's resource with more
    /// than [`CHUNK`] items is never a tree as a whole: the resource is checked with it cut
    /// into chunks of [`CHUNK`] items, one at a time (the other big arrays at their first
    /// chunk); what the entry contributes to the cross-entry checks is given in the same
    /// order. Where splitting could change what the schemas say of an array (see
    /// [`schemas::Own::splittable`]) the entry is checked whole, and whenever any chunk has a
    /// violation the entry is checked again whole, so that the violations are exactly
    /// [`BundleCheck::entry`]'s.
    ///
    /// First the entry is recorded on a tape ([`super::tape`]: no tree) and judged there by
    /// the same compiled schemas; only an entry they do not all pass on its tape (or one the
    /// tape does not hold, or with an array of more than [`CHUNK`] items) is checked the way
    /// described above, so that its violations are exactly [`BundleCheck::entry`]'s.
    pub fn entry_of<T: serde::Serialize>(&mut self, entry: &T) -> Result<(), serde_json::Error> {
        if !self.has_entries {
            return Ok(());
        }
        let mut tape = std::mem::take(&mut self.tape);
        let clean = tape.record(entry, self.chunk).is_ok() && self.tape_is_clean(&tape);
        if clean {
            self.entries += 1;
            self.tape_entries += 1;
            if self.profile == Profile::Migx {
                self.links.entry_node::<TapeJson>(tape.root());
            }
        }
        if tape.capacity_bytes() <= 1 << 20 {
            self.tape = tape;
        }
        if clean {
            return Ok(());
        }
        self.entry_as_tree(entry)
    }

    /// Whether the entry on `tape` passes every per-entry check of [`BundleCheck::entry`]
    /// (else nothing is decided: the entry is checked as a tree); when it does, its matches
    /// of the profile's clauses are counted. Only what the tape's compiled schemas check as
    /// [`BundleCheck::entry`] would is judged here: an entry with a `resourceType` or a
    /// `response` of its own, a resource that is not one of the types the written graph
    /// holds or that has `contained`, are left to the tree.
    fn tape_is_clean(&mut self, tape: &Tape) -> bool {
        #[cfg(test)]
        if super::oracle::old_compiles().is_some() {
            return false;
        }
        let Some(fhir) = schemas::fhir() else {
            return false;
        };
        let Some(graph) = fhir.written_tape.as_ref() else {
            return false;
        };
        let entry = tape.root();
        let Some(members) = entry.as_object() else {
            return false;
        };
        let mut resource = None;
        for (k, v) in members.members() {
            match k {
                "resourceType" | "response" => return false,
                "resource" => resource = Some(v),
                _ => {}
            }
        }
        if !graph.is_valid(entry) {
            return false;
        }
        if let Some(res) = resource {
            let Some(fields) = res.as_object() else {
                return false;
            };
            let mut written = false;
            for (k, v) in fields.members() {
                match (k, v.as_string()) {
                    ("contained", _) => return false,
                    ("resourceType", Some(t)) => {
                        written =
                            schemas::COMMON_TYPES.contains(&t.as_ref()) && fhir.is_resource_type(&t)
                    }
                    _ => {}
                }
            }
            if !written || !graph.is_valid(res) {
                return false;
            }
        }
        if self.profile != Profile::Migx {
            return true;
        }
        let own = schemas::own();
        let (Some(check), Some(items)) = (own.entry_tape.as_ref(), own.clauses_tape.as_ref())
        else {
            return false;
        };
        if items.len() != self.counts.len() || !check.is_valid(entry) {
            return false;
        }
        for (n, item) in self.counts.iter_mut().zip(items) {
            if item.is_valid(entry) {
                *n += 1;
            }
        }
        true
    }

    /// [`BundleCheck::entry_of`] without the tape: the entry's tree, or its big arrays in
    /// chunks.
    fn entry_as_tree<T: serde::Serialize>(&mut self, entry: &T) -> Result<(), serde_json::Error> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        serde_json::to_writer(&mut buf, entry)?;
        // An array of n items is at least 2n + 1 bytes of compact JSON, so an entry shorter
        // than 2 (chunk + 1) + 1 bytes has no big array: its tree is made from the typed
        // value (the same tree its text parses to, without parsing it) and checked whole.
        let checked = match buf.len() < 2 * self.chunk + 3 {
            true => serde_json::to_value(entry).map(|tree| self.entry(&tree)),
            false => self.entry_bytes(&buf),
        };
        if buf.capacity() <= 1 << 20 {
            self.buf = buf;
        }
        checked
    }

    fn entry_bytes(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error> {
        let Some(mut split) = split::Split::of(bytes, self.chunk, self.profile) else {
            return self.entry_whole(bytes);
        };
        let Some(clause_hits) = self.split_is_clean(&mut split)? else {
            return self.entry_whole(bytes);
        };
        self.entries += 1;
        self.split_entries += 1;
        for (n, hit) in self.counts.iter_mut().zip(clause_hits) {
            *n += u64::from(hit);
        }
        if self.profile == Profile::Migx {
            split.links(&mut self.links)?;
        }
        Ok(())
    }

    fn entry_whole(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error> {
        let tree: Value = serde_json::from_slice(bytes)?;
        self.entry(&tree);
        Ok(())
    }

    /// Every check of [`BundleCheck::entry`] but the cross-entry ones, on each chunk of the
    /// split entry: `None` at the first violation, else which clauses the entry matches.
    fn split_is_clean(
        &self,
        split: &mut split::Split<'_>,
    ) -> Result<Option<Vec<bool>>, serde_json::Error> {
        let prefix = format!("/entry/{}", self.entries);
        let own = schemas::own();
        let mut found = Vec::new();
        let mut clean = |entry: &Value, first: bool| -> bool {
            if first {
                if let Some(f) = schemas::fhir() {
                    f.check_entry(entry, &prefix, &mut found);
                }
            }
            if let Some(res) = entry.get("resource") {
                fhir_resource(res, &format!("{prefix}/resource"), 1, &mut found);
            }
            if self.profile == Profile::Migx {
                match own.entry.as_ref() {
                    Some(v) if found.is_empty() => collect(v, entry, &prefix, &mut found),
                    _ => return false,
                }
            }
            found.is_empty()
        };
        if !split.each_chunk(&mut clean)? {
            return Ok(None);
        }
        let hits = match self.profile {
            Profile::Migx => own
                .clauses
                .iter()
                .flatten()
                .map(|c| c.item.is_valid(split.first()))
                .collect(),
            Profile::Fhir => Vec::new(),
        };
        Ok(Some(hits))
    }

    /// Big arrays are those of more than `chunk` items, checked `chunk` at a time.
    #[cfg(test)]
    pub(crate) fn with_chunk(mut self, chunk: usize) -> BundleCheck {
        self.chunk = chunk.max(1);
        self
    }

    /// The violations, in the order the whole-Bundle validation gives them (without their
    /// `entry`/`resource_type`/`resource_id`: [`super::validate_value`] fills those from the
    /// document).
    pub fn finish(self) -> Vec<Violation> {
        let mut out = self.fhir_before;
        out.extend(self.fhir_entries);
        out.extend(self.fhir_after);
        out.extend(self.resources);
        if self.profile != Profile::Migx {
            return out;
        }
        let own = schemas::own();
        let mut extra = self.migx_before;
        extra.extend(self.migx_entries);
        if self.has_entries {
            match own.clauses.as_ref() {
                Some(clauses) => {
                    for (clause, &n) in clauses.iter().zip(&self.counts) {
                        if n >= clause.min && clause.max.is_none_or(|m| n <= m) {
                            continue;
                        }
                        let message = match (&clause.description, clause.counted) {
                            (Some(d), true) => format!("expected {d}"),
                            (Some(d), false) => format!("no item matching: {d}"),
                            (None, _) => "no item matching the profile's rule".to_string(),
                        };
                        extra.push(Violation {
                            entry: None,
                            resource_type: None,
                            resource_id: None,
                            pointer: "/entry".into(),
                            rule: "contains".into(),
                            message: truncate(&message, MAX_MESSAGE_CHARS),
                            value: Some(format!("[array of {}]", self.entries)),
                        });
                    }
                }
                None => extra.push(internal("/entry", "migx profile")),
            }
        }
        extra.extend(self.migx_after);
        self.links.finish(&mut extra);
        for e in extra {
            if !out
                .iter()
                .any(|o| o.pointer == e.pointer && o.rule == e.rule && o.message == e.message)
            {
                out.push(e);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{oracle, validate_value, Profile, Violation};
    use serde_json::{json, Value};
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
    }

    fn valid() -> Value {
        let text = std::fs::read_to_string(root().join("fixtures/validate/valid/bundle-migx.json"))
            .expect("fixture");
        serde_json::from_str(&text).expect("json")
    }

    fn brief(v: &[Violation]) -> String {
        v.iter()
            .map(|v| {
                format!(
                    "{} [{}] {} ({:?}) {:?}",
                    v.pointer, v.rule, v.message, v.value, v.entry
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The per-entry mechanism gives what the whole-tree validation gave: the same
    /// violations (pointer, rule, message, value, located entry and resource), in order.
    fn same(doc: &Value, what: &str) -> usize {
        let mut n = 0;
        for profile in [Profile::Fhir, Profile::Migx] {
            let new = validate_value(doc, profile);
            let old = oracle::whole_tree(doc, profile);
            assert_eq!(
                new,
                old,
                "{what} ({profile:?}):\nper entry:\n{}\nwhole tree:\n{}",
                brief(&new),
                brief(&old)
            );
            // The one compiled FHIR graph gives what the separate compiles gave.
            let compiled_apart = oracle::with_old_compiles(|| validate_value(doc, profile));
            assert_eq!(
                new,
                compiled_apart,
                "{what} ({profile:?}):\none graph:\n{}\ncompiled apart:\n{}",
                brief(&new),
                brief(&compiled_apart)
            );
            n += new.len();
        }
        n
    }

    /// The first `reference` string in `v`, replaced by `to`.
    fn retarget(v: &mut Value, to: &str) -> bool {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get_mut("reference") {
                    *r = to.to_string();
                    return true;
                }
                m.values_mut().any(|c| retarget(c, to))
            }
            Value::Array(a) => a.iter_mut().any(|c| retarget(c, to)),
            _ => false,
        }
    }

    type Mutation = (&'static str, fn(&mut Value, usize));

    /// Ways to break one entry, each applied at every position.
    const ENTRY_MUTATIONS: &[Mutation] = &[
        ("no resource", |b, i| {
            b["entry"][i].as_object_mut().unwrap().remove("resource");
        }),
        ("resource not an object", |b, i| {
            b["entry"][i]["resource"] = json!(7)
        }),
        ("entry not an object", |b, i| b["entry"][i] = json!(7)),
        ("unknown resource type", |b, i| {
            b["entry"][i]["resource"]["resourceType"] = json!("Nope")
        }),
        ("a second Patient", |b, i| {
            b["entry"][i]["resource"]["resourceType"] = json!("Patient")
        }),
        ("a second Consent", |b, i| {
            b["entry"][i]["resource"]["resourceType"] = json!("Consent")
        }),
        ("a Provenance more", |b, i| {
            b["entry"][i]["resource"]["resourceType"] = json!("Provenance")
        }),
        ("AuditEvent", |b, i| {
            b["entry"][i]["resource"]["resourceType"] = json!("AuditEvent")
        }),
        ("no fullUrl", |b, i| {
            b["entry"][i].as_object_mut().unwrap().remove("fullUrl");
        }),
        ("duplicate fullUrl", |b, i| {
            let n = b["entry"].as_array().unwrap().len();
            b["entry"][i]["fullUrl"] = b["entry"][(i + 1) % n]["fullUrl"].clone();
        }),
        ("fullUrl not a UUID", |b, i| {
            b["entry"][i]["fullUrl"] = json!("urn:uuid:ABC")
        }),
        ("fullUrl not a string", |b, i| {
            b["entry"][i]["fullUrl"] = json!(5)
        }),
        ("fullUrl another UUID", |b, i| {
            b["entry"][i]["fullUrl"] = json!("urn:uuid:99999999-9999-4999-8999-999999999999")
        }),
        ("dangling reference", |b, i| {
            retarget(
                &mut b["entry"][i]["resource"],
                "urn:uuid:0f0f0f0f-0000-4000-8000-00000000dead",
            );
        }),
        ("dangling odd reference", |b, i| {
            retarget(&mut b["entry"][i]["resource"], "urn:uuid:Not/A~UUID");
        }),
        ("unknown properties", |b, i| {
            b["entry"][i]["zz"] = json!(1);
            b["entry"][i]["resource"]["zz"] = json!(1);
        }),
        ("bad id", |b, i| {
            b["entry"][i]["resource"]["id"] = json!("not valid!")
        }),
        ("no meta", |b, i| {
            if let Some(r) = b["entry"][i]["resource"].as_object_mut() {
                r.remove("meta");
            }
        }),
        ("entry removed", |b, i| {
            b["entry"].as_array_mut().unwrap().remove(i);
        }),
        ("entry duplicated", |b, i| {
            let e = b["entry"][i].clone();
            b["entry"].as_array_mut().unwrap().insert(i, e);
        }),
        ("nested bundle", |b, i| {
            let inner = b.clone();
            b["entry"][i]["resource"] = inner;
        }),
    ];

    /// Ways to break the Bundle's own fields (and where `entry` sits among them).
    const FRAME_MUTATIONS: &[Mutation] = &[
        ("as written", |_, _| {}),
        ("bad type and id", |b, _| {
            b["type"] = json!("nope");
            b["id"] = json!("bad id!");
        }),
        ("fields after entry", |b, _| {
            let m = b.as_object_mut().unwrap();
            let entry = m.shift_remove("entry").unwrap();
            let ty = m.shift_remove("type").unwrap();
            m.insert("entry".into(), entry);
            m.insert("type".into(), json!("nope"));
            m.insert("timestamp".into(), json!("garbage"));
            m.insert("zzz".into(), json!(1));
            let _ = ty;
        }),
        ("entry first", |b, _| {
            let m = b.as_object_mut().unwrap();
            let entry = m.shift_remove("entry").unwrap();
            m.shift_insert(0, "entry".into(), entry);
            m.insert("type".into(), json!("nope"));
        }),
        ("unknown field first", |b, _| {
            b.as_object_mut()
                .unwrap()
                .shift_insert(0, "aaa".into(), json!(1));
        }),
        ("no type", |b, _| {
            b.as_object_mut().unwrap().shift_remove("type");
        }),
    ];

    #[test]
    fn per_entry_equals_whole_tree_at_every_position() {
        let base = valid();
        let n = base["entry"].as_array().unwrap().len();
        let mut found = 0;
        for (frame_what, frame) in FRAME_MUTATIONS {
            let mut b = base.clone();
            frame(&mut b, 0);
            found += same(&b, frame_what);
            for (what, m) in ENTRY_MUTATIONS {
                for i in 0..n {
                    let mut b = b.clone();
                    m(&mut b, i);
                    found += same(&b, &format!("{frame_what}; {what} at entry {i}"));
                }
            }
        }
        assert!(found > 1000, "the mutations find violations: {found}");
        // Bundles whose entries are not a list of entries.
        for entry in [json!({"a": 1}), json!([]), json!("x"), Value::Null] {
            let mut b = base.clone();
            b["entry"] = entry;
            same(&b, "entry not a list");
        }
        let mut b = base.clone();
        b.as_object_mut().unwrap().shift_remove("entry");
        assert!(same(&b, "no entry") > 0);
    }

    #[test]
    fn named_broken_bundles_say_what_is_wrong() {
        let base = valid();
        let rules = |b: &Value| -> Vec<(String, String)> {
            validate_value(b, Profile::Migx)
                .into_iter()
                .map(|v| (v.pointer, v.message))
                .collect()
        };
        let mut b = base.clone();
        b["entry"].as_array_mut().unwrap().remove(0);
        assert!(rules(&b).contains(&("/entry".into(), "expected exactly one Patient".into())));
        let mut b = base.clone();
        let consent = b["entry"][3].clone();
        b["entry"].as_array_mut().unwrap().push(consent);
        let r = rules(&b);
        assert!(
            r.contains(&("/entry".into(), "expected exactly one Consent".into())),
            "{r:?}"
        );
        assert!(r
            .iter()
            .any(|(p, m)| p == "/entry/10/fullUrl" && m.contains("not unique")));
        let mut b = base.clone();
        retarget(
            &mut b["entry"][7]["resource"],
            "urn:uuid:0f0f0f0f-0000-4000-8000-00000000dead",
        );
        b["entry"][7]["resource"]["status"] = json!(12);
        let v = validate_value(&b, Profile::Migx);
        assert!(
            v.iter()
                .any(|v| v.rule == "reference" && v.entry == Some(7)),
            "{}",
            brief(&v)
        );
        assert!(
            v.iter().any(|v| v.pointer == "/entry/7/resource/status"),
            "{}",
            brief(&v)
        );
        same(&b, "dangling reference and a bad status in entry 7");
    }

    /// Every fixture's bundle, as `migx convert` makes it: the per-entry result is the
    /// whole-tree result (here: no violation at all).
    #[test]
    fn fixture_outputs_validate_the_same_per_entry() {
        let policy =
            std::sync::Arc::new(crate::policy::Policy::embedded_default().expect("policy"));
        let consent = std::sync::Arc::new(crate::consent::ConsentBook::all(
            crate::consent::ConsentDecision::Permit,
            "Y02345",
            "TREAT",
        ));
        let mut s = crate::settings::ConvertSettings::new(policy, consent);
        s.allow_test_identities = true;
        s.run_permitted_requesters = vec!["Y02345".to_string()];
        let mut bundles = 0;
        for dir in ["fixtures/extracts", "fixtures/gpconnect"] {
            let mut paths: Vec<_> = std::fs::read_dir(root().join(dir))
                .expect("fixtures")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "xml" || e == "json"))
                .collect();
            paths.sort();
            for p in paths {
                let c = crate::pipeline::convert_file(&p, &s);
                let Some(bundle) = c.bundle else { continue };
                let doc = serde_json::to_value(&bundle).expect("serialises");
                assert_eq!(same(&doc, &p.display().to_string()), 0, "{}", p.display());
                bundles += 1;
            }
        }
        assert!(bundles >= 10, "{bundles} fixture bundles");
    }

    /// `bundle` checked entry by entry both ways: each entry's tree ([`BundleCheck::entry`])
    /// and each entry as a value with its big arrays in chunks ([`BundleCheck::entry_of`]).
    fn both_ways(
        bundle: &Value,
        profile: Profile,
        chunk: usize,
    ) -> (Vec<Violation>, Vec<Violation>, usize) {
        let mut frame = bundle.clone();
        frame["entry"] = json!([]);
        let entries = bundle["entry"].as_array().unwrap();
        let mut whole = super::BundleCheck::new(&frame, profile);
        let mut split = super::BundleCheck::new(&frame, profile).with_chunk(chunk);
        for e in entries {
            whole.entry(e);
            split.entry_of(e).unwrap();
        }
        let n = split.split_entries;
        (whole.finish(), split.finish(), n)
    }

    /// The fixture with a List of more than three chunks of members and a Provenance with as
    /// many targets (each naming entries of the bundle).
    fn with_big_arrays(chunk: usize) -> Value {
        let mut b = valid();
        let urls: Vec<Value> = b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["fullUrl"].clone())
            .collect();
        let n = 3 * chunk + 7;
        let members: Vec<Value> = (0..n)
            .map(|k| json!({ "item": { "reference": urls[6 + k % 4] } }))
            .collect();
        b["entry"][5]["resource"]["entry"] = Value::Array(members);
        let mut targets = b["entry"][4]["resource"]["target"]
            .as_array()
            .unwrap()
            .clone();
        while targets.len() <= n {
            targets.push(json!({ "reference": urls[6 + targets.len() % 4] }));
        }
        b["entry"][4]["resource"]["target"] = Value::Array(targets);
        b
    }

    type ItemMutation = (&'static str, fn(&mut Value));

    /// Ways to break one item of a big array.
    const ITEM_MUTATIONS: &[ItemMutation] = &[
        ("reference not a UUID", |v| {
            v["reference"] = json!("urn:uuid:X")
        }),
        ("dangling reference", |v| {
            v["reference"] = json!("urn:uuid:0f0f0f0f-0000-4000-8000-00000000dead")
        }),
        ("unknown property", |v| v["zz"] = json!(1)),
        ("not an object", |v| *v = json!(7)),
        ("reference not a string", |v| v["reference"] = json!(3)),
        ("no reference", |v| {
            if let Some(m) = v.as_object_mut() {
                m.clear();
            }
        }),
    ];

    /// The chunked check gives exactly what the whole tree gives (pointers, rules, messages,
    /// values, order), with the break at every kind of position: each chunk's first and
    /// last item, the array's last, in the List's members and the Provenance's targets,
    /// and on the resources' other fields; and the clean bundle is checked in chunks.
    #[test]
    fn big_arrays_in_chunks_equal_the_whole_tree_at_every_position() {
        // At the size convert uses, and (below) with chunks of 8 items, the same mechanism.
        let real = with_big_arrays(super::CHUNK);
        for profile in [Profile::Fhir, Profile::Migx] {
            let (whole, split, n) = both_ways(&real, profile, super::CHUNK);
            assert!(whole.is_empty(), "{}", brief(&whole));
            assert_eq!(split, whole);
            assert_eq!(n, 2, "the List and the Provenance are checked in chunks");
        }
        let c = 8;
        let base = with_big_arrays(c);
        for profile in [Profile::Fhir, Profile::Migx] {
            let (whole, split, n) = both_ways(&base, profile, c);
            assert!(whole.is_empty(), "{}", brief(&whole));
            assert_eq!(split, whole);
            assert_eq!(n, 2, "the List and the Provenance are checked in chunks");
        }
        let len = base["entry"][5]["resource"]["entry"]
            .as_array()
            .unwrap()
            .len();
        let positions = [0, 1, c - 1, c, c + 1, 2 * c - 1, 2 * c, 3 * c, len - 1];
        let mut found = 0;
        for (what, m) in ITEM_MUTATIONS {
            for &k in &positions {
                for (entry, field, inner) in [(5, "entry", true), (4, "target", false)] {
                    let mut b = base.clone();
                    let item = &mut b["entry"][entry]["resource"][field][k];
                    if inner {
                        m(&mut item["item"]);
                    } else {
                        m(item);
                    }
                    for profile in [Profile::Fhir, Profile::Migx] {
                        let (whole, split, _) = both_ways(&b, profile, c);
                        assert_eq!(
                            split,
                            whole,
                            "{what} at {field}/{k} ({profile:?}):\nchunks:\n{}\nwhole:\n{}",
                            brief(&split),
                            brief(&whole)
                        );
                        found += whole.len();
                    }
                }
            }
        }
        // The resources' own fields, and arrays changed as a whole.
        let resource_mutations: &[ItemMutation] = &[
            ("bad status", |r| r["status"] = json!(12)),
            ("bad id", |r| r["id"] = json!("not valid!")),
            ("unknown field", |r| r["zz"] = json!(1)),
            ("no meta", |r| {
                r.as_object_mut().unwrap().remove("meta");
            }),
            ("a contained resource", |r| {
                r["contained"] = json!([{ "resourceType": "Patient", "gender": 1 }])
            }),
            ("the array first", |r| {
                let m = r.as_object_mut().unwrap();
                let k = m.keys().nth(3).unwrap().clone();
                let v = m.shift_remove(&k).unwrap();
                m.shift_insert(0, k, v);
            }),
        ];
        for (what, m) in resource_mutations {
            for entry in [4, 5] {
                let mut b = base.clone();
                m(&mut b["entry"][entry]["resource"]);
                for profile in [Profile::Fhir, Profile::Migx] {
                    let (whole, split, _) = both_ways(&b, profile, c);
                    assert_eq!(split, whole, "{what} in entry {entry} ({profile:?})");
                    found += whole.len();
                }
            }
        }
        // A Provenance that misses an entry only in its last chunk is still told.
        let mut b = base.clone();
        let urls: Vec<Value> = (0..10).map(|i| b["entry"][i]["fullUrl"].clone()).collect();
        let targets = b["entry"][4]["resource"]["target"].as_array_mut().unwrap();
        for t in targets.iter_mut() {
            if t["reference"] == urls[9] {
                t["reference"] = urls[6].clone();
            }
        }
        let (whole, split, _) = both_ways(&b, Profile::Migx, c);
        assert!(
            whole.iter().any(|v| v.rule == "provenance-target"),
            "{}",
            brief(&whole)
        );
        assert_eq!(split, whole);
        assert!(found > 100, "the mutations find violations: {found}");
    }

    /// Which arrays may be checked in chunks: those migx's profile says no more of than
    /// `items`, a `contains` that must hold and `minItems` 1 (a List's members, the
    /// Provenance's targets); not those it counts or speaks of under a condition.
    #[test]
    fn which_arrays_are_checked_in_chunks() {
        use super::schemas::splittable;
        for key in ["entry", "target", "agent", "entity", "note", "anything"] {
            assert!(splittable(key, Profile::Migx), "{key}");
            assert!(splittable(key, Profile::Fhir), "{key}");
        }
        // Patient.identifier has maxItems 1; a List's extension is read by an `if`.
        for key in ["identifier", "extension"] {
            assert!(!splittable(key, Profile::Migx), "{key}");
            assert!(splittable(key, Profile::Fhir), "{key}");
        }
    }

    /// One entry judged alone both ways: whether its tape passes ([`BundleCheck::entry_of`]'s
    /// fast path) and whether its tree has no violation of its own ([`BundleCheck::entry`]),
    /// with the clause matches each counts.
    fn one_entry_both_ways(frame: &Value, e: &Value, profile: Profile) -> (bool, bool, bool) {
        let mut tree = super::BundleCheck::new(frame, profile);
        tree.entry(e);
        let tree_clean = tree.fhir_entries.is_empty()
            && tree.resources.is_empty()
            && tree.migx_entries.is_empty();
        let mut tape = super::Tape::default();
        let mut check = super::BundleCheck::new(frame, profile);
        let tape_clean = tape.record(e, super::CHUNK).is_ok() && check.tape_is_clean(&tape);
        if tape_clean {
            assert_eq!(check.counts, tree.counts, "the clauses the entry matches");
        }
        // The entries the tape judges: of a type the written graph holds, no `contained`,
        // no `resourceType` or `response` of the entry's own.
        let resource = &e["resource"];
        let judged = e.get("resourceType").is_none()
            && e.get("response").is_none()
            && resource.get("contained").is_none()
            && resource["resourceType"]
                .as_str()
                .is_some_and(|t| super::schemas::COMMON_TYPES.contains(&t));
        (tape_clean, tree_clean, judged)
    }

    /// The tape's check of an entry under migx's profile, compiled with the profile's per-type
    /// clauses chained ([`schemas::chain_type_clauses`]), has the verdict of the profile as
    /// written (the tree's check of `#/$defs/entry`): on every entry of the fixture, with every
    /// entry mutation at every position, and each of those again with its `resourceType` made
    /// each type the profile names (so every type's clause meets every other type's
    /// resources, valid or not).
    #[test]
    fn the_chained_profile_judges_every_entry_as_the_profile_as_written() {
        use crate::validate::schemas;
        let own = schemas::own();
        let (written, chained) = (
            own.entry.as_ref().unwrap(),
            own.entry_tape.as_ref().unwrap(),
        );
        let types: Vec<String> = serde_json::from_str::<Value>(schemas::MIGX_BUNDLE_SCHEMA)
            .unwrap()
            .pointer("/$defs/resource/properties/resourceType/enum")
            .and_then(Value::as_array)
            .expect("the profile names its types")
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        assert!(types.len() >= 15, "{types:?}");
        let base = valid();
        let n = base["entry"].as_array().unwrap().len();
        let (mut judged, mut refused) = (0, 0);
        let mut tape = super::Tape::default();
        for (what, m) in ENTRY_MUTATIONS
            .iter()
            .chain([&("as written", (|_, _| {}) as fn(&mut Value, usize))])
        {
            for i in 0..n {
                let mut b = base.clone();
                m(&mut b, i);
                let Some(e) = b["entry"].get(i).cloned() else {
                    continue;
                };
                for t in std::iter::once(None).chain(types.iter().map(Some)) {
                    let mut e = e.clone();
                    if let (Some(t), Some(r)) = (t, e.get_mut("resource")) {
                        if r.is_object() {
                            r["resourceType"] = json!(t);
                        }
                    }
                    tape.record(&e, super::CHUNK).expect("recorded");
                    let verdict = written.is_valid(&e);
                    assert_eq!(
                        chained.is_valid(tape.root()),
                        verdict,
                        "{what} at {i}, as {t:?}"
                    );
                    judged += 1;
                    refused += usize::from(!verdict);
                }
            }
        }
        // Both verdicts were met many times, not one of them only.
        assert!(
            judged > 1000 && refused > 500 && judged - refused > 100,
            "{judged} {refused}"
        );
    }

    /// The tape's verdict is the tree's, never weaker: on every entry of the fixture, with
    /// every entry mutation at every position (and the frame mutations), an entry passes on
    /// its tape only when its tree has no violation, and every entry whose tree has none and
    /// that the tape judges passes on it; the whole bundle checked through
    /// [`BundleCheck::entry_of`] gives exactly what [`BundleCheck::entry`] gives.
    #[test]
    fn the_tape_judges_every_entry_as_its_tree_at_every_position() {
        let base = valid();
        let n = base["entry"].as_array().unwrap().len();
        let (mut passed, mut failed) = (0, 0);
        for (frame_what, frame_mutation) in FRAME_MUTATIONS {
            let mut b = base.clone();
            frame_mutation(&mut b, 0);
            for (what, m) in ENTRY_MUTATIONS
                .iter()
                .chain([&("as written", (|_, _| {}) as fn(&mut Value, usize))])
            {
                for i in 0..n {
                    let mut b = b.clone();
                    m(&mut b, i);
                    let Some(entries) = b["entry"].as_array().cloned() else {
                        continue;
                    };
                    let mut frame = b.clone();
                    frame["entry"] = json!([]);
                    for profile in [Profile::Fhir, Profile::Migx] {
                        for (k, e) in entries.iter().enumerate() {
                            let (tape, tree, judged) = one_entry_both_ways(&frame, e, profile);
                            let at =
                                format!("{frame_what}; {what} at {i}, entry {k} ({profile:?})");
                            assert!(
                                !tape || tree,
                                "the tape passed what the tree does not: {at}"
                            );
                            assert!(
                                !(tree && judged) || tape,
                                "the tape refused a clean entry: {at}"
                            );
                            match tape {
                                true => passed += 1,
                                false => failed += 1,
                            }
                        }
                        let (whole, by_value, _) = both_ways(&b, profile, super::CHUNK);
                        assert_eq!(
                            by_value,
                            whole,
                            "{frame_what}; {what} at entry {i} ({profile:?}):\nentry_of:\n{}\nentry:\n{}",
                            brief(&by_value),
                            brief(&whole)
                        );
                    }
                }
            }
        }
        assert!(
            passed > 1000 && failed > 100,
            "{passed} passed, {failed} failed"
        );
    }

    /// Every fixture's bundle as `migx convert` makes it, checked from its typed entries:
    /// every entry passes on its tape, and the verdict is the trees' (none).
    #[test]
    fn fixture_entries_pass_on_their_tape() {
        let policy =
            std::sync::Arc::new(crate::policy::Policy::embedded_default().expect("policy"));
        let consent = std::sync::Arc::new(crate::consent::ConsentBook::all(
            crate::consent::ConsentDecision::Permit,
            "Y02345",
            "TREAT",
        ));
        let mut s = crate::settings::ConvertSettings::new(policy, consent);
        s.allow_test_identities = true;
        s.run_permitted_requesters = vec!["Y02345".to_string()];
        let mut entries = 0;
        for dir in ["fixtures/extracts", "fixtures/gpconnect"] {
            let mut paths: Vec<_> = std::fs::read_dir(root().join(dir))
                .expect("fixtures")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "xml" || e == "json"))
                .collect();
            paths.sort();
            for p in paths {
                let c = crate::pipeline::convert_file(&p, &s);
                let Some(bundle) = c.bundle else { continue };
                let mut frame = serde_json::to_value(&bundle).expect("serialises");
                frame["entry"] = json!([]);
                for profile in [Profile::Fhir, Profile::Migx] {
                    let mut typed = super::BundleCheck::new(&frame, profile);
                    let mut tree = super::BundleCheck::new(&frame, profile);
                    for e in &bundle.entry {
                        typed.entry_of(e).expect("serialises");
                        tree.entry(&serde_json::to_value(e).expect("serialises"));
                        let v = serde_json::to_value(e).expect("serialises");
                        let (tape, clean, _) = one_entry_both_ways(&frame, &v, profile);
                        assert!(tape && clean, "{}", p.display());
                    }
                    assert_eq!(typed.tape_entries, bundle.entry.len(), "{}", p.display());
                    let typed = typed.finish();
                    assert!(typed.is_empty(), "{}: {}", p.display(), brief(&typed));
                    assert_eq!(typed, tree.finish());
                }
                entries += bundle.entry.len();
            }
        }
        assert!(entries >= 100, "{entries} fixture entries");
    }
}
