//! migx: share a GP practice's record safely.
//!
//! Reads GP2GP HL7 v3 `EhrExtract` messages (and GP Connect STU3 bundles), drops everything
//! that may not leave the practice (recording each drop and why, never its content), maps
//! the rest to FHIR R4 UK Core bundles carrying their consent metadata, and validates every
//! output against the official FHIR R4 JSON Schema and migx's own profile.

pub mod access;
pub mod batch;
pub mod cli;
pub mod codes;
pub mod consent;
pub mod ehr;
pub mod error;
pub mod fhir;
pub mod ndjson;
pub mod nhs;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod progress;
pub mod summary;
pub mod validate;
