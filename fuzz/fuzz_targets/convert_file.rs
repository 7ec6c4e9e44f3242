//! A whole conversion (sniff, read, identify, decide, build, validate) of arbitrary bytes
//! written to a file, with permissive settings so that as much as possible gets through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migx::consent::{ConsentBook, ConsentDecision};
use migx::pipeline::{convert_file, ConvertSettings, Status};
use migx::policy::Policy;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

struct Fixture {
    settings: ConvertSettings,
    path: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let policy = Arc::new(Policy::embedded_default().expect("embedded policy"));
        let consent = Arc::new(ConsentBook::all(ConsentDecision::Permit, "Y02345", "TREAT"));
        let mut settings = ConvertSettings::new(policy, consent);
        settings.allow_test_identities = true;
        settings.run_permitted_requesters = vec!["Y02345".to_string()];
        let path = std::env::temp_dir().join(format!("migx-fuzz-{}.xml", std::process::id()));
        Fixture { settings, path }
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
