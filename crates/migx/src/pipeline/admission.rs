//! Patient admission, the stage between reading and item decisions: one verified patient,
//! no practice dissent, a judged time, and a point-of-care decision valid for this requester
//! and purpose now ([`Admission`]), or the input ends here, rejected or withheld with its
//! reason.

use crate::consent::{ConsentDecision, ConsentOrigin, ConsentRecord, Lookup};
use crate::ehr::model::{Extract, IdentityProblem};
use crate::ehr::ts::Ts;
use crate::error::{ErrorCode, InputError};
use crate::nhs::is_valid_nhs_number;
use crate::outcome::Conversion;
/// Why a patient is not admitted: the admission stage decides it.
pub use crate::outcome::PatientWithheld;
use crate::policy::decide::{judged_time, practice_dissent, DatedInFuture};
use crate::policy::ConsentValidity;
use crate::settings::ConvertSettings;

/// A patient admitted for release: the verified NHS number, the point-of-care decision that
/// permits it, and the time currency is judged at.
#[derive(Debug, Clone)]
pub struct Admission {
    /// The patient's NHS number (never logged).
    pub nhs_number: String,
    /// The consent the record is disclosed under.
    pub consent: ConsentRecord,
    /// Until when that decision is valid, when it is limited (FHIR dateTime).
    pub consent_valid_until: Option<String>,
    /// The judged time "current" and "recent" are decided at (issue 24.11).
    pub as_of: Ts,
}

/// Patient admission, the stage between reading and item decisions: one verified patient,
/// no practice dissent, a judged time, and a point-of-care decision that permits this
/// requester and purpose now. Otherwise the input ends here, rejected or withheld, as the
/// returned [`Conversion`] says (boxed: the error path is the rare one).
pub fn admit(ex: &Extract, size: u64, s: &ConvertSettings) -> Result<Admission, Box<Conversion>> {
    let policy = &*s.policy;
    // One bundle, one verified patient: what the reader found against it rejects the file.
    if let Some(p) = &ex.identity_problem {
        let (code, message) = match p {
            IdentityProblem::Conflicting(m) => (ErrorCode::MultiplePatients, m),
            IdentityProblem::Unverified(m) => (ErrorCode::UnverifiedIdentity, m),
        };
        return Err(Box::new(Conversion::rejected(
            InputError::new(code, message.clone()),
            size,
        )));
    }
    // Identity: one recordTarget slot per patient, so more than one is more than one patient.
    if ex.nhs_numbers.len() > 1 {
        return Err(Box::new(Conversion::rejected(
            InputError::new(
                ErrorCode::MultiplePatients,
                format!(
                    "{} patients (recordTarget elements) in one file",
                    ex.nhs_numbers.len()
                ),
            ),
            size,
        )));
    }
    let Some(nhs) = ex
        .nhs_numbers
        .first()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
    else {
        return Err(Box::new(Conversion::rejected(
            InputError::new(
                ErrorCode::MissingNhsNumber,
                "no NHS number in recordTarget/patient/id",
            ),
            size,
        )));
    };
    let shaped = nhs.len() == 10 && nhs.bytes().all(|b| b.is_ascii_digit());
    if !shaped || (!is_valid_nhs_number(&nhs) && !s.allow_test_identities) {
        return Err(Box::new(Conversion::rejected(
            InputError::new(
                ErrorCode::InvalidNhsNumber,
                format!(
                    "NHS number {} fails the modulus 11 check",
                    crate::nhs::mask_nhs_number(&nhs)
                ),
            ),
            size,
        )));
    }
    let Some(claimed) = s.as_of.or(ex.created.value()) else {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::AsOfUnknown,
            size,
            nhs,
        )));
    };
    // A dissent recorded in the practice stands, whatever is asked at the point of care; a
    // practice consent lifts it only when recorded before the time the record was asked for.
    if practice_dissent(ex, policy, claimed) {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::DissentRecorded,
            size,
            nhs,
        )));
    }
    // Currency is judged no earlier than the record's own latest date (issue 24.11).
    let as_of = match judged_time(ex, claimed, now_epoch_secs()) {
        Ok(t) => t,
        Err(DatedInFuture) => {
            return Err(Box::new(Conversion::withheld(
                PatientWithheld::DatedInFuture,
                size,
                nhs,
            )))
        }
    };
    let consent = match s.consent.lookup(&nhs) {
        Lookup::None => {
            return Err(Box::new(Conversion::withheld(
                PatientWithheld::NoConsentDecision,
                size,
                nhs,
            )))
        }
        Lookup::BadRow(_) => {
            return Err(Box::new(Conversion::withheld(
                PatientWithheld::ConsentRowInvalid,
                size,
                nhs,
            )))
        }
        Lookup::Found(c) => c.clone(),
    };
    if consent.decision == ConsentDecision::Deny {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::ConsentDenied,
            size,
            nhs,
        )));
    }
    let permitted = policy.requester(&consent.requester_ods).is_some()
        || s.run_permitted_requesters
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&consent.requester_ods));
    if !permitted {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::RequesterNotPermitted,
            size,
            nhs,
        )));
    }
    if !policy.is_purpose_permitted(&consent.purpose) {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::PurposeNotPermitted,
            size,
            nhs,
        )));
    }
    // A decision recorded after the claimed time grants nothing, whatever the judged time.
    if consent
        .recorded_at
        .is_some_and(|at| at.timestamp() > claimed.epoch_secs())
    {
        return Err(Box::new(Conversion::withheld(
            PatientWithheld::ConsentOutsideWindow,
            size,
            nhs,
        )));
    }
    let valid_until = match consent_window(&consent, as_of, policy.consent_validity()) {
        Ok(until) => until,
        Err(()) => {
            return Err(Box::new(Conversion::withheld(
                PatientWithheld::ConsentOutsideWindow,
                size,
                nhs,
            )))
        }
    };
    Ok(Admission {
        nhs_number: nhs,
        consent,
        consent_valid_until: valid_until,
        as_of,
    })
}

/// Whether the point-of-care decision is valid at `as_of` (the judged time), and until
/// when. (`share` also refuses a decision recorded after the claimed time.)
pub(super) fn consent_window(
    c: &ConsentRecord,
    as_of: Ts,
    validity: ConsentValidity,
) -> Result<Option<String>, ()> {
    let Some(at) = c.recorded_at else {
        return match c.origin {
            ConsentOrigin::OperatorAssertion => Ok(None),
            ConsentOrigin::FileRow { .. } => Err(()),
        };
    };
    let recorded = at.timestamp();
    let asof = as_of.epoch_secs();
    if recorded > asof {
        return Err(()); // recorded after the time it is used for: not valid
    }
    if recorded > now_epoch_secs() {
        return Err(()); // a decision "recorded" in the future (with a future --as-of): not valid
    }
    match validity {
        ConsentValidity::EncounterDay => {
            // The same local (UK) calendar day as the as-of time.
            let local = at.naive_utc()
                + chrono::Duration::seconds(i64::from(crate::ehr::ts::uk_offset_secs(
                    at.naive_utc(),
                )));
            if local.date() != as_of.date() {
                return Err(());
            }
            let end = local.date().and_hms_opt(23, 59, 59).unwrap_or(local);
            let off = crate::ehr::ts::uk_offset_secs(end);
            Ok(Some(format!(
                "{}{}",
                end.format("%Y-%m-%dT%H:%M:%S"),
                fmt_off(off)
            )))
        }
        ConsentValidity::Hours(h) => {
            let until = recorded + i64::from(h) * 3600;
            if asof > until {
                return Err(());
            }
            let end = chrono::DateTime::from_timestamp(until, 0)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            Ok(end)
        }
    }
}

/// The time a withheld patient's record would have been judged at, had it been admitted
/// (explain shows its items as of then): the claimed time (`--as-of`, else the extract's own),
/// moved to the record's latest date as [`judged_time`] does; the claimed time itself when
/// the record holds a date after now; none when no time is known.
pub fn withheld_as_of(ex: &Extract, s: &ConvertSettings) -> Option<Ts> {
    s.as_of
        .or(ex.created.value())
        .map(|claimed| judged_time(ex, claimed, now_epoch_secs()).unwrap_or(claimed))
}

/// The moment of the run (seconds since the epoch): decisions only, never written out.
fn now_epoch_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn fmt_off(secs: i32) -> String {
    format!(
        "{}{:02}:{:02}",
        if secs < 0 { '-' } else { '+' },
        secs.abs() / 3600,
        (secs.abs() % 3600) / 60
    )
}
