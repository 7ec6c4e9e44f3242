//! Issue 24.11: the time currency is judged at can never be earlier than the latest date in
//! the record it judges, in both formats. A creation time (XML `creationTime`) or GP Connect
//! `Bundle.meta.lastUpdated` older than the record's contents must not make items that ended
//! in between look current; a date after the moment of the run (a placeholder such as
//! `99991231`) must not move the judged time to year 9999: the record is withheld
//! `dated-in-future`. What grants (the point-of-care decision) is still held to the claimed
//! time.

use crate::common;
use common::*;
use serde_json::Value;

/// What one conversion of `bytes` (as `name`) decided: the file line and the item lines of
/// the audit, and the bundle when one was disclosed.
struct Run {
    file: Value,
    items: Vec<Value>,
    bundle: Option<Value>,
}

impl Run {
    /// The reason the audit gives for item `id` (`None` when it was shared).
    fn reason(&self, id: &str) -> Option<String> {
        self.items
            .iter()
            .find(|l| l["source_id"] == id)
            .map(|l| l["reason"].as_str().unwrap_or_default().to_string())
    }
    fn status(&self) -> (&str, &str) {
        (
            self.file["status"].as_str().unwrap_or_default(),
            self.file["reason"].as_str().unwrap_or_default(),
        )
    }
    /// The `date` of every category `List` (the judged time).
    fn list_dates(&self) -> Vec<String> {
        let b = self.bundle.as_ref().expect("a bundle");
        b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] == "List")
            .map(|r| r["date"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Convert one file, with an operator-asserted permit (`consent` = None) or a consent file.
fn convert(name: &str, bytes: &[u8], consent: Option<&str>, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join(name), bytes).unwrap();
    let out = dir.path().join("out");
    let o = match consent {
        None => convert_permit_all(&input, &out, extra),
        Some(rows) => {
            let csv = dir.path().join("consent.csv");
            let header = "nhs_number,decision,recorded_at,requester_ods,requester_name,purpose\n";
            std::fs::write(&csv, format!("{header}{rows}\n")).unwrap();
            convert_with_consent(&input, &csv, &out, extra)
        }
    };
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = read_ndjson(&out.join("audit.ndjson"));
    let file = lines.iter().find(|l| l["kind"] == "file").unwrap().clone();
    let items = lines.into_iter().filter(|l| l["kind"] == "item").collect();
    let stem = name.rsplit_once('.').unwrap().0;
    let bundle = std::fs::read(out.join("bundles").join(format!("{stem}.json")))
        .ok()
        .map(|b| serde_json::from_slice(&b).unwrap());
    Run {
        file,
        items,
        bundle,
    }
}

fn xml_fixture() -> String {
    std::fs::read_to_string(root().join("fixtures/extracts/03-medications.xml")).unwrap()
}

/// The fixture's creation time; it also stamps the extract and the folder.
const XML_CREATED: &str = "20260314100000";
/// A medication that ended 2025-09-01; the record's latest entry is 2026-01-05 09:00.
const XML_ENDED: &str = "3524ef8b-2c51-5597-8c47-e77bca2caa72";
/// A medication authorised until 2026-09-01 and discontinued on 2025-10-15.
const XML_STOPPED: &str = "70552f34-21c3-5235-96a6-6438267c0d66";
/// A medication running from 2026-01-05 to 2026-07-05.
const XML_RUNNING: &str = "3c5dda32-3bbb-5df8-afd4-fc0306f94b28";

#[test]
fn xml_creation_time_before_the_contents_does_not_make_ended_items_current() {
    let src = xml_fixture();
    let original = convert("m.xml", src.as_bytes(), None, &[]);
    assert_eq!(original.status(), ("converted", ""));
    let ended = |r: &Run, early: &str| {
        for id in [XML_ENDED, XML_STOPPED] {
            assert_eq!(r.reason(id).as_deref(), Some("not-current"), "{id} {early}");
        }
        assert_eq!(r.reason(XML_RUNNING), None, "{early}");
    };
    ended(&original, XML_CREATED);
    // Every creation time before the record's latest entry (including times when the ended
    // medications were still running): judged at that entry instead.
    for early in [
        "20251231235959",
        "20251001",
        "20250801100000",
        "202503",
        "2000",
    ] {
        let doc = src.replace(XML_CREATED, early);
        let r = convert("m.xml", doc.as_bytes(), None, &[]);
        assert_eq!(r.status(), ("converted", ""), "{early}");
        ended(&r, early);
        for d in r.list_dates() {
            assert_eq!(d, "2026-01-05T09:00:00+00:00", "{early}");
        }
    }
}

#[test]
fn an_as_of_before_the_contents_is_moved_to_the_latest_entry() {
    let src = xml_fixture();
    for early in ["2025-08-01", "2000-01-01"] {
        let r = convert("m.xml", src.as_bytes(), None, &["--as-of", early]);
        assert_eq!(r.status(), ("converted", ""), "{early}");
        for id in [XML_ENDED, XML_STOPPED] {
            assert_eq!(r.reason(id).as_deref(), Some("not-current"), "{id} {early}");
        }
        for d in r.list_dates() {
            assert_eq!(d, "2026-01-05T09:00:00+00:00", "{early}");
        }
    }
    // A later --as-of is kept.
    let r = convert("m.xml", src.as_bytes(), None, &["--as-of", "2026-06-01"]);
    assert!(r.list_dates().iter().all(|d| d.starts_with("2026-06-01")));
}

/// `99991231` (and any date after the run) as a recorded date or the start of an event, at
/// every such position of the XML fixture: withheld `dated-in-future`, never judged at 9999.
/// The start of an intent (a medication or authorisation, mood `INT`) may lie in the future.
#[test]
fn xml_dates_after_the_run_withhold_the_record_wherever_they_sit() {
    let src = xml_fixture();
    // Every recorded date and every start or point of the fixture, one at a time.
    let positions: Vec<(usize, &str)> = src
        .match_indices("availabilityTime value=\"")
        .chain(src.match_indices("<low value=\""))
        .chain(src.match_indices("<center value=\""))
        .collect();
    assert!(positions.len() > 20, "{}", positions.len());
    let (mut withheld, mut intents) = (0, 0);
    for (at, attr) in &positions {
        let start = at + attr.len();
        let end = start + src[start..].find('"').unwrap();
        // The extract's and the folder's own stamps are not entries of the record.
        if !src[..start].contains("<ehrComposition") {
            continue;
        }
        // The mood of the statement the date belongs to (its start tag is the last one
        // before its effectiveTime).
        let mood = src[..start]
            .rsplit("moodCode=\"")
            .next()
            .unwrap_or_default();
        let intent = attr.starts_with('<') && !mood.starts_with("EVN");
        for future in ["99991231", "21000101"] {
            let doc = format!("{}{future}{}", &src[..start], &src[end..]);
            let r = convert("m.xml", doc.as_bytes(), None, &[]);
            if intent {
                assert_eq!(r.status(), ("converted", ""), "{future} at {start}");
                intents += 1;
            } else {
                let want = ("withheld", "dated-in-future");
                assert_eq!(r.status(), want, "{future} at {start}");
                assert!(r.bundle.is_none());
                withheld += 1;
            }
        }
    }
    assert!(withheld >= 20 && intents >= 4, "{withheld} {intents}");
}

#[test]
fn a_placeholder_end_date_is_not_a_date_of_the_record() {
    // "No end" written as 99991231: an end date is not evidence that time has passed.
    let doc = xml_fixture().replace(
        "<low value=\"20260105\"/><high value=\"20260705\"/>",
        "<low value=\"20260105\"/><high value=\"99991231\"/>",
    );
    let r = convert("m.xml", doc.as_bytes(), None, &[]);
    assert_eq!(r.status(), ("converted", ""));
    assert_eq!(r.reason(XML_RUNNING), None);
    for d in r.list_dates() {
        assert_eq!(d, "2026-03-14T10:00:00+00:00");
    }
}

#[test]
fn a_point_of_care_decision_after_the_claimed_time_grants_nothing() {
    // The extract claims 2026-01-05 08:00, its latest entry is 09:00 that day: a decision
    // recorded at 07:30 is valid (same day, before the claimed time); one at 08:30 is not,
    // though the judged time (09:00) is after it.
    let src = xml_fixture();
    let row = |at: &str| format!("9990000158,permit,{at},Y02345,Out of Hours,TREAT");
    let doc = src.replace(XML_CREATED, "20260105080000");
    let r = convert(
        "m.xml",
        doc.as_bytes(),
        Some(&row("2026-01-05T07:30:00+00:00")),
        &[],
    );
    assert_eq!(r.status(), ("converted", ""));
    let r = convert(
        "m.xml",
        doc.as_bytes(),
        Some(&row("2026-01-05T08:30:00+00:00")),
        &[],
    );
    assert_eq!(r.status(), ("withheld", "consent-outside-window"));
    // Judged at the record's latest entry, a decision of the claimed day but a day before
    // the entry is outside the encounter-day window.
    let doc = src.replace(XML_CREATED, "20260104080000");
    let r = convert(
        "m.xml",
        doc.as_bytes(),
        Some(&row("2026-01-04T07:30:00+00:00")),
        &[],
    );
    assert_eq!(r.status(), ("withheld", "consent-outside-window"));
}

fn gpconnect_fixture() -> Value {
    serde_json::from_slice(&std::fs::read(root().join("fixtures/gpconnect/record.json")).unwrap())
        .unwrap()
}

/// The plan whose validity period the STU3 tests set.
const STU3_PLAN: &str = "88888888-8888-4888-8888-888888888888";

fn gpconnect_with(last_updated: &str, plan_end: &str) -> Vec<u8> {
    let mut b = gpconnect_fixture();
    b["meta"]["lastUpdated"] = Value::from(last_updated);
    for e in b["entry"].as_array_mut().unwrap() {
        if e["resource"]["id"] == STU3_PLAN {
            e["resource"]["dispenseRequest"]["validityPeriod"]["end"] = Value::from(plan_end);
        }
    }
    serde_json::to_vec(&b).unwrap()
}

#[test]
fn gpconnect_last_updated_before_the_contents_does_not_make_ended_items_current() {
    // The record's latest entry: a report issued 2024-03-02 12:00; the plan ended 2024-02-20.
    let original = convert(
        "r.json",
        &gpconnect_with("2024-03-05T09:00:00+00:00", "2024-02-20"),
        None,
        &[],
    );
    assert_eq!(original.status(), ("converted", ""));
    assert_eq!(original.reason(STU3_PLAN).as_deref(), Some("not-current"));
    for early in [
        "2024-02-01T09:00:00+00:00",
        "2024-02-19",
        "2020-01-01T00:00:00Z",
        "2000",
    ] {
        let r = convert("r.json", &gpconnect_with(early, "2024-02-20"), None, &[]);
        assert_eq!(r.status(), ("converted", ""), "{early}");
        assert_eq!(
            r.reason(STU3_PLAN).as_deref(),
            Some("not-current"),
            "{early}"
        );
        for d in r.list_dates() {
            assert_eq!(d, "2024-03-02T12:00:00+00:00", "{early}");
        }
    }
    // Ending after the latest entry: current either way.
    let r = convert(
        "r.json",
        &gpconnect_with("2024-02-01T09:00:00+00:00", "2024-06-01"),
        None,
        &[],
    );
    assert_eq!(r.reason(STU3_PLAN), None);
}

/// `9999-12-31` as any STU3 recorded date or start the reader takes: withheld
/// `dated-in-future`; as an end date it is not a date of the record.
#[test]
fn gpconnect_dates_after_the_run_withhold_the_record_wherever_they_sit() {
    let b = gpconnect_fixture();
    let keys = [
        "effectiveDateTime",
        "issued",
        "assertedDate",
        "authoredOn",
        "onsetDateTime",
    ];
    let mut positions = 0;
    for (i, e) in b["entry"].as_array().unwrap().iter().enumerate() {
        for k in keys {
            if e["resource"].get(k).is_none() {
                continue;
            }
            positions += 1;
            let mut m = b.clone();
            m["entry"][i]["resource"][k] = Value::from("9999-12-31");
            let r = convert("r.json", &serde_json::to_vec(&m).unwrap(), None, &[]);
            assert_eq!(
                r.status(),
                ("withheld", "dated-in-future"),
                "{k} of entry {i}"
            );
        }
    }
    assert!(positions >= 10, "{positions}");
    // The end of a validity period is not.
    let r = convert(
        "r.json",
        &gpconnect_with("2024-03-05T09:00:00+00:00", "9999-12-31"),
        None,
        &[],
    );
    assert_eq!(r.status(), ("converted", ""));
    assert_eq!(r.reason(STU3_PLAN), None);
}
