//! Procedures that were done (or, for a vaccination the source says was not given, not
//! done): `Procedure`.

use super::staff::PERFORMED;
use super::Mapper;
use crate::fhir::r4::condition::ProcedurePerformer;
use crate::fhir::r4::{Procedure, Resource};

impl Mapper<'_> {
    /// A shared procedure.
    pub(super) fn procedure(&self, i: usize) -> Resource {
        let item = self.item(i);
        // A vaccination the source says was not given is `not-done`, never `completed`.
        let status = if item.not_done {
            "not-done"
        } else {
            "completed"
        };
        Resource::Procedure(Box::new(Procedure {
            base: self.base("Procedure", i),
            status,
            code: self.concept(&item.codes),
            subject: self.patient(),
            performed_date_time: item
                .effective
                .point()
                .value()
                .or(item.availability.value())
                .map(|t| t.fhir()),
            performer: self
                .staff_ref(i, &[], PERFORMED, true)
                .map(|actor| ProcedurePerformer { actor })
                .into_iter()
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::ehr::model::Element;
    use crate::fhir::map::testing::*;

    #[test]
    fn a_procedure_not_done_is_never_completed() {
        let p = policy();
        for (not_done, status) in [(false, "completed"), (true, "not-done")] {
            let mut proc = item("x1", Element::ObservationStatement, vec![sct("80146002")]);
            proc.not_done = not_done;
            let (ex, d) = decided(vec![proc], &p);
            let out = mapped(&ex, &d, &p);
            assert_eq!(out.len(), 1, "{out:?}");
            let r = json(&out[0].0);
            assert_eq!(r["resourceType"], "Procedure");
            assert_eq!(r["status"], status);
            assert_eq!(r["code"]["coding"][0]["code"], "80146002");
            // No effective time: the recorded date stands for it.
            assert_eq!(r["performedDateTime"], "2025-06-01");
            assert!(out[0].1, "a procedure is a member of its List");
        }
    }
}
