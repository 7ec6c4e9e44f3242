//! The organisations a disclosure names: the practice the record comes from and the
//! organisation that asked for it.

use crate::ehr::model::Extract;
use crate::fhir::r4::{Identifier, Meta, Organization, Resource};
use crate::fhir::{SharingContext, ODS_SYSTEM};

/// The practice Organization's name when the record carries no usable ODS code: migx's own
/// words, never source text.
const PRACTICE_WITHOUT_ODS: &str = "Registered GP practice (no valid ODS code in the record)";

/// The practice: its ODS code, or (FHIR's org-1 needs a name or an identifier) when the
/// record gave no usable ODS code (none, or one not in ODS syntax, which is dropped) a name
/// that says exactly that.
pub(super) fn practice(id: &str, ex: &Extract) -> Resource {
    let (identifier, name) = match &ex.practice_ods {
        Some(ods) => (vec![Identifier::new(ODS_SYSTEM, ods.as_str())], None),
        None => (Vec::new(), Some(PRACTICE_WITHOUT_ODS.to_string())),
    };
    Resource::Organization(Box::new(Organization {
        id: id.to_string(),
        meta: Meta::ukcore("Organization"),
        identifier,
        name,
    }))
}

/// The requesting organisation: its ODS code, and its name from the consent row, else from
/// the policy's requester list.
pub(super) fn requester(id: &str, rc: &SharingContext<'_>) -> Resource {
    let ods = &rc.consent.requester_ods;
    Resource::Organization(Box::new(Organization {
        id: id.to_string(),
        meta: Meta::ukcore("Organization"),
        identifier: vec![Identifier::new(ODS_SYSTEM, ods.as_str())],
        name: rc
            .consent
            .requester_name
            .clone()
            .or_else(|| rc.policy.requester_name(ods)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::model::ExtractBuilder;
    use crate::fhir::map::testing::context;
    use crate::fhir::map::testing::json;

    #[test]
    fn a_practice_without_an_ods_code_is_named_in_migxs_own_words() {
        let mut b = ExtractBuilder::default();
        let o = json(&practice("x", &b.clone().finish()));
        assert!(o.get("identifier").is_none());
        assert_eq!(o["name"], PRACTICE_WITHOUT_ODS);
        b.practice_ods = Some("A12345".into());
        let o = json(&practice("x", &b.finish()));
        assert_eq!(o["identifier"][0]["value"], "A12345");
        assert!(o.get("name").is_none());
    }

    #[test]
    fn the_requester_is_its_ods_code() {
        context(|rc| {
            let o = json(&requester("r", rc));
            assert_eq!(o["identifier"][0]["system"], ODS_SYSTEM);
            assert_eq!(o["identifier"][0]["value"], "Y02345");
        });
    }
}
