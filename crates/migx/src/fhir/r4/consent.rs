//! What a disclosure is made under and how it was made: Consent and Provenance.

use super::datatypes::{CodeableConcept, Coding, Meta, Period, Reference};
use serde::Serialize;

/// `Consent.provision.actor`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentActor {
    /// `role`.
    pub role: CodeableConcept,
    /// `reference`.
    pub reference: Reference,
}

/// `Consent.provision`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentProvision {
    /// `type`.
    pub r#type: &'static str,
    /// `period`.
    pub period: Period,
    /// `actor`.
    pub actor: Vec<ConsentActor>,
    /// `action`.
    pub action: Vec<CodeableConcept>,
    /// `purpose`.
    pub purpose: Vec<Coding>,
}

/// `Consent`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    /// `id`.
    pub id: String,
    /// `meta`.
    pub meta: Meta,
    /// `status`.
    pub status: &'static str,
    /// `scope`.
    pub scope: CodeableConcept,
    /// `category`.
    pub category: Vec<CodeableConcept>,
    /// `patient`.
    pub patient: Reference,
    /// `dateTime`.
    pub date_time: String,
    /// `policyRule`.
    pub policy_rule: CodeableConcept,
    /// `provision`.
    pub provision: ConsentProvision,
}

/// `Provenance.agent`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProvenanceAgent {
    /// `type`.
    pub r#type: CodeableConcept,
    /// `who`.
    pub who: Reference,
}

/// `Provenance.entity`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProvenanceEntity {
    /// `role`.
    pub role: &'static str,
    /// `what`.
    pub what: Reference,
}

/// `Provenance`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// `id`.
    pub id: String,
    /// `meta`.
    pub meta: Meta,
    /// `target`.
    pub target: super::EntryRefs,
    /// `recorded`.
    pub recorded: String,
    /// `reason`.
    pub reason: Vec<CodeableConcept>,
    /// `agent`.
    pub agent: Vec<ProvenanceAgent>,
    /// `entity`.
    pub entity: Vec<ProvenanceEntity>,
}
