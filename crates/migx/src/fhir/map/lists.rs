//! The category Lists (UKCore-List) and what they say about withheld items.
//!
//! One rule for every category: a List never claims that nothing is recorded when items of
//! its category were withheld for a reason other than the category's own scope. What was
//! withheld, per category, is decided in `policy::decide` ([`Withholding`]); here it is
//! mapped: such a List carries the UK Core warning extension
//! (`Extension-UKCore-ListWarningCode`, a `valueCodeableConcept` bound to
//! UKCore-ListWarningCode) and, when empty, an `emptyReason` from UKCore-ListEmptyReasonCode
//! that says what happened (`withheld` or `unavailable`), never `no-content-recorded`.
//! `docs/uk-core.md` lists the UK Core rules relied on.

use crate::fhir::r4::consent::ProvenanceEntity;
use crate::fhir::r4::{
    CodeableConcept, Coding, Extension, ExtensionValue, List, ListEntries, Meta, Reference,
    Resource,
};
use crate::fhir::{SharingContext, SNOMED};
use crate::policy::decide::{Category, Withholding};

/// Extension carrying a List warning (`Extension-UKCore-ListWarningCode`).
pub const LIST_WARNING_URL: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ListWarningCode";
/// UK Core's code system of List warnings.
pub const LIST_WARNING_SYSTEM: &str = "https://fhir.hl7.org.uk/CodeSystem/UKCore-ListWarningCode";
/// HL7's code system of List empty reasons (`nilknown`, `notasked`, `withheld`,
/// `unavailable`, `notstarted`, `closed`).
pub const EMPTY_REASON_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/list-empty-reason";
/// UK Core's own List empty reasons (`no-content-recorded`).
pub const UKCORE_EMPTY_REASON_SYSTEM: &str =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-ListEmptyReasonCode";

/// HL7 security labels (integrity observations such as `REDACTED`).
pub const V3_OBSERVATION_VALUE: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
/// What the Provenance says of an incomplete bundle (no reason or count: a reason such as a
/// sensitive code must not be revealed).
pub const INCOMPLETE_DISPLAY: &str = "incomplete: items were withheld whose category could not be determined (unclassified, or coded only by SNOMED CT ids that could not be resolved); any list of this bundle may be missing items";

/// The Bundle's security label when it is incomplete: HL7 `REDACTED` (information removed),
/// in `Bundle.meta.security`, which every receiver reads with the Bundle.
pub fn incomplete_label() -> Coding {
    Coding::displayed(V3_OBSERVATION_VALUE, "REDACTED", "redacted")
}

/// The Provenance entity of an incomplete bundle (role `removal`: removed from the target).
pub fn incomplete_entity() -> ProvenanceEntity {
    ProvenanceEntity {
        role: "removal",
        what: Reference::display(INCOMPLETE_DISPLAY),
    }
}

/// The List warning extension: items of the category were withheld.
pub fn warning_extension() -> Extension {
    Extension::value(
        LIST_WARNING_URL,
        ExtensionValue::CodeableConcept(CodeableConcept {
            coding: Some(vec![Coding::displayed(
                LIST_WARNING_SYSTEM,
                "confidential-items",
                "Confidential Items",
            )]),
            text: Some(
                "Items withheld under the data-sharing policy: this list is incomplete".into(),
            ),
        }),
    )
}

/// The `emptyReason` of an empty List.
pub fn empty_reason(w: Withholding) -> CodeableConcept {
    let (system, code, display) = if w.by_policy > 0 {
        (EMPTY_REASON_SYSTEM, "withheld", "Information Withheld")
    } else if w.unusable > 0 {
        (EMPTY_REASON_SYSTEM, "unavailable", "Unavailable")
    } else {
        (
            UKCORE_EMPTY_REASON_SYSTEM,
            "no-content-recorded",
            "No Content Recorded",
        )
    };
    CodeableConcept::one(Coding::displayed(system, code, display))
}

/// The UK Core List code of a category (UKCore-ListCode, SNOMED CT), where one exists;
/// otherwise the title as text.
pub fn list_code(c: Category) -> CodeableConcept {
    let sct = |code, display| CodeableConcept {
        coding: Some(vec![Coding::displayed(SNOMED, code, display)]),
        text: Some(list_title(c).into()),
    };
    match c {
        Category::Problems => sct("717711000000103", "Problems"),
        Category::Diagnoses => sct("887161000000102", "Diagnoses"),
        Category::Medications => sct("933361000000108", "Medications and medical devices"),
        Category::Allergies => sct("886921000000105", "Allergies and adverse reactions"),
        Category::Investigations => sct("887191000000108", "Investigations and results"),
        Category::Procedures => sct("887171000000109", "Procedures"),
        Category::Tests | Category::RisksWarnings => CodeableConcept {
            coding: None,
            text: Some(list_title(c).into()),
        },
    }
}

/// The List of one category: its members (bundle entries, in document order), the warning
/// when something of the category was withheld outside its scope, and the reason when empty.
pub(super) fn list(
    id: String,
    cat: Category,
    entry: ListEntries,
    withheld: Withholding,
    patient_ref: &str,
    rc: &SharingContext<'_>,
) -> Resource {
    let extension = if withheld.warns() {
        vec![warning_extension()]
    } else {
        Vec::new()
    };
    Resource::List(Box::new(List {
        id,
        meta: Meta::ukcore("List"),
        extension,
        status: "current",
        mode: "snapshot",
        title: list_title(cat),
        code: list_code(cat),
        subject: Reference::to(patient_ref),
        date: rc.as_of.fhir_instant(),
        empty_reason: entry.is_empty().then(|| empty_reason(withheld)),
        entry,
    }))
}

/// The List title of a category.
pub fn list_title(c: Category) -> &'static str {
    match c {
        Category::Problems => "Problems",
        Category::Diagnoses => "Diagnoses",
        Category::Medications => "Medications",
        Category::Allergies => "Allergies and adverse reactions",
        Category::Tests => "Recent tests",
        Category::Investigations => "Investigations and results",
        Category::Procedures => "Procedures",
        Category::RisksWarnings => "Risks and warnings",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_withholding_outranks_unusable_data_in_the_empty_reason() {
        let w = Withholding {
            by_policy: 1,
            unusable: 3,
        };
        assert_eq!(empty_reason(w).codings()[0].code, "withheld");
        let w = Withholding {
            by_policy: 0,
            unusable: 1,
        };
        assert_eq!(empty_reason(w).codings()[0].code, "unavailable");
        assert_eq!(
            empty_reason(Withholding::default()).codings()[0].system,
            UKCORE_EMPTY_REASON_SYSTEM
        );
    }

    #[test]
    fn warning_is_a_codeable_concept_from_the_uk_core_code_system() {
        let e = serde_json::to_value(warning_extension()).unwrap();
        assert!(e.get("valueCode").is_none());
        assert_eq!(
            e["valueCodeableConcept"]["coding"][0]["system"],
            LIST_WARNING_SYSTEM
        );
    }
}

#[cfg(test)]
mod list_tests {
    use super::*;
    use crate::fhir::map::testing::{context, json};

    #[test]
    fn a_list_names_its_members_or_says_why_it_is_empty() {
        context(|rc| {
            let mut ids = crate::fhir::ids::EntryIds::default();
            ids.push("a");
            ids.push("b");
            let members = ListEntries::new(std::sync::Arc::new(ids), vec![0, 1]);
            let full = json(&list(
                "l".into(),
                Category::Problems,
                members,
                Withholding::default(),
                "urn:uuid:p",
                rc,
            ));
            let keys: Vec<&String> = full.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                [
                    "resourceType",
                    "id",
                    "meta",
                    "status",
                    "mode",
                    "title",
                    "code",
                    "subject",
                    "date",
                    "entry"
                ]
            );
            assert_eq!(full["entry"][1]["item"]["reference"], "urn:uuid:b");
            let withheld = Withholding {
                by_policy: 1,
                unusable: 0,
            };
            let empty = json(&list(
                "l".into(),
                Category::Tests,
                ListEntries::default(),
                withheld,
                "urn:uuid:p",
                rc,
            ));
            assert_eq!(empty["extension"][0]["url"], LIST_WARNING_URL);
            assert_eq!(empty["emptyReason"]["coding"][0]["code"], "withheld");
            assert!(empty.get("entry").is_none());
            assert_eq!(empty["code"], serde_json::json!({ "text": "Recent tests" }));
        });
    }
}
