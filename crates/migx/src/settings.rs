//! What a conversion needs besides the file: the policy, the consent book, the as-of time,
//! the streaming limits and the run's operator assertions. Built once per run by the
//! command line (or any caller of the library) and shared by every file.

use crate::consent::ConsentBook;
use crate::ehr::reader::Limits;
use crate::ehr::ts::Ts;
use crate::policy::Policy;
use std::sync::Arc;

/// Default largest input accepted (1 GiB).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1 << 30;

/// Everything a conversion of one file needs besides the file.
#[derive(Debug, Clone)]
pub struct ConvertSettings {
    /// The sharing policy (rules, code lists, optional SNOMED CT release).
    pub policy: Arc<Policy>,
    /// Point-of-care consent decisions (a consent file, or one operator assertion).
    pub consent: Arc<ConsentBook>,
    /// Overrides the extract's own creation time as the date "current" is judged against.
    pub as_of: Option<Ts>,
    /// Accept NHS numbers that fail the modulus 11 check (test data only).
    pub allow_test_identities: bool,
    /// Streaming limits for hostile input (depth, attributes, node size).
    pub limits: Limits,
    /// Largest input accepted, in bytes; larger files are rejected `file-too-large`.
    pub max_file_size: u64,
    /// Organisations permitted for this run only (`--permit-requester`).
    pub run_permitted_requesters: Vec<String>,
    /// Validate every bundle against the FHIR R4 schema and the migx profile before writing.
    pub validate: bool,
    /// The operator asserts that this run discloses records without the official exclusion refsets
    /// (`--without-official-refsets`, for fixtures and tests); recorded in each bundle's
    /// Provenance and in `summary.json` when the official sets are not loaded.
    pub without_official_refsets: bool,
}

impl ConvertSettings {
    /// Settings with defaults: no `--as-of`, real identities only, default limits, validation on.
    pub fn new(policy: Arc<Policy>, consent: Arc<ConsentBook>) -> Self {
        ConvertSettings {
            policy,
            consent,
            as_of: None,
            allow_test_identities: false,
            limits: Limits::default(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            run_permitted_requesters: Vec::new(),
            validate: true,
            without_official_refsets: false,
        }
    }

    /// What the sensitive-code check of this run rests on (official refsets, the operator's
    /// assertion, SNOMED CT subtypes).
    pub fn exclusion_basis(&self) -> crate::policy::config::ExclusionBasis {
        self.policy.exclusion_basis(self.without_official_refsets)
    }
}
