//! Pathology reports (a GP2GP CLUSTER coded 16488004, a GP Connect `DiagnosticReport`):
//! `DiagnosticReport`, with its shared top-level results and groups.

use super::Mapper;
use crate::fhir::r4::{CodeableConcept, Coding, DiagnosticReport, Resource};

impl Mapper<'_> {
    /// A shared report.
    pub(super) fn report(&self, i: usize) -> Resource {
        Resource::DiagnosticReport(Box::new(DiagnosticReport {
            base: self.base("DiagnosticReport", i),
            status: "final",
            category: vec![CodeableConcept::one(Coding::fixed(
                "http://terminology.hl7.org/CodeSystem/v2-0074",
                "LAB",
            ))],
            fields: self.result_fields(i),
            results: self
                .d
                .members
                .report_results(i)
                .iter()
                .map(|&j| self.item_ref(j))
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::ehr::model::{DateField, Effective, Element, Value};
    use crate::ehr::ts::Ts;
    use crate::fhir::map::testing::*;

    #[test]
    fn a_report_lists_its_shared_results_and_never_a_withheld_one() {
        let p = policy();
        let mut report = item("rep", Element::CompoundStatement, vec![sct("16488004")]);
        report.class_code = Some("CLUSTER".into());
        let result = |id: &str, code| {
            let mut r = item(id, Element::ObservationStatement, vec![code]);
            r.parent = Some(0);
            r.observation_mut().expect("an observation").value = Some(Box::new(Value::Quantity {
                value: "5".into(),
                unit: None,
            }));
            r.effective = Effective {
                center: DateField::Value(Ts::parse("20251201").unwrap()),
                ..Effective::default()
            };
            r
        };
        // 15628003 gonorrhoea: sensitive (FSH-STI), withheld.
        let items = vec![
            report,
            result("r1", read("44J3.")),
            result("r2", sct("15628003")),
        ];
        let (ex, d) = decided(items, &p);
        let out = mapped(&ex, &d, &p);
        let reports: Vec<serde_json::Value> = out
            .iter()
            .map(|(r, _)| json(r))
            .filter(|r| r["resourceType"] == "DiagnosticReport")
            .collect();
        assert_eq!(reports.len(), 1, "{out:?}");
        let r = &reports[0];
        assert_eq!(r["category"][0]["coding"][0]["code"], "LAB");
        let results = r["result"].as_array().unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(
            results[0]["reference"],
            format!("urn:uuid:{}", crate::fhir::ids::source_uuid("r1"))
        );
        assert!(
            !serde_json::to_string(&out.iter().map(|(r, _)| json(r)).collect::<Vec<_>>())
                .unwrap()
                .contains("15628003")
        );
    }
}
