//! The exclusion refsets: RF2 simple refset files (the policy's and the operator's), the
//! members of the refsets the policy names, and what the sensitive-code check rests on.

use std::path::Path;

use sha2::Digest;

use crate::codes::release::EXCLUSION_REFSETS;
use crate::codes::rf2::{load_simple_refset, parse_simple_refset};

use super::*;

impl Policy {
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

    pub(super) fn add_refset_text(
        &mut self,
        text: &str,
        origin: &str,
    ) -> Result<usize, PolicyError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::snomed::{parse_sctid, SctIdKind};
    use crate::codes::CodeSystem;
    use crate::policy::config::load::EMBEDDED_FILES;
    use crate::policy::config::test_support::*;
    use std::io::Write;

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
        assert!(b.summary_record().official_complete);
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
