//! Reading GP Connect "Access Record Structured" / "Migrate Structured Record" FHIR STU3
//! bundles into the same typed [`Extract`] the EhrExtract reader produces, so policy,
//! mapping, validation and output are shared code.
//!
//! Each STU3 construct becomes the EhrExtract construct the NHS GP2GP adaptor generates from
//! it (the `uat-*` corpus pairs show the correspondence):
//!
//! | STU3 | model item |
//! |---|---|
//! | `Encounter` | `ehrComposition`; resources in its consultation `List` tree (topics and headings flattened, as the adaptor does) are its children |
//! | `Condition` (problem header) | `LinkSet` coded 394774009 active / 394775005 otherwise; `named_statement` = the `actualProblem` Observation, else a synthesized `ObservationStatement` (id `<condition id>-named`) carrying the Condition's own code |
//! | `AllergyIntolerance` | `CompoundStatement` (class CATEGORY, as the adaptor) coded Read `14L..00` (medication) / `SN53.00` (other) with one child `ObservationStatement` (id `<allergy id>-obs`) carrying the allergy code |
//! | `MedicationRequest` intent plan | `MedicationStatement` (id of the GP Connect `MedicationStatement` based on it, else `<plan id>-ms`) with an `ehrSupplyAuthorise` child (id = plan id) and, when stopped, an `ehrSupplyDiscontinue` sibling (id `<plan id>-discontinue`, `prior_ref` = plan id), as in the XML |
//! | `MedicationRequest` intent order | `MedicationStatement` (`<order id>-ms`) with an `ehrSupplyPrescribe` child (id = order id, `prior_ref` = the `basedOn` plan id) |
//! | `Observation` | `ObservationStatement`; with `component`s a BATTERY (e.g. blood pressure) of component statements (`<id>-c<n>`); a report's test group (`has-member`) a CLUSTER of its members (outside reports `has-member` only links entries, which stay separate); coded 37331000000100 ("comment note") a `NarrativeStatement` |
//! | `DiagnosticReport` (+ `Specimen`) | CLUSTER 16488004 containing one CLUSTER 123038009 per specimen containing its results |
//! | `Immunization` | `ObservationStatement` coded by the vaccination procedure (else the vaccine code); the policy decides |
//! | `ProcedureRequest` / `ReferralRequest` / `DocumentReference` | `PlanStatement` / `RequestStatement` / `NarrativeStatement` |
//! | other resource types with clinical content | `Element::Other` (withheld as `category-not-shared`) |
//!
//! Free text (`note`, `comment`, `text`, string values, dosage text, descriptions) is only
//! recorded as present. SNOMED description ids from the GP Connect `Extension-coding-sctdescid`
//! are not added as codings: the concept id beside them is what the policy checks, and an
//! R4 coding must carry a concept id (a description id would be a wrong code there).
//!
//! Ids: an item's id is the resource's identifier value where that is a UUID (lowercase),
//! else the resource id (lowercase). References are resolved through one index built once.
//! `message_id` is the Bundle `id` or `identifier.value` (lowercase), else a UUID derived
//! from the file's SHA-256 (GP Connect bundles usually carry neither). `created` is the
//! Bundle `meta.lastUpdated` (or R4 `timestamp`), else the latest date the record holds
//! ([`ExtractBuilder::record_dates`](crate::ehr::model::ExtractBuilder::record_dates): recorded dates and the starts of events; never planned or end
//! dates).
//!
//! One file per construct the reader reads: `raw` (the document checked in one walk and split
//! into one slice of the input per resource: no tree of the whole input is built), `survey`
//! (the first pass over the resources, building the one reference index), `bundle` (the
//! resolver, `Reader::json` through which every file reads a resource, the emitting
//! driver), `labels` (security labels, duplicate keys),
//! `confidentiality` (the confidentiality graph's edges), `consent`, `patient` (identity and
//! practice), `staff`, `consultation` (encounters, consultation lists, placement and
//! ownership), `entered_in_error`, then one file per resource family: `condition`,
//! `allergy`, `medication`, `observation`, `report`, `immunization`, `other`. `json` holds
//! the checked JSON accessors every file reads through.

mod allergy;
mod bundle;
mod condition;
mod confidentiality;
mod consent;
mod consultation;
mod entered_in_error;
mod immunization;
mod index;
mod json;
mod labels;
mod medication;
mod observation;
mod other;
mod patient;
mod raw;
mod report;
mod staff;
mod survey;
#[cfg(test)]
mod testing;

pub use consent::{consent_reading, ConsentReading};

use crate::digest::sha256_hex;
use crate::ehr::model::{DateField, Extract, ExtractBuilder, MessageKind};
use crate::error::{ErrorCode, InputError};
use crate::fhir::ids::derived_uuid;
use bundle::Reader;
use json::{arr, entries, str_at};
use labels::{check_bundle_labels, check_duplicate_keys};
use patient::nhs_number;
use raw::{check_document, split, Split};
use serde_json::Value as Json;
use survey::{survey, Keep};

/// Identifier system of NHS numbers (the same URI in STU3 and R4).
pub const SYSTEM_NHS_NUMBER: &str = "https://fhir.nhs.uk/Id/nhs-number";

/// The NHS number system of the first CareConnect profiles (and GP Connect 0.x, DSTU2),
/// replaced by [`SYSTEM_NHS_NUMBER`] in CareConnect STU3 and GP Connect 1.x: a record that
/// still writes it is refused (`unverified-identity`), never read as if current.
pub const SYSTEM_NHS_NUMBER_LEGACY: &str = "http://fhir.nhs.net/Id/nhs-number";

/// Identifier system of ODS organisation codes.
pub const SYSTEM_ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";

/// Identifier system of SDS user ids.
pub const SYSTEM_SDS_USER: &str = "https://fhir.nhs.uk/Id/sds-user-id";

/// Identifier system of SDS role profile ids.
pub const SYSTEM_SDS_ROLE_PROFILE: &str = "https://fhir.nhs.uk/Id/sds-role-profile-id";

/// Identifier system of GMP (GP national) numbers.
pub const SYSTEM_GMP_NUMBER: &str = "https://fhir.hl7.org.uk/Id/gmp-number";

const PROFILE_PREFIXES: [&str; 2] = [
    "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-",
    "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-",
];

/// Whether a parsed JSON document is a GP Connect STU3 structured record bundle.
pub fn is_gpconnect_bundle(json: &Json) -> bool {
    if json.get("resourceType").and_then(Json::as_str) != Some("Bundle") {
        return false;
    }
    has_gpc_profile(json) || entries(json).any(is_gpconnect_resource)
}

/// Whether an entry's resource marks its bundle as GP Connect: a GP Connect profile, or a
/// Patient with an NHS number.
fn is_gpconnect_resource(r: &Json) -> bool {
    has_gpc_profile(r) || (str_at(r, "resourceType") == Some("Patient") && nhs_number(r).is_some())
}

fn has_gpc_profile(r: &Json) -> bool {
    arr(r.get("meta"), "profile").any(|p| {
        p.as_str()
            .is_some_and(|p| PROFILE_PREFIXES.iter().any(|pre| p.starts_with(pre)))
    })
}

/// Read a GP Connect STU3 bundle (UTF-8 JSON) into the model.
///
/// No tree of the whole input is built (issue 24.12): one walk checks the document
/// ([`raw::check_document`]: syntax, nesting, duplicate keys), the Bundle is split into its
/// own fields and one slice of the input per resource ([`raw::split`]), each resource is
/// parsed alone to build the reference index ([`bundle::survey`]), and read again, one at
/// a time, when a later pass reads it (only the resources others refer to stay parsed).
pub fn read_gpconnect(bytes: &[u8]) -> Result<Extract, InputError> {
    read_keeping(bytes, Keep::for_input(bytes.len())).map(ExtractBuilder::finish)
}

/// [`read_gpconnect`] of a buffer it may free: the input, the first pass's index and every
/// other piece of reader state are dropped before the model is finished
/// ([`ExtractBuilder::finish`] builds the id index and the child lists: the largest step
/// of the read, issue 24.12), so none of them is alive at the peak.
pub fn read_gpconnect_owned(bytes: Vec<u8>) -> Result<Extract, InputError> {
    let read = read_keeping(&bytes, Keep::for_input(bytes.len()));
    drop(bytes);
    read.map(ExtractBuilder::finish)
}

/// [`read_gpconnect`], keeping parsed the resources `keep` says between passes, up to the
/// unfinished model: everything else the read made (the split, the survey, the reader and
/// the trees it kept) is dropped on return.
fn read_keeping(bytes: &[u8], keep: Keep) -> Result<ExtractBuilder, InputError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(InputError::new(ErrorCode::EmptyFile, "the file is empty"));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Err(InputError::new(
                ErrorCode::InvalidEncoding,
                "the bytes are not valid UTF-8",
            )
            .at(e.valid_up_to() as u64))
        }
    };
    let duplicate_key = check_document(bytes).map_err(|e| {
        // serde_json stops at 128 levels of nesting (127 are read); that is a limit, not a
        // wrong format.
        let too_deep = e.to_string().starts_with("recursion limit exceeded");
        let mut err = if too_deep {
            InputError::new(
                ErrorCode::JsonTooDeep,
                "the JSON nests arrays and objects 128 levels deep or more",
            )
        } else {
            InputError::new(
                ErrorCode::NotXml,
                format!(
                    "the file is neither XML nor well-formed JSON: {}",
                    e.classify_name()
                ),
            )
        };
        err.line = Some(e.line() as u64);
        err.column = Some(e.column() as u64);
        err
    })?;
    let not_gpconnect = || {
        InputError::new(
            ErrorCode::UnsupportedMessage,
            "the JSON is not a GP Connect STU3 structured record Bundle",
        )
    };
    let Split { bundle, entries } = split(text)
        .map_err(|_| {
            InputError::new(
                ErrorCode::InternalError,
                "a checked JSON document could not be split",
            )
        })?
        .ok_or_else(not_gpconnect)?;
    let json = &bundle;
    if json.get("resourceType").and_then(Json::as_str) != Some("Bundle") {
        return Err(not_gpconnect());
    }
    let mut survey = survey(entries, keep)?;
    if !(has_gpc_profile(json) || survey.gpconnect) {
        return Err(not_gpconnect());
    }
    if duplicate_key {
        check_duplicate_keys(bytes)?;
        // The walk saw a duplicate the second check must see too; never read past it.
        return Err(InputError::new(
            ErrorCode::DuplicateJsonKey,
            "a JSON object names the same key twice, so which one counts is ambiguous",
        ));
    }
    check_bundle_labels(json)?;
    if let Some(e) = survey.bad_labels {
        return Err(e);
    }
    let kept = std::mem::take(&mut survey.kept);
    let mut r = Reader::new(json, &kept, survey);
    r.read()?;
    let mut ex = std::mem::take(&mut r.ex);
    // The reader's index and per-resource state, and the kept trees, are no longer needed.
    drop(r);
    drop(kept);
    ex.kind = Some(MessageKind::GpConnectStu3);
    ex.message_id = bundle_id(json)
        .or_else(|| Some(derived_uuid(&["gpconnect-stu3-bundle", &sha256_hex(bytes)])));
    ex.extract_id = ex.message_id.clone();
    ex.created = match json
        .get("meta")
        .and_then(|m| m.get("lastUpdated"))
        .or_else(|| json.get("timestamp"))
        .and_then(Json::as_str)
    {
        Some(s) => DateField::from_fhir(s),
        None => ex
            .latest_record_date()
            .map(DateField::Value)
            .unwrap_or_default(),
    };
    Ok(ex)
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "unexpected end of input (truncated?)",
        }
    }
}

fn bundle_id(json: &Json) -> Option<String> {
    let id = str_at(json, "id")
        .or_else(|| json.get("identifier").and_then(|i| str_at(i, "value")))?
        .trim();
    let id = id.strip_prefix("urn:uuid:").unwrap_or(id);
    (!id.is_empty()).then(|| id.to_ascii_lowercase())
}

// ---------------------------------------------------------------------------------------
// JSON helpers: every access is checked; nothing on input data can panic.

#[cfg(test)]
mod tests {
    use super::*;
    use testing::*;
    #[test]
    fn reads_header_fields() {
        let ex = read_gpconnect(&fixture()).unwrap();
        assert_eq!(ex.kind, Some(MessageKind::GpConnectStu3));
        assert_eq!(ex.nhs_numbers, vec!["9000000009".to_string()]);
        assert_eq!(ex.practice_ods.as_deref(), Some("A12345"));
        assert_eq!(
            ex.message_id.as_deref(),
            Some("f0f0f0f0-0000-4000-8000-000000000001")
        );
        assert_eq!(
            ex.created.value().unwrap().fhir(),
            "2024-03-05T09:00:00+00:00"
        );
    }

    #[test]
    fn maps_constructs_like_the_xml() {
        let ex = read_gpconnect(&fixture()).unwrap();
        let obs = item(&ex, "33333333-3333-4333-8333-333333333333");
        let policy = crate::policy::Policy::embedded_default().unwrap();
        let conf = crate::policy::graph::confidentiality(&ex, &policy);
        let reach = conf[ex.at("33333333-3333-4333-8333-333333333333")].unwrap();
        assert_eq!(reach.origin.construct, "ehrComposition");
        assert!(!reach.origin.own && obs.confidentiality.is_empty());
        let p = item(&ex, "66666666-6666-4666-8666-666666666666");
        assert_eq!(p.element, Some(Element::LinkSet));
        assert_eq!(p.codes[0].code, "394774009");
        assert_eq!(p.link_set().unwrap().qualifiers[0].code, "386134007");
        let named = item(&ex, p.named_statement().unwrap());
        assert_eq!(named.codes[0].code, "195967001");
        let a = item(&ex, "77777777-7777-4777-8777-777777777777");
        assert_eq!(a.codes[0].code, "14L..00");
        assert!(a.free_text);
        assert_eq!(a.children.len(), 1);
        let auth = item(&ex, "88888888-8888-4888-8888-888888888888");
        assert_eq!(auth.element, Some(Element::EhrSupplyAuthorise));
        assert_eq!(auth.supply().unwrap().repeat_number, Some(6));
        let presc = item(&ex, "99999999-9999-4999-8999-999999999999");
        assert_eq!(presc.element, Some(Element::EhrSupplyPrescribe));
        assert_eq!(
            presc.prior_ref(),
            Some("88888888-8888-4888-8888-888888888888")
        );
        let member = item(&ex, "cccccccc-cccc-4ccc-8ccc-cccccccccccc");
        let group = &ex.items[member.parent.unwrap()];
        assert_eq!(group.class_code.as_deref(), Some("CLUSTER"));
        let spec = &ex.items[group.parent.unwrap()];
        assert_eq!(spec.codes[0].code, "123038009");
        let report = &ex.items[spec.parent.unwrap()];
        assert_eq!(report.codes[0].code, "16488004");
        assert_eq!(
            item(&ex, "eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee").element,
            Some(Element::Other)
        );
    }

    #[test]
    fn policy_decisions_on_the_fixture() {
        let ex = read_gpconnect(&fixture()).unwrap();
        let policy = Policy::embedded_default().unwrap();
        let d = decide(&ex, &policy, ex.created.value().unwrap());
        let out = |id: &str| d.items[ex.at(id)].outcome;
        use WithheldReason as W;
        assert_eq!(
            out("33333333-3333-4333-8333-333333333333"),
            Outcome::Withheld(W::Confidential)
        );
        assert_eq!(
            out("55555555-5555-4555-8555-555555555555"),
            Outcome::Withheld(W::Confidential)
        );
        assert_eq!(
            out("44444444-4444-4444-8444-444444444444"),
            Outcome::Withheld(W::CategoryNotShared)
        );
        assert_eq!(
            out("dddddddd-dddd-4ddd-8ddd-dddddddddddd"),
            Outcome::Withheld(W::SensitiveCode)
        );
        assert_eq!(
            out("eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee"),
            Outcome::Withheld(W::CategoryNotShared)
        );
        assert!(matches!(
            out("66666666-6666-4666-8666-666666666666"),
            Outcome::Shared(_)
        ));
        assert!(matches!(
            out("77777777-7777-4777-8777-777777777777"),
            Outcome::Shared(_)
        ));
        let ms = ex.items[ex.at("88888888-8888-4888-8888-888888888888")]
            .parent
            .unwrap();
        assert!(matches!(d.items[ms].outcome, Outcome::Shared(_)));
    }

    /// What the reader reads never depends on which trees it keeps between passes (all, the
    /// referred-to ones, none): on the fixtures, every hostile JSON fixture and the GP
    /// Connect corpus (when present), the same Extract or the same error.
    #[test]
    fn what_is_read_does_not_depend_on_the_trees_kept() {
        fn canonical(r: Result<Extract, InputError>) -> String {
            match r {
                Ok(ex) => {
                    // Every field, the two maps in sorted order (a map's Debug order varies).
                    let mut index: Vec<(&str, usize)> = ex.index().iter().collect();
                    index.sort();
                    let mut agents: Vec<String> = ex
                        .agents
                        .iter()
                        .map(|(k, a)| format!("{k}: {a:?}"))
                        .collect();
                    agents.sort();
                    format!(
                        "{:?} {:?} {:?} {:?} {:?} {:?}\n{:?}\n{:?} {:?} {:?} {:?} {:?} {:?} {:?}\n{index:?}\n{agents:?}",
                        ex.kind,
                        ex.message_id,
                        ex.extract_id,
                        ex.created,
                        ex.nhs_numbers,
                        ex.practice_ods,
                        ex.items,
                        ex.duplicate_ids(),
                        ex.record_confidentiality,
                        ex.record_codings,
                        ex.consent_refusals,
                        ex.record_text_removed,
                        ex.covers,
                        ex.identity_problem,
                    )
                }
                Err(e) => format!("error {:?} {}", e.code, e),
            }
        }
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let mut files: Vec<std::path::PathBuf> = Vec::new();
        for dir in [
            "fixtures/gpconnect",
            "fixtures/hostile",
            "../shared/corpus/gpconnect-stu3",
        ] {
            let Ok(rd) = std::fs::read_dir(format!("{root}/{dir}")) else {
                eprintln!("skipped (absent): {dir}");
                continue;
            };
            let mut found: Vec<_> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            files.extend(found);
        }
        assert!(files.len() >= 2, "{files:?}");
        let mut read = 0;
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            let all = canonical(read_keeping(&bytes, Keep::All).map(ExtractBuilder::finish));
            read += usize::from(!all.starts_with("error"));
            // The owned read (which frees the input before finishing) reads the same.
            assert!(
                canonical(read_gpconnect_owned(bytes.clone())) == all,
                "{}: owned",
                f.display()
            );
            for keep in [Keep::Referred, Keep::Nothing] {
                assert!(
                    canonical(read_keeping(&bytes, keep).map(ExtractBuilder::finish)) == all,
                    "{}: {keep:?}",
                    f.display()
                );
            }
        }
        assert!(read >= 1);
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        let code = |b: &[u8]| read_gpconnect(b).unwrap_err().code;
        assert_eq!(code(b""), ErrorCode::EmptyFile);
        assert_eq!(code(b"hello"), ErrorCode::NotXml);
        assert_eq!(code(b"{\"resourceType\":\"Bundle\""), ErrorCode::NotXml);
        assert_eq!(code(b"\xff\xfe{}"), ErrorCode::InvalidEncoding);
        assert_eq!(
            code(b"{\"resourceType\":\"Patient\"}"),
            ErrorCode::UnsupportedMessage
        );
        assert_eq!(code(b"[1,2,3]"), ErrorCode::UnsupportedMessage);
        // Deeply nested JSON: serde_json's recursion limit, not a stack overflow, and its own
        // code (issue 24.12), on both sides of the limit.
        let deep = "[".repeat(100_000);
        assert_eq!(code(deep.as_bytes()), ErrorCode::JsonTooDeep);
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(code(nested(128).as_bytes()), ErrorCode::JsonTooDeep);
        assert_eq!(code(nested(127).as_bytes()), ErrorCode::UnsupportedMessage);
        let objects = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        assert_eq!(code(objects(200).as_bytes()), ErrorCode::JsonTooDeep);
        assert_eq!(code(objects(100).as_bytes()), ErrorCode::UnsupportedMessage);
        // Hostile structure: a has-member cycle and odd types still read.
        let cyc = br#"{"resourceType":"Bundle","meta":{"profile":["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-StructuredRecord-Bundle-1"]},
          "entry":[{"resource":{"resourceType":"DiagnosticReport","id":"r","result":[{"reference":"Observation/a"}]}},
          {"resource":{"resourceType":"Observation","id":"a","related":[{"type":"has-member","target":{"reference":"Observation/b"}}]}},
          {"resource":{"resourceType":"Observation","id":"b","related":[{"type":"has-member","target":{"reference":"Observation/a"}}],"code":7,"effectiveDateTime":3}}]}"#;
        let ex = read_gpconnect(cyc).unwrap();
        assert!(ex.nhs_numbers.is_empty());
        assert_eq!(ex.get("b").unwrap().effective.center, DateField::Invalid);
    }
}
