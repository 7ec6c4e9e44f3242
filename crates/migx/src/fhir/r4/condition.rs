//! What the patient has or had done: Condition, Procedure, Flag.

use super::datatypes::{CodeableConcept, Extension, Period, Reference};
use super::Base;
use serde::Serialize;

/// `Condition` (a problem or a diagnosis).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `id`, `meta`, `identifier`.
    #[serde(flatten)]
    pub base: Base,
    /// `extension` (related problems).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// `clinicalStatus` (problems).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clinical_status: Option<CodeableConcept>,
    /// `verificationStatus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_status: Option<CodeableConcept>,
    /// `category`.
    pub category: Vec<CodeableConcept>,
    /// `code`.
    pub code: CodeableConcept,
    /// `subject`.
    pub subject: Reference,
    /// `onsetDateTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onset_date_time: Option<String>,
    /// `recordedDate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
    /// `recorder`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    /// `asserter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asserter: Option<Reference>,
}

/// `Procedure.performer`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcedurePerformer {
    /// `actor`.
    pub actor: Reference,
}

/// `Procedure`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Procedure {
    /// `id`, `meta`, `identifier`.
    #[serde(flatten)]
    pub base: Base,
    /// `status`.
    pub status: &'static str,
    /// `code`.
    pub code: CodeableConcept,
    /// `subject`.
    pub subject: Reference,
    /// `performedDateTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performed_date_time: Option<String>,
    /// `performer`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<ProcedurePerformer>,
}

/// `Flag` (a risk or warning).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    /// `id`, `meta`, `identifier`.
    #[serde(flatten)]
    pub base: Base,
    /// `status`.
    pub status: &'static str,
    /// `category`.
    pub category: Vec<CodeableConcept>,
    /// `code`.
    pub code: CodeableConcept,
    /// `subject`.
    pub subject: Reference,
    /// `period`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}
