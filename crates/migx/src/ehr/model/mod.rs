//! The typed model both readers (EhrExtract XML, GP Connect STU3) produce, and that the
//! policy and the FHIR mapping consume. It holds codes, dates and structure; free text is
//! recorded only as "present", never kept, so it cannot leak by accident.
//!
//! One file per concern: `element` (the message kind, the GP2GP element names, HL7
//! structural codes), `dates` (date fields, `effectiveTime`), `item` (an [`Item`]: the
//! [`ItemHead`] every construct has and its [`ItemKind`] payload), `payload` (each
//! construct's own fields), `staff` (participations and agents), `extract` (the record:
//! [`ExtractBuilder`] and the finished [`Extract`]), `index` (its id index, holding no copy
//! of any id).

mod dates;
mod element;
mod extract;
mod index;
mod item;
mod payload;
mod staff;

pub use dates::{DateField, Effective};
pub use element::{hl7_code, Element, Hl7Code, MessageKind};
pub use extract::{Cover, Extract, ExtractBuilder, IdentityProblem, Ids};
pub use item::{Item, ItemHead, ItemKind};
pub use payload::{
    Allergy, DoseQuantity, LinkSet, Medication, Observation, Reaction, ReferenceRange,
    StructuredDose, Supply, Value,
};
pub use staff::{
    gmp_number, sds_id, staff_text, Agent, AgentOrg, StaffKind, StaffName, StaffRef, MAX_STAFF_TEXT,
};

#[cfg(test)]
pub(crate) mod test_items;

#[cfg(test)]
mod tests {
    use super::test_items::*;

    /// Upper bounds on the measured sizes (64-bit).
    const ITEM_BYTES: usize = 576;
    const KIND_BYTES: usize = 128;
    use super::*;
    use crate::codes::{CodeSystem, Coding};
    use std::borrow::Cow;

    #[test]
    fn codings_enumerates_every_coding_of_every_payload_kind() {
        let mut n = 0;
        let mut next = || {
            n += 1;
            Coding::new(CodeSystem::Snomed, format!("m{n}"))
        };
        let items = every_kind(&mut next);
        // Every payload kind is generated.
        let kinds: std::collections::BTreeSet<&str> = items
            .iter()
            .map(|i| match i.kind {
                ItemKind::Plain => "plain",
                ItemKind::Observation(_) => "observation",
                ItemKind::Allergy(_) => "allergy",
                ItemKind::LinkSet(_) => "link set",
                ItemKind::Medication(_) => "medication",
                ItemKind::Supply(_) => "supply",
            })
            .collect();
        assert_eq!(kinds.len(), 6, "{kinds:?}");
        for item in &items {
            let held = codes_in(item);
            assert!(held.len() >= 2, "{item:?}");
            let listed: Vec<&str> = item.codings().map(|c| c.code.as_str()).collect();
            for code in &held {
                assert!(listed.contains(&code.as_str()), "{code} of {item:?}");
            }
            assert_eq!(listed.len(), held.len(), "{item:?}");
            // What the mapping may emit is a subset, and never the carried codings.
            let emitted: Vec<&str> = item.emitted_codings().map(|c| c.code.as_str()).collect();
            assert!(emitted.iter().all(|c| listed.contains(c)));
            assert!(!emitted.contains(&item.carried[0].code.as_str()));
        }
    }

    /// Bytes per item (issue 24.12): the head and the largest inline payload; a rare
    /// payload is boxed. Bounds, so growth is a decision, not an accident.
    #[test]
    fn an_item_stays_compact() {
        use std::mem::size_of;
        let sizes = [
            ("Item", size_of::<Item>(), ITEM_BYTES),
            ("ItemKind", size_of::<ItemKind>(), KIND_BYTES),
            ("Observation", size_of::<Observation>(), KIND_BYTES),
            ("Coding", size_of::<Coding>(), 72),
            ("Hl7Code", size_of::<Option<Hl7Code>>(), 24),
        ];
        for (what, bytes, bound) in sizes {
            println!("size_of {what}: {bytes}");
            assert!(bytes <= bound, "{what}: {bytes} bytes, bound {bound}");
        }
        // Common structural codes are shared, not allocated per item.
        assert!(matches!(hl7_code("OBS"), Cow::Borrowed(_)));
        assert!(matches!(hl7_code("odd"), Cow::Owned(ref s) if s == "odd"));
    }

    #[test]
    fn a_construct_opens_with_its_own_payload() {
        use Element as E;
        for e in [
            E::EhrComposition,
            E::ObservationStatement,
            E::CompoundStatement,
            E::LinkSet,
            E::MedicationStatement,
            E::EhrSupplyAuthorise,
            E::EhrSupplyPrescribe,
            E::EhrSupplyDiscontinue,
            E::NarrativeStatement,
            E::PlanStatement,
            E::RequestStatement,
            E::RegistrationStatement,
            E::Other,
        ] {
            let item = Item::new(e);
            assert_eq!(item.element, Some(e));
            assert_eq!(item.observation().is_some(), e == E::ObservationStatement);
            assert_eq!(item.link_set().is_some(), e == E::LinkSet);
            assert_eq!(item.medication().is_some(), e == E::MedicationStatement);
            assert_eq!(
                item.supply().is_some(),
                matches!(
                    e,
                    E::EhrSupplyAuthorise | E::EhrSupplyPrescribe | E::EhrSupplyDiscontinue
                )
            );
            assert!(item.allergy().is_none());
        }
    }
}
