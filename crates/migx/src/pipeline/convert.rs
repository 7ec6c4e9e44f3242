//! The conversion of one read extract: admission, item decisions, FHIR mapping and
//! validation chained in the order the data flows, and the audit records of what was not
//! shared.

use super::admission::{admit, withheld_as_of, Admission};
use crate::ehr::model::{Element, Extract, SourceId};
use crate::error::{ErrorCode, InputError};
use crate::fhir::r4::{Bundle, BundleEntry};
use crate::fhir::{self, SharingContext};
use crate::outcome::{AuditItem, Conversion, Status};
use crate::policy::decide::{decide, Category, Decisions, Outcome, WithheldReason};
use crate::settings::ConvertSettings;
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// What the mapping reads of the admission and the settings.
fn sharing_context<'a>(
    exclusion: &'a crate::policy::config::ExclusionBasis,
    admission: &'a Admission,
    source_sha256: &'a str,
    s: &'a ConvertSettings,
) -> SharingContext<'a> {
    SharingContext {
        exclusion,
        nhs_number: &admission.nhs_number,
        consent: &admission.consent,
        consent_valid_until: admission.consent_valid_until.clone(),
        as_of: admission.as_of,
        source_sha256,
        policy: &s.policy,
        run_permitted_requesters: &s.run_permitted_requesters,
    }
}

/// The FHIR mapping stage: the bundle of what `decisions` share, for an admitted patient,
/// every entry in memory (`migx convert` writes it entry by entry instead: [`Share`]).
pub fn map_bundle(
    ex: &Extract,
    decisions: &Decisions,
    admission: &Admission,
    source_sha256: &str,
    s: &ConvertSettings,
) -> Bundle {
    let exclusion = s.exclusion_basis();
    let rc = sharing_context(&exclusion, admission, source_sha256, s);
    fhir::build_bundle(ex, decisions, &rc)
}

/// A record admitted and decided, ready to be shared: its bundle is made entry by entry as
/// it is written ([`Share::write_pretty`], [`Share::entries`]) and, when the settings ask,
/// validated entry by entry on the way ([`crate::validate::BundleCheck`]); nothing holds the
/// whole bundle.
pub struct Share<'a> {
    stream: fhir::BundleStream<'a>,
    validate: bool,
    /// Test-only seam: entry 7 is made invalid (its `fullUrl` not a UUID), standing in for
    /// a mapping bug the validation must catch.
    #[cfg(test)]
    pub(crate) corrupt: bool,
}

/// Why a bundle was not shared.
#[derive(Debug)]
pub enum ShareError {
    /// The bundle is not valid (`validation-failed`: migx's bug) or could not be made
    /// (`internal-error`): the input is rejected.
    Rejected(InputError),
    /// Writing it failed.
    Io(std::io::Error),
}

impl From<InputError> for ShareError {
    fn from(e: InputError) -> Self {
        ShareError::Rejected(e)
    }
}

impl Share<'_> {
    /// Every entry's `fullUrl` and resource type, in entry order, before any is made.
    pub fn plan(&self) -> &fhir::Plan {
        self.stream.plan()
    }

    /// The ids the access audit names (from the plan).
    pub fn ids(&self) -> Option<crate::access::BundleIds> {
        Some(crate::access::BundleIds {
            bundle_id: self.stream.head().id.clone(),
            patient: self.plan().first_of("Patient")?,
            consent: self.plan().first_of("Consent")?,
        })
    }

    /// Make the entries in order, each validated (when asked) and then given to `each`. The
    /// verdict comes at the end: a bundle with a violation is [`ShareError::Rejected`] after
    /// its last entry, so the caller must not have published what `each` wrote.
    pub fn entries(
        self,
        each: &mut dyn FnMut(&BundleEntry) -> std::io::Result<()>,
    ) -> Result<(), ShareError> {
        let mut check = match self.validate {
            true => Some(crate::validate::BundleCheck::new(
                &tree(self.stream.head())?,
                crate::validate::Profile::Migx,
            )),
            false => None,
        };
        let mut failed = None;
        #[cfg(test)]
        let (corrupt, mut index) = (self.corrupt, 0);
        let made = self.stream.entries(&mut |entry| {
            #[cfg(test)]
            let entry = {
                let mut entry = entry;
                if corrupt && index == 7 {
                    entry.full_url = "urn:uuid:not-a-uuid".into();
                }
                index += 1;
                entry
            };
            if let Some(check) = check.as_mut() {
                if let Err(e) = check.entry_of(&entry) {
                    failed = Some(unserialisable(&e));
                    return Err(std::io::Error::other("the entry does not serialise"));
                }
            }
            each(&entry)
        });
        if let Some(e) = failed {
            return Err(ShareError::Rejected(e));
        }
        match made {
            Ok(()) => {}
            Err(fhir::EntriesError::Sink(e)) => return Err(ShareError::Io(e)),
            Err(fhir::EntriesError::Changed { index }) => {
                return Err(ShareError::Rejected(InputError::new(
                    ErrorCode::InternalError,
                    format!("bundle entry {index} is not the one planned (a bug)"),
                )))
            }
        }
        match check {
            Some(check) => verdict(check.finish()).map_err(ShareError::Rejected),
            None => Ok(()),
        }
    }

    /// Write the bundle as pretty JSON (the bytes of `serde_json::to_writer_pretty` of the
    /// whole typed bundle) entry by entry.
    pub fn write_pretty(self, w: &mut dyn std::io::Write) -> Result<(), ShareError> {
        let head = self.stream.head().clone();
        let failure = std::cell::RefCell::new(None);
        let doc = Bundle {
            resource_type: head.resource_type,
            id: head.id,
            meta: head.meta,
            r#type: head.r#type,
            timestamp: head.timestamp,
            entry: StreamedEntries {
                share: std::cell::RefCell::new(Some(self)),
                failure: &failure,
            },
        };
        // serde_json writes token by token: a local buffer turns those into 64 KiB writes
        // (one dynamic call and one hash update each, downstream) instead of millions.
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, &mut *w);
        let written = serde_json::to_writer_pretty(&mut out, &doc);
        if let Some(f) = failure.into_inner() {
            return Err(f);
        }
        written.map_err(|e| ShareError::Io(std::io::Error::other(e)))?;
        std::io::Write::flush(&mut out).map_err(ShareError::Io)
    }

    /// The whole bundle in memory (validated the same way).
    pub fn bundle(self) -> Result<Bundle, ShareError> {
        let mut bundle = self.stream.head().clone();
        self.entries(&mut |e| {
            bundle.entry.push(e.clone());
            Ok(())
        })?;
        Ok(bundle)
    }
}

/// `Bundle.entry` written as the entries are made: serialises the share's entries one by
/// one into the array (a failure of the share itself is kept in `failure`).
struct StreamedEntries<'s, 'a> {
    share: std::cell::RefCell<Option<Share<'a>>>,
    failure: &'s std::cell::RefCell<Option<ShareError>>,
}

impl serde::Serialize for StreamedEntries<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let Some(share) = self.share.borrow_mut().take() else {
            return Err(S::Error::custom("the entries are written once"));
        };
        let mut seq = serializer.serialize_seq(None)?;
        let mut ser_error = None;
        let made = share.entries(&mut |e| {
            seq.serialize_element(e).map_err(|x| {
                ser_error = Some(x);
                std::io::Error::other("the entry could not be written")
            })
        });
        if let Some(x) = ser_error {
            return Err(x);
        }
        if let Err(f) = made {
            *self.failure.borrow_mut() = Some(f);
            return Err(S::Error::custom("the bundle was not shared"));
        }
        seq.end()
    }
}

/// The validation stage (when the settings ask for it): the bundle against the FHIR R4
/// schema and migx's profile; a violation is migx's bug, and the input is rejected.
///
/// Entry by entry ([`crate::validate::BundleCheck`]): the bundle's frame, then each entry's
/// own small tree, never a tree of the whole bundle.
pub fn check_bundle(bundle: &Bundle, s: &ConvertSettings) -> Result<(), InputError> {
    if !s.validate {
        return Ok(());
    }
    let frame = Bundle {
        resource_type: bundle.resource_type,
        id: bundle.id.clone(),
        meta: bundle.meta.clone(),
        r#type: bundle.r#type,
        timestamp: bundle.timestamp.clone(),
        entry: Vec::<BundleEntry>::new(),
    };
    let mut check =
        crate::validate::BundleCheck::new(&tree(&frame)?, crate::validate::Profile::Migx);
    for entry in &bundle.entry {
        check.entry_of(entry).map_err(|e| unserialisable(&e))?;
    }
    verdict(check.finish())
}

/// The input's fate from its bundle's violations: none, or `validation-failed` naming the
/// first few (pointer and rule: migx's own element names, never content).
pub(crate) fn verdict(violations: Vec<crate::validate::Violation>) -> Result<(), InputError> {
    if violations.is_empty() {
        return Ok(());
    }
    let first: Vec<String> = violations
        .iter()
        .take(5)
        .map(|v| format!("{} ({})", v.pointer, v.rule))
        .collect();
    Err(InputError::new(
        ErrorCode::ValidationFailed,
        format!(
            "{} schema violation(s): {}",
            violations.len(),
            first.join("; ")
        ),
    ))
}

/// One piece of the bundle (its frame, or one entry) as a JSON tree, what the validator
/// takes.
pub(crate) fn tree<T: serde::Serialize>(piece: &T) -> Result<Json, InputError> {
    serde_json::to_value(piece).map_err(|e| unserialisable(&e))
}

fn unserialisable(e: &serde_json::Error) -> InputError {
    InputError::new(
        ErrorCode::InternalError,
        format!("the bundle does not serialise: {e}"),
    )
}

/// How far [`convert_extract`] runs the stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Through {
    /// Every stage: admission, item decisions, mapping and validation (`convert`).
    Bundle,
    /// Admission and the item decisions, and no further (`explain`: nothing mapping or
    /// validation does changes a decision). A withheld patient's items are decided too, at
    /// the time the record would have been judged ([`withheld_as_of`]), so that explain can
    /// show them; nothing of them is disclosed.
    Decisions,
}

/// One extract through the stages: what became of it, and the item decisions made on the
/// way, kept for whoever shows them (`explain`) instead of being made again.
#[derive(Debug, Clone)]
pub struct Converted {
    /// What became of the input.
    pub conversion: Conversion,
    /// The item decisions (none for a rejected input, nor for a withheld one unless
    /// [`Through::Decisions`] asked for them).
    pub decisions: Option<Decisions>,
}

/// Admission, item decisions, mapping and validation of one read extract: the stages in
/// the order the data flows, as far as `through` says. With [`Through::Bundle`] the bundle
/// is made in memory ([`Share::bundle`]).
pub fn convert_extract(
    ex: &Extract,
    source_sha256: &str,
    size: u64,
    s: &ConvertSettings,
    through: Through,
) -> Converted {
    match through {
        Through::Bundle => {
            let (mut converted, bundle) =
                convert_extract_with(ex, source_sha256, size, s, |share| share.bundle());
            // An io error cannot come from a bundle made in memory.
            converted.conversion.bundle = bundle.and_then(Result::ok);
            converted
        }
        Through::Decisions => {
            let admission = match admit(ex, size, s) {
                Ok(a) => a,
                Err(ended) => {
                    let decisions = (ended.status == Status::Withheld)
                        .then(|| withheld_as_of(ex, s))
                        .flatten()
                        .map(|as_of| decide(ex, &s.policy, as_of));
                    return Converted {
                        conversion: *ended,
                        decisions,
                    };
                }
            };
            let decisions = decide(ex, &s.policy, admission.as_of);
            Converted {
                conversion: admitted(ex, &decisions, admission, size),
                decisions: Some(decisions),
            }
        }
    }
}

/// Admission and item decisions of one read extract, then, for an admitted patient, its
/// [`Share`] given to `disclose` (which writes the bundle, or keeps it): what became of the
/// input and what `disclose` gave back. A [`ShareError::Rejected`] rejects the input; a
/// [`ShareError::Io`] is handed back to the caller (as `Err`), who decides what it means.
pub fn convert_extract_with<T>(
    ex: &Extract,
    source_sha256: &str,
    size: u64,
    s: &ConvertSettings,
    disclose: impl FnOnce(Share<'_>) -> Result<T, ShareError>,
) -> (Converted, Option<Result<T, std::io::Error>>) {
    let admission = match admit(ex, size, s) {
        Ok(a) => a,
        Err(ended) => {
            return (
                Converted {
                    conversion: *ended,
                    decisions: None,
                },
                None,
            )
        }
    };
    let decisions = decide(ex, &s.policy, admission.as_of);
    let exclusion = s.exclusion_basis();
    let disclosed = {
        let rc = sharing_context(&exclusion, &admission, source_sha256, s);
        disclose(Share {
            stream: fhir::BundleStream::new(ex, &decisions, &rc),
            validate: s.validate,
            #[cfg(test)]
            corrupt: false,
        })
    };
    let disclosed = match disclosed {
        Ok(t) => Ok(t),
        Err(ShareError::Io(e)) => Err(e),
        Err(ShareError::Rejected(e)) => {
            let mut c = Conversion::rejected(e, size);
            c.nhs_number = Some(admission.nhs_number);
            return (
                Converted {
                    conversion: c,
                    decisions: Some(decisions),
                },
                None,
            );
        }
    };
    (
        Converted {
            conversion: admitted(ex, &decisions, admission, size),
            decisions: Some(decisions),
        },
        Some(disclosed),
    )
}

/// The conversion of an admitted patient whose bundle was shared (or, for `explain`, would
/// be): the audit items of what was not shared.
fn admitted(ex: &Extract, decisions: &Decisions, admission: Admission, size: u64) -> Conversion {
    let (items, shared) = audit_items(ex, decisions);
    Conversion {
        status: Status::Converted,
        withheld: None,
        error: None,
        bundle: None,
        items,
        shared,
        bytes: size,
        nhs_number: Some(admission.nhs_number),
        consent: Some(admission.consent),
        as_of: Some(admission.as_of),
    }
}

/// [`convert_extract`] through every stage, keeping only the [`Conversion`].
pub(super) fn share(
    ex: &Extract,
    source_sha256: &str,
    size: u64,
    s: &ConvertSettings,
) -> Conversion {
    convert_extract(ex, source_sha256, size, s, Through::Bundle).conversion
}

/// The id the audit and `explain` show for an item: the id its bundle resource has or would
/// have ([`crate::fhir::ids::source_uuid`]: a source UUID as it is, anything else a UUID
/// derived from it), never a raw non-UUID source id, which may hold an NHS number or text;
/// `#<n>` (its position) for an item without an id.
pub(super) fn audit_id(item: &crate::ehr::model::Item, i: usize) -> SourceId {
    if item.id.is_empty() {
        SourceId::from(format!("#{i}"))
    } else {
        SourceId::from(crate::fhir::ids::source_uuid_chars(&item.id).as_str())
    }
}

fn audit_items(ex: &Extract, d: &Decisions) -> (Vec<AuditItem>, BTreeMap<Category, usize>) {
    let mut items = Vec::new();
    let mut shared = BTreeMap::new();
    for (i, dec) in d.items.iter().enumerate() {
        let item = &ex.items[i];
        let element = item.element.map(Element::name).unwrap_or("unknown");
        match dec.outcome {
            Outcome::Withheld(reason) => items.push(AuditItem {
                source_id: audit_id(item, i),
                element,
                category: dec.category,
                reason,
                text_only: false,
            }),
            Outcome::Shared(_) => {
                if let Some(c) = dec.category {
                    *shared.entry(c).or_insert(0) += 1;
                }
            }
            _ => {}
        }
    }
    for &i in &d.free_text_removed {
        let item = &ex.items[i];
        items.push(AuditItem {
            source_id: audit_id(item, i),
            element: item.element.map(Element::name).unwrap_or("unknown"),
            category: d.items[i].category,
            reason: WithheldReason::FreeText,
            text_only: true,
        });
    }
    // Record-level values dropped for their syntax (an ODS code carrying text).
    for &field in &ex.record_text_removed {
        items.push(AuditItem {
            source_id: SourceId::from(format!("#{field}")),
            element: "Organization",
            category: None,
            reason: WithheldReason::FreeText,
            text_only: true,
        });
    }
    (items, shared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn settings() -> ConvertSettings {
        let policy =
            std::sync::Arc::new(crate::policy::Policy::embedded_default().expect("policy"));
        let consent = std::sync::Arc::new(crate::consent::ConsentBook::all(
            crate::consent::ConsentDecision::Permit,
            "Y02345",
            "TREAT",
        ));
        let mut s = ConvertSettings::new(policy, consent);
        s.allow_test_identities = true;
        s.run_permitted_requesters = vec!["Y02345".to_string()];
        s
    }

    fn fixtures() -> Vec<std::path::PathBuf> {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        let mut paths = Vec::new();
        for dir in ["fixtures/extracts", "fixtures/gpconnect"] {
            let mut p: Vec<_> = std::fs::read_dir(root.join(dir))
                .expect("fixtures")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "xml" || e == "json"))
                .collect();
            p.sort();
            paths.extend(p);
        }
        paths
    }

    /// Written entry by entry, a bundle is byte for byte what `to_writer_pretty` makes of
    /// the whole typed bundle, on every fixture; the ids and planned entries are the
    /// bundle's own.
    #[test]
    fn streamed_bundles_are_the_whole_bundles_bytes() {
        let s = settings();
        let mut compared = 0;
        for p in fixtures() {
            let Ok((ex, hash, size)) = crate::pipeline::read_input(&p, &s) else {
                continue;
            };
            let whole = convert_extract(&ex, &hash, size, &s, Through::Bundle);
            let (streamed, written) = convert_extract_with(&ex, &hash, size, &s, |share| {
                let planned: Vec<(String, &'static str)> = share.plan().iter().collect();
                let ids = share.ids();
                let mut out = Vec::new();
                share.write_pretty(&mut out)?;
                Ok((out, planned, ids))
            });
            assert_eq!(
                streamed.conversion.status,
                whole.conversion.status,
                "{}",
                p.display()
            );
            let Some(bundle) = whole.conversion.bundle else {
                assert!(written.is_none(), "{}", p.display());
                continue;
            };
            let (bytes, planned, ids) = written.expect("shared").expect("written");
            let expected = serde_json::to_vec_pretty(&bundle).expect("serialises");
            assert!(bytes == expected, "{}: streamed bytes differ", p.display());
            let entries: Vec<(String, &'static str)> = bundle
                .entry
                .iter()
                .map(|e| (e.full_url.clone(), e.resource.resource_type()))
                .collect();
            assert_eq!(planned, entries, "{}", p.display());
            assert_eq!(
                ids,
                crate::access::BundleIds::of(&bundle),
                "{}",
                p.display()
            );
            assert_eq!(streamed.conversion.items, whole.conversion.items);
            compared += 1;
        }
        assert!(compared >= 10, "{compared} bundles compared");
    }

    /// The tree the validator makes of a small entry from its typed value is the tree its
    /// compact text parses to (what it checked before), on every entry of every fixture and
    /// on decimals of every form migx writes.
    #[test]
    fn an_entrys_tree_from_its_type_is_the_tree_of_its_text() {
        use crate::fhir::r4::Decimal;
        fn same<T: serde::Serialize>(v: &T, what: &str) {
            let text = serde_json::to_string(v).expect("serialises");
            let parsed: Json = serde_json::from_str(&text).expect("parses");
            let tree = serde_json::to_value(v).expect("serialises");
            assert_eq!(tree, parsed, "{what}: {text}");
        }
        let s = settings();
        let mut entries = 0;
        for p in fixtures() {
            let Ok((ex, hash, size)) = crate::pipeline::read_input(&p, &s) else {
                continue;
            };
            let Some(bundle) = convert_extract(&ex, &hash, size, &s, Through::Bundle)
                .conversion
                .bundle
            else {
                continue;
            };
            for e in &bundle.entry {
                same(e, &p.display().to_string());
                entries += 1;
            }
        }
        assert!(entries >= 100, "{entries} entries compared");
        for text in [
            "0",
            "-0",
            "7",
            "-7",
            "2.0",
            "-2.50",
            "0.1",
            "1e3",
            "123456789012345678",
            "1e300",
            "-1.5e-7",
            "0.30000000000000004",
            "999999999999999",
        ] {
            let d = Decimal::parse(text).expect("a decimal");
            same(&d, text);
        }
    }

    /// An entry that breaks the profile rejects the input (`validation-failed`, naming the
    /// pointers), however the bundle is being written.
    #[test]
    fn an_invalid_entry_rejects_the_bundle_after_its_last_entry() {
        let s = settings();
        let p = &fixtures()[0];
        let (ex, hash, size) = crate::pipeline::read_input(p, &s).expect("reads");
        for how in ["pretty", "entries", "bundle"] {
            let mut seen = 0;
            let (c, written) = convert_extract_with(&ex, &hash, size, &s, |mut share| {
                share.corrupt = true;
                let planned = share.plan().len();
                match how {
                    "pretty" => share.write_pretty(&mut std::io::sink())?,
                    "entries" => share.entries(&mut |_| {
                        seen += 1;
                        Ok(())
                    })?,
                    _ => {
                        share.bundle()?;
                    }
                }
                Ok(planned)
            });
            assert!(written.is_none(), "{how}");
            let c = c.conversion;
            assert_eq!(c.status, Status::Rejected, "{how}");
            let e = c.error.expect("an error");
            assert_eq!(e.code, ErrorCode::ValidationFailed, "{how}");
            assert!(
                e.message.contains("/entry/7/fullUrl (pattern)"),
                "{how}: {}",
                e.message
            );
            assert!(c.bundle.is_none());
            if how == "entries" {
                assert!(seen > 7, "every entry was made before the verdict");
            }
        }
    }
}
