//! The policy's own records, typed and serialised with serde: what `migx policy show` prints
//! ([`Policy::show_json`]) and the `exclusion_refsets` record of `summary.json`
//! ([`ExclusionRecord`]). Fields are declared in output order, so the bytes are the order
//! the files have always had. Never any patient data.

use serde::{Deserialize, Serialize};

use super::{ConfidentialHandling, ConsentValidity, Policy, Requester};
use crate::codes::list::CodeList;

/// The `exclusion_refsets` record of `summary.json`: what the sensitive-code check rested on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExclusionRecord {
    /// Every official refset has members loaded and is used by the policy.
    pub official_complete: bool,
    /// The four official refsets, in the policy's order.
    pub official: Vec<OfficialRefsetRecord>,
    /// `--without-official-refsets` when the operator asserted the run goes without them.
    pub operator_assertion: Option<String>,
    /// How far SNOMED CT subtypes were checked.
    pub subtypes: String,
}

/// One official exclusion refset as `summary.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficialRefsetRecord {
    /// The refset concept id, as a string.
    pub refset_id: String,
    /// The policy's group name for it (none: the policy does not use it).
    pub group: Option<String>,
    /// Members loaded.
    pub members: u64,
}

/// `migx policy show`: the effective policy.
#[derive(Serialize)]
struct Show<'a> {
    name: &'a str,
    version: &'a str,
    description: Option<&'a str>,
    origin: &'a str,
    sha256: &'a str,
    consent: ConsentView,
    recent_tests_months: u32,
    confidentiality: ConfidentialityView<'a>,
    code_lists: CodeListsView<'a>,
    code_systems: CodeSystemsView<'a>,
    exclusion_refsets: RefsetsView<'a>,
    clinical_detail: DetailView,
    permitted_requesters: &'a [Requester],
    permitted_purposes: &'a [String],
    snomed_release: Option<String>,
    snomed_index: Option<SnomedIndexView<'a>>,
    semantic_tags: SemanticTagsView<'a>,
}

#[derive(Serialize)]
struct ConsentView {
    point_of_care_validity: ValidityView,
}

/// `"encounter-day"`, or `{"hours": N}`.
#[derive(Serialize)]
#[serde(untagged)]
enum ValidityView {
    Named(&'static str),
    Hours { hours: u32 },
}

#[derive(Serialize)]
struct ConfidentialityView<'a> {
    handling: &'static str,
    restricting_codes: &'a [String],
    non_restricting_codes: &'a [String],
    unknown_codes: &'static str,
}

#[derive(Serialize)]
struct CodeListsView<'a> {
    consent: ListView<'a>,
    sensitive: ListView<'a>,
    categories: ListView<'a>,
    risks_warnings: ListView<'a>,
}

#[derive(Serialize)]
struct ListView<'a> {
    origin: &'a str,
    name: Option<&'a str>,
    version: Option<&'a str>,
    entries: usize,
}

impl<'a> ListView<'a> {
    fn of(l: &'a CodeList) -> Self {
        ListView {
            origin: &l.origin,
            name: l.meta("name"),
            version: l.meta("version"),
            entries: l.len(),
        }
    }
}

#[derive(Serialize)]
struct CodeSystemsView<'a> {
    origin: &'a str,
    aliases: usize,
}

#[derive(Serialize)]
struct RefsetsView<'a> {
    files: &'a [String],
    refset_ids: RefsetIds<'a>,
    members_loaded: usize,
}

/// Group name -> refset id (as a string), in the policy's order.
struct RefsetIds<'a>(&'a [(String, u64)]);

impl Serialize for RefsetIds<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(g, id)| (g, id.to_string())))
    }
}

#[derive(Serialize)]
struct DetailView {
    dose_instructions: bool,
    quantity_text: bool,
    staff: &'static str,
    units: usize,
}

#[derive(Serialize)]
struct SnomedIndexView<'a> {
    release_version: &'a str,
    concepts: usize,
    descriptions: usize,
    exclusion_members: usize,
    is_a_relationships: usize,
    sensitive_subtypes: usize,
}

#[derive(Serialize)]
struct SemanticTagsView<'a> {
    source: &'a str,
    rules: usize,
}

impl Policy {
    /// The effective policy as pretty JSON (for `migx policy show`): settings, list origins
    /// and sizes, loaded refset files and the policy hash. Never includes patient data.
    pub fn show_json(&self) -> String {
        let v = Show {
            name: &self.name,
            version: &self.version,
            description: self.description.as_deref(),
            origin: &self.origin,
            sha256: &self.sha256,
            consent: ConsentView {
                point_of_care_validity: match self.consent_validity {
                    ConsentValidity::EncounterDay => ValidityView::Named("encounter-day"),
                    ConsentValidity::Hours(hours) => ValidityView::Hours { hours },
                },
            },
            recent_tests_months: self.recent_tests_months,
            confidentiality: ConfidentialityView {
                handling: match self.confidential_handling {
                    ConfidentialHandling::Drop => "drop",
                    ConfidentialHandling::Label => "label",
                },
                restricting_codes: &self.restricting_codes,
                non_restricting_codes: &self.non_restricting_codes,
                unknown_codes: "drop",
            },
            code_lists: CodeListsView {
                consent: ListView::of(&self.consent),
                sensitive: ListView::of(&self.sensitive),
                categories: ListView::of(&self.categories),
                risks_warnings: ListView::of(&self.risks),
            },
            code_systems: CodeSystemsView {
                origin: &self.systems_origin,
                aliases: self.systems.len(),
            },
            exclusion_refsets: RefsetsView {
                files: &self.refset_files,
                refset_ids: RefsetIds(&self.refset_ids),
                members_loaded: self.refset_members.len(),
            },
            clinical_detail: DetailView {
                dose_instructions: self.detail.dose_instructions,
                quantity_text: self.detail.quantity_text,
                staff: self.detail.staff.as_str(),
                units: self.detail.units.len(),
            },
            permitted_requesters: &self.requesters,
            permitted_purposes: &self.purposes,
            snomed_release: self
                .snomed_release
                .as_ref()
                .map(|p| p.display().to_string()),
            snomed_index: self.snomed_index.as_ref().map(|i| SnomedIndexView {
                release_version: i.release_version(),
                concepts: i.concept_count(),
                descriptions: i.description_count(),
                exclusion_members: i.exclusion_member_count(),
                is_a_relationships: i.is_a_count(),
                sensitive_subtypes: self.subtype_sensitive.len(),
            }),
            semantic_tags: SemanticTagsView {
                source: &self.semantic_tags.source,
                rules: self.semantic_tags.rules.len(),
            },
        };
        serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exclusion_record_reads_back_what_it_writes_in_field_order() {
        let p = Policy::embedded_default().unwrap();
        let r = p.exclusion_basis(false).summary_record();
        let text = serde_json::to_string(&r).unwrap();
        let keys = [
            "official_complete",
            "official",
            "operator_assertion",
            "subtypes",
        ];
        let at: Vec<usize> = keys
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(serde_json::from_str::<ExclusionRecord>(&text).unwrap(), r);
        assert_eq!(r.official.len(), 4);
        assert!(r
            .official
            .iter()
            .all(|o| o.refset_id.parse::<u64>().is_ok()));
    }

    #[test]
    fn show_keeps_its_keys_in_the_order_the_command_has_always_printed() {
        let p = Policy::embedded_default().unwrap();
        let v: serde_json::Value = serde_json::from_str(&p.show_json()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "name",
                "version",
                "description",
                "origin",
                "sha256",
                "consent",
                "recent_tests_months",
                "confidentiality",
                "code_lists",
                "code_systems",
                "exclusion_refsets",
                "clinical_detail",
                "permitted_requesters",
                "permitted_purposes",
                "snomed_release",
                "snomed_index",
                "semantic_tags"
            ]
        );
        assert_eq!(v["consent"]["point_of_care_validity"], "encounter-day");
        assert_eq!(v["confidentiality"]["unknown_codes"], "drop");
        assert!(
            v["exclusion_refsets"]["refset_ids"]
                .as_object()
                .unwrap()
                .len()
                >= 4
        );
    }
}
