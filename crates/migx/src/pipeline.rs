//! Files in, outcomes out: every input ends as exactly one of converted, withheld (by
//! policy, with a reason) or rejected (bad input, with an error code). Work runs in
//! parallel across files (never inside one file's hot loop); results are merged in input
//! order, so the audit and summary are byte-identical whatever `--jobs` is.
//!
//! The stages, one file each, in the order the data flows (see `docs/layout.md`):
//! [`walk`] (the command line's paths into the run's inputs), [`read`] (one file in, an
//! `Extract` out), [`admission`] (the patient: an [`Admission`] or a withheld reason),
//! [`convert`] (item decisions, FHIR mapping and validation of one extract), [`runner`] (the
//! batch runner and ordered writer), [`records`] (the audit lines, totals and summary), and
//! [`explain`].

pub mod admission;
pub mod convert;
pub mod explain;
pub mod read;
pub mod records;
pub mod runner;
pub mod walk;

pub use crate::batch::{OutputFormat, Shard};
pub use crate::input::InputFile;
pub use crate::outcome::{AuditItem, Conversion, Status};
pub use crate::settings::{ConvertSettings, DEFAULT_MAX_FILE_SIZE};
pub use admission::{admit, withheld_as_of, Admission};
pub use convert::{
    check_bundle, convert_extract, convert_extract_with, map_bundle, Converted, Share, ShareError,
    Through,
};
pub use explain::{explain_file, ExplainedItem, Explanation};
pub use read::read_input;
pub use records::{AuditLine, RunTotals, Summary, Tally, NO_SNOMED_RELEASE_ADVICE};
pub use runner::{run_batch, BatchOptions, Progress, Stopped};
pub use walk::{
    collect_inputs, looks_like_an_extract, starts_like_an_extract, walk_inputs, SkipReason,
    Skipped, Walk,
};

use std::path::Path;

/// Convert one file: read, identify, decide, map, validate. Writes nothing.
pub fn convert_file(path: &Path, settings: &ConvertSettings) -> Conversion {
    #[cfg(test)]
    tests::maybe_panic(path);
    match read_input(path, settings) {
        Ok((ex, hash, size)) => convert::share(&ex, &hash, size, settings),
        Err((e, size)) => Conversion::rejected(e, size),
    }
}

/// Read and convert one file, giving an admitted patient's [`Share`] to `disclose` (which
/// writes the bundle as it is made): what became of the input, and what `disclose` gave back
/// (`Err`: its write failed). The bundle is never held whole.
pub fn convert_file_with<T>(
    path: &Path,
    settings: &ConvertSettings,
    disclose: impl FnOnce(Share<'_>) -> Result<T, ShareError>,
) -> (Conversion, Option<Result<T, std::io::Error>>) {
    #[cfg(test)]
    tests::maybe_panic(path);
    #[cfg(test)]
    let disclose = {
        let corrupt = tests::corrupts(path);
        move |mut share: Share<'_>| {
            share.corrupt = corrupt;
            disclose(share)
        }
    };
    // One memory of code verdicts for the file's stages and the run's other files on this
    // thread: admission, decisions and mapping screen each distinct code once between them.
    crate::policy::screen::remembering_shared(&settings.policy, || {
        match read_input(path, settings) {
            Ok((ex, hash, size)) => {
                let (c, disclosed) =
                    convert::convert_extract_with(&ex, &hash, size, settings, disclose);
                (c.conversion, disclosed)
            }
            Err((e, size)) => (Conversion::rejected(e, size), None),
        }
    })
}

#[cfg(test)]
mod admission_rules;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{ConsentBook, ConsentDecision};
    use crate::error::ErrorCode;
    use crate::policy::Policy;
    use serde_json::Value as Json;
    use std::sync::Arc;

    /// Test-only seam: converting a file with this name panics, standing in for a bug.
    const PANIC_NAME: &str = "migx-test-panic.xml";

    /// Test-only seam: the bundle of a file with this name gets an invalid entry 7.
    const CORRUPT_NAME: &str = "migx-test-invalid.xml";

    pub(super) fn corrupts(path: &Path) -> bool {
        path.file_name().is_some_and(|n| n == CORRUPT_NAME)
    }

    /// A bundle that fails validation as it is written is rejected (`validation-failed`)
    /// and its temp file removed, never published; the batch goes on; with ndjson, none
    /// of its lines are written.
    #[test]
    fn a_bundle_invalid_as_it_is_written_is_rejected_and_not_published() {
        for format in [OutputFormat::Bundle, OutputFormat::Ndjson] {
            let dir = tempfile::tempdir().expect("tempdir");
            let good = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
                .join("fixtures/extracts/01-core-shared.xml");
            let inputs_dir = dir.path().join("in");
            std::fs::create_dir(&inputs_dir).expect("mkdir");
            std::fs::copy(&good, inputs_dir.join("a-good.xml")).expect("copy");
            std::fs::copy(&good, inputs_dir.join(CORRUPT_NAME)).expect("copy");
            let inputs = collect_inputs(&[inputs_dir]);
            let opts = BatchOptions {
                out: dir.path().join("out"),
                jobs: 1,
                fail_fast: false,
                format,
                shard: None,
                skipped: Default::default(),
            };
            let totals = run_batch(&inputs, &settings(), &opts, &|_, _, _, _| {}).expect("runs");
            assert_eq!(totals.by_status.get(Status::Converted), 1);
            assert_eq!(totals.error_codes.get(ErrorCode::ValidationFailed), 1);
            let audit = std::fs::read_to_string(opts.out.join("audit.ndjson")).expect("audit");
            let line = audit
                .lines()
                .find(|l| l.contains(CORRUPT_NAME))
                .expect("an audit line for the invalid bundle");
            let v: Json = serde_json::from_str(line).expect("json");
            assert_eq!(v["status"], "rejected");
            assert_eq!(v["error"]["code"], "validation-failed");
            let access =
                std::fs::read_to_string(opts.out.join("access-audit.ndjson")).expect("access");
            assert_eq!(
                access.lines().count(),
                1,
                "one disclosure, one access event"
            );
            if format == OutputFormat::Bundle {
                let names: Vec<String> = std::fs::read_dir(opts.out.join("bundles"))
                    .expect("bundles")
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                assert_eq!(names, ["a-good.json"], "no temp file, no invalid bundle");
            } else {
                let patients = std::fs::read_to_string(opts.out.join("ndjson/Patient.ndjson"))
                    .expect("patients");
                assert_eq!(patients.lines().count(), 1, "only the valid bundle's lines");
            }
        }
    }

    pub(super) fn maybe_panic(path: &Path) {
        if path.file_name().is_some_and(|n| n == PANIC_NAME) {
            panic!("test-only panic seam");
        }
    }

    fn settings() -> ConvertSettings {
        let policy = Arc::new(Policy::embedded_default().expect("embedded policy"));
        let consent = Arc::new(ConsentBook::all(ConsentDecision::Permit, "Y02345", "TREAT"));
        let mut s = ConvertSettings::new(policy, consent);
        s.allow_test_identities = true;
        s.run_permitted_requesters = vec!["Y02345".to_string()];
        s
    }

    #[test]
    fn a_panic_in_a_worker_is_an_internal_error_and_the_batch_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("fixtures/extracts/01-core-shared.xml");
        let inputs_dir = dir.path().join("in");
        std::fs::create_dir(&inputs_dir).expect("mkdir");
        std::fs::copy(&good, inputs_dir.join("a-good.xml")).expect("copy");
        std::fs::copy(&good, inputs_dir.join(PANIC_NAME)).expect("copy");
        std::fs::copy(&good, inputs_dir.join("z-good.xml")).expect("copy");
        let inputs = collect_inputs(&[inputs_dir]);
        let opts = BatchOptions {
            out: dir.path().join("out"),
            jobs: 2,
            fail_fast: false,
            format: OutputFormat::Bundle,
            shard: None,
            skipped: Default::default(),
        };
        // Keep the expected panic's message out of the test output.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let totals = run_batch(&inputs, &settings(), &opts, &|_, _, _, _| {});
        std::panic::set_hook(hook);
        let totals = totals.expect("batch runs");
        assert_eq!(totals.by_status.get(Status::Converted), 2);
        assert_eq!(totals.error_codes.get(ErrorCode::InternalError), 1);
        let audit = std::fs::read_to_string(opts.out.join("audit.ndjson")).expect("audit");
        let line = audit
            .lines()
            .find(|l| l.contains(PANIC_NAME))
            .expect("an audit line for the panicking file");
        let v: Json = serde_json::from_str(line).expect("json");
        assert_eq!(v["status"], "rejected");
        assert_eq!(v["error"]["code"], "internal-error");
        assert!(opts.out.join("bundles/a-good.json").is_file());
        assert!(opts.out.join("bundles/z-good.json").is_file());
        assert!(!opts.out.join("bundles/migx-test-panic.json").exists());
    }
}
