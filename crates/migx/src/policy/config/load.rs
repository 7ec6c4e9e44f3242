//! Loading a policy: the embedded default and its files, a site policy and the files it
//! names (relative to its folder), each value checked; the policy hash over every part.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::codes::list::{parse_code_list, CodeList};
use crate::codes::snomed::{parse_sctid, SctIdKind};
use crate::codes::systems::AliasTable;
use crate::policy::detail::{Detail, UnitList};
use crate::policy::semantic::SemanticTagRules;

use super::file::{RawCodeLists, RawHours, RawPolicy, RawValidity};
use super::*;

/// The embedded default policy file.
pub const DEFAULT_POLICY_JSON: &str = include_str!("../../../../../policy/default.json");

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
pub(super) const EMBEDDED_FILES: &[(&str, &str)] = &[
    (
        "codes/consent.tsv",
        include_str!("../../../../../policy/codes/consent.tsv"),
    ),
    (
        "codes/sensitive.tsv",
        include_str!("../../../../../policy/codes/sensitive.tsv"),
    ),
    (
        "codes/categories.tsv",
        include_str!("../../../../../policy/codes/categories.tsv"),
    ),
    (
        "codes/risks-warnings.tsv",
        include_str!("../../../../../policy/codes/risks-warnings.tsv"),
    ),
    (
        "codes/units.tsv",
        include_str!("../../../../../policy/codes/units.tsv"),
    ),
    (
        "codes/der2_Refset_SimpleSnapshot_MIGX_default.txt",
        include_str!("../../../../../policy/codes/der2_Refset_SimpleSnapshot_MIGX_default.txt"),
    ),
];

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

    /// Load and check a policy file (for `migx policy check`).
    pub fn check_file(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        Policy::from_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::CodeSystem;
    use crate::policy::config::test_support::*;

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
        // An empty requester list is a valid policy (it discloses nothing).
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
}
