//! What became of one input: converted (with its bundle), withheld (with the patient-level
//! reason) or rejected (with the error), and the items not shared with their reasons. The
//! batch runner writes the audit, the summary and the access AuditEvents from these.

use crate::consent::ConsentRecord;
use crate::ehr::ts::Ts;
use crate::error::InputError;
use crate::fhir::r4::Bundle;
use crate::policy::decide::{Category, WithheldReason};
use std::collections::BTreeMap;

/// The three ends an input can come to (serialised as [`Status::as_str`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A bundle was disclosed.
    Converted,
    /// Nothing disclosed, by policy (the reason says which rule).
    Withheld,
    /// Bad input: nothing disclosed (the error code says why).
    Rejected,
}

impl Status {
    /// The stable string written to the audit and summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Converted => "converted",
            Status::Withheld => "withheld",
            Status::Rejected => "rejected",
        }
    }
}

/// One source item that was not shared, for the audit (ids and rule names only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditItem {
    /// The item's non-revealing id (see `pipeline::convert::audit_id`), or `#<index>` when
    /// the element had none; held inline (a UUID's 36 bytes fit), as most items withheld
    /// are named by one.
    pub source_id: crate::ehr::model::SourceId,
    /// The construct, named as in the GP2GP specification (e.g. `ObservationStatement`).
    pub element: &'static str,
    /// The category the item would have been shared in, when known.
    pub category: Option<Category>,
    /// The rule that withheld it.
    pub reason: WithheldReason,
    /// True when the item itself was shared and only its free text removed.
    pub text_only: bool,
}

/// The result of converting one file.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// How the input ended.
    pub status: Status,
    /// Why withheld (patient-level reason).
    pub withheld: Option<PatientWithheld>,
    /// Why rejected.
    pub error: Option<InputError>,
    /// The disclosed bundle (converted only).
    pub bundle: Option<Bundle>,
    /// Every source item not shared (and every shared item whose free text was removed).
    pub items: Vec<AuditItem>,
    /// Shared items (list members) per category.
    pub shared: BTreeMap<Category, usize>,
    /// Size of the input in bytes.
    pub bytes: u64,
    /// The NHS number, for the access audit only (never logged).
    pub nhs_number: Option<String>,
    /// The consent the bundle was disclosed under.
    pub consent: Option<ConsentRecord>,
    /// The date "current" and "recent" were judged against.
    pub as_of: Option<Ts>,
}

impl Conversion {
    /// A rejected input: nothing disclosed, the error says why.
    pub(crate) fn rejected(e: InputError, bytes: u64) -> Self {
        Conversion {
            status: Status::Rejected,
            withheld: None,
            error: Some(e),
            bundle: None,
            items: Vec::new(),
            shared: BTreeMap::new(),
            bytes,
            nhs_number: None,
            consent: None,
            as_of: None,
        }
    }
    /// A withheld patient: nothing disclosed, the reason says which rule.
    pub(crate) fn withheld(r: PatientWithheld, bytes: u64, nhs: String) -> Self {
        Conversion {
            status: Status::Withheld,
            withheld: Some(r),
            error: None,
            bundle: None,
            items: Vec::new(),
            shared: BTreeMap::new(),
            bytes,
            nhs_number: Some(nhs),
            consent: None,
            as_of: None,
        }
    }
}

/// Why a whole patient gets no bundle: decided by the patient admission stage
/// (`pipeline/admission.rs`), which re-exports it, from the policy's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatientWithheld {
    /// The practice record holds a dissent code (a local dissent is never overridden at the point
    /// of care).
    DissentRecorded,
    /// The point-of-care consent says deny.
    ConsentDenied,
    /// The consent source has no decision for this patient.
    NoConsentDecision,
    /// A consent file row for this patient failed its checks: withheld whatever else the
    /// file says (fail closed).
    ConsentRowInvalid,
    /// The consent is not valid at the as-of time: recorded too long before it, or after it.
    ConsentOutsideWindow,
    /// The requesting organisation is neither in the policy nor in `--permit-requester`.
    RequesterNotPermitted,
    /// The consent's purpose of use is not one the policy allows.
    PurposeNotPermitted,
    /// No as-of date: none given and the extract has no creation time, so currency cannot be
    /// judged.
    AsOfUnknown,
    /// The record holds a date after the moment of the run (a recorded date or the start of
    /// an event: a placeholder such as `99991231`, a mistyped year), so no time is known at
    /// which its currency can be judged (see [`crate::policy::decide::judged_time`]).
    DatedInFuture,
}

impl PatientWithheld {
    /// Every reason, in documentation order.
    pub const ALL: [PatientWithheld; 9] = [
        PatientWithheld::DissentRecorded,
        PatientWithheld::ConsentDenied,
        PatientWithheld::NoConsentDecision,
        PatientWithheld::ConsentRowInvalid,
        PatientWithheld::ConsentOutsideWindow,
        PatientWithheld::RequesterNotPermitted,
        PatientWithheld::PurposeNotPermitted,
        PatientWithheld::AsOfUnknown,
        PatientWithheld::DatedInFuture,
    ];
    /// The reason id written to the audit and summary.
    pub fn as_str(self) -> &'static str {
        match self {
            PatientWithheld::DissentRecorded => "dissent-recorded",
            PatientWithheld::ConsentDenied => "consent-denied",
            PatientWithheld::NoConsentDecision => "no-consent-decision",
            PatientWithheld::ConsentRowInvalid => "consent-row-invalid",
            PatientWithheld::ConsentOutsideWindow => "consent-outside-window",
            PatientWithheld::RequesterNotPermitted => "requester-not-permitted",
            PatientWithheld::PurposeNotPermitted => "purpose-not-permitted",
            PatientWithheld::AsOfUnknown => "as-of-unknown",
            PatientWithheld::DatedInFuture => "dated-in-future",
        }
    }
}
