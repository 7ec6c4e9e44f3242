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
        let item = &mut self.ex.items[idx];
        match rel {
            [Tag::Value] => {
                let ty = a.xsi_type.as_deref().unwrap_or("");
                item.value = match ty {
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
                if a.null_flavor && item.value.is_none() {
                    item.value = None;
                }
            }
            [Tag::Value, Tag::Low | Tag::High] => {
                if let Some(Value::Range { low, high, unit }) = &mut item.value {
                    let slot = if tag == Tag::Low { low } else { high };
                    *slot = own(&a.value);
                    if unit.is_none() {
                        *unit = own(&a.unit).filter(|u| u != "1");
                    }
                }
            }
            [Tag::Value, Tag::Translation] => {
                if let (Some(Value::Coded(cs)), Some(c)) =
                    (&mut item.value, coding(a).or_else(|| systemless(a)))
                {
                    cs.push(c);
                }
            }
            [Tag::InterpretationCode] => match coding(a) {
                Some(c) => item.interpretation.push(c),
                None => item.carried.extend(systemless(a)),
            },
            [Tag::ReferenceRange, Tag::ReferenceInterpretationRange, Tag::Value, Tag::Low | Tag::High] =>
            {
                let rr = item
                    .reference_range
                    .get_or_insert_with(ReferenceRange::default);
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
                    item.value,
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
