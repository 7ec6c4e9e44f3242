//! Medication (a GP2GP `MedicationStatement` with its `ehrSupplyAuthorise` and the
//! `ehrSupplyPrescribe` issues under it; the GP Connect equivalents): a MedicationStatement,
//! the MedicationRequest plan it is based on, and one MedicationRequest order per shared
//! issue.

use super::staff::REQUESTED;
use super::{quantity, urn, Mapper};
use crate::ehr::model::{DoseQuantity, Element, Extract, Item, StaffKind, Supply};
use crate::fhir::ids::source_uuid;
use crate::fhir::r4::medication::{DispenseRequest, Substitution};
use crate::fhir::r4::{
    AsNeeded, CodeableConcept, Coding, Dosage, DoseAndRate, Extension, ExtensionValue,
    MedicationRequest, MedicationStatement, Period, PrimitiveExtension, Range, Reference, Resource,
    Timing, TimingRepeat,
};
use crate::fhir::DATA_ABSENT_REASON_URL;
use hashbrown::HashMap;

const HL7_COURSE_OF_THERAPY: &str =
    "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy";
const UKCORE_COURSE_OF_THERAPY: &str =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-MedicationRequestCourseOfTherapy";
const LAST_ISSUE_DATE_URL: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicationStatementLastIssueDate";
const REPEAT_INFORMATION_URL: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicationRepeatInformation";

/// What a supply holds when it holds nothing.
const NO_SUPPLY: Supply = Supply {
    repeat_number: None,
    issues_recorded: None,
    repeat_dispensing: false,
    quantity: None,
    quantity_unit: None,
    prior_ref: None,
};

/// Authorisation source id -> every issue made under it in the source (shared or not).
pub(super) fn source_issues(ex: &Extract) -> HashMap<&str, Vec<usize>> {
    let mut out: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, item) in ex.items.iter().enumerate() {
        if item.element != Some(Element::EhrSupplyPrescribe) {
            continue;
        }
        if let Some(a) = item.prior_ref().filter(|a| !a.is_empty()) {
            out.entry(a).or_default().push(i);
        }
    }
    out
}

/// `MedicationRequest.substitution`, which UKCore-MedicationRequest requires (1..1) and whose
/// `allowed[x]` is 1..1: neither GP2GP nor GP Connect records whether substitution was
/// allowed, so the value is absent with the core `data-absent-reason` `unknown` rather than
/// an invented yes or no.
fn substitution_not_recorded() -> Substitution {
    Substitution {
        allowed_boolean: PrimitiveExtension {
            extension: vec![Extension::value(
                DATA_ABSENT_REASON_URL,
                ExtensionValue::Code("unknown"),
            )],
        },
    }
}

impl Mapper<'_> {
    /// The R4 `Dosage` of a medication: the dose text, and the structured dose (quantity or
    /// range with units the list knows, timing, route, as needed, additional instructions
    /// that pass the screen), as far as the policy shares dose instructions.
    fn dosage(&self, item: &Item) -> Option<Dosage> {
        let detail = self.policy.detail();
        let mut d = Dosage {
            text: detail.dosage(item).map(str::to_string),
            ..Dosage::default()
        };
        if let Some(sd) = detail.dose(item) {
            let q = |x: &DoseQuantity| quantity(&x.value, detail.unit(x.unit.as_deref()));
            if !sd.additional.is_empty() {
                d.additional_instruction =
                    self.concept_if_any(&sd.additional).into_iter().collect();
            }
            let mut repeat = TimingRepeat {
                frequency: sd.frequency,
                ..TimingRepeat::default()
            };
            if let (Some(p), Some(u)) = (
                sd.period.as_deref().and_then(|p| quantity(p, None)),
                sd.period_unit,
            ) {
                repeat.period = Some(p.value);
                repeat.period_unit = Some(u);
            }
            if !repeat.is_empty() {
                d.timing = Some(Timing { repeat });
            }
            d.as_needed = match self.concept_if_any(&sd.as_needed_for) {
                Some(c) => Some(AsNeeded::AsNeededCodeableConcept(c)),
                None => sd.as_needed.map(AsNeeded::AsNeededBoolean),
            };
            d.route = self.concept_if_any(&sd.route);
            let mut rate = DoseAndRate::default();
            if let Some(x) = sd.quantity.as_ref().and_then(q) {
                rate.dose_quantity = Some(x);
            } else if let Some((low, high)) = &sd.range {
                let r = Range {
                    low: low.as_ref().and_then(q),
                    high: high.as_ref().and_then(q),
                };
                if !r.is_empty() {
                    rate.dose_range = Some(r);
                }
            }
            if rate != DoseAndRate::default() {
                d.dose_and_rate = vec![rate];
            }
        }
        (!d.is_empty()).then_some(d)
    }

    /// A shared medication `i` with its authorisation: the statement, its plan, and the
    /// shared issues (in that order; only the statement is a member of its List).
    pub(super) fn medication(&self, i: usize, authorise: usize) -> Vec<Resource> {
        let item = self.item(i);
        let auth = self.item(authorise);
        // The decision gave a statement and its authorisation: their payloads.
        let drug = item.medication();
        let plan = auth.supply().unwrap_or(&NO_SUPPLY);
        let med = self.concept(drug.map_or(&[][..], |m| &m.consumable));
        let plan_ref = || Reference::to(urn(&source_uuid(&auth.id)));
        let detail = self.policy.detail();
        let dosage: Vec<Dosage> = self.dosage(item).into_iter().collect();
        // Only current plans are shared: active, or on hold as the source says.
        let status = match auth.status_code.as_deref() {
            Some(s) if s.trim().eq_ignore_ascii_case("SUSPENDED") => "on-hold",
            _ => "active",
        };
        // The issues made under this authorisation in the source (shared or not: only
        // their count and latest date are stated, never what was withheld).
        let issues: Vec<&Item> = self
            .source_issues
            .get(auth.id.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|&p| self.item(p))
            .collect();
        // The latest of the issues' own dates and the date the source states (GP Connect's
        // last issue date can predate an issue the same record holds).
        let last_issue = issues
            .iter()
            .filter_map(|p| p.availability.value())
            .chain(drug.and_then(|m| m.last_issue.value()))
            .max_by_key(|t| t.epoch_secs());
        let statement = MedicationStatement {
            base: self.base("MedicationStatement", i),
            based_on: vec![plan_ref()],
            status,
            medication_codeable_concept: med.clone(),
            subject: self.patient(),
            effective_period: auth.effective.low.value().map(|t| Period {
                start: Some(t.fhir()),
                end: None,
            }),
            date_asserted: auth
                .availability
                .value()
                .or(item.availability.value())
                .map(|t| t.fhir()),
            dosage: dosage.clone(),
            information_source: self.staff_ref(
                i,
                &[authorise],
                &[StaffKind::InformationSource],
                true,
            ),
            extension: last_issue
                .map(|t| Extension::value(LAST_ISSUE_DATE_URL, ExtensionValue::DateTime(t.fhir())))
                .into_iter()
                .collect(),
        };

        let mut repeat_info = Vec::new();
        let issued = plan
            .issues_recorded
            .or_else(|| u32::try_from(issues.len()).ok());
        if let Some(n) = issued {
            repeat_info.push(Extension::value(
                "numberOfPrescriptionsIssued",
                ExtensionValue::UnsignedInt(n),
            ));
        }
        if let Some(t) = auth.effective.high.value() {
            repeat_info.push(Extension::value(
                "authorisationExpiryDate",
                ExtensionValue::DateTime(t.fhir()),
            ));
        }
        // UK Core's PrescriptionType extension is retired: acute, repeat and repeat
        // dispensing are the course of therapy (UKCore-MedicationRequestCourseOfTherapy).
        let (course_system, course) = if plan.repeat_number.unwrap_or(0) == 0 {
            (HL7_COURSE_OF_THERAPY, "acute")
        } else if plan.repeat_dispensing {
            (UKCORE_COURSE_OF_THERAPY, "continuous-repeating-dispensing")
        } else {
            (HL7_COURSE_OF_THERAPY, "continuous")
        };
        let dispense = DispenseRequest {
            validity_period: Some(Period {
                start: auth.effective.low.value().map(|t| t.fhir()),
                end: auth.effective.high.value().map(|t| t.fhir()),
            })
            .filter(|p| !p.is_empty()),
            number_of_repeats_allowed: plan.repeat_number,
            quantity: plan
                .quantity
                .as_deref()
                .and_then(|v| quantity(v, detail.quantity_unit(auth))),
        };
        let plan = MedicationRequest {
            base: self.base("MedicationRequest", authorise),
            extension: if repeat_info.is_empty() {
                Vec::new()
            } else {
                vec![Extension::parts(REPEAT_INFORMATION_URL, repeat_info)]
            },
            based_on: Vec::new(),
            status,
            intent: "plan",
            medication_codeable_concept: med.clone(),
            subject: self.patient(),
            substitution: substitution_not_recorded(),
            authored_on: auth.availability.value().map(|t| t.fhir()),
            requester: self.staff_ref(authorise, &[i], REQUESTED, true),
            recorder: self.staff_ref(authorise, &[i], &[StaffKind::Recorder], false),
            course_of_therapy_type: Some(CodeableConcept::one(Coding::fixed(
                course_system,
                course,
            ))),
            dosage_instruction: dosage.clone(),
            dispense_request: (!dispense.is_empty()).then_some(dispense),
        };
        let mut out = vec![
            Resource::MedicationStatement(Box::new(statement)),
            Resource::MedicationRequest(Box::new(plan)),
        ];

        for &issue in self.d.members.issues(i) {
            let p = self.item(issue);
            let order = MedicationRequest {
                base: self.base("MedicationRequest", issue),
                extension: Vec::new(),
                based_on: vec![plan_ref()],
                status: "completed",
                intent: "order",
                medication_codeable_concept: med.clone(),
                subject: self.patient(),
                substitution: substitution_not_recorded(),
                authored_on: p.availability.value().map(|t| t.fhir()),
                requester: self.staff_ref(issue, &[i], REQUESTED, true),
                recorder: self.staff_ref(issue, &[i], &[StaffKind::Recorder], false),
                course_of_therapy_type: None,
                dosage_instruction: dosage.clone(),
                dispense_request: p
                    .supply()
                    .and_then(|s| s.quantity.as_deref())
                    .and_then(|v| quantity(v, detail.quantity_unit(p)))
                    .map(|q| DispenseRequest {
                        quantity: Some(q),
                        ..DispenseRequest::default()
                    }),
            };
            out.push(Resource::MedicationRequest(Box::new(order)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::map::testing::*;

    fn medication(repeats: Option<u32>) -> Vec<Item> {
        let mut statement = item("m1", Element::MedicationStatement, Vec::new());
        statement.medication_mut().expect("a medication").consumable = vec![sct("322236009")];
        let mut auth = item("a1", Element::EhrSupplyAuthorise, Vec::new());
        auth.parent = Some(0);
        let plan = auth.supply_mut().expect("a supply");
        plan.repeat_number = repeats;
        plan.quantity = Some("28".into());
        auth.status_code = Some("ACTIVE".into());
        let mut issue = item("i1", Element::EhrSupplyPrescribe, Vec::new());
        issue.parent = Some(0);
        issue.supply_mut().expect("a supply").prior_ref = Some("a1".into());
        vec![statement, auth, issue]
    }

    #[test]
    fn a_medication_is_a_statement_based_on_its_plan_and_an_order_per_issue() {
        let p = policy();
        let (ex, d) = decided(medication(Some(3)), &p);
        let out = mapped(&ex, &d, &p);
        let types: Vec<&str> = out.iter().map(|(r, _)| r.resource_type()).collect();
        assert_eq!(
            types,
            [
                "MedicationStatement",
                "MedicationRequest",
                "MedicationRequest"
            ],
            "{out:?}"
        );
        // Only the statement is a List member.
        assert_eq!(
            out.iter().map(|(_, m)| *m).collect::<Vec<_>>(),
            [true, false, false]
        );
        let ms = json(&out[0].0);
        let plan = json(&out[1].0);
        let order = json(&out[2].0);
        assert_eq!(
            ms["basedOn"][0]["reference"],
            format!("urn:uuid:{}", plan["id"].as_str().unwrap())
        );
        assert_eq!(order["basedOn"], ms["basedOn"]);
        assert_eq!(plan["intent"], "plan");
        assert_eq!(order["intent"], "order");
        assert_eq!(order["status"], "completed");
        assert_eq!(
            plan["courseOfTherapyType"]["coding"][0]["code"],
            "continuous"
        );
        assert_eq!(plan["dispenseRequest"]["numberOfRepeatsAllowed"], 3);
        assert_eq!(plan["dispenseRequest"]["quantity"]["value"], 28);
        assert_eq!(
            plan["extension"][0]["extension"][0],
            serde_json::json!({ "url": "numberOfPrescriptionsIssued", "valueUnsignedInt": 1 })
        );
        assert_eq!(
            plan["substitution"]["_allowedBoolean"]["extension"][0]["valueCode"],
            "unknown"
        );
        // The last issue date is the statement's last element.
        assert_eq!(
            ms.as_object().unwrap().keys().next_back().unwrap(),
            "extension"
        );
        assert_eq!(ms["extension"][0]["url"], LAST_ISSUE_DATE_URL);
    }

    #[test]
    fn an_authorisation_with_no_repeats_is_acute() {
        let p = policy();
        for repeats in [None, Some(0)] {
            let (ex, d) = decided(medication(repeats), &p);
            let out = mapped(&ex, &d, &p);
            let plan = json(&out[1].0);
            assert_eq!(plan["courseOfTherapyType"]["coding"][0]["code"], "acute");
            assert_eq!(
                plan["courseOfTherapyType"]["coding"][0]["system"],
                HL7_COURSE_OF_THERAPY
            );
        }
    }
}
