//! `AuditEvent`: the access audit's record of one disclosure (written to
//! `access-audit.ndjson`, not into the bundle).

use super::datatypes::{CodeableConcept, Coding, Meta, Reference};
use serde::Serialize;

/// `AuditEvent.agent`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditAgent {
    /// `type`.
    pub r#type: CodeableConcept,
    /// `who`.
    pub who: Reference,
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `requestor`.
    pub requestor: bool,
    /// `role`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub role: Vec<CodeableConcept>,
}

/// `AuditEvent.source`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditSource {
    /// `observer`.
    pub observer: Reference,
}

/// `AuditEvent.entity.detail`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntityDetail {
    /// `type`.
    pub r#type: &'static str,
    /// `valueString`.
    pub value_string: String,
}

/// `AuditEvent.entity`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntity {
    /// `what`.
    pub what: Reference,
    /// `type`.
    pub r#type: Coding,
    /// `role`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Coding>,
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `description`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `detail`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<AuditEntityDetail>,
}

/// `AuditEvent`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// `resourceType` (`AuditEvent`).
    pub resource_type: &'static str,
    /// `id`.
    pub id: String,
    /// `meta`.
    pub meta: Meta,
    /// `type`.
    pub r#type: Coding,
    /// `action`.
    pub action: &'static str,
    /// `recorded`.
    pub recorded: String,
    /// `outcome`.
    pub outcome: &'static str,
    /// `purposeOfEvent`.
    pub purpose_of_event: Vec<CodeableConcept>,
    /// `agent`.
    pub agent: Vec<AuditAgent>,
    /// `source`.
    pub source: AuditSource,
    /// `entity`.
    pub entity: Vec<AuditEntity>,
}
