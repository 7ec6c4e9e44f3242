//! Items of every payload kind with every coding slot filled, for tests that must hold for
//! every coding of every construct.

use super::*;
use crate::codes::Coding;

/// One item of each [`ItemKind`] (and each [`Value`] that holds codings), every field
/// that holds a coding filled by `next()` (called once per slot, in order). The payload
/// literals name every field (no `..Default::default()`), so a field added to a payload
/// does not compile here until it is given a value.
pub(crate) fn every_kind(next: &mut dyn FnMut() -> Coding) -> Vec<Item> {
    let head = |element: Element, next: &mut dyn FnMut() -> Coding| {
        Item::of(ItemHead {
            codes: smallvec::smallvec![next()],
            carried: vec![next()].into(),
            ..ItemHead::new(element)
        })
    };
    let quantity = |v: &str| DoseQuantity {
        value: v.into(),
        unit: None,
    };
    let mut out = vec![head(Element::CompoundStatement, next)];
    let mut obs = head(Element::ObservationStatement, next);
    obs.kind = ItemKind::Observation(Observation {
        value: Some(Box::new(Value::Coded(vec![next(), next()]))),
        interpretation: vec![next()].into(),
        reference_range: Some(Box::default()),
        code_text: None,
    });
    out.push(obs);
    let mut allergy = head(Element::CompoundStatement, next);
    allergy.kind = ItemKind::Allergy(Box::new(Allergy {
        reactions: vec![Reaction {
            manifestation: vec![next()],
            severity: Some("mild"),
            onset: DateField::Absent,
            exposure_route: vec![next()],
        }],
    }));
    out.push(allergy);
    let mut link = head(Element::LinkSet, next);
    link.kind = ItemKind::LinkSet(Box::new(LinkSet {
        named_statement: None,
        component_refs: Vec::new(),
        qualifiers: vec![next()],
        related_problems: Vec::new(),
    }));
    out.push(link);
    let mut med = head(Element::MedicationStatement, next);
    med.kind = ItemKind::Medication(Box::new(Medication {
        consumable: vec![next(), next()],
        dosage_text: None,
        dose: Some(StructuredDose {
            quantity: Some(quantity("1")),
            range: Some((Some(quantity("1")), None)),
            frequency: Some(1),
            period: None,
            period_unit: None,
            route: vec![next()],
            as_needed: None,
            as_needed_for: vec![next()],
            additional: vec![next()],
        }),
        last_issue: DateField::Absent,
    }));
    out.push(med);
    for element in [
        Element::EhrSupplyAuthorise,
        Element::EhrSupplyPrescribe,
        Element::EhrSupplyDiscontinue,
    ] {
        let mut supply = head(element, next);
        supply.kind = ItemKind::Supply(Box::new(Supply {
            repeat_number: Some(1),
            issues_recorded: None,
            repeat_dispensing: false,
            quantity: None,
            quantity_unit: None,
            prior_ref: None,
        }));
        out.push(supply);
    }
    out
}

/// Every coding `item` holds, found by reading its debug form (not through
/// [`Item::codings`], which is what the tests check): the `code` of each `Coding`.
pub(crate) fn codes_in(item: &Item) -> Vec<String> {
    let text = format!("{item:?}");
    text.match_indices("Coding { system: ")
        .filter_map(|(at, _)| {
            let rest = &text[at..];
            let start = rest.find("code: \"")? + 7;
            let end = rest[start..].find('"')?;
            Some(rest[start..start + end].to_string())
        })
        .collect()
}
