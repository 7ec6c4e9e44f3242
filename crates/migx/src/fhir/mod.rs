//! Building FHIR R4 (UK Core) resources and the disclosed Bundle from an extract and its
//! decisions. Only items decided `Shared` are mapped; free text is never copied (the model
//! does not even hold it). Resource ids derive from source ids, so output is deterministic.
//!
//! [`r4`] holds the resources as typed structs; [`map`] has one mapper module per source
//! construct (problem, allergy, medication, report, result, ...), each mapping only what the
//! policy decided ([`crate::policy::decide`]).

pub mod ids;
pub mod interpretation;
pub mod map;
pub mod r4;

use crate::consent::ConsentRecord;
use crate::ehr::ts::Ts;
use crate::policy::Policy;

pub use map::lists::{self, LIST_WARNING_URL};
pub use map::{build_bundle, concept_of, BundleStream, EntriesError, Plan};

/// Prefix of UK Core profile URLs; append the resource type (e.g. `UKCore-Patient`).
pub const UKCORE: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-";
/// Identifier system of NHS numbers.
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
/// Identifier system of ODS organisation codes.
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
/// Identifier system of SDS user ids.
pub const SDS_USER_SYSTEM: &str = "https://fhir.nhs.uk/Id/sds-user-id";
/// Identifier system of SDS role profile ids.
pub const SDS_ROLE_PROFILE_SYSTEM: &str = "https://fhir.nhs.uk/Id/sds-role-profile-id";
/// Identifier system of GMP (GP national) numbers.
pub const GMP_NUMBER_SYSTEM: &str = "https://fhir.hl7.org.uk/Id/gmp-number";
/// Core extension holding a SNOMED CT description id beside the concept id it resolves to (a
/// description id is a term, not a concept, so it cannot go in `Coding.code`).
pub const SCT_DESC_ID_URL: &str = "http://hl7.org/fhir/StructureDefinition/coding-sctdescid";
/// Core extension saying why a value is absent.
pub const DATA_ABSENT_REASON_URL: &str =
    "http://hl7.org/fhir/StructureDefinition/data-absent-reason";
/// Core R4 extension relating a Condition to another one (an unspecified relationship):
/// UK Core 2.0 has no related-problem extension of its own (D21).
pub const CONDITION_RELATED_URL: &str = "http://hl7.org/fhir/StructureDefinition/condition-related";
/// HL7 v3 ActCode (`NOPAT`, `INFA`, `OPTIN`).
pub(crate) const V3_ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// HL7 v3 ActReason (purposes of use).
pub(crate) const V3_ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
/// SNOMED CT.
pub(crate) const SNOMED: &str = "http://snomed.info/sct";
/// The identifier system of `urn:uuid:` identifiers.
pub(crate) const URI_SYSTEM: &str = "urn:ietf:rfc:3986";

/// What the disclosure is made under: who asked, with what consent, by which rules.
#[derive(Debug, Clone)]
pub struct SharingContext<'a> {
    /// The patient's NHS number (the only patient identifier disclosed).
    pub nhs_number: &'a str,
    /// The consent under which the record is disclosed.
    pub consent: &'a ConsentRecord,
    /// End of the consent's validity (encounter day, or the configured window).
    pub consent_valid_until: Option<String>,
    /// The date currency and recency were judged against.
    pub as_of: Ts,
    /// SHA-256 of the input file.
    pub source_sha256: &'a str,
    /// The policy that made the decisions (its hash goes into the Provenance).
    pub policy: &'a Policy,
    /// Organisations added for this run only with `--permit-requester`.
    pub run_permitted_requesters: &'a [String],
    /// What the sensitive-code check rested on (recorded in the Provenance).
    pub exclusion: &'a crate::policy::config::ExclusionBasis,
}
