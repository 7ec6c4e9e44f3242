//! The conversion of one read extract: admission, item decisions, FHIR mapping and
//! validation chained in the order the data flows, and the audit records of what was not
//! shared.

use super::admission::{admit, withheld_as_of, Admission};
use crate::ehr::model::{Element, Extract};
use crate::error::{ErrorCode, InputError};
use crate::fhir::r4::Bundle;
use crate::fhir::{self, SharingContext};
use crate::outcome::{AuditItem, Conversion, Status};
use crate::policy::decide::{decide, Category, Decisions, Outcome, WithheldReason};
use crate::settings::ConvertSettings;
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The FHIR mapping stage: the bundle of what `decisions` share, for an admitted patient.
pub fn map_bundle(
    ex: &Extract,
    decisions: &Decisions,
    admission: &Admission,
    source_sha256: &str,
    s: &ConvertSettings,
) -> Bundle {
    let exclusion = s.exclusion_basis();
    let rc = SharingContext {
        exclusion: &exclusion,
        nhs_number: &admission.nhs_number,
        consent: &admission.consent,
        consent_valid_until: admission.consent_valid_until.clone(),
        as_of: admission.as_of,
        source_sha256,
        policy: &s.policy,
        run_permitted_requesters: &s.run_permitted_requesters,
    };
    fhir::build_bundle(ex, decisions, &rc)
}

/// The validation stage (when the settings ask for it): the bundle against the FHIR R4
/// schema and migx's profile; a violation is migx's bug, and the input is rejected.
///
/// Entry by entry ([`crate::validate::BundleCheck`]): the bundle's frame, then each entry's
/// own small tree, never a tree of the whole bundle.
pub fn check_bundle(bundle: &Bundle, s: &ConvertSettings) -> Result<(), InputError> {
    if !s.validate {
        return Ok(());
    }
    let frame = Bundle {
        resource_type: bundle.resource_type,
        id: bundle.id.clone(),
        meta: bundle.meta.clone(),
        r#type: bundle.r#type,
        timestamp: bundle.timestamp.clone(),
        entry: Vec::new(),
    };
    let mut check =
        crate::validate::BundleCheck::new(&tree(&frame)?, crate::validate::Profile::Migx);
    for entry in &bundle.entry {
        check.entry(&tree(entry)?);
    }
    verdict(check.finish())
}

/// The input's fate from its bundle's violations: none, or `validation-failed` naming the
/// first few (pointer and rule: migx's own element names, never content).
pub(crate) fn verdict(violations: Vec<crate::validate::Violation>) -> Result<(), InputError> {
    if violations.is_empty() {
        return Ok(());
    }
    let first: Vec<String> = violations
        .iter()
        .take(5)
        .map(|v| format!("{} ({})", v.pointer, v.rule))
        .collect();
    Err(InputError::new(
        ErrorCode::ValidationFailed,
        format!(
            "{} schema violation(s): {}",
            violations.len(),
            first.join("; ")
        ),
    ))
}

/// One piece of the bundle (its frame, or one entry) as a JSON tree, what the validator
/// takes.
pub(crate) fn tree<T: serde::Serialize>(piece: &T) -> Result<Json, InputError> {
    serde_json::to_value(piece).map_err(|e| {
        InputError::new(
            ErrorCode::InternalError,
            format!("the bundle does not serialise: {e}"),
        )
    })
}

/// How far [`convert_extract`] runs the stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Through {
    /// Every stage: admission, item decisions, mapping and validation (`convert`).
    Bundle,
    /// Admission and the item decisions, and no further (`explain`: nothing mapping or
    /// validation does changes a decision). A withheld patient's items are decided too, at
    /// the time the record would have been judged ([`withheld_as_of`]), so that explain can
    /// show them; nothing of them is released.
    Decisions,
}

/// One extract through the stages: what became of it, and the item decisions made on the
/// way, kept for whoever shows them (`explain`) instead of being made again.
#[derive(Debug, Clone)]
pub struct Converted {
    /// What became of the input.
    pub conversion: Conversion,
    /// The item decisions (none for a rejected input, nor for a withheld one unless
    /// [`Through::Decisions`] asked for them).
    pub decisions: Option<Decisions>,
}

/// Admission, item decisions, mapping and validation of one read extract: the stages in
/// the order the data flows, as far as `through` says.
pub fn convert_extract(
    ex: &Extract,
    source_sha256: &str,
    size: u64,
    s: &ConvertSettings,
    through: Through,
) -> Converted {
    let admission = match admit(ex, size, s) {
        Ok(a) => a,
        Err(ended) => {
            let decisions = (through == Through::Decisions && ended.status == Status::Withheld)
                .then(|| withheld_as_of(ex, s))
                .flatten()
                .map(|as_of| decide(ex, &s.policy, as_of));
            return Converted {
                conversion: *ended,
                decisions,
            };
        }
    };
    let decisions = decide(ex, &s.policy, admission.as_of);
    let bundle = match through {
        Through::Decisions => None,
        Through::Bundle => {
            let bundle = map_bundle(ex, &decisions, &admission, source_sha256, s);
            if let Err(e) = check_bundle(&bundle, s) {
                let mut c = Conversion::rejected(e, size);
                c.nhs_number = Some(admission.nhs_number);
                return Converted {
                    conversion: c,
                    decisions: Some(decisions),
                };
            }
            Some(bundle)
        }
    };
    let (items, shared) = audit_items(ex, &decisions);
    Converted {
        conversion: Conversion {
            status: Status::Converted,
            withheld: None,
            error: None,
            bundle,
            items,
            shared,
            bytes: size,
            nhs_number: Some(admission.nhs_number),
            consent: Some(admission.consent),
            as_of: Some(admission.as_of),
        },
        decisions: Some(decisions),
    }
}

/// [`convert_extract`] through every stage, keeping only the [`Conversion`].
pub(super) fn share(
    ex: &Extract,
    source_sha256: &str,
    size: u64,
    s: &ConvertSettings,
) -> Conversion {
    convert_extract(ex, source_sha256, size, s, Through::Bundle).conversion
}

/// The id the audit and `explain` show for an item: the id its bundle resource has or would
/// have ([`crate::fhir::ids::source_uuid`]: a source UUID as it is, anything else a UUID
/// derived from it), never a raw non-UUID source id, which may hold an NHS number or text;
/// `#<n>` (its position) for an item without an id.
pub(super) fn audit_id(item: &crate::ehr::model::Item, i: usize) -> String {
    if item.id.is_empty() {
        format!("#{i}")
    } else {
        crate::fhir::ids::source_uuid(&item.id)
    }
}

fn audit_items(ex: &Extract, d: &Decisions) -> (Vec<AuditItem>, BTreeMap<Category, usize>) {
    let mut items = Vec::new();
    let mut shared = BTreeMap::new();
    for (i, dec) in d.items.iter().enumerate() {
        let item = &ex.items[i];
        let element = item.element.map(Element::name).unwrap_or("unknown");
        match dec.outcome {
            Outcome::Withheld(reason) => items.push(AuditItem {
                source_id: audit_id(item, i),
                element,
                category: dec.category,
                reason,
                text_only: false,
            }),
            Outcome::Shared(_) => {
                if let Some(c) = dec.category {
                    *shared.entry(c).or_insert(0) += 1;
                }
            }
            _ => {}
        }
    }
    for &i in &d.free_text_removed {
        let item = &ex.items[i];
        items.push(AuditItem {
            source_id: audit_id(item, i),
            element: item.element.map(Element::name).unwrap_or("unknown"),
            category: d.items[i].category,
            reason: WithheldReason::FreeText,
            text_only: true,
        });
    }
    // Record-level values dropped for their syntax (an ODS code carrying text).
    for &field in &ex.record_text_removed {
        items.push(AuditItem {
            source_id: format!("#{field}"),
            element: "Organization",
            category: None,
            reason: WithheldReason::FreeText,
            text_only: true,
        });
    }
    (items, shared)
}
