//! The SNOMED CT release a policy uses: description ids resolved to concepts, and the IS-A
//! subtypes of the sensitive and consent concepts, computed once per run.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use sha2::Digest;

use crate::codes::list::Entry;
use crate::codes::release::SnomedIndex;
use crate::codes::CodeSystem;

use super::*;

impl Policy {
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
    pub(super) fn compute_subtypes(&mut self) {
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

    /// The SNOMED CT release folder or index the policy names, resolved against the policy's
    /// folder.
    pub fn snomed_release(&self) -> Option<&Path> {
        self.snomed_release.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{CodeSystem, Coding};
    use crate::policy::config::test_support::*;
    use crate::policy::config::*;

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
}
