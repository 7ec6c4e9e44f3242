//! Test helpers shared by the reader's unit tests.

pub(super) use super::{read_extract, Limits, MAX_KEPT_TEXT};
pub(super) use crate::ehr::model::*;
pub(super) use crate::error::{ErrorCode, InputError};

pub(super) const ROOT: &str = r#"<RCMR_IN030000UK06 xmlns="urn:hl7-org:v3">"#;

pub(super) fn read(s: &str) -> Result<Extract, InputError> {
    read_extract(s.as_bytes(), &Limits::default(), s.len() as u64)
}
