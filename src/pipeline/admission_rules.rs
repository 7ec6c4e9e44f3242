//! The patient admission rules of [`release`] and [`consent_window`], written from the
//! README's rules table and `policy/README.md` (issue 22): each validity boundary on both
//! sides, a missing recorded time in each origin, and requester matching that permits only
//! the requesters named.

use super::*;
use crate::consent::{ConsentDecision, ConsentOrigin, ConsentRecord};
use crate::policy::config::ConsentValidity;
use chrono::DateTime;

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
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/policy");
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
