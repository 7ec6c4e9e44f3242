//! Medication: MedicationStatement (what the patient takes) and MedicationRequest (the plan
//! it is based on, and each issue made under it).

use super::datatypes::{
    CodeableConcept, Dosage, Extension, Period, PrimitiveExtension, Quantity, Reference,
};
use super::Base;
use serde::Serialize;

/// `MedicationStatement`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationStatement {
    /// `id`, `meta`, `identifier`.
    #[serde(flatten)]
    pub base: Base,
    /// `basedOn` (the plan).
    pub based_on: Vec<Reference>,
    /// `status`.
    pub status: &'static str,
    /// `medicationCodeableConcept`.
    pub medication_codeable_concept: CodeableConcept,
    /// `subject`.
    pub subject: Reference,
    /// `effectivePeriod`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_period: Option<Period>,
    /// `dateAsserted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_asserted: Option<String>,
    /// `dosage`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dosage: Vec<Dosage>,
    /// `informationSource`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub information_source: Option<Reference>,
    /// `extension` (the last issue date; written last, as migx always has).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
}

/// `MedicationRequest.substitution`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Substitution {
    /// `_allowedBoolean`: why `allowed[x]` is absent.
    #[serde(rename = "_allowedBoolean")]
    pub allowed_boolean: PrimitiveExtension,
}

/// `MedicationRequest.dispenseRequest`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DispenseRequest {
    /// `validityPeriod`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity_period: Option<Period>,
    /// `numberOfRepeatsAllowed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_repeats_allowed: Option<u32>,
    /// `quantity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

impl DispenseRequest {
    /// Nothing to say (not written).
    pub fn is_empty(&self) -> bool {
        self == &DispenseRequest::default()
    }
}

/// `MedicationRequest` (intent `plan` for an authorisation, `order` for an issue).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationRequest {
    /// `id`, `meta`, `identifier`.
    #[serde(flatten)]
    pub base: Base,
    /// `extension` (repeat information, a plan only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// `basedOn` (an issue's plan).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub based_on: Vec<Reference>,
    /// `status`.
    pub status: &'static str,
    /// `intent`.
    pub intent: &'static str,
    /// `medicationCodeableConcept`.
    pub medication_codeable_concept: CodeableConcept,
    /// `subject`.
    pub subject: Reference,
    /// `substitution`.
    pub substitution: Substitution,
    /// `authoredOn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authored_on: Option<String>,
    /// `requester`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<Reference>,
    /// `recorder`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    /// `courseOfTherapyType` (a plan only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course_of_therapy_type: Option<CodeableConcept>,
    /// `dosageInstruction`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dosage_instruction: Vec<Dosage>,
    /// `dispenseRequest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispense_request: Option<DispenseRequest>,
}
