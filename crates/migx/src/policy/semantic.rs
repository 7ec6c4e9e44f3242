//! Classification by SNOMED CT semantic tag: a policy data rule (`semantic_tags` in the policy
//! file) mapping the semantic tag of a concept's fully specified name (`disorder`,
//! `procedure`, ...) to a shared category, used only when the code lists give no category and
//! only when a SNOMED CT release is loaded (the tag comes from the release).
//!
//! Rules are tried in file order; the first whose `tag` matches and whose `value` condition
//! holds gives the category. A tag no rule names classifies nothing (the item stays
//! unclassified, i.e. withheld). Inactive concepts are never classified by tag. When an item's
//! SNOMED codings give different categories, none is used (fail closed).

use serde::Deserialize;

use crate::codes::snomed::parse_sctid;
use crate::codes::{CodeSystem, Coding};
use crate::policy::Policy;

/// Categories a semantic tag rule may give.
pub const TAG_CATEGORIES: [&str; 4] = ["diagnoses", "procedures", "tests", "not-shared"];

/// The `semantic_tags` object of a policy file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SemanticTagRules {
    /// Where the tags and their meaning come from (e.g. the SNOMED CT Editorial Guide).
    pub source: String,
    /// Free comment for the maintainers of the policy file.
    #[serde(default)]
    pub note: Option<String>,
    /// The rules, tried in file order.
    pub rules: Vec<SemanticTagRule>,
}

/// One rule: `tag` (without parentheses) -> `category`, optionally only for items with a
/// numeric value (`"value": "numeric"`: a quantity or a range).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SemanticTagRule {
    /// A semantic tag as it appears in a fully specified name, without parentheses (e.g.
    /// `disorder`).
    pub tag: String,
    /// Which items the rule applies to.
    #[serde(default)]
    pub value: ValueCondition,
    /// The category it gives: one of [`TAG_CATEGORIES`].
    pub category: String,
}

/// A rule's condition on the item's value (e.g. an `observable entity` is a test result only when
/// it has a numeric value).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ValueCondition {
    /// Any item, whatever its value.
    #[default]
    Any,
    /// Only items with a quantity or range value.
    Numeric,
}

impl SemanticTagRules {
    /// Check the rules; the message names the offending rule.
    pub fn check(&self) -> Result<(), String> {
        if self.source.trim().is_empty() {
            return Err("semantic_tags.source must name where the tags come from".to_string());
        }
        for (i, r) in self.rules.iter().enumerate() {
            if r.tag.trim().is_empty() || r.tag.contains(['(', ')']) {
                return Err(format!(
                    "semantic_tags.rules[{i}]: tag {:?} must be a tag without parentheses",
                    r.tag
                ));
            }
            if !TAG_CATEGORIES.contains(&r.category.as_str()) {
                return Err(format!(
                    "semantic_tags.rules[{i}]: category {:?}: expected one of {}",
                    r.category,
                    TAG_CATEGORIES.join(", ")
                ));
            }
            if self.rules[..i]
                .iter()
                .any(|p| p.tag == r.tag && p.value == r.value)
            {
                return Err(format!(
                    "semantic_tags.rules[{i}]: duplicate rule for tag {:?}",
                    r.tag
                ));
            }
        }
        Ok(())
    }

    /// The category for a tag, given whether the item has a numeric value.
    pub fn category(&self, tag: &str, numeric_value: bool) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.tag == tag && (r.value == ValueCondition::Any || numeric_value))
            .map(|r| r.category.as_str())
    }
}

/// What the semantic tags of an item's SNOMED CT codings say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagClass<'a> {
    /// The active concepts' tags agree on this category.
    Category(&'a str),
    /// Every SNOMED CT coding the release knows is an inactive concept: not classified by tag,
    /// nor by the item's value (unclassified unless the code lists say otherwise).
    OnlyInactive,
    /// No release, no SNOMED CT coding the release knows, no rule for the tags, or tags that
    /// disagree.
    Unknown,
}

impl Policy {
    /// Classify codings by the semantic tags of their SNOMED CT concepts (description ids are
    /// resolved to their concept). Only used when the code lists give no category.
    pub fn semantic_class(&self, codings: &[Coding], numeric_value: bool) -> TagClass<'_> {
        let Some(idx) = self.snomed_index() else {
            return TagClass::Unknown;
        };
        let rules = self.semantic_tag_rules();
        let mut found: Option<&str> = None;
        let mut conflict = false;
        let mut known = 0usize;
        let mut inactive = 0usize;
        for c in codings.iter().filter(|c| c.system == CodeSystem::Snomed) {
            let Ok(id) = parse_sctid(c.code.trim()) else {
                continue;
            };
            let Some(concept) = idx.concept_of(id.id) else {
                continue;
            };
            known += 1;
            if idx.is_active(concept) != Some(true) {
                inactive += 1;
                continue;
            }
            let cat = idx
                .semantic_tag(concept)
                .and_then(|t| rules.category(t, numeric_value));
            match (found, cat) {
                (_, None) => {}
                (None, Some(c)) => found = Some(c),
                (Some(f), Some(c)) if f != c => conflict = true,
                _ => {}
            }
        }
        if known > 0 && inactive == known {
            return TagClass::OnlyInactive;
        }
        match found {
            Some(c) if !conflict => TagClass::Category(c),
            _ => TagClass::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::release::SnomedIndex;
    use std::path::Path;
    use std::sync::Arc;

    fn sct(code: &str) -> Coding {
        Coding::new(CodeSystem::Snomed, code)
    }

    fn policy_with_release() -> Policy {
        let mut p = Policy::embedded_default().unwrap();
        let idx = SnomedIndex::build(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
                .join("fixtures/snomed-release"),
        )
        .unwrap();
        p.set_snomed_index(Arc::new(idx));
        p
    }

    #[test]
    fn default_rules_are_checked_and_sourced() {
        let p = Policy::embedded_default().unwrap();
        let r = p.semantic_tag_rules();
        assert!(r.source.contains("Editorial Guide"));
        assert_eq!(r.category("disorder", false), Some("diagnoses"));
        assert_eq!(r.category("procedure", false), Some("procedures"));
        assert_eq!(r.category("procedure", true), Some("tests"));
        assert_eq!(r.category("observable entity", true), Some("tests"));
        assert_eq!(r.category("observable entity", false), None);
        assert_eq!(r.category("finding", true), Some("tests"));
        assert_eq!(r.category("finding", false), None);
        assert_eq!(r.category("situation", false), None);
        assert_eq!(r.category("regime/therapy", false), None);
    }

    #[test]
    fn bad_rules_are_rejected() {
        let rule = |tag: &str, category: &str| SemanticTagRule {
            tag: tag.to_string(),
            value: ValueCondition::Any,
            category: category.to_string(),
        };
        let rules = |rs: Vec<SemanticTagRule>| SemanticTagRules {
            source: "x".to_string(),
            note: None,
            rules: rs,
        };
        assert!(rules(vec![rule("disorder", "diagnoses")]).check().is_ok());
        assert!(rules(vec![rule("disorder", "problems")]).check().is_err());
        assert!(rules(vec![rule("(disorder)", "diagnoses")])
            .check()
            .is_err());
        assert!(rules(vec![
            rule("disorder", "diagnoses"),
            rule("disorder", "tests")
        ])
        .check()
        .is_err());
        let mut no_source = rules(vec![]);
        no_source.source = " ".to_string();
        assert!(no_source.check().is_err());
    }

    #[test]
    fn classes_from_the_release() {
        let p = policy_with_release();
        // Concept ids and description ids alike.
        assert_eq!(
            p.semantic_class(&[sct("90560007")], false),
            TagClass::Category("diagnoses")
        );
        assert_eq!(
            p.semantic_class(&[sct("150085018")], false),
            TagClass::Category("diagnoses")
        );
        assert_eq!(
            p.semantic_class(&[sct("57797005")], false),
            TagClass::Category("procedures")
        );
        assert_eq!(
            p.semantic_class(&[sct("72313002")], true),
            TagClass::Category("tests")
        );
        assert_eq!(
            p.semantic_class(&[sct("72313002")], false),
            TagClass::Unknown
        );
        // A finding is a test result only with a numeric value.
        assert_eq!(
            p.semantic_class(&[sct("407377005")], true),
            TagClass::Category("tests")
        );
        assert_eq!(
            p.semantic_class(&[sct("407377005")], false),
            TagClass::Unknown
        );
        // Inactive concept (and its inactive synonym).
        assert_eq!(
            p.semantic_class(&[sct("999001004")], false),
            TagClass::OnlyInactive
        );
        assert_eq!(
            p.semantic_class(&[sct("999011010")], true),
            TagClass::OnlyInactive
        );
        // Inactive plus an active concept: the active one classifies.
        assert_eq!(
            p.semantic_class(&[sct("999001004"), sct("90560007")], false),
            TagClass::Category("diagnoses")
        );
        // Disagreeing tags: nothing (fail closed).
        assert_eq!(
            p.semantic_class(&[sct("90560007"), sct("57797005")], false),
            TagClass::Unknown
        );
        // Unknown to the release, not SNOMED, not an SCTID.
        assert_eq!(
            p.semantic_class(&[sct("22298006")], false),
            TagClass::Unknown
        );
        assert_eq!(
            p.semantic_class(&[Coding::new(CodeSystem::ReadV2, "G30..")], false),
            TagClass::Unknown
        );
        assert_eq!(p.semantic_class(&[sct("abc")], false), TagClass::Unknown);
        // No release: nothing.
        let bare = Policy::embedded_default().unwrap();
        assert_eq!(
            bare.semantic_class(&[sct("90560007")], false),
            TagClass::Unknown
        );
    }
}
