//! Observation values: the value (quantity, range, coded, text), its unit text,
//! interpretation and reference range.

use super::attrs::{coding, own_short, systemless, Attrs};
use super::tags::Tag;
use super::{Slot, State};
use crate::codes::CompactString;
use crate::ehr::model::{push_lean, ReferenceRange, Value};

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
                        value: CompactString::from(v.as_ref()),
                        unit: own_short(&a.unit).filter(|u| u != "1"),
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
                }
                .map(Box::new);
            }
            [Tag::Value, Tag::Low | Tag::High] => {
                if let Some(Value::Range { low, high, unit }) = obs.value.as_deref_mut() {
                    let slot = if tag == Tag::Low { low } else { high };
                    *slot = own_short(&a.value);
                    if unit.is_none() {
                        *unit = own_short(&a.unit).filter(|u| u != "1");
                    }
                }
            }
            [Tag::Value, Tag::Translation] => {
                if let (Some(Value::Coded(cs)), Some(c)) = (
                    obs.value.as_deref_mut(),
                    coding(a).or_else(|| systemless(a)),
                ) {
                    push_lean(cs, c);
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
                    rr.low = own_short(&a.value);
                } else {
                    rr.high = own_short(&a.value);
                }
                if rr.unit.is_none() {
                    rr.unit = own_short(&a.unit).filter(|u| u != "1");
                }
            }
            [Tag::Value, Tag::Translation, Tag::OriginalText]
                if matches!(
                    obs.value.as_deref(),
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

#[cfg(test)]
mod tests {
    use crate::codes::Coding;
    use crate::ehr::reader::testing::*;

    const SCT: &str = "2.16.840.1.113883.2.1.3.2.4.15";

    fn extract(body: &str) -> Extract {
        let doc = format!("{ROOT}<EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><component>{body}</component></ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>");
        match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        }
    }

    fn obs(id: &str, inner: &str) -> String {
        format!(
            r#"<ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/><code code="1000" codeSystem="{SCT}"/>{inner}</ObservationStatement>"#
        )
    }

    fn codes(cs: &[Coding]) -> Vec<&str> {
        cs.iter().map(|c| c.code.as_str()).collect()
    }

    #[test]
    fn a_coded_value_keeps_every_translation_and_interpretations_are_read() {
        // A sensitive code given as a value's translation must reach the screen.
        let ex = extract(&[
            obs(
                "O1",
                &format!(
                    r#"<value xsi:type="CD" code="V1" codeSystem="{SCT}"><translation code="T1" codeSystem="2.16.840.1.113883.2.1.6.2"/><translation code="T2"/></value><interpretationCode code="HI" codeSystem="2.16.840.1.113883.2.1.6.5"/>"#
                ),
            ),
            obs("O2", r#"<interpretationCode code="XX"/>"#),
        ]
        .concat());
        let o1 = ex.get("o1").and_then(Item::observation).expect("o1");
        match o1.value.as_deref() {
            Some(Value::Coded(cs)) => assert_eq!(codes(cs), ["V1", "T1", "T2"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(codes(&o1.interpretation), ["HI"]);
        // An interpretation without a system is carried (screened), not an interpretation.
        let o2 = ex.get("o2").expect("o2");
        assert!(o2
            .observation()
            .is_some_and(|o| o.interpretation.is_empty()));
        assert_eq!(codes(&o2.carried), ["XX"]);
    }

    #[test]
    fn a_range_and_a_reference_range_keep_their_bounds_and_units() {
        let ex = extract(&obs(
            "O1",
            r#"<value xsi:type="IVL_PQ"><low value="1.5" unit="mmol/L"/><high value="4"/></value><referenceRange><referenceInterpretationRange><value><low value="0.5" unit="mmol/L"/><high value="5.5" unit="mmol/L"/></value></referenceInterpretationRange></referenceRange>"#,
        ));
        let o = ex.get("o1").and_then(Item::observation).expect("o1");
        assert_eq!(
            o.value.as_deref(),
            Some(&Value::Range {
                low: Some("1.5".into()),
                high: Some("4".into()),
                unit: Some("mmol/L".into()),
            })
        );
        let rr = o.reference_range.as_deref().expect("a reference range");
        assert_eq!(
            (rr.low.as_deref(), rr.high.as_deref(), rr.unit.as_deref()),
            (Some("0.5"), Some("5.5"), Some("mmol/L"))
        );
    }

    #[test]
    fn a_text_value_is_free_text_on_every_construct_and_a_coded_one_is_not() {
        let st = |el: &str, id: &str, value: &str| {
            format!(r#"<{el} classCode="OBS" moodCode="EVN"><id root="{id}"/>{value}</{el}>"#)
        };
        let text = r#"<value xsi:type="ST">said something</value>"#;
        let coded = format!(r#"<value xsi:type="CD" code="V1" codeSystem="{SCT}"/>"#);
        let ex = extract(
            &[
                st("ObservationStatement", "O1", text),
                st("ObservationStatement", "O2", &coded),
                st("PlanStatement", "P1", text),
                st("PlanStatement", "P2", &coded),
                st(
                    "PlanStatement",
                    "P3",
                    r#"<value xsi:type="PQ" value="5" unit="kg"/>"#,
                ),
            ]
            .concat(),
        );
        let free = |id: &str| ex.get(id).expect(id).free_text;
        assert!(free("o1") && free("p1"), "a text value is narrative");
        assert!(
            !free("o2") && !free("p2") && !free("p3"),
            "a coded or numeric value is not"
        );
    }

    #[test]
    fn only_a_quantity_keeps_a_unit_text_and_any_other_is_free_text() {
        let tr = r#"<translation value="5"><originalText>per week</originalText></translation>"#;
        let ex = extract(
            &[
                obs(
                    "Q",
                    &format!(r#"<value xsi:type="PQ" value="5" unit="1">{tr}</value>"#),
                ),
                obs(
                    "V",
                    &format!(r#"<value xsi:type="CD" code="V1" codeSystem="{SCT}">{tr}</value>"#),
                ),
            ]
            .concat(),
        );
        let q = ex.get("q").expect("q");
        assert!(!q.free_text);
        match q.observation().and_then(|o| o.value.as_deref()) {
            Some(Value::Quantity { unit, .. }) => assert_eq!(unit.as_deref(), Some("per week")),
            other => panic!("{other:?}"),
        }
        assert!(
            ex.get("v").expect("v").free_text,
            "a coded value's text is narrative"
        );
    }
}
