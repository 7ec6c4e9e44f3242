//! Building FHIR R4 (UK Core) resources and the released Bundle from an extract and its
//! decisions. Only items decided `Shared` are mapped; free text is never copied (the model
//! does not even hold it). Resource ids derive from source ids, so output is deterministic.

pub mod ids;
pub mod interpretation;
pub mod lists;

use crate::codes::{CodeSystem, Coding};
use crate::consent::{ConsentOrigin, ConsentRecord};
use crate::ehr::model::{Agent, DateField, Extract, Item, StaffKind, Value};
use crate::ehr::ts::Ts;
use crate::policy::decide::{Category, Decisions, Outcome, Role};
use crate::policy::detail::{KnownUnit, StaffPolicy, UCUM_SYSTEM};
use crate::policy::screen::{self, ScreenedCoding};
use crate::policy::Policy;
use ids::{derived_uuid, source_uuid};
use serde_json::{json, Map, Value as Json};
use std::cell::RefCell;
use std::collections::HashMap;

/// Prefix of UK Core profile URLs; append the resource type (e.g. `UKCore-Patient`).
pub const UKCORE: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-";
/// Identifier system of NHS numbers.
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
/// Identifier system of ODS organisation codes.
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
/// Identifier system of SDS user ids.
pub const SDS_USER_SYSTEM: &str = "https://fhir.nhs.uk/Id/sds-user-id";
/// Identifier system of SDS role profile ids.
pub const SDS_ROLE_PROFILE_SYSTEM: &str = "https://fhir.nhs.uk/Id/sds-role-profile-id";
/// Identifier system of GMP (GP national) numbers.
pub const GMP_NUMBER_SYSTEM: &str = "https://fhir.hl7.org.uk/Id/gmp-number";
pub use lists::LIST_WARNING_URL;
/// Core extension holding a SNOMED CT description id beside the concept id it resolves to (a
/// description id is a term, not a concept, so it cannot go in `Coding.code`).
pub const SCT_DESC_ID_URL: &str = "http://hl7.org/fhir/StructureDefinition/coding-sctdescid";
/// Core extension saying why a value is absent.
pub const DATA_ABSENT_REASON_URL: &str =
    "http://hl7.org/fhir/StructureDefinition/data-absent-reason";
const V3_ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// Prefix of UK Core extension URLs; append the extension name.
pub const UKCORE_EXT: &str = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-";
const HL7_COURSE_OF_THERAPY: &str =
    "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy";
const UKCORE_COURSE_OF_THERAPY: &str =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-MedicationRequestCourseOfTherapy";

/// Who stated an item, in order of preference: the asserter the source names, else (GP2GP)
/// the primary performer, else the performer (as the NHS GP2GP translator reads them).
const ASSERTED: &[StaffKind] = &[
    StaffKind::Asserter,
    StaffKind::PrimaryPerformer,
    StaffKind::Performer,
];
/// Who did it: the primary performer (`PPRF`), else the performer (`PRF`, Participant2).
const PERFORMED: &[StaffKind] = &[StaffKind::PrimaryPerformer, StaffKind::Performer];
/// Who prescribed or asked for it: the requester, else the performer.
const REQUESTED: &[StaffKind] = &[
    StaffKind::Requester,
    StaffKind::PrimaryPerformer,
    StaffKind::Performer,
];

/// What the release is made under: who asked, with what consent, by which rules.
#[derive(Debug, Clone)]
pub struct ReleaseContext<'a> {
    /// The patient's NHS number (the only patient identifier released).
    pub nhs_number: &'a str,
    /// The consent under which the record is released.
    pub consent: &'a ConsentRecord,
    /// End of the consent's validity (encounter day, or the configured window).
    pub consent_valid_until: Option<String>,
    /// The date currency and recency were judged against.
    pub as_of: Ts,
    /// SHA-256 of the input file.
    pub source_sha256: &'a str,
    /// The policy that made the decisions (its hash goes into the Provenance).
    pub policy: &'a Policy,
    /// Organisations added for this run only with `--permit-requester`.
    pub run_permitted_requesters: &'a [String],
    /// What the sensitive-code check rested on (recorded in the Provenance).
    pub exclusion: &'a crate::policy::config::ExclusionBasis,
}

/// The practice Organization's name when the record carries no usable ODS code: migx's own
/// words, never source text.
const PRACTICE_WITHOUT_ODS: &str = "Registered GP practice (no valid ODS code in the record)";

/// Build the released Bundle.
pub fn build_bundle(ex: &Extract, d: &Decisions, rc: &ReleaseContext<'_>) -> Json {
    let key = ex
        .message_id
        .clone()
        .unwrap_or_else(|| format!("sha256:{}", rc.source_sha256));
    let patient_id = derived_uuid(&["patient", &key]);
    let practice_id = derived_uuid(&["practice", &key]);
    let requester_id = derived_uuid(&["requester", &key, &rc.consent.requester_ods]);
    let consent_id = derived_uuid(&["consent", &key, &rc.consent.requester_ods]);
    let provenance_id = derived_uuid(&["provenance", &key]);
    let bundle_id = derived_uuid(&["bundle", &key, &rc.consent.requester_ods]);
    let m = Mapper {
        ex,
        d,
        policy: rc.policy,
        patient_ref: urn(&patient_id),
        report_results: report_results(ex, d),
        source_issues: source_issues(ex),
        problem_links: problem_links(ex, d),
        key: key.clone(),
        practice_ref: urn(&practice_id),
        staff: RefCell::new(Staff::default()),
    };

    // Clinical resources per category, in document order.
    let mut per_cat: Vec<Vec<(String, Json, bool)>> = vec![Vec::new(); Category::ALL.len()];
    for (i, dec) in d.items.iter().enumerate() {
        let Outcome::Shared(role) = dec.outcome else {
            continue;
        };
        let Some(cat) = dec.category else { continue };
        let slot = &mut per_cat[cat as usize];
        for (r, member) in m.map(i, role, cat) {
            let id = r["id"].as_str().unwrap_or_default().to_string();
            slot.push((id, r, member));
        }
    }

    let mut entries: Vec<Json> = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    let push = |entries: &mut Vec<Json>, targets: &mut Vec<String>, r: Json| {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        if r["resourceType"] != "Provenance" {
            targets.push(urn(&id));
        }
        entries.push(entry(urn(&id), r));
    };

    push(
        &mut entries,
        &mut targets,
        json!({
            "resourceType": "Patient",
            "id": patient_id,
            "meta": meta("Patient"),
            "identifier": [{ "system": NHS_NUMBER_SYSTEM, "value": rc.nhs_number }],
            "generalPractitioner": [{ "reference": urn(&practice_id) }],
        }),
    );
    let mut practice = json!({
        "resourceType": "Organization",
        "id": practice_id,
        "meta": meta("Organization"),
    });
    match &ex.practice_ods {
        Some(ods) => practice["identifier"] = json!([{ "system": ODS_SYSTEM, "value": ods }]),
        // FHIR's org-1 needs a name or an identifier; the record gave no usable ODS code (none,
        // or one not in ODS syntax, which is dropped), so the name says exactly that.
        None => practice["name"] = json!(PRACTICE_WITHOUT_ODS),
    }
    push(&mut entries, &mut targets, practice);
    let mut requester = json!({
        "resourceType": "Organization",
        "id": requester_id,
        "meta": meta("Organization"),
        "identifier": [{ "system": ODS_SYSTEM, "value": rc.consent.requester_ods }],
    });
    if let Some(name) = rc
        .consent
        .requester_name
        .clone()
        .or_else(|| rc.policy.requester_name(&rc.consent.requester_ods))
    {
        requester["name"] = json!(name);
    }
    push(&mut entries, &mut targets, requester);
    push(
        &mut entries,
        &mut targets,
        consent_resource(&consent_id, &patient_id, &requester_id, rc),
    );

    let withholding = lists::withholding(d);
    let mut lists = Vec::new();
    for cat in Category::ALL {
        let items: Vec<Json> = per_cat[cat as usize]
            .iter()
            .filter(|(_, _, member)| *member)
            .map(|(id, _, _)| json!({ "item": { "reference": urn(id) } }))
            .collect();
        let withheld = withholding[cat as usize];
        let list_id = derived_uuid(&["list", &key, cat.as_str()]);
        let mut list = Map::new();
        list.insert("resourceType".into(), json!("List"));
        list.insert("id".into(), json!(list_id));
        list.insert("meta".into(), meta("List"));
        if withheld.warns() {
            list.insert("extension".into(), json!([lists::warning_extension()]));
        }
        list.insert("status".into(), json!("current"));
        list.insert("mode".into(), json!("snapshot"));
        list.insert("title".into(), json!(lists::list_title(cat)));
        list.insert("code".into(), lists::list_code(cat));
        list.insert("subject".into(), json!({ "reference": urn(&patient_id) }));
        list.insert("date".into(), json!(rc.as_of.fhir_instant()));
        if items.is_empty() {
            list.insert("emptyReason".into(), lists::empty_reason(withheld));
        } else {
            list.insert("entry".into(), Json::Array(items));
        }
        lists.push(Json::Object(list));
    }
    for l in lists {
        push(&mut entries, &mut targets, l);
    }
    for slot in per_cat {
        for (_, r, _) in slot {
            push(&mut entries, &mut targets, r);
        }
    }
    // The staff the shared resources refer to, once each, after them.
    for r in m.staff.take().resources {
        push(&mut entries, &mut targets, r);
    }
    // Items withheld whose category could not be known: no List can warn about them, so the
    // whole Bundle is marked incomplete (its security label, and a removal in the Provenance).
    let incomplete = !lists::uncategorised(d).is_empty();
    let mut provenance = provenance_resource(&provenance_id, &targets, ex, rc, &urn(&practice_id));
    if incomplete {
        if let Some(e) = provenance["entity"].as_array_mut() {
            e.push(lists::incomplete_entity());
        }
    }
    let prov_entry = entry(urn(&provenance_id), provenance);
    // Provenance sits after the Consent (index 4), before the lists.
    entries.insert(4, prov_entry);

    let mut bundle_meta = meta("Bundle");
    if incomplete {
        bundle_meta["security"] = json!([lists::incomplete_label()]);
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": null,
        "type": "collection",
        "timestamp": rc.as_of.fhir_instant(),
        "entry": null,
    });
    // Moved in, not through `json!` (which copies every value it is given: the whole tree).
    bundle["meta"] = bundle_meta;
    bundle["entry"] = Json::Array(entries);
    bundle
}

/// A Bundle entry, its resource moved in (`json!` would copy it).
fn entry(full_url: String, resource: Json) -> Json {
    let mut e = Map::new();
    e.insert("fullUrl".into(), Json::String(full_url));
    e.insert("resource".into(), resource);
    Json::Object(e)
}

fn meta(ty: &str) -> Json {
    json!({ "profile": [format!("{UKCORE}{ty}")] })
}

fn urn(id: &str) -> String {
    format!("urn:uuid:{id}")
}

fn consent_resource(id: &str, patient: &str, requester: &str, rc: &ReleaseContext<'_>) -> Json {
    let c = rc.consent;
    let recorded = match c.recorded_at {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        None => rc.as_of.fhir_instant(),
    };
    let mut period = Map::new();
    period.insert("start".into(), json!(recorded));
    if let Some(end) = &rc.consent_valid_until {
        period.insert("end".into(), json!(end));
    }
    json!({
        "resourceType": "Consent",
        "id": id,
        "meta": meta("Consent"),
        "status": "active",
        "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
        "category": [
            { "coding": [{ "system": "http://snomed.info/sct", "code": "887031000000108", "display": "Consent for information sharing" }] },
            { "coding": [{ "system": V3_ACT_CODE, "code": "INFA" }] }
        ],
        "patient": { "reference": urn(patient) },
        "dateTime": recorded,
        // Opt-in: the patient agreed at the point of care (an operator assertion says so too,
        // and the Provenance records which it was).
        "policyRule": { "coding": [{ "system": V3_ACT_CODE, "code": "OPTIN" }] },
        "provision": {
            "type": "permit",
            "period": Json::Object(period),
            "actor": [{
                "role": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP" }] },
                "reference": { "reference": urn(requester) }
            }],
            "action": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access" }] }],
            "purpose": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": c.purpose }]
        }
    })
}

fn provenance_resource(
    id: &str,
    targets: &[String],
    ex: &Extract,
    rc: &ReleaseContext<'_>,
    practice_ref: &str,
) -> Json {
    let message = ex
        .message_id
        .as_deref()
        .map(source_uuid)
        .unwrap_or_else(|| derived_uuid(&["file", rc.source_sha256]));
    let kind = ex.kind.map(|k| k.name()).unwrap_or("unknown");
    let consent_origin = match rc.consent.origin {
        ConsentOrigin::OperatorAssertion => {
            "consent: operator assertion (--consent-all), not a patient's decision".to_string()
        }
        ConsentOrigin::FileRow { line } => {
            format!("consent: point-of-care decision, consent file line {line}")
        }
    };
    let snomed = match rc.policy.snomed_release_version() {
        Some(v) => format!("SNOMED CT release {v}"),
        None => {
            "SNOMED CT: no release loaded; exclusion coverage limited to built-in lists".to_string()
        }
    };
    let mut entities = vec![json!({
        "role": "source",
        "what": {
            "identifier": { "system": "urn:ietf:rfc:3986", "value": urn(&message) },
            "display": format!("{kind} sha256:{}", rc.source_sha256)
        }
    })];
    entities.push(json!({
        "role": "derivation",
        "what": { "display": format!("policy {} {} sha256:{}", rc.policy.name(), rc.policy.version(), rc.policy.sha256()) }
    }));
    entities.push(json!({ "role": "derivation", "what": { "display": consent_origin } }));
    entities.push(json!({ "role": "derivation", "what": { "display": snomed } }));
    let displays = match rc.policy.displays() {
        crate::policy::DisplaySource::Terminology => {
            "code displays: terminology (terms of the policy's code lists; the source's display text is never copied)"
        }
        crate::policy::DisplaySource::Source => {
            "code displays: source (displayName/display as the GP system wrote it)"
        }
    };
    entities.push(json!({ "role": "derivation", "what": { "display": displays } }));
    entities
        .push(json!({ "role": "derivation", "what": { "display": rc.exclusion.refsets_text() } }));
    entities.push(
        json!({ "role": "derivation", "what": { "display": rc.exclusion.hierarchy_text() } }),
    );
    if !rc.run_permitted_requesters.is_empty() {
        entities.push(json!({
            "role": "derivation",
            "what": { "display": format!("requesters permitted for this run only (--permit-requester): {}", rc.run_permitted_requesters.join(", ")) }
        }));
    }
    let targets: Vec<Json> = targets.iter().map(|t| json!({ "reference": t })).collect();
    let mut p = json!({
        "resourceType": "Provenance",
        "id": id,
        "meta": meta("Provenance"),
        "target": null,
        "recorded": rc.as_of.fhir_instant(),
        "reason": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": rc.consent.purpose }] }],
        "agent": [
            {
                "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "assembler" }] },
                "who": { "display": format!("migx {}", env!("CARGO_PKG_VERSION")) }
            },
            {
                "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "custodian" }] },
                "who": { "reference": practice_ref }
            }
        ],
        "entity": null
    });
    // Moved in, not through `json!` (which copies them): one target per entry.
    p["target"] = Json::Array(targets);
    p["entity"] = Json::Array(entities);
    p
}

struct Mapper<'a> {
    ex: &'a Extract,
    d: &'a Decisions,
    policy: &'a Policy,
    patient_ref: String,
    /// Report -> its top-level shared results and groups, found in one pass.
    report_results: HashMap<usize, Vec<usize>>,
    /// Authorisation source id -> every issue made under it in the source, in one pass.
    source_issues: HashMap<&'a str, Vec<usize>>,
    /// Shared problem -> the other shared problems the source relates it to, either way.
    problem_links: HashMap<usize, Vec<usize>>,
    /// The bundle's key (source message id), for derived resource ids.
    key: String,
    /// Reference to the practice Organization (a staff organisation with the practice's
    /// ODS code is that one).
    practice_ref: String,
    /// Staff resources written so far, filled as shared items refer to them.
    staff: RefCell<Staff>,
}

/// The Practitioner, PractitionerRole and Organization resources a bundle writes for its
/// staff: only those a shared resource refers to, each once.
#[derive(Default)]
struct Staff {
    /// In order of first reference (deterministic: items are mapped in document order).
    resources: Vec<Json>,
    /// Resource ids already written, by what identifies them.
    written: HashMap<String, String>,
    /// Agent key (and whether an Organization may stand for it) -> the reference written
    /// for it (`None`: nothing the policy lets through).
    refs: HashMap<(String, bool), Option<String>>,
}

/// Whether a staff resource would say nothing the policy lets through.
fn staff_org_key(agent: &Agent) -> Option<String> {
    let org = agent.org.as_ref()?;
    match (&org.ods, &org.name) {
        (Some(ods), _) => Some(format!("ods:{}", ods.to_ascii_uppercase())),
        (None, Some(name)) => Some(format!("name:{name}")),
        (None, None) => None,
    }
}

fn source_issues(ex: &Extract) -> HashMap<&str, Vec<usize>> {
    let mut out: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, item) in ex.items.iter().enumerate() {
        if item.element != Some(crate::ehr::model::Element::EhrSupplyPrescribe) {
            continue;
        }
        if let Some(a) = item.prior_ref.as_deref().filter(|a| !a.is_empty()) {
            out.entry(a).or_default().push(i);
        }
    }
    out
}

/// Core R4 extension relating a Condition to another one (an unspecified relationship):
/// UK Core 2.0 has no related-problem extension of its own (D21).
pub const CONDITION_RELATED_URL: &str = "http://hl7.org/fhir/StructureDefinition/condition-related";

/// Links between shared problems, in both directions: GP2GP a LinkSet's
/// `component/statementRef` naming another LinkSet (as the NHS translator reads a problem
/// hierarchy), GP Connect `RelatedProblemHeader` targets. A link to a problem that is not
/// shared is not made (it would say a withheld problem exists).
fn problem_links(ex: &Extract, d: &Decisions) -> HashMap<usize, Vec<usize>> {
    let shared_problem = |j: usize| {
        matches!(
            d.items.get(j).map(|x| x.outcome),
            Some(Outcome::Shared(Role::Problem { .. }))
        )
    };
    let mut out: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, item) in ex.items.iter().enumerate() {
        if !shared_problem(i) {
            continue;
        }
        for id in item.component_refs.iter().chain(&item.related_problems) {
            let Some(&j) = ex.index.get(id) else { continue };
            if j == i || !shared_problem(j) {
                continue;
            }
            for (a, b) in [(i, j), (j, i)] {
                let v = out.entry(a).or_default();
                if !v.contains(&b) {
                    v.push(b);
                }
            }
        }
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    out
}

fn report_results(ex: &Extract, d: &Decisions) -> HashMap<usize, Vec<usize>> {
    let mut out: HashMap<usize, Vec<usize>> = HashMap::new();
    for (j, dec) in d.items.iter().enumerate() {
        let report = match dec.outcome {
            Outcome::Shared(Role::Result { group: Some(g) })
                if matches!(d.items[g].outcome, Outcome::Shared(Role::Report)) =>
            {
                Some(g)
            }
            Outcome::Shared(Role::ResultGroup { report: Some(r) }) => {
                let nested = ex.items[j].parent.is_some_and(|p| {
                    matches!(
                        d.items[p].outcome,
                        Outcome::Shared(Role::ResultGroup { .. })
                    )
                });
                (!nested).then_some(r)
            }
            _ => None,
        };
        if let Some(r) = report {
            out.entry(r).or_default().push(j);
        }
    }
    out
}

impl Mapper<'_> {
    fn item(&self, i: usize) -> &Item {
        &self.ex.items[i]
    }

    /// The reference (`{"reference": ...}`) for whoever took part in item `i` in one of
    /// `kinds` (in that order of preference), looked for on `i`, then `more` (the statement
    /// naming a problem, an allergy's observation, a medication's statement), then the
    /// containers of `i` (a composition's author and Participant2, as the NHS translator
    /// falls back to them). `allow_org`: the field may refer to an Organization. `None`
    /// when the policy writes no staff, nobody is named, the agent does not resolve, or
    /// nothing about it may be shared.
    fn staff_ref(
        &self,
        i: usize,
        more: &[usize],
        kinds: &[StaffKind],
        allow_org: bool,
    ) -> Option<Json> {
        if self.policy.detail().staff == StaffPolicy::None {
            return None;
        }
        let key = std::iter::once(i)
            .chain(more.iter().copied())
            .chain(self.ex.ancestors(i))
            .find_map(|c| {
                let staff = &self.item(c).staff;
                kinds
                    .iter()
                    .find_map(|k| staff.iter().find(|s| s.kind == *k))
            })?
            .agent
            .clone();
        let cached = self
            .staff
            .borrow()
            .refs
            .get(&(key.clone(), allow_org))
            .cloned();
        let r = match cached {
            Some(r) => r,
            None => {
                let r = self
                    .ex
                    .agents
                    .get(&key)
                    .and_then(|a| self.write_staff(&key, a, allow_org));
                self.staff
                    .borrow_mut()
                    .refs
                    .insert((key, allow_org), r.clone());
                r
            }
        };
        r.map(|r| json!({ "reference": r }))
    }

    /// Write (once) what the policy lets through about one agent and return the reference
    /// a resource should carry.
    fn write_staff(&self, key: &str, agent: &Agent, allow_org: bool) -> Option<String> {
        let share = self.policy.detail().staff == StaffPolicy::Share;
        let org = self.staff_org(agent);
        if !agent.person {
            return org.filter(|_| allow_org);
        }
        let practitioner = if share {
            self.practitioner(key, agent)
        } else {
            None
        };
        let role_codes = concept(self.policy, &agent.role);
        let has_role = role_codes["coding"]
            .as_array()
            .is_some_and(|c| !c.is_empty());
        let role_profile = agent.role_profile_id.as_deref().filter(|_| share);
        if org.is_none() && !has_role && role_profile.is_none() {
            // No role to write: the person alone (shared), else nobody.
            return practitioner;
        }
        let role_key = format!("role:{key}");
        if let Some(id) = self.staff.borrow().written.get(&role_key) {
            return Some(urn(id));
        }
        let id = derived_uuid(&["practitioner-role", &self.key, key]);
        self.staff.borrow_mut().written.insert(role_key, id.clone());
        let mut m = Map::new();
        m.insert("resourceType".into(), json!("PractitionerRole"));
        m.insert("id".into(), json!(id));
        m.insert("meta".into(), meta("PractitionerRole"));
        if let Some(p) = role_profile {
            m.insert(
                "identifier".into(),
                json!([{ "system": SDS_ROLE_PROFILE_SYSTEM, "value": p }]),
            );
        }
        if let Some(p) = &practitioner {
            m.insert("practitioner".into(), json!({ "reference": p }));
        }
        if let Some(o) = &org {
            m.insert("organization".into(), json!({ "reference": o }));
        }
        if has_role {
            m.insert("code".into(), json!([role_codes]));
        }
        self.staff.borrow_mut().resources.push(Json::Object(m));
        Some(urn(&id))
    }

    /// The Practitioner for a person, written once per person (the SDS user id, else the
    /// agent, identifies them); `None` when the source gives neither name nor identifier.
    fn practitioner(&self, key: &str, agent: &Agent) -> Option<String> {
        let mut identifiers = Vec::new();
        if let Some(sds) = &agent.sds_user_id {
            identifiers.push(json!({ "system": SDS_USER_SYSTEM, "value": sds }));
        }
        if let Some(gmp) = &agent.gmp_number {
            identifiers.push(json!({ "system": GMP_NUMBER_SYSTEM, "value": gmp }));
        }
        let name = agent.name.as_ref().filter(|n| !n.is_empty());
        if identifiers.is_empty() && name.is_none() {
            return None;
        }
        let person = match &agent.sds_user_id {
            Some(sds) => format!("sds:{sds}"),
            None => format!("agent:{key}"),
        };
        if let Some(id) = self.staff.borrow().written.get(&person) {
            return Some(urn(id));
        }
        let id = derived_uuid(&["practitioner", &self.key, &person]);
        let mut m = Map::new();
        m.insert("resourceType".into(), json!("Practitioner"));
        m.insert("id".into(), json!(id));
        m.insert("meta".into(), meta("Practitioner"));
        if !identifiers.is_empty() {
            m.insert("identifier".into(), json!(identifiers));
        }
        if let Some(n) = name {
            let mut hn = Map::new();
            if let Some(f) = &n.family {
                hn.insert("family".into(), json!(f));
            }
            if !n.given.is_empty() {
                hn.insert("given".into(), json!(n.given));
            }
            if !n.prefix.is_empty() {
                hn.insert("prefix".into(), json!(n.prefix));
            }
            m.insert("name".into(), json!([Json::Object(hn)]));
        }
        let mut st = self.staff.borrow_mut();
        st.written.insert(person, id.clone());
        st.resources.push(Json::Object(m));
        Some(urn(&id))
    }

    /// The Organization an agent works for (or is): the practice's own when the ODS code
    /// is the practice's, else one written once per ODS code (else per name).
    fn staff_org(&self, agent: &Agent) -> Option<String> {
        let org = agent.org.as_ref()?;
        let dedup = staff_org_key(agent)?;
        if org.ods.is_some()
            && org.ods.as_deref().map(str::to_ascii_uppercase)
                == self.ex.practice_ods.as_deref().map(str::to_ascii_uppercase)
        {
            return Some(self.practice_ref.clone());
        }
        if let Some(id) = self.staff.borrow().written.get(&dedup) {
            return Some(urn(id));
        }
        let id = derived_uuid(&["staff-organization", &self.key, &dedup]);
        let mut m = Map::new();
        m.insert("resourceType".into(), json!("Organization"));
        m.insert("id".into(), json!(id));
        m.insert("meta".into(), meta("Organization"));
        if let Some(ods) = &org.ods {
            m.insert(
                "identifier".into(),
                json!([{ "system": ODS_SYSTEM, "value": ods }]),
            );
        }
        if let Some(n) = &org.name {
            m.insert("name".into(), json!(n));
        }
        let mut st = self.staff.borrow_mut();
        st.written.insert(dedup, id.clone());
        st.resources.push(Json::Object(m));
        Some(urn(&id))
    }

    /// Resources for one shared item (a medication gives several), each with whether the
    /// category List names it (results inside a report or group, and the plan and issues
    /// of a medication, hang off their parent instead).
    fn map(&self, i: usize, role: Role, cat: Category) -> Vec<(Json, bool)> {
        match role {
            Role::Problem { named } => {
                vec![(self.condition(i, named, "problem-list-item", true), true)]
            }
            Role::Diagnosis => vec![(self.condition(i, i, "encounter-diagnosis", false), true)],
            Role::Procedure => vec![(self.procedure(i), true)],
            Role::Flag => vec![(self.flag(i), true)],
            Role::Allergy { observation } => vec![(self.allergy(i, observation), true)],
            Role::Medication { authorise } => self
                .medication(i, authorise)
                .into_iter()
                .enumerate()
                .map(|(k, r)| (r, k == 0))
                .collect(),
            Role::Report => vec![(self.report(i), true)],
            Role::ResultGroup { report } => {
                let mut r = self.observation(i, cat);
                let members = self.members(i);
                if !members.is_empty() {
                    r["hasMember"] = Json::Array(members);
                }
                let nested = self.item(i).parent.is_some_and(|p| {
                    matches!(
                        self.d.items[p].outcome,
                        Outcome::Shared(Role::ResultGroup { .. })
                    )
                });
                vec![(r, report.is_none() && !nested)]
            }
            Role::Result { group } => vec![(self.observation(i, cat), group.is_none())],
        }
    }

    /// Shared direct results of a group or report, as references.
    fn members(&self, group: usize) -> Vec<Json> {
        self.item(group)
            .children
            .iter()
            .copied()
            .filter(|&c| {
                matches!(
                    self.d.items[c].outcome,
                    Outcome::Shared(Role::Result { .. })
                        | Outcome::Shared(Role::ResultGroup { .. })
                )
            })
            .map(|c| json!({ "reference": urn(&source_uuid(&self.item(c).id)) }))
            .collect()
    }

    /// `issued` (a FHIR `instant`) of a result or report: when its author committed it,
    /// on the item itself (STU3 `issued`) or on the nearest container that says (XML: the
    /// `ehrComposition`'s `author/time`, as the NHS translator reads it). Only a time given
    /// to the minute or finer is an instant; a bare date is not invented into one.
    fn issued(&self, i: usize) -> Option<String> {
        std::iter::once(i)
            .chain(self.ex.ancestors(i))
            .find_map(|a| self.item(a).authored.value())
            .filter(|t| t.precision >= crate::ehr::ts::Precision::Minute)
            .map(|t| t.fhir_instant())
    }

    fn base(&self, ty: &str, i: usize) -> Map<String, Json> {
        let item = self.item(i);
        let id = source_uuid(&item.id);
        let mut m = Map::new();
        m.insert("resourceType".into(), json!(ty));
        m.insert("id".into(), json!(id));
        let mut meta = Map::new();
        meta.insert("profile".into(), json!([format!("{UKCORE}{ty}")]));
        // Label what a restricting code covers when the policy labels instead of dropping
        // (NOSCRUB, say, restricts nothing).
        if self.d.labelled(i) {
            meta.insert(
                "security".into(),
                json!([{ "system": V3_ACT_CODE, "code": "NOPAT" }]),
            );
        }
        m.insert("meta".into(), Json::Object(meta));
        m.insert(
            "identifier".into(),
            json!([{ "system": "urn:ietf:rfc:3986", "value": urn(&id) }]),
        );
        m
    }

    fn condition(&self, i: usize, coded: usize, category: &str, problem: bool) -> Json {
        let item = self.item(i);
        let c = self.item(coded);
        let mut m = self.base("Condition", i);
        let related: Vec<Json> = self
            .problem_links
            .get(&i)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|&j| json!({ "url": CONDITION_RELATED_URL, "valueReference": { "reference": urn(&source_uuid(&self.item(j).id)) } }))
            .collect();
        if !related.is_empty() {
            m.insert("extension".into(), json!(related));
        }
        if problem {
            // Only active problems are shared; `recurrence` (an active status) as the source
            // says it.
            let status = match item.clinical_status {
                Some("recurrence") => "recurrence",
                _ => "active",
            };
            m.insert(
                "clinicalStatus".into(),
                json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status }] }),
            );
        }
        // Certainty only as the source gives it: GP2GP gives none, and the NHS GP2GP
        // translator writes none for conditions either, so none is claimed.
        if let Some(v) = condition_verification(item.verification.or(c.verification)) {
            m.insert(
                "verificationStatus".into(),
                json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": v }] }),
            );
        }
        m.insert(
            "category".into(),
            json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": category }] }]),
        );
        // The problem qualifier "Significant" (386134007) / "Minor" is significance, not
        // severity: it is never written as `severity`. UK Core 2.0 has no significance
        // extension (the staging repository's `Extension-UKCore-ProblemSignificance` is
        // retired and absent from the 2.0.x packages), so it is not carried (see
        // docs/clinical-safety/clinical-decisions.md).
        m.insert("code".into(), concept(self.policy, &c.codes));
        m.insert("subject".into(), json!({ "reference": self.patient_ref }));
        let onset = match item.effective.low {
            DateField::Value(t) => Some(t),
            _ => c.effective.point().value(),
        };
        if let Some(t) = onset {
            m.insert("onsetDateTime".into(), json!(t.fhir()));
        }
        if let Some(t) = item.availability.value() {
            m.insert("recordedDate".into(), json!(t.fhir()));
        }
        // A problem's asserter is its consultation's (the NHS translator: the composition's
        // Participant2), not the performer of the statement naming it.
        if let Some(r) = self.staff_ref(i, &[], &[StaffKind::Recorder], false) {
            m.insert("recorder".into(), r);
        }
        if let Some(r) = self.staff_ref(i, &[], ASSERTED, false) {
            m.insert("asserter".into(), r);
        }
        Json::Object(m)
    }

    fn procedure(&self, i: usize) -> Json {
        let item = self.item(i);
        let mut m = self.base("Procedure", i);
        // A vaccination the source says was not given is `not-done`, never `completed`.
        let status = if item.not_done {
            "not-done"
        } else {
            "completed"
        };
        m.insert("status".into(), json!(status));
        m.insert("code".into(), concept(self.policy, &item.codes));
        m.insert("subject".into(), json!({ "reference": self.patient_ref }));
        if let Some(t) = item.effective.point().value().or(item.availability.value()) {
            m.insert("performedDateTime".into(), json!(t.fhir()));
        }
        if let Some(r) = self.staff_ref(i, &[], PERFORMED, true) {
            m.insert("performer".into(), json!([{ "actor": r }]));
        }
        Json::Object(m)
    }

    fn flag(&self, i: usize) -> Json {
        let item = self.item(i);
        let mut m = self.base("Flag", i);
        m.insert("status".into(), json!("active"));
        m.insert(
            "category".into(),
            json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/flag-category", "code": "clinical" }] }]),
        );
        m.insert("code".into(), concept(self.policy, &item.codes));
        m.insert("subject".into(), json!({ "reference": self.patient_ref }));
        if let Some(t) = item.effective.point().value().or(item.availability.value()) {
            m.insert("period".into(), json!({ "start": t.fhir() }));
        }
        Json::Object(m)
    }

    fn allergy(&self, i: usize, observation: Option<usize>) -> Json {
        let item = self.item(i);
        let obs = observation.map(|o| self.item(o)).unwrap_or(item);
        let drug = item.codes.iter().any(|c| c.code.starts_with("14L"))
            || item
                .codes
                .iter()
                .any(|c| c.system == CodeSystem::Snomed && c.code == "1521000000106");
        let mut m = self.base("AllergyIntolerance", i);
        m.insert(
            "clinicalStatus".into(),
            json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active" }] }),
        );
        // Never stronger than the source: GP Connect says it; GP2GP does not, and the NHS
        // GP2GP translator then writes `unconfirmed`, as here.
        let verification = allergy_verification(item.verification.or(obs.verification));
        m.insert(
            "verificationStatus".into(),
            json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": verification }] }),
        );
        m.insert(
            "category".into(),
            json!([if drug { "medication" } else { "environment" }]),
        );
        let mut code = concept(self.policy, &obs.codes);
        // A transfer-degraded allergy names its allergen only in its code's text: shared
        // when the policy says so (`clinical_detail.degraded_allergy_text`, default on).
        if let Some(t) = self.policy.detail().degraded_text(obs) {
            code["text"] = json!(t);
        }
        m.insert("code".into(), code);
        m.insert("patient".into(), json!({ "reference": self.patient_ref }));
        if let Some(t) = obs
            .effective
            .point()
            .value()
            .or(item.effective.point().value())
        {
            m.insert("onsetDateTime".into(), json!(t.fhir()));
        }
        if let Some(t) = item.availability.value() {
            m.insert("recordedDate".into(), json!(t.fhir()));
        }
        // Each reaction with a manifestation that passes the screen (R4 needs one); its
        // severity, onset and route as the source codes them; its text never.
        let reactions: Vec<Json> = item
            .reactions
            .iter()
            .filter(|r| has_emittable(self.policy, &r.manifestation))
            .map(|r| {
                let mut x = Map::new();
                x.insert(
                    "manifestation".into(),
                    json!([concept(self.policy, &r.manifestation)]),
                );
                if let Some(t) = r.onset.value() {
                    x.insert("onset".into(), json!(t.fhir()));
                }
                if let Some(s) = r.severity {
                    x.insert("severity".into(), json!(s));
                }
                if has_emittable(self.policy, &r.exposure_route) {
                    x.insert(
                        "exposureRoute".into(),
                        concept(self.policy, &r.exposure_route),
                    );
                }
                Json::Object(x)
            })
            .collect();
        if !reactions.is_empty() {
            m.insert("reaction".into(), json!(reactions));
        }
        let more: Vec<usize> = observation.into_iter().collect();
        if let Some(r) = self.staff_ref(i, &more, &[StaffKind::Recorder], false) {
            m.insert("recorder".into(), r);
        }
        if let Some(r) = self.staff_ref(i, &more, ASSERTED, false) {
            m.insert("asserter".into(), r);
        }
        Json::Object(m)
    }

    /// What a result (Observation) and a report (DiagnosticReport) both carry, in output
    /// order: code, subject, effective time, `issued` and performer.
    fn result_fields(&self, m: &mut Map<String, Json>, i: usize) {
        let item = self.item(i);
        m.insert("code".into(), concept(self.policy, &item.codes));
        m.insert("subject".into(), json!({ "reference": self.patient_ref }));
        if let Some(t) = item.effective.point().value().or(item.availability.value()) {
            m.insert("effectiveDateTime".into(), json!(t.fhir()));
        }
        if let Some(t) = self.issued(i) {
            m.insert("issued".into(), json!(t));
        }
        if let Some(r) = self.staff_ref(i, &[], PERFORMED, true) {
            m.insert("performer".into(), json!([r]));
        }
    }

    fn observation(&self, i: usize, cat: Category) -> Json {
        let item = self.item(i);
        let mut m = self.base("Observation", i);
        m.insert("status".into(), json!("final"));
        if cat == Category::Investigations {
            m.insert(
                "category".into(),
                json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory" }] }]),
            );
        }
        self.result_fields(&mut m, i);
        let detail = self.policy.detail();
        let value_unit = match &item.value {
            Some(Value::Quantity { unit, .. }) | Some(Value::Range { unit, .. }) => {
                detail.unit(unit.as_deref())
            }
            _ => None,
        };
        match &item.value {
            Some(Value::Quantity { value, .. }) => {
                if let Some(q) = quantity(value, value_unit) {
                    m.insert("valueQuantity".into(), q);
                }
            }
            Some(Value::Range { low, high, .. }) => {
                let mut r = Map::new();
                if let Some(q) = low.as_deref().and_then(|v| quantity(v, value_unit)) {
                    r.insert("low".into(), q);
                }
                if let Some(q) = high.as_deref().and_then(|v| quantity(v, value_unit)) {
                    r.insert("high".into(), q);
                }
                if !r.is_empty() {
                    m.insert("valueRange".into(), Json::Object(r));
                }
            }
            Some(Value::Coded(cs)) if has_emittable(self.policy, cs) => {
                m.insert("valueCodeableConcept".into(), concept(self.policy, cs));
            }
            _ => {}
        }
        if has_emittable(self.policy, &item.interpretation) {
            // Only a flag FHIR R4's bound vocabulary can say (the mapping table) is written.
            let mut flag = concept(self.policy, &item.interpretation);
            if interpretation::add_v3(&mut flag) {
                m.insert("interpretation".into(), json!([flag]));
            }
        }
        if let Some(rr) = &item.reference_range {
            // A range given without a unit is in the result's unit (EMIS writes the unit
            // once, on the value), as the NHS GP2GP translator reads it.
            let rr_unit = match &rr.unit {
                Some(u) => detail.unit(Some(u)),
                None => value_unit,
            };
            let mut r = Map::new();
            if let Some(q) = rr.low.as_deref().and_then(|v| quantity(v, rr_unit)) {
                r.insert("low".into(), q);
            }
            if let Some(q) = rr.high.as_deref().and_then(|v| quantity(v, rr_unit)) {
                r.insert("high".into(), q);
            }
            if !r.is_empty() {
                m.insert("referenceRange".into(), json!([Json::Object(r)]));
            }
        }
        Json::Object(m)
    }

    fn report(&self, i: usize) -> Json {
        let mut m = self.base("DiagnosticReport", i);
        m.insert("status".into(), json!("final"));
        m.insert(
            "category".into(),
            json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB" }] }]),
        );
        self.result_fields(&mut m, i);
        let results: Vec<Json> = self
            .report_results
            .get(&i)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|&j| json!({ "reference": urn(&source_uuid(&self.item(j).id)) }))
            .collect();
        if !results.is_empty() {
            m.insert("result".into(), Json::Array(results));
        }
        Json::Object(m)
    }

    /// The R4 `Dosage` of a medication: the dose text, and the structured dose (quantity or
    /// range with units the list knows, timing, route, as needed, additional instructions
    /// that pass the screen), as far as the policy shares dose instructions.
    fn dosage(&self, item: &Item) -> Option<Json> {
        let detail = self.policy.detail();
        let mut d = Map::new();
        if let Some(t) = detail.dosage(item) {
            d.insert("text".into(), json!(t));
        }
        if let Some(sd) = detail.dose(item) {
            let q = |x: &crate::ehr::model::DoseQuantity| {
                quantity(&x.value, detail.unit(x.unit.as_deref()))
            };
            if !sd.additional.is_empty() && has_emittable(self.policy, &sd.additional) {
                d.insert(
                    "additionalInstruction".into(),
                    json!([concept(self.policy, &sd.additional)]),
                );
            }
            let mut repeat = Map::new();
            if let Some(f) = sd.frequency {
                repeat.insert("frequency".into(), json!(f));
            }
            if let (Some(p), Some(u)) = (
                sd.period.as_deref().and_then(|p| quantity(p, None)),
                sd.period_unit,
            ) {
                repeat.insert("period".into(), p["value"].clone());
                repeat.insert("periodUnit".into(), json!(u));
            }
            if !repeat.is_empty() {
                d.insert("timing".into(), json!({ "repeat": repeat }));
            }
            if has_emittable(self.policy, &sd.as_needed_for) {
                d.insert(
                    "asNeededCodeableConcept".into(),
                    concept(self.policy, &sd.as_needed_for),
                );
            } else if let Some(b) = sd.as_needed {
                d.insert("asNeededBoolean".into(), json!(b));
            }
            if has_emittable(self.policy, &sd.route) {
                d.insert("route".into(), concept(self.policy, &sd.route));
            }
            let mut rate = Map::new();
            if let Some(x) = sd.quantity.as_ref().and_then(q) {
                rate.insert("doseQuantity".into(), x);
            } else if let Some((low, high)) = &sd.range {
                let mut r = Map::new();
                if let Some(x) = low.as_ref().and_then(q) {
                    r.insert("low".into(), x);
                }
                if let Some(x) = high.as_ref().and_then(q) {
                    r.insert("high".into(), x);
                }
                if !r.is_empty() {
                    rate.insert("doseRange".into(), Json::Object(r));
                }
            }
            if !rate.is_empty() {
                d.insert("doseAndRate".into(), json!([rate]));
            }
        }
        (!d.is_empty()).then(|| json!([d]))
    }

    fn medication(&self, i: usize, authorise: usize) -> Vec<Json> {
        let item = self.item(i);
        let auth = self.item(authorise);
        let med = concept(self.policy, &item.consumable);
        let plan_id = source_uuid(&auth.id);
        let mut out = Vec::new();

        let detail = self.policy.detail();
        let dosage = self.dosage(item);
        let mut ms = self.base("MedicationStatement", i);
        ms.insert("basedOn".into(), json!([{ "reference": urn(&plan_id) }]));
        // Only current plans are shared: active, or on hold as the source says.
        let status = match auth.status_code.as_deref() {
            Some(s) if s.trim().eq_ignore_ascii_case("SUSPENDED") => "on-hold",
            _ => "active",
        };
        ms.insert("status".into(), json!(status));
        ms.insert("medicationCodeableConcept".into(), med.clone());
        ms.insert("subject".into(), json!({ "reference": self.patient_ref }));
        if let Some(t) = auth.effective.low.value() {
            ms.insert("effectivePeriod".into(), json!({ "start": t.fhir() }));
        }
        if let Some(t) = auth.availability.value().or(item.availability.value()) {
            ms.insert("dateAsserted".into(), json!(t.fhir()));
        }
        if let Some(d) = &dosage {
            ms.insert("dosage".into(), d.clone());
        }
        if let Some(r) = self.staff_ref(i, &[authorise], &[StaffKind::InformationSource], true) {
            ms.insert("informationSource".into(), r);
        }
        // The issues made under this authorisation in the source (shared or not: only
        // their count and latest date are stated, never what was withheld).
        let issues: Vec<&Item> = self
            .source_issues
            .get(auth.id.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|&p| self.item(p))
            .collect();
        // The latest of the issues' own dates and the date the source states (GP Connect's
        // last issue date can predate an issue the same record holds).
        let last_issue = issues
            .iter()
            .filter_map(|p| p.availability.value())
            .chain(item.last_issue.value())
            .max_by_key(|t| t.epoch_secs());
        if let Some(t) = last_issue {
            ms.insert(
                "extension".into(),
                json!([{ "url": format!("{UKCORE_EXT}MedicationStatementLastIssueDate"), "valueDateTime": t.fhir() }]),
            );
        }
        out.push(Json::Object(ms));

        let mut plan = self.base("MedicationRequest", authorise);
        let mut repeat_info = Vec::new();
        let issued = auth
            .issues_recorded
            .or_else(|| u32::try_from(issues.len()).ok());
        if let Some(n) = issued {
            repeat_info
                .push(json!({ "url": "numberOfPrescriptionsIssued", "valueUnsignedInt": n }));
        }
        if let Some(t) = auth.effective.high.value() {
            repeat_info
                .push(json!({ "url": "authorisationExpiryDate", "valueDateTime": t.fhir() }));
        }
        if !repeat_info.is_empty() {
            plan.insert(
                "extension".into(),
                json!([{ "url": format!("{UKCORE_EXT}MedicationRepeatInformation"), "extension": repeat_info }]),
            );
        }
        plan.insert("status".into(), json!(status));
        plan.insert("intent".into(), json!("plan"));
        plan.insert("medicationCodeableConcept".into(), med.clone());
        plan.insert("subject".into(), json!({ "reference": self.patient_ref }));
        plan.insert("substitution".into(), substitution_not_recorded());
        if let Some(t) = auth.availability.value() {
            plan.insert("authoredOn".into(), json!(t.fhir()));
        }
        if let Some(r) = self.staff_ref(authorise, &[i], REQUESTED, true) {
            plan.insert("requester".into(), r);
        }
        if let Some(r) = self.staff_ref(authorise, &[i], &[StaffKind::Recorder], false) {
            plan.insert("recorder".into(), r);
        }
        // UK Core's PrescriptionType extension is retired: acute, repeat and repeat
        // dispensing are the course of therapy (UKCore-MedicationRequestCourseOfTherapy).
        let (course_system, course) = if auth.repeat_number.unwrap_or(0) == 0 {
            (HL7_COURSE_OF_THERAPY, "acute")
        } else if auth.repeat_dispensing {
            (UKCORE_COURSE_OF_THERAPY, "continuous-repeating-dispensing")
        } else {
            (HL7_COURSE_OF_THERAPY, "continuous")
        };
        plan.insert(
            "courseOfTherapyType".into(),
            json!({ "coding": [{ "system": course_system, "code": course }] }),
        );
        if let Some(d) = &dosage {
            plan.insert("dosageInstruction".into(), d.clone());
        }
        let mut dr = Map::new();
        let mut validity = Map::new();
        if let Some(t) = auth.effective.low.value() {
            validity.insert("start".into(), json!(t.fhir()));
        }
        if let Some(t) = auth.effective.high.value() {
            validity.insert("end".into(), json!(t.fhir()));
        }
        if !validity.is_empty() {
            dr.insert("validityPeriod".into(), Json::Object(validity));
        }
        if let Some(n) = auth.repeat_number {
            dr.insert("numberOfRepeatsAllowed".into(), json!(n));
        }
        if let Some(q) = auth
            .quantity
            .as_deref()
            .and_then(|v| quantity(v, detail.quantity_unit(auth)))
        {
            dr.insert("quantity".into(), q);
        }
        if !dr.is_empty() {
            plan.insert("dispenseRequest".into(), Json::Object(dr));
        }
        out.push(Json::Object(plan));

        for &issue in self.d.issues.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
            let p = self.item(issue);
            let mut order = self.base("MedicationRequest", issue);
            order.insert("basedOn".into(), json!([{ "reference": urn(&plan_id) }]));
            order.insert("status".into(), json!("completed"));
            order.insert("intent".into(), json!("order"));
            order.insert("medicationCodeableConcept".into(), med.clone());
            order.insert("subject".into(), json!({ "reference": self.patient_ref }));
            order.insert("substitution".into(), substitution_not_recorded());
            if let Some(t) = p.availability.value() {
                order.insert("authoredOn".into(), json!(t.fhir()));
            }
            if let Some(r) = self.staff_ref(issue, &[i], REQUESTED, true) {
                order.insert("requester".into(), r);
            }
            if let Some(r) = self.staff_ref(issue, &[i], &[StaffKind::Recorder], false) {
                order.insert("recorder".into(), r);
            }
            if let Some(d) = &dosage {
                order.insert("dosageInstruction".into(), d.clone());
            }
            if let Some(q) = p
                .quantity
                .as_deref()
                .and_then(|v| quantity(v, detail.quantity_unit(p)))
            {
                order.insert("dispenseRequest".into(), json!({ "quantity": q }));
            }
            out.push(Json::Object(order));
        }
        out
    }
}

/// The R4 `condition-ver-status` code a shared Condition carries: the source's own, when it
/// is one a shared item can have (`refuted` and `entered-in-error` are withheld before
/// mapping); none when the source says nothing.
fn condition_verification(source: Option<&'static str>) -> Option<&'static str> {
    source.filter(|v| {
        matches!(
            *v,
            "confirmed" | "provisional" | "differential" | "unconfirmed"
        )
    })
}

/// The R4 `allergyintolerance-verification` code a shared allergy carries: `confirmed`
/// only when the source says so, else `unconfirmed` (what the NHS GP2GP translator writes
/// when the source says nothing).
fn allergy_verification(source: Option<&'static str>) -> &'static str {
    match source {
        Some("confirmed") => "confirmed",
        _ => "unconfirmed",
    }
}

/// `MedicationRequest.substitution`, which UKCore-MedicationRequest requires (1..1) and whose
/// `allowed[x]` is 1..1: neither GP2GP nor GP Connect records whether substitution was
/// allowed, so the value is absent with the core `data-absent-reason` `unknown` rather than
/// an invented yes or no.
fn substitution_not_recorded() -> Json {
    json!({ "_allowedBoolean": { "extension": [{ "url": DATA_ABSENT_REASON_URL, "valueCode": "unknown" }] } })
}

/// A FHIR Quantity from a decimal string, with its unit when the policy's unit list knows
/// it (and UCUM `system`/`code` when the list gives one); `None` when the value is not a
/// plain number.
fn quantity(value: &str, unit: Option<KnownUnit<'_>>) -> Option<Json> {
    let v = value.trim();
    let n: f64 = v.parse().ok()?;
    if !n.is_finite() {
        return None;
    }
    let num = if n.fract() == 0.0 && n.abs() < 1e15 && !v.contains('.') {
        json!(n as i64)
    } else {
        json!(n)
    };
    let mut q = Map::new();
    q.insert("value".into(), num);
    if let Some(u) = unit {
        q.insert("unit".into(), json!(u.text));
        if let Some(code) = u.ucum {
            q.insert("system".into(), json!(UCUM_SYSTEM));
            q.insert("code".into(), json!(code));
        }
    }
    Some(Json::Object(q))
}

fn has_emittable(policy: &Policy, codes: &[Coding]) -> bool {
    !screen::shareable(policy, codes).is_empty()
}

/// One screened coding as FHIR. A resolved description id is emitted as its concept id,
/// with the description id kept in the core `coding-sctdescid` extension.
fn coding_json(c: &ScreenedCoding) -> Json {
    let mut m = Map::new();
    if let Some(d) = c.description_id() {
        m.insert(
            "extension".into(),
            json!([{ "url": SCT_DESC_ID_URL, "valueId": d }]),
        );
    }
    m.insert("system".into(), json!(c.system()));
    m.insert("code".into(), json!(c.code()));
    if let Some(d) = c.display() {
        m.insert("display".into(), json!(d));
    }
    Json::Object(m)
}

/// A CodeableConcept of the codings that pass the screen (see [`screen::shareable`]): the
/// only way a source coding reaches a bundle.
pub fn concept(policy: &Policy, codes: &[Coding]) -> Json {
    concept_of(&screen::shareable(policy, codes))
}

/// A CodeableConcept from screened codings.
pub fn concept_of(codes: &[ScreenedCoding]) -> Json {
    let out: Vec<Json> = codes.iter().map(coding_json).collect();
    json!({ "coding": out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_certainty_is_the_sources_and_never_invented() {
        assert_eq!(condition_verification(None), None);
        for v in ["confirmed", "provisional", "differential", "unconfirmed"] {
            assert_eq!(condition_verification(Some(v)), Some(v));
        }
        // Withheld before mapping; never written if one slips through.
        assert_eq!(condition_verification(Some("refuted")), None);
        assert_eq!(condition_verification(Some("entered-in-error")), None);
    }

    #[test]
    fn allergy_certainty_is_never_stronger_than_the_source() {
        assert_eq!(allergy_verification(None), "unconfirmed");
        assert_eq!(allergy_verification(Some("unconfirmed")), "unconfirmed");
        assert_eq!(allergy_verification(Some("confirmed")), "confirmed");
        assert_eq!(allergy_verification(Some("refuted")), "unconfirmed");
    }
}
