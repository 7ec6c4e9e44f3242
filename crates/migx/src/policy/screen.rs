//! The one screen every coding passes: sensitive codes and consent/dissent codes alike, over
//! the one enumeration of what an item carries ([`Item::codings`]), and the only way to a
//! coding the FHIR mapping can emit ([`ScreenedCoding`], built only by [`shareable`]).
//!
//! Each coding is screened under every listed identity (SNOMED CT, Read v2, CTV3), whatever
//! system it names (after [`CodeSystem::parse`] folded every alias): a sensitive or dissent
//! code under a spelling nobody listed, an unknown or invalid system, none, or another listed
//! system's label, is still found. The code itself is tried as written, cleaned of invisible characters and full-width
//! digits, cut at the first space (text after a code) and without leading zeros.

use crate::codes::snomed::{parse_sctid, SctIdKind};
use crate::codes::syntax::emittable_code;
use crate::codes::{CodeSystem, Coding};
use crate::ehr::model::{Extract, Item};
use crate::policy::{ConsentEffect, DisplaySource, Policy};

/// The identities and spellings a coding is screened under.
fn candidates(c: &Coding) -> Vec<Coding> {
    let mut codes: Vec<String> = vec![c.code.trim().to_string()];
    let cleaned: String = c
        .code
        .chars()
        .filter(|ch| {
            !matches!(
                ch,
                '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}' | '\u{00ad}'
            )
        })
        .map(|ch| match ch {
            '\u{ff10}'..='\u{ff19}' => {
                char::from_u32(ch as u32 - 0xff10 + u32::from(b'0')).unwrap_or(ch)
            }
            _ => ch,
        })
        .collect();
    let cleaned = cleaned.trim().to_string();
    if let Some(first) = cleaned.split_whitespace().next() {
        codes.push(first.to_string());
    }
    if cleaned.bytes().all(|b| b.is_ascii_digit()) {
        let stripped = cleaned.trim_start_matches('0');
        if !stripped.is_empty() {
            codes.push(stripped.to_string());
        }
    }
    codes.push(cleaned);
    codes.sort();
    codes.dedup();
    codes.retain(|c| !c.is_empty());
    // Every listed identity, whatever the coding says: SNOMED CT ids (6..18 digits) and Read
    // v2 / CTV3 codes (5 characters) cannot be mistaken for each other, so a code mislabelled
    // with another listed system is still found; Read v2 and CTV3 share their codes.
    let systems = [CodeSystem::Snomed, CodeSystem::ReadV2, CodeSystem::Ctv3];
    let mut out = Vec::with_capacity(codes.len() * systems.len());
    for s in &systems {
        for code in &codes {
            out.push(Coding::new(s.clone(), code.clone()));
        }
    }
    out
}

/// The sensitive group of one coding, under every identity it is screened under.
pub fn coding_sensitive<'p>(policy: &'p Policy, c: &Coding) -> Option<&'p str> {
    policy.sensitive_group(&candidates(c))
}

/// Whether one coding is a dissent code, under every identity it is screened under.
pub fn coding_dissent(policy: &Policy, c: &Coding) -> bool {
    policy.consent_effect(&candidates(c)) == Some(ConsentEffect::Dissent)
}

/// The sensitive group of any coding the item carries, wherever it sits.
pub fn item_sensitive<'p>(policy: &'p Policy, item: &Item) -> Option<&'p str> {
    item.codings().find_map(|c| coding_sensitive(policy, c))
}

/// The consent effect an item records: dissent when any coding it carries, wherever it
/// sits, is a dissent code; otherwise the effect of its own code and translations (a permit
/// is read only from there: a permit elsewhere grants nothing).
pub fn item_consent(policy: &Policy, item: &Item) -> Option<ConsentEffect> {
    if item.codings().any(|c| coding_dissent(policy, c)) {
        return Some(ConsentEffect::Dissent);
    }
    policy.consent_effect(&item.codes)
}

/// Whether a coding outside any item (see [`Extract::record_codings`]) is a dissent code.
pub fn record_dissent(policy: &Policy, ex: &Extract) -> bool {
    ex.record_codings.iter().any(|c| coding_dissent(policy, c))
}

/// Whether some coding the item would emit cannot be, for its syntax or system: the text in
/// it is removed (audited `free-text`). Unresolvable description ids are not text.
pub fn drops_text(item: &Item) -> bool {
    item.emitted_codings()
        .any(|c| emittable_code(&c.system, c.code.trim()).is_none())
}

/// A coding that passed the screen: in its system's syntax, not sensitive, not a consent
/// code of any kind, with a display the policy allows. Only [`shareable`] builds one, so the
/// FHIR mapping cannot emit an unscreened coding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenedCoding {
    system: String,
    code: String,
    display: Option<String>,
    description_id: Option<String>,
}

impl ScreenedCoding {
    /// The FHIR `system` URI (the identity's canonical spelling).
    pub fn system(&self) -> &str {
        &self.system
    }
    /// The code, in its system's syntax (a SNOMED CT concept id; a 5-character Read code).
    pub fn code(&self) -> &str {
        &self.code
    }
    /// The display, from where the policy says (`displays`).
    pub fn display(&self) -> Option<&str> {
        self.display.as_deref()
    }
    /// The SNOMED CT description id the source gave, when `code` is its concept.
    pub fn description_id(&self) -> Option<&str> {
        self.description_id.as_deref()
    }
}

/// The codings of `codes` that may be emitted, deduplicated by system and code, in order.
pub fn shareable(policy: &Policy, codes: &[Coding]) -> Vec<ScreenedCoding> {
    let mut out: Vec<ScreenedCoding> = Vec::new();
    for c in codes {
        let Some(s) = screen_one(policy, c) else {
            continue;
        };
        if !out.iter().any(|o| o.system == s.system && o.code == s.code) {
            out.push(s);
        }
    }
    out
}

fn screen_one(policy: &Policy, c: &Coding) -> Option<ScreenedCoding> {
    let raw = c.code.trim();
    let code = emittable_code(&c.system, raw)?;
    if coding_sensitive(policy, c).is_some() || policy.consent_effect(&candidates(c)).is_some() {
        return None;
    }
    let (code, description_id) = match c.system {
        CodeSystem::Snomed => match parse_sctid(code) {
            Ok(id) if id.kind == SctIdKind::Concept => (code.to_string(), None),
            Ok(id) if id.kind == SctIdKind::Description => {
                let concept = policy.resolve_description(id.id)?;
                let concept = Coding::new(CodeSystem::Snomed, concept.to_string());
                if coding_sensitive(policy, &concept).is_some() {
                    return None;
                }
                (concept.code, Some(code.to_string()))
            }
            _ => return None,
        },
        _ => (code.to_string(), None),
    };
    let emitted = Coding::new(c.system.clone(), code.clone());
    let display = match policy.displays() {
        DisplaySource::Terminology => policy.term_of(&emitted).map(str::to_string),
        DisplaySource::Source => c
            .display
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string),
    };
    Some(ScreenedCoding {
        system: c.system.uri().to_string(),
        code,
        display,
        description_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::embedded_default().unwrap()
    }

    #[test]
    fn a_sensitive_or_dissent_code_is_found_under_any_system_and_spelling() {
        let p = policy();
        for sys in [
            CodeSystem::Snomed,
            CodeSystem::Other("urn:oid:1.2.3".into()),
            CodeSystem::Invalid,
            CodeSystem::parse("https://snomed.info/sct/83821000000107/"),
        ] {
            for code in [
                "76272004",
                " 76272004",
                "76272004 (see letter)",
                "7627\u{200b}2004",
                "\u{ff17}6272004",
                "076272004",
            ] {
                let c = Coding::new(sys.clone(), code);
                assert!(coding_sensitive(&p, &c).is_some(), "{sys:?} {code:?}");
                assert!(shareable(&p, &[c]).is_empty());
            }
        }
        // Read v2 dissent carried as CTV3, and a Read chapter rule under an unknown system.
        assert!(coding_dissent(&p, &Coding::new(CodeSystem::Ctv3, "93C1.")));
        assert!(coding_dissent(
            &p,
            &Coding::new(CodeSystem::Invalid, "93C1.00")
        ));
        assert!(!coding_dissent(
            &p,
            &Coding::new(CodeSystem::Snomed, "195967001")
        ));
    }

    #[test]
    fn only_screened_codings_in_their_syntax_are_shareable() {
        let p = policy();
        let codes = [
            Coding {
                system: CodeSystem::ReadV2,
                code: "H33..00".into(),
                display: Some("Asthma (typed by a clinician)".into()),
            },
            Coding::new(CodeSystem::ReadV2, "H33..00 partner"),
            Coding::new(CodeSystem::Snomed, "195967001"),
            Coding::new(CodeSystem::Snomed, "195967001"),
            Coding::new(CodeSystem::Snomed, "195967002"),
            Coding::new(CodeSystem::Invalid, "195967001"),
            Coding::new(CodeSystem::Snomed, "417528008"), // a consent code: never emitted
        ];
        let s = shareable(&p, &codes);
        let got: Vec<(&str, &str)> = s.iter().map(|c| (c.system(), c.code())).collect();
        assert_eq!(
            got,
            vec![
                ("http://read.info/readv2", "H33.."),
                ("http://snomed.info/sct", "195967001")
            ]
        );
        // Terminology displays by default: the source's text never.
        assert!(s
            .iter()
            .all(|c| c.display() != Some("Asthma (typed by a clinician)")));
    }
}
