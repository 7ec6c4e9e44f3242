//! The typed model both readers (EhrExtract XML, GP Connect STU3) produce, and that the
//! policy and the FHIR mapping consume. It holds codes, dates and structure; free text is
//! recorded only as "present", never kept, so it cannot leak by accident.
//!
//! One file per concern: `element` (the message kind, the GP2GP element names, HL7
//! structural codes), `dates` (date fields, `effectiveTime`), `item` (an [`Item`]: the
//! [`ItemHead`] every construct has and its [`ItemKind`] payload), `payload` (each
//! construct's own fields), `staff` (participations and agents), `extract` (the record:
//! [`ExtractBuilder`] and the finished [`Extract`]), `index` (its id index, holding no copy
//! of any id), `source_id` (an item's [`SourceId`], held in the item when short), `list`
//! (the one-word [`List`] for lists most items leave empty).

mod dates;
mod element;
mod extract;
mod index;
mod item;
mod list;
mod payload;
mod source_id;
mod staff;

pub use dates::{DateField, Effective};
pub use element::{hl7_code, Element, Hl7Code, MessageKind};
pub use extract::{Cover, Extract, ExtractBuilder, IdentityProblem, Ids};
pub use item::{Codings, Item, ItemHead, ItemKind, StaffRefs};
pub use list::{push_lean, List};
pub use payload::{
    Allergy, DoseQuantity, LinkSet, Medication, Observation, Reaction, ReferenceRange,
    StructuredDose, Supply, Value,
};
pub(crate) use source_id::id_text;
pub use source_id::SourceId;
pub use staff::{
    gmp_number, sds_id, staff_text, Agent, AgentOrg, StaffKind, StaffName, StaffRef, MAX_STAFF_TEXT,
};

#[cfg(test)]
pub(crate) mod test_items;

#[cfg(test)]
mod tests {
    use super::test_items::*;

    /// Upper bounds on the measured sizes (64-bit). An item is 16 bytes larger since its id
    /// is held in it ([`SourceId`], 40 bytes for a `String`'s 24): a UUID id no longer has a
    /// 48-byte heap block of its own, so an item with one costs 32 bytes less in all. It is
    /// 88 bytes larger since its first coding and its first staff reference are held in it
    /// ([`Codings`], [`StaffRefs`]): an item with one of each was 352 bytes and two blocks
    /// of 80 and 56 (with malloc's headers), and is now 440 bytes and no block.
    const ITEM_BYTES: usize = 440;
    const KIND_BYTES: usize = 48;
    use super::*;
    use crate::codes::{CodeSystem, Coding};

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

    /// Compacting drops only the carried codings that repeat, in system and code, a coding
    /// held before them, whatever position that one holds (the code, every payload slot, an
    /// earlier carried coding), below and above the bound where the comparison goes through
    /// a set: the distinct codings, in order of first appearance, are those before, and the
    /// same code in another system is kept.
    #[test]
    fn compacting_drops_only_repeated_carried_codings() {
        use std::collections::HashSet;
        fn distinct(item: &Item) -> Vec<(CodeSystem, String)> {
            let mut seen = HashSet::new();
            item.codings()
                .map(|c| (c.system.clone(), c.code.to_string()))
                .filter(|k| seen.insert(k.clone()))
                .collect()
        }
        for fillers in [0usize, 40] {
            let mut n = 0;
            let mut next = || {
                n += 1;
                Coding::new(CodeSystem::Snomed, format!("m{n}"))
            };
            for item in every_kind(&mut next) {
                let held: Vec<Coding> = item.codings().cloned().collect();
                for repeat in &held {
                    let mut it = item.clone();
                    let mut other_system = repeat.clone();
                    other_system.system = CodeSystem::ReadV2;
                    let mut other_display = repeat.clone();
                    other_display.display = Some("another term".into());
                    for k in 0..fillers {
                        it.carried
                            .push(Coding::new(CodeSystem::Ctv3, format!("f{k}")));
                    }
                    it.carried.push(repeat.clone());
                    it.carried.push(other_system.clone());
                    it.carried.push(other_display);
                    it.carried.push(other_system.clone());
                    let before = distinct(&it);
                    it.compact();
                    assert_eq!(distinct(&it), before, "{repeat:?} in {item:?}");
                    let after: Vec<(CodeSystem, String)> = it
                        .codings()
                        .map(|c| (c.system.clone(), c.code.to_string()))
                        .collect();
                    assert_eq!(after, before, "no coding is held twice");
                    assert!(it.carried.contains(&other_system));
                    assert_eq!(it.carried.len(), item.carried.len() + fillers + 1);
                }
            }
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
            ("Hl7Code", size_of::<Option<Hl7Code>>(), 16),
            ("DateField", size_of::<DateField>(), 12),
            ("Effective", size_of::<Effective>(), 36),
            ("List", size_of::<List<Coding>>(), 8),
            ("Codings", size_of::<Codings>(), 80),
        ];
        for (what, bytes, bound) in sizes {
            println!("size_of {what}: {bytes}");
            assert!(bytes <= bound, "{what}: {bytes} bytes, bound {bound}");
        }
        // Common structural codes are shared, not allocated per item.
        // Common structural codes are one byte each; any other is kept as written.
        for code in ["OBS", "COMPLETE", "nullified", "odd", "", "obs"] {
            let common = ["OBS", "COMPLETE", "nullified"].contains(&code);
            for held in [hl7_code(code), Hl7Code::from(code.to_string())] {
                assert_eq!(&*held, code);
                assert_eq!(held.is_common(), common, "{code}");
                assert_eq!(held, hl7_code(code));
                assert_eq!(format!("{held:?}"), format!("{code:?}"));
            }
        }
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
