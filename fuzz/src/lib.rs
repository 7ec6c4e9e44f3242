//! What the fuzz targets share: the permissive conversion settings (every patient permitted
//! for requester Y02345, test NHS numbers allowed, the run asserted to be without the official
//! refsets, validation on), so that as much of an input as possible reaches the policy and the
//! bundle builder, and a scratch directory of this process.

use migx::consent::{ConsentBook, ConsentDecision};
use migx::pipeline::ConvertSettings;
use migx::policy::Policy;
use std::path::PathBuf;
use std::sync::Arc;

/// The requester every fuzz run permits.
pub const REQUESTER: &str = "Y02345";

/// Settings under which a well-formed extract converts: the embedded default policy, every
/// patient permitted for [`REQUESTER`], test identities allowed.
pub fn permissive_settings() -> ConvertSettings {
    // The embedded policy is part of the binary: failing to load it is a build defect.
    let policy = Arc::new(Policy::embedded_default().expect("embedded policy"));
    let consent = Arc::new(ConsentBook::all(
        ConsentDecision::Permit,
        REQUESTER,
        "TREAT",
    ));
    let mut settings = ConvertSettings::new(policy, consent);
    settings.allow_test_identities = true;
    settings.without_official_refsets = true;
    settings.run_permitted_requesters = vec![REQUESTER.to_string()];
    settings
}

/// A scratch directory for this fuzz process (`<tmp>/migx-fuzz-<name>-<pid>`), created.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("migx-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}
