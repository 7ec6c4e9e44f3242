//! `AllergyIntolerance`.

use super::datatypes::{CodeableConcept, Reference};
use super::Base;
use serde::Serialize;

/// `AllergyIntolerance.reaction`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllergyReaction {
    /// `manifestation`.
    pub manifestation: Vec<CodeableConcept>,
    /// `onset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onset: Option<String>,
    /// `severity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<&'static str>,
    /// `exposureRoute`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposure_route: Option<CodeableConcept>,
}

/// `AllergyIntolerance`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllergyIntolerance {
    /// `id`, `meta`, `identifier`.
    #[serde(flatten)]
    pub base: Base,
    /// `clinicalStatus`.
    pub clinical_status: CodeableConcept,
    /// `verificationStatus`.
    pub verification_status: CodeableConcept,
    /// `category`.
    pub category: Vec<&'static str>,
    /// `code`.
    pub code: CodeableConcept,
    /// `patient`.
    pub patient: Reference,
    /// `onsetDateTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onset_date_time: Option<String>,
    /// `recordedDate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
    /// `reaction`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reaction: Vec<AllergyReaction>,
    /// `recorder`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    /// `asserter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asserter: Option<Reference>,
}
