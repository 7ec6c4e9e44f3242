//! The run records, typed and serialised with serde: each input's audit lines
//! ([`AuditLine`]), the run's totals ([`RunTotals`], counted by typed keys), `summary.json`
//! ([`Summary`], also what `migx summary` merges); the reading of an access-audit AuditEvent
//! is `access::DisclosureRecord`, beside the writing. Field order is the order the
//! files have always had, so the bytes are unchanged.

use crate::error::{ErrorCode, InputError};
use crate::input::InputFile;
use crate::outcome::PatientWithheld;
use crate::outcome::{Conversion, Status};
use crate::policy::config::ExclusionRecord;
use crate::policy::decide::{Category, WithheldReason};
use crate::settings::ConvertSettings;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

use super::walk::SkipReason;

/// A key the run records count by, written as its stable string.
pub trait Named: Copy + Ord {
    /// The stable string of the audit, the summary and the end-of-run table.
    fn name(self) -> &'static str;
}

macro_rules! named {
    ($($t:ty),*) => {$(
        impl Named for $t {
            fn name(self) -> &'static str {
                self.as_str()
            }
        }
    )*};
}
named!(
    Status,
    PatientWithheld,
    ErrorCode,
    Category,
    WithheldReason,
    SkipReason
);

/// Counts per typed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally<K>(BTreeMap<K, usize>);

impl<K> Default for Tally<K> {
    fn default() -> Self {
        Tally(BTreeMap::new())
    }
}

impl<K: Named> Tally<K> {
    /// Count `n` more of `k`.
    pub fn add(&mut self, k: K, n: usize) {
        *self.0.entry(k).or_insert(0) += n;
    }
    /// How many of `k` (0 when none).
    pub fn get(&self, k: K) -> usize {
        self.0.get(&k).copied().unwrap_or(0)
    }
    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The sum of every count.
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }
    /// Every key counted with its count, sorted by the key's stable string: the order
    /// `summary.json` and the end-of-run table list them in.
    pub fn by_name(&self) -> Vec<(K, usize)> {
        let mut v: Vec<(K, usize)> = self.0.iter().map(|(k, n)| (*k, *n)).collect();
        v.sort_by_key(|(k, _)| k.name());
        v
    }
    /// The counts keyed by stable string, as `summary.json` writes them.
    pub fn named(&self) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .map(|(k, n)| (k.name().to_string(), *n as u64))
            .collect()
    }
}

/// Counts for the summary and the end-of-run table.
#[derive(Debug, Clone, Default)]
pub struct RunTotals {
    /// Inputs in this run.
    pub inputs: usize,
    /// Inputs per status.
    pub by_status: Tally<Status>,
    /// Withheld inputs per patient-level reason.
    pub file_reasons: Tally<PatientWithheld>,
    /// Rejected inputs per error code.
    pub error_codes: Tally<ErrorCode>,
    /// Shared items per category.
    pub items_shared: Tally<Category>,
    /// Withheld items per reason.
    pub items_withheld: Tally<WithheldReason>,
    /// Shared items whose free text was removed.
    pub text_removed: usize,
    /// Input bytes read.
    pub bytes: u64,
    /// `--fail-fast` stopped the run before every input was processed.
    pub stopped_early: bool,
    /// An earlier run of the same manifest into this folder was interrupted: its journal
    /// held this many records, which this run completed.
    pub resumed: Option<usize>,
    /// Records disclosed so far: bundles published (ndjson: records, once the files are).
    pub disclosed: usize,
    /// No SNOMED CT release was loaded, so items coded only by description ids were withheld
    /// (`unresolved-code`).
    pub no_snomed_release: bool,
    /// How far sensitive SNOMED CT codes were matched (IS-A subtypes with a release's
    /// hierarchy, or only exact matches and Read v2/CTV3 prefixes), for the end-of-run table.
    pub hierarchy: String,
    /// Every rejected input, in input order: its path as the audit shows it, and why (the
    /// message names file positions and migx's element names only, never patient data).
    pub rejected: Vec<(String, InputError)>,
    /// Every withheld input, in input order, with its patient-level reason.
    pub withheld: Vec<(String, PatientWithheld)>,
    /// Files the folder walk left out, per reason (not inputs).
    pub skipped: Tally<SkipReason>,
}

/// What the operator can do about items withheld because no SNOMED CT release was loaded
/// (printed at the end of a run, in `summary.json` and in the HTML report).
pub const NO_SNOMED_RELEASE_ADVICE: &str = "these items are coded only by SNOMED CT description ids, which need a release to resolve: load a SNOMED CT UK release (--snomed <RF2 folder, or an index made by `migx snomed index`>, or the policy's snomed_release) and convert again";

impl RunTotals {
    /// Items withheld only because no SNOMED CT release was loaded (`unresolved-code` items
    /// of a run without a release; with a release they are ids it does not hold).
    pub fn withheld_no_snomed_release(&self) -> usize {
        if self.no_snomed_release {
            self.items_withheld.get(WithheldReason::UnresolvedCode)
        } else {
            0
        }
    }
}

/// One line of `audit.ndjson`: an input's `file` line, then one line per item not shared
/// (`item`) or shared with its free text removed (`text`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AuditLine<'a> {
    /// What became of the input.
    File(FileLine<'a>),
    /// An item not shared, and why.
    Item(ItemLine<'a>),
    /// A shared item whose free text was removed.
    Text(ItemLine<'a>),
}

impl AuditLine<'_> {
    /// The input the line is about, as the audit shows it.
    pub fn input(&self) -> &str {
        match self {
            AuditLine::File(f) => &f.input,
            AuditLine::Item(i) | AuditLine::Text(i) => &i.input,
        }
    }
}

/// An input's `file` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLine<'a> {
    /// The input's path, NHS numbers masked ([`InputFile::shown`]).
    pub input: Cow<'a, str>,
    /// How it ended.
    pub status: Status,
    /// The patient-level reason (withheld) or the error code (rejected).
    pub reason: Option<Cow<'a, str>>,
    /// The disclosed bundle, relative to the output folder (`ndjson/` for ndjson).
    pub bundle: Option<Cow<'a, str>>,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorLine<'a>>,
}

/// A rejection as the audit records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorLine<'a> {
    /// The error code.
    pub code: Cow<'a, str>,
    /// The message (file positions and migx's element names only).
    pub message: Cow<'a, str>,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// The element being read, when known.
    pub element: Option<Cow<'a, str>>,
}

/// An item's line (`item` or `text`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemLine<'a> {
    /// The input's path, as on its `file` line.
    pub input: Cow<'a, str>,
    /// The item's non-revealing id.
    pub source_id: Cow<'a, str>,
    /// The construct.
    pub element: Cow<'a, str>,
    /// Its category, when known.
    pub category: Option<Cow<'a, str>>,
    /// The rule.
    pub reason: Cow<'a, str>,
}

/// The audit lines of one input: its `file` line, then its items in order.
pub fn audit_lines<'a>(
    shown: &'a str,
    c: &'a Conversion,
    bundle: Option<&'a str>,
) -> impl Iterator<Item = AuditLine<'a>> {
    let reason = c
        .withheld
        .map(PatientWithheld::as_str)
        .or(c.error.as_ref().map(|e| e.code.as_str()));
    let file = AuditLine::File(FileLine {
        input: Cow::Borrowed(shown),
        status: c.status,
        reason: reason.map(Cow::Borrowed),
        bundle: bundle.map(Cow::Borrowed),
        error: c.error.as_ref().map(|e| ErrorLine {
            code: Cow::Borrowed(e.code.as_str()),
            message: Cow::Borrowed(&e.message),
            line: e.line,
            column: e.column,
            element: e.element.as_deref().map(Cow::Borrowed),
        }),
    });
    let items = c.items.iter().map(move |it| {
        let line = ItemLine {
            input: Cow::Borrowed(shown),
            source_id: Cow::Borrowed(&it.source_id),
            element: Cow::Borrowed(it.element),
            category: it.category.map(|c| Cow::Borrowed(c.as_str())),
            reason: Cow::Borrowed(it.reason.as_str()),
        };
        if it.text_only {
            AuditLine::Text(line)
        } else {
            AuditLine::Item(line)
        }
    });
    std::iter::once(file).chain(items)
}

pub(super) fn write_audit(out: &mut Vec<u8>, f: &InputFile, c: &Conversion, bundle: Option<&str>) {
    // Masked once per input, not once per audited item.
    let shown = f.shown();
    let mut lines = audit_lines(&shown, c, bundle);
    if let Some(file) = lines.next() {
        if serde_json::to_writer(&mut *out, &file).is_ok() {
            out.push(b'\n');
        }
    }
    // The item lines (one per item not shared: most of an audit) written as serde writes
    // an `AuditLine` (tests hold them to it), with the input's path quoted once per input.
    let mut input = Vec::new();
    json_string(&mut input, &shown);
    // Room for every item line at once (an id, an element, a category and a reason are
    // under 120 bytes with the keys), not grown by copying as the lines come.
    out.reserve(c.items.len() * (input.len() + 120));
    for line in lines {
        let (kind, it) = match &line {
            AuditLine::Item(it) => ("item", it),
            AuditLine::Text(it) => ("text", it),
            AuditLine::File(_) => continue,
        };
        write_item_line(out, kind, &input, it);
    }
}

/// One `item` or `text` line, byte for byte what `serde_json::to_writer` writes for the
/// [`AuditLine`] (`input_json` is the line's input already quoted), and its line break.
fn write_item_line(out: &mut Vec<u8>, kind: &str, input_json: &[u8], it: &ItemLine<'_>) {
    out.extend_from_slice(b"{\"kind\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"input\":");
    out.extend_from_slice(input_json);
    out.extend_from_slice(b",\"source_id\":");
    json_string(out, &it.source_id);
    out.extend_from_slice(b",\"element\":");
    json_string(out, &it.element);
    out.extend_from_slice(b",\"category\":");
    match &it.category {
        Some(c) => json_string(out, c),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"reason\":");
    json_string(out, &it.reason);
    out.extend_from_slice(b"}\n");
}

/// `s` as a JSON string, as serde_json writes it: as it is between quotes when it holds
/// nothing serde_json escapes (a quote, a backslash, a control character), through
/// serde_json otherwise.
fn json_string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

pub(super) fn tally(t: &mut RunTotals, c: &Conversion) {
    t.by_status.add(c.status, 1);
    t.bytes += c.bytes;
    if let Some(r) = c.withheld {
        t.file_reasons.add(r, 1);
    }
    if let Some(e) = &c.error {
        t.error_codes.add(e.code, 1);
    }
    for (cat, n) in &c.shared {
        t.items_shared.add(*cat, *n);
    }
    for it in &c.items {
        if it.text_only {
            t.text_removed += 1;
        } else {
            t.items_withheld.add(it.reason, 1);
        }
    }
}

/// Counts in a fixed order of keys (`items_shared`: every category, in the order bundles
/// list them), written as a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderedCounts(pub Vec<(String, u64)>);

impl OrderedCounts {
    /// The count of `key`, when it is listed.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, n)| *n)
    }
}

impl Serialize for OrderedCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, n)| (k, n)))
    }
}

impl<'de> Deserialize<'de> for OrderedCounts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedCounts;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of counts")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some((k, n)) = m.next_entry::<String, u64>()? {
                    v.push((k, n));
                }
                Ok(OrderedCounts(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// `summary.json`: what a run (or a merge of runs) did, counts and the terms it ran under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The migx version that wrote it.
    pub migx_version: String,
    /// The policy's name and version.
    pub policy: PolicyName,
    /// SHA-256 of the policy.
    pub policy_sha256: String,
    /// The SNOMED CT release loaded, if any.
    pub snomed_release: Option<String>,
    /// What the sensitive-code check rested on (the policy's own record of its refsets).
    pub exclusion_refsets: ExclusionRecord,
    /// `consent-file` or `operator-assertion`.
    pub consent_source: String,
    /// Inputs.
    pub inputs: u64,
    /// Inputs converted.
    pub converted: u64,
    /// Inputs withheld.
    pub withheld: u64,
    /// Inputs rejected.
    pub rejected: u64,
    /// `--fail-fast` stopped the run early.
    pub stopped_early: bool,
    /// Withheld inputs per patient-level reason.
    pub file_reasons: BTreeMap<String, u64>,
    /// Rejected inputs per error code.
    pub error_codes: BTreeMap<String, u64>,
    /// Shared items per category (every category).
    pub items_shared: OrderedCounts,
    /// Withheld items per reason.
    pub items_withheld: BTreeMap<String, u64>,
    /// Shared items whose free text was removed.
    pub free_text_removed: u64,
    /// Items withheld because no SNOMED CT release was loaded.
    pub withheld_no_snomed_release: u64,
    /// What to do about those items, when there can be any.
    pub snomed_advice: Option<String>,
    /// Input bytes read.
    pub input_bytes: u64,
    /// Files the folder walk left out, per reason.
    pub skipped: BTreeMap<String, u64>,
    /// Who and what for the run could disclose to.
    pub permitted: Permitted,
    /// This run's share of a fan-out (`convert --shard K/N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRecord>,
}

/// A policy's name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyName {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The requesting organisations and purposes of use a run could disclose to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permitted {
    /// The policy's `permitted_requesters`, then those added with `--permit-requester`.
    pub requesters: Vec<PermittedRequester>,
    /// The purposes of use the policy permits.
    pub purposes: Vec<String>,
}

/// One permitted requesting organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermittedRequester {
    /// Its ODS code.
    pub ods_code: String,
    /// Its name (policy requesters only).
    pub name: Option<String>,
    /// Its role (policy requesters only).
    pub role: Option<String>,
    /// `policy` or `--permit-requester`.
    pub source: String,
}

/// A shard's place in its fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// `K`.
    pub index: u32,
    /// `N`.
    pub count: u32,
}

/// The summary of a run with these totals under these settings.
pub fn summary(t: &RunTotals, s: &ConvertSettings, shard: Option<crate::batch::Shard>) -> Summary {
    Summary {
        migx_version: env!("CARGO_PKG_VERSION").to_string(),
        policy: PolicyName {
            name: s.policy.name().to_string(),
            version: s.policy.version().to_string(),
        },
        policy_sha256: s.policy.sha256().to_string(),
        snomed_release: s.policy.snomed_release_version(),
        exclusion_refsets: s.exclusion_basis().summary_record(),
        consent_source: if s.consent.is_operator_assertion() {
            "operator-assertion"
        } else {
            "consent-file"
        }
        .to_string(),
        inputs: t.inputs as u64,
        converted: t.by_status.get(Status::Converted) as u64,
        withheld: t.by_status.get(Status::Withheld) as u64,
        rejected: t.by_status.get(Status::Rejected) as u64,
        stopped_early: t.stopped_early,
        file_reasons: t.file_reasons.named(),
        error_codes: t.error_codes.named(),
        items_shared: OrderedCounts(
            Category::ALL
                .iter()
                .map(|c| (c.as_str().to_string(), t.items_shared.get(*c) as u64))
                .collect(),
        ),
        items_withheld: t.items_withheld.named(),
        free_text_removed: t.text_removed as u64,
        withheld_no_snomed_release: t.withheld_no_snomed_release() as u64,
        snomed_advice: t
            .no_snomed_release
            .then(|| NO_SNOMED_RELEASE_ADVICE.to_string()),
        input_bytes: t.bytes,
        skipped: t.skipped.named(),
        permitted: permitted(s),
        shard: shard.map(|s| ShardRecord {
            index: s.index,
            count: s.count,
        }),
    }
}

/// The requesting organisations and purposes of use the run could disclose to: the policy's
/// `permitted_requesters` and those added for the run with `--permit-requester`.
fn permitted(s: &ConvertSettings) -> Permitted {
    let policy = s.policy.permitted_requesters();
    let mut requesters: Vec<PermittedRequester> = policy
        .iter()
        .map(|r| PermittedRequester {
            ods_code: r.ods_code.clone(),
            name: Some(r.name.clone()),
            role: Some(r.role.clone()),
            source: "policy".into(),
        })
        .collect();
    let mut run: Vec<&String> = s
        .run_permitted_requesters
        .iter()
        .filter(|o| !policy.iter().any(|r| &r.ods_code == *o))
        .collect();
    run.sort();
    run.dedup();
    requesters.extend(run.into_iter().map(|o| PermittedRequester {
        ods_code: o.clone(),
        name: None,
        role: None,
        source: "--permit-requester".into(),
    }));
    Permitted {
        requesters,
        purposes: s.policy.permitted_purposes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{ConsentBook, ConsentDecision};
    use crate::outcome::AuditItem;
    use crate::policy::Policy;
    use serde_json::Value as Json;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// The hand-written item lines are byte for byte serde's `AuditLine`, for both kinds,
    /// with and without a category, and every string holding nothing to escape, quotes,
    /// backslashes, every control character, DEL and non-ASCII text.
    #[test]
    fn item_lines_are_what_serde_writes() {
        let mut texts: Vec<String> = vec![
            String::new(),
            "ObservationStatement".into(),
            "a\"b".into(),
            "back\\slash".into(),
            "\u{7f}".into(),
            "é Ω 😀".into(),
            "/path/with spaces/x.xml".into(),
        ];
        texts.extend((0u8..0x20).map(|b| format!("x{}y", b as char)));
        for input in &texts {
            let mut quoted = Vec::new();
            json_string(&mut quoted, input);
            assert_eq!(quoted, serde_json::to_vec(input).unwrap());
            for text in &texts {
                for category in [None, Some(Cow::Borrowed(text.as_str()))] {
                    let line = ItemLine {
                        input: Cow::Borrowed(input),
                        source_id: Cow::Borrowed(text),
                        element: Cow::Borrowed(text),
                        category,
                        reason: Cow::Borrowed(text),
                    };
                    for (kind, whole) in [
                        ("item", AuditLine::Item(line.clone())),
                        ("text", AuditLine::Text(line.clone())),
                    ] {
                        let mut ours = Vec::new();
                        write_item_line(&mut ours, kind, &quoted, &line);
                        let mut theirs = serde_json::to_vec(&whole).unwrap();
                        theirs.push(b'\n');
                        assert_eq!(ours, theirs, "{kind} {text:?}");
                    }
                }
            }
        }
    }

    fn input(display: &str) -> InputFile {
        InputFile {
            path: PathBuf::from(display),
            display: display.into(),
            bundle_name: "x.json".into(),
            walk_error: None,
            rel: display.into(),
        }
    }

    fn lines(out: &[u8]) -> Vec<Json> {
        std::str::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    fn keys(v: &Json) -> Vec<&str> {
        v.as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn audit_lines_keep_their_key_order_and_read_back_as_written() {
        let mut err = InputError::new(ErrorCode::MalformedXml, "tag not closed");
        err.line = Some(3);
        err.column = Some(7);
        err.element = Some("component".into());
        let rejected = Conversion::rejected(err, 10);
        let mut converted = Conversion::rejected(InputError::new(ErrorCode::IoError, ""), 5);
        converted.status = Status::Converted;
        converted.error = None;
        converted.items = vec![
            AuditItem {
                source_id: "#1".into(),
                element: "ObservationStatement",
                category: Some(Category::Tests),
                reason: WithheldReason::SensitiveCode,
                text_only: false,
            },
            AuditItem {
                source_id: "#2".into(),
                element: "Organization",
                category: None,
                reason: WithheldReason::FreeText,
                text_only: true,
            },
        ];
        let mut out = Vec::new();
        // An NHS number in the path is masked on every line.
        write_audit(&mut out, &input("in/9434765919.xml"), &rejected, None);
        write_audit(
            &mut out,
            &input("in/b.xml"),
            &converted,
            Some("bundles/b.json"),
        );
        let v = lines(&out);
        assert_eq!(v.len(), 4);
        assert_eq!(
            keys(&v[0]),
            ["kind", "input", "status", "reason", "bundle", "error"]
        );
        assert_eq!(
            keys(&v[0]["error"]),
            ["code", "message", "line", "column", "element"]
        );
        assert_eq!(v[0]["status"], "rejected");
        assert_eq!(v[0]["reason"], "malformed-xml");
        assert_eq!(v[0]["error"]["line"], 3);
        assert!(!v[0]["input"]
            .as_str()
            .expect("input")
            .contains("9434765919"));
        assert_eq!(keys(&v[1]), ["kind", "input", "status", "reason", "bundle"]);
        assert_eq!(v[1]["bundle"], "bundles/b.json");
        assert_eq!(v[1]["reason"], Json::Null);
        let item = [
            "kind",
            "input",
            "source_id",
            "element",
            "category",
            "reason",
        ];
        assert_eq!(keys(&v[2]), item);
        assert_eq!(keys(&v[3]), item);
        assert_eq!(
            (v[2]["kind"].as_str(), v[3]["kind"].as_str()),
            (Some("item"), Some("text"))
        );
        assert_eq!(v[3]["category"], Json::Null);
        // Each line reads back as the typed record it was written from, byte for byte.
        for (line, text) in v
            .iter()
            .zip(std::str::from_utf8(&out).expect("utf-8").lines())
        {
            let typed = AuditLine::deserialize(line).expect("an audit line");
            assert_eq!(serde_json::to_string(&typed).expect("json"), text);
        }
    }

    #[test]
    fn a_tally_lists_by_stable_string_whatever_the_enum_order() {
        let mut t: Tally<WithheldReason> = Tally::default();
        for r in WithheldReason::ALL {
            t.add(r, 2);
        }
        t.add(WithheldReason::Confidential, 1);
        let names: Vec<&str> = t.by_name().iter().map(|(k, _)| k.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(t.get(WithheldReason::Confidential), 3);
        assert_eq!(t.total(), 2 * WithheldReason::ALL.len() + 1);
        assert_eq!(
            t.named().keys().map(String::as_str).collect::<Vec<_>>(),
            sorted
        );
    }

    #[test]
    fn a_summary_reads_back_to_the_same_bytes() {
        let policy = Arc::new(Policy::embedded_default().expect("policy"));
        let consent = Arc::new(ConsentBook::all(ConsentDecision::Permit, "Y02345", "TREAT"));
        let mut s = ConvertSettings::new(policy, consent);
        s.run_permitted_requesters = vec!["Y02345".into(), "Y02345".into(), "A1".into()];
        let mut t = RunTotals {
            inputs: 3,
            no_snomed_release: true,
            ..RunTotals::default()
        };
        t.by_status.add(Status::Converted, 2);
        t.by_status.add(Status::Rejected, 1);
        t.error_codes.add(ErrorCode::NotXml, 1);
        t.items_shared.add(Category::Tests, 4);
        t.items_withheld.add(WithheldReason::UnresolvedCode, 2);
        t.skipped.add(SkipReason::Hidden, 1);
        let shard = crate::batch::Shard { index: 1, count: 2 };
        let sum = summary(&t, &s, Some(shard));
        assert_eq!((sum.converted, sum.rejected, sum.withheld), (2, 1, 0));
        assert_eq!(sum.withheld_no_snomed_release, 2);
        assert_eq!(sum.items_shared.0.len(), Category::ALL.len());
        assert_eq!(sum.items_shared.get("tests"), Some(4));
        // --permit-requester duplicates are listed once, sorted.
        let ods: Vec<&str> = sum
            .permitted
            .requesters
            .iter()
            .map(|r| r.ods_code.as_str())
            .collect();
        assert_eq!(ods, ["A1", "Y02345"]);
        let bytes = serde_json::to_vec_pretty(&sum).expect("json");
        let v: Json = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(keys(&v).first(), Some(&"migx_version"));
        assert_eq!(keys(&v).last(), Some(&"shard"));
        let back: Summary = serde_json::from_slice(&bytes).expect("a summary");
        assert_eq!(back, sum);
        assert_eq!(serde_json::to_vec_pretty(&back).expect("json"), bytes);
        // Unsharded: no shard key at all.
        let plain = serde_json::to_value(summary(&t, &s, None)).expect("json");
        assert!(plain.get("shard").is_none());
    }
}
