//! Deciding what may be shared: the policy (rules and code lists, loaded from data) and the
//! decisions it gives for one extract.

pub mod allergy;
pub mod config;
pub mod decide;
pub mod detail;
pub mod graph;
pub mod screen;
pub mod semantic;

pub use config::{
    ConfidentialHandling, ConfidentialityAction, ConsentEffect, ConsentValidity, DisplaySource,
    ExclusionBasis, OfficialRefset, Policy, PolicyError, Requester,
};

impl Policy {
    /// The concept a SNOMED CT description id belongs to, from the loaded release.
    pub fn resolve_description(&self, description_id: u64) -> Option<u64> {
        self.snomed_index()?.resolve_description(description_id)
    }

    /// The loaded SNOMED CT release's version, if any.
    pub fn snomed_release_version(&self) -> Option<String> {
        self.snomed_index().map(|i| i.release_version().to_string())
    }

    /// The configured name of a permitted requester.
    pub fn requester_name(&self, ods_code: &str) -> Option<String> {
        self.requester(ods_code).map(|r| r.name.clone())
    }
}
