//! The fixture SNOMED CT releases the index's unit tests read.

use std::path::{Path, PathBuf};

pub(super) fn fixture() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("fixtures/snomed-release")
}

pub(super) fn hierarchy_fixture() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("fixtures/snomed-hierarchy")
}
