//! The one screen every coding passes: sensitive codes and consent/dissent codes alike, over
//! the one enumeration of what an item carries ([`Item::codings`]), and the only way to a
//! coding the FHIR mapping can emit ([`ScreenedCoding`], built only by [`Screen::shareable`]).
//!
//! Each coding is screened under every listed identity (SNOMED CT, Read v2, CTV3), whatever
//! system it names (after [`CodeSystem::parse`] folded every alias): a sensitive or dissent
//! code under a spelling nobody listed, an unknown or invalid system, none, or another listed
//! system's label, is still found. The code itself is tried as written, cleaned of invisible characters and full-width
//! digits, cut at the first space (text after a code) and without leading zeros.

use crate::codes::snomed::{parse_sctid, SctIdKind};
use crate::codes::syntax::emittable_code;
use crate::codes::{CodeSystem, Coding, CompactString};
use crate::ehr::model::{Extract, Item};
use crate::policy::{ConsentEffect, DisplaySource, Policy};
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Weak};

/// The identities and spellings a coding is screened under.
fn candidates(c: &Coding) -> Vec<Coding> {
    let mut codes: Vec<String> = spellings(&c.code);
    // Every listed identity, whatever the coding says: SNOMED CT ids (6..18 digits) and Read
    // v2 / CTV3 codes (5 characters) cannot be mistaken for each other, so a code mislabelled
    // with another listed system is still found; Read v2 and CTV3 share their codes.
    let systems = [CodeSystem::Snomed, CodeSystem::ReadV2, CodeSystem::Ctv3];
    let mut out = Vec::with_capacity(codes.len() * systems.len());
    for s in &systems[..2] {
        for code in &codes {
            out.push(Coding::new(s.clone(), code.clone()));
        }
    }
    out.extend(
        codes
            .drain(..)
            .map(|code| Coding::new(CodeSystem::Ctv3, code)),
    );
    out
}

/// The spellings a code is tried under, sorted and distinct: as written (trimmed), cleaned of
/// invisible characters and full-width digits, cut at the first space, without leading zeros.
fn spellings(code: &str) -> Vec<String> {
    // Printable ASCII without a space (nearly every code): each spelling is the code itself,
    // unless it is a number with leading zeros.
    let bytes = code.as_bytes();
    if !bytes.is_empty()
        && bytes.iter().all(u8::is_ascii_graphic)
        && !(bytes[0] == b'0' && bytes.iter().all(u8::is_ascii_digit))
    {
        return vec![code.to_string()];
    }
    every_spelling(code)
}

/// [`spellings`] of any code, each spelling made.
fn every_spelling(code: &str) -> Vec<String> {
    let mut codes: Vec<String> = vec![code.trim().to_string()];
    let cleaned: String = code
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
    codes
}

/// What the screen says of one code, under every identity and spelling it is screened under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    /// On a sensitive list (or exclusion refset), under some identity.
    sensitive: bool,
    /// The consent effect of its identities, if any is a consent code of any kind.
    consent: Option<ConsentEffect>,
}

/// The verdict on a code, computed from the policy's lists (what [`Screen`] remembers).
fn verdict_of(policy: &Policy, c: &Coding) -> Verdict {
    // One enumeration of the coding's identities serves both checks.
    let identities = candidates(c);
    Verdict {
        sensitive: policy.sensitive_group(&identities).is_some(),
        consent: policy.consent_effect(&identities),
    }
}

/// How many codes one [`Screen`] remembers: beyond this (an input of that many distinct
/// codes) each further code is screened afresh, so memory stays bounded.
const REMEMBERED_CODES: usize = 1 << 16;

/// One policy's screen over one extract: every question is answered from the code's
/// [`Verdict`], which depends only on the code's text (each coding is screened under every
/// listed identity, whatever system it names), so each distinct code is screened once
/// however many codings carry it (an extract repeats a few hundred codes over thousands of
/// codings, asked about at admission, in the decisions and in the mapping).
pub struct Screen<'p> {
    policy: &'p Policy,
    verdicts: Memo,
    /// [`REMEMBERED_CODES`] (smaller in tests).
    limit: usize,
}

/// What a screen remembers: each code's verdict, by the code's text.
type Memo = Rc<RefCell<hashbrown::HashMap<Box<str>, Verdict>>>;

thread_local! {
    /// The memory a scope ([`lending`]) lends to every screen made on this thread under
    /// its policy (the policy by address: it is borrowed for the whole scope, so no other
    /// policy can be at that address, and it cannot change).
    static LENT: RefCell<Option<(*const Policy, Memo)>> = const { RefCell::new(None) };
    /// The memory [`remembering_shared`] keeps on this thread from one scope to the next,
    /// with the policy it is of. The weak pointer keeps that policy's allocation, so while
    /// it is held no other policy can be at its address: a live `Arc` at the same address
    /// is the same policy (and it cannot have changed: an `Arc` that a weak pointer also
    /// points at is never mutable in place).
    static KEPT: RefCell<Option<(Weak<Policy>, Memo)>> = const { RefCell::new(None) };
}

/// Run `f` with one memory for every [`Screen`] made under `policy` on this thread: the
/// stages of one conversion (admission, decisions, mapping), and the files of one run
/// converted one after another on a worker thread, screen each distinct code once between
/// them. The memory is kept from one scope to the next while the policy is the same `Arc`;
/// a scope under another policy starts afresh (and is the one kept from then on). The
/// previous scope is restored afterwards, also when `f` panics. A verdict depends only on
/// the policy and the code, so what is remembered never changes an answer; the memory is
/// bounded like every screen's.
pub fn remembering_shared<R>(policy: &Arc<Policy>, f: impl FnOnce() -> R) -> R {
    let memo = KEPT.with(|k| {
        let mut kept = k.borrow_mut();
        match &*kept {
            Some((of, memo)) if std::ptr::eq(of.as_ptr(), Arc::as_ptr(policy)) => Rc::clone(memo),
            _ => {
                let memo = Memo::default();
                *kept = Some((Arc::downgrade(policy), Rc::clone(&memo)));
                memo
            }
        }
    });
    lending(policy, memo, f)
}

/// Run `f` with `memo` lent to the screens made under `policy` on this thread.
fn lending<R>(policy: &Policy, memo: Memo, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<(*const Policy, Memo)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            LENT.with(|l| *l.borrow_mut() = prev);
        }
    }
    let lent = (std::ptr::from_ref(policy), memo);
    let prev = LENT.with(|l| l.borrow_mut().replace(lent));
    let _restore = Restore(prev);
    f()
}

impl<'p> Screen<'p> {
    /// A screen under `policy`: with the memory of the [`remembering_shared`] scope it is made in
    /// when that scope is `policy`'s, remembering nothing yet otherwise.
    pub fn new(policy: &'p Policy) -> Self {
        let verdicts = LENT.with(|l| match &*l.borrow() {
            Some((p, memo)) if std::ptr::eq(*p, policy) => Rc::clone(memo),
            _ => Memo::default(),
        });
        Screen {
            policy,
            verdicts,
            limit: REMEMBERED_CODES,
        }
    }

    /// The policy it screens under.
    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    fn verdict(&self, c: &Coding) -> Verdict {
        let code: &str = &c.code;
        if let Some(v) = self.verdicts.borrow().get(code) {
            return *v;
        }
        let v = verdict_of(self.policy, c);
        let mut verdicts = self.verdicts.borrow_mut();
        if verdicts.len() < self.limit {
            verdicts.insert(code.into(), v);
        }
        v
    }

    /// Whether one coding is on a sensitive list, under every identity it is screened under.
    pub fn coding_sensitive(&self, c: &Coding) -> bool {
        self.verdict(c).sensitive
    }

    /// Whether one coding is a dissent code, under every identity it is screened under.
    pub fn coding_dissent(&self, c: &Coding) -> bool {
        self.verdict(c).consent == Some(ConsentEffect::Dissent)
    }

    /// Whether any coding the item carries, wherever it sits, is sensitive.
    pub fn item_sensitive(&self, item: &Item) -> bool {
        item.codings().any(|c| self.coding_sensitive(c))
    }

    /// The consent effect an item records: dissent when any coding it carries, wherever it
    /// sits, is a dissent code; otherwise the effect of its own code and translations (a
    /// permit is read only from there: a permit elsewhere grants nothing).
    pub fn item_consent(&self, item: &Item) -> Option<ConsentEffect> {
        if item.codings().any(|c| self.coding_dissent(c)) {
            return Some(ConsentEffect::Dissent);
        }
        self.policy.consent_effect(&item.codes)
    }

    /// Whether a coding outside any item (see [`Extract::record_codings`]) is a dissent code.
    pub fn record_dissent(&self, ex: &Extract) -> bool {
        ex.record_codings.iter().any(|c| self.coding_dissent(c))
    }

    /// The codings of `codes` that may be emitted, deduplicated by system and code, in order.
    pub fn shareable(&self, codes: &[Coding]) -> Vec<ScreenedCoding> {
        let mut out: Vec<ScreenedCoding> = Vec::new();
        for c in codes {
            let Some(s) = self.screen_one(c) else {
                continue;
            };
            if !out.iter().any(|o| o.system == s.system && o.code == s.code) {
                out.push(s);
            }
        }
        out
    }

    fn screen_one(&self, c: &Coding) -> Option<ScreenedCoding> {
        let policy = self.policy;
        let raw = c.code.trim();
        let code = emittable_code(&c.system, raw)?;
        let v = self.verdict(c);
        if v.sensitive || v.consent.is_some() {
            return None;
        }
        let (code, description_id) = match c.system {
            CodeSystem::Snomed => match parse_sctid(code) {
                Ok(id) if id.kind == SctIdKind::Concept => (CompactString::from(code), None),
                Ok(id) if id.kind == SctIdKind::Description => {
                    let concept = policy.resolve_description(id.id)?;
                    let concept = Coding::new(CodeSystem::Snomed, concept.to_string());
                    if self.coding_sensitive(&concept) {
                        return None;
                    }
                    (concept.code, Some(code.to_string()))
                }
                _ => return None,
            },
            _ => (CompactString::from(code), None),
        };
        let display = match policy.displays() {
            DisplaySource::Terminology => policy
                .term_of(&Coding::new(c.system.clone(), code.clone()))
                .map(CompactString::from),
            DisplaySource::Source => c
                .display
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(CompactString::from),
        };
        Some(ScreenedCoding {
            system: match c.system.uri_text() {
                Cow::Borrowed(uri) => CompactString::const_new(uri),
                Cow::Owned(uri) => CompactString::from(uri),
            },
            code,
            display,
            description_id,
        })
    }
}

/// Whether some coding the item would emit cannot be, for its syntax or system: the text in
/// it is removed (audited `free-text`). Unresolvable description ids are not text.
pub fn drops_text(item: &Item) -> bool {
    item.emitted_codings()
        .any(|c| emittable_code(&c.system, c.code.trim()).is_none())
}

/// A coding that passed the screen: in its system's syntax, not sensitive, not a consent
/// code of any kind, with a display the policy allows. Only [`Screen::shareable`] builds one, so the
/// FHIR mapping cannot emit an unscreened coding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenedCoding {
    // The three known systems' URIs are references to constants (no copy per coding); a
    // code and most display terms are held inline.
    system: CompactString,
    code: CompactString,
    display: Option<CompactString>,
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
    /// Its parts, moved out for the one coding the mapping emits from it (no copy).
    pub fn into_parts(self) -> ScreenedParts {
        ScreenedParts {
            system: self.system,
            code: self.code,
            display: self.display,
            description_id: self.description_id,
        }
    }
}

/// A [`ScreenedCoding`] taken apart by the mapping that emits it.
#[derive(Debug)]
pub struct ScreenedParts {
    /// The FHIR `system` URI.
    pub system: CompactString,
    /// The code.
    pub code: CompactString,
    /// The display.
    pub display: Option<CompactString>,
    /// The SNOMED CT description id the source gave.
    pub description_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::model::ItemHead;

    /// A scope lending a memory of its own (what `remembering_shared` does with the
    /// memory it keeps).
    fn fresh_scope<R>(policy: &Policy, f: impl FnOnce() -> R) -> R {
        lending(policy, Memo::default(), f)
    }

    fn policy() -> Policy {
        Policy::embedded_default().unwrap()
    }

    /// The sensitive group of one coding, screened afresh (what a test compares with).
    fn coding_sensitive<'p>(policy: &'p Policy, c: &Coding) -> Option<&'p str> {
        policy.sensitive_group(&candidates(c))
    }

    /// Codes of every kind the screen meets: sensitive, dissent, permit and other consent
    /// codes, benign ones, each in several spellings, under every system.
    fn screened_codings() -> Vec<Coding> {
        let codes = [
            "76272004",  // sensitive (SNOMED CT)
            "93C1.",     // dissent (Read v2)
            "93C1.00",   // the same with its term suffix
            "417528008", // a consent code
            "195967001", // benign
            "H33..",     // benign Read v2
            "9990011000000115",
            "0076272004",
            " 76272004",
            "76272004 (see letter)",
            "7627\u{200b}2004",
            "\u{ff17}6272004",
            "",
            "XaNwR",
        ];
        let systems = [
            CodeSystem::Snomed,
            CodeSystem::ReadV2,
            CodeSystem::Ctv3,
            CodeSystem::Other("urn:oid:1.2.3".into()),
            CodeSystem::Invalid,
        ];
        let mut out = Vec::new();
        for code in codes {
            for sys in &systems {
                out.push(Coding::new(sys.clone(), code));
            }
        }
        out
    }

    /// What the screen remembers of a code is what screening that coding afresh says, for
    /// every coding in every order: a code's verdict does not depend on the system that
    /// carries it (the premise of remembering it by its text), and a code asked about again
    /// under another system gets that system's own answer.
    #[test]
    fn a_remembered_verdict_is_the_verdict_of_every_coding_of_that_code() {
        for p in [policy(), with_release()] {
            let codings = screened_codings();
            // Every kind of verdict is among them.
            let verdicts: Vec<Verdict> = codings.iter().map(|c| verdict_of(&p, c)).collect();
            assert!(verdicts.iter().any(|v| v.sensitive));
            assert!(verdicts
                .iter()
                .any(|v| v.consent == Some(ConsentEffect::Dissent)));
            assert!(verdicts
                .iter()
                .any(|v| v.consent.is_some_and(|e| e != ConsentEffect::Dissent)));
            assert!(verdicts.iter().any(|v| !v.sensitive && v.consent.is_none()));
            for a in &codings {
                for b in codings.iter().filter(|b| b.code == a.code) {
                    assert_eq!(verdict_of(&p, a), verdict_of(&p, b), "{a:?} {b:?}");
                }
            }
            // Forwards, backwards and interleaved, one screen throughout, and one that can
            // remember only two codes.
            for limit in [REMEMBERED_CODES, 2] {
                let mut screen = Screen::new(&p);
                screen.limit = limit;
                let order = codings.iter().chain(codings.iter().rev());
                for (n, c) in order.chain(codings.iter().step_by(3)).enumerate() {
                    let fresh = verdict_of(&p, c);
                    assert_eq!(screen.verdict(c), fresh, "{n}: {c:?}");
                    assert_eq!(
                        screen.coding_sensitive(c),
                        coding_sensitive(&p, c).is_some()
                    );
                    assert_eq!(
                        screen.coding_dissent(c),
                        fresh.consent == Some(ConsentEffect::Dissent)
                    );
                }
                assert!(screen.verdicts.borrow().len() <= limit);
            }
        }
    }

    /// Inside a scope every screen under its policy shares one memory (a
    /// verdict found by one is known to the next); a screen under another policy, one made
    /// outside the scope, and one made after it (also after a panic inside it) remember
    /// nothing. The shared memory gives the same answers as a fresh screening.
    #[test]
    fn a_scope_lends_one_memory_to_its_policys_screens_only() {
        let p = policy();
        let other = policy();
        let dissent = Coding::new(CodeSystem::Ctv3, "93C1.");
        let benign = Coding::new(CodeSystem::Snomed, "195967001");
        let known = |s: &Screen<'_>| s.verdicts.borrow().len();
        fresh_scope(&p, || {
            let first = Screen::new(&p);
            assert!(first.coding_dissent(&dissent));
            assert!(!first.coding_sensitive(&benign));
            let second = Screen::new(&p);
            assert_eq!(known(&second), 2);
            assert_eq!(second.verdict(&dissent), verdict_of(&p, &dissent));
            assert_eq!(second.verdict(&benign), verdict_of(&p, &benign));
            assert_eq!(known(&Screen::new(&other)), 0);
            // A nested scope lends its own memory and gives the outer one back.
            fresh_scope(&p, || assert_eq!(known(&Screen::new(&p)), 0));
            assert_eq!(known(&Screen::new(&p)), 2);
        });
        assert_eq!(known(&Screen::new(&p)), 0);
        let unwound = std::panic::catch_unwind(|| {
            fresh_scope(&p, || {
                Screen::new(&p).coding_dissent(&dissent);
                panic!("inside the scope");
            })
        });
        assert!(unwound.is_err());
        assert_eq!(known(&Screen::new(&p)), 0);
    }

    /// The memory kept from scope to scope is the same policy's only: a second scope under
    /// the same `Arc` knows what the first screened; a scope under another policy (an equal
    /// one in another allocation) starts afresh and is kept from then on; a policy dropped
    /// and another made cannot inherit it.
    #[test]
    fn a_kept_memory_is_its_own_policys_only() {
        let dissent = Coding::new(CodeSystem::Ctv3, "93C1.");
        let known = |p: &Policy| Screen::new(p).verdicts.borrow().len();
        let p = Arc::new(policy());
        remembering_shared(&p, || assert!(Screen::new(&p).coding_dissent(&dissent)));
        remembering_shared(&p, || assert_eq!(known(&p), 1));
        let q = Arc::new(policy());
        remembering_shared(&q, || assert_eq!(known(&q), 0));
        remembering_shared(&p, || assert_eq!(known(&p), 0));
        remembering_shared(&p, || Screen::new(&p).coding_dissent(&dissent));
        drop(p);
        for _ in 0..8 {
            let r = Arc::new(policy());
            remembering_shared(&r, || assert_eq!(known(&r), 0));
        }
        // Outside any scope, and in a plain scope, nothing is lent from the kept memory.
        let s = Arc::new(policy());
        remembering_shared(&s, || Screen::new(&s).coding_dissent(&dissent));
        assert_eq!(known(&s), 0);
        fresh_scope(&s, || assert_eq!(known(&s), 0));
    }

    /// The short cut for a plain code gives every spelling the full cleaning gives, for
    /// codes of every kind: plain, padded, with leading zeros, invisible or full-width
    /// characters, text after a space, empty.
    #[test]
    fn a_plain_codes_spellings_are_every_spelling() {
        let parts = [
            "",
            "0",
            "00",
            "7",
            "A",
            "a",
            "12",
            "9N",
            ".",
            "-",
            "417528008",
            "0417528008",
            "14L..00",
            "XaNwR",
            " ",
            "\t",
            "\u{200b}",
            "\u{feff}",
            "\u{ff11}",
            "\u{00ad}",
            "é",
            "x y",
            "~",
            "\u{7f}",
        ];
        for a in parts {
            for b in parts {
                for c in ["", "0", " ", "5", "\u{2060}"] {
                    let code = format!("{a}{b}{c}");
                    assert_eq!(spellings(&code), every_spelling(&code), "{code:?}");
                }
            }
        }
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
                assert!(Screen::new(&p).shareable(&[c]).is_empty());
            }
        }
        // Read v2 dissent carried as CTV3, and a Read chapter rule under an unknown system.
        assert!(Screen::new(&p).coding_dissent(&Coding::new(CodeSystem::Ctv3, "93C1.")));
        assert!(Screen::new(&p).coding_dissent(&Coding::new(CodeSystem::Invalid, "93C1.00")));
        assert!(!Screen::new(&p).coding_dissent(&Coding::new(CodeSystem::Snomed, "195967001")));
    }

    #[test]
    fn a_sensitive_or_dissent_code_in_any_coding_of_any_payload_is_found() {
        use crate::ehr::model::test_items::{codes_in, every_kind};
        let p = policy();
        let benign = || Coding::new(CodeSystem::Snomed, "195967001");
        let mut slots = 0;
        let count = every_kind(&mut || {
            slots += 1;
            benign()
        })
        .len();
        assert!(count >= 6 && slots > 2 * count);
        // Each slot of each generated item in turn holds the marker; every other slot a
        // code that is neither sensitive nor consent.
        for marker in [
            Coding::new(CodeSystem::Snomed, "76272004"),
            Coding::new(CodeSystem::ReadV2, "93C1."),
        ] {
            for slot in 1..=slots {
                let mut n = 0;
                let items = every_kind(&mut || {
                    n += 1;
                    if n == slot {
                        marker.clone()
                    } else {
                        benign()
                    }
                });
                // Which item holds it, read from the item itself, not from the screen's
                // enumeration.
                let hit: Vec<bool> = items
                    .iter()
                    .map(|i| codes_in(i).contains(&marker.code.to_string()))
                    .collect();
                assert_eq!(hit.iter().filter(|&&h| h).count(), 1, "slot {slot}");
                for (item, &holds) in items.iter().zip(&hit) {
                    let found = if marker.code == "93C1." {
                        Screen::new(&p).item_consent(item) == Some(ConsentEffect::Dissent)
                    } else {
                        Screen::new(&p).item_sensitive(item)
                    };
                    assert_eq!(found, holds, "slot {slot}: {item:?}");
                }
            }
        }
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
        let s = Screen::new(&p).shareable(&codes);
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

    fn with_release() -> Policy {
        let mut p = policy();
        let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("fixtures/snomed-release");
        p.set_snomed_index(std::sync::Arc::new(
            crate::codes::release::SnomedIndex::build(dir).expect("fixture release"),
        ));
        p
    }

    #[test]
    fn a_description_id_is_emitted_as_its_concept_and_screened_as_it() {
        let p = with_release();
        // 150085018 is a term of gout (90560007): emitted as the concept, the description
        // id kept beside it.
        let s = Screen::new(&p).shareable(&[Coding::new(CodeSystem::Snomed, "150085018")]);
        let got: Vec<_> = s.iter().map(|c| (c.code(), c.description_id())).collect();
        assert_eq!(got, vec![("90560007", Some("150085018"))]);
        // A concept id is itself, with no description id.
        let s = Screen::new(&p).shareable(&[Coding::new(CodeSystem::Snomed, "90560007")]);
        assert_eq!(s[0].description_id(), None);
        // A term of a sensitive concept (9990011000000115 -> 76272004) is withheld like it.
        assert!(Screen::new(&p)
            .shareable(&[Coding::new(CodeSystem::Snomed, "9990011000000115")])
            .is_empty());
        // Without a release a description id cannot be resolved: never emitted as a code.
        assert!(Screen::new(&policy())
            .shareable(&[Coding::new(CodeSystem::Snomed, "150085018")])
            .is_empty());
        // A relationship id (partition 02) is no clinical code at all.
        let rel = "100022"; // the identifier guide's example relationship id
        assert!(
            crate::codes::snomed::parse_sctid(rel).is_ok_and(|i| i.kind == SctIdKind::Relationship)
        );
        assert!(Screen::new(&p)
            .shareable(&[Coding::new(CodeSystem::Snomed, rel)])
            .is_empty());
    }

    #[test]
    fn codings_are_deduplicated_by_system_and_code_together() {
        let p = policy();
        let codes = [
            Coding::new(CodeSystem::Snomed, "195967001"),
            Coding::new(CodeSystem::Snomed, "90560007"),
            Coding::new(CodeSystem::ReadV2, "H33.."),
            Coding::new(CodeSystem::Snomed, "195967001"),
        ];
        let got: Vec<(String, String)> = Screen::new(&p)
            .shareable(&codes)
            .iter()
            .map(|c| (c.system().to_string(), c.code().to_string()))
            .collect();
        let sct = "http://snomed.info/sct".to_string();
        assert_eq!(
            got,
            vec![
                (sct.clone(), "195967001".to_string()),
                (sct, "90560007".to_string()),
                ("http://read.info/readv2".to_string(), "H33..".to_string()),
            ]
        );
    }

    #[test]
    fn text_is_dropped_exactly_when_an_emitted_coding_is_out_of_its_syntax() {
        let clean = Item {
            head: ItemHead {
                codes: smallvec::smallvec![
                    Coding::new(CodeSystem::Snomed, "195967001"),
                    // A Read code's 2-character term suffix is no text.
                    Coding::new(CodeSystem::ReadV2, "H33..00"),
                ],
                ..ItemHead::default()
            },
            ..Item::default()
        };
        assert!(!drops_text(&clean));
        for texty in ["H33..00 partner", "asthma since 1999"] {
            let mut item = clean.clone();
            item.codes.push(Coding::new(CodeSystem::ReadV2, texty));
            assert!(drops_text(&item), "{texty:?}");
        }
    }

    #[test]
    fn a_source_display_is_kept_trimmed_and_an_empty_one_is_none() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policy");
        let text = std::fs::read_to_string(format!("{dir}/default.json")).expect("policy");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("policy JSON");
        v["displays"] = serde_json::Value::from("source");
        let p = Policy::from_json_str(&v.to_string(), "source displays", dir).expect("policy");
        let coded = |display: &str| Coding {
            system: CodeSystem::Snomed,
            code: "195967001".into(),
            display: Some(display.into()),
        };
        let s = Screen::new(&p).shareable(&[coded("  Asthma  ")]);
        assert_eq!(s[0].display(), Some("Asthma"));
        let s = Screen::new(&p).shareable(&[coded("   ")]);
        assert_eq!(s[0].display(), None);
    }
}
