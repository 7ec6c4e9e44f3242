//! The policy file's own form (schema `schemas/policy.schema.json`), as read from JSON
//! before any check.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Requester;
use crate::policy::detail::RawDetail;
use crate::policy::semantic::SemanticTagRules;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) name: String,
    pub(super) version: String,
    #[serde(default)]
    pub(super) description: Option<String>,
    pub(super) consent: RawConsent,
    pub(super) recent_tests_months: u32,
    pub(super) confidentiality: RawConfidentiality,
    /// Absent: the four lists embedded in the binary (a site policy that only lists its
    /// requesters need not copy them).
    #[serde(default)]
    pub(super) code_lists: Option<RawCodeLists>,
    pub(super) exclusion_refsets: RawExclusionRefsets,
    pub(super) permitted_requesters: Vec<Requester>,
    pub(super) permitted_purposes: Vec<String>,
    #[serde(default)]
    pub(super) snomed_release: Option<String>,
    #[serde(default)]
    pub(super) semantic_tags: Option<SemanticTagRules>,
    /// Where a coding's display text comes from: `terminology` (default) or `source`.
    #[serde(default)]
    pub(super) displays: Option<String>,
    /// The code-system alias table (`codes/systems.tsv` format); absent: the embedded one.
    #[serde(default)]
    pub(super) code_systems: Option<String>,
    /// Absent: share dose and quantity text, the embedded unit list.
    #[serde(default)]
    pub(super) clinical_detail: RawDetail,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsent {
    pub(super) point_of_care_validity: RawValidity,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawValidity {
    Named(String),
    Hours(RawHours),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHours {
    pub(super) hours: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfidentiality {
    pub(super) handling: String,
    pub(super) restricting_codes: Vec<String>,
    pub(super) non_restricting_codes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCodeLists {
    pub(super) consent: String,
    pub(super) sensitive: String,
    pub(super) categories: String,
    pub(super) risks_warnings: String,
}

impl RawCodeLists {
    /// The embedded lists (used when a policy file omits `code_lists`).
    pub(super) fn embedded() -> RawCodeLists {
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
pub(super) struct RawExclusionRefsets {
    pub(super) files: Vec<String>,
    pub(super) refset_ids: BTreeMap<String, String>,
}
