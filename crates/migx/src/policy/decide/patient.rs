//! Decisions about the whole patient, before any item: the time the record is judged at,
//! and whether a dissent recorded in the practice stands.

use crate::ehr::model::{DateField, Extract};
use crate::ehr::ts::Ts;
use crate::policy::screen::Screen;
use crate::policy::{ConsentEffect, Policy};

/// The record holds a date after the moment of the run: no time is known at which its
/// currency can be judged (see [`judged_time`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatedInFuture;

/// The time a record's currency (current medication and problems, recent tests, the
/// point-of-care consent's validity window) is judged at (issue 24.11): never earlier than
/// the latest date the record holds ([`ExtractBuilder::record_dates`](crate::ehr::model::ExtractBuilder::record_dates)).
///
/// `claimed` is `--as-of`, else the extract's own creation time (XML `creationTime`, else
/// `EhrExtract/availabilityTime`; GP Connect `Bundle.meta.lastUpdated`). The judged time is
/// the later of `claimed` and the record's latest date, taken at the start of that date's
/// period (`2026` counts from 2026-01-01): a creation time older than the record's contents
/// is stale (every `uat-*` extract of the NHS test corpus is stamped `20200101010101` over
/// entries of 2020 and 2021), and judging at it would make items that ended in between look
/// current.
///
/// A date of the record after `now` (the moment of the run) cannot be a real entry: a
/// placeholder such as `99991231`, or a mistyped year. Judging at it would make every
/// medication and test look ended; ignoring it would trust a record that holds an impossible
/// date. Neither is safe, so the record is not judged at all:
/// [`DatedInFuture`] (the admission stage withholds the patient: fail closed, the receiver
/// is told). This is the only
/// place the clock enters a decision beside the consent rows' own check, and it never enters
/// an output: such a record is withheld whenever it is run until its date has passed.
///
/// What *grants* (a practice consent lifting a dissent, the point-of-care decision) is still
/// held to `claimed`: a consent recorded after the time the record was asked for grants
/// nothing, whatever the judged time.
pub fn judged_time(ex: &Extract, claimed: Ts, now: i64) -> Result<Ts, DatedInFuture> {
    let mut judged = claimed;
    for t in ex.record_dates() {
        if t.epoch_secs() > now {
            return Err(DatedInFuture);
        }
        if t.epoch_secs() > judged.epoch_secs() {
            judged = t.with_precision(crate::ehr::ts::Precision::Second);
        }
    }
    Ok(judged)
}

/// Whether a practice dissent stands at `as_of` (the extract's own time, or `--as-of`).
///
/// Every consent/dissent entry of the record is dated by its effective time, else its
/// availability time, at the precision the source gave (a year denotes the whole year, see
/// [`Ts::end_epoch_secs`]). A dissent stands unless a practice consent certainly comes after
/// it; failing closed at every step:
/// - a dissent with no readable date is taken as the latest;
/// - a consent with no readable date, or one that is not certainly at or before `as_of`
///   (dated after it, a placeholder such as `99991231`, or a period reaching past it)
///   grants nothing;
/// - a consent overrides only when it certainly follows every dissent at the precision given:
///   the same instant, or a dissent whose period contains the consent (`2025` against
///   `2025-06-01`), leaves the dissent standing.
///
/// Consent and dissent are found by the same screen as sensitive codes, over every coding an
/// item carries ([`Screen::item_consent`]); a dissent coded outside any item (STU3 Lists and
/// other structural resources, the XML extract and folder) has no date of its own and
/// withholds the patient.
pub fn practice_dissent(ex: &Extract, policy: &Policy, as_of: Ts) -> bool {
    let screen = Screen::new(policy);
    if screen.record_dissent(ex) {
        return true;
    }
    // A consent that refuses by its structure (STU3 `Consent`: a deny exception, status
    // `rejected`, an opt-out policy) is a dissent dated by its own `dateTime`.
    let mut entries: Vec<(ConsentEffect, Option<Ts>)> = ex
        .consent_refusals
        .iter()
        .map(|d| (ConsentEffect::Dissent, d.value()))
        .collect();
    for item in &ex.items {
        let effect = match screen.item_consent(item) {
            // A permit on, or around, a Consent migx cannot read as a clear permission
            // grants nothing.
            Some(ConsentEffect::Permit) if item.grants_nothing => continue,
            Some(e @ (ConsentEffect::Permit | ConsentEffect::Dissent)) => e,
            _ => continue,
        };
        let when = match item.effective.point() {
            DateField::Absent => item.availability,
            d => d,
        };
        entries.push((effect, when.value()));
    }
    dissent_stands(&entries, as_of)
}

/// The decision of [`practice_dissent`] over (effect, date) entries; order does not matter.
pub fn dissent_stands(entries: &[(ConsentEffect, Option<Ts>)], as_of: Ts) -> bool {
    // The end of the latest dissent's period; `None` while no dissent has been seen.
    let mut dissent_end: Option<i64> = None;
    for (effect, when) in entries {
        if *effect != ConsentEffect::Dissent {
            continue;
        }
        let Some(ts) = when else {
            return true; // undated dissent: the latest, whatever else is recorded
        };
        let end = ts.end_epoch_secs();
        dissent_end = Some(dissent_end.map_or(end, |e| e.max(end)));
    }
    let Some(dissent_end) = dissent_end else {
        return false;
    };
    let limit = as_of.end_epoch_secs();
    let overridden = entries.iter().any(|(effect, when)| {
        *effect == ConsentEffect::Permit
            && when.is_some_and(|ts| ts.end_epoch_secs() <= limit && ts.epoch_secs() >= dissent_end)
    });
    !overridden
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::model::ExtractBuilder;
    use ConsentEffect::{Dissent as D, Permit as P};

    fn ts(v: &str) -> Option<Ts> {
        Some(Ts::parse(v).unwrap())
    }

    #[test]
    fn the_judged_time_is_never_before_the_records_own_dates_nor_at_a_future_one() {
        use crate::ehr::model::{Effective, Item, ItemHead};
        let t = |v: &str| Ts::parse(v).unwrap();
        let item = |mood: Option<&str>, avail: &str, low: &str, high: &str| Item {
            head: ItemHead {
                mood_code: mood.map(|m| m.to_string().into()),
                availability: DateField::from_hl7(avail),
                effective: Effective {
                    low: DateField::from_hl7(low),
                    high: DateField::from_hl7(high),
                    center: DateField::Absent,
                },
                ..ItemHead::default()
            },
            ..Item::default()
        };
        let ex = |items: Vec<Item>| {
            ExtractBuilder {
                items,
                ..ExtractBuilder::default()
            }
            .finish()
        };
        let now = t("20261201000000").epoch_secs();
        let claimed = t("20250801100000");
        let judged = |e: &Extract| judged_time(e, claimed, now).map(|j| j.epoch_secs());
        // Nothing later (an end date never counts): the claimed time.
        let e = ex(vec![item(None, "20250101", "20240101", "99991231")]);
        assert_eq!(judged(&e), Ok(claimed.epoch_secs()));
        // A later recorded time or event start: moved to the start of its period.
        let e = ex(vec![item(None, "20260105", "", "")]);
        assert_eq!(judged(&e), Ok(t("20260105000000").epoch_secs()));
        let e = ex(vec![item(Some("EVN"), "", "2026", "")]);
        assert_eq!(judged(&e), Ok(t("20260101000000").epoch_secs()));
        let e = ex(vec![item(None, "20250801100001", "", "")]);
        assert_eq!(judged(&e), Ok(claimed.epoch_secs() + 1));
        // The start of an intent may lie ahead; placeholders and bad dates are not dates.
        let e = ex(vec![item(Some("INT"), "", "99991231", "")]);
        assert_eq!(judged(&e), Ok(claimed.epoch_secs()));
        let e = ex(vec![item(None, "19000101", "garbage", "")]);
        assert_eq!(judged(&e), Ok(claimed.epoch_secs()));
        // After the run: not judged at all, wherever it sits.
        for e in [
            ex(vec![item(None, "99991231", "", "")]),
            ex(vec![item(Some("EVN"), "", "20261201000001", "")]),
            ex(vec![
                item(None, "20250101", "", ""),
                item(None, "2027", "", ""),
            ]),
        ] {
            assert_eq!(judged(&e), Err(DatedInFuture));
        }
    }

    #[test]
    fn the_judged_time_boundaries_and_the_precision_it_is_taken_at() {
        use crate::ehr::model::{Item, ItemHead};
        use crate::ehr::ts::Precision;
        let t = |v: &str| Ts::parse(v).unwrap();
        let recorded = |avail: &str| {
            ExtractBuilder {
                items: vec![Item {
                    head: ItemHead {
                        availability: DateField::from_hl7(avail),
                        ..ItemHead::default()
                    },
                    ..Item::default()
                }],
                ..ExtractBuilder::default()
            }
            .finish()
        };
        let now = t("20261201000000").epoch_secs();
        // A record date at the moment of the run is not after it.
        assert_eq!(
            judged_time(&recorded("20261201000000"), t("20250801100000"), now)
                .map(|j| j.epoch_secs()),
            Ok(now)
        );
        // A record date equal to the claimed time leaves the claimed time as it was given.
        let claimed = t("20250801");
        assert_eq!(
            judged_time(&recorded("20250801000000"), claimed, now),
            Ok(claimed)
        );
        // A later date moves it to the start of that date's period, to the second.
        let judged = judged_time(&recorded("2026"), claimed, now).unwrap();
        assert_eq!(judged.epoch_secs(), t("20260101000000").epoch_secs());
        assert_eq!(judged.precision(), Precision::Second);
    }

    /// The decision, checked in both entry orders (order in the record never matters).
    fn stands(entries: &[(ConsentEffect, Option<Ts>)], as_of: &str) -> bool {
        let as_of = Ts::parse(as_of).unwrap();
        let forward = dissent_stands(entries, as_of);
        let mut rev = entries.to_vec();
        rev.reverse();
        assert_eq!(
            forward,
            dissent_stands(&rev, as_of),
            "order changed the result"
        );
        forward
    }

    const AS_OF: &str = "20260314100000";

    #[test]
    fn no_dissent_no_withholding() {
        assert!(!stands(&[], AS_OF));
        assert!(!stands(&[(P, ts("2020"))], AS_OF));
        assert!(!stands(&[(P, None)], AS_OF));
    }

    #[test]
    fn a_later_consent_overrides_and_an_earlier_one_does_not() {
        assert!(!stands(&[(D, ts("20200101")), (P, ts("20210101"))], AS_OF));
        assert!(stands(&[(P, ts("20200101")), (D, ts("20210101"))], AS_OF));
    }

    #[test]
    fn ties_and_undated_dissents_keep_the_dissent() {
        let t = "20250601120000";
        assert!(stands(&[(D, ts(t)), (P, ts(t))], AS_OF));
        // One second later is certainly later.
        assert!(!stands(&[(D, ts(t)), (P, ts("20250601120001"))], AS_OF));
        assert!(stands(&[(D, None), (P, ts("20250601120001"))], AS_OF));
        // A consent without a readable date grants nothing.
        assert!(stands(&[(D, ts(t)), (P, None)], AS_OF));
    }

    #[test]
    fn a_consent_dated_after_the_as_of_time_grants_nothing() {
        let d = (D, ts("20200101"));
        // Boundary at the as-of instant: at it grants, one second after does not.
        assert!(!stands(&[d, (P, ts("20260314100000"))], AS_OF));
        assert!(stands(&[d, (P, ts("20260314100001"))], AS_OF));
        // Placeholders far in the future.
        assert!(stands(&[d, (P, ts("99991231"))], AS_OF));
        assert!(stands(&[d, (P, ts("9999"))], AS_OF));
        // A period reaching past the as-of time is not certainly before it.
        assert!(stands(&[d, (P, ts("20260314"))], AS_OF));
        assert!(stands(&[d, (P, ts("2026"))], AS_OF));
        assert!(!stands(&[d, (P, ts("20260313"))], AS_OF));
        assert!(!stands(&[d, (P, ts("2025"))], AS_OF));
        // An as-of given as a whole day (its span ends at the next midnight).
        assert!(!stands(&[d, (P, ts("20260314"))], "20260314"));
        assert!(stands(&[d, (P, ts("20260315"))], "20260314"));
    }

    #[test]
    fn a_dissent_at_coarse_precision_is_not_overridden_inside_its_period() {
        for inside in ["2025", "202501", "20250101", "20250601", "20251231235959"] {
            assert!(
                stands(&[(D, ts("2025")), (P, ts(inside))], AS_OF),
                "{inside}"
            );
        }
        assert!(!stands(&[(D, ts("2025")), (P, ts("20260101"))], AS_OF));
        assert!(stands(
            &[(D, ts("202506")), (P, ts("20250630235959"))],
            AS_OF
        ));
        assert!(!stands(&[(D, ts("202506")), (P, ts("20250701"))], AS_OF));
        assert!(stands(
            &[(D, ts("2025061412")), (P, ts("202506141259"))],
            AS_OF
        ));
        assert!(!stands(
            &[(D, ts("2025061412")), (P, ts("202506141300"))],
            AS_OF
        ));
        // A consent at coarse precision that may precede the dissent does not override it.
        assert!(stands(&[(D, ts("20250601")), (P, ts("2025"))], AS_OF));
    }

    #[test]
    fn every_dissent_must_be_overridden() {
        let entries = [
            (D, ts("2020")),
            (P, ts("2021")),
            (D, ts("2022")),
            (P, ts("202101")),
        ];
        assert!(stands(&entries, AS_OF));
        let mut more = entries.to_vec();
        more.push((P, ts("2023")));
        assert!(!stands(&more, AS_OF));
        // A dissent dated after the as-of time still counts (it can only withhold).
        assert!(stands(&[(D, ts("20270101")), (P, ts("20250101"))], AS_OF));
    }
}
