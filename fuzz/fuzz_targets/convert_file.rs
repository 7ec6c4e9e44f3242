//! A whole conversion (sniff, read, identify, decide, build, validate) of arbitrary bytes
//! written to a file, with permissive settings so that as much as possible gets through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migx::pipeline::{convert_file, ConvertSettings, Status};
use migx_fuzz::{permissive_settings, scratch_dir};
use std::path::PathBuf;
use std::sync::OnceLock;

struct Fixture {
    settings: ConvertSettings,
    path: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        settings: permissive_settings(),
        path: scratch_dir("convert").join("x.xml"),
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if std::fs::write(&f.path, data).is_err() {
        return;
    }
    let c = convert_file(&f.path, &f.settings);
    // Every file ends as exactly one outcome; a rejection always carries an error.
    match c.status {
        Status::Rejected => assert!(c.error.is_some()),
        Status::Converted => assert!(c.bundle.is_some()),
        Status::Withheld => assert!(c.withheld.is_some()),
    }
});
