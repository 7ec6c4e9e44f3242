//! Observation values: the value (quantity, range, coded, text), its unit text,
//! interpretation and reference range.

use super::attrs::{coding, own, systemless, Attrs};
use super::tags::Tag;
use super::{Slot, State};
use crate::ehr::model::{ReferenceRange, Value};

impl State {
    /// An observation's value, interpretation and reference range.
    pub(super) fn value_field(
        &mut self,
        idx: usize,
        rel: &[Tag],
        depth: usize,
        tag: Tag,
        a: &Attrs,
    ) -> bool {
        // An observation's fields; on any other construct the path falls through to what
        // every statement has (its codings carried and screened, its text free text).
        let item = &mut self.ex.items[idx];
        let Some(obs) = item.observation_mut() else {
            // A text value is free text on any construct.
            let text_type = !matches!(
                a.xsi_type.as_deref().unwrap_or(""),
                "PQ" | "INT" | "REAL" | "IVL_PQ" | "CD" | "CV" | "CE" | "CS"
            );
            if rel == [Tag::Value] && text_type {
                self.in_value_text = Some(depth);
                self.text_target = Some(idx);
            }
            return false;
        };
        match rel {
            [Tag::Value] => {
                let ty = a.xsi_type.as_deref().unwrap_or("");
                obs.value = match ty {
                    "PQ" | "INT" | "REAL" => a.value.as_ref().map(|v| Value::Quantity {
                        value: v.to_string(),
                        unit: own(&a.unit).filter(|u| u != "1"),
                    }),
                    "IVL_PQ" => Some(Value::Range {
                        low: None,
                        high: None,
                        unit: None,
                    }),
                    "CD" | "CV" | "CE" | "CS" => Some(Value::Coded(
                        coding(a).or_else(|| systemless(a)).into_iter().collect(),
                    )),
                    _ => {
                        // ST, ED and anything unknown: free text.
                        self.in_value_text = Some(depth);
                        self.text_target = Some(idx);
                        Some(Value::Text)
                    }
                };
            }
            [Tag::Value, Tag::Low | Tag::High] => {
                if let Some(Value::Range { low, high, unit }) = &mut obs.value {
                    let slot = if tag == Tag::Low { low } else { high };
                    *slot = own(&a.value);
                    if unit.is_none() {
                        *unit = own(&a.unit).filter(|u| u != "1");
                    }
                }
            }
            [Tag::Value, Tag::Translation] => {
                if let (Some(Value::Coded(cs)), Some(c)) =
                    (&mut obs.value, coding(a).or_else(|| systemless(a)))
                {
                    cs.push(c);
                }
            }
            [Tag::InterpretationCode] => match coding(a) {
                Some(c) => obs.interpretation.push(c),
                None => item.carried.extend(systemless(a)),
            },
            [Tag::ReferenceRange, Tag::ReferenceInterpretationRange, Tag::Value, Tag::Low | Tag::High] =>
            {
                let rr = obs
                    .reference_range
                    .get_or_insert_with(Box::<ReferenceRange>::default);
                if tag == Tag::Low {
                    rr.low = own(&a.value);
                } else {
                    rr.high = own(&a.value);
                }
                if rr.unit.is_none() {
                    rr.unit = own(&a.unit).filter(|u| u != "1");
                }
            }
            [Tag::Value, Tag::Translation, Tag::OriginalText]
                if matches!(
                    obs.value,
                    Some(Value::Quantity { .. }) | Some(Value::Range { .. })
                ) =>
            {
                self.capture = Some((idx, Slot::ValueUnit, depth));
            }
            _ => return false,
        }
        true
    }
}
