//! FHIR R4 resources as typed structs, for the resource types migx writes (and nothing
//! else). Each field is declared in the order migx writes it and left out when absent or
//! empty: `serde_json` (with `preserve_order`) writes struct fields in declaration order, so
//! a bundle serialises to exactly the bytes migx has always written.

pub mod admin;
pub mod allergy;
pub mod audit_event;
pub mod condition;
pub mod consent;
pub mod datatypes;
pub mod list;
pub mod medication;
pub mod observation;

pub use admin::{Organization, Patient, Practitioner, PractitionerRole};
pub use allergy::{AllergyIntolerance, AllergyReaction};
pub use condition::{Condition, Flag, Procedure, ProcedurePerformer};
pub use consent::{Consent, Provenance};
pub use datatypes::*;
pub use list::{EntryRefs, List, ListEntries, ListEntry};
pub use medication::{MedicationRequest, MedicationStatement};
pub use observation::{DiagnosticReport, Observation, ObservationValue, ResultFields};

use serde::Serialize;

/// What every clinical resource starts with: `id`, `meta` (profile, security label) and the
/// `urn:uuid:` identifier of its source item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Base {
    /// `id`.
    pub id: String,
    /// `meta`.
    pub meta: Meta,
    /// `identifier`.
    pub identifier: Vec<Identifier>,
}

/// One resource of a bundle, written with its `resourceType` first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType")]
pub enum Resource {
    /// `Patient`.
    Patient(Box<Patient>),
    /// `Organization`.
    Organization(Box<Organization>),
    /// `Practitioner`.
    Practitioner(Box<Practitioner>),
    /// `PractitionerRole`.
    PractitionerRole(Box<PractitionerRole>),
    /// `Consent`.
    Consent(Box<Consent>),
    /// `Provenance`.
    Provenance(Box<Provenance>),
    /// `List`.
    List(Box<List>),
    /// `Condition`.
    Condition(Box<Condition>),
    /// `Procedure`.
    Procedure(Box<Procedure>),
    /// `Flag`.
    Flag(Box<Flag>),
    /// `AllergyIntolerance`.
    AllergyIntolerance(Box<AllergyIntolerance>),
    /// `MedicationStatement`.
    MedicationStatement(Box<MedicationStatement>),
    /// `MedicationRequest`.
    MedicationRequest(Box<MedicationRequest>),
    /// `Observation`.
    Observation(Box<Observation>),
    /// `DiagnosticReport`.
    DiagnosticReport(Box<DiagnosticReport>),
}

impl Resource {
    /// The resource's `id`.
    pub fn id(&self) -> &str {
        match self {
            Resource::Patient(r) => &r.id,
            Resource::Organization(r) => &r.id,
            Resource::Practitioner(r) => &r.id,
            Resource::PractitionerRole(r) => &r.id,
            Resource::Consent(r) => &r.id,
            Resource::Provenance(r) => &r.id,
            Resource::List(r) => &r.id,
            Resource::Condition(r) => &r.base.id,
            Resource::Procedure(r) => &r.base.id,
            Resource::Flag(r) => &r.base.id,
            Resource::AllergyIntolerance(r) => &r.base.id,
            Resource::MedicationStatement(r) => &r.base.id,
            Resource::MedicationRequest(r) => &r.base.id,
            Resource::Observation(r) => &r.base.id,
            Resource::DiagnosticReport(r) => &r.base.id,
        }
    }

    /// The resource's `resourceType`.
    pub fn resource_type(&self) -> &'static str {
        match self {
            Resource::Patient(_) => "Patient",
            Resource::Organization(_) => "Organization",
            Resource::Practitioner(_) => "Practitioner",
            Resource::PractitionerRole(_) => "PractitionerRole",
            Resource::Consent(_) => "Consent",
            Resource::Provenance(_) => "Provenance",
            Resource::List(_) => "List",
            Resource::Condition(_) => "Condition",
            Resource::Procedure(_) => "Procedure",
            Resource::Flag(_) => "Flag",
            Resource::AllergyIntolerance(_) => "AllergyIntolerance",
            Resource::MedicationStatement(_) => "MedicationStatement",
            Resource::MedicationRequest(_) => "MedicationRequest",
            Resource::Observation(_) => "Observation",
            Resource::DiagnosticReport(_) => "DiagnosticReport",
        }
    }
}

/// `Bundle.entry`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    /// `fullUrl` (`urn:uuid:<id>`).
    pub full_url: String,
    /// `resource`.
    pub resource: Resource,
}

/// The disclosed `Bundle` (type `collection`). `entry` is the entries themselves, or (as
/// `migx convert` writes a bundle) something that serialises them one by one as they are
/// made: one declaration, so the bytes are the same either way.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle<E = Vec<BundleEntry>> {
    /// `resourceType` (`Bundle`).
    pub resource_type: &'static str,
    /// `id`.
    pub id: String,
    /// `meta`.
    pub meta: Meta,
    /// `type`.
    pub r#type: &'static str,
    /// `timestamp`.
    pub timestamp: String,
    /// `entry`.
    pub entry: E,
}

impl Bundle {
    /// The `fullUrl` of the first entry of a resource type.
    pub fn full_url_of(&self, resource_type: &str) -> Option<&str> {
        self.entry
            .iter()
            .find(|e| e.resource.resource_type() == resource_type)
            .map(|e| e.full_url.as_str())
    }
}
