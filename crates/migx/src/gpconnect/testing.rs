//! Test helpers shared by the reader's unit tests.

pub(super) use super::read_gpconnect;
pub(super) use crate::ehr::model::{DateField, Element, Extract, Item, MessageKind};
pub(super) use crate::error::ErrorCode;
pub(super) use crate::policy::decide::{decide, Outcome, WithheldReason};
pub(super) use crate::policy::Policy;

pub(super) fn fixture() -> Vec<u8> {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/gpconnect/record.json"
    );
    std::fs::read(p).unwrap()
}

pub(super) fn item<'a>(ex: &'a Extract, id: &str) -> &'a Item {
    ex.get(id).unwrap_or_else(|| panic!("no item {id}"))
}

/// A bundle with a patient and `entries` (JSON resource objects).
pub(super) fn bundle(meta: &str, entries: &[&str]) -> Vec<u8> {
    let mut all = vec![
        r#"{"resourceType":"Patient","id":"p","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]}"#,
    ];
    all.extend_from_slice(entries);
    let entries: Vec<String> = all
        .iter()
        .map(|r| format!(r#"{{"resource":{r}}}"#))
        .collect();
    format!(
        r#"{{"resourceType":"Bundle","meta":{{"lastUpdated":"2026-03-14T10:00:00+00:00"{meta}}},"entry":[{}]}}"#,
        entries.join(",")
    )
    .into_bytes()
}

pub(super) fn outcomes(b: &[u8]) -> (Extract, Vec<Outcome>) {
    let ex = read_gpconnect(b).expect("reads");
    let policy = Policy::embedded_default().unwrap();
    let d = decide(&ex, &policy, ex.created.value().unwrap());
    let o = d.items.iter().map(|d| d.outcome).collect();
    (ex, o)
}

pub(super) const OBS: &str = r#""status":"final","code":{"coding":[{"system":"http://snomed.info/sct","code":"1000731000000107"}]},"effectiveDateTime":"2026-03-01","issued":"2026-03-01T10:00:00+00:00","valueQuantity":{"value":5.4,"unit":"mmol/L"}"#;
