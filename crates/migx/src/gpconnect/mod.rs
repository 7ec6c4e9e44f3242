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
//! ([`Extract::record_dates`]: recorded dates and the starts of events; never planned or end
//! dates).

use crate::codes::{CodeSystem, Coding};
use crate::digest::{is_uuid, sha256_hex};
use crate::ehr::model::IdentityProblem;
use crate::ehr::model::{
    gmp_number, sds_id, staff_text, Agent, AgentOrg, Cover, DateField, DoseQuantity, Effective,
    Element, Extract, Item, MessageKind, Reaction, ReferenceRange, StaffKind, StaffName, StaffRef,
    StructuredDose, Value,
};
use crate::error::{ErrorCode, InputError};
use crate::fhir::ids::derived_uuid;
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};

/// Identifier system of NHS numbers (the same URI in STU3 and R4).
pub const SYSTEM_NHS_NUMBER: &str = "https://fhir.nhs.uk/Id/nhs-number";
/// The NHS number system of the first CareConnect profiles (and GP Connect 0.x, DSTU2),
/// replaced by [`SYSTEM_NHS_NUMBER`] in CareConnect STU3 and GP Connect 1.x: a record that
/// still writes it is refused (`unverified-identity`), never read as if current.
pub const SYSTEM_NHS_NUMBER_LEGACY: &str = "http://fhir.nhs.net/Id/nhs-number";
/// GP Connect's NHS number verification status extension (on the NHS number identifier).
const EXT_NHS_VERIFICATION: &str = "Extension-CareConnect-GPC-NHSNumberVerificationStatus-1";
/// NHS Number Status Indicator `01`: number present and verified (NHS Data Dictionary).
const NHS_NUMBER_VERIFIED: &str = "01";
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
const EXT_ACTUAL_PROBLEM: &str = "Extension-CareConnect-ActualProblem-1";
const EXT_RELATED_CONTENT: &str = "Extension-CareConnect-RelatedClinicalContent-1";
const EXT_SIGNIFICANCE: &str = "Extension-CareConnect-ProblemSignificance-1";
const EXT_RELATED_PROBLEM: &str = "Extension-CareConnect-RelatedProblemHeader-1";
const EXT_PRESCRIPTION_TYPE: &str = "Extension-CareConnect-GPC-PrescriptionType-1";
const EXT_REPEAT_INFO: &str = "Extension-CareConnect-GPC-MedicationRepeatInformation-1";
const EXT_LAST_ISSUE: &str = "Extension-CareConnect-GPC-MedicationStatementLastIssueDate-1";
const EXT_STATUS_REASON: &str = "Extension-CareConnect-GPC-MedicationStatusReason-1";
const EXT_ALLERGY_END: &str = "Extension-CareConnect-GPC-AllergyIntoleranceEnd-1";
const EXT_ASSOCIATED_ENCOUNTER: &str = "encounter-associatedEncounter";
const EXT_DATE_RECORDED: &str = "Extension-CareConnect-DateRecorded-1";
const EXT_VACCINATION_PROCEDURE: &str = "Extension-CareConnect-VaccinationProcedure-1";
const SNOMED_CONSULTATION_LIST: &str = "325851000000107";
const SNOMED_COMMENT_NOTE: &str = "37331000000100";
const NULL_FLAVOR_SYSTEM: &str = "http://hl7.org/fhir/v3/NullFlavor";
/// Nesting of groups (report > specimen > battery > ...) and list trees beyond this is refused.
const MAX_NESTING: usize = 64;
/// JSON nesting the coding enumeration follows (serde_json refuses deeper input anyway).
const MAX_JSON_DEPTH: usize = 256;

/// Resource types that carry no clinical statement of their own (administrative, or read as
/// part of another resource).
const STRUCTURAL_TYPES: [&str; 11] = [
    "Patient",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Location",
    "HealthcareService",
    "List",
    "Medication",
    "MedicationStatement",
    "Specimen",
    "Device",
];

/// Whether a parsed JSON document is a GP Connect STU3 structured record bundle.
pub fn is_gpconnect_bundle(json: &Json) -> bool {
    if json.get("resourceType").and_then(Json::as_str) != Some("Bundle") {
        return false;
    }
    if has_gpc_profile(json) {
        return true;
    }
    entries(json).any(|r| {
        has_gpc_profile(r)
            || (str_at(r, "resourceType") == Some("Patient") && nhs_number(r).is_some())
    })
}

fn has_gpc_profile(r: &Json) -> bool {
    arr(r.get("meta"), "profile").any(|p| {
        p.as_str()
            .is_some_and(|p| PROFILE_PREFIXES.iter().any(|pre| p.starts_with(pre)))
    })
}

/// Read a GP Connect STU3 bundle (UTF-8 JSON) into the model.
pub fn read_gpconnect(bytes: &[u8]) -> Result<Extract, InputError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(InputError::new(ErrorCode::EmptyFile, "the file is empty"));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(
            InputError::new(ErrorCode::InvalidEncoding, "the bytes are not valid UTF-8")
                .at(e.valid_up_to() as u64),
        );
    }
    let json: Json = serde_json::from_slice(bytes).map_err(|e| {
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
    if !is_gpconnect_bundle(&json) {
        return Err(InputError::new(
            ErrorCode::UnsupportedMessage,
            "the JSON is not a GP Connect STU3 structured record Bundle",
        ));
    }
    check_duplicate_keys(bytes)?;
    check_labels(&json)?;
    let mut r = Reader::new(&json);
    r.read()?;
    let mut ex = r.ex;
    ex.kind = Some(MessageKind::GpConnectStu3);
    ex.message_id = bundle_id(&json)
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
    ex.finish();
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

fn str_at<'a>(v: &'a Json, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Json::as_str)
}

fn arr<'a>(v: Option<&'a Json>, key: &str) -> impl Iterator<Item = &'a Json> {
    v.and_then(|v| v.get(key))
        .and_then(Json::as_array)
        .map(|a| a.iter())
        .into_iter()
        .flatten()
}

fn entries(bundle: &Json) -> impl Iterator<Item = &Json> {
    arr(Some(bundle), "entry").filter_map(|e| e.get("resource"))
}

/// Extensions of `v` whose URL ends with `name` (URLs are versioned and hosted under two
/// domains; the last path segment identifies them).
fn extensions<'a>(v: &'a Json, name: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
    arr(Some(v), "extension").filter(move |e| {
        str_at(e, "url").is_some_and(|u| u == name || u.rsplit('/').next() == Some(name))
    })
}

fn extension<'a>(v: &'a Json, name: &'a str) -> Option<&'a Json> {
    extensions(v, name).next()
}

/// The value of a resource's identifier in `system`, when exactly one is given.
fn identifier<'a>(v: &'a Json, system: &str) -> Option<&'a str> {
    let mut found = arr(Some(v), "identifier")
        .filter(|i| str_at(i, "system").map(str::trim) == Some(system))
        .filter_map(|i| str_at(i, "value"));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

fn reference(v: Option<&Json>) -> Option<&str> {
    v.and_then(|r| str_at(r, "reference"))
}

/// Index key of a reference `Type/id` (also absolute URLs ending so), lowercase.
fn ref_key(r: &str) -> Option<String> {
    let r = r.split(['#', '?']).next().unwrap_or(r);
    let mut parts = r.rsplit('/');
    let id = parts.next()?;
    let ty = parts.next()?;
    // `Type/id/_history/n`
    let (ty, id) = if ty == "_history" {
        let id2 = parts.next()?;
        let ty2 = parts.next()?;
        (ty2, id2)
    } else {
        (ty, id)
    };
    if ty.is_empty() || id.is_empty() {
        return None;
    }
    Some(format!("{ty}/{id}").to_ascii_lowercase())
}

fn codings(cc: Option<&Json>) -> Vec<Coding> {
    arr(cc, "coding")
        .filter_map(|c| {
            let system = str_at(c, "system")?.trim();
            let code = str_at(c, "code")?.trim();
            if system.is_empty() || code.is_empty() || system == NULL_FLAVOR_SYSTEM {
                return None;
            }
            Some(Coding {
                system: CodeSystem::from_uri(system),
                code: code.to_string(),
                display: str_at(c, "display").map(str::to_string),
            })
        })
        .collect()
}

/// Every coding anywhere in `v` (its elements, extensions, contained resources): any object
/// with a string `code`, in whatever system it names (none, text or an unknown URI included:
/// those are screened under every listed system). The screen reads these; they are never
/// emitted.
fn all_codings(v: &Json) -> Vec<Coding> {
    let mut out = Vec::new();
    each_object(v, &mut |o| {
        if let Some(code) = o.get("code").and_then(Json::as_str) {
            let code = code.trim();
            if !code.is_empty() {
                let system = match o.get("system").and_then(Json::as_str) {
                    Some(s) => CodeSystem::parse(s),
                    None => CodeSystem::Invalid,
                };
                out.push(Coding::new(system, code));
            }
        }
    });
    out
}

/// Every JSON object in `v` (as its value), `v` itself first, depth first and in document order, to
/// [`MAX_JSON_DEPTH`]: the one walk behind every "anywhere in the resource" reading (the
/// codings the screen reads, the resources nested in an entry).
fn each_object<'a>(v: &'a Json, visit: &mut dyn FnMut(&'a Json)) {
    fn walk<'a>(v: &'a Json, visit: &mut dyn FnMut(&'a Json), depth: usize) {
        if depth > MAX_JSON_DEPTH {
            return;
        }
        match v {
            Json::Object(o) => {
                visit(v);
                for x in o.values() {
                    walk(x, visit, depth + 1);
                }
            }
            Json::Array(a) => {
                for x in a {
                    walk(x, visit, depth + 1);
                }
            }
            _ => {}
        }
    }
    walk(v, visit, 0);
}

fn has_text(v: Option<&Json>) -> bool {
    match v {
        Some(Json::String(s)) => !s.trim().is_empty(),
        Some(Json::Array(a)) => a.iter().any(|x| has_text(Some(x))),
        Some(Json::Object(o)) => o.get("text").is_some_and(|t| has_text(Some(t))),
        _ => false,
    }
}

fn date(v: Option<&Json>) -> DateField {
    match v.and_then(Json::as_str) {
        Some(s) => DateField::from_fhir(s),
        None if v.is_some_and(|v| !v.is_null()) => DateField::Invalid,
        None => DateField::Absent,
    }
}

fn period(v: Option<&Json>) -> Effective {
    Effective {
        low: date(v.and_then(|p| p.get("start"))),
        high: date(v.and_then(|p| p.get("end"))),
        center: DateField::Absent,
    }
}

fn number(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::Number(n) => Some(n.to_string()),
        Json::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn nhs_number(patient: &Json) -> Option<&str> {
    arr(Some(patient), "identifier")
        .find(|i| str_at(i, "system") == Some(SYSTEM_NHS_NUMBER))
        .and_then(|i| str_at(i, "value"))
}

/// The confidentiality labels of a resource: every `meta.security` coding, and every
/// `meta.tag` coding that is one (from an HL7 v3 ActCode or Confidentiality code system, or
/// coded `NOPAT`, `R` or `V`). The shapes were checked by [`check_labels`] first.
fn security(r: &Json) -> Vec<String> {
    let meta = r.get("meta");
    arr(meta, "security")
        .chain(arr(meta, "tag").filter(|t| is_security_tag(t)))
        .map(|s| {
            str_at(s, "code")
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                // An unreadable security label is still a restriction: keep a marker.
                .unwrap_or_else(|| "UNKNOWN".to_string())
        })
        .collect()
}

/// Code systems of security labels (any spelling: URL, OID).
const SECURITY_SYSTEMS: [&str; 5] = [
    "actcode",
    "confidentiality",
    "2.16.840.1.113883.5.4",
    "2.16.840.1.113883.5.25",
    "2.16.840.1.113883.4.642.3.47",
];

fn is_security_tag(t: &Json) -> bool {
    let system = str_at(t, "system").unwrap_or("").to_ascii_lowercase();
    let code = str_at(t, "code").unwrap_or("").trim().to_ascii_uppercase();
    SECURITY_SYSTEMS.iter().any(|s| system.contains(s))
        || matches!(code.as_str(), "NOPAT" | "R" | "V")
}

/// Whether a resource's security metadata has the shape FHIR gives it: `meta` an object,
/// `meta.security` and `meta.tag` arrays of codings (objects whose `system` and `code` are
/// strings).
fn labels_well_formed(r: &Json) -> bool {
    let Some(meta) = r.get("meta") else {
        return true;
    };
    let Some(meta) = meta.as_object() else {
        return false;
    };
    ["security", "tag"].iter().all(|k| match meta.get(*k) {
        None => true,
        Some(Json::Array(codings)) => codings.iter().all(|c| {
            c.as_object().is_some_and(|o| {
                o.get("code").is_none_or(Json::is_string)
                    && o.get("system").is_none_or(Json::is_string)
            })
        }),
        Some(_) => false,
    })
}

/// Refuse a bundle whose security metadata cannot be read as FHIR defines it, on the
/// Bundle, any entry's resource or any contained resource: never read past it.
fn check_labels(bundle: &Json) -> Result<(), InputError> {
    let bad = |what: String| {
        Err(InputError::new(
            ErrorCode::MalformedSecurity,
            format!(
                "the security metadata of {what} is not shaped as FHIR defines it (meta an object; meta.security and meta.tag arrays of codings)"
            ),
        ))
    };
    if !labels_well_formed(bundle) {
        return bad("the Bundle".into());
    }
    for (n, e) in arr(Some(bundle), "entry").enumerate() {
        let Some(r) = e.get("resource") else { continue };
        if !labels_well_formed(r) || !arr(Some(r), "contained").all(labels_well_formed) {
            return bad(format!("entry {n}"));
        }
        if r.get("contained").is_some_and(|c| !c.is_array()) {
            return bad(format!("entry {n} (contained is not an array)"));
        }
    }
    Ok(())
}

/// Refuse a JSON document in which an object names one key twice: serde_json keeps the last
/// one, so a second `meta` would silently replace the first (and its labels).
fn check_duplicate_keys(bytes: &[u8]) -> Result<(), InputError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match <NoDuplicateKeys as serde::Deserialize>::deserialize(&mut de) {
        Ok(_) => Ok(()),
        Err(e) => {
            let mut err = InputError::new(
                ErrorCode::DuplicateJsonKey,
                "a JSON object names the same key twice, so which one counts is ambiguous",
            );
            err.line = Some(e.line() as u64);
            err.column = Some(e.column() as u64);
            Err(err)
        }
    }
}

/// Walks a JSON document, failing on the first object that repeats a key.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        while a.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut seen = HashSet::new();
        while let Some(k) = a.next_key::<String>()? {
            if !seen.insert(k) {
                // Not the key itself: a hostile file could put anything there.
                return Err(serde::de::Error::custom("duplicate key"));
            }
            a.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }
}

fn snomed(code: &str) -> Coding {
    Coding::new(CodeSystem::Snomed, code)
}

// ---------------------------------------------------------------------------------------

struct Res<'a> {
    ty: &'a str,
    v: &'a Json,
    /// Item id derived from the resource.
    id: String,
}

/// An index entry: one resource, or several (duplicate ids, ids differing only by case,
/// shared fullUrls or identifiers), which no reference may pick from.
#[derive(Debug, Clone)]
enum Slot {
    One(usize),
    Many(Vec<usize>),
}

fn add(map: &mut HashMap<String, Slot>, key: String, i: usize) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, Slot::One(i));
        }
        Some(Slot::One(j)) if *j == i => {}
        Some(slot @ Slot::One(_)) => {
            if let Slot::One(j) = *slot {
                *slot = Slot::Many(vec![j, i]);
            }
        }
        Some(Slot::Many(v)) => {
            if v.last() != Some(&i) {
                v.push(i);
            }
        }
    }
}

/// What a FHIR `Reference` resolves to, in every form FHIR allows: `Type/id` (padded,
/// any case, `_history`), absolute `http(s)://.../Type/id`, `urn:uuid:` / `urn:oid:` matched
/// against `fullUrl`, `#id` of a contained resource, and `identifier` (system and value,
/// or value alone).
#[derive(Debug)]
enum Resolved<'a> {
    /// No reference was given.
    Absent,
    /// One resource of the Bundle.
    Found(usize),
    /// A resource contained in the referring one.
    Contained(&'a Json),
    /// Several resources match: none is picked (fail closed).
    Ambiguous(Vec<usize>),
    /// A reference was given but matches nothing in the Bundle.
    Missing,
}

struct Reader<'a> {
    bundle: &'a Json,
    res: Vec<Res<'a>>,
    /// `type/id`, `fullUrl` and its `type/id` (lowercase) -> resources.
    index: HashMap<String, Slot>,
    /// `system|value` and `|value` of every identifier (lowercase) -> resources.
    idents: HashMap<String, Slot>,
    /// Resources whose confidentiality depends on a reference that did not resolve to
    /// exactly one resource: withheld as `unresolvable-reference`.
    unresolved: HashSet<usize>,
    /// Resource -> every container placing it (reports, groups, panels, consultations),
    /// beside the one it is emitted under: confidentiality follows each.
    placed_in: HashMap<usize, Vec<usize>>,
    /// Resource -> its main item (composition, group, statement, medication statement).
    item_of: HashMap<usize, usize>,
    /// Resource -> every item made from it.
    items_of: HashMap<usize, Vec<usize>>,
    /// Resource -> the resource that contains it (report result, group member).
    owner: HashMap<usize, usize>,
    /// Resource -> the Encounter it was recorded in.
    encounter_of: HashMap<usize, usize>,
    /// Plan MedicationRequest -> GP Connect MedicationStatement based on it.
    statement_of_plan: HashMap<usize, usize>,
    /// Encounter resource -> composition item.
    composition: HashMap<usize, usize>,
    emitted: HashSet<usize>,
    /// The resource being emitted (its items are recorded in `items_of`).
    current: Option<usize>,
    /// (problem item, List resource) for problems relating a list.
    related_lists: Vec<(usize, usize)>,
    /// (Medication resource, MedicationRequest resource using it).
    medication_users: Vec<(usize, usize)>,
    /// (item, resource) whose withholding withholds the item (a problem's `actualProblem`
    /// when it is not read as the named statement itself).
    depends: Vec<(usize, usize)>,
    /// Observations that own members (test groups inside reports).
    groups: HashSet<usize>,
    /// Encounter resource -> the codings of its consultation list tree.
    list_codings: HashMap<usize, Vec<Coding>>,
    ex: Extract,
}

impl<'a> Reader<'a> {
    fn new(bundle: &'a Json) -> Self {
        Reader {
            bundle,
            res: Vec::new(),
            index: HashMap::new(),
            idents: HashMap::new(),
            unresolved: HashSet::new(),
            placed_in: HashMap::new(),
            item_of: HashMap::new(),
            items_of: HashMap::new(),
            owner: HashMap::new(),
            encounter_of: HashMap::new(),
            statement_of_plan: HashMap::new(),
            composition: HashMap::new(),
            emitted: HashSet::new(),
            current: None,
            related_lists: Vec::new(),
            medication_users: Vec::new(),
            depends: Vec::new(),
            groups: HashSet::new(),
            list_codings: HashMap::new(),
            ex: Extract::default(),
        }
    }

    /// Resolve a `Reference` made by resource `from` (the one reader of every form).
    fn resolve(&self, r: Option<&'a Json>, from: usize) -> Resolved<'a> {
        let Some(r) = r.filter(|r| r.is_object()) else {
            return Resolved::Absent;
        };
        let slot = |s: Option<&Slot>| match s {
            Some(Slot::One(i)) => Resolved::Found(*i),
            Some(Slot::Many(v)) => Resolved::Ambiguous(v.clone()),
            None => Resolved::Missing,
        };
        match r.get("reference") {
            Some(Json::String(s)) if !s.trim().is_empty() => {
                let s = s.trim();
                if let Some(local) = s.strip_prefix('#') {
                    return arr(Some(self.res[from].v), "contained")
                        .find(|c| str_at(c, "id").map(str::trim) == Some(local))
                        .map_or(Resolved::Missing, Resolved::Contained);
                }
                let lower = s.to_ascii_lowercase();
                if let Some(found) = self.index.get(&lower) {
                    return slot(Some(found));
                }
                if lower.starts_with("urn:") {
                    return Resolved::Missing;
                }
                return slot(ref_key(&lower).and_then(|k| self.index.get(&k)));
            }
            Some(Json::Null) | None => {}
            // A reference that is not a string cannot be read: it refers to something.
            Some(_) => return Resolved::Missing,
        }
        match r.get("identifier") {
            Some(ident) => {
                let value = str_at(ident, "value").map(str::trim).unwrap_or("");
                if value.is_empty() {
                    return Resolved::Missing;
                }
                let system = str_at(ident, "system").map(str::trim).unwrap_or("");
                slot(
                    self.idents
                        .get(&format!("{system}|{value}").to_ascii_lowercase()),
                )
            }
            None => Resolved::Absent,
        }
    }

    /// The one resource a reference names, if it names exactly one in the Bundle.
    fn lookup(&self, r: Option<&'a Json>, from: usize) -> Option<usize> {
        match self.resolve(r, from) {
            Resolved::Found(i) => Some(i),
            _ => None,
        }
    }

    /// Like `lookup`, for a reference `from`'s confidentiality depends on: a reference that
    /// is given but does not resolve to exactly one resource withholds `from` (and, when
    /// ambiguous, every candidate).
    fn depend(&mut self, r: Option<&'a Json>, from: usize) -> Option<usize> {
        match self.resolve(r, from) {
            Resolved::Found(i) => Some(i),
            Resolved::Absent | Resolved::Contained(_) => None,
            Resolved::Missing => {
                self.unresolved.insert(from);
                None
            }
            Resolved::Ambiguous(v) => {
                self.unresolved.insert(from);
                self.unresolved.extend(v);
                None
            }
        }
    }

    /// The item id a reference stands for (resolved resource's id, else the referenced id).
    fn ref_item_id(&self, r: &'a Json, from: usize) -> Option<String> {
        match self.resolve(Some(r), from) {
            Resolved::Found(i) => Some(self.res[i].id.clone()),
            _ => reference(Some(r))
                .and_then(|s| ref_key(s.trim()))
                .and_then(|k| k.split_once('/').map(|(_, id)| id.to_string())),
        }
    }

    fn read(&mut self) -> Result<(), InputError> {
        let bundle = self.bundle;
        for (n, e) in arr(Some(bundle), "entry").enumerate() {
            let Some(v) = e.get("resource") else { continue };
            let Some(ty) = str_at(v, "resourceType") else {
                continue;
            };
            let rid = str_at(v, "id").unwrap_or("").trim();
            let ident = arr(Some(v), "identifier")
                .filter_map(|i| str_at(i, "value"))
                .map(str::trim)
                .find(|s| is_uuid(s));
            let id = match (ident, rid) {
                (Some(u), _) => u.to_ascii_lowercase(),
                (None, r) if !r.is_empty() => r.to_ascii_lowercase(),
                _ => format!("entry-{n}"),
            };
            let i = self.res.len();
            if !rid.is_empty() {
                add(
                    &mut self.index,
                    format!("{ty}/{rid}").to_ascii_lowercase(),
                    i,
                );
            }
            if let Some(full) = str_at(e, "fullUrl")
                .map(str::trim)
                .filter(|f| !f.is_empty())
            {
                let full = full.to_ascii_lowercase();
                if !full.starts_with("urn:") {
                    if let Some(k) = ref_key(&full) {
                        add(&mut self.index, k, i);
                    }
                }
                add(&mut self.index, full, i);
            }
            for ident in arr(Some(v), "identifier") {
                let value = str_at(ident, "value").map(str::trim).unwrap_or("");
                if value.is_empty() {
                    continue;
                }
                let system = str_at(ident, "system").map(str::trim).unwrap_or("");
                add(
                    &mut self.idents,
                    format!("{system}|{value}").to_ascii_lowercase(),
                    i,
                );
                if !system.is_empty() {
                    add(
                        &mut self.idents,
                        format!("|{value}").to_ascii_lowercase(),
                        i,
                    );
                }
            }
            self.res.push(Res { ty, v, id });
        }
        self.read_patient();
        // Resources that become no item (Lists, Patient, Medication, ...): their codings are
        // screened for dissent all the same.
        for r in &self.res {
            if STRUCTURAL_TYPES.contains(&r.ty) {
                self.ex.record_codings.extend(all_codings(r.v));
            }
        }
        self.structure()?;
        // Compositions first, so every parent precedes its children.
        for i in 0..self.res.len() {
            if self.res[i].ty == "Encounter" {
                self.encounter(i);
            }
        }
        for i in 0..self.res.len() {
            if !self.owner.contains_key(&i) {
                self.emit(i, None, 0)?;
            }
        }
        // Anything left (members of a group cycle with no top-level owner).
        for i in 0..self.res.len() {
            self.emit(i, None, 0)?;
        }
        self.staff();
        self.entered_in_error();
        self.consents();
        self.confidentiality_graph();
        Ok(())
    }

    /// Who took part in each item: the `Practitioner`, `PractitionerRole` or `Organization`
    /// a resource's `asserter`, `recorder`, `requester.agent`, `performer` (or
    /// `performer.actor`, `practitioner.actor`) and, for a medication, its
    /// `MedicationStatement`'s `informationSource` refer to. A reference that does not
    /// resolve to exactly one such resource names nobody (never guessed).
    fn staff(&mut self) {
        // Practitioner -> the PractitionerRoles naming it, in one pass.
        let mut roles: HashMap<usize, Vec<usize>> = HashMap::new();
        for q in 0..self.res.len() {
            if self.res[q].ty == "PractitionerRole" {
                if let Some(p) = self.lookup(self.res[q].v.get("practitioner"), q) {
                    roles.entry(p).or_default().push(q);
                }
            }
        }
        for r in 0..self.res.len() {
            let Some(items) = self.items_of.get(&r).cloned() else {
                continue;
            };
            let v = self.res[r].v;
            let mut refs: Vec<(StaffKind, &'a Json)> = Vec::new();
            let mut one = |kind, x: Option<&'a Json>| {
                if let Some(x) = x {
                    refs.push((kind, x));
                }
            };
            one(StaffKind::Asserter, v.get("asserter"));
            one(StaffKind::Recorder, v.get("recorder"));
            one(
                StaffKind::Requester,
                v.get("requester").and_then(|q| q.get("agent")),
            );
            for p in arr(Some(v), "performer") {
                one(StaffKind::Performer, Some(p.get("actor").unwrap_or(p)));
            }
            for p in arr(Some(v), "practitioner") {
                one(StaffKind::Performer, p.get("actor"));
            }
            if let Some(&ms) = self.statement_of_plan.get(&r) {
                one(
                    StaffKind::InformationSource,
                    self.res[ms].v.get("informationSource"),
                );
            }
            let mut staff = Vec::new();
            for (kind, x) in refs {
                if let Some(agent) = self.agent(x, r, &roles) {
                    staff.push(StaffRef { kind, agent });
                }
            }
            if staff.is_empty() {
                continue;
            }
            for i in items {
                self.ex.items[i].staff.extend(staff.iter().cloned());
            }
        }
    }

    /// The agent a reference names (read into `ex.agents` once), keyed by the resource's
    /// item id; `None` unless it resolves to exactly one Practitioner, PractitionerRole or
    /// Organization.
    fn agent(
        &mut self,
        x: &'a Json,
        from: usize,
        roles: &HashMap<usize, Vec<usize>>,
    ) -> Option<String> {
        let t = self.lookup(Some(x), from)?;
        let ty = self.res[t].ty;
        if !matches!(ty, "Practitioner" | "PractitionerRole" | "Organization") {
            return None;
        }
        let key = format!("{}:{}", ty.to_ascii_lowercase(), self.res[t].id);
        if self.ex.agents.contains_key(&key) {
            return Some(key);
        }
        let mut agent = Agent::default();
        match ty {
            "Organization" => agent.org = Some(self.organization(t)),
            "PractitionerRole" => {
                self.role_into(t, &mut agent);
                if let Some(p) = self.lookup(self.res[t].v.get("practitioner"), t) {
                    if self.res[p].ty == "Practitioner" {
                        self.practitioner_into(p, &mut agent);
                    }
                }
            }
            _ => {
                self.practitioner_into(t, &mut agent);
                // Its role: the one PractitionerRole naming it (several: none is picked).
                if let Some(&[q]) = roles.get(&t).map(Vec::as_slice) {
                    self.role_into(q, &mut agent);
                }
            }
        }
        self.ex.agents.insert(key.clone(), agent);
        Some(key)
    }

    fn practitioner_into(&self, p: usize, agent: &mut Agent) {
        let v = self.res[p].v;
        agent.person = true;
        let names: Vec<&Json> = arr(Some(v), "name").collect();
        let name = names
            .iter()
            .find(|n| str_at(n, "use") == Some("official"))
            .or(names.first());
        if let Some(n) = name {
            let parts = |k: &str| -> Vec<String> {
                arr(Some(*n), k)
                    .filter_map(Json::as_str)
                    .filter_map(staff_text)
                    .collect()
            };
            let sn = StaffName {
                prefix: parts("prefix"),
                given: parts("given"),
                family: str_at(n, "family").and_then(staff_text),
            };
            if !sn.is_empty() {
                agent.name = Some(sn);
            }
        }
        agent.sds_user_id = identifier(v, SYSTEM_SDS_USER).and_then(sds_id);
        agent.gmp_number = identifier(v, SYSTEM_GMP_NUMBER).and_then(gmp_number);
    }

    fn role_into(&self, q: usize, agent: &mut Agent) {
        let v = self.res[q].v;
        for c in arr(Some(v), "code") {
            agent.role.extend(codings(Some(c)));
        }
        agent.role_profile_id = identifier(v, SYSTEM_SDS_ROLE_PROFILE).and_then(sds_id);
        if let Some(o) = self.lookup(v.get("organization"), q) {
            if self.res[o].ty == "Organization" {
                agent.org = Some(self.organization(o));
            }
        }
    }

    fn organization(&self, o: usize) -> AgentOrg {
        let v = self.res[o].v;
        AgentOrg {
            ods: identifier(v, SYSTEM_ODS)
                .map(str::trim)
                .filter(|s| crate::nhs::is_ods_code(s))
                .map(str::to_string),
            name: str_at(v, "name").and_then(staff_text),
        }
    }

    /// Every STU3 `Consent` of the record, top-level, contained or nested at any depth (one
    /// enumeration, [`resources_in`]), read by one classifier ([`consent_reading`]): one that
    /// refuses is a practice dissent (dated by its `dateTime`); one that is not a clear
    /// permission makes the items of the resource holding it grant nothing.
    fn consents(&mut self) {
        for r in 0..self.res.len() {
            let mut grants = true;
            for c in resources_in(self.res[r].v)
                .into_iter()
                .filter(|c| is_consent(c))
            {
                match consent_reading(c) {
                    ConsentReading::Permits => {}
                    ConsentReading::Refuses => {
                        self.ex.consent_refusals.push(date(c.get("dateTime")));
                        grants = false;
                    }
                    ConsentReading::Unclear => grants = false,
                }
            }
            if !grants {
                for &idx in self.items_of.get(&r).map(Vec::as_slice).unwrap_or(&[]) {
                    self.ex.items[idx].grants_nothing = true;
                }
            }
        }
    }

    /// Mark every item made from a resource the source says was entered in error, and
    /// every item that shares its meaning: the plan a `MedicationStatement` is merged into,
    /// the medications using a `Medication`, the entries of a `List` (and its sub-lists).
    /// Never shared, whatever the resource type.
    fn entered_in_error(&mut self) {
        let n = self.res.len();
        let mut marked: Vec<usize> = Vec::new();
        let mut stack: Vec<usize> = (0..n)
            .filter(|&r| says_entered_in_error(self.res[r].v))
            .collect();
        let mut seen: HashSet<usize> = stack.iter().copied().collect();
        while let Some(r) = stack.pop() {
            marked.extend(self.items_of.get(&r).map(Vec::as_slice).unwrap_or(&[]));
            let mut next: Vec<usize> = Vec::new();
            match self.res[r].ty {
                "MedicationStatement" => next.extend(
                    self.statement_of_plan
                        .iter()
                        .filter(|&(_, &st)| st == r)
                        .map(|(&plan, _)| plan),
                ),
                "Medication" => next.extend(
                    self.medication_users
                        .iter()
                        .filter(|&&(m, _)| m == r)
                        .map(|&(_, user)| user),
                ),
                "List" => {
                    let v = self.res[r].v;
                    for e in arr(Some(v), "entry") {
                        match self.resolve(e.get("item"), r) {
                            Resolved::Found(t) => next.push(t),
                            Resolved::Ambiguous(ts) => next.extend(ts),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            for t in next {
                if seen.insert(t) {
                    stack.push(t);
                }
            }
        }
        for i in marked {
            if let Some(item) = self.ex.items.get_mut(i) {
                item.entered_in_error = true;
            }
        }
    }

    /// Hand the confidentiality graph everything that is not containment: further
    /// placements, lists, referenced and contained resources, encounters within encounters,
    /// references that did not resolve, and the record's own labels.
    fn confidentiality_graph(&mut self) {
        let n = self.res.len();
        // The whole record: the Bundle's and the Patient's labels.
        for c in security(self.bundle) {
            self.ex.record_confidentiality.push(("Bundle", c));
        }
        for i in 0..n {
            if self.res[i].ty == "Patient" {
                for c in security(self.res[i].v) {
                    self.ex.record_confidentiality.push(("Patient", c));
                }
            }
        }
        // An encounter within another (`partOf`): the outer one covers it.
        for i in 0..n {
            if self.res[i].ty != "Encounter" {
                continue;
            }
            if let Some(o) = self.depend(self.res[i].v.get("partOf"), i) {
                self.placed_in.entry(i).or_default().push(o);
            }
        }
        // Every placement beside the one the item is emitted under.
        let placed: Vec<(usize, Vec<usize>)> = self.placed_in.drain().collect();
        for (r, containers) in placed {
            let Some(&main) = self.item_of.get(&r) else {
                continue;
            };
            for c in containers {
                if let Some(&ci) = self.item_of.get(&c) {
                    if ci != main && self.ex.items[main].parent != Some(ci) {
                        self.ex.items[main].also_in.push(ci);
                    }
                }
            }
        }
        // Lists (consultation, topic, heading, problem lists, any other): each covers its
        // entries and its sub-lists.
        let mut list_cover: HashMap<usize, usize> = HashMap::new();
        for i in 0..n {
            if self.res[i].ty == "List" {
                list_cover.insert(i, self.ex.covers.len());
                self.ex.covers.push(Cover {
                    construct: "List",
                    codes: security(self.res[i].v),
                    ..Cover::default()
                });
            }
        }
        for i in 0..n {
            let Some(&k) = list_cover.get(&i) else {
                continue;
            };
            let v = self.res[i].v;
            for e in arr(Some(v), "entry") {
                let targets = match self.resolve(e.get("item"), i) {
                    Resolved::Found(t) => vec![t],
                    Resolved::Ambiguous(ts) => {
                        // Every candidate counts, and none is shared on a guess.
                        self.unresolved.extend(ts.iter().copied());
                        ts
                    }
                    Resolved::Contained(c) => {
                        let codes = security(c);
                        self.ex.covers[k].codes.extend(codes);
                        Vec::new()
                    }
                    Resolved::Absent | Resolved::Missing => Vec::new(),
                };
                for t in targets {
                    match list_cover.get(&t) {
                        Some(&sub) => self.ex.covers[k].covers.push(sub),
                        None => {
                            let items = self.items_of.get(&t).cloned().unwrap_or_default();
                            self.ex.covers[k].items.extend(items);
                        }
                    }
                }
            }
        }
        // A problem relating a list covers the list's contents.
        for (item, list) in std::mem::take(&mut self.related_lists) {
            if let Some(&k) = list_cover.get(&list) {
                self.ex.covers[k].owners.push(item);
            }
        }
        // A referenced Medication covers the medications using it.
        let mut med_cover: HashMap<usize, usize> = HashMap::new();
        for (m, user) in std::mem::take(&mut self.medication_users) {
            let k = *med_cover.entry(m).or_insert_with(|| {
                self.ex.covers.push(Cover {
                    construct: "Medication",
                    codes: security(self.res[m].v),
                    ..Cover::default()
                });
                self.ex.covers.len() - 1
            });
            let items = self.items_of.get(&user).cloned().unwrap_or_default();
            self.ex.covers[k].items.extend(items);
        }
        // A contained resource's labels cover the resource containing it.
        for i in 0..n {
            let codes: Vec<String> = arr(Some(self.res[i].v), "contained")
                .flat_map(security)
                .collect();
            if !codes.is_empty() {
                let items = self.items_of.get(&i).cloned().unwrap_or_default();
                self.ex.covers.push(Cover {
                    construct: "contained",
                    codes,
                    items,
                    ..Cover::default()
                });
            }
        }
        // What a problem's meaning depends on.
        for (item, r) in std::mem::take(&mut self.depends) {
            if let Some(&t) = self.item_of.get(&r) {
                self.ex.items[item].depends_on.push(t);
            }
        }
        // References a confidentiality decision depends on that did not resolve.
        for r in std::mem::take(&mut self.unresolved) {
            for &it in self.items_of.get(&r).map(Vec::as_slice).unwrap_or(&[]) {
                self.ex.items[it].unresolved_placement = true;
            }
        }
    }

    /// One bundle, one verified patient, checked once for every resource: the Patient's NHS
    /// numbers (one number, under the current system, verified when a status is given), and
    /// the `subject`/`patient` of every resource, top-level or contained, which must be
    /// that Patient (by a reference that resolves to it, or by its NHS number). A contained
    /// Patient is another patient.
    fn check_identity(&mut self, p: usize) {
        let patient = self.res[p].v;
        let mut numbers: Vec<&str> = Vec::new();
        for ident in arr(Some(patient), "identifier") {
            let system = str_at(ident, "system").map(str::trim).unwrap_or_default();
            let value = str_at(ident, "value").map(str::trim).unwrap_or_default();
            if system == SYSTEM_NHS_NUMBER {
                if !numbers.contains(&value) {
                    numbers.push(value);
                }
                let status = extension(ident, EXT_NHS_VERIFICATION)
                    .map(|e| codings(e.get("valueCodeableConcept")));
                if let Some(codes) = status {
                    if !codes.iter().any(|c| c.code == NHS_NUMBER_VERIFIED) {
                        self.ex.identity(IdentityProblem::Unverified(
                            "the Patient's NHS number verification status is not 01 (number present and verified)".into(),
                        ));
                    }
                }
            } else if system.eq_ignore_ascii_case(SYSTEM_NHS_NUMBER_LEGACY)
                || system.to_ascii_lowercase().ends_with("/nhs-number")
            {
                self.ex.identity(IdentityProblem::Unverified(
                    "the Patient has an NHS number under a legacy or unknown identifier system (current: https://fhir.nhs.uk/Id/nhs-number)".into(),
                ));
            }
        }
        if numbers.len() > 1 {
            self.ex.identity(IdentityProblem::Conflicting(format!(
                "the Patient carries {} different NHS numbers",
                numbers.len()
            )));
        }
        let nhs = numbers.first().copied().unwrap_or_default();
        let mut foreign = 0usize;
        for r in &self.res {
            let contained = arr(Some(r.v), "contained");
            for v in std::iter::once(r.v).chain(contained) {
                if !std::ptr::eq(v, patient) && str_at(v, "resourceType") == Some("Patient") {
                    foreign += 1;
                }
                for field in ["subject", "patient"] {
                    if let Some(s) = v.get(field) {
                        if !self.is_the_patient(s, p, nhs) {
                            foreign += 1;
                        }
                    }
                }
            }
        }
        if foreign > 0 {
            self.ex.identity(IdentityProblem::Conflicting(format!(
                "{foreign} resource(s) name another patient (a subject or patient that is not the bundle's Patient, or a contained Patient)"
            )));
        }
    }

    /// Whether a `subject`/`patient` value is the bundle's Patient `p` (NHS number `nhs`):
    /// its reference resolves to `p`, and any identifier it gives is `p`'s NHS number.
    fn is_the_patient(&self, s: &Json, p: usize, nhs: &str) -> bool {
        let by_reference = match str_at(s, "reference").map(str::trim) {
            Some(r) if r.starts_with('#') => Some(false),
            Some(_) => Some(self.lookup(Some(s), p) == Some(p)),
            None => None,
        };
        let by_identifier = s.get("identifier").map(|i| {
            str_at(i, "system").map(str::trim) == Some(SYSTEM_NHS_NUMBER)
                && !nhs.is_empty()
                && str_at(i, "value").map(str::trim) == Some(nhs)
        });
        match (by_reference, by_identifier) {
            (None, None) => false,
            (r, i) => r.unwrap_or(true) && i.unwrap_or(true),
        }
    }

    fn read_patient(&mut self) {
        let patients: Vec<usize> = (0..self.res.len())
            .filter(|&i| self.res[i].ty == "Patient")
            .collect();
        for &p in &patients {
            match nhs_number(self.res[p].v) {
                Some(n) => self.ex.nhs_numbers.push(n.trim().to_string()),
                None if patients.len() > 1 => self.ex.nhs_numbers.push(String::new()),
                None => {}
            }
        }
        if let [p] = patients[..] {
            self.check_identity(p);
        }
        let ods = |o: &Json| {
            arr(Some(o), "identifier")
                .find(|i| str_at(i, "system") == Some(SYSTEM_ODS))
                .and_then(|i| str_at(i, "value"))
                .map(|s| s.trim().to_string())
        };
        let managing = patients
            .first()
            .and_then(|&p| self.lookup(self.res[p].v.get("managingOrganization"), p))
            .and_then(|o| ods(self.res[o].v));
        let practice = managing.or_else(|| {
            self.res
                .iter()
                .filter(|r| r.ty == "Organization")
                .find_map(|r| ods(r.v))
        });
        self.ex.set_practice_ods(practice.as_deref());
    }

    /// Ownership (report results, group members), consultation placement, plan statements.
    fn structure(&mut self) -> Result<(), InputError> {
        for i in 0..self.res.len() {
            let v = self.res[i].v;
            match self.res[i].ty {
                "DiagnosticReport" => {
                    for r in arr(Some(v), "result") {
                        let o = match self.resolve(Some(r), i) {
                            Resolved::Found(o) => o,
                            Resolved::Ambiguous(ts) => {
                                self.unresolved.insert(i);
                                self.unresolved.extend(ts);
                                continue;
                            }
                            _ => continue,
                        };
                        if o != i {
                            self.owner.entry(o).or_insert(i);
                            self.placed_in.entry(o).or_default().push(i);
                        }
                    }
                }
                "MedicationStatement" => {
                    for b in arr(Some(v), "basedOn") {
                        if let Some(p) = self.depend(Some(b), i) {
                            self.statement_of_plan.entry(p).or_insert(i);
                        }
                    }
                }
                "List"
                    if codings(v.get("code")).iter().any(|c| {
                        c.system == CodeSystem::Snomed && c.code == SNOMED_CONSULTATION_LIST
                    }) =>
                {
                    let enc = self.resolve(v.get("encounter"), i);
                    let mut seen = HashSet::new();
                    match enc {
                        Resolved::Found(enc) => self.place(i, Some(enc), &mut seen, 0)?,
                        // The consultation it belongs to is unknown: its items cannot be
                        // judged (fail closed).
                        Resolved::Missing | Resolved::Ambiguous(_) => {
                            self.place(i, None, &mut seen, 0)?
                        }
                        Resolved::Absent | Resolved::Contained(_) => {}
                    }
                }
                _ => {}
            }
        }
        // Test groups: `has-member` builds a group only inside a report, as the adaptor maps
        // it (elsewhere EMIS uses it to link entries that stay separate statements).
        // A panel's members, wherever it sits, are placed in it (a confidential panel covers
        // them).
        for i in 0..self.res.len() {
            if self.res[i].ty != "Observation" {
                continue;
            }
            for rel in arr(Some(self.res[i].v), "related") {
                if str_at(rel, "type") != Some("has-member") {
                    continue;
                }
                if let Some(o) = self.depend(rel.get("target"), i) {
                    if o != i {
                        self.placed_in.entry(o).or_default().push(i);
                    }
                }
            }
        }
        let mut work: Vec<usize> = self.owner.keys().copied().collect();
        work.sort_unstable();
        while let Some(g) = work.pop() {
            let v = self.res[g].v;
            for rel in arr(Some(v), "related") {
                if str_at(rel, "type") != Some("has-member") {
                    continue;
                }
                if let Some(o) = self.lookup(rel.get("target"), g) {
                    if o != g && self.res[o].ty == "Observation" && !self.owner.contains_key(&o) {
                        self.owner.insert(o, g);
                        self.groups.insert(g);
                        work.push(o);
                    }
                }
            }
        }
        // An owner loop (a has-member b has-member a) must not make an item its own
        // ancestor: each resource has one owner, so one colouring walk finds every loop in
        // linear time, and the edge closing it is cut.
        let mut state = vec![0u8; self.res.len()]; // 0 new, 1 on the current walk, 2 done
        let mut keys: Vec<usize> = self.owner.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            let mut path = Vec::new();
            let mut cur = k;
            loop {
                match state[cur] {
                    2 => break,
                    1 => {
                        // `cur` closes a loop: cut its owner edge.
                        self.owner.remove(&cur);
                        break;
                    }
                    _ => {}
                }
                state[cur] = 1;
                path.push(cur);
                match self.owner.get(&cur) {
                    Some(&o) => cur = o,
                    None => break,
                }
            }
            for p in path {
                state[p] = 2;
            }
        }
        // Fall back to the resource's own encounter reference.
        // Every resource's own encounter references count too (not only the first: each
        // placement counts), whether or not a consultation list placed it.
        for i in 0..self.res.len() {
            let v = self.res[i].v;
            if matches!(self.res[i].ty, "Encounter" | "List") {
                continue;
            }
            let refs = [
                v.get("context"),
                v.get("encounter"),
                v.get("context").and_then(|c| c.get("encounter")),
                extension(v, EXT_ASSOCIATED_ENCOUNTER).and_then(|e| e.get("valueReference")),
            ];
            for r in refs.into_iter().flatten() {
                if r.get("encounter").is_some() && r.get("reference").is_none() {
                    continue; // `context` holding `encounter` (read on its own)
                }
                let Some(e) = self.depend(Some(r), i) else {
                    continue;
                };
                if self.res[e].ty == "Encounter" {
                    self.encounter_of.entry(i).or_insert(e);
                    self.placed_in.entry(i).or_default().push(e);
                }
            }
        }
        Ok(())
    }

    /// Place a consultation list's items (through its sub-lists) in its encounter; with no
    /// resolvable encounter, its items cannot be judged and are withheld.
    fn place(
        &mut self,
        list: usize,
        enc: Option<usize>,
        seen: &mut HashSet<usize>,
        depth: usize,
    ) -> Result<(), InputError> {
        if depth > MAX_NESTING {
            return Err(nesting_error());
        }
        if !seen.insert(list) {
            return Ok(());
        }
        let v = self.res[list].v;
        // A consultation's lists are part of it: their codings are the composition's.
        match enc {
            Some(enc) => self
                .list_codings
                .entry(enc)
                .or_default()
                .extend(all_codings(v)),
            None => self.ex.record_codings.extend(all_codings(v)),
        }
        for e in arr(Some(v), "entry") {
            let Some(t) = self.lookup(e.get("item"), list) else {
                continue;
            };
            if self.res[t].ty == "List" {
                self.place(t, enc, seen, depth + 1)?;
            } else if let Some(enc) = enc {
                self.encounter_of.entry(t).or_insert(enc);
                self.placed_in.entry(t).or_default().push(enc);
            } else {
                self.unresolved.insert(t);
            }
        }
        Ok(())
    }

    fn encounter(&mut self, i: usize) {
        let v = self.res[i].v;
        let mut codes = Vec::new();
        for t in arr(Some(v), "type") {
            codes.extend(codings(Some(t)));
        }
        let effective = period(v.get("period"));
        let mut carried = all_codings(v);
        carried.extend(self.list_codings.remove(&i).unwrap_or_default());
        self.current = Some(i);
        let idx = self.push(Item {
            id: self.res[i].id.clone(),
            carried,
            element: Some(Element::EhrComposition),
            class_code: Some("COMPOSITION".into()),
            status_code: Some("COMPLETE".into()),
            codes,
            availability: effective.low,
            effective,
            confidentiality: security(v),
            ..Item::default()
        });
        self.current = None;
        self.composition.insert(i, idx);
        self.emitted.insert(i);
    }

    fn push(&mut self, mut item: Item) -> usize {
        item.line = 0;
        self.ex.items.push(item);
        let idx = self.ex.items.len() - 1;
        if let Some(r) = self.current {
            self.item_of.entry(r).or_insert(idx);
            self.items_of.entry(r).or_default().push(idx);
        }
        idx
    }

    /// Emit resource `i` (and what it contains) under `parent` (else its composition).
    fn emit(&mut self, i: usize, parent: Option<usize>, depth: usize) -> Result<(), InputError> {
        if depth > MAX_NESTING {
            return Err(nesting_error());
        }
        if self.emitted.contains(&i) {
            return Ok(());
        }
        let ty = self.res[i].ty;
        if STRUCTURAL_TYPES.contains(&ty) {
            return Ok(());
        }
        self.emitted.insert(i);
        let parent = parent.or_else(|| {
            self.encounter_of
                .get(&i)
                .and_then(|e| self.composition.get(e))
                .copied()
        });
        let saved = self.current.replace(i);
        let r = self.emit_as(i, ty, parent, depth);
        self.current = saved;
        r
    }

    fn emit_as(
        &mut self,
        i: usize,
        ty: &str,
        parent: Option<usize>,
        depth: usize,
    ) -> Result<(), InputError> {
        match ty {
            "Encounter" => {}
            "Condition" => self.condition(i, parent),
            "AllergyIntolerance" => self.allergy(i, parent),
            "MedicationRequest" => self.medication_request(i, parent),
            "Observation" => self.observation(i, parent, depth)?,
            "DiagnosticReport" => self.report(i, parent, depth)?,
            "Immunization" => self.immunization(i, parent),
            "ProcedureRequest" => self.simple(i, parent, Element::PlanStatement),
            "ReferralRequest" => self.simple(i, parent, Element::RequestStatement),
            "DocumentReference" => self.simple(i, parent, Element::NarrativeStatement),
            _ => self.simple(i, parent, Element::Other),
        }
        Ok(())
    }

    fn base(&self, i: usize, element: Element, parent: Option<usize>) -> Item {
        let v = self.res[i].v;
        Item {
            id: self.res[i].id.clone(),
            element: Some(element),
            parent,
            confidentiality: security(v),
            carried: all_codings(v),
            free_text: has_text(v.get("note"))
                || has_text(v.get("comment"))
                || has_text(v.get("description"))
                || v.get("text").is_some_and(|t| has_text(t.get("div"))),
            ..Item::default()
        }
    }

    fn condition(&mut self, i: usize, parent: Option<usize>) {
        let v = self.res[i].v;
        let mut item = self.base(i, Element::LinkSet, parent);
        item.class_code = Some("OBS".into());
        item.status_code = Some("COMPLETE".into());
        // GP Connect requires clinicalStatus; anything but `active` or `recurrence` (an
        // active status in R4's hierarchy) is not current.
        item.clinical_status = mapped(v, "clinicalStatus", &CONDITION_CLINICAL);
        let active = matches!(item.clinical_status, Some("active" | "recurrence"));
        item.verification = mapped(v, "verificationStatus", &CONDITION_VERIFICATION);
        item.codes = vec![snomed(if active { "394774009" } else { "394775005" })];
        if extension(v, EXT_SIGNIFICANCE).and_then(|e| str_at(e, "valueCode")) == Some("major") {
            item.qualifiers.push(snomed("386134007"));
        }
        item.effective.low = date(v.get("onsetDateTime"));
        item.effective.high = date(v.get("abatementDateTime"));
        item.availability = date(v.get("assertedDate"));
        item.code_uncoded = v.get("code").is_some() && codings(v.get("code")).is_empty();
        let mut lists = Vec::new();
        for e in extensions(v, EXT_RELATED_CONTENT) {
            let Some(r) = e.get("valueReference") else {
                continue;
            };
            let target = self.lookup(Some(r), i);
            let is_list = target.is_some_and(|t| self.res[t].ty == "List")
                || reference(Some(r))
                    .and_then(|s| ref_key(s.trim()))
                    .is_some_and(|k| k.starts_with("list/"));
            if is_list {
                lists.extend(target);
            } else if let Some(id) = self.ref_item_id(r, i) {
                item.component_refs.push(id);
            }
        }
        // Problems related to this one: read as ids only; the mapping links a shared
        // problem to another only when that one is shared too.
        for e in extensions(v, EXT_RELATED_PROBLEM) {
            if let Some(t) = extension(e, "target")
                .and_then(|t| t.get("valueReference"))
                .and_then(|r| self.lookup(Some(r), i))
                .filter(|&t| self.res[t].ty == "Condition" && t != i)
            {
                item.related_problems.push(self.res[t].id.clone());
            }
        }
        let actual = self.depend(
            extension(v, EXT_ACTUAL_PROBLEM).and_then(|e| e.get("valueReference")),
            i,
        );
        let named_obs = actual.filter(|&t| self.is_plain_observation(t));
        let synth = match named_obs {
            Some(t) => {
                item.named_statement = Some(self.res[t].id.clone());
                None
            }
            None => {
                let id = format!("{}-named", item.id);
                item.named_statement = Some(id.clone());
                Some(Item {
                    id,
                    element: Some(Element::ObservationStatement),
                    class_code: Some("OBS".into()),
                    status_code: Some("COMPLETE".into()),
                    parent,
                    codes: codings(v.get("code")),
                    code_uncoded: codings(v.get("code")).is_empty(),
                    effective: item.effective,
                    availability: item.availability,
                    confidentiality: item.confidentiality.clone(),
                    free_text: has_text(v.get("code")),
                    ..Item::default()
                })
            }
        };
        let ls = self.push(item);
        if let Some(s) = synth {
            self.push(s);
            // The problem's meaning is the resource its actualProblem points at, whatever
            // that is read as (a group, a note): withheld with it.
            if let Some(t) = actual {
                self.depends.push((ls, t));
            }
        }
        for l in lists {
            self.related_lists.push((ls, l));
        }
    }

    /// An Observation that becomes a single ObservationStatement (not a group or a note).
    fn is_plain_observation(&self, t: usize) -> bool {
        let v = self.res[t].v;
        self.res[t].ty == "Observation"
            && v.get("component").is_none()
            && !self.groups.contains(&t)
            && !is_comment_note(v)
    }

    fn allergy(&mut self, i: usize, parent: Option<usize>) {
        let v = self.res[i].v;
        let medication = arr(Some(v), "category").any(|c| c.as_str() == Some("medication"));
        let mut header = self.base(i, Element::CompoundStatement, parent);
        header.class_code = Some("CATEGORY".into());
        header.status_code = Some("COMPLETE".into());
        header.codes = vec![Coding {
            system: CodeSystem::ReadV2,
            code: if medication { "14L..00" } else { "SN53.00" }.into(),
            display: None,
        }];
        header.effective.low = date(v.get("onsetDateTime"));
        // Resolved allergies (GP Connect "Ended allergies") carry an end date.
        if let Some(end) = extension(v, EXT_ALLERGY_END) {
            header.effective.high =
                date(extension(end, "endDate").and_then(|e| e.get("valueDateTime")));
        }
        header.availability = date(v.get("assertedDate"));
        header.verification = mapped(v, "verificationStatus", &ALLERGY_VERIFICATION);
        header.clinical_status = mapped(v, "clinicalStatus", &ALLERGY_CLINICAL);
        header.free_text |= arr(Some(v), "reaction")
            .any(|r| has_text(r.get("description")) || has_text(r.get("note")));
        // The coded part of each reaction (its text is narrative, above; the text of a
        // manifestation or route is free text too).
        header.free_text |= arr(Some(v), "reaction").any(|r| {
            arr(Some(r), "manifestation").any(|m| has_text(Some(m)))
                || has_text(r.get("exposureRoute"))
        });
        header.reactions = arr(Some(v), "reaction")
            .map(|r| {
                let mut manifestation = Vec::new();
                for m in arr(Some(r), "manifestation") {
                    manifestation.extend(codings(Some(m)));
                }
                Reaction {
                    manifestation,
                    severity: mapped(r, "severity", &REACTION_SEVERITY),
                    onset: date(r.get("onset")),
                    exposure_route: codings(r.get("exposureRoute")),
                }
            })
            .collect();
        let codes = codings(v.get("code"));
        // A transfer-degraded allergy code names its allergen only in `code.text`: kept (the
        // policy decides whether it is shared); any other code text is free text.
        let code_text = codes
            .iter()
            .any(crate::codes::degraded::is_degraded_allergy)
            .then(|| v.get("code").and_then(|c| str_at(c, "text")))
            .flatten()
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= MAX_KEPT_TEXT)
            .map(str::to_string);
        let obs = Item {
            id: format!("{}-obs", header.id),
            element: Some(Element::ObservationStatement),
            class_code: Some("OBS".into()),
            status_code: Some("COMPLETE".into()),
            code_uncoded: codes.is_empty(),
            codes,
            effective: header.effective,
            availability: header.availability,
            free_text: code_text.is_none() && has_text(v.get("code")),
            code_text,
            ..Item::default()
        };
        let h = self.push(header);
        self.push(Item {
            parent: Some(h),
            ..obs
        });
    }

    fn medication_request(&mut self, i: usize, parent: Option<usize>) {
        let v = self.res[i].v;
        let intent = str_at(v, "intent").unwrap_or("");
        let status = str_at(v, "status").unwrap_or("");
        let consumable = match self.resolve(v.get("medicationReference"), i) {
            Resolved::Found(m) => {
                self.medication_users.push((m, i));
                codings(self.res[m].v.get("code"))
            }
            Resolved::Contained(m) => codings(m.get("code")),
            Resolved::Absent => codings(v.get("medicationCodeableConcept")),
            Resolved::Missing | Resolved::Ambiguous(_) => {
                // The drug, and its labels, cannot be read: withheld.
                self.depend(v.get("medicationReference"), i);
                Vec::new()
            }
        };
        let dispense = v.get("dispenseRequest");
        let effective = period(dispense.and_then(|d| d.get("validityPeriod")));
        let availability = date(v.get("authoredOn"));
        // The source's status, in the XML's terms: `active` ACTIVE, `on-hold` SUSPENDED
        // (shared as on-hold), anything else (completed, cancelled, stopped, draft,
        // unknown) COMPLETE: not current.
        let status_code = Some(
            match status.trim() {
                "active" => "ACTIVE",
                "on-hold" => "SUSPENDED",
                _ => "COMPLETE",
            }
            .to_string(),
        );
        let quantity_json = dispense.and_then(|d| d.get("quantity"));
        let quantity = number(quantity_json.and_then(|q| q.get("value")));
        let quantity_unit = quantity_json.and_then(quantity_unit_text);
        // The dose instruction is prescribing content the model keeps (the policy decides
        // whether it is shared); patient instructions and notes stay free text.
        let (dosage, dosage_free_text) = dosage_text(v);
        let dose = match arr(Some(v), "dosageInstruction").collect::<Vec<_>>()[..] {
            [d] => structured_dose(d),
            _ => None,
        };
        let dosage_text = dosage_free_text
            || arr(Some(v), "dosageInstruction").any(|d| has_text(d.get("patientInstruction")));
        let own_id = self.res[i].id.clone();
        let statement_id = match (intent, self.statement_of_plan.get(&i)) {
            ("plan", Some(&s)) => self.res[s].id.clone(),
            _ => format!("{own_id}-ms"),
        };
        let last_issue = self
            .statement_of_plan
            .get(&i)
            .and_then(|&s| extension(self.res[s].v, EXT_LAST_ISSUE))
            .map_or(DateField::Absent, |e| date(e.get("valueDateTime")));
        let mut ms_security = security(v);
        let mut carried = all_codings(v);
        if let Some(m) = self.lookup(v.get("medicationReference"), i) {
            carried.extend(all_codings(self.res[m].v));
        }
        if let Some(&s) = self.statement_of_plan.get(&i) {
            carried.extend(all_codings(self.res[s].v));
            for c in security(self.res[s].v) {
                if !ms_security.contains(&c) {
                    ms_security.push(c);
                }
            }
        }
        let ms = self.push(Item {
            id: statement_id,
            element: Some(Element::MedicationStatement),
            class_code: Some("SBADM".into()),
            mood_code: Some("INT".into()),
            status_code: status_code.clone(),
            parent,
            consumable,
            effective,
            availability,
            confidentiality: ms_security,
            carried,
            free_text: dosage_text,
            dosage_text: dosage,
            dose,
            last_issue,
            ..Item::default()
        });
        let supply_text = has_text(v.get("note"));
        match intent {
            "plan" => {
                let prescription_type = extension(v, EXT_PRESCRIPTION_TYPE)
                    .map(|e| codings(e.get("valueCodeableConcept")))
                    .unwrap_or_default();
                let acute = prescription_type
                    .iter()
                    .any(|c| c.code == "acute" || c.code == "acute-handwritten");
                let repeat_dispensing = !acute
                    && prescription_type
                        .iter()
                        .any(|c| c.code == "repeat-dispensing");
                let issues_recorded = extension(v, EXT_REPEAT_INFO)
                    .and_then(|e| extension(e, "numberOfRepeatPrescriptionsIssued"))
                    .and_then(|e| e.get("valueUnsignedInt").or_else(|| e.get("valueInteger")))
                    .and_then(Json::as_u64)
                    .and_then(|n| u32::try_from(n).ok());
                let repeats = extension(v, EXT_REPEAT_INFO)
                    .and_then(|e| extension(e, "numberOfRepeatPrescriptionsAllowed"))
                    .and_then(|e| e.get("valueUnsignedInt").or_else(|| e.get("valueInteger")))
                    .and_then(Json::as_u64)
                    .or_else(|| {
                        dispense
                            .and_then(|d| d.get("numberOfRepeatsAllowed"))
                            .and_then(Json::as_u64)
                    });
                // As the adaptor: acute 0, else the repeats allowed, else 1.
                let repeat_number = if acute {
                    0
                } else {
                    repeats.map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX))
                };
                self.push(Item {
                    id: own_id.clone(),
                    element: Some(Element::EhrSupplyAuthorise),
                    class_code: Some("SPLY".into()),
                    mood_code: Some("INT".into()),
                    status_code,
                    parent: Some(ms),
                    effective,
                    availability,
                    repeat_number: Some(repeat_number),
                    issues_recorded,
                    repeat_dispensing,
                    quantity,
                    quantity_unit,
                    free_text: supply_text,
                    ..Item::default()
                });
                let reason = extension(v, EXT_STATUS_REASON);
                if reason.is_some() || status == "stopped" {
                    let when = date(
                        reason
                            .and_then(|r| extension(r, "statusChangeDate"))
                            .and_then(|e| e.get("valueDateTime")),
                    );
                    let reason_cc = reason
                        .and_then(|r| extension(r, "statusReason"))
                        .and_then(|e| e.get("valueCodeableConcept"));
                    self.push(Item {
                        id: format!("{own_id}-discontinue"),
                        element: Some(Element::EhrSupplyDiscontinue),
                        class_code: Some("SPLY".into()),
                        mood_code: Some("RQO".into()),
                        status_code: Some("COMPLETE".into()),
                        parent: Some(ms),
                        codes: codings(reason_cc),
                        code_uncoded: codings(reason_cc).is_empty(),
                        availability: when,
                        prior_ref: Some(own_id),
                        free_text: has_text(reason_cc),
                        ..Item::default()
                    });
                }
            }
            _ => {
                // `order` (and anything else: an issue needs a plan to be shared at all).
                let prior = arr(Some(v), "basedOn").find_map(|b| self.ref_item_id(b, i));
                self.push(Item {
                    id: own_id,
                    element: Some(Element::EhrSupplyPrescribe),
                    class_code: Some("SPLY".into()),
                    mood_code: Some("RQO".into()),
                    status_code: Some("COMPLETE".into()),
                    parent: Some(ms),
                    effective,
                    availability,
                    quantity,
                    quantity_unit,
                    prior_ref: prior,
                    free_text: supply_text,
                    ..Item::default()
                });
            }
        }
    }

    fn observation(
        &mut self,
        i: usize,
        parent: Option<usize>,
        depth: usize,
    ) -> Result<(), InputError> {
        let v = self.res[i].v;
        if is_comment_note(v) {
            let mut item = self.base(i, Element::NarrativeStatement, parent);
            item.free_text = true;
            item.availability = date(v.get("issued"));
            self.push(item);
            return Ok(());
        }
        let members: Vec<usize> = arr(Some(v), "related")
            .filter(|r| str_at(r, "type") == Some("has-member"))
            .filter_map(|r| self.lookup(r.get("target"), i))
            .filter(|&t| self.owner.get(&t) == Some(&i))
            .collect();
        // Components form a measurement battery only when they are coded; EMIS writes
        // referral details as text-coded components with string values, which the GP2GP
        // adaptor flattens into an annotation: that is free text, not a battery.
        let all_components: Vec<&Json> = arr(Some(v), "component").collect();
        let coded = all_components
            .iter()
            .any(|c| !codings(c.get("code")).is_empty());
        let components: Vec<&Json> = if coded {
            all_components.clone()
        } else {
            Vec::new()
        };
        let mut item = self.base(i, Element::ObservationStatement, parent);
        if !coded && !all_components.is_empty() {
            item.free_text = true;
        }
        item.class_code = Some("OBS".into());
        item.status_code = Some("COMPLETE".into());
        item.codes = codings(v.get("code"));
        item.code_uncoded = item.codes.is_empty();
        item.free_text |= has_text(v.get("code"));
        item.effective = match v.get("effectivePeriod") {
            Some(p) => period(Some(p)),
            None => Effective {
                center: date(v.get("effectiveDateTime")),
                ..Effective::default()
            },
        };
        item.availability = date(v.get("issued"));
        item.authored = item.availability;
        if members.is_empty() && components.is_empty() {
            observation_value(&mut item, v);
            self.push(item);
            return Ok(());
        }
        // A group: BATTERY for a multi-component measurement, CLUSTER for a test group.
        item.element = Some(Element::CompoundStatement);
        item.class_code = Some(
            if components.is_empty() {
                "CLUSTER"
            } else {
                "BATTERY"
            }
            .into(),
        );
        let (effective, availability) = (item.effective, item.availability);
        let id = item.id.clone();
        let g = self.push(item);
        for (n, c) in components.iter().enumerate() {
            let mut ci = Item {
                id: format!("{id}-c{n}"),
                element: Some(Element::ObservationStatement),
                class_code: Some("OBS".into()),
                status_code: Some("COMPLETE".into()),
                parent: Some(g),
                codes: codings(c.get("code")),
                effective,
                availability,
                authored: availability,
                free_text: has_text(c.get("code")),
                ..Item::default()
            };
            ci.code_uncoded = ci.codes.is_empty();
            observation_value(&mut ci, c);
            self.push(ci);
        }
        for m in members {
            self.emit(m, Some(g), depth + 1)?;
        }
        Ok(())
    }

    fn report(&mut self, i: usize, parent: Option<usize>, depth: usize) -> Result<(), InputError> {
        let v = self.res[i].v;
        let mut item = self.base(i, Element::CompoundStatement, parent);
        item.class_code = Some("CLUSTER".into());
        item.status_code = Some("COMPLETE".into());
        item.codes = vec![snomed("16488004")];
        item.effective = match v.get("effectivePeriod") {
            Some(p) => period(Some(p)),
            None => Effective {
                center: date(v.get("effectiveDateTime")),
                ..Effective::default()
            },
        };
        item.availability = date(v.get("issued"));
        item.authored = item.availability;
        item.free_text |= has_text(v.get("conclusion")) || v.get("presentedForm").is_some();
        let availability = item.availability;
        let report = self.push(item);
        let mut specimens: Vec<(usize, usize)> = Vec::new();
        for s in arr(Some(v), "specimen") {
            let Some(si) = self.lookup(Some(s), i) else {
                continue;
            };
            if self.res[si].ty != "Specimen" || specimens.iter().any(|&(r, _)| r == si) {
                continue;
            }
            let sv = self.res[si].v;
            let collected = sv.get("collection");
            let it = Item {
                id: self.res[si].id.clone(),
                element: Some(Element::CompoundStatement),
                class_code: Some("CLUSTER".into()),
                status_code: Some("COMPLETE".into()),
                parent: Some(report),
                codes: vec![snomed("123038009")],
                effective: Effective {
                    center: date(collected.and_then(|c| c.get("collectedDateTime"))),
                    ..Effective::default()
                },
                availability,
                confidentiality: security(sv),
                carried: all_codings(sv),
                free_text: has_text(sv.get("note")),
                ..Item::default()
            };
            specimens.push((si, self.push(it)));
            self.emitted.insert(si);
        }
        let results: Vec<usize> = arr(Some(v), "result")
            .filter_map(|r| self.lookup(Some(r), i))
            .filter(|&t| self.owner.get(&t) == Some(&i))
            .collect();
        for r in results {
            let spec = self.lookup(self.res[r].v.get("specimen"), r);
            let target = specimens
                .iter()
                .find(|&&(s, _)| Some(s) == spec)
                .or(specimens.first())
                .map_or(report, |&(_, item)| item);
            self.emit(r, Some(target), depth + 1)?;
        }
        Ok(())
    }

    fn immunization(&mut self, i: usize, parent: Option<usize>) {
        let v = self.res[i].v;
        let mut item = self.base(i, Element::ObservationStatement, parent);
        item.class_code = Some("OBS".into());
        item.status_code = Some("COMPLETE".into());
        let procedure =
            extension(v, EXT_VACCINATION_PROCEDURE).map(|e| codings(e.get("valueCodeableConcept")));
        item.codes = procedure.unwrap_or_default();
        item.codes.extend(codings(v.get("vaccineCode")));
        item.code_uncoded = item.codes.is_empty();
        item.effective.center = date(v.get("date"));
        // Anything but an explicit `false` (or no value) is read as not given: a
        // vaccination is never claimed done on a guess.
        item.not_done = !matches!(v.get("notGiven"), None | Some(Json::Bool(false)));
        item.availability = match extension(v, EXT_DATE_RECORDED) {
            Some(e) => date(e.get("valueDateTime")),
            None => item.effective.center,
        };
        self.push(item);
    }

    fn simple(&mut self, i: usize, parent: Option<usize>, element: Element) {
        let v = self.res[i].v;
        let mut item = self.base(i, element, parent);
        item.status_code = Some("COMPLETE".into());
        item.codes = match self.res[i].ty {
            "ReferralRequest" => {
                let mut cs = Vec::new();
                for r in arr(Some(v), "reasonCode") {
                    cs.extend(codings(Some(r)));
                }
                cs.extend(codings(v.get("type")));
                cs
            }
            "DocumentReference" => codings(v.get("type")),
            // A Consent's own code is its category, and only a clear permission has one: a
            // permit code elsewhere grants nothing (`screen::item_consent`).
            "Consent" if consent_reading(v) == ConsentReading::Permits => {
                let mut cs = Vec::new();
                for c in arr(Some(v), "category") {
                    cs.extend(codings(Some(c)));
                }
                cs
            }
            "Consent" => Vec::new(),
            _ => codings(v.get("code")),
        };
        item.free_text |= self.res[i].ty == "DocumentReference";
        item.effective.center = date(
            v.get("occurrenceDateTime")
                .or_else(|| v.get("effectiveDateTime"))
                .or_else(|| v.get("created"))
                .or_else(|| v.get("dateTime")),
        );
        item.availability = date(
            v.get("authoredOn")
                .or_else(|| v.get("indexed"))
                .or_else(|| v.get("issued"))
                .or_else(|| v.get("authored")),
        );
        self.push(item);
    }
}

/// Longest dose instruction or unit text kept (as the XML reader); longer is free text.
const MAX_KEPT_TEXT: usize = 1024;

/// The dose instruction of a MedicationRequest (`dosageInstruction[].text`, joined by `; `),
/// and whether some of it had to be treated as free text instead (not a string, too long).
fn dosage_text(v: &Json) -> (Option<String>, bool) {
    let mut parts = Vec::new();
    let mut free = false;
    for d in arr(Some(v), "dosageInstruction") {
        match d.get("text") {
            Some(Json::String(t)) if !t.trim().is_empty() => parts.push(t.trim()),
            Some(t) if has_text(Some(t)) => free = true,
            _ => {}
        }
    }
    let text = parts.join("; ");
    if text.len() > MAX_KEPT_TEXT {
        return (None, true);
    }
    ((!text.is_empty()).then_some(text), free)
}

/// The unit of a Quantity as text: its UCUM code when the system is UCUM, else `unit`, else
/// `code` (the policy's unit list decides whether it is emitted).
/// The structured part of one STU3 `Dosage` (its text is read by [`dosage_text`]); `None`
/// when it structures nothing.
fn structured_dose(d: &Json) -> Option<StructuredDose> {
    let dq = |q: Option<&Json>| -> Option<DoseQuantity> {
        let q = q?;
        Some(DoseQuantity {
            value: number(q.get("value"))?,
            unit: quantity_unit_text(q),
        })
    };
    let repeat = d.get("timing").and_then(|t| t.get("repeat"));
    let range = d
        .get("doseRange")
        .map(|r| (dq(r.get("low")), dq(r.get("high"))))
        .filter(|(l, h)| l.is_some() || h.is_some());
    let sd = StructuredDose {
        quantity: dq(d.get("doseQuantity")),
        range,
        frequency: repeat
            .and_then(|r| r.get("frequency"))
            .and_then(Json::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n > 0),
        period: number(repeat.and_then(|r| r.get("period")))
            .filter(|p| p.parse::<f64>().is_ok_and(|x| x.is_finite() && x > 0.0)),
        period_unit: repeat.and_then(|r| str_at(r, "periodUnit")).and_then(|u| {
            ["s", "min", "h", "d", "wk", "mo", "a"]
                .into_iter()
                .find(|k| *k == u.trim())
        }),
        route: codings(d.get("route")),
        as_needed: d.get("asNeededBoolean").and_then(Json::as_bool),
        as_needed_for: codings(d.get("asNeededCodeableConcept")),
        additional: arr(Some(d), "additionalInstruction")
            .flat_map(|c| codings(Some(c)))
            .collect(),
    };
    (sd != StructuredDose::default()).then_some(sd)
}

fn quantity_unit_text(q: &Json) -> Option<String> {
    let ucum = str_at(q, "system").is_some_and(|s| s.trim() == crate::policy::detail::UCUM_SYSTEM);
    let code = str_at(q, "code").filter(|_| ucum);
    code.or_else(|| str_at(q, "unit"))
        .or_else(|| str_at(q, "code"))
        .map(str::trim)
        .filter(|u| !u.is_empty() && u.len() <= MAX_KEPT_TEXT)
        .map(str::to_string)
}

/// STU3 Condition `verificationStatus` codes and the R4 `condition-ver-status` code each
/// means (the same words; STU3 `unknown` says nothing, so it maps to none;
/// `entered-in-error` is withheld before any mapping).
const CONDITION_VERIFICATION: [(&str, &str); 5] = [
    ("provisional", "provisional"),
    ("differential", "differential"),
    ("confirmed", "confirmed"),
    ("refuted", "refuted"),
    ("entered-in-error", "entered-in-error"),
];
/// STU3 AllergyIntolerance `verificationStatus` codes and their R4
/// `allergyintolerance-verification` codes.
const ALLERGY_VERIFICATION: [(&str, &str); 4] = [
    ("unconfirmed", "unconfirmed"),
    ("confirmed", "confirmed"),
    ("refuted", "refuted"),
    ("entered-in-error", "entered-in-error"),
];
/// STU3 `AllergyIntolerance.reaction.severity` codes and their R4 codes (the same).
const REACTION_SEVERITY: [(&str, &str); 3] = [
    ("mild", "mild"),
    ("moderate", "moderate"),
    ("severe", "severe"),
];
/// STU3 Condition `clinicalStatus` codes and their R4 `condition-clinical` codes.
const CONDITION_CLINICAL: [(&str, &str); 5] = [
    ("active", "active"),
    ("recurrence", "recurrence"),
    ("inactive", "inactive"),
    ("remission", "remission"),
    ("resolved", "resolved"),
];
/// STU3 AllergyIntolerance `clinicalStatus` codes and their R4
/// `allergyintolerance-clinical` codes.
const ALLERGY_CLINICAL: [(&str, &str); 3] = [
    ("active", "active"),
    ("inactive", "inactive"),
    ("resolved", "resolved"),
];

/// The R4 code a STU3 status field means, by a fixed table (anything else, or nothing,
/// says nothing migx can stand behind).
fn mapped(v: &Json, key: &str, table: &[(&str, &'static str)]) -> Option<&'static str> {
    let s = str_at(v, key)?.trim();
    table
        .iter()
        .find(|(stu3, _)| stu3.eq_ignore_ascii_case(s))
        .map(|&(_, r4)| r4)
}

/// Whether a resource says it was entered in error: its `status` or `verificationStatus`
/// (a code, or a CodeableConcept as R4 writes it) is `entered-in-error`, on the resource or
/// on a resource it contains.
fn says_entered_in_error(v: &Json) -> bool {
    let is_eie = |s: &str| s.trim().eq_ignore_ascii_case("entered-in-error");
    let field = |key: &str| match v.get(key) {
        Some(Json::String(s)) => is_eie(s),
        Some(cc @ Json::Object(_)) => {
            arr(Some(cc), "coding").any(|c| str_at(c, "code").is_some_and(is_eie))
        }
        _ => false,
    };
    field("status")
        || field("verificationStatus")
        || arr(Some(v), "contained").any(|c| {
            c.get("status").and_then(Json::as_str).is_some_and(is_eie)
                || c.get("verificationStatus")
                    .and_then(Json::as_str)
                    .is_some_and(is_eie)
        })
}

/// How migx reads one STU3 `Consent` (<https://hl7.org/fhir/STU3/consent.html>) for direct
/// care, by its structure; its codings are screened for dissent as every coding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentReading {
    /// A clear permission: status `active`; a policy (`policyRule`, `policy[].uri`) and every
    /// one of them an opt-in; every exception (`except`, or R4-style `provision` at any
    /// depth) of type `permit`; `purpose` absent or naming treatment (`TREAT`, `ETREAT`).
    Permits,
    /// A refusal, whatever its codes and other fields say: status `rejected`, an exception
    /// of type `deny` anywhere, or an opt-out policy.
    Refuses,
    /// Anything else (draft, proposed, inactive, entered in error, no policy, a policy or
    /// exception migx cannot read, another purpose, a malformed shape): never grants.
    Unclear,
}

/// The last word of a policy URI or code, lower case, letters and digits only:
/// `http://hl7.org/fhir/ConsentPolicy/opt-out` and `OPTOUT` both read `optout`.
fn policy_word(s: &str) -> String {
    let s = s.trim().trim_end_matches(['/', '#']);
    let last = s.rsplit(['/', '#', ':', '|', '=']).next().unwrap_or(s);
    last.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// See [`ConsentReading`]. One classifier for every Consent, wherever it sits.
pub fn consent_reading(v: &Json) -> ConsentReading {
    let status = v.get("status").and_then(Json::as_str).map(str::trim);
    let mut refuses = status.is_some_and(|s| s.eq_ignore_ascii_case("rejected"));
    let mut unclear = !status.is_some_and(|s| s.eq_ignore_ascii_case("active"));
    // Policies: STU3 `policyRule` (a uri), R4-style `policyRule` (a CodeableConcept), and
    // `policy[].uri`.
    let mut policies: Vec<String> = Vec::new();
    match v.get("policyRule") {
        None => {}
        Some(Json::String(s)) => policies.push(policy_word(s)),
        Some(cc @ Json::Object(_)) => {
            let codes: Vec<String> = arr(Some(cc), "coding")
                .filter_map(|c| str_at(c, "code"))
                .map(policy_word)
                .collect();
            unclear |= codes.is_empty();
            policies.extend(codes);
        }
        Some(_) => unclear = true,
    }
    match v.get("policy") {
        None => {}
        Some(Json::Array(a)) => {
            for p in a {
                match str_at(p, "uri") {
                    Some(u) => policies.push(policy_word(u)),
                    None => unclear = true,
                }
            }
        }
        Some(_) => unclear = true,
    }
    unclear |= policies.is_empty();
    for p in &policies {
        if p.starts_with("optout") {
            refuses = true;
        } else if !p.starts_with("optin") {
            unclear = true;
        }
    }
    // Exceptions, at every depth R4's nested `provision` allows (STU3 `except` is flat).
    fn exceptions(v: &Json, refuses: &mut bool, unclear: &mut bool, depth: usize) {
        if depth > MAX_JSON_DEPTH {
            *unclear = true;
            return;
        }
        let Json::Object(o) = v else { return };
        for (k, x) in o {
            if k == "contained" {
                continue; // a contained resource is read as a resource of its own
            }
            if k == "except" || k == "provision" {
                let list: Vec<&Json> = match x {
                    Json::Array(a) => a.iter().collect(),
                    o @ Json::Object(_) => vec![o],
                    _ => {
                        *unclear = true;
                        Vec::new()
                    }
                };
                for e in list {
                    match e.get("type").and_then(Json::as_str).map(str::trim) {
                        Some(t) if t.eq_ignore_ascii_case("deny") => *refuses = true,
                        Some(t) if t.eq_ignore_ascii_case("permit") => {}
                        _ => *unclear = true,
                    }
                }
            }
            match x {
                Json::Object(_) => exceptions(x, refuses, unclear, depth + 1),
                Json::Array(a) => {
                    for y in a {
                        exceptions(y, refuses, unclear, depth + 1);
                    }
                }
                _ => {}
            }
        }
    }
    exceptions(v, &mut refuses, &mut unclear, 0);
    // Purpose of use (v3 PurposeOfUse): absent, or treatment among them.
    match v.get("purpose") {
        None => {}
        Some(p) => {
            let list: Vec<&Json> = match p {
                Json::Array(a) => a.iter().collect(),
                o => vec![o],
            };
            let treat = list.iter().any(|c| {
                str_at(c, "code").map(str::trim).is_some_and(|c| {
                    c.eq_ignore_ascii_case("TREAT") || c.eq_ignore_ascii_case("ETREAT")
                })
            });
            unclear |= !treat;
        }
    }
    if refuses {
        ConsentReading::Refuses
    } else if unclear {
        ConsentReading::Unclear
    } else {
        ConsentReading::Permits
    }
}

/// Every resource in `v`, `v` itself first if it is one: contained resources, and resources
/// nested at any depth (a Bundle inside an entry, a `Parameters` resource). The one
/// enumeration the Consent reading uses, top-level or not.
fn resources_in(v: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    each_object(v, &mut |o| {
        if o.get("resourceType").is_some_and(Json::is_string) {
            out.push(o);
        }
    });
    out
}

fn is_consent(v: &Json) -> bool {
    str_at(v, "resourceType").is_some_and(|t| t.trim().eq_ignore_ascii_case("Consent"))
}

fn is_comment_note(v: &Json) -> bool {
    codings(v.get("code"))
        .iter()
        .any(|c| c.system == CodeSystem::Snomed && c.code == SNOMED_COMMENT_NOTE)
}

/// Value, interpretation and reference range of an Observation (or one of its components).
fn observation_value(item: &mut Item, v: &Json) {
    if let Some(q) = v.get("valueQuantity") {
        let value = number(q.get("value"));
        let unit = quantity_unit_text(q);
        // A comparator makes the value an open interval, as the adaptor's IVL_PQ.
        item.value = match (str_at(q, "comparator"), value) {
            (Some(">=") | Some(">"), v) => Some(Value::Range {
                low: v,
                high: None,
                unit,
            }),
            (Some("<=") | Some("<"), v) => Some(Value::Range {
                low: None,
                high: v,
                unit,
            }),
            (_, Some(value)) => Some(Value::Quantity { value, unit }),
            (_, None) => None,
        };
    } else if let Some(r) = v.get("valueRange") {
        let unit = r
            .get("low")
            .or_else(|| r.get("high"))
            .and_then(quantity_unit_text);
        item.value = Some(Value::Range {
            low: number(r.get("low").and_then(|q| q.get("value"))),
            high: number(r.get("high").and_then(|q| q.get("value"))),
            unit,
        });
    } else if let Some(cc) = v.get("valueCodeableConcept") {
        item.value = Some(Value::Coded(codings(Some(cc))));
        item.free_text |= has_text(Some(cc));
    } else if let Some(s) = v.get("valueString") {
        item.value = Some(Value::Text);
        item.free_text |= has_text(Some(s));
    }
    for i in arr(Some(v), "interpretation").chain(v.get("interpretation").filter(|i| i.is_object()))
    {
        item.interpretation.extend(codings(Some(i)));
        item.free_text |= has_text(Some(i));
    }
    if let Some(rr) = arr(Some(v), "referenceRange").next() {
        let low = rr.get("low");
        let high = rr.get("high");
        item.reference_range = Some(ReferenceRange {
            low: number(low.and_then(|q| q.get("value"))),
            high: number(high.and_then(|q| q.get("value"))),
            unit: low.or(high).and_then(quantity_unit_text),
        });
        item.free_text |= has_text(rr.get("text"));
    }
}

fn nesting_error() -> InputError {
    InputError::new(
        ErrorCode::LimitExceeded,
        format!("resources nested (groups, lists) deeper than {MAX_NESTING}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::decide::{decide, Outcome, WithheldReason};
    use crate::policy::Policy;

    fn fixture() -> Vec<u8> {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/stu3/record.json"
        );
        std::fs::read(p).unwrap()
    }

    fn item<'a>(ex: &'a Extract, id: &str) -> &'a Item {
        ex.get(id).unwrap_or_else(|| panic!("no item {id}"))
    }

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
        let reach = conf[ex.index["33333333-3333-4333-8333-333333333333"]].unwrap();
        assert_eq!(reach.origin.construct, "ehrComposition");
        assert!(!reach.origin.own && obs.confidentiality.is_empty());
        let p = item(&ex, "66666666-6666-4666-8666-666666666666");
        assert_eq!(p.element, Some(Element::LinkSet));
        assert_eq!(p.codes[0].code, "394774009");
        assert_eq!(p.qualifiers[0].code, "386134007");
        let named = item(&ex, p.named_statement.as_deref().unwrap());
        assert_eq!(named.codes[0].code, "195967001");
        let a = item(&ex, "77777777-7777-4777-8777-777777777777");
        assert_eq!(a.codes[0].code, "14L..00");
        assert!(a.free_text);
        assert_eq!(a.children.len(), 1);
        let auth = item(&ex, "88888888-8888-4888-8888-888888888888");
        assert_eq!(auth.element, Some(Element::EhrSupplyAuthorise));
        assert_eq!(auth.repeat_number, Some(6));
        let presc = item(&ex, "99999999-9999-4999-8999-999999999999");
        assert_eq!(presc.element, Some(Element::EhrSupplyPrescribe));
        assert_eq!(
            presc.prior_ref.as_deref(),
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
        let out = |id: &str| d.items[ex.index[id]].outcome;
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
        let ms = ex.items[ex.index["88888888-8888-4888-8888-888888888888"]]
            .parent
            .unwrap();
        assert!(matches!(d.items[ms].outcome, Outcome::Shared(_)));
    }

    /// A bundle with a patient and `entries` (JSON resource objects).
    fn bundle(meta: &str, entries: &[&str]) -> Vec<u8> {
        let mut all = vec![
            r#"{"resourceType":"Patient","id":"p","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]}"#,
        ];
        all.extend_from_slice(entries);
        let entries: Vec<String> = all
            .iter()
            .map(|r| format!(r#"{{"resource":{r}}}"#))
            .collect();
        format!(
            r#"{{"resourceType":"Bundle","meta":{{"lastUpdated":"2026-03-14T10:00:00+00:00"{meta}}},"entry":[{}]}}"#,
            entries.join(",")
        )
        .into_bytes()
    }

    fn outcomes(b: &[u8]) -> (Extract, Vec<Outcome>) {
        let ex = read_gpconnect(b).expect("reads");
        let policy = Policy::embedded_default().unwrap();
        let d = decide(&ex, &policy, ex.created.value().unwrap());
        let o = d.items.iter().map(|d| d.outcome).collect();
        (ex, o)
    }

    const OBS: &str = r#""status":"final","code":{"coding":[{"system":"http://snomed.info/sct","code":"1000731000000107"}]},"effectiveDateTime":"2026-03-01","issued":"2026-03-01T10:00:00+00:00","valueQuantity":{"value":5.4,"unit":"mmol/L"}"#;

    /// Issue 24.2: a STU3 Consent that refuses only by its structure withholds the patient,
    /// at every position the structure allows a refusal and wherever the Consent sits;
    /// one migx cannot read as a clear permission never grants; a clear one withholds
    /// nothing and, top-level, lifts an earlier dissent.
    #[test]
    fn a_consent_refusing_by_its_structure_withholds_wherever_it_sits() {
        use crate::policy::decide::practice_dissent;
        use serde_json::json;
        let policy = Policy::embedded_default().unwrap();
        let dissent = |entries: &[String]| {
            let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
            let ex = read_gpconnect(&bundle("", &refs)).expect("reads");
            assert!(ex.identity_problem.is_none(), "{:?}", ex.identity_problem);
            practice_dissent(&ex, &policy, ex.created.value().unwrap())
        };
        let clear = json!({
            "resourceType": "Consent", "id": "c", "status": "active",
            "patient": { "reference": "Patient/p" }, "dateTime": "2026-03-01",
            "category": [{ "coding": [{ "system": "http://snomed.info/sct", "code": "417528008" }] }],
            "policyRule": "http://hl7.org/fhir/ConsentPolicy/opt-in",
            "purpose": [{ "system": "http://hl7.org/fhir/v3/ActReason", "code": "TREAT" }],
            "except": [{ "type": "permit" }]
        });
        type Change = fn(&mut Json);
        let refusals: [(&str, Change); 10] = [
            ("status rejected", |c| c["status"] = json!("rejected")),
            ("first exception deny", |c| {
                c["except"][0]["type"] = json!("deny")
            }),
            ("second exception deny", |c| {
                c["except"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({ "type": " DENY " }))
            }),
            ("exception as an object", |c| {
                c["except"] = json!({ "type": "deny" })
            }),
            ("R4 provision deny", |c| {
                c["provision"] = json!({ "type": "deny" })
            }),
            (
                "nested provision deny",
                |c| c["provision"] = json!({ "type": "permit", "provision": [{ "type": "permit" }, { "type": "deny" }] }),
            ),
            ("opt-out policyRule", |c| {
                c["policyRule"] = json!("http://hl7.org/fhir/ConsentPolicy/opt-out")
            }),
            (
                "coded opt-out policyRule",
                |c| c["policyRule"] = json!({ "coding": [{ "system": "http://hl7.org/fhir/v3/ActCode", "code": "OPTOUT" }] }),
            ),
            ("opt-out policy uri", |c| {
                c["policy"] = json!([{ "uri": "urn:example:policy#OPTOUTE" }])
            }),
            ("a deny exception on a Consent entered in error", |c| {
                c["status"] = json!("entered-in-error");
                c["except"][0]["type"] = json!("deny");
            }),
        ];
        let unclear: [(&str, Change); 10] = [
            ("draft", |c| c["status"] = json!("draft")),
            ("proposed", |c| c["status"] = json!("proposed")),
            ("inactive", |c| c["status"] = json!("inactive")),
            ("entered in error", |c| {
                c["status"] = json!("entered-in-error")
            }),
            ("no status", |c| {
                c.as_object_mut().unwrap().remove("status");
            }),
            ("no policy", |c| {
                c.as_object_mut().unwrap().remove("policyRule");
            }),
            ("a policy migx cannot read", |c| {
                c["policyRule"] = json!("https://example.org/local-sharing-policy")
            }),
            ("an exception of no known type", |c| {
                c["except"][0]["type"] = json!("maybe")
            }),
            ("an exception that is a string", |c| {
                c["except"] = json!("permit")
            }),
            (
                "another purpose",
                |c| {
                    c["purpose"] =
                        json!([{ "system": "http://hl7.org/fhir/v3/ActReason", "code": "HRESCH" }])
                },
            ),
        ];
        // Every position a Consent can sit in a GP Connect bundle.
        type Place = fn(&str) -> String;
        let positions: [(&str, Place); 5] = [
            ("top-level", |c| c.to_string()),
            ("contained in an observation", |c| {
                format!(r#"{{"resourceType":"Observation","id":"o","contained":[{c}],{OBS}}}"#)
            }),
            ("contained in a List", |c| {
                format!(
                    r#"{{"resourceType":"List","id":"l","status":"current","mode":"snapshot","contained":[{c}]}}"#
                )
            }),
            ("in a nested Bundle", |c| {
                format!(
                    r#"{{"resourceType":"Bundle","id":"n","type":"collection","entry":[{{"resource":{c}}}]}}"#
                )
            }),
            ("in a Parameters resource", |c| {
                format!(
                    r#"{{"resourceType":"Parameters","id":"q","parameter":[{{"name":"consent","resource":{c}}}]}}"#
                )
            }),
        ];
        // A practice dissent before the Consent, and an observation recording a permit code
        // on the Consent's date (which lifts it unless something says it grants nothing).
        let earlier_dissent = r#"{"resourceType":"Observation","id":"d","status":"final","code":{"coding":[{"system":"http://snomed.info/sct","code":"416409005"}]},"effectiveDateTime":"2026-01-01"}"#.to_string();
        let permit_obs = |contained: &str| {
            format!(
                r#"{{"resourceType":"Observation","id":"g","status":"final","contained":[{contained}],"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"417528008"}}]}},"effectiveDateTime":"2026-03-01"}}"#
            )
        };
        assert_eq!(consent_reading(&clear), ConsentReading::Permits);
        for (pos, place) in positions {
            assert!(
                !dissent(&[place(&clear.to_string())]),
                "clear consent {pos}"
            );
            for (what, change) in refusals {
                let mut c = clear.clone();
                change(&mut c);
                assert_eq!(consent_reading(&c), ConsentReading::Refuses, "{what}");
                assert!(dissent(&[place(&c.to_string())]), "{what} {pos}");
            }
            for (what, change) in unclear {
                let mut c = clear.clone();
                change(&mut c);
                assert_eq!(consent_reading(&c), ConsentReading::Unclear, "{what}");
                assert!(!dissent(&[place(&c.to_string())]), "{what} {pos}");
            }
        }
        // Granting: the clear top-level Consent lifts the earlier dissent; an unclear one, or
        // a permit around an unclear contained one, grants nothing.
        assert!(!dissent(&[earlier_dissent.clone(), clear.to_string()]));
        assert!(!dissent(&[
            earlier_dissent.clone(),
            permit_obs(&clear.to_string())
        ]));
        for (what, change) in unclear {
            let mut c = clear.clone();
            change(&mut c);
            assert!(dissent(&[earlier_dissent.clone(), c.to_string()]), "{what}");
            assert!(
                dissent(&[earlier_dissent.clone(), permit_obs(&c.to_string())]),
                "contained {what}"
            );
        }
        // A refusal dated after a permit still stands; an undated one always does.
        let mut late = clear.clone();
        late["except"][0]["type"] = json!("deny");
        late["dateTime"] = json!("2026-03-10");
        assert!(dissent(&[
            permit_obs(r#"{"resourceType":"Basic","id":"b"}"#),
            late.to_string()
        ]));
        late.as_object_mut().unwrap().remove("dateTime");
        assert!(dissent(&[late.to_string()]));
    }

    #[test]
    fn malformed_security_metadata_is_refused_and_tags_count() {
        let obs = |meta: &str| format!(r#"{{"resourceType":"Observation","id":"b",{meta}{OBS}}}"#);
        let code = |b: &[u8]| read_gpconnect(b).map(|_| ()).unwrap_err().code;
        // meta.security as an object, meta as a string, a label that is not a coding.
        for meta in [
            r#""meta":{"security":{"code":"NOPAT"}},"#,
            r#""meta":"NOPAT","#,
            r#""meta":{"security":["NOPAT"]},"#,
            r#""meta":{"tag":{"code":"NOPAT"}},"#,
            r#""meta":{"security":[{"code":7}]},"#,
        ] {
            assert_eq!(
                code(&bundle("", &[&obs(meta)])),
                ErrorCode::MalformedSecurity,
                "{meta}"
            );
        }
        // meta twice: the second would silently replace the first.
        let twice = obs(r#""meta":{"security":[{"code":"NOPAT"}]},"meta":{},"#);
        let e = read_gpconnect(&bundle("", &[&twice])).unwrap_err();
        assert_eq!(e.code, ErrorCode::DuplicateJsonKey);
        assert!(!e.to_string().contains("NOPAT") && !e.to_string().contains("\"meta\""));
        // On a contained resource and on the Bundle too.
        let contained =
            obs(r#""contained":[{"resourceType":"Provenance","meta":{"security":{}}}],"#);
        assert_eq!(
            code(&bundle("", &[&contained])),
            ErrorCode::MalformedSecurity
        );
        assert_eq!(
            code(&bundle(r#","security":{"code":"R"}"#, &[&obs("")])),
            ErrorCode::MalformedSecurity
        );
        // NOPAT in meta.tag is a label.
        let tagged =
            obs(r#""meta":{"tag":[{"system":"http://hl7.org/fhir/v3/ActCode","code":"NOPAT"}]},"#);
        let (ex, o) = outcomes(&bundle("", &[&tagged]));
        assert_eq!(
            o[ex.index["b"]],
            Outcome::Withheld(WithheldReason::Confidential)
        );
        // A tag that is not a label changes nothing.
        let other =
            obs(r#""meta":{"tag":[{"system":"https://example.org/workflow","code":"reviewed"}]},"#);
        let (ex, o) = outcomes(&bundle("", &[&other]));
        assert!(matches!(o[ex.index["b"]], Outcome::Shared(_)));
    }

    #[test]
    fn ids_differing_only_by_case_are_ambiguous_and_withheld() {
        let a = format!(r#"{{"resourceType":"Observation","id":"abc",{OBS}}}"#);
        let b2 = format!(r#"{{"resourceType":"Observation","id":"ABC",{OBS}}}"#);
        let enc = r#"{"resourceType":"Encounter","id":"e","meta":{"security":[{"code":"NOPAT"}]},"period":{"start":"2026-03-01"}}"#;
        let list = r#"{"resourceType":"List","id":"l","code":{"coding":[{"system":"http://snomed.info/sct","code":"325851000000107"}]},"encounter":{"reference":"Encounter/e"},"entry":[{"item":{"reference":"Observation/abc"}}]}"#;
        let (ex, o) = outcomes(&bundle("", &[enc, list, &a, &b2]));
        let obs: Vec<usize> = (0..ex.items.len())
            .filter(|&i| ex.items[i].element == Some(Element::ObservationStatement))
            .collect();
        assert_eq!(obs.len(), 2);
        for i in obs {
            assert!(matches!(o[i], Outcome::Withheld(_)), "{:?}", o[i]);
        }
    }

    #[test]
    fn an_unresolvable_placement_withholds_and_says_so() {
        let lost = format!(
            r#"{{"resourceType":"Observation","id":"a","context":{{"reference":"Encounter/nowhere"}},{OBS}}}"#
        );
        let ok = format!(r#"{{"resourceType":"Observation","id":"b",{OBS}}}"#);
        let (ex, o) = outcomes(&bundle("", &[&lost, &ok]));
        assert_eq!(
            o[ex.index["a"]],
            Outcome::Withheld(WithheldReason::UnresolvableReference)
        );
        assert!(matches!(o[ex.index["b"]], Outcome::Shared(_)));
    }

    #[test]
    fn the_bundle_or_the_patient_covers_every_item() {
        let ok = format!(r#"{{"resourceType":"Observation","id":"b",{OBS}}}"#);
        let (_, o) = outcomes(&bundle(r#","security":[{"code":"NOPAT"}]"#, &[&ok]));
        assert!(o
            .iter()
            .all(|o| *o == Outcome::Withheld(WithheldReason::Confidential)));
        let patient_r = r#"{"resourceType":"Patient","id":"p2","meta":{"security":[{"system":"http://hl7.org/fhir/v3/Confidentiality","code":"R"}]}}"#;
        let (ex, o) = outcomes(&bundle("", &[patient_r, &ok]));
        assert_eq!(
            ex.record_confidentiality,
            vec![("Patient", "R".to_string())]
        );
        assert!(o
            .iter()
            .all(|o| *o == Outcome::Withheld(WithheldReason::Confidential)));
    }

    #[test]
    fn entered_in_error_on_any_resource_is_never_shared() {
        let eie = WithheldReason::EnteredInError;
        let obs = |id: &str, extra: &str| {
            format!(r#"{{"resourceType":"Observation","id":"{id}",{extra}{OBS}}}"#)
                .replace(r#""status":"final","#, "")
        };
        let plan = |id: &str, status: &str| {
            format!(
                r#"{{"resourceType":"MedicationRequest","id":"{id}","intent":"plan","status":"{status}","medicationCodeableConcept":{{"coding":[{{"system":"http://snomed.info/sct","code":"322236009"}}]}},"authoredOn":"2026-03-01","dispenseRequest":{{"validityPeriod":{{"start":"2026-03-01"}}}}}}"#
            )
        };
        let condition = |id: &str, field: &str| {
            format!(
                r#"{{"resourceType":"Condition","id":"{id}","clinicalStatus":"active",{field}"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"195967001"}}]}},"onsetDateTime":"2020-01-01","assertedDate":"2020-01-02"}}"#
            )
        };
        let allergy = r#"{"resourceType":"AllergyIntolerance","id":"al","clinicalStatus":"active","verificationStatus":"entered-in-error","category":["medication"],"code":{"coding":[{"system":"http://snomed.info/sct","code":"294505008"}]},"assertedDate":"2026-03-01"}"#;
        let statement = r#"{"resourceType":"MedicationStatement","id":"st","status":"entered-in-error","basedOn":[{"reference":"MedicationRequest/p2"}]}"#;
        let list = r#"{"resourceType":"List","id":"l","status":"entered-in-error","entry":[{"item":{"reference":"Observation/o4"}}]}"#;
        let entries = [
            obs("o1", r#""status":"entered-in-error","#),
            obs("o2", r#""status":"final","#),
            obs(
                "o3",
                r#""status":"final","contained":[{"resourceType":"Specimen","id":"s","status":"entered-in-error"}],"#,
            ),
            obs("o4", r#""status":"final","#),
            plan("p1", "entered-in-error"),
            plan("p2", "active"),
            condition("c1", r#""verificationStatus":"entered-in-error","#),
            condition(
                "c2",
                r#""verificationStatus":{"coding":[{"code":"entered-in-error"}]},"#,
            ),
            condition("c3", ""),
            allergy.to_string(),
            statement.to_string(),
            list.to_string(),
        ];
        let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
        let (ex, o) = outcomes(&bundle("", &refs));
        for id in ["o1", "o3", "o4", "c1", "c2", "al"] {
            assert_eq!(o[ex.index[id]], Outcome::Withheld(eie), "{id}");
        }
        for plan in ["p1", "p2"] {
            let ms = ex.items[ex.index[plan]].parent.unwrap();
            assert_eq!(o[ms], Outcome::Withheld(eie), "{plan}");
        }
        assert!(matches!(o[ex.index["o2"]], Outcome::Shared(_)));
        assert!(matches!(o[ex.index["c3"]], Outcome::Shared(_)));
    }

    #[test]
    fn certainty_and_clinical_status_come_from_the_source() {
        let condition = |id: &str, clinical: &str, ver: &str| {
            format!(
                r#"{{"resourceType":"Condition","id":"{id}","clinicalStatus":"{clinical}",{ver}"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"195967001"}}]}},"onsetDateTime":"2020-01-01","assertedDate":"2020-01-02"}}"#
            )
        };
        let allergy = |id: &str, clinical: &str, ver: &str| {
            format!(
                r#"{{"resourceType":"AllergyIntolerance","id":"{id}","clinicalStatus":"{clinical}",{ver}"category":["medication"],"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"294505008"}}]}},"assertedDate":"2026-03-01"}}"#
            )
        };
        let v = |s: &str| format!(r#""verificationStatus":"{s}","#);
        let entries = [
            condition("c1", "active", &v("provisional")),
            condition("c2", "recurrence", &v("differential")),
            condition("c3", "active", &v("refuted")),
            condition("c4", "remission", ""),
            condition("c5", "active", &v("unknown")),
            allergy("a1", "active", &v("unconfirmed")),
            allergy("a2", "active", &v("refuted")),
            allergy("a3", "resolved", &v("confirmed")),
            allergy("a4", "inactive", ""),
            allergy("a5", "active", &v("Confirmed")),
        ];
        let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
        let (ex, o) = outcomes(&bundle("", &refs));
        let it = |id: &str| &ex.items[ex.index[id]];
        assert_eq!(it("c1").verification, Some("provisional"));
        assert_eq!(it("c2").verification, Some("differential"));
        assert_eq!(it("c2").clinical_status, Some("recurrence"));
        assert_eq!(it("c5").verification, None);
        assert_eq!(it("a1").verification, Some("unconfirmed"));
        assert_eq!(it("a5").verification, Some("confirmed"));
        for id in ["c1", "c2", "c5", "a1", "a5"] {
            assert!(matches!(o[ex.index[id]], Outcome::Shared(_)), "{id}");
        }
        for id in ["c3", "a2"] {
            assert_eq!(
                o[ex.index[id]],
                Outcome::Withheld(WithheldReason::Refuted),
                "{id}"
            );
        }
        for id in ["c4", "a3", "a4"] {
            assert_eq!(
                o[ex.index[id]],
                Outcome::Withheld(WithheldReason::NotCurrent),
                "{id}"
            );
        }
    }

    #[test]
    fn plan_statuses_and_vaccinations_not_given_are_never_shown_as_current_or_done() {
        let plan = |id: &str, status: &str| {
            format!(
                r#"{{"resourceType":"MedicationRequest","id":"{id}","intent":"plan","status":"{status}","medicationCodeableConcept":{{"coding":[{{"system":"http://snomed.info/sct","code":"322236009"}}]}},"authoredOn":"2026-03-01","dispenseRequest":{{"validityPeriod":{{"start":"2026-03-01","end":"2027-03-01"}}}}}}"#
            )
        };
        let imm = |id: &str, not_given: &str| {
            format!(
                r#"{{"resourceType":"Immunization","id":"{id}","status":"completed",{not_given}"vaccineCode":{{"coding":[{{"system":"http://snomed.info/sct","code":"871751000000104"}}]}},"date":"2026-03-01"}}"#
            )
        };
        let entries = [
            plan("p1", "active"),
            plan("p2", "on-hold"),
            plan("p3", "completed"),
            plan("p4", "cancelled"),
            plan("p5", "unknown"),
            imm("i1", r#""notGiven":false,"#),
            imm("i2", r#""notGiven":true,"#),
            imm("i3", r#""notGiven":"yes","#),
        ];
        let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
        let (ex, o) = outcomes(&bundle("", &refs));
        let ms = |plan: &str| ex.items[ex.index[plan]].parent.unwrap();
        assert_eq!(
            ex.items[ex.index["p2"]].status_code.as_deref(),
            Some("SUSPENDED")
        );
        for p in ["p1", "p2"] {
            assert!(matches!(o[ms(p)], Outcome::Shared(_)), "{p}");
        }
        for p in ["p3", "p4", "p5"] {
            assert_eq!(
                o[ms(p)],
                Outcome::Withheld(WithheldReason::NotCurrent),
                "{p}"
            );
        }
        assert!(!ex.items[ex.index["i1"]].not_done);
        assert!(ex.items[ex.index["i2"]].not_done);
        assert!(ex.items[ex.index["i3"]].not_done);
        // Shared only as a not-done Procedure, else out of scope.
        for i in ["i2", "i3"] {
            assert!(
                !matches!(o[ex.index[i]], Outcome::Shared(r) if r != crate::policy::decide::Role::Procedure),
                "{i}"
            );
        }
    }

    #[test]
    fn a_confidential_medication_or_list_covers_what_uses_or_lists_it() {
        let med = r#"{"resourceType":"Medication","id":"m","meta":{"security":[{"code":"NOPAT"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"322236009"}]}}"#;
        let plan = r#"{"resourceType":"MedicationRequest","id":"rq","intent":"plan","status":"active","medicationReference":{"reference":"urn:uuid:0f0f0f0f-0000-4000-8000-000000000001"},"authoredOn":"2026-03-01","dispenseRequest":{"validityPeriod":{"start":"2026-03-01"}}}"#;
        let ok = format!(r#"{{"resourceType":"Observation","id":"b",{OBS}}}"#);
        let list = r#"{"resourceType":"List","id":"pl","meta":{"security":[{"code":"NOPAT"}]},"entry":[{"item":{"identifier":{"value":"B-IDENT"}}}]}"#;
        let ok = ok.replace(
            r#""id":"b","#,
            r#""id":"b","identifier":[{"system":"https://x.example/ids","value":"B-IDENT"}],"#,
        );
        let mut b = String::from_utf8(bundle("", &[med, plan, &ok, list])).unwrap();
        // The Medication's fullUrl is a urn:uuid, as GP Connect bundles often write.
        b = b.replace(
            r#"{"resource":{"resourceType":"Medication""#,
            r#"{"fullUrl":"urn:uuid:0f0f0f0f-0000-4000-8000-000000000001","resource":{"resourceType":"Medication""#,
        );
        let (ex, o) = outcomes(b.as_bytes());
        let ms = ex.items[ex.index["rq"]].parent.unwrap();
        assert_eq!(o[ms], Outcome::Withheld(WithheldReason::Confidential));
        assert_eq!(
            o[ex.index["b"]],
            Outcome::Withheld(WithheldReason::Confidential)
        );
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
