//! The people and organisations of a release: Patient, Organization, Practitioner,
//! PractitionerRole.

use super::datatypes::{CodeableConcept, HumanName, Identifier, Meta, Reference};
use serde::Serialize;

/// `Patient`: the NHS number and the registered practice only.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// `id`.
    pub id: String,
    /// `meta`.
    pub meta: Meta,
    /// `identifier` (the NHS number).
    pub identifier: Vec<Identifier>,
    /// `generalPractitioner` (the practice).
    pub general_practitioner: Vec<Reference>,
}

/// `Organization`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Organization {
    /// `id`.
    pub id: String,
    /// `meta`.
    pub meta: Meta,
    /// `identifier` (the ODS code).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `Practitioner`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Practitioner {
    /// `id`.
    pub id: String,
    /// `meta`.
    pub meta: Meta,
    /// `identifier` (SDS user id, GMP number).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    /// `name`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
}

/// `PractitionerRole`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PractitionerRole {
    /// `id`.
    pub id: String,
    /// `meta`.
    pub meta: Meta,
    /// `identifier` (SDS role profile id).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    /// `practitioner`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub practitioner: Option<Reference>,
    /// `organization`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<Reference>,
    /// `code`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<CodeableConcept>,
}
