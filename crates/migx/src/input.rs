//! The inputs of a run: one entry per file found on the command line's paths, with the
//! names the run's records and outputs use for it.

use std::path::PathBuf;

/// One input file found by walking the command line's paths.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// The file.
    pub path: PathBuf,
    /// Path as shown in the audit (as walked from the given argument).
    pub display: String,
    /// Output bundle file name (unique within the run).
    pub bundle_name: String,
    /// An error found while walking (unreadable folder, vanished file).
    pub walk_error: Option<String>,
    /// Path relative to the input root it was found under (`/`-separated; a file given
    /// directly: its file name). What `--shard` hashes, so shards agree across machines.
    pub rel: String,
}

impl InputFile {
    /// How the operator's records inside the output folder (audit, journal, report) name
    /// this input: its path with every NHS number masked ([`crate::nhs::mask_nhs_numbers_in`]).
    /// Receivers never see an input's name at all.
    pub fn shown(&self) -> String {
        crate::nhs::mask_nhs_numbers_in(&self.display)
    }
}
