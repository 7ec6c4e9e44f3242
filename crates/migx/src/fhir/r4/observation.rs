//! Results: Observation (a result, or a group of results) and DiagnosticReport.

use super::datatypes::{CodeableConcept, Quantity, Range, Reference};
use super::Base;
use serde::Serialize;

/// `Observation.value[x]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ObservationValue {
    /// `valueQuantity`.
    ValueQuantity(Quantity),
    /// `valueRange`.
    ValueRange(Range),
    /// `valueCodeableConcept`.
    ValueCodeableConcept(CodeableConcept),
}

/// What a result and a report both carry, in output order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultFields {
    /// `code`.
    pub code: CodeableConcept,
    /// `subject`.
    pub subject: Reference,
    /// `effectiveDateTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    /// `issued`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued: Option<String>,
    /// `performer`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<Reference>,
}

/// `Observation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// `id`, `meta`, `identifier`.
    #[serde(flatten)]
    pub base: Base,
    /// `status`.
    pub status: &'static str,
    /// `category`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    /// `code`, `subject`, `effectiveDateTime`, `issued`, `performer`.
    #[serde(flatten)]
    pub fields: ResultFields,
    /// `value[x]`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub value: Option<ObservationValue>,
    /// `interpretation`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interpretation: Vec<CodeableConcept>,
    /// `referenceRange`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reference_range: Vec<Range>,
    /// `hasMember` (a group's results).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub has_member: Vec<Reference>,
}

/// `DiagnosticReport`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiagnosticReport {
    /// `id`, `meta`, `identifier`.
    #[serde(flatten)]
    pub base: Base,
    /// `status`.
    pub status: &'static str,
    /// `category`.
    pub category: Vec<CodeableConcept>,
    /// `code`, `subject`, `effectiveDateTime`, `issued`, `performer`.
    #[serde(flatten)]
    pub fields: ResultFields,
    /// `result`.
    #[serde(rename = "result", skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<Reference>,
}
