//! The item rules of [`decide`], one test per rule, written from the rule as the README's
//! "What is shared and what never is" table and `policy/README.md` state it, not from what
//! the code happens to produce. Each date boundary is tested on both sides, each missing
//! value on its own (issue 22).

use super::*;
use crate::codes::snomed::{parse_sctid, SctIdKind};
use crate::codes::{CodeSystem, Coding};
use crate::ehr::model::{
    DateField, Effective, Element, ExtractBuilder, Item, ItemHead, ItemKind, LinkSet, Medication,
    Observation, Supply, Value,
};

const AS_OF: &str = "20260314100000";

fn as_of() -> Ts {
    Ts::parse(AS_OF).expect("as-of")
}

fn policy() -> Policy {
    Policy::embedded_default().expect("embedded policy")
}

fn date(v: &str) -> DateField {
    DateField::from_hl7(v)
}

fn snomed(code: &str) -> Coding {
    Coding::new(CodeSystem::Snomed, code)
}

fn read(code: &str) -> Coding {
    Coding::new(CodeSystem::ReadV2, code)
}

/// Asthma: a diagnosis by the default category list (Read v2 chapter H).
const DIAGNOSIS: &str = "H33..";
/// Syphilis: on the default sensitive list (group `std`).
const SENSITIVE: &str = "76272004";
/// Active and inactive problem (LinkSet) codes.
const ACTIVE_PROBLEM: &str = "394774009";
const INACTIVE_PROBLEM: &str = "394775005";

fn head(id: &str, element: Element, parent: Option<usize>) -> ItemHead {
    ItemHead {
        id: id.into(),
        parent,
        ..ItemHead::new(element)
    }
}

fn item(id: &str, element: Element, parent: Option<usize>) -> Item {
    Item::of(head(id, element, parent))
}

/// `item`, placed under `parent`.
fn placed(mut item: Item, parent: usize) -> Item {
    item.head.parent = Some(parent);
    item
}

fn observation(id: &str, parent: Option<usize>, code: Coding) -> Item {
    Item::of(ItemHead {
        codes: smallvec::smallvec![code],
        effective: Effective {
            center: date("20260301"),
            ..Effective::default()
        },
        ..head(id, Element::ObservationStatement, parent)
    })
}

/// An observation's payload with a value.
fn valued(value: Value) -> ItemKind {
    ItemKind::Observation(Observation {
        value: Some(Box::new(value)),
        ..Observation::default()
    })
}

fn result(id: &str, when: &str) -> Item {
    Item {
        head: ItemHead {
            codes: smallvec::smallvec![read("44J3.")],
            effective: Effective {
                center: date(when),
                ..Effective::default()
            },
            ..head(id, Element::ObservationStatement, None)
        },
        kind: valued(Value::Quantity {
            value: "5".into(),
            unit: Some("mmol/L".into()),
        }),
    }
}

fn decide_items(items: Vec<Item>) -> (Extract, Decisions) {
    decide_with(items, &policy())
}

fn decide_with(items: Vec<Item>, policy: &Policy) -> (Extract, Decisions) {
    let ex = ExtractBuilder {
        items,
        ..ExtractBuilder::default()
    };
    let ex = ex.finish();
    let d = decide(&ex, policy, as_of());
    (ex, d)
}

fn outcome_of(items: Vec<Item>, i: usize) -> Outcome {
    decide_items(items).1.items[i].outcome
}

fn withheld_for(items: Vec<Item>, i: usize) -> Option<WithheldReason> {
    match outcome_of(items, i) {
        Outcome::Withheld(r) => Some(r),
        _ => None,
    }
}

fn shared(items: Vec<Item>, i: usize) -> bool {
    matches!(outcome_of(items, i), Outcome::Shared(_))
}

// ---------------------------------------------------------------- kinds of record

#[test]
fn narrative_is_free_text_and_never_shared() {
    let items = vec![item("n", Element::NarrativeStatement, None)];
    assert_eq!(withheld_for(items, 0), Some(WithheldReason::FreeText));
}

#[test]
fn referrals_plans_registrations_and_other_kinds_are_not_shared() {
    for element in [
        Element::RequestStatement,
        Element::PlanStatement,
        Element::RegistrationStatement,
        Element::Other,
    ] {
        let items = vec![Item::of(ItemHead {
            codes: smallvec::smallvec![read(DIAGNOSIS)],
            ..head("x", element, None)
        })];
        assert_eq!(
            withheld_for(items, 0),
            Some(WithheldReason::CategoryNotShared),
            "{element:?}"
        );
    }
}

#[test]
fn an_item_of_no_known_element_is_unclassified() {
    let items = vec![Item {
        head: ItemHead {
            element: None,
            codes: smallvec::smallvec![read(DIAGNOSIS)],
            ..ItemHead::default()
        },
        ..Item::default()
    }];
    assert_eq!(withheld_for(items, 0), Some(WithheldReason::Unclassified));
}

#[test]
fn a_diagnosis_is_shared_and_an_uncategorised_code_is_not() {
    assert!(shared(vec![observation("o", None, read(DIAGNOSIS))], 0));
    // Read v2 chapter 9 (administration) has no category rule and no value: unclassified.
    let admin = vec![observation("o", None, read("9N1..."))];
    assert_eq!(withheld_for(admin, 0), Some(WithheldReason::Unclassified));
}

#[test]
fn a_consent_or_dissent_code_is_not_shared_as_an_item() {
    let items = vec![observation("o", None, snomed("425691002"))];
    assert_eq!(
        withheld_for(items, 0),
        Some(WithheldReason::CategoryNotShared)
    );
}

// ---------------------------------------------------------------- codes

#[test]
fn an_item_without_codes_is_unclassified() {
    let items = vec![Item {
        head: ItemHead {
            effective: Effective {
                center: date("20260301"),
                ..Effective::default()
            },
            ..head("o", Element::ObservationStatement, None)
        },
        kind: valued(Value::Quantity {
            value: "1".into(),
            unit: None,
        }),
    }];
    assert_eq!(withheld_for(items, 0), Some(WithheldReason::Unclassified));
}

#[test]
fn a_snomed_code_failing_its_check_digit_is_invalid() {
    // 195967001 (asthma) is a valid concept id; changing its check digit breaks it.
    let mut r = result("r", "20260301");
    r.codes = smallvec::smallvec![snomed("195967002")];
    assert_eq!(withheld_for(vec![r], 0), Some(WithheldReason::InvalidCode));
}

/// A syntactically valid SNOMED CT description id that no list or release resolves.
fn unknown_description_id() -> String {
    (0..10)
        .map(|d| format!("99999999901{d}"))
        .find(|c| {
            parse_sctid(c).is_ok_and(|id| id.kind == SctIdKind::Description)
                && policy()
                    .resolve_description(parse_sctid(c).map(|i| i.id).unwrap_or(0))
                    .is_none()
        })
        .expect("a description id with a valid check digit")
}

#[test]
fn an_unresolvable_description_id_is_unresolved_not_unclassified() {
    let code = unknown_description_id();
    let mut r = result("r", "20260301");
    r.codes = smallvec::smallvec![snomed(&code)];
    assert_eq!(
        withheld_for(vec![r], 0),
        Some(WithheldReason::UnresolvedCode)
    );
}

#[test]
fn one_good_code_settles_an_item_that_also_has_a_bad_one() {
    let mut r = result("r", "20260301");
    r.codes = smallvec::smallvec![snomed("195967002"), read("44J3.")];
    assert!(shared(vec![r], 0));
}

// ---------------------------------------------------------------- sensitive codes

/// Puts a marker coding into one field of an item.
type Place = fn(&mut Item);

#[test]
fn a_sensitive_code_in_any_coded_field_withholds_the_item() {
    // Every coding of every payload kind is covered by `policy::screen`'s generated test;
    // here the whole decision, on an observation.
    let placements: [(&str, Place); 4] = [
        ("code", |i| i.codes.push(snomed(SENSITIVE))),
        ("coded value", |i| {
            i.kind = valued(Value::Coded(vec![snomed(SENSITIVE)]))
        }),
        ("interpretation", |i| {
            i.kind = ItemKind::Observation(Observation {
                interpretation: vec![snomed(SENSITIVE)].into(),
                ..Observation::default()
            })
        }),
        ("any other coded element", |i| {
            i.carried.push(snomed(SENSITIVE))
        }),
    ];
    for (what, place) in placements {
        let mut o = observation("o", None, read(DIAGNOSIS));
        place(&mut o);
        assert_eq!(
            withheld_for(vec![o], 0),
            Some(WithheldReason::SensitiveCode),
            "{what}"
        );
    }
}

#[test]
fn a_sensitive_read_code_is_caught_by_prefix_with_a_term_suffix() {
    // `A98..` and everything below it; a 7-character code carries a term suffix.
    for code in ["A98..", "A981.", "A98..00"] {
        let o = observation("o", None, read(code));
        assert_eq!(
            withheld_for(vec![o], 0),
            Some(WithheldReason::SensitiveCode),
            "{code}"
        );
    }
}

#[test]
fn a_consultation_with_a_sensitive_code_takes_its_contents() {
    let mut comp = item("c", Element::EhrComposition, None);
    comp.carried.push(snomed(SENSITIVE));
    let items = vec![comp, observation("o", Some(0), read(DIAGNOSIS))];
    assert_eq!(
        withheld_for(items.clone(), 0),
        Some(WithheldReason::SensitiveCode)
    );
    assert_eq!(withheld_for(items, 1), Some(WithheldReason::SensitiveCode));
}

// ---------------------------------------------------------------- confidentiality

#[test]
fn nopat_on_the_item_or_on_any_ancestor_withholds_it() {
    // The label at each depth of a five-level nesting reaches the innermost item.
    for depth in 0..5 {
        let mut items = vec![item("c", Element::EhrComposition, None)];
        for k in 1..5 {
            let mut g = item(&format!("g{k}"), Element::CompoundStatement, Some(k - 1));
            g.codes.push(read("9N1.."));
            items.push(g);
        }
        items.push(observation("o", Some(4), read(DIAGNOSIS)));
        items[depth].confidentiality = vec!["NOPAT".into()].into();
        assert_eq!(
            withheld_for(items, 5),
            Some(WithheldReason::Confidential),
            "NOPAT at depth {depth}"
        );
    }
}

#[test]
fn non_restricting_codes_do_not_withhold() {
    for code in ["NOSCRUB", "N", "L", "U"] {
        let mut o = observation("o", None, read(DIAGNOSIS));
        o.confidentiality = vec![code.into()].into();
        assert!(shared(vec![o], 0), "{code}");
    }
}

#[test]
fn restricting_and_unknown_codes_withhold() {
    for code in ["NOPAT", "R", "V", "SOMETHING-ELSE"] {
        let mut o = observation("o", None, read(DIAGNOSIS));
        o.confidentiality = vec![code.into()].into();
        assert_eq!(
            withheld_for(vec![o], 0),
            Some(WithheldReason::Confidential),
            "{code}"
        );
    }
}

fn problem(named: &str, code: &str) -> Item {
    Item {
        head: ItemHead {
            codes: smallvec::smallvec![snomed(code)],
            ..head("ls", Element::LinkSet, None)
        },
        kind: ItemKind::LinkSet(Box::new(LinkSet {
            named_statement: Some(named.into()),
            ..LinkSet::default()
        })),
    }
}

#[test]
fn a_problem_is_withheld_when_its_named_statement_is_confidential() {
    let mut o = observation("o", None, read(DIAGNOSIS));
    o.confidentiality = vec!["NOPAT".into()].into();
    let items = vec![o, problem("o", ACTIVE_PROBLEM)];
    assert_eq!(withheld_for(items, 1), Some(WithheldReason::Confidential));
}

#[test]
fn a_problem_is_withheld_when_its_named_statement_is_sensitive() {
    let items = vec![
        observation("o", None, snomed(SENSITIVE)),
        problem("o", ACTIVE_PROBLEM),
    ];
    assert_eq!(withheld_for(items, 1), Some(WithheldReason::SensitiveCode));
}

#[test]
fn nopat_on_a_problem_withholds_the_statement_it_names() {
    let mut ls = problem("o", ACTIVE_PROBLEM);
    ls.confidentiality = vec!["NOPAT".into()].into();
    let items = vec![observation("o", None, read(DIAGNOSIS)), ls];
    assert_eq!(withheld_for(items, 0), Some(WithheldReason::Confidential));
}

// ---------------------------------------------------------------- problems

#[test]
fn an_active_problem_is_shared_and_an_inactive_one_is_not_current() {
    let active = vec![
        observation("o", None, read(DIAGNOSIS)),
        problem("o", ACTIVE_PROBLEM),
    ];
    assert!(shared(active, 1));
    let inactive = vec![
        observation("o", None, read(DIAGNOSIS)),
        problem("o", INACTIVE_PROBLEM),
    ];
    assert_eq!(withheld_for(inactive, 1), Some(WithheldReason::NotCurrent));
}

#[test]
fn a_link_set_that_is_no_problem_is_not_shared() {
    let items = vec![
        observation("o", None, read(DIAGNOSIS)),
        problem("o", "195967001"),
    ];
    assert_eq!(
        withheld_for(items, 1),
        Some(WithheldReason::CategoryNotShared)
    );
}

#[test]
fn a_problem_naming_nothing_or_another_link_set_is_unresolvable() {
    let missing = vec![problem("nowhere", ACTIVE_PROBLEM)];
    assert_eq!(
        withheld_for(missing, 0),
        Some(WithheldReason::UnresolvableReference)
    );
    let mut other = problem("o", ACTIVE_PROBLEM);
    other.id = "ls2".into();
    let cycle = vec![
        observation("o", None, read(DIAGNOSIS)),
        other,
        problem("ls2", ACTIVE_PROBLEM),
    ];
    assert_eq!(
        withheld_for(cycle, 2),
        Some(WithheldReason::UnresolvableReference)
    );
}

#[test]
fn a_problem_ended_before_the_as_of_day_is_not_current_and_one_ending_that_day_is() {
    let with_end = |high: &str| {
        let mut ls = problem("o", ACTIVE_PROBLEM);
        ls.effective.high = date(high);
        vec![observation("o", None, read(DIAGNOSIS)), ls]
    };
    assert_eq!(
        withheld_for(with_end("20260313"), 1),
        Some(WithheldReason::NotCurrent)
    );
    assert!(shared(with_end("20260314"), 1));
    assert!(shared(with_end("20260315"), 1));
    let mut bad = with_end("20260315");
    bad[1].effective.high = DateField::Invalid;
    assert_eq!(withheld_for(bad, 1), Some(WithheldReason::InvalidDate));
}

// ---------------------------------------------------------------- medication

/// A medication statement's payload with its drug.
fn drug() -> ItemKind {
    ItemKind::Medication(Box::new(Medication {
        consumable: vec![Coding::new(CodeSystem::Other("dmd".into()), "322236009")],
        ..Medication::default()
    }))
}

/// A supply's payload.
fn supply(repeat_number: Option<u32>, prior_ref: Option<&str>) -> ItemKind {
    ItemKind::Supply(Box::new(Supply {
        repeat_number,
        prior_ref: prior_ref.map(str::to_string),
        ..Supply::default()
    }))
}

fn medication(auth: Item) -> Vec<Item> {
    let ms = Item {
        head: head("ms", Element::MedicationStatement, None),
        kind: drug(),
    };
    vec![ms, placed(auth, 0)]
}

fn authorise() -> Item {
    Item {
        head: ItemHead {
            status_code: Some("ACTIVE".into()),
            ..head("auth", Element::EhrSupplyAuthorise, Some(0))
        },
        kind: supply(Some(3), None),
    }
}

#[test]
fn a_current_medication_is_shared_with_its_authorisation() {
    let items = medication(authorise());
    let (_, d) = decide_items(items);
    assert_eq!(
        d.items[0].outcome,
        Outcome::Shared(Role::Medication { authorise: 1 })
    );
    assert_eq!(d.items[1].outcome, Outcome::PartOf(0));
}

#[test]
fn an_authorisation_ended_before_the_as_of_day_is_not_current() {
    let ending = |high: &str| {
        let mut a = authorise();
        a.effective.high = date(high);
        medication(a)
    };
    assert_eq!(
        withheld_for(ending("20260313"), 0),
        Some(WithheldReason::NotCurrent)
    );
    assert!(shared(ending("20260314"), 0));
    let mut a = authorise();
    a.effective.high = DateField::Invalid;
    assert_eq!(
        withheld_for(medication(a), 0),
        Some(WithheldReason::InvalidDate)
    );
}

#[test]
fn a_completed_authorisation_is_not_current_with_or_without_repeats() {
    // Issue 24.9: the source saying COMPLETE is never shown as active (it used to be, for
    // a repeat with no end date); ACTIVE and SUSPENDED plans are current.
    let with = |status: &str, repeats: Option<u32>| {
        let mut a = authorise();
        a.status_code = Some(status.to_string().into());
        a.kind = supply(repeats, None);
        medication(a)
    };
    for repeats in [Some(0), Some(2), None] {
        assert_eq!(
            withheld_for(with("COMPLETE", repeats), 0),
            Some(WithheldReason::NotCurrent)
        );
    }
    assert!(shared(with("ACTIVE", Some(2)), 0));
    assert!(shared(with("SUSPENDED", Some(2)), 0));
}

fn discontinued(when: DateField) -> Vec<Item> {
    let mut items = medication(authorise());
    items.push(Item {
        head: ItemHead {
            availability: when,
            ..head("disc", Element::EhrSupplyDiscontinue, Some(0))
        },
        kind: supply(None, Some("auth")),
    });
    items
}

#[test]
fn a_discontinuation_on_or_before_the_as_of_time_ends_the_medication() {
    assert_eq!(
        withheld_for(discontinued(date("20260314100000")), 0),
        Some(WithheldReason::NotCurrent)
    );
    assert_eq!(
        withheld_for(discontinued(date("20250101")), 0),
        Some(WithheldReason::NotCurrent)
    );
    // One second after the as-of time has not happened yet.
    assert!(shared(discontinued(date("20260314100001")), 0));
}

#[test]
fn an_undated_discontinuation_ends_the_medication() {
    assert_eq!(
        withheld_for(discontinued(DateField::Absent), 0),
        Some(WithheldReason::NotCurrent)
    );
}

#[test]
fn a_medication_with_no_authorisation_is_not_shared() {
    let ms = Item {
        head: head("ms", Element::MedicationStatement, None),
        kind: drug(),
    };
    assert_eq!(
        withheld_for(vec![ms.clone()], 0),
        Some(WithheldReason::Unclassified)
    );
    let only_discontinued = vec![
        ms,
        Item {
            head: head("disc", Element::EhrSupplyDiscontinue, Some(0)),
            kind: supply(None, Some("elsewhere")),
        },
    ];
    assert_eq!(
        withheld_for(only_discontinued, 0),
        Some(WithheldReason::NotCurrent)
    );
}

#[test]
fn nopat_on_the_authorisation_withholds_the_medication() {
    let mut a = authorise();
    a.confidentiality = vec!["NOPAT".into()].into();
    assert_eq!(
        withheld_for(medication(a), 0),
        Some(WithheldReason::Confidential)
    );
}

#[test]
fn a_sensitive_code_on_the_authorisation_withholds_the_medication() {
    // The authorisation is part of the medication: withheld for a code of its own (here in
    // any coded element it carries), it takes the medication with it.
    let mut a = authorise();
    a.carried.push(snomed(SENSITIVE));
    let (_, d) = decide_items(medication(a));
    assert_eq!(
        d.items[0].outcome,
        Outcome::Withheld(WithheldReason::SensitiveCode)
    );
    assert_eq!(
        d.items[1].outcome,
        Outcome::Withheld(WithheldReason::SensitiveCode)
    );
}

#[test]
fn an_allergy_whose_allergen_has_an_ambiguous_id_is_withheld() {
    let mut items = allergy(DateField::Absent);
    items[1].id = "dup".into();
    items.push(observation("dup", None, read(DIAGNOSIS)));
    assert_eq!(
        withheld_for(items, 0),
        Some(WithheldReason::UnresolvableReference)
    );
}

#[test]
fn a_sensitive_drug_withholds_the_medication() {
    let mut items = medication(authorise());
    if let Some(m) = items[0].medication_mut() {
        m.consumable.push(snomed(SENSITIVE));
    }
    assert!(items[0].codings().any(|c| c.code == SENSITIVE));
    assert_eq!(withheld_for(items, 0), Some(WithheldReason::SensitiveCode));
}

// ---------------------------------------------------------------- allergies

fn allergy(high: DateField) -> Vec<Item> {
    let header = Item::of(ItemHead {
        codes: smallvec::smallvec![read("14L..")],
        effective: Effective {
            high,
            ..Effective::default()
        },
        ..head("a", Element::CompoundStatement, None)
    });
    vec![header, observation("o", Some(0), read("TJ00."))]
}

#[test]
fn an_allergy_is_shared_until_it_ends_and_not_on_the_day_it_ends() {
    assert!(shared(allergy(DateField::Absent), 0));
    assert!(shared(allergy(date("20260315")), 0));
    // The allergy rule is "ended on or before the as-of date": the day itself ends it.
    assert_eq!(
        withheld_for(allergy(date("20260314")), 0),
        Some(WithheldReason::NotCurrent)
    );
    assert_eq!(
        withheld_for(allergy(DateField::Invalid), 0),
        Some(WithheldReason::InvalidDate)
    );
}

#[test]
fn an_allergy_whose_allergen_is_confidential_is_withheld() {
    let mut items = allergy(DateField::Absent);
    items[1].confidentiality = vec!["NOPAT".into()].into();
    assert_eq!(withheld_for(items, 0), Some(WithheldReason::Confidential));
}

// ---------------------------------------------------------------- recent tests

#[test]
fn a_result_inside_the_recent_window_is_shared_and_one_a_day_older_is_not() {
    // Default window: 24 months before the as-of date (2024-03-14).
    assert!(shared(vec![result("r", "20240314")], 0));
    assert_eq!(
        withheld_for(vec![result("r", "20240313")], 0),
        Some(WithheldReason::OutsideWindow)
    );
}

#[test]
fn the_recent_window_follows_the_policy() {
    let json = crate::policy::config::DEFAULT_POLICY_JSON
        .replace("\"recent_tests_months\": 24", "\"recent_tests_months\": 1");
    assert_ne!(json, crate::policy::config::DEFAULT_POLICY_JSON);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policy");
    let p = Policy::from_json_str(&json, "test", dir).expect("policy");
    let (_, d) = decide_with(vec![result("r", "20260214")], &p);
    assert!(matches!(d.items[0].outcome, Outcome::Shared(_)));
    let (_, d) = decide_with(vec![result("r", "20260213")], &p);
    assert_eq!(
        d.items[0].outcome,
        Outcome::Withheld(WithheldReason::OutsideWindow)
    );
}

#[test]
fn a_result_with_no_readable_date_is_not_shared() {
    let mut r = result("r", "20260301");
    r.effective = Effective::default();
    assert_eq!(withheld_for(vec![r], 0), Some(WithheldReason::InvalidDate));
    let mut r = result("r", "20260301");
    r.effective.center = DateField::Invalid;
    assert_eq!(withheld_for(vec![r], 0), Some(WithheldReason::InvalidDate));
    // Without an effective time, the availability time counts.
    let mut r = result("r", "20260301");
    r.effective = Effective::default();
    r.availability = date("20260301");
    assert!(shared(vec![r], 0));
}

// ---------------------------------------------------------------- identity and structure

#[test]
fn an_item_with_a_duplicated_id_is_unresolvable() {
    let items = vec![
        observation("dup", None, read(DIAGNOSIS)),
        observation("dup", None, read(DIAGNOSIS)),
    ];
    let (_, d) = decide_items(items);
    for k in 0..2 {
        assert_eq!(
            d.items[k].outcome,
            Outcome::Withheld(WithheldReason::UnresolvableReference)
        );
    }
}

#[test]
fn the_contents_of_a_withheld_item_share_its_reason() {
    let mut g = item("g", Element::CompoundStatement, None);
    g.class_code = Some("BATTERY".into());
    g.codes.push(read("44J3."));
    g.effective.center = date("20100101");
    let items = vec![g, result_in("r", 0)];
    assert_eq!(withheld_for(items, 1), Some(WithheldReason::OutsideWindow));
}

fn result_in(id: &str, parent: usize) -> Item {
    placed(result(id, "20260301"), parent)
}

// ---------------------------------------------------------------- warnings and free text

#[test]
fn withholding_outside_the_scope_warns_the_category_and_scope_does_not() {
    let mut secret = observation("o1", None, read(DIAGNOSIS));
    secret.confidentiality = vec!["NOPAT".into()].into();
    let (_, d) = decide_items(vec![secret]);
    assert_eq!(d.lists.warning_categories(), vec![Category::Diagnoses]);

    let (_, d) = decide_items(vec![result("r", "20100101")]);
    assert!(
        d.lists.warning_categories().is_empty(),
        "outside-window is scope: {:?}",
        d.lists
    );

    let inactive = vec![
        observation("o", None, read(DIAGNOSIS)),
        problem("o", INACTIVE_PROBLEM),
    ];
    let (_, d) = decide_items(inactive);
    assert!(
        d.lists.warning_categories().is_empty(),
        "not-current is scope: {:?}",
        d.lists
    );
}

#[test]
fn scope_reasons_and_warning_reasons_are_as_the_readme_states() {
    for scope in [
        WithheldReason::NotCurrent,
        WithheldReason::OutsideWindow,
        WithheldReason::CategoryNotShared,
        WithheldReason::FreeText,
    ] {
        assert!(scope.is_scope() && !scope.warns(), "{}", scope.as_str());
    }
    for warns in [
        WithheldReason::Confidential,
        WithheldReason::SensitiveCode,
        WithheldReason::Unclassified,
        WithheldReason::UnresolvableReference,
        WithheldReason::InvalidDate,
        WithheldReason::InvalidCode,
        WithheldReason::UnresolvedCode,
    ] {
        assert!(warns.warns(), "{}", warns.as_str());
    }
}

#[test]
fn free_text_removed_from_a_shared_item_is_counted() {
    let mut o = observation("o", None, read(DIAGNOSIS));
    o.free_text = true;
    let (_, d) = decide_items(vec![o, observation("p", None, read(DIAGNOSIS))]);
    assert_eq!(d.free_text_removed, vec![0]);
}

// ---------------------------------------------------------------- practice dissent

/// Refused consent for upload to local shared electronic record (dissent), and consent given
/// for electronic record sharing (permit), from the default consent list.
const DISSENT: &str = "93C1.";
const PERMIT: &str = "425691002";

fn consent_item(code: Coding, when: &str) -> Item {
    Item::of(ItemHead {
        codes: smallvec::smallvec![code],
        effective: Effective {
            center: date(when),
            ..Effective::default()
        },
        ..head("", Element::ObservationStatement, None)
    })
}

fn dissented(items: Vec<Item>) -> bool {
    let ex = ExtractBuilder {
        items,
        ..ExtractBuilder::default()
    };
    let ex = ex.finish();
    practice_dissent(&ex, &policy(), as_of())
}

#[test]
fn a_practice_dissent_withholds_the_patient_and_a_later_consent_lifts_it() {
    assert!(!dissented(vec![observation("o", None, read(DIAGNOSIS))]));
    assert!(dissented(vec![consent_item(read(DISSENT), "20250101")]));
    assert!(!dissented(vec![
        consent_item(read(DISSENT), "20250101"),
        consent_item(snomed(PERMIT), "20250102"),
    ]));
    // The consent first, then the dissent: the dissent stands, in either document order.
    for items in [
        vec![
            consent_item(snomed(PERMIT), "20250101"),
            consent_item(read(DISSENT), "20250102"),
        ],
        vec![
            consent_item(read(DISSENT), "20250102"),
            consent_item(snomed(PERMIT), "20250101"),
        ],
    ] {
        assert!(dissented(items));
    }
}

#[test]
fn a_dissent_in_any_coded_field_of_an_item_counts() {
    let mut as_value = observation("o", None, read(DIAGNOSIS));
    as_value.kind = valued(Value::Coded(vec![read(DISSENT)]));
    assert!(dissented(vec![as_value]));
    let mut carried = observation("o", None, read(DIAGNOSIS));
    carried.carried.push(read(DISSENT));
    assert!(dissented(vec![carried]));
}

#[test]
fn a_dissent_dated_only_by_its_availability_time_uses_it() {
    let mut d = consent_item(read(DISSENT), "20250101");
    d.effective = Effective::default();
    d.availability = date("20250601");
    // A consent before the availability time does not lift it; one after does.
    assert!(dissented(vec![
        d.clone(),
        consent_item(snomed(PERMIT), "20250301")
    ]));
    assert!(!dissented(vec![
        d,
        consent_item(snomed(PERMIT), "20250701")
    ]));
}

#[test]
fn a_dissent_coded_on_the_record_itself_withholds_whatever_else_is_recorded() {
    let ex = ExtractBuilder {
        items: vec![consent_item(snomed(PERMIT), "20260101")],
        record_codings: vec![read(DISSENT)],
        ..ExtractBuilder::default()
    };
    let ex = ex.finish();
    assert!(practice_dissent(&ex, &policy(), as_of()));
}

// ---------------------------------------------------------------- what a problem names

#[test]
fn a_problem_naming_a_statement_inside_a_sensitive_battery_is_withheld() {
    // The statement's own codes are benign; its battery is coded sensitive (issue 24.1).
    let mut battery = item("b", Element::CompoundStatement, None);
    battery.class_code = Some("BATTERY".into());
    battery.codes.push(snomed(SENSITIVE));
    battery.effective.center = date("20260301");
    let items = vec![
        battery,
        placed(result("o", "20260301"), 0),
        problem("o", ACTIVE_PROBLEM),
    ];
    assert_eq!(withheld_for(items, 2), Some(WithheldReason::SensitiveCode));
}

#[test]
fn a_problem_before_the_medication_it_names_follows_the_medication() {
    // Document order puts the problem first; the medication is withheld only through its
    // authorisation, which is decided after both.
    let mut a = authorise();
    a.carried.push(snomed(SENSITIVE));
    let mut items = vec![problem("ms", ACTIVE_PROBLEM)];
    for mut it in medication(a) {
        it.parent = it.parent.map(|p| p + 1);
        items.push(it);
    }
    // A code of its own, so that the problem has something to show but the medication.
    items[1].codes = smallvec::smallvec![read(DIAGNOSIS)];
    let (_, d) = decide_items(items);
    assert_eq!(
        d.items[1].outcome,
        Outcome::Withheld(WithheldReason::SensitiveCode),
        "the medication"
    );
    assert_eq!(
        d.items[0].outcome,
        Outcome::Withheld(WithheldReason::SensitiveCode),
        "the problem naming it"
    );
}

#[test]
fn a_problem_before_the_allergy_it_names_follows_the_allergy() {
    let mut items = vec![problem("a", ACTIVE_PROBLEM)];
    for mut it in allergy(DateField::Absent) {
        it.parent = it.parent.map(|p| p + 1);
        items.push(it);
    }
    items[2].id = "dup".into();
    items.push(observation("dup", None, read(DIAGNOSIS)));
    let (_, d) = decide_items(items);
    assert_eq!(
        d.items[1].outcome,
        Outcome::Withheld(WithheldReason::UnresolvableReference),
        "the allergy"
    );
    assert_eq!(
        d.items[0].outcome,
        Outcome::Withheld(WithheldReason::UnresolvableReference),
        "the problem naming it"
    );
}

#[test]
fn an_item_follows_what_it_depends_on_whatever_the_order_and_keeps_its_own_reason() {
    // GP Connect: a problem depends on what its actualProblem points at (Item::depends_on).
    let mut a = authorise();
    a.carried.push(snomed(SENSITIVE));
    let mut items = vec![observation("o", None, read(DIAGNOSIS))];
    for mut it in medication(a) {
        it.parent = it.parent.map(|p| p + 1);
        items.push(it);
    }
    items[0].depends_on = vec![1].into();
    let (_, d) = decide_items(items.clone());
    assert_eq!(
        d.items[0].outcome,
        Outcome::Withheld(WithheldReason::SensitiveCode)
    );
    // An item already withheld for a reason of its own keeps it.
    items[0].element = Some(Element::NarrativeStatement);
    let (_, d) = decide_items(items);
    assert_eq!(
        d.items[0].outcome,
        Outcome::Withheld(WithheldReason::FreeText)
    );
}

// ---------------------------------------------------------------- roles by code list
// Written for the mutants `cargo mutants` found alive in `classify.rs`, `context.rs`,
// `filter.rs` and `mod.rs` (docs/mutation-testing.md): each rule from the category table
// (`policy/codes/categories.tsv`) and the README's report structure, not from the output.

/// Appendicectomy (`procedures` by the category list).
const PROCEDURE: &str = "80146002";
/// Systolic arterial pressure (`tests` by the category list).
const TEST: &str = "72313002";
/// Reads Farsi (`not-shared`: administrative).
const ADMINISTRATIVE: &str = "416727009";
/// Laboratory reporting (`pathology-report`) and Specimen (`specimen`) compound codes.
const PATHOLOGY_REPORT: &str = "16488004";
const SPECIMEN: &str = "123038009";

fn decision(items: Vec<Item>, i: usize) -> Decision {
    decide_items(items).1.items[i]
}

#[test]
fn a_code_on_the_procedures_list_is_a_procedure() {
    let d = decision(vec![observation("o", None, snomed(PROCEDURE))], 0);
    assert_eq!(d.outcome, Outcome::Shared(Role::Procedure));
    assert_eq!(d.category, Some(Category::Procedures));
}

#[test]
fn a_code_on_the_tests_list_is_a_result_with_or_without_a_value() {
    // Without a value: the list alone makes it a test (a value alone would too).
    let d = decision(vec![observation("o", None, snomed(TEST))], 0);
    assert_eq!(d.outcome, Outcome::Shared(Role::Result { group: None }));
    assert_eq!(d.category, Some(Category::Tests));
}

#[test]
fn a_code_on_the_not_shared_list_is_out_of_scope_as_a_statement_or_a_group() {
    assert_eq!(
        withheld_for(vec![observation("o", None, snomed(ADMINISTRATIVE))], 0),
        Some(WithheldReason::CategoryNotShared)
    );
    let mut g = item("g", Element::CompoundStatement, None);
    g.codes.push(snomed(ADMINISTRATIVE));
    assert_eq!(
        withheld_for(vec![g], 0),
        Some(WithheldReason::CategoryNotShared)
    );
}

fn compound(id: &str, parent: Option<usize>, code: Coding) -> Item {
    Item::of(ItemHead {
        codes: smallvec::smallvec![code],
        effective: Effective {
            center: date("20260301"),
            ..Effective::default()
        },
        ..head(id, Element::CompoundStatement, parent)
    })
}

/// A consultation holding a diagnosis, then a pathology report with a specimen cluster
/// holding a result and a battery of one result, then a battery beside the specimen.
fn report_tree() -> Vec<Item> {
    let mut battery = compound("battery", Some(3), read("44J3."));
    battery.class_code = Some("BATTERY".into());
    let mut beside = compound("beside", Some(2), read("44J3."));
    beside.class_code = Some("BATTERY".into());
    vec![
        item("consultation", Element::EhrComposition, None), // 0
        observation("dx", Some(0), read(DIAGNOSIS)),         // 1
        compound("report", Some(0), snomed(PATHOLOGY_REPORT)), // 2
        compound("specimen", Some(2), snomed(SPECIMEN)),     // 3
        result_in("in-specimen", 3),                         // 4
        battery,                                             // 5
        result_in("in-battery", 5),                          // 6
        beside,                                              // 7
        result_in("in-beside", 7),                           // 8
        result_in("in-report", 2),                           // 9
    ]
}

#[test]
fn a_pathology_report_holds_its_results_through_specimens_and_batteries() {
    let (_, d) = decide_items(report_tree());
    let outcome = |i: usize| d.items[i].outcome;
    assert_eq!(outcome(2), Outcome::Shared(Role::DiagnosticReport));
    assert_eq!(d.items[2].category, Some(Category::Investigations));
    assert_eq!(
        outcome(3),
        Outcome::Container,
        "a specimen is no result group"
    );
    assert_eq!(
        outcome(4),
        Outcome::Shared(Role::Result { group: Some(2) }),
        "a result in a specimen belongs to the report around it"
    );
    assert_eq!(
        outcome(5),
        Outcome::Shared(Role::ResultGroup { report: Some(2) }),
        "a battery in a specimen belongs to the report"
    );
    assert_eq!(outcome(6), Outcome::Shared(Role::Result { group: Some(5) }));
    assert_eq!(
        outcome(7),
        Outcome::Shared(Role::ResultGroup { report: Some(2) })
    );
    assert_eq!(outcome(8), Outcome::Shared(Role::Result { group: Some(7) }));
    assert_eq!(outcome(9), Outcome::Shared(Role::Result { group: Some(2) }));
}

#[test]
fn a_result_in_a_group_outside_any_report_belongs_to_the_group() {
    let mut g = compound("g", None, read("44J3."));
    g.class_code = Some("BATTERY".into());
    let (_, d) = decide_items(vec![g, result_in("r", 0)]);
    assert_eq!(
        d.items[0].outcome,
        Outcome::Shared(Role::ResultGroup { report: None })
    );
    assert_eq!(
        d.items[1].outcome,
        Outcome::Shared(Role::Result { group: Some(0) })
    );
    // A plain compound is a container: what it holds is judged on its own.
    let mut c = compound("c", None, read("44J3."));
    c.class_code = Some("OBS".into());
    let (_, d) = decide_items(vec![c, result_in("r", 0)]);
    assert_eq!(d.items[0].outcome, Outcome::Container);
    assert_eq!(
        d.items[1].outcome,
        Outcome::Shared(Role::Result { group: None })
    );
}

/// A medication with its authorisation (items 0, 1), and a second statement (2) holding
/// only an issue (3) made under the first one's authorisation.
fn issued_elsewhere() -> Vec<Item> {
    let mut items = medication(authorise());
    items.push(Item {
        head: head("ms2", Element::MedicationStatement, None),
        kind: drug(),
    });
    items.push(Item {
        head: head("issue", Element::EhrSupplyPrescribe, Some(2)),
        kind: supply(None, Some("auth")),
    });
    items
}

#[test]
fn an_issue_belongs_to_the_medication_whose_authorisation_it_fulfils() {
    let (_, d) = decide_items(issued_elsewhere());
    assert_eq!(
        d.items[0].outcome,
        Outcome::Shared(Role::Medication { authorise: 1 })
    );
    assert_eq!(
        d.items[2].outcome,
        Outcome::PartOf(0),
        "the issue's statement"
    );
    assert_eq!(d.items[3].outcome, Outcome::PartOf(2), "the issue");
    assert_eq!(
        d.members.issues(0),
        [3],
        "listed under the first medication"
    );
    assert_eq!(d.members.medications_with_issues(), 1);
}

#[test]
fn an_issue_under_its_own_medication_is_listed_with_it() {
    let mut items = medication(authorise());
    items.push(Item {
        head: head("issue", Element::EhrSupplyPrescribe, Some(0)),
        kind: supply(None, Some("auth")),
    });
    let (_, d) = decide_items(items);
    assert_eq!(d.items[2].outcome, Outcome::PartOf(0));
    assert_eq!(d.members.issues(0), [2]);
}

#[test]
fn a_problem_naming_a_medication_that_is_not_current_is_still_shared() {
    // Not current is the medication's scope, not a fault in what the problem means.
    let mut a = authorise();
    a.effective.high = date("20250101");
    let mut items = vec![problem("ms", ACTIVE_PROBLEM)];
    for mut it in medication(a) {
        it.parent = it.parent.map(|p| p + 1);
        items.push(it);
    }
    items[1].codes = smallvec::smallvec![read(DIAGNOSIS)];
    let (_, d) = decide_items(items);
    assert_eq!(
        d.items[1].outcome,
        Outcome::Withheld(WithheldReason::NotCurrent)
    );
    assert_eq!(
        d.items[0].outcome,
        Outcome::Shared(Role::Problem { named: 1 })
    );
}

#[test]
fn an_item_depending_on_one_withheld_for_scope_is_still_shared() {
    let mut o = observation("o", None, read(DIAGNOSIS));
    o.depends_on = vec![1].into();
    let items = vec![o, result("r", "20100101")];
    let (_, d) = decide_items(items);
    assert_eq!(
        d.items[1].outcome,
        Outcome::Withheld(WithheldReason::OutsideWindow)
    );
    assert_eq!(d.items[0].outcome, Outcome::Shared(Role::Diagnosis));
}

// ---------------------------------------------------------------- entered in error, placements

#[test]
fn an_item_entered_in_error_is_never_shared() {
    let mut o = observation("o", None, read(DIAGNOSIS));
    o.entered_in_error = true;
    assert_eq!(
        withheld_for(vec![o], 0),
        Some(WithheldReason::EnteredInError)
    );
    // Whatever else would withhold it: it is not part of the record.
    let mut uncoded = item("u", Element::ObservationStatement, None);
    uncoded.entered_in_error = true;
    assert_eq!(
        withheld_for(vec![uncoded], 0),
        Some(WithheldReason::EnteredInError)
    );
}

#[test]
fn an_item_its_scope_leaves_out_keeps_that_reason_when_entered_in_error() {
    let mut plan = item("p", Element::PlanStatement, None);
    plan.codes.push(read(DIAGNOSIS));
    plan.entered_in_error = true;
    assert_eq!(
        withheld_for(vec![plan], 0),
        Some(WithheldReason::CategoryNotShared)
    );
}

#[test]
fn the_part_giving_an_item_its_meaning_entered_in_error_withholds_it() {
    // A problem's named statement.
    let mut o = observation("o", None, read(DIAGNOSIS));
    o.entered_in_error = true;
    assert_eq!(
        withheld_for(vec![o, problem("o", ACTIVE_PROBLEM)], 1),
        Some(WithheldReason::EnteredInError)
    );
    // An allergy's allergen.
    let mut items = allergy(DateField::Absent);
    items[1].entered_in_error = true;
    assert_eq!(withheld_for(items, 0), Some(WithheldReason::EnteredInError));
    // A medication's authorisation.
    let mut a = authorise();
    a.entered_in_error = true;
    assert_eq!(
        withheld_for(medication(a), 0),
        Some(WithheldReason::EnteredInError)
    );
}

#[test]
fn an_unresolved_placement_of_the_item_itself_withholds_it() {
    let mut o = observation("o", None, read(DIAGNOSIS));
    o.unresolved_placement = true;
    assert_eq!(
        withheld_for(vec![o], 0),
        Some(WithheldReason::UnresolvableReference)
    );
}

#[test]
fn a_unit_the_list_does_not_know_is_counted_as_removed_detail() {
    let odd = {
        Item {
            head: result("r", "20260301").head,
            kind: valued(Value::Quantity {
                value: "5".into(),
                unit: Some("furlongs".into()),
            }),
        }
    };
    let (ex, d) = decide_items(vec![odd, result("s", "20260301")]);
    assert!(!ex.items[0].free_text, "no free text of its own");
    assert_eq!(d.free_text_removed, vec![0]);
}

#[test]
fn a_part_follows_the_item_at_the_top_of_its_chain_at_any_depth() {
    // A supply inside a supply inside the authorisation: each a part of the one above.
    let mut items = medication(authorise());
    items.push(Item {
        head: head("a2", Element::EhrSupplyAuthorise, Some(1)),
        kind: supply(None, None),
    });
    items.push(Item {
        head: head("a3", Element::EhrSupplyAuthorise, Some(2)),
        kind: supply(None, None),
    });
    let (_, d) = decide_items(items);
    assert_eq!(
        d.items[0].outcome,
        Outcome::Shared(Role::Medication { authorise: 1 })
    );
    assert_eq!(d.items[2].outcome, Outcome::PartOf(1));
    assert_eq!(d.items[3].outcome, Outcome::PartOf(2), "three levels down");
}

#[test]
fn parts_that_are_parts_of_each_other_are_unresolvable_and_decided_in_time() {
    // An issue-only statement whose issue fulfils an authorisation nested inside that
    // issue: the statement and the issue are each a part of the other.
    let items = vec![
        Item {
            head: head("ms", Element::MedicationStatement, None),
            kind: drug(),
        },
        Item {
            head: head("issue", Element::EhrSupplyPrescribe, Some(0)),
            kind: supply(None, Some("a")),
        },
        Item {
            head: head("a", Element::EhrSupplyAuthorise, Some(1)),
            kind: supply(Some(1), None),
        },
    ];
    let (_, d) = decide_items(items);
    for i in 0..3 {
        assert_eq!(
            d.items[i].outcome,
            Outcome::Withheld(WithheldReason::UnresolvableReference),
            "item {i}"
        );
    }
}

#[test]
fn an_unclassifiable_item_coded_only_by_an_unresolvable_description_says_so() {
    // No value, no list: unclassified, and the reason names the code it could not resolve.
    let o = observation("o", None, snomed(&unknown_description_id()));
    assert_eq!(
        withheld_for(vec![o], 0),
        Some(WithheldReason::UnresolvedCode)
    );
}

#[test]
fn a_problem_is_checked_against_the_codes_of_the_statement_naming_it() {
    // The problem's own code (active problem) is valid; the named statement's is not.
    let o = observation("o", None, snomed("195967002"));
    assert_eq!(
        withheld_for(vec![o, problem("o", ACTIVE_PROBLEM)], 1),
        Some(WithheldReason::InvalidCode)
    );
}

#[test]
fn an_act_the_source_says_was_not_done_is_shared_only_as_a_procedure() {
    let mut vaccination = observation("v", None, snomed(PROCEDURE));
    vaccination.not_done = true;
    assert_eq!(
        outcome_of(vec![vaccination], 0),
        Outcome::Shared(Role::Procedure)
    );
    let mut diagnosis = observation("d", None, read(DIAGNOSIS));
    diagnosis.not_done = true;
    assert_eq!(
        withheld_for(vec![diagnosis], 0),
        Some(WithheldReason::CategoryNotShared)
    );
}

#[test]
fn a_snomed_relationship_id_is_no_code_and_no_unresolved_description() {
    // Partition 02: a relationship, never a clinical code. Invalid, not "unresolved".
    let relationship = (0..10)
        .map(|d| format!("12345602{d}"))
        .find(|c| parse_sctid(c).is_ok_and(|id| id.kind == SctIdKind::Relationship))
        .expect("a relationship id with a valid check digit");
    let o = observation("o", None, snomed(&relationship));
    let mut r = result("r", "20260301");
    r.codes = smallvec::smallvec![snomed(&relationship)];
    assert_eq!(withheld_for(vec![r], 0), Some(WithheldReason::InvalidCode));
    assert_eq!(withheld_for(vec![o], 0), Some(WithheldReason::Unclassified));
}

#[test]
fn a_permit_that_grants_nothing_does_not_lift_a_dissent() {
    // A permit code on (or inside) a Consent migx cannot read as a clear permission.
    let mut permit = consent_item(snomed(PERMIT), "20250102");
    permit.grants_nothing = true;
    assert!(dissented(vec![
        consent_item(read(DISSENT), "20250101"),
        permit.clone()
    ]));
    permit.grants_nothing = false;
    assert!(!dissented(vec![
        consent_item(read(DISSENT), "20250101"),
        permit
    ]));
}

#[test]
fn the_part_giving_an_item_its_meaning_refuted_by_the_source_withholds_it() {
    // A problem's named statement.
    let mut o = observation("o", None, read(DIAGNOSIS));
    o.verification = Some("refuted");
    assert_eq!(
        withheld_for(vec![o, problem("o", ACTIVE_PROBLEM)], 1),
        Some(WithheldReason::Refuted)
    );
    // An allergy's allergen.
    let mut items = allergy(DateField::Absent);
    items[1].verification = Some("refuted");
    assert_eq!(withheld_for(items, 0), Some(WithheldReason::Refuted));
    // A medication's authorisation.
    let mut a = authorise();
    a.verification = Some("refuted");
    assert_eq!(
        withheld_for(medication(a), 0),
        Some(WithheldReason::Refuted)
    );
}
