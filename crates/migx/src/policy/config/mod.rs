//! The sharing policy: a JSON file (schema `schemas/policy.schema.json`, embedded default
//! `policy/default.json`) naming the code lists, exclusion refsets, windows, requesters and
//! purposes. [`Policy`] is the loaded, checked, immutable form the decision engine queries.
//!
//! Here: the policy's public types and [`Policy`] with its settings. Beside it, each over
//! the one below it:
//! - `lookups`: what the decision engine asks (consent effect, sensitive group, category,
//!   risk or warning, display term, confidentiality action, requester, purpose);
//! - `snomed`: the SNOMED CT release in use and the IS-A subtypes it makes sensitive or
//!   decisive for consent;
//! - `refsets`: the exclusion refset files and what the sensitive-code check rests on;
//! - `load`: the embedded default, a site policy and its files, each value checked;
//! - `file`: the policy file's own form as read from JSON.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::codes::list::{CodeList, CodeListError};
use crate::codes::release::SnomedIndex;
use crate::codes::rf2::Rf2Error;
use crate::codes::systems::AliasTable;
use crate::policy::detail::Detail;
use crate::policy::semantic::SemanticTagRules;

mod file;
mod load;
mod lookups;
mod refsets;
mod show;
mod snomed;
#[cfg(test)]
mod test_support;

pub use load::{policy_template, DEFAULT_POLICY_JSON};
pub use show::{ExclusionRecord, OfficialRefsetRecord};

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

    /// The `exclusion_refsets` record of `summary.json`.
    pub fn summary_record(&self) -> ExclusionRecord {
        ExclusionRecord {
            official_complete: self.complete,
            official: self
                .official
                .iter()
                .map(|r| OfficialRefsetRecord {
                    refset_id: r.refset_id.to_string(),
                    group: r.group.clone(),
                    members: r.members as u64,
                })
                .collect(),
            operator_assertion: self
                .operator_assertion
                .then(|| "--without-official-refsets".to_string()),
            subtypes: match &self.subtypes_release {
                Some(v) => format!("IS-A subtypes checked (release {v})"),
                None => "only exact matches and Read v2/CTV3 prefixes were checked".to_string(),
            },
        }
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
    /// The clinical detail switches and unit list (`clinical_detail`).
    pub fn detail(&self) -> &Detail {
        &self.detail
    }

    /// The semantic tag rules (`semantic_tags`; empty when the policy has none).
    pub fn semantic_tag_rules(&self) -> &SemanticTagRules {
        &self.semantic_tags
    }

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Policy>();
    }

    #[test]
    fn show_json_is_valid_json() {
        let p = Policy::embedded_default().unwrap();
        let v: serde_json::Value = serde_json::from_str(&p.show_json()).unwrap();
        assert_eq!(v["sha256"], p.sha256());
        assert_eq!(v["confidentiality"]["handling"], "drop");
        assert!(v["code_lists"]["categories"]["entries"].as_u64().unwrap() > 50);
    }
}
