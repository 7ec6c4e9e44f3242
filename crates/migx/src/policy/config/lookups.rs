//! What the decision engine asks of a policy: a coding's consent effect, sensitive group,
//! category rule, risk or warning flag and display term; a confidentiality code's action;
//! a requester and a purpose.

use std::borrow::Cow;
use std::sync::Arc;

use crate::codes::list::Entry;
use crate::codes::snomed::{parse_sctid, SctIdKind};
use crate::codes::systems::AliasTable;
use crate::codes::{CodeSystem, Coding};

use super::*;

impl Policy {
    /// The codings, plus (with a release index) the concept id of every SNOMED description id.
    pub(super) fn expanded<'a>(&self, codings: &'a [Coding]) -> Cow<'a, [Coding]> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{CodeSystem, Coding};
    use crate::policy::config::test_support::*;

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
}
