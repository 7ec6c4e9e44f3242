//! `Observation`: a statement, a BATTERY of its coded components, a CLUSTER of a report's
//! test group, or (coded "comment note") a narrative.

use super::bundle::Reader;
use super::json::{arr, codings, date, has_text, number, period, quantity_unit_text, str_at};
use crate::codes::CodeSystem;
use crate::ehr::model::{Effective, Element, Item, ItemHead, ItemKind, ReferenceRange, Value};
use crate::error::InputError;
use serde_json::Value as Json;

const SNOMED_COMMENT_NOTE: &str = "37331000000100";

pub(super) fn is_comment_note(v: &Json) -> bool {
    codings(v.get("code"))
        .iter()
        .any(|c| c.system == CodeSystem::Snomed && c.code == SNOMED_COMMENT_NOTE)
}

/// Value, interpretation and reference range of an Observation (or one of its components).
fn observation_value(item: &mut Item, v: &Json) {
    let mut free_text = item.free_text;
    let Some(obs) = item.observation_mut() else {
        return;
    };
    if let Some(q) = v.get("valueQuantity") {
        let value = number(q.get("value"));
        let unit = quantity_unit_text(q);
        // A comparator makes the value an open interval, as the adaptor's IVL_PQ.
        obs.value = match (str_at(q, "comparator"), value) {
            (Some(">=") | Some(">"), v) => Some(Value::Range {
                low: v,
                high: None,
                unit,
            }),
            (Some("<=") | Some("<"), v) => Some(Value::Range {
                low: None,
                high: v,
                unit,
            }),
            (_, Some(value)) => Some(Value::Quantity { value, unit }),
            (_, None) => None,
        }
        .map(Box::new);
    } else if let Some(r) = v.get("valueRange") {
        let unit = r
            .get("low")
            .or_else(|| r.get("high"))
            .and_then(quantity_unit_text);
        obs.value = Some(Box::new(Value::Range {
            low: number(r.get("low").and_then(|q| q.get("value"))),
            high: number(r.get("high").and_then(|q| q.get("value"))),
            unit,
        }));
    } else if let Some(cc) = v.get("valueCodeableConcept") {
        obs.value = Some(Box::new(Value::Coded(codings(Some(cc)))));
        free_text |= has_text(Some(cc));
    } else if let Some(s) = v.get("valueString") {
        obs.value = Some(Box::new(Value::Text));
        free_text |= has_text(Some(s));
    }
    for i in arr(Some(v), "interpretation").chain(v.get("interpretation").filter(|i| i.is_object()))
    {
        obs.interpretation.extend(codings(Some(i)));
        free_text |= has_text(Some(i));
    }
    if let Some(rr) = arr(Some(v), "referenceRange").next() {
        let low = rr.get("low");
        let high = rr.get("high");
        obs.reference_range = Some(Box::new(ReferenceRange {
            low: number(low.and_then(|q| q.get("value"))),
            high: number(high.and_then(|q| q.get("value"))),
            unit: low.or(high).and_then(quantity_unit_text),
        }));
        free_text |= has_text(rr.get("text"));
    }
    item.free_text = free_text;
}

impl<'a> Reader<'a> {
    pub(super) fn observation(
        &mut self,
        i: usize,
        parent: Option<usize>,
        depth: usize,
    ) -> Result<(), InputError> {
        let v = self.json(i);
        let v: &Json = &v;
        if is_comment_note(v) {
            let mut item = self.base(i, Element::NarrativeStatement, parent);
            item.free_text = true;
            item.availability = date(v.get("issued"));
            self.push(item);
            return Ok(());
        }
        let members: Vec<usize> = arr(Some(v), "related")
            .filter(|r| str_at(r, "type") == Some("has-member"))
            .filter_map(|r| self.lookup(r.get("target"), i))
            .filter(|&t| self.owner.get(&t) == Some(&i))
            .collect();
        // Components form a measurement battery only when they are coded; EMIS writes
        // referral details as text-coded components with string values, which the GP2GP
        // adaptor flattens into an annotation: that is free text, not a battery.
        let all_components: Vec<&Json> = arr(Some(v), "component").collect();
        let coded = all_components
            .iter()
            .any(|c| !codings(c.get("code")).is_empty());
        let components: Vec<&Json> = if coded {
            all_components.clone()
        } else {
            Vec::new()
        };
        let mut item = self.base(i, Element::ObservationStatement, parent);
        if !coded && !all_components.is_empty() {
            item.free_text = true;
        }
        item.class_code = Some("OBS".into());
        item.status_code = Some("COMPLETE".into());
        item.codes = codings(v.get("code")).into();
        item.code_uncoded = item.codes.is_empty();
        item.free_text |= has_text(v.get("code"));
        item.effective = match v.get("effectivePeriod") {
            Some(p) => period(Some(p)),
            None => Effective {
                center: date(v.get("effectiveDateTime")),
                ..Effective::default()
            },
        };
        item.availability = date(v.get("issued"));
        item.authored = item.availability;
        if members.is_empty() && components.is_empty() {
            observation_value(&mut item, v);
            self.push(item);
            return Ok(());
        }
        // A group: BATTERY for a multi-component measurement, CLUSTER for a test group.
        item.element = Some(Element::CompoundStatement);
        item.kind = ItemKind::for_element(Element::CompoundStatement);
        item.class_code = Some(
            if components.is_empty() {
                "CLUSTER"
            } else {
                "BATTERY"
            }
            .into(),
        );
        let (effective, availability) = (item.effective, item.availability);
        let id = item.id.clone();
        let g = self.push(item);
        for (n, c) in components.iter().enumerate() {
            let mut ci = Item::of(ItemHead {
                id: format!("{id}-c{n}").into(),
                class_code: Some("OBS".into()),
                status_code: Some("COMPLETE".into()),
                parent: Some(g),
                codes: codings(c.get("code")).into(),
                effective,
                availability,
                authored: availability,
                free_text: has_text(c.get("code")),
                ..ItemHead::new(Element::ObservationStatement)
            });
            ci.code_uncoded = ci.codes.is_empty();
            observation_value(&mut ci, c);
            self.push(ci);
        }
        for m in members {
            self.emit(m, Some(g), depth + 1)?;
        }
        Ok(())
    }
}
