//! The streaming EhrExtract reader over arbitrary bytes: it must return Ok or an error, never
//! panic, and never run away in time or memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migx::ehr::reader::{read_extract, Limits};

fuzz_target!(|data: &[u8]| {
    let _ = read_extract(data, &Limits::default(), data.len() as u64);
});
