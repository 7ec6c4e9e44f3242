//! The sharing policy: a JSON file (schema `schemas/policy.schema.json`, embedded default
//! `policy/default.json`) naming the code lists, exclusion refsets, windows, requesters and
//! purposes. [`Policy`] is the loaded, checked, immutable form the decision engine queries.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::codes::list::{parse_code_list, CodeList, CodeListError, Entry};
use crate::codes::release::{SnomedIndex, EXCLUSION_REFSETS};
use crate::codes::rf2::{load_simple_refset, parse_simple_refset, Rf2Error};
use crate::codes::snomed::{parse_sctid, SctIdKind};
use crate::codes::systems::AliasTable;
use crate::codes::{CodeSystem, Coding};
use crate::policy::detail::{Detail, RawDetail, UnitList};
use crate::policy::semantic::SemanticTagRules;

/// The embedded default policy file.
pub const DEFAULT_POLICY_JSON: &str = include_str!("../../../../policy/default.json");

/// A policy file to start a site policy from: the embedded default without `code_lists`
/// (so the embedded lists are used), pretty-printed.
pub fn policy_template() -> Result<String, String> {
    let mut v: serde_json::Value =
        serde_json::from_str(DEFAULT_POLICY_JSON).map_err(|e| e.to_string())?;
    if let Some(o) = v.as_object_mut() {
        o.remove("code_lists");
        o.insert(
            "name".into(),
            serde_json::Value::String("site-policy".into()),
        );
        o.insert(
            "description".into(),
            serde_json::Value::String(
                "Site sharing policy: list the organisations in the sharing agreement under permitted_requesters (ODS code, name, role); code_lists is left out, so the built-in lists are used.".into(),
            ),
        );
    }
    serde_json::to_string_pretty(&v).map_err(|e| e.to_string())
}

/// Files the embedded default policy can name, by the relative path it uses.
const EMBEDDED_FILES: &[(&str, &str)] = &[
    (
        "codes/consent.tsv",
        include_str!("../../../../policy/codes/consent.tsv"),
    ),
    (
        "codes/sensitive.tsv",
        include_str!("../../../../policy/codes/sensitive.tsv"),
    ),
    (
        "codes/categories.tsv",
        include_str!("../../../../policy/codes/categories.tsv"),
    ),
    (
        "codes/risks-warnings.tsv",
        include_str!("../../../../policy/codes/risks-warnings.tsv"),
    ),
    (
        "codes/units.tsv",
        include_str!("../../../../policy/codes/units.tsv"),
    ),
    (
        "codes/der2_Refset_SimpleSnapshot_MIGX_default.txt",
        include_str!("../../../../policy/codes/der2_Refset_SimpleSnapshot_MIGX_default.txt"),
    ),
];

/// Allowed values of the consent list's `effect` column.
pub const CONSENT_EFFECTS: [&str; 3] = ["permit", "dissent", "ignore"];
/// Allowed values of the category list's `category` column.
pub const RULE_CATEGORIES: [&str; 8] = [
    "diagnoses",
    "procedures",
    "tests",
    "risks-warnings",
    "allergy-header",
    "pathology-report",
    "specimen",
    "not-shared",
];
/// FHIR R4 Flag category codes allowed in the risks list's `flag_category` column.
pub const FLAG_CATEGORIES: [&str; 10] = [
    "diet",
    "drug",
    "lab",
    "admin",
    "contact",
    "clinical",
    "behavioral",
    "research",
    "advance-directive",
    "safety",
];

/// One official exclusion refset as a run loaded it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OfficialRefset {
    /// The NHS refset concept id.
    pub refset_id: u64,
    /// The policy's group name for it (`None`: the policy does not use it).
    pub group: Option<String>,
    /// Members loaded (RF2 files and SNOMED CT release).
    pub members: usize,
}

/// What a run's sensitive-code check rests on: the official exclusion refsets (all four
/// loaded, or not), the operator's assertion that it runs without them, and whether SNOMED CT
/// subtypes were checked through a release's IS-A hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExclusionBasis {
    /// Every official refset has members loaded and is used by the policy.
    pub complete: bool,
    /// The four official refsets, in [`EXCLUSION_REFSETS`] order.
    pub official: Vec<OfficialRefset>,
    /// The operator asserted `--without-official-refsets` (recorded only when the official
    /// sets are not complete).
    pub operator_assertion: bool,
    /// The release whose IS-A hierarchy was used for subtypes (`None`: only exact SNOMED CT
    /// matches and Read v2/CTV3 prefixes were checked).
    pub subtypes_release: Option<String>,
}

impl ExclusionBasis {
    fn missing(&self) -> Vec<String> {
        self.official
            .iter()
            .filter(|r| r.group.is_none() || r.members == 0)
            .map(|r| match &r.group {
                Some(g) => format!("{g} {}", r.refset_id),
                None => r.refset_id.to_string(),
            })
            .collect()
    }

    /// One line for the Provenance (and explain): which sets the check used.
    pub fn refsets_text(&self) -> String {
        if self.complete {
            let parts: Vec<String> = self
                .official
                .iter()
                .map(|r| {
                    format!(
                        "{} {}: {} members",
                        r.group.as_deref().unwrap_or("?"),
                        r.refset_id,
                        r.members
                    )
                })
                .collect();
            format!(
                "exclusion refsets: the official GP summary exclusion refsets ({})",
                parts.join(", ")
            )
        } else if self.operator_assertion {
            format!(
                "exclusion refsets: NOT the official sets (missing: {}); operator assertion --without-official-refsets: checked against migx's built-in fallback lists and whatever was loaded",
                self.missing().join(", ")
            )
        } else {
            format!(
                "exclusion refsets: NOT the official sets (missing: {}); no operator assertion: checked against migx's built-in fallback lists and whatever was loaded",
                self.missing().join(", ")
            )
        }
    }

    /// One line for the Provenance (and explain): how far SNOMED CT codes were matched.
    pub fn hierarchy_text(&self) -> String {
        match &self.subtypes_release {
            Some(v) => format!(
                "sensitive SNOMED CT codes: listed concepts and their IS-A subtypes (release {v})"
            ),
            None => "sensitive SNOMED CT codes: only exact matches and Read v2/CTV3 prefixes were checked (no SNOMED CT release with an IS-A hierarchy: subtypes not checked)".to_string(),
        }
    }

    /// The `exclusion_refsets` object of `summary.json`.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "official_complete": self.complete,
            "official": self.official.iter().map(|r| serde_json::json!({
                "refset_id": r.refset_id.to_string(),
                "group": r.group,
                "members": r.members,
            })).collect::<Vec<_>>(),
            "operator_assertion": if self.operator_assertion { Some("--without-official-refsets") } else { None },
            "subtypes": match &self.subtypes_release {
                Some(v) => format!("IS-A subtypes checked (release {v})"),
                None => "only exact matches and Read v2/CTV3 prefixes were checked".to_string(),
            },
        })
    }
}

/// What a consent code says about sharing for direct care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentEffect {
    /// Consent to share recorded.
    Permit,
    /// Dissent recorded: withhold the whole record.
    Dissent,
    /// A known consent code that does not decide direct-care sharing (SCR, type 1 opt-out).
    Ignore,
}

impl ConsentEffect {
    /// The effect id as written in the consent code list (`permit`/`dissent`/`ignore`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentEffect::Permit => "permit",
            ConsentEffect::Dissent => "dissent",
            ConsentEffect::Ignore => "ignore",
        }
    }
}

/// The effect named in the consent list's `effect` column (checked at load time; anything
/// else is read as dissent, fail-closed).
fn effect_of(effect: &str) -> ConsentEffect {
    match effect {
        "permit" => ConsentEffect::Permit,
        "ignore" => ConsentEffect::Ignore,
        _ => ConsentEffect::Dissent,
    }
}

/// Dissent over permit over ignore.
fn most_restrictive(a: ConsentEffect, b: ConsentEffect) -> ConsentEffect {
    use ConsentEffect::{Dissent, Ignore, Permit};
    match (a, b) {
        (Dissent, _) | (_, Dissent) => Dissent,
        (Permit, _) | (_, Permit) => Permit,
        (Ignore, Ignore) => Ignore,
    }
}

/// How long point-of-care consent stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentValidity {
    /// For the (local) day of the encounter in which it was recorded.
    EncounterDay,
    /// For this many hours after it was recorded.
    Hours(u32),
}

/// Where the display text of an emitted coding comes from (policy `displays`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplaySource {
    /// The terminology: a loaded SNOMED CT release's display term for SNOMED CT concepts, else
    /// the term of the code in the policy's code lists; no display when neither has one. The
    /// default.
    Terminology,
    /// The source's own `displayName`/`display`, as the GP system wrote it.
    Source,
}

impl DisplaySource {
    /// The value as written in the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            DisplaySource::Terminology => "terminology",
            DisplaySource::Source => "source",
        }
    }
}

/// What to do with items under a restricting confidentiality code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfidentialHandling {
    /// Withhold them (the default).
    Drop,
    /// Share them with a `NOPAT` security label, for a receiver trusted to honour it.
    Label,
}

/// The decision for one confidentiality code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfidentialityAction {
    /// A known non-restricting code (e.g. NOSCRUB): share as usual.
    Share,
    /// Withhold the item (restricting code with handling `drop`, or an unknown code).
    Drop,
    /// Share with a security label (restricting code with handling `label`).
    Label,
}

/// A requesting organisation allowed to receive records.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requester {
    /// The organisation's ODS code, as it appears in the consent CSV's `requester_ods`.
    pub ods_code: String,
    /// Its name, recorded in the requester Organization and the access audit.
    pub name: String,
    /// What kind of service it is (e.g. `out-of-hours`); recorded in the access audit.
    pub role: String,
}

/// A policy that cannot be loaded. Messages name the file and, where known, the line.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy or code list file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file, as given or resolved.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The policy JSON does not parse or has an unexpected shape.
    #[error("{origin}:{line}:{column}: invalid policy JSON: {message}")]
    Json {
        /// The file (or `embedded:...`) the JSON came from.
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's description of the problem.
        message: String,
    },
    /// The JSON parses but a value is not allowed (out of range, duplicate, unknown id...).
    #[error("{origin}: {message}")]
    Invalid {
        /// The file (or `embedded:...`) the value came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A code list (TSV) is invalid.
    #[error(transparent)]
    CodeList(#[from] CodeListError),
    /// An RF2 refset or SNOMED CT release file is invalid.
    #[error(transparent)]
    Rf2(#[from] Rf2Error),
}

// ---------------------------------------------------------------- raw JSON form

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    version: String,
    #[serde(default)]
    description: Option<String>,
    consent: RawConsent,
    recent_tests_months: u32,
    confidentiality: RawConfidentiality,
    /// Absent: the four lists embedded in the binary (a site policy that only lists its
    /// requesters need not copy them).
    #[serde(default)]
    code_lists: Option<RawCodeLists>,
    exclusion_refsets: RawExclusionRefsets,
    permitted_requesters: Vec<Requester>,
    permitted_purposes: Vec<String>,
    #[serde(default)]
    snomed_release: Option<String>,
    #[serde(default)]
    semantic_tags: Option<SemanticTagRules>,
    /// Where a coding's display text comes from: `terminology` (default) or `source`.
    #[serde(default)]
    displays: Option<String>,
    /// The code-system alias table (`codes/systems.tsv` format); absent: the embedded one.
    #[serde(default)]
    code_systems: Option<String>,
    /// Absent: share dose and quantity text, the embedded unit list.
    #[serde(default)]
    clinical_detail: RawDetail,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsent {
    point_of_care_validity: RawValidity,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawValidity {
    Named(String),
    Hours(RawHours),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    hours: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfidentiality {
    handling: String,
    restricting_codes: Vec<String>,
    non_restricting_codes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCodeLists {
    consent: String,
    sensitive: String,
    categories: String,
    risks_warnings: String,
}

impl RawCodeLists {
    /// The embedded lists (used when a policy file omits `code_lists`).
    fn embedded() -> RawCodeLists {
        RawCodeLists {
            consent: "codes/consent.tsv".into(),
            sensitive: "codes/sensitive.tsv".into(),
            categories: "codes/categories.tsv".into(),
            risks_warnings: "codes/risks-warnings.tsv".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExclusionRefsets {
    files: Vec<String>,
    refset_ids: BTreeMap<String, String>,
}

// ---------------------------------------------------------------- loaded form

/// Where a policy's relative file names are looked up.
enum Source<'a> {
    Embedded,
    Dir(&'a Path),
}

impl Source<'_> {
    /// Returns (display origin, bytes).
    fn read(&self, name: &str) -> Result<(String, String), PolicyError> {
        match self {
            Source::Embedded => EMBEDDED_FILES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(n, text)| (format!("embedded:policy/{n}"), (*text).to_string()))
                .ok_or_else(|| PolicyError::Invalid {
                    origin: "embedded:policy/default.json".to_string(),
                    message: format!("the embedded policy has no file {name:?}"),
                }),
            Source::Dir(dir) => {
                let path = resolve(dir, name);
                let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                Ok((path.display().to_string(), text))
            }
        }
    }
}

fn resolve(dir: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// A loaded, checked sharing policy. Immutable once built (apart from
/// [`Policy::add_exclusion_refset`] during setup); `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Policy {
    origin: String,
    name: String,
    version: String,
    description: Option<String>,
    consent_validity: ConsentValidity,
    recent_tests_months: u32,
    confidential_handling: ConfidentialHandling,
    restricting_codes: Vec<String>,
    non_restricting_codes: Vec<String>,
    consent: CodeList,
    sensitive: CodeList,
    categories: CodeList,
    risks: CodeList,
    /// group name -> refset id, in name order.
    refset_ids: Vec<(String, u64)>,
    /// referenced component (concept) id -> refset id, from loaded RF2 files.
    refset_members: HashMap<u64, u64>,
    refset_files: Vec<String>,
    /// Per loaded refset file, the refset ids in it the policy does not name.
    refsets_not_named: Vec<(String, Vec<u64>)>,
    requesters: Vec<Requester>,
    purposes: Vec<String>,
    snomed_release: Option<PathBuf>,
    snomed_index: Option<Arc<SnomedIndex>>,
    /// IS-A subtypes of the sensitive concepts (list and refsets) -> group, computed once
    /// when a release with a hierarchy is loaded ([`Policy::set_snomed_index`]).
    subtype_sensitive: HashMap<u64, String>,
    /// IS-A subtypes of listed consent concepts (not listed themselves) -> the effect of
    /// their nearest listed ancestors (the most restrictive when there are several).
    subtype_consent: HashMap<u64, ConsentEffect>,
    semantic_tags: SemanticTagRules,
    displays: DisplaySource,
    systems: Arc<AliasTable>,
    systems_origin: String,
    detail: Detail,
    hasher: Sha256,
    sha256: String,
}

fn invalid(origin: &str, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        origin: origin.to_string(),
        message: message.into(),
    }
}

fn hash_part(hasher: &mut Sha256, label: &str, bytes: &[u8]) {
    hasher.update((label.len() as u64).to_le_bytes());
    hasher.update(label.as_bytes());
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

impl Policy {
    /// The embedded default policy (`policy/default.json` and its lists).
    pub fn embedded_default() -> Result<Policy, PolicyError> {
        Policy::build(
            DEFAULT_POLICY_JSON,
            "embedded:policy/default.json",
            &Source::Embedded,
        )
    }

    /// Load a policy file; relative list paths are resolved against its folder.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        Policy::build(&text, &path.display().to_string(), &Source::Dir(dir))
    }

    /// Load a policy from JSON text; relative list paths are resolved against `base_dir`.
    pub fn from_json_str(
        json: &str,
        origin: &str,
        base_dir: impl AsRef<Path>,
    ) -> Result<Policy, PolicyError> {
        Policy::build(json, origin, &Source::Dir(base_dir.as_ref()))
    }

    fn build(json: &str, origin: &str, source: &Source<'_>) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = serde_json::from_str(json).map_err(|e| PolicyError::Json {
            origin: origin.to_string(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        if raw.name.trim().is_empty() || raw.version.trim().is_empty() {
            return Err(invalid(origin, "`name` and `version` must not be empty"));
        }
        let consent_validity = match raw.consent.point_of_care_validity {
            RawValidity::Named(s) if s == "encounter-day" => ConsentValidity::EncounterDay,
            RawValidity::Named(s) => {
                return Err(invalid(
                    origin,
                    format!(
                        "consent.point_of_care_validity {s:?}: expected \"encounter-day\" or {{\"hours\": N}}"
                    ),
                ))
            }
            RawValidity::Hours(RawHours { hours }) if (1..=8760).contains(&hours) => {
                ConsentValidity::Hours(hours)
            }
            RawValidity::Hours(_) => {
                return Err(invalid(
                    origin,
                    "consent.point_of_care_validity.hours must be 1 to 8760",
                ))
            }
        };
        if !(1..=1200).contains(&raw.recent_tests_months) {
            return Err(invalid(origin, "recent_tests_months must be 1 to 1200"));
        }
        let confidential_handling = match raw.confidentiality.handling.as_str() {
            "drop" => ConfidentialHandling::Drop,
            "label" => ConfidentialHandling::Label,
            other => {
                return Err(invalid(
                    origin,
                    format!("confidentiality.handling {other:?}: expected \"drop\" or \"label\""),
                ))
            }
        };
        let restricting: Vec<String> = raw
            .confidentiality
            .restricting_codes
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect();
        let non_restricting: Vec<String> = raw
            .confidentiality
            .non_restricting_codes
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect();
        if let Some(c) = restricting
            .iter()
            .find(|c| c.is_empty() || non_restricting.contains(c))
        {
            return Err(invalid(
                origin,
                format!("confidentiality code {c:?} is empty or listed as both restricting and non-restricting"),
            ));
        }
        if raw.permitted_purposes.is_empty() {
            return Err(invalid(origin, "permitted_purposes must not be empty"));
        }
        let purposes: Vec<String> = raw
            .permitted_purposes
            .iter()
            .map(|p| p.trim().to_string())
            .collect();
        if let Some(p) = purposes
            .iter()
            .find(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(invalid(origin, format!("bad purpose code {p:?}")));
        }
        for r in &raw.permitted_requesters {
            if r.ods_code.trim().is_empty()
                || !r.ods_code.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(invalid(
                    origin,
                    format!("permitted_requesters: bad ODS code {:?}", r.ods_code),
                ));
            }
        }
        let mut refset_ids = Vec::new();
        for (group, id) in &raw.exclusion_refsets.refset_ids {
            let sct = parse_sctid(id).map_err(|e| {
                invalid(origin, format!("exclusion_refsets.refset_ids.{group}: {e}"))
            })?;
            if sct.kind != SctIdKind::Concept {
                return Err(invalid(
                    origin,
                    format!("exclusion_refsets.refset_ids.{group}: not a concept id"),
                ));
            }
            refset_ids.push((group.clone(), sct.id));
        }
        if refset_ids.is_empty() {
            return Err(invalid(origin, "exclusion_refsets.refset_ids is empty"));
        }

        let mut hasher = Sha256::new();
        hash_part(&mut hasher, "policy", json.as_bytes());

        let (lists, list_source) = match &raw.code_lists {
            Some(l) => (l.clone(), source),
            None => (RawCodeLists::embedded(), &Source::Embedded),
        };
        let mut load_list = |key: &str, name: &str| -> Result<CodeList, PolicyError> {
            let (list_origin, text) = list_source.read(name)?;
            hash_part(&mut hasher, key, text.as_bytes());
            Ok(parse_code_list(&text, &list_origin)?)
        };
        let consent = load_list("consent", &lists.consent)?;
        let sensitive = load_list("sensitive", &lists.sensitive)?;
        let categories = load_list("categories", &lists.categories)?;
        let risks = load_list("risks_warnings", &lists.risks_warnings)?;
        consent.require_column("effect", &CONSENT_EFFECTS)?;
        let groups: Vec<&str> = refset_ids.iter().map(|(g, _)| g.as_str()).collect();
        sensitive.require_column("group", &groups)?;
        categories.require_column("category", &RULE_CATEGORIES)?;
        risks.require_column("flag_category", &FLAG_CATEGORIES)?;

        let semantic_tags = match raw.semantic_tags {
            Some(t) => {
                t.check().map_err(|m| invalid(origin, m))?;
                t
            }
            None => SemanticTagRules::default(),
        };

        let displays = match raw.displays.as_deref() {
            None | Some("terminology") => DisplaySource::Terminology,
            Some("source") => DisplaySource::Source,
            Some(other) => {
                return Err(invalid(
                    origin,
                    format!("displays {other:?}: expected \"terminology\" or \"source\""),
                ))
            }
        };
        // The code-system alias table: the policy's own (hashed, fail closed on any bad row),
        // or the embedded one (not hashed, so a policy that names none keeps its hash).
        let (systems, systems_origin) = match &raw.code_systems {
            Some(name) => {
                let (sys_origin, text) = source.read(name)?;
                hash_part(&mut hasher, "code_systems", text.as_bytes());
                let table = AliasTable::parse(&text).map_err(|e| {
                    invalid(
                        &sys_origin,
                        if e.line == 0 {
                            format!("code-system alias table: {}", e.message)
                        } else {
                            format!("line {}: code-system alias table: {}", e.line, e.message)
                        },
                    )
                })?;
                (Arc::new(table), sys_origin)
            }
            None => (
                Arc::clone(AliasTable::embedded()),
                "embedded:policy/codes/systems.tsv".to_string(),
            ),
        };
        let (units_origin, units_text) = match &raw.clinical_detail.units {
            Some(name) => source.read(name)?,
            None => Source::Embedded.read("codes/units.tsv")?,
        };
        hash_part(&mut hasher, "units", units_text.as_bytes());
        let units = UnitList::parse(&units_text)
            .map_err(|(line, m)| invalid(&units_origin, format!("line {line}: {m}")))?;
        let detail = Detail {
            dose_instructions: raw.clinical_detail.dose_instructions,
            quantity_text: raw.clinical_detail.quantity_text,
            units,
            degraded_allergy_text: raw.clinical_detail.degraded_allergy_text,
            staff: raw.clinical_detail.staff,
        };

        let snomed_release = raw.snomed_release.as_deref().map(|p| match source {
            Source::Embedded => PathBuf::from(p),
            Source::Dir(dir) => resolve(dir, p),
        });

        let mut policy = Policy {
            origin: origin.to_string(),
            name: raw.name,
            version: raw.version,
            description: raw.description,
            consent_validity,
            recent_tests_months: raw.recent_tests_months,
            confidential_handling,
            restricting_codes: restricting,
            non_restricting_codes: non_restricting,
            consent,
            sensitive,
            categories,
            risks,
            refset_ids,
            refset_members: HashMap::new(),
            refset_files: Vec::new(),
            refsets_not_named: Vec::new(),
            requesters: raw.permitted_requesters,
            purposes,
            snomed_release,
            snomed_index: None,
            subtype_sensitive: HashMap::new(),
            subtype_consent: HashMap::new(),
            semantic_tags,
            displays,
            systems,
            systems_origin,
            detail,
            hasher,
            sha256: String::new(),
        };
        for name in &raw.exclusion_refsets.files {
            let (file_origin, text) = source.read(name)?;
            policy.add_refset_text(&text, &file_origin)?;
        }
        policy.sha256 = crate::digest::hex(&policy.hasher.clone().finalize());
        Ok(policy)
    }

    /// The clinical detail switches and unit list (`clinical_detail`).
    pub fn detail(&self) -> &Detail {
        &self.detail
    }

    /// Load and check a policy file (for `migx policy check`).
    pub fn check_file(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        Policy::from_file(path)
    }

    /// Load an RF2 simple refset file and exclude the members of the policy's exclusion
    /// refsets it holds (other refsets in the file are ignored). Updates [`Policy::sha256`].
    ///
    /// A file holding no active member of any refset the policy names is refused (it would
    /// otherwise exclude nothing, in silence); refsets in the file the policy does not name
    /// are not loaded and are listed by [`Policy::refsets_not_named`].
    pub fn add_exclusion_refset(&mut self, path: impl AsRef<Path>) -> Result<usize, PolicyError> {
        let path = path.as_ref();
        let members = load_simple_refset(path, &[])?;
        let origin = path.display().to_string();
        let members = self.named_members(members, &origin)?;
        let bytes = std::fs::read(path).map_err(|source| PolicyError::Io {
            path: origin.clone(),
            source,
        })?;
        hash_part(&mut self.hasher, "exclusion_refset", &bytes);
        let n = members.len();
        for m in members {
            self.refset_members
                .entry(m.referenced_component_id)
                .or_insert(m.refset_id);
        }
        self.refset_files.push(origin);
        self.sha256 = crate::digest::hex(&self.hasher.clone().finalize());
        self.compute_subtypes();
        Ok(n)
    }

    /// Keep the members of the refsets the policy names; refuse a file with none.
    fn named_members(
        &mut self,
        members: Vec<crate::codes::rf2::RefsetMember>,
        origin: &str,
    ) -> Result<Vec<crate::codes::rf2::RefsetMember>, PolicyError> {
        let wanted: Vec<u64> = self.refset_ids.iter().map(|(_, id)| *id).collect();
        let (named, others): (Vec<_>, Vec<_>) = members
            .into_iter()
            .partition(|m| wanted.contains(&m.refset_id));
        let mut other_ids: Vec<u64> = others.iter().map(|m| m.refset_id).collect();
        other_ids.sort_unstable();
        other_ids.dedup();
        if named.is_empty() {
            let held = if other_ids.is_empty() {
                "no active member of any refset".to_string()
            } else {
                let shown: Vec<String> = other_ids.iter().take(5).map(u64::to_string).collect();
                format!(
                    "only refset(s) the policy does not name ({}{})",
                    shown.join(", "),
                    if other_ids.len() > 5 { ", ..." } else { "" }
                )
            };
            return Err(invalid(
                origin,
                format!(
                    "exclusion refset file holds {held}: it would exclude nothing. Name its refset id under exclusion_refsets.refset_ids in the policy (see `migx policy show`), or pass the file that holds the named refsets"
                ),
            ));
        }
        if !other_ids.is_empty() {
            self.refsets_not_named.push((origin.to_string(), other_ids));
        }
        Ok(named)
    }

    /// Refsets found in loaded exclusion refset files that the policy does not name (so not
    /// loaded), by file: the caller says so to the operator.
    pub fn refsets_not_named(&self) -> &[(String, Vec<u64>)] {
        &self.refsets_not_named
    }

    fn add_refset_text(&mut self, text: &str, origin: &str) -> Result<usize, PolicyError> {
        let members = parse_simple_refset(text, origin, &[])?;
        let members = self.named_members(members, origin)?;
        hash_part(&mut self.hasher, "exclusion_refset", text.as_bytes());
        let n = members.len();
        for m in members {
            self.refset_members
                .entry(m.referenced_component_id)
                .or_insert(m.refset_id);
        }
        self.refset_files.push(origin.to_string());
        self.sha256 = crate::digest::hex(&self.hasher.clone().finalize());
        Ok(n)
    }

    /// Use a SNOMED CT release index: SNOMED description ids in codings are then also looked up
    /// by their concept id, and the release's exclusion refset members are withheld. The
    /// release version becomes part of [`Policy::sha256`].
    pub fn set_snomed_index(&mut self, index: Arc<SnomedIndex>) {
        hash_part(
            &mut self.hasher,
            "snomed_index",
            index.release_version().as_bytes(),
        );
        self.sha256 = crate::digest::hex(&self.hasher.clone().finalize());
        self.snomed_index = Some(index);
        self.compute_subtypes();
    }

    /// The IS-A closure of the listed concepts, once per run (when the release or a refset is
    /// loaded), so a lookup per coding is one hash probe:
    ///
    /// - **sensitive**: every concept below a SNOMED CT concept of the sensitive list or of a
    ///   loaded exclusion refset (files or release) is sensitive, in the group of the first
    ///   such ancestor (by concept id).
    /// - **consent**: a concept the consent list does not name decides like its nearest
    ///   listed ancestors (the walk down from a listed concept stops at another listed one,
    ///   which decides for its own subtypes); below several, the most restrictive effect
    ///   (dissent over permit over ignore) wins. So a dissent's subtypes are dissent.
    ///
    /// Only active IS-A relationships count; a cycle ends the walk. Without a release, or
    /// with one that has no relationship file, both maps stay empty.
    fn compute_subtypes(&mut self) {
        self.subtype_sensitive.clear();
        self.subtype_consent.clear();
        let Some(idx) = self.snomed_index.clone() else {
            return;
        };
        if !idx.has_hierarchy() {
            return;
        }
        let concept = |e: &Entry| -> Option<u64> {
            if e.system != CodeSystem::Snomed
                || e.match_kind != crate::codes::list::MatchKind::Exact
            {
                return None;
            }
            let id = e.code.trim().parse::<u64>().ok()?;
            Some(idx.concept_of(id).unwrap_or(id))
        };
        // Sensitive roots, by concept id (deterministic group choice).
        let mut roots: Vec<(u64, String)> = self
            .sensitive
            .entries()
            .iter()
            .filter_map(|e| Some((concept(e)?, e.group()?.to_string())))
            .collect();
        for (&c, &r) in &self.refset_members {
            if let Some(g) = self.group_of_refset(r) {
                roots.push((c, g.to_string()));
            }
        }
        roots.extend(
            idx.exclusion_members()
                .filter_map(|(c, r)| self.group_of_refset(r).map(|g| (c, g.to_string()))),
        );
        roots.sort();
        roots.dedup_by_key(|r| r.0);
        let listed: std::collections::HashSet<u64> = roots.iter().map(|r| r.0).collect();
        for (root, group) in &roots {
            for d in idx.descendants(*root) {
                if !listed.contains(&d) {
                    self.subtype_sensitive
                        .entry(d)
                        .or_insert_with(|| group.clone());
                }
            }
        }
        // Consent roots: every listed concept with its effect (most restrictive per concept).
        let mut listed: HashMap<u64, ConsentEffect> = HashMap::new();
        for e in self.consent.entries() {
            let (Some(c), Some(effect)) = (concept(e), e.effect().map(effect_of)) else {
                continue;
            };
            let slot = listed.entry(c).or_insert(effect);
            *slot = most_restrictive(*slot, effect);
        }
        let mut consent_roots: Vec<(u64, ConsentEffect)> =
            listed.iter().map(|(c, e)| (*c, *e)).collect();
        consent_roots.sort_by_key(|r| r.0);
        for (root, effect) in consent_roots {
            let mut seen = std::collections::HashSet::from([root]);
            let mut queue = std::collections::VecDeque::from([root]);
            while let Some(c) = queue.pop_front() {
                for &child in idx.children(c) {
                    if listed.contains_key(&child) || !seen.insert(child) {
                        continue;
                    }
                    let slot = self.subtype_consent.entry(child).or_insert(effect);
                    *slot = most_restrictive(*slot, effect);
                    queue.push_back(child);
                }
            }
        }
    }

    /// Concepts found sensitive only as IS-A subtypes of listed ones (0 without a hierarchy).
    pub fn sensitive_subtype_count(&self) -> usize {
        self.subtype_sensitive.len()
    }

    /// The release whose IS-A hierarchy the sensitive and consent checks use, if any.
    pub fn subtypes_release(&self) -> Option<&str> {
        self.snomed_index
            .as_deref()
            .filter(|i| i.has_hierarchy())
            .map(SnomedIndex::release_version)
    }

    /// The SNOMED CT release index in use, if any.
    pub fn snomed_index(&self) -> Option<&SnomedIndex> {
        self.snomed_index.as_deref()
    }

    /// The semantic tag rules (`semantic_tags`; empty when the policy has none).
    pub fn semantic_tag_rules(&self) -> &SemanticTagRules {
        &self.semantic_tags
    }

    /// The codings, plus (with a release index) the concept id of every SNOMED description id.
    fn expanded<'a>(&self, codings: &'a [Coding]) -> Cow<'a, [Coding]> {
        let Some(idx) = &self.snomed_index else {
            return Cow::Borrowed(codings);
        };
        let extra: Vec<Coding> = codings
            .iter()
            .filter(|c| c.system == CodeSystem::Snomed)
            .filter_map(|c| {
                let id = parse_sctid(c.code.trim()).ok()?;
                (id.kind == SctIdKind::Description).then_some(id.id)
            })
            .filter_map(|d| idx.resolve_description(d))
            .map(|concept| Coding::new(CodeSystem::Snomed, concept.to_string()))
            .collect();
        if extra.is_empty() {
            Cow::Borrowed(codings)
        } else {
            let mut all = codings.to_vec();
            all.extend(extra);
            Cow::Owned(all)
        }
    }

    // ------------------------------------------------------------ identity

    /// Hex SHA-256 over the policy JSON, then the consent, sensitive, categories and
    /// risks-warnings lists, then every exclusion refset file in load order (each part framed
    /// by its label and length).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The policy's `name` (e.g. `migx-default`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The policy's `version`, as the site maintains it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Where the policy came from (a path, or `embedded:policy/default.json`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    // ------------------------------------------------------------ lookups

    /// The consent effect of a statement's codings. If codings disagree the most restrictive
    /// wins (dissent over permit over ignore): fail-closed.
    pub fn consent_effect(&self, codings: &[Coding]) -> Option<ConsentEffect> {
        let codings = self.expanded(codings);
        let mut best: Option<ConsentEffect> = None;
        for c in codings.iter() {
            let effect = match self.consent.lookup(c) {
                Some(e) => effect_of(e.effect().unwrap_or("dissent")),
                None => match self.subtype_of_consent(c) {
                    Some(e) => e,
                    None => continue,
                },
            };
            best = Some(best.map_or(effect, |b| most_restrictive(b, effect)));
        }
        best
    }

    /// The consent effect a SNOMED CT coding inherits as an IS-A subtype of listed concepts.
    fn subtype_of_consent(&self, c: &Coding) -> Option<ConsentEffect> {
        if c.system != CodeSystem::Snomed || self.subtype_consent.is_empty() {
            return None;
        }
        let id = c.code.trim().parse::<u64>().ok()?;
        self.subtype_consent.get(&id).copied()
    }

    /// The code-system alias table inputs are read with (policy `code_systems`, else the
    /// embedded `policy/codes/systems.tsv`).
    pub fn code_systems(&self) -> &Arc<AliasTable> {
        &self.systems
    }

    /// Where the alias table came from (a path, or `embedded:policy/codes/systems.tsv`).
    pub fn code_systems_origin(&self) -> &str {
        &self.systems_origin
    }

    /// Where emitted codings take their display text from.
    pub fn displays(&self) -> DisplaySource {
        self.displays
    }

    /// The terminology's term for a coding: for a SNOMED CT concept with a release loaded,
    /// the release's display term ([`SnomedIndex::term`]: the preferred synonym per its
    /// language refsets, else the active synonym); otherwise its term in the consent,
    /// categories or risks-warnings list (the sensitive list is never consulted: its codes
    /// are never emitted). Read v2 codes match on their concept, as every lookup.
    pub fn term_of(&self, coding: &Coding) -> Option<&str> {
        if coding.system == CodeSystem::Snomed {
            let term = self.snomed_index.as_deref().and_then(|idx| {
                let id = coding.code.trim().parse::<u64>().ok()?;
                idx.term(idx.concept_of(id)?)
            });
            if term.is_some() {
                return term;
            }
        }
        [&self.categories, &self.risks, &self.consent]
            .into_iter()
            .filter_map(|l| l.lookup(coding))
            .find(|e| e.match_kind == crate::codes::list::MatchKind::Exact)
            .map(|e| e.term.as_str())
            .filter(|t| !t.trim().is_empty())
    }

    /// The sensitive group (`std`, `assisted-fertilisation`, `termination-of-pregnancy`,
    /// `gender-identity`, or another group the policy names) of any of the codings: from the
    /// sensitive list, else from the loaded RF2 exclusion refsets (SNOMED CT concept ids).
    pub fn sensitive_group(&self, codings: &[Coding]) -> Option<&str> {
        let codings = self.expanded(codings);
        if let Some(g) = self.sensitive.lookup_any(&codings).and_then(Entry::group) {
            return Some(g);
        }
        if self.refset_members.is_empty() && self.snomed_index.is_none() {
            return None;
        }
        for c in codings.iter() {
            if c.system != CodeSystem::Snomed {
                continue;
            }
            let Ok(id) = c.code.trim().parse::<u64>() else {
                continue;
            };
            let refset = self.refset_members.get(&id).copied().or_else(|| {
                self.snomed_index
                    .as_ref()
                    .and_then(|idx| idx.in_exclusion_refset(id))
            });
            if let Some(group) = refset.and_then(|r| self.group_of_refset(r)) {
                return Some(group);
            }
            if let Some(group) = self.subtype_sensitive.get(&id) {
                return Some(group.as_str());
            }
        }
        None
    }

    /// The group name the policy gives a refset id.
    pub fn group_of_refset(&self, refset_id: u64) -> Option<&str> {
        self.refset_ids
            .iter()
            .find(|(_, id)| *id == refset_id)
            .map(|(g, _)| g.as_str())
    }

    /// The refset id of a sensitive group.
    pub fn refset_of_group(&self, group: &str) -> Option<u64> {
        self.refset_ids
            .iter()
            .find(|(g, _)| g == group)
            .map(|(_, id)| *id)
    }

    /// The code-based category rule for the codings (`diagnoses`, `procedures`, `tests`,
    /// `risks-warnings`, `allergy-header`, `pathology-report`, `specimen`, `not-shared`).
    pub fn category_rule(&self, codings: &[Coding]) -> Option<&str> {
        let codings = self.expanded(codings);
        self.categories
            .lookup_any(&codings)
            .and_then(Entry::category)
    }

    /// True if any coding is a risk or warning to other clinicians.
    pub fn is_risk_warning(&self, codings: &[Coding]) -> bool {
        self.risk_warning(codings).is_some()
    }

    /// The risks-warnings entry (with its `flag_category`) for the codings.
    pub fn risk_warning(&self, codings: &[Coding]) -> Option<&Entry> {
        let codings = self.expanded(codings);
        self.risks.lookup_any(&codings)
    }

    /// What to do with an item carrying confidentiality `code` (e.g. `NOPAT`): known
    /// non-restricting codes share; restricting codes follow the handling; unknown codes drop.
    pub fn confidentiality_action(&self, code: &str) -> ConfidentialityAction {
        let code = code.trim().to_ascii_uppercase();
        if self.non_restricting_codes.contains(&code) {
            ConfidentialityAction::Share
        } else if self.restricting_codes.contains(&code) {
            match self.confidential_handling {
                ConfidentialHandling::Drop => ConfidentialityAction::Drop,
                ConfidentialHandling::Label => ConfidentialityAction::Label,
            }
        } else {
            ConfidentialityAction::Drop
        }
    }

    /// The requester with this ODS code, if permitted (ODS codes compare case-insensitively).
    pub fn requester(&self, ods_code: &str) -> Option<&Requester> {
        let ods = ods_code.trim();
        self.requesters
            .iter()
            .find(|r| r.ods_code.eq_ignore_ascii_case(ods))
    }

    /// True if the purpose-of-use code (e.g. `TREAT`) is permitted.
    pub fn is_purpose_permitted(&self, purpose: &str) -> bool {
        let p = purpose.trim();
        self.purposes.iter().any(|x| x == p)
    }

    // ------------------------------------------------------------ accessors

    /// How long point-of-care consent stays valid (`consent.point_of_care_validity`).
    pub fn consent_validity(&self) -> ConsentValidity {
        self.consent_validity
    }

    /// Results older than this many months before the as-of date are not shared.
    pub fn recent_tests_months(&self) -> u32 {
        self.recent_tests_months
    }

    /// Whether restricted items are dropped or shared with a security label.
    pub fn confidential_handling(&self) -> ConfidentialHandling {
        self.confidential_handling
    }

    /// Confidentiality codes that restrict sharing (default `NOPAT`).
    pub fn restricting_codes(&self) -> &[String] {
        &self.restricting_codes
    }

    /// Confidentiality codes known not to restrict sharing (default `NOSCRUB`); any code in neither
    /// list is dropped.
    pub fn non_restricting_codes(&self) -> &[String] {
        &self.non_restricting_codes
    }

    /// Organisations allowed by the policy to receive records.
    pub fn permitted_requesters(&self) -> &[Requester] {
        &self.requesters
    }

    /// v3-ActReason purposes of use allowed (default `TREAT`, `ETREAT`).
    pub fn permitted_purposes(&self) -> &[String] {
        &self.purposes
    }

    /// Exclusion refset files loaded so far (policy `files` first, then added ones).
    pub fn exclusion_refset_files(&self) -> &[String] {
        &self.refset_files
    }

    /// Number of distinct concepts excluded by loaded RF2 refsets.
    pub fn exclusion_refset_member_count(&self) -> usize {
        self.refset_members.len()
    }

    /// For each of the four official NHS exclusion refsets ([`EXCLUSION_REFSETS`]): the
    /// policy's group name for it (if the policy names it) and how many members were loaded,
    /// from `--exclusion-refset` / `exclusion_refsets.files` and from the SNOMED CT release.
    pub fn official_refset_members(&self) -> Vec<(u64, Option<&str>, usize)> {
        EXCLUSION_REFSETS
            .iter()
            .map(|&id| {
                let from_files = self.refset_members.values().filter(|&&r| r == id).count();
                let from_release = self
                    .snomed_index
                    .as_ref()
                    .map_or(0, |idx| idx.exclusion_members_in(id));
                (id, self.group_of_refset(id), from_files + from_release)
            })
            .collect()
    }

    /// True when every one of the four official exclusion refsets has members loaded and the
    /// policy uses it (names its id in `exclusion_refsets.refset_ids`).
    pub fn has_official_refsets(&self) -> bool {
        self.official_refset_members()
            .iter()
            .all(|(_, group, n)| group.is_some() && *n > 0)
    }

    /// What this policy's exclusion check rests on, for the Provenance, summary and explain;
    /// `asserted` is the operator's `--without-official-refsets`.
    pub fn exclusion_basis(&self, asserted: bool) -> ExclusionBasis {
        let official = self
            .official_refset_members()
            .into_iter()
            .map(|(id, group, n)| OfficialRefset {
                refset_id: id,
                group: group.map(str::to_string),
                members: n,
            })
            .collect();
        let complete = self.has_official_refsets();
        ExclusionBasis {
            complete,
            official,
            operator_assertion: asserted && !complete,
            subtypes_release: self.subtypes_release().map(str::to_string),
        }
    }

    /// The SNOMED CT release folder or index the policy names, resolved against the policy's
    /// folder.
    pub fn snomed_release(&self) -> Option<&Path> {
        self.snomed_release.as_deref()
    }

    /// Consent and dissent codes, with their effect on direct-care sharing.
    pub fn consent_list(&self) -> &CodeList {
        &self.consent
    }

    /// Codes that are never shared (sensitive conditions), whatever the consent.
    pub fn sensitive_list(&self) -> &CodeList {
        &self.sensitive
    }

    /// Codes mapped to a shared category (or `not-shared`) ahead of any other rule.
    pub fn categories_list(&self) -> &CodeList {
        &self.categories
    }

    /// The effective policy as pretty JSON (for `migx policy show`): settings, list origins
    /// and sizes, loaded refset files and the policy hash. Never includes patient data.
    pub fn show_json(&self) -> String {
        let list = |l: &CodeList| {
            serde_json::json!({
                "origin": l.origin,
                "name": l.meta("name"),
                "version": l.meta("version"),
                "entries": l.len(),
            })
        };
        let validity = match self.consent_validity {
            ConsentValidity::EncounterDay => serde_json::json!("encounter-day"),
            ConsentValidity::Hours(h) => serde_json::json!({ "hours": h }),
        };
        let refset_ids: serde_json::Map<String, serde_json::Value> = self
            .refset_ids
            .iter()
            .map(|(g, id)| (g.clone(), serde_json::Value::String(id.to_string())))
            .collect();
        let v = serde_json::json!({
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "origin": self.origin,
            "sha256": self.sha256,
            "consent": { "point_of_care_validity": validity },
            "recent_tests_months": self.recent_tests_months,
            "confidentiality": {
                "handling": match self.confidential_handling {
                    ConfidentialHandling::Drop => "drop",
                    ConfidentialHandling::Label => "label",
                },
                "restricting_codes": self.restricting_codes,
                "non_restricting_codes": self.non_restricting_codes,
                "unknown_codes": "drop",
            },
            "code_lists": {
                "consent": list(&self.consent),
                "sensitive": list(&self.sensitive),
                "categories": list(&self.categories),
                "risks_warnings": list(&self.risks),
            },
            "code_systems": {
                "origin": self.systems_origin,
                "aliases": self.systems.len(),
            },
            "exclusion_refsets": {
                "files": self.refset_files,
                "refset_ids": refset_ids,
                "members_loaded": self.refset_members.len(),
            },
            "clinical_detail": {
                "dose_instructions": self.detail.dose_instructions,
                "quantity_text": self.detail.quantity_text,
                "staff": self.detail.staff.as_str(),
                "units": self.detail.units.len(),
            },
            "permitted_requesters": self.requesters,
            "permitted_purposes": self.purposes,
            "snomed_release": self.snomed_release.as_ref().map(|p| p.display().to_string()),
            "snomed_index": self.snomed_index.as_ref().map(|i| serde_json::json!({
                "release_version": i.release_version(),
                "concepts": i.concept_count(),
                "descriptions": i.description_count(),
                "exclusion_members": i.exclusion_member_count(),
                "is_a_relationships": i.is_a_count(),
                "sensitive_subtypes": self.subtype_sensitive.len(),
            })),
            "semantic_tags": {
                "source": self.semantic_tags.source,
                "rules": self.semantic_tags.rules.len(),
            },
        });
        serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn snomed(code: &str) -> Coding {
        Coding::new(CodeSystem::Snomed, code)
    }
    fn read(code: &str) -> Coding {
        Coding::new(CodeSystem::ReadV2, code)
    }

    fn manifest(rel: &str) -> PathBuf {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(rel)
    }

    #[test]
    fn a_policy_names_its_own_alias_table_and_a_malformed_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let table = format!(
            "{}snomed\t1.2.826.0.1.99999.1\tsite: local SNOMED CT OID\n",
            crate::codes::systems::SYSTEMS_TSV
        );
        std::fs::write(dir.path().join("systems.tsv"), &table).unwrap();
        let json = DEFAULT_POLICY_JSON.replacen('{', "{\"code_systems\": \"systems.tsv\",", 1);
        let code_lists = manifest("policy");
        let json = json.replace("\"codes/", &format!("\"{}/codes/", code_lists.display()));
        let p = Policy::from_json_str(&json, "site.json", dir.path()).unwrap();
        assert_eq!(
            p.code_systems().identify("urn:oid:1.2.826.0.1.99999.1"),
            CodeSystem::Snomed
        );
        assert!(p.code_systems_origin().ends_with("systems.tsv"));
        let default = Policy::embedded_default().unwrap();
        assert_eq!(
            default
                .code_systems()
                .identify("urn:oid:1.2.826.0.1.99999.1"),
            CodeSystem::Other("urn:oid:1.2.826.0.1.99999.1".into())
        );
        assert_ne!(p.sha256(), default.sha256());
        // One bad row refuses the whole policy, naming the file and the line.
        std::fs::write(
            dir.path().join("systems.tsv"),
            format!("{table}snomed\tnot an identifier\tsite\n"),
        )
        .unwrap();
        let e = Policy::from_json_str(&json, "site.json", dir.path())
            .unwrap_err()
            .to_string();
        let line = table.lines().count() + 1;
        assert!(e.contains("systems.tsv"), "{e}");
        assert!(e.contains(&format!("line {line}:")), "{e}");
        assert!(e.contains("not an OID or URI"), "{e}");
        std::fs::remove_file(dir.path().join("systems.tsv")).unwrap();
        assert!(Policy::from_json_str(&json, "site.json", dir.path()).is_err());
    }

    fn with_hierarchy() -> Policy {
        let mut p = Policy::embedded_default().unwrap();
        p.set_snomed_index(Arc::new(
            SnomedIndex::build(manifest("fixtures/snomed-hierarchy")).unwrap(),
        ));
        p
    }

    fn sct(code: &str) -> Vec<Coding> {
        vec![Coding::new(CodeSystem::Snomed, code)]
    }

    #[test]
    fn is_a_subtypes_of_a_sensitive_concept_are_sensitive() {
        let plain = Policy::embedded_default().unwrap();
        let p = with_hierarchy();
        // 76272004 syphilis is listed; its child and grandchild are not, and the two
        // members of a cycle below the grandchild end the walk.
        for code in [
            "76272004",
            "999102009",
            "999103004",
            "999105006",
            "999106007",
        ] {
            assert_eq!(p.sensitive_group(&sct(code)), Some("std"), "{code}");
        }
        for code in ["999102009", "999103004", "999105006"] {
            assert_eq!(plain.sensitive_group(&sct(code)), None, "{code}");
        }
        // Not sensitive: the parent, a concept whose IS-A to syphilis is inactive, a cycle
        // nothing listed sits above, a concept linked by a relationship other than IS-A.
        for code in [
            "999101002",
            "999104005",
            "999107003",
            "999108008",
            "999111009",
        ] {
            assert_eq!(p.sensitive_group(&sct(code)), None, "{code}");
        }
        assert_eq!(p.sensitive_subtype_count(), 4);
        let basis = p.exclusion_basis(true);
        assert_eq!(basis.subtypes_release.as_deref(), Some("INT_20250101"));
        assert!(basis.hierarchy_text().contains("IS-A subtypes"));
        assert!(plain
            .exclusion_basis(true)
            .hierarchy_text()
            .contains("only exact matches"));
        // A release without a relationship file checks no subtypes, and says so.
        let mut old = Policy::embedded_default().unwrap();
        old.set_snomed_index(Arc::new(
            SnomedIndex::build(manifest("fixtures/snomed-release")).unwrap(),
        ));
        assert_eq!(old.exclusion_basis(true).subtypes_release, None);
        assert_eq!(old.sensitive_subtype_count(), 0);
    }

    #[test]
    fn a_subtype_of_a_refset_member_is_sensitive_in_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let rf2 = dir.path().join("der2_Refset_SimpleSnapshot_T.txt");
        std::fs::write(
            &rf2,
            "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\r\n\
m1\t20250101\t1\t999000011000000103\t999004361000000107\t999107003\r\n",
        )
        .unwrap();
        let mut p = with_hierarchy();
        assert_eq!(p.sensitive_group(&sct("999108008")), None);
        p.add_exclusion_refset(&rf2).unwrap();
        // 999107003 is now a member; 999108008 is below it (and above it: a cycle).
        assert_eq!(
            p.sensitive_group(&sct("999108008")),
            Some("termination-of-pregnancy")
        );
    }

    #[test]
    fn is_a_subtypes_of_consent_concepts_decide_like_their_nearest_listed_ancestor() {
        let plain = Policy::embedded_default().unwrap();
        let p = with_hierarchy();
        // Below a dissent concept: dissent (fail closed).
        assert_eq!(
            p.consent_effect(&sct("999109000")),
            Some(ConsentEffect::Dissent)
        );
        assert_eq!(plain.consent_effect(&sct("999109000")), None);
        // Below a permit concept: permit.
        assert_eq!(
            p.consent_effect(&sct("999110005")),
            Some(ConsentEffect::Permit)
        );
        // A subtype the list names itself keeps its own effect (carer consent: ignore).
        assert_eq!(
            p.consent_effect(&sct("342591000000108")),
            Some(ConsentEffect::Ignore)
        );
        // With codings that disagree, the most restrictive still wins.
        let both = vec![
            Coding::new(CodeSystem::Snomed, "999110005"),
            Coding::new(CodeSystem::Snomed, "999109000"),
        ];
        assert_eq!(p.consent_effect(&both), Some(ConsentEffect::Dissent));
        assert_eq!(p.consent_effect(&sct("999101002")), None);
    }

    #[test]
    fn displays_come_from_the_release_then_the_code_lists() {
        let plain = Policy::embedded_default().unwrap();
        let p = with_hierarchy();
        let c = |code: &str| Coding::new(CodeSystem::Snomed, code);
        assert_eq!(p.term_of(&c("73211009")), Some("Diabetes mellitus"));
        assert_eq!(plain.term_of(&c("73211009")), None);
        // The release's preferred term over the code list's.
        assert_eq!(p.term_of(&c("38341003")), Some("Hypertensive disorder"));
        // A description id is shown by its concept's term.
        let mut q = Policy::embedded_default().unwrap();
        q.set_snomed_index(Arc::new(
            SnomedIndex::build(manifest("fixtures/snomed-release")).unwrap(),
        ));
        assert_eq!(q.term_of(&c("999014019")), Some("Diabetes mellitus"));
        // Not in the release: the code lists still give their term.
        let read = Coding::new(CodeSystem::ReadV2, "14L..");
        assert_eq!(
            p.term_of(&read),
            Some("H/O: drug allergy (allergy CompoundStatement header, drug)")
        );
    }

    #[test]
    fn policy_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Policy>();
    }

    #[test]
    fn embedded_default_loads() {
        let p = Policy::embedded_default().unwrap();
        assert_eq!(p.name(), "migx-default");
        assert_eq!(p.consent_validity(), ConsentValidity::EncounterDay);
        assert_eq!(p.recent_tests_months(), 24);
        assert_eq!(p.confidential_handling(), ConfidentialHandling::Drop);
        assert_eq!(p.sha256().len(), 64);
        assert!(p.is_purpose_permitted("TREAT"));
        assert!(p.is_purpose_permitted("ETREAT"));
        assert!(!p.is_purpose_permitted("HRESCH"));
        // A fresh install permits nobody until the site lists its requesters.
        assert!(p.permitted_requesters().is_empty());
        assert!(p.requester("B12345").is_none());
        assert_eq!(p.exclusion_refset_files().len(), 0);
        assert_eq!(p.refset_of_group("std"), Some(999_004_381_000_000_103));
        assert_eq!(
            p.group_of_refset(999_004_351_000_000_109),
            Some("gender-identity")
        );
        // Same input, same hash.
        assert_eq!(p.sha256(), Policy::embedded_default().unwrap().sha256());
    }

    #[test]
    fn consent_lookups() {
        let p = Policy::embedded_default().unwrap();
        assert_eq!(
            p.consent_effect(&[snomed("417528008")]),
            Some(ConsentEffect::Permit)
        );
        assert_eq!(
            p.consent_effect(&[read("93C1.00")]),
            Some(ConsentEffect::Dissent)
        );
        assert_eq!(
            p.consent_effect(&[read("9Nd1.")]),
            Some(ConsentEffect::Dissent)
        );
        assert_eq!(
            p.consent_effect(&[snomed("2548920016")]),
            Some(ConsentEffect::Dissent)
        );
        assert_eq!(
            p.consent_effect(&[read("9Nu0.00")]),
            Some(ConsentEffect::Ignore)
        );
        assert_eq!(
            p.consent_effect(&[read("93C3.")]),
            Some(ConsentEffect::Ignore)
        );
        assert_eq!(p.consent_effect(&[snomed("90560007")]), None);
        // Consent to share with a *specified* third party is not consent for direct care.
        assert_eq!(
            p.consent_effect(&[snomed("319951000000105")]),
            Some(ConsentEffect::Ignore)
        );
        // CTV3 forms of the dissent codes, and the withdrawal of third-party consent.
        for code in ["XaKII", "XaKRw", "XaNwT", "XaNwU"] {
            assert_eq!(
                p.consent_effect(&[Coding::new(CodeSystem::Ctv3, code)]),
                Some(ConsentEffect::Dissent),
                "{code}"
            );
        }
        assert_eq!(
            p.consent_effect(&[read("9NdJ.00")]),
            Some(ConsentEffect::Dissent)
        );
        assert_eq!(
            p.consent_effect(&[Coding::new(CodeSystem::Ctv3, "XaNwR")]),
            Some(ConsentEffect::Ignore)
        );
        // Disagreeing codings: the most restrictive wins.
        assert_eq!(
            p.consent_effect(&[snomed("425691002"), read("9Nd1.00")]),
            Some(ConsentEffect::Dissent)
        );
        assert_eq!(
            p.consent_effect(&[read("9Nu0."), snomed("425691002")]),
            Some(ConsentEffect::Permit)
        );
    }

    #[test]
    fn sensitive_category_and_risk_lookups() {
        let p = Policy::embedded_default().unwrap();
        assert_eq!(p.sensitive_group(&[snomed("76272004")]), Some("std"));
        assert_eq!(p.sensitive_group(&[read("A981.00")]), Some("std"));
        assert_eq!(p.sensitive_group(&[read("A98..")]), Some("std"));
        assert_eq!(
            p.sensitive_group(&[snomed("90560007"), snomed("57797005")]),
            Some("termination-of-pregnancy")
        );
        assert_eq!(p.sensitive_group(&[snomed("90560007")]), None);
        // Issue 21's examples: each set in each coding GP systems use.
        let ctv3 = |c: &str| Coding::new(CodeSystem::Ctv3, c);
        for (coding, group) in [
            (read("L05..00"), "termination-of-pregnancy"),
            (read("L0510"), "termination-of-pregnancy"),
            (read("7E066"), "termination-of-pregnancy"),
            (ctv3("Xa36H"), "termination-of-pregnancy"),
            (ctv3("L052."), "termination-of-pregnancy"),
            (snomed("386639001"), "termination-of-pregnancy"),
            (read("A788.00"), "std"),
            (read("A7891"), "std"),
            (read("43C3.11"), "std"),
            (read("A78A.00"), "std"),
            (ctv3("A98.."), "std"),
            (ctv3("A9810"), "std"),
            (ctv3("X70M6"), "std"),
            (snomed("86406008"), "std"),
            (snomed("8098009"), "std"),
            (read("7E0A."), "assisted-fertilisation"),
            (snomed("63487001"), "assisted-fertilisation"),
            (snomed("407374003"), "gender-identity"),
            (read("Eu640"), "gender-identity"),
        ] {
            assert_eq!(
                p.sensitive_group(std::slice::from_ref(&coding)),
                Some(group),
                "{coding:?}"
            );
        }
        // Prefix rules do not spill into neighbouring chapters.
        assert_eq!(p.sensitive_group(&[read("L04..")]), None);
        assert_eq!(p.sensitive_group(&[read("43C2.")]), None);
        assert_eq!(p.sensitive_group(&[ctv3("XaBcd")]), None);

        assert_eq!(p.category_rule(&[snomed("90560007")]), Some("diagnoses"));
        assert_eq!(p.category_rule(&[snomed("150085018")]), Some("diagnoses"));
        assert_eq!(p.category_rule(&[read("H33..00")]), Some("diagnoses"));
        assert_eq!(p.category_rule(&[read("7J...")]), Some("procedures"));
        assert_eq!(p.category_rule(&[read("44P..")]), Some("tests"));
        assert_eq!(p.category_rule(&[read("14L..00")]), Some("allergy-header"));
        assert_eq!(
            p.category_rule(&[snomed("16488004")]),
            Some("pathology-report")
        );
        assert_eq!(p.category_rule(&[snomed("123038009")]), Some("specimen"));
        assert_eq!(p.category_rule(&[snomed("72313002")]), Some("tests"));
        assert_eq!(p.category_rule(&[read("R0...")]), None);
        assert_eq!(p.category_rule(&[read("a1...")]), None);

        assert!(p.is_risk_warning(&[snomed("450476008")]));
        assert!(p.is_risk_warning(&[read("13Iv.00")]));
        assert_eq!(
            p.risk_warning(&[snomed("342191000000101")])
                .and_then(|e| e.get("flag_category")),
            Some("safety")
        );
        assert!(!p.is_risk_warning(&[snomed("90560007")]));
    }

    #[test]
    fn confidentiality_actions() {
        let p = Policy::embedded_default().unwrap();
        assert_eq!(
            p.confidentiality_action("NOPAT"),
            ConfidentialityAction::Drop
        );
        assert_eq!(
            p.confidentiality_action("nopat"),
            ConfidentialityAction::Drop
        );
        assert_eq!(
            p.confidentiality_action("NOSCRUB"),
            ConfidentialityAction::Share
        );
        assert_eq!(p.confidentiality_action("R"), ConfidentialityAction::Drop);
        assert_eq!(p.confidentiality_action("V"), ConfidentialityAction::Drop);
        // v3-Confidentiality N (normal), L, U restrict nothing; unknown codes still drop.
        for c in ["N", "n", " L ", "U"] {
            assert_eq!(
                p.confidentiality_action(c),
                ConfidentialityAction::Share,
                "{c}"
            );
        }
        assert_eq!(p.confidentiality_action("M"), ConfidentialityAction::Drop);
        assert_eq!(p.confidentiality_action("XYZ"), ConfidentialityAction::Drop);
    }

    /// Write a policy folder: default.json (edited by `edit`) plus copies of the lists.
    fn policy_dir(edit: impl FnOnce(&mut serde_json::Value)) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("codes")).unwrap();
        for (name, text) in EMBEDDED_FILES {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let mut v: serde_json::Value = serde_json::from_str(DEFAULT_POLICY_JSON).unwrap();
        edit(&mut v);
        let path = dir.path().join("policy.json");
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        (dir, path)
    }

    #[test]
    fn from_file_resolves_relative_paths_and_hashes_the_same() {
        let (_dir, path) = policy_dir(|_| {});
        let p = Policy::from_file(&path).unwrap();
        assert!(p
            .consent_list()
            .origin
            .ends_with(&format!("codes{}consent.tsv", std::path::MAIN_SEPARATOR)));
        let q = Policy::check_file(&path).unwrap();
        assert_eq!(p.sha256(), q.sha256());
        // The pretty-printed JSON differs from the embedded text, so the hash differs.
        assert_ne!(p.sha256(), Policy::embedded_default().unwrap().sha256());
    }

    #[test]
    fn omitted_code_lists_mean_the_embedded_lists() {
        let dir = tempfile::tempdir().unwrap();
        let mut v: serde_json::Value = serde_json::from_str(DEFAULT_POLICY_JSON).unwrap();
        v.as_object_mut().unwrap().remove("code_lists");
        v["permitted_requesters"] = serde_json::json!([
            { "ods_code": "Y02345", "name": "Out of hours", "role": "out-of-hours" }
        ]);
        let path = dir.path().join("site.json");
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        let p = Policy::from_file(&path).unwrap();
        let d = Policy::embedded_default().unwrap();
        assert_eq!(p.consent_list().origin, "embedded:policy/codes/consent.tsv");
        assert_eq!(p.categories_list().len(), d.categories_list().len());
        assert_eq!(
            p.requester("y02345").map(|r| r.role.as_str()),
            Some("out-of-hours")
        );
        // The template loads too (and, like the default, permits nobody).
        let t = dir.path().join("template.json");
        std::fs::write(&t, policy_template().unwrap()).unwrap();
        assert!(Policy::from_file(&t)
            .unwrap()
            .permitted_requesters()
            .is_empty());
        // An empty requester list is a valid policy (it releases nothing).
        v["permitted_requesters"] = serde_json::json!([]);
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        assert!(Policy::from_file(&path)
            .unwrap()
            .permitted_requesters()
            .is_empty());
    }

    #[test]
    fn options_and_errors() {
        let (_d, path) = policy_dir(|v| {
            v["consent"]["point_of_care_validity"] = serde_json::json!({"hours": 48});
            v["confidentiality"]["handling"] = serde_json::json!("label");
        });
        let p = Policy::from_file(&path).unwrap();
        assert_eq!(p.consent_validity(), ConsentValidity::Hours(48));
        assert_eq!(
            p.confidentiality_action("NOPAT"),
            ConfidentialityAction::Label
        );
        assert_eq!(p.confidentiality_action("XYZ"), ConfidentialityAction::Drop);

        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let bad: Vec<Edit> = vec![
            Box::new(|v| v["unknown_field"] = serde_json::json!(1)),
            Box::new(|v| v["consent"]["extra"] = serde_json::json!(1)),
            Box::new(|v| v["consent"]["point_of_care_validity"] = serde_json::json!("forever")),
            Box::new(|v| v["consent"]["point_of_care_validity"] = serde_json::json!({"hours": 0})),
            Box::new(|v| v["recent_tests_months"] = serde_json::json!(0)),
            Box::new(|v| v["confidentiality"]["handling"] = serde_json::json!("keep")),
            Box::new(|v| {
                v["confidentiality"]["non_restricting_codes"] = serde_json::json!(["NOPAT"])
            }),
            Box::new(|v| v["permitted_purposes"] = serde_json::json!([])),
            Box::new(|v| {
                v["exclusion_refsets"]["refset_ids"]["std"] =
                    serde_json::json!("999004381000000104")
            }),
            Box::new(|v| v["code_lists"]["consent"] = serde_json::json!("codes/missing.tsv")),
            Box::new(|v| v["code_lists"]["consent"] = serde_json::json!("codes/sensitive.tsv")),
            Box::new(|v| {
                let ids = v["exclusion_refsets"]["refset_ids"]
                    .as_object_mut()
                    .unwrap();
                ids.remove("std");
            }),
        ];
        for (i, edit) in bad.into_iter().enumerate() {
            let (_d, path) = policy_dir(|v| edit(v));
            let e = Policy::from_file(&path);
            assert!(e.is_err(), "case {i} should fail");
        }
        let e = Policy::from_file("/nonexistent/policy.json").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/policy.json"));
    }

    #[test]
    fn json_errors_have_positions() {
        let e = Policy::from_json_str("{\n  \"name\": 1,\n}", "p.json", ".").unwrap_err();
        match e {
            PolicyError::Json { line, .. } => assert!(line >= 2),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn exclusion_refsets_from_rf2() {
        let (dir, path) = policy_dir(|_| {});
        let mut p = Policy::from_file(&path).unwrap();
        let before = p.sha256().to_string();
        // 90560007 (gout) is not sensitive; pretend a local refset lists it.
        let rf2 = dir.path().join("der2_Refset_SimpleSnapshot_LOCAL.txt");
        let mut f = std::fs::File::create(&rf2).unwrap();
        write!(
            f,
            "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\r\n\
m1\t20240101\t1\t999000011000000103\t999004381000000103\t90560007\r\n\
m2\t20240101\t0\t999000011000000103\t999004381000000103\t195967001\r\n\
m3\t20240101\t1\t999000011000000103\t123456789\t38341003\r\n"
        )
        .unwrap();
        drop(f);
        assert_eq!(p.sensitive_group(&[snomed("90560007")]), None);
        assert_eq!(p.add_exclusion_refset(&rf2).unwrap(), 1);
        assert_eq!(p.sensitive_group(&[snomed("90560007")]), Some("std"));
        assert_eq!(p.sensitive_group(&[snomed("195967001")]), None);
        assert_eq!(p.sensitive_group(&[snomed("38341003")]), None);
        assert_ne!(p.sha256(), before);
        assert_eq!(p.exclusion_refset_member_count(), 1);
        // The refset the policy does not name is reported, not loaded.
        assert_eq!(
            p.refsets_not_named(),
            &[(rf2.display().to_string(), vec![123456789])]
        );
        // A file holding only refsets the policy does not name is refused, with the reason.
        let other = dir.path().join("der2_Refset_SimpleSnapshot_OTHER.txt");
        std::fs::write(
            &other,
            "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\r\n\
m9\t20240101\t1\t999000011000000103\t123456789\t90560007\r\n",
        )
        .unwrap();
        let e = p.add_exclusion_refset(&other).unwrap_err().to_string();
        assert!(
            e.contains("123456789") && e.contains("exclusion_refsets.refset_ids"),
            "{e}"
        );
        assert_eq!(p.exclusion_refset_member_count(), 1);
        assert!(p
            .show_json()
            .contains("der2_Refset_SimpleSnapshot_LOCAL.txt"));

        // Named in the policy file itself. migx's own RF2 file carries migx's refset ids, so
        // a policy naming the official refsets loads none of its rows as official members: it
        // refuses the file, naming the refsets it holds, rather than load nothing in silence...
        let (_d2, path2) = policy_dir(|v| {
            v["exclusion_refsets"]["files"] =
                serde_json::json!(["codes/der2_Refset_SimpleSnapshot_MIGX_default.txt"]);
        });
        let e = Policy::from_file(&path2).unwrap_err().to_string();
        assert!(
            e.contains("29999999105") && e.contains("does not name"),
            "{e}"
        );
        // ...while a policy that names migx's refset ids loads every SNOMED row of the TSV.
        let p2 = Policy::embedded_default().unwrap();
        let (_, migx_refsets) = migx_rf2_identity(&p2);
        let snomed_rows = p2
            .sensitive_list()
            .entries()
            .iter()
            .filter(|e| e.system == CodeSystem::Snomed)
            .count();
        let (_d3, path3) = policy_dir(|v| {
            v["exclusion_refsets"]["files"] =
                serde_json::json!(["codes/der2_Refset_SimpleSnapshot_MIGX_default.txt"]);
            for (g, id) in &migx_refsets {
                v["exclusion_refsets"]["refset_ids"][g.as_str()] =
                    serde_json::json!(id.to_string());
            }
        });
        let mut p2 = Policy::from_file(&path3).unwrap();
        assert_eq!(p2.exclusion_refset_member_count(), snomed_rows);
        assert!(p2
            .add_exclusion_refset(dir.path().join("nope.txt"))
            .is_err());
    }

    #[test]
    fn official_refsets_all_four_or_not() {
        let (dir, path) = policy_dir(|_| {});
        let mut p = Policy::from_file(&path).unwrap();
        assert!(!p.has_official_refsets());
        let b = p.exclusion_basis(true);
        assert!(!b.complete && b.operator_assertion);
        assert!(b
            .refsets_text()
            .contains("operator assertion --without-official-refsets"));
        assert!(!p.exclusion_basis(false).operator_assertion);
        // Three of the four (the fixture release has no assisted-fertilisation member).
        let mut q = p.clone();
        q.set_snomed_index(Arc::new(
            SnomedIndex::build(manifest("fixtures/snomed-release")).unwrap(),
        ));
        assert!(!q.has_official_refsets());
        let missing: Vec<u64> = q
            .official_refset_members()
            .iter()
            .filter(|(_, _, n)| *n == 0)
            .map(|(id, _, _)| *id)
            .collect();
        assert_eq!(missing, vec![999_004_371_000_000_100]);
        // All four from an RF2 file.
        let rf2 = dir.path().join("der2_Refset_SimpleSnapshot_ALL4.txt");
        std::fs::write(
            &rf2,
            "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\r\n\
a\t20250101\t1\t1\t999004381000000103\t76272004\r\n\
b\t20250101\t1\t1\t999004371000000100\t52637005\r\n\
c\t20250101\t1\t1\t999004361000000107\t57797005\r\n\
d\t20250101\t0\t1\t999004351000000109\t407377005\r\n",
        )
        .unwrap();
        p.add_exclusion_refset(&rf2).unwrap();
        assert!(
            !p.has_official_refsets(),
            "an inactive member does not count"
        );
        std::fs::write(
            &rf2,
            "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\r\n\
d\t20250101\t1\t1\t999004351000000109\t407377005\r\n",
        )
        .unwrap();
        p.add_exclusion_refset(&rf2).unwrap();
        assert!(p.has_official_refsets());
        let b = p.exclusion_basis(true);
        assert!(b.complete && !b.operator_assertion, "the assertion is moot");
        assert!(b
            .refsets_text()
            .contains("std 999004381000000103: 1 members"));
        assert_eq!(b.summary_json()["official_complete"], true);
    }

    #[test]
    fn snomed_index_resolves_description_ids() {
        let mut p = Policy::embedded_default().unwrap();
        let before = p.sha256().to_string();
        // 999005012 is the fixture's description id for syphilis (76272004); 999007016 is
        // gonorrhoea, whose fixture refset membership is inactive but which sensitive.tsv lists.
        assert_eq!(p.sensitive_group(&[snomed("999005012")]), None);
        let idx = SnomedIndex::build(manifest("fixtures/snomed-release")).unwrap();
        p.set_snomed_index(Arc::new(idx));
        assert_ne!(p.sha256(), before);
        assert_eq!(p.sensitive_group(&[snomed("999005012")]), Some("std"));
        assert_eq!(p.sensitive_group(&[snomed("999007016")]), Some("std"));
        // 407377005 via the index's refset members as well as the TSV.
        assert_eq!(
            p.sensitive_group(&[snomed("999012015")]),
            Some("gender-identity")
        );
        // Description id of gout resolves for category rules too.
        assert_eq!(p.category_rule(&[snomed("999001015")]), Some("diagnoses"));
        assert_eq!(p.sensitive_group(&[snomed("999001015")]), None);
        assert!(p.show_json().contains("INT_20250101"));
    }

    #[test]
    fn show_json_is_valid_json() {
        let p = Policy::embedded_default().unwrap();
        let v: serde_json::Value = serde_json::from_str(&p.show_json()).unwrap();
        assert_eq!(v["sha256"], p.sha256());
        assert_eq!(v["confidentiality"]["handling"], "drop");
        assert!(v["code_lists"]["categories"]["entries"].as_u64().unwrap() > 50);
    }

    #[test]
    fn default_policy_matches_schema() {
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(manifest("schemas/policy.schema.json")).unwrap(),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let default: serde_json::Value = serde_json::from_str(DEFAULT_POLICY_JSON).unwrap();
        assert!(validator.is_valid(&default));
        let mut hours = default.clone();
        hours["consent"]["point_of_care_validity"] = serde_json::json!({"hours": 12});
        assert!(validator.is_valid(&hours));
        // A site policy may omit the code lists (embedded ones are used) and list requesters.
        let mut site = default.clone();
        site.as_object_mut().unwrap().remove("code_lists");
        site["permitted_requesters"] = serde_json::json!([
            { "ods_code": "Y02345", "name": "Out of hours", "role": "out-of-hours" }
        ]);
        assert!(validator.is_valid(&site));
        let mut bad = default.clone();
        bad["surprise"] = serde_json::json!(true);
        assert!(!validator.is_valid(&bad));
        let mut bad = default;
        bad["confidentiality"]["handling"] = serde_json::json!("keep");
        assert!(!validator.is_valid(&bad));
    }

    /// migx's own RF2 identity for the built-in list, from `# migx_rf2:` in sensitive.tsv:
    /// (module id, group -> refset id).
    fn migx_rf2_identity(p: &Policy) -> (u64, Vec<(String, u64)>) {
        let meta = p.sensitive_list().meta("migx_rf2").unwrap();
        let mut module = 0;
        let mut refsets = Vec::new();
        for part in meta.split(';') {
            let (k, v) = part.trim().split_once(' ').unwrap();
            let id = parse_sctid(v.trim()).unwrap();
            assert_eq!(id.kind, SctIdKind::Concept, "{part}");
            if k == "module" {
                module = id.id;
            } else {
                refsets.push((k.to_string(), id.id));
            }
        }
        (module, refsets)
    }

    /// The shipped RF2 snapshot and the SNOMED concept rows of sensitive.tsv agree, and the
    /// snapshot carries migx's own module and refset ids, never the UK module or an official
    /// exclusion refset id (its rows are not official members).
    #[test]
    fn sensitive_tsv_and_rf2_snapshot_agree() {
        let p = Policy::embedded_default().unwrap();
        let (module, migx_refsets) = migx_rf2_identity(&p);
        let official: Vec<u64> = p.refset_ids.iter().map(|(_, id)| *id).collect();
        assert_eq!(migx_refsets.len(), official.len());
        for (group, id) in &migx_refsets {
            assert!(p.refset_of_group(group).is_some(), "{group}");
            assert!(
                !official.contains(id),
                "{group} claims an official refset id"
            );
        }
        assert_ne!(
            module, 999_000_011_000_000_103,
            "must not claim the UK module"
        );
        let migx_refset = |g: &str| {
            migx_refsets
                .iter()
                .find(|(name, _)| name == g)
                .map(|(_, id)| *id)
                .unwrap()
        };
        let mut from_tsv: Vec<(u64, u64)> = p
            .sensitive_list()
            .entries()
            .iter()
            .filter(|e| e.system == CodeSystem::Snomed)
            .filter_map(|e| {
                let id = parse_sctid(&e.code).ok()?;
                (id.kind == SctIdKind::Concept)
                    .then(|| (migx_refset(e.group().unwrap_or("")), id.id))
            })
            .collect();
        from_tsv.sort_unstable();
        let rf2_text = EMBEDDED_FILES
            .iter()
            .find(|(n, _)| n.ends_with("MIGX_default.txt"))
            .unwrap()
            .1;
        let members = parse_simple_refset(rf2_text, "default rf2", &[]).unwrap();
        assert!(members.iter().all(|m| m.module_id == module));
        let mut from_rf2: Vec<(u64, u64)> = members
            .iter()
            .map(|m| (m.refset_id, m.referenced_component_id))
            .collect();
        from_rf2.sort_unstable();
        assert_eq!(from_tsv, from_rf2);
        // Member ids are unique UUIDs.
        let mut ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), members.len());
        assert!(ids
            .iter()
            .all(|i| i.len() == 36 && i.matches('-').count() == 4));
        // The file on disk is the one embedded.
        let on_disk = std::fs::read_to_string(manifest(
            "policy/codes/der2_Refset_SimpleSnapshot_MIGX_default.txt",
        ))
        .unwrap();
        assert_eq!(on_disk, rf2_text);
    }
}
