//! Test helpers shared by the reader's unit tests.

pub(super) use super::{read_extract, read_extract_bytes, Limits, MAX_KEPT_TEXT};
pub(super) use crate::ehr::model::*;
pub(super) use crate::error::{ErrorCode, InputError};

pub(super) const ROOT: &str = r#"<RCMR_IN030000UK06 xmlns="urn:hl7-org:v3">"#;

/// Read `s` both ways (streamed and in memory), which must agree exactly: every reader test
/// checks the two event sources at once.
pub(super) fn read(s: &str) -> Result<Extract, InputError> {
    read_with(s.as_bytes(), &Limits::default())
}

/// [`read`] of bytes, under `limits`.
pub(super) fn read_with(doc: &[u8], limits: &Limits) -> Result<Extract, InputError> {
    let streamed = read_extract(doc, limits, doc.len() as u64);
    let in_memory = read_extract_bytes(doc, limits);
    match (&streamed, &in_memory) {
        (Ok(a), Ok(b)) => {
            assert_eq!(canonical(a), canonical(b), "the model read");
            // Every item was compacted as it closed (`finish_compacted` does not do it
            // again): compacting it once more changes nothing.
            for item in a.items.iter() {
                let mut again = item.clone();
                again.compact();
                assert_eq!(
                    format!("{again:?}"),
                    format!("{item:?}"),
                    "compacted as read"
                );
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "the rejection"),
        _ => panic!("one reading failed and not the other: {streamed:?} / {in_memory:?}"),
    }
    streamed
}

/// The model's debug form with its agent directory in id order (a hash map lists its
/// entries in an order of its own, different for two maps of the same entries).
fn canonical(ex: &Extract) -> String {
    let mut agents: Vec<_> = ex.agents.iter().collect();
    agents.sort_by(|a, b| a.0.cmp(b.0));
    format!("{ex:?}").replacen(&format!("{:?}", ex.agents), &format!("{agents:?}"), 1)
}
