//! The patient admission rules of [`share`] and [`consent_window`], written from the
//! README's rules table and `policy/README.md` (issue 22): each validity boundary on both
//! sides, a missing recorded time in each origin, and requester matching that permits only
//! the requesters named.

use super::admission::consent_window;
use super::convert::share;
use super::*;
use crate::consent::ConsentBook;
use crate::consent::{ConsentDecision, ConsentOrigin, ConsentRecord};
use crate::ehr::model::{Element, Extract};
use crate::ehr::ts::Ts;
use crate::error::ErrorCode;
use crate::outcome::PatientWithheld;
use crate::policy::config::ConsentValidity;
use crate::policy::Policy;
use chrono::DateTime;
use std::sync::Arc;

/// 10:00 on 14 March 2026, UK time (GMT then).
const AS_OF: &str = "20260314100000";

fn as_of() -> Ts {
    Ts::parse(AS_OF).expect("as-of")
}

fn record(at: Option<&str>, origin: ConsentOrigin) -> ConsentRecord {
    ConsentRecord {
        decision: ConsentDecision::Permit,
        recorded_at: at.map(|a| DateTime::parse_from_rfc3339(a).expect("rfc3339")),
        requester_ods: "Y02345".into(),
        requester_name: None,
        requester_person: None,
        purpose: "TREAT".into(),
        origin,
    }
}

fn row(at: &str) -> ConsentRecord {
    record(Some(at), ConsentOrigin::FileRow { line: 2 })
}

fn valid(at: &str, validity: ConsentValidity) -> bool {
    consent_window(&row(at), as_of(), validity).is_ok()
}

#[test]
fn encounter_day_consent_is_valid_from_midnight_to_the_as_of_time() {
    let day = ConsentValidity::EncounterDay;
    assert!(valid("2026-03-14T00:00:00+00:00", day));
    assert!(valid("2026-03-14T09:59:59+00:00", day));
    assert!(valid("2026-03-14T10:00:00+00:00", day));
    // The day before, by one second.
    assert!(!valid("2026-03-13T23:59:59+00:00", day));
    // After the as-of time, by one second: it was not recorded yet.
    assert!(!valid("2026-03-14T10:00:01+00:00", day));
}

#[test]
fn encounter_day_is_the_uk_local_day_whatever_offset_the_row_uses() {
    let day = ConsentValidity::EncounterDay;
    // 23:30 on the 13th at -01:00 is 00:30 on the 14th in the UK (GMT).
    assert!(valid("2026-03-13T23:30:00-01:00", day));
    // 00:30 on the 14th at +01:00 is 23:30 on the 13th in the UK.
    assert!(!valid("2026-03-14T00:30:00+01:00", day));
}

#[test]
fn encounter_day_consent_is_valid_until_the_end_of_that_day() {
    let until = consent_window(
        &row("2026-03-14T08:00:00+00:00"),
        as_of(),
        ConsentValidity::EncounterDay,
    )
    .expect("valid");
    assert_eq!(until.as_deref(), Some("2026-03-14T23:59:59+00:00"));
}

#[test]
fn an_hours_window_includes_its_last_second_and_not_the_next() {
    let four = ConsentValidity::Hours(4);
    assert!(valid("2026-03-14T06:00:00+00:00", four));
    assert!(!valid("2026-03-14T05:59:59+00:00", four));
    // Across midnight: an hours window does not stop at the day's end.
    assert!(consent_window(
        &row("2026-03-13T23:00:00+00:00"),
        Ts::parse("20260314010000").expect("ts"),
        ConsentValidity::Hours(2),
    )
    .is_ok());
    assert!(!valid("2026-03-14T10:00:01+00:00", four));
    let until = consent_window(&row("2026-03-14T06:00:00+00:00"), as_of(), four).expect("valid");
    assert_eq!(until.as_deref(), Some("2026-03-14T10:00:00Z"));
}

#[test]
fn a_file_row_without_a_recorded_time_is_never_valid_and_an_operator_assertion_is() {
    for validity in [ConsentValidity::EncounterDay, ConsentValidity::Hours(24)] {
        let undated = record(None, ConsentOrigin::FileRow { line: 2 });
        assert!(consent_window(&undated, as_of(), validity).is_err());
        let asserted = record(None, ConsentOrigin::OperatorAssertion);
        assert_eq!(consent_window(&asserted, as_of(), validity), Ok(None));
    }
}

#[test]
fn only_the_requesters_a_policy_names_are_permitted() {
    let json = crate::policy::config::DEFAULT_POLICY_JSON.replace(
        "\"permitted_requesters\": []",
        "\"permitted_requesters\": [{ \"ods_code\": \"Y02345\", \"name\": \"County OOH\", \"role\": \"out-of-hours\" }]",
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policy");
    let policy = Policy::from_json_str(&json, "test", dir).expect("policy");
    assert!(policy.requester("Y02345").is_some());
    assert!(
        policy.requester(" y02345 ").is_some(),
        "ODS codes are case-insensitive"
    );
    for other in ["RX1", "Y0234", "Y023456", "", "*"] {
        assert!(policy.requester(other).is_none(), "{other:?}");
    }
    assert!(policy.is_purpose_permitted("TREAT"));
    assert!(policy.is_purpose_permitted("ETREAT"));
    for other in ["treat", "RESEARCH", "", "TREAT,RESEARCH"] {
        assert!(!policy.is_purpose_permitted(other), "{other:?}");
    }
    let empty = Policy::embedded_default().expect("policy");
    assert!(
        empty.requester("Y02345").is_none(),
        "no requester by default"
    );
}

// The patient-level checks of `share`, in their order, each on both sides (issue 22):
// one patient with a shaped, valid NHS number; an as-of time; no practice dissent; a
// point-of-care decision that permits, from a permitted requester, for a permitted purpose,
// recorded no later than the claimed time.

/// A one-item record (an asthma diagnosis of 2026-03-01) for the patients `nhs`, created at
/// the as-of time (or undated).
fn extract_for(
    nhs: &[&str],
    created: Option<&str>,
    extra: Vec<crate::ehr::model::Item>,
) -> Extract {
    use crate::codes::{CodeSystem, Coding};
    use crate::ehr::model::{DateField, Effective, ExtractBuilder, Item, ItemHead};
    let mut items = vec![Item::of(ItemHead {
        id: "a1".into(),
        codes: smallvec::smallvec![Coding::new(CodeSystem::ReadV2, "H33..")],
        effective: Effective {
            center: DateField::from_hl7("20260301"),
            ..Effective::default()
        },
        ..ItemHead::new(Element::ObservationStatement)
    })];
    items.extend(extra);
    ExtractBuilder {
        nhs_numbers: nhs.iter().map(|s| s.to_string()).collect(),
        created: created.map_or(DateField::Absent, DateField::from_hl7),
        practice_ods: Some("A12345".into()),
        items,
        ..ExtractBuilder::default()
    }
    .finish()
}

const VALID: &str = "9434765919";

fn csv(rows: &str) -> ConsentBook {
    ConsentBook::parse(
        format!("nhs_number,decision,recorded_at,requester_ods,requester_name,purpose\n{rows}")
            .as_bytes(),
        "t.csv",
        false,
    )
    .expect("consent csv")
}

fn permit_row(nhs: &str, at: &str, ods: &str) -> String {
    format!("{nhs},permit,{at},{ods},OOH,TREAT\n")
}

fn settings_for(book: ConsentBook, run_requesters: &[&str]) -> ConvertSettings {
    let mut s = ConvertSettings::new(
        Arc::new(Policy::embedded_default().expect("policy")),
        Arc::new(book),
    );
    s.run_permitted_requesters = run_requesters.iter().map(|r| r.to_string()).collect();
    s
}

/// What `share` made of it: the status, the patient reason, the error code.
fn admit(
    ex: &Extract,
    s: &ConvertSettings,
) -> (Status, Option<PatientWithheld>, Option<ErrorCode>) {
    // The source's SHA-256, as the Provenance names it.
    let c = share(ex, &"0".repeat(64), 0, s);
    assert_eq!(c.bundle.is_some(), c.status == Status::Converted);
    (c.status, c.withheld, c.error.map(|e| e.code))
}

fn converted(ex: &Extract, s: &ConvertSettings) -> bool {
    admit(ex, s).0 == Status::Converted
}

fn withheld_as(ex: &Extract, s: &ConvertSettings) -> Option<PatientWithheld> {
    let (status, reason, _) = admit(ex, s);
    assert!(status != Status::Converted || reason.is_none());
    reason
}

fn rejected_as(ex: &Extract, s: &ConvertSettings) -> Option<ErrorCode> {
    admit(ex, s).2
}

#[test]
fn one_patient_with_a_valid_nhs_number_and_a_permit_is_shared() {
    let ex = extract_for(&[VALID], Some(AS_OF), vec![]);
    let s = settings_for(
        csv(&permit_row(VALID, "2026-03-14T09:55:00+00:00", "Y02345")),
        &["Y02345"],
    );
    assert!(converted(&ex, &s));
    let c = share(&ex, &"0".repeat(64), 0, &s);
    assert_eq!(c.nhs_number.as_deref(), Some(VALID));
    assert_eq!(c.as_of, Some(as_of()));
}

#[test]
fn more_than_one_patient_is_rejected_one_is_not() {
    let s = settings_for(
        ConsentBook::all(ConsentDecision::Permit, "Y02345", "TREAT"),
        &["Y02345"],
    );
    assert!(converted(&extract_for(&[VALID], Some(AS_OF), vec![]), &s));
    for two in [[VALID, "9000000009"], [VALID, VALID]] {
        assert_eq!(
            rejected_as(&extract_for(&two, Some(AS_OF), vec![]), &s),
            Some(ErrorCode::MultiplePatients)
        );
    }
}

#[test]
fn an_nhs_number_must_be_ten_digits_and_pass_modulus_11_unless_test_identities_are_allowed() {
    let mut s = settings_for(
        ConsentBook::all(ConsentDecision::Permit, "Y02345", "TREAT"),
        &["Y02345"],
    );
    for missing in ["", "   "] {
        assert_eq!(
            rejected_as(&extract_for(&[missing], Some(AS_OF), vec![]), &s),
            Some(ErrorCode::MissingNhsNumber),
            "{missing:?}"
        );
    }
    assert_eq!(
        rejected_as(&extract_for(&[], Some(AS_OF), vec![]), &s),
        Some(ErrorCode::MissingNhsNumber)
    );
    // Fails modulus 11: rejected for real identities, a test identity when allowed.
    let test_identity = "9434765918";
    assert_eq!(
        rejected_as(&extract_for(&[test_identity], Some(AS_OF), vec![]), &s),
        Some(ErrorCode::InvalidNhsNumber)
    );
    // Not the shape of an NHS number: rejected whether or not test identities are allowed.
    let unshaped = [
        "943476591",
        "94347659190",
        "943476591X",
        "９４３４７６５９１９",
        "94347 6591",
    ];
    for allow in [false, true] {
        s.allow_test_identities = allow;
        for n in unshaped {
            assert_eq!(
                rejected_as(&extract_for(&[n], Some(AS_OF), vec![]), &s),
                Some(ErrorCode::InvalidNhsNumber),
                "{n:?} allow_test_identities={allow}"
            );
        }
    }
    s.allow_test_identities = true;
    assert!(converted(
        &extract_for(&[test_identity], Some(AS_OF), vec![]),
        &s
    ));
    assert!(converted(&extract_for(&[VALID], Some(AS_OF), vec![]), &s));
}

#[test]
fn no_as_of_time_withholds_and_an_as_of_option_supplies_one() {
    let mut s = settings_for(
        ConsentBook::all(ConsentDecision::Permit, "Y02345", "TREAT"),
        &["Y02345"],
    );
    let undated = extract_for(&[VALID], None, vec![]);
    assert_eq!(
        withheld_as(&undated, &s),
        Some(PatientWithheld::AsOfUnknown)
    );
    s.as_of = Some(as_of());
    assert!(converted(&undated, &s));
}

#[test]
fn a_practice_dissent_withholds_whatever_the_point_of_care_decision() {
    use crate::codes::{CodeSystem, Coding};
    use crate::ehr::model::{DateField, Effective, Item, ItemHead};
    let dissent = Item::of(ItemHead {
        id: "d1".into(),
        // consent.tsv: 416409005 refused consent for upload to local shared record (dissent).
        codes: smallvec::smallvec![Coding::new(CodeSystem::Snomed, "416409005")],
        effective: Effective {
            center: DateField::from_hl7("20260201"),
            ..Effective::default()
        },
        ..ItemHead::new(Element::ObservationStatement)
    });
    let s = settings_for(
        csv(&permit_row(VALID, "2026-03-14T09:55:00+00:00", "Y02345")),
        &["Y02345"],
    );
    assert_eq!(
        withheld_as(&extract_for(&[VALID], Some(AS_OF), vec![dissent]), &s),
        Some(PatientWithheld::DissentRecorded)
    );
}

#[test]
fn the_point_of_care_decision_must_exist_be_readable_and_permit() {
    let ex = extract_for(&[VALID], Some(AS_OF), vec![]);
    let at = "2026-03-14T09:55:00+00:00";
    let none = settings_for(csv(&permit_row("9000000009", at, "Y02345")), &["Y02345"]);
    assert_eq!(
        withheld_as(&ex, &none),
        Some(PatientWithheld::NoConsentDecision)
    );
    let bad = settings_for(
        csv(&format!("{VALID},maybe,{at},Y02345,OOH,TREAT\n")),
        &["Y02345"],
    );
    assert_eq!(
        withheld_as(&ex, &bad),
        Some(PatientWithheld::ConsentRowInvalid)
    );
    let deny = settings_for(
        csv(&format!("{VALID},deny,{at},Y02345,OOH,TREAT\n")),
        &["Y02345"],
    );
    assert_eq!(
        withheld_as(&ex, &deny),
        Some(PatientWithheld::ConsentDenied)
    );
    let asserted_deny = settings_for(
        ConsentBook::all(ConsentDecision::Deny, "Y02345", "TREAT"),
        &["Y02345"],
    );
    assert_eq!(
        withheld_as(&ex, &asserted_deny),
        Some(PatientWithheld::ConsentDenied)
    );
}

#[test]
fn a_requester_is_permitted_by_the_policy_or_by_the_run_and_by_nothing_else() {
    let ex = extract_for(&[VALID], Some(AS_OF), vec![]);
    let row = permit_row(VALID, "2026-03-14T09:55:00+00:00", "Y02345");
    // Listed for this run only, in any case.
    for run in [["Y02345"], ["y02345"]] {
        assert!(converted(&ex, &settings_for(csv(&row), &run)), "{run:?}");
    }
    // Listed nowhere, or another organisation listed.
    assert_eq!(
        withheld_as(&ex, &settings_for(csv(&row), &[])),
        Some(PatientWithheld::RequesterNotPermitted)
    );
    assert_eq!(
        withheld_as(&ex, &settings_for(csv(&row), &["RX1", "Y0234"])),
        Some(PatientWithheld::RequesterNotPermitted)
    );
    // Listed in the policy, nothing for the run.
    let json = crate::policy::config::DEFAULT_POLICY_JSON.replace(
        "\"permitted_requesters\": []",
        "\"permitted_requesters\": [{ \"ods_code\": \"Y02345\", \"name\": \"County OOH\", \"role\": \"out-of-hours\" }]",
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policy");
    let mut s = settings_for(csv(&row), &[]);
    s.policy = Arc::new(Policy::from_json_str(&json, "test", dir).expect("policy"));
    assert!(converted(&ex, &s));
    let other = permit_row(VALID, "2026-03-14T09:55:00+00:00", "RX1");
    s.consent = Arc::new(csv(&other));
    assert_eq!(
        withheld_as(&ex, &s),
        Some(PatientWithheld::RequesterNotPermitted)
    );
}

#[test]
fn a_purpose_the_policy_does_not_list_withholds() {
    let ex = extract_for(&[VALID], Some(AS_OF), vec![]);
    for (purpose, ok) in [
        ("TREAT", true),
        ("ETREAT", true),
        ("RESEARCH", false),
        ("treat", false),
    ] {
        let s = settings_for(
            ConsentBook::all(ConsentDecision::Permit, "Y02345", purpose),
            &["Y02345"],
        );
        if ok {
            assert!(converted(&ex, &s), "{purpose}");
        } else {
            assert_eq!(
                withheld_as(&ex, &s),
                Some(PatientWithheld::PurposeNotPermitted),
                "{purpose}"
            );
        }
    }
}

#[test]
fn a_decision_recorded_after_the_claimed_time_grants_nothing() {
    let ex = extract_for(&[VALID], Some(AS_OF), vec![]);
    // The claimed time is the extract's creation, 2026-03-14 10:00 GMT.
    for (at, ok) in [
        ("2026-03-14T10:00:00+00:00", true),
        ("2026-03-14T11:00:00+01:00", true),
        ("2026-03-14T10:00:01+00:00", false),
        ("2026-03-14T09:59:59+00:00", true),
    ] {
        let s = settings_for(csv(&permit_row(VALID, at, "Y02345")), &["Y02345"]);
        if ok {
            assert!(converted(&ex, &s), "{at}");
        } else {
            assert_eq!(
                withheld_as(&ex, &s),
                Some(PatientWithheld::ConsentOutsideWindow),
                "{at}"
            );
        }
    }
}

#[test]
fn encounter_day_is_the_uk_local_day_in_summer_time_too() {
    // 10:00 on 15 July 2026, UK time (BST, UTC+1).
    let as_of = Ts::parse("20260715100000").expect("ts");
    let day = ConsentValidity::EncounterDay;
    let valid_at = |at: &str| consent_window(&row(at), as_of, day).is_ok();
    // 23:30 UTC on the 14th is 00:30 on the 15th in the UK: the same day.
    assert!(valid_at("2026-07-14T23:30:00+00:00"));
    // 22:30 UTC on the 14th is 23:30 on the 14th in the UK: the day before.
    assert!(!valid_at("2026-07-14T22:30:00+00:00"));
    let until = consent_window(&row("2026-07-15T08:00:00+00:00"), as_of, day).expect("valid");
    assert_eq!(until.as_deref(), Some("2026-07-15T23:59:59+01:00"));
}

#[test]
fn a_decision_recorded_after_the_moment_of_the_run_is_never_valid() {
    // An as-of time in the future (`--as-of`): a decision "recorded" before it but after
    // the run itself cannot have been given yet.
    let as_of = Ts::parse("20990101100000").expect("ts");
    for validity in [ConsentValidity::EncounterDay, ConsentValidity::Hours(48)] {
        assert!(consent_window(&row("2099-01-01T09:00:00+00:00"), as_of, validity).is_err());
    }
    // The same window now: valid, so the refusal above is the clock's, not the window's.
    assert!(valid(
        "2026-03-14T09:00:00+00:00",
        ConsentValidity::Hours(48)
    ));
}
