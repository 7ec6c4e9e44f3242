//! migx: share a GP practice's record safely.
//!
//! Reads GP2GP HL7 v3 `EhrExtract` messages (and GP Connect STU3 bundles), drops everything
//! that may not leave the practice (recording each drop and why, never its content), maps
//! the rest to FHIR R4 UK Core bundles carrying their consent metadata, and validates every
//! output against the official FHIR R4 JSON Schema and migx's own profile.
//!
//! The stages are separate types: [`ehr::read_extract`] (or [`gpconnect::read_gpconnect`]) reads
//! a file into an [`ehr::Extract`]; [`policy::decide::decide`] gives every item a
//! [`policy::decide::Decision`] under a [`policy::Policy`]; [`fhir::build_bundle`] maps what
//! is shared; [`validate::validate_value`] checks it. [`pipeline::convert_file`] runs them
//! all for one file, [`pipeline::run_batch`] for many, in parallel, writing outputs.
//!
//! The library knows nothing of the command line: the `migx` binary (the `migx-cli` package,
//! `crates/cli/`) parses the flags and maps them onto these types. See `docs/layout.md`.
//!
//! ```
//! use std::sync::Arc;
//! use migx::consent::{ConsentBook, ConsentDecision};
//! use migx::pipeline::{convert_file, ConvertSettings, Status};
//! use migx::policy::Policy;
//!
//! // The embedded default policy; one operator-asserted permit from requester Y02345,
//! // which this run permits (a real deployment lists its requesters in a policy file).
//! let policy = Arc::new(Policy::embedded_default()?);
//! let consent = Arc::new(ConsentBook::all(ConsentDecision::Permit, "Y02345", "TREAT"));
//! let mut settings = ConvertSettings::new(policy, consent);
//! settings.run_permitted_requesters = vec!["Y02345".into()];
//!
//! let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/extracts/02-pathology-report.xml");
//! let c = convert_file(std::path::Path::new(fixture), &settings);
//! assert_eq!(c.status, Status::Converted);
//! // The sensitive result inside the report was withheld, and the audit says why.
//! assert!(c.items.iter().any(|i| i.reason.as_str() == "sensitive-code"));
//! let bundle = serde_json::to_value(c.bundle.expect("a disclosed bundle"))?;
//! assert!(migx::validate::validate_value(&bundle, migx::validate::Profile::Migx).is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod access;
pub mod batch;
pub mod codes;
pub mod consent;
pub mod digest;
pub mod ehr;
pub mod error;
pub mod fhir;
pub mod gpconnect;
pub mod input;
pub mod ndjson;
pub mod nhs;
pub mod outcome;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod run_report;
pub mod rundir;
pub mod settings;
pub mod summary;
pub mod validate;
