//! Results (a GP2GP `ObservationStatement`, a GP Connect `Observation`) and groups of
//! results (a battery or cluster, e.g. a blood pressure): `Observation`, a group's members
//! in `hasMember`.

use super::staff::PERFORMED;
use super::{quantity, Mapper};
use crate::ehr::model::{ItemKind, Value};
use crate::fhir::interpretation;
use crate::fhir::r4::{
    CodeableConcept, Coding, Observation, ObservationValue, Range, Reference, Resource,
    ResultFields,
};
use crate::policy::decide::Category;

impl Mapper<'_> {
    /// What a result (Observation) and a report (DiagnosticReport) both carry, in output
    /// order: code, subject, effective time, `issued` and performer.
    pub(super) fn result_fields(&self, i: usize) -> ResultFields {
        let item = self.item(i);
        ResultFields {
            code: self.concept(&item.codes),
            subject: self.patient(),
            effective_date_time: item
                .effective
                .point()
                .value()
                .or(item.availability.value())
                .map(|t| t.fhir()),
            issued: self.issued(i),
            performer: self
                .staff_ref(i, &[], PERFORMED, true)
                .into_iter()
                .collect(),
        }
    }

    /// `issued` (a FHIR `instant`) of a result or report: when its author committed it,
    /// on the item itself (STU3 `issued`) or on the nearest container that says (XML: the
    /// `ehrComposition`'s `author/time`, as the NHS translator reads it). Only a time given
    /// to the minute or finer is an instant; a bare date is not invented into one.
    fn issued(&self, i: usize) -> Option<String> {
        std::iter::once(i)
            .chain(self.ex.ancestors(i))
            .find_map(|a| self.item(a).authored.value())
            .filter(|t| t.precision() >= crate::ehr::ts::Precision::Minute)
            .map(|t| t.fhir_instant())
    }

    /// A shared result.
    pub(super) fn result(&self, i: usize, cat: Category) -> Resource {
        Resource::Observation(Box::new(self.observation(i, cat)))
    }

    /// A shared group of results, with its shared direct results and groups as members.
    pub(super) fn group(&self, i: usize, cat: Category) -> Resource {
        let mut o = self.observation(i, cat);
        o.has_member = self.members(i);
        Resource::Observation(Box::new(o))
    }

    /// Shared direct results and groups of a group, as references.
    fn members(&self, group: usize) -> Vec<Reference> {
        self.d
            .members
            .group_members(group)
            .iter()
            .map(|&c| self.item_ref(c))
            .collect()
    }

    fn observation(&self, i: usize, cat: Category) -> Observation {
        let item = self.item(i);
        let detail = self.policy.detail();
        // A result carries its own value, flags and range; a group (a compound) has none.
        let own = match &item.kind {
            ItemKind::Observation(o) => Some(o),
            _ => None,
        };
        let item_value = own.and_then(|o| o.value.as_deref());
        let value_unit = match item_value {
            Some(Value::Quantity { unit, .. }) | Some(Value::Range { unit, .. }) => {
                detail.unit(unit.as_deref())
            }
            _ => None,
        };
        let value = match item_value {
            Some(Value::Quantity { value, .. }) => {
                quantity(value, value_unit).map(ObservationValue::ValueQuantity)
            }
            Some(Value::Range { low, high, .. }) => Some(Range {
                low: low.as_deref().and_then(|v| quantity(v, value_unit)),
                high: high.as_deref().and_then(|v| quantity(v, value_unit)),
            })
            .filter(|r| !r.is_empty())
            .map(ObservationValue::ValueRange),
            Some(Value::Coded(cs)) => self
                .concept_if_any(cs)
                .map(ObservationValue::ValueCodeableConcept),
            _ => None,
        };
        // Only a flag FHIR R4's bound vocabulary can say (the mapping table) is written.
        let interpretation = self
            .concept_if_any(own.map_or(&[][..], |o| &o.interpretation))
            .and_then(|mut flag| interpretation::add_v3(&mut flag).then_some(flag))
            .into_iter()
            .collect();
        // A range given without a unit is in the result's unit (EMIS writes the unit once,
        // on the value), as the NHS GP2GP translator reads it.
        let reference_range = own
            .and_then(|o| o.reference_range.as_ref())
            .map(|rr| {
                let rr_unit = match &rr.unit {
                    Some(u) => detail.unit(Some(u)),
                    None => value_unit,
                };
                Range {
                    low: rr.low.as_deref().and_then(|v| quantity(v, rr_unit)),
                    high: rr.high.as_deref().and_then(|v| quantity(v, rr_unit)),
                }
            })
            .filter(|r| !r.is_empty())
            .into_iter()
            .collect();
        Observation {
            base: self.base("Observation", i),
            status: "final",
            category: if cat == Category::Investigations {
                vec![CodeableConcept::one(Coding::fixed(
                    "http://terminology.hl7.org/CodeSystem/observation-category",
                    "laboratory",
                ))]
            } else {
                Vec::new()
            },
            fields: self.result_fields(i),
            value,
            interpretation,
            reference_range,
            has_member: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ehr::model::{Effective, Element, Item, Value};
    use crate::ehr::ts::Ts;
    use crate::fhir::map::testing::*;

    fn result(id: &str, parent: Option<usize>, value: &str) -> Item {
        let mut r = item(id, Element::ObservationStatement, vec![read("44J3.")]);
        r.parent = parent;
        r.observation_mut().expect("an observation").value = Some(Box::new(Value::Quantity {
            value: value.into(),
            unit: Some("mmol/L".into()),
        }));
        r.effective = Effective {
            center: crate::ehr::model::DateField::Value(Ts::parse("20251201").unwrap()),
            ..Effective::default()
        };
        r
    }

    #[test]
    fn a_result_keeps_its_number_as_written_and_a_known_unit() {
        let p = policy();
        for (v, expected) in [("5", serde_json::json!(5)), ("5.0", serde_json::json!(5.0))] {
            let (ex, d) = decided(vec![result("r1", None, v)], &p);
            let out = mapped(&ex, &d, &p);
            assert_eq!(out.len(), 1, "{out:?}");
            let o = json(&out[0].0);
            assert_eq!(o["resourceType"], "Observation");
            assert_eq!(o["status"], "final");
            assert_eq!(o["valueQuantity"]["value"], expected);
            assert_eq!(o["valueQuantity"]["unit"], "mmol/L");
            assert_eq!(o["effectiveDateTime"], "2025-12-01");
            assert!(out[0].1, "a result on its own is a List member");
        }
    }

    #[test]
    fn a_group_lists_its_shared_results_as_members_which_are_not_list_members() {
        let p = policy();
        let mut battery = item("b1", Element::CompoundStatement, vec![read("44J3.")]);
        battery.class_code = Some("BATTERY".into());
        let items = vec![
            battery,
            result("r1", Some(0), "5"),
            result("r2", Some(0), "6"),
        ];
        let (ex, d) = decided(items, &p);
        let out = mapped(&ex, &d, &p);
        let group = out
            .iter()
            .map(|(r, m)| (json(r), *m))
            .find(|(r, _)| r.get("hasMember").is_some());
        let Some((g, member)) = group else {
            panic!("no group: {out:?}");
        };
        assert!(member);
        assert_eq!(g["hasMember"].as_array().unwrap().len(), 2);
        assert_eq!(
            g.as_object().unwrap().keys().next_back().unwrap(),
            "hasMember"
        );
        let results: Vec<bool> = out
            .iter()
            .filter(|(r, _)| json(r).get("valueQuantity").is_some())
            .map(|(_, m)| *m)
            .collect();
        assert_eq!(results, [false, false]);
    }
}
