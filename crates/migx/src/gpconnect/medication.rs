//! `MedicationRequest` plans and orders (with the `MedicationStatement` and `Medication`
//! they bring in): a `MedicationStatement` with its `ehrSupplyAuthorise`,
//! `ehrSupplyDiscontinue` or `ehrSupplyPrescribe`, as the XML has them.

use super::bundle::{Reader, Resolved};
use super::json::{
    all_codings, arr, codings, date, extension, has_text, number, period, quantity_unit_text,
    str_at, MAX_KEPT_TEXT,
};
use super::labels::security;
use crate::ehr::model::{
    DateField, DoseQuantity, Element, Item, ItemHead, ItemKind, Medication, StructuredDose, Supply,
};
use serde_json::Value as Json;

const EXT_PRESCRIPTION_TYPE: &str = "Extension-CareConnect-GPC-PrescriptionType-1";

const EXT_REPEAT_INFO: &str = "Extension-CareConnect-GPC-MedicationRepeatInformation-1";

const EXT_LAST_ISSUE: &str = "Extension-CareConnect-GPC-MedicationStatementLastIssueDate-1";

const EXT_STATUS_REASON: &str = "Extension-CareConnect-GPC-MedicationStatusReason-1";

/// The dose instruction of a MedicationRequest (`dosageInstruction[].text`, joined by `; `),
/// and whether some of it had to be treated as free text instead (not a string, too long).
fn dosage_text(v: &Json) -> (Option<String>, bool) {
    let mut parts = Vec::new();
    let mut free = false;
    for d in arr(Some(v), "dosageInstruction") {
        match d.get("text") {
            Some(Json::String(t)) if !t.trim().is_empty() => parts.push(t.trim()),
            Some(t) if has_text(Some(t)) => free = true,
            _ => {}
        }
    }
    let text = parts.join("; ");
    if text.len() > MAX_KEPT_TEXT {
        return (None, true);
    }
    ((!text.is_empty()).then_some(text), free)
}

/// The structured part of one STU3 `Dosage` (its text is read by [`dosage_text`]); `None`
/// when it structures nothing.
fn structured_dose(d: &Json) -> Option<StructuredDose> {
    let dq = |q: Option<&Json>| -> Option<DoseQuantity> {
        let q = q?;
        Some(DoseQuantity {
            value: number(q.get("value"))?,
            unit: quantity_unit_text(q),
        })
    };
    let repeat = d.get("timing").and_then(|t| t.get("repeat"));
    let range = d
        .get("doseRange")
        .map(|r| (dq(r.get("low")), dq(r.get("high"))))
        .filter(|(l, h)| l.is_some() || h.is_some());
    let sd = StructuredDose {
        quantity: dq(d.get("doseQuantity")),
        range,
        frequency: repeat
            .and_then(|r| r.get("frequency"))
            .and_then(Json::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n > 0),
        period: number(repeat.and_then(|r| r.get("period")))
            .filter(|p| p.parse::<f64>().is_ok_and(|x| x.is_finite() && x > 0.0)),
        period_unit: repeat.and_then(|r| str_at(r, "periodUnit")).and_then(|u| {
            ["s", "min", "h", "d", "wk", "mo", "a"]
                .into_iter()
                .find(|k| *k == u.trim())
        }),
        route: codings(d.get("route")),
        as_needed: d.get("asNeededBoolean").and_then(Json::as_bool),
        as_needed_for: codings(d.get("asNeededCodeableConcept")),
        additional: arr(Some(d), "additionalInstruction")
            .flat_map(|c| codings(Some(c)))
            .collect(),
    };
    (sd != StructuredDose::default()).then_some(sd)
}

impl<'a> Reader<'a> {
    pub(super) fn medication_request(&mut self, i: usize, parent: Option<usize>) {
        let v = self.json(i);
        let v: &Json = &v;
        let intent = str_at(v, "intent").unwrap_or("");
        let status = str_at(v, "status").unwrap_or("");
        let consumable = match self.resolve(v.get("medicationReference"), i) {
            Resolved::Found(m) => {
                self.medication_users.push((m, i));
                codings(self.json(m).get("code"))
            }
            Resolved::Contained(m) => codings(m.get("code")),
            Resolved::Absent => codings(v.get("medicationCodeableConcept")),
            Resolved::Missing | Resolved::Ambiguous(_) => {
                // The drug, and its labels, cannot be read: withheld.
                self.depend(v.get("medicationReference"), i);
                Vec::new()
            }
        };
        let dispense = v.get("dispenseRequest");
        let effective = period(dispense.and_then(|d| d.get("validityPeriod")));
        let availability = date(v.get("authoredOn"));
        // The source's status, in the XML's terms: `active` ACTIVE, `on-hold` SUSPENDED
        // (shared as on-hold), anything else (completed, cancelled, stopped, draft,
        // unknown) COMPLETE: not current.
        let status_code = Some(
            match status.trim() {
                "active" => "ACTIVE",
                "on-hold" => "SUSPENDED",
                _ => "COMPLETE",
            }
            .into(),
        );
        let quantity_json = dispense.and_then(|d| d.get("quantity"));
        let quantity = number(quantity_json.and_then(|q| q.get("value")));
        let quantity_unit = quantity_json.and_then(quantity_unit_text);
        // The dose instruction is prescribing content the model keeps (the policy decides
        // whether it is shared); patient instructions and notes stay free text.
        let (dosage, dosage_free_text) = dosage_text(v);
        let dose = match arr(Some(v), "dosageInstruction").collect::<Vec<_>>()[..] {
            [d] => structured_dose(d),
            _ => None,
        };
        let dosage_text = dosage_free_text
            || arr(Some(v), "dosageInstruction").any(|d| has_text(d.get("patientInstruction")));
        let own_id = self.id(i).to_string();
        let statement_id = match (intent, self.statement_of_plan.get(&i)) {
            ("plan", Some(&s)) => self.id(s).to_string(),
            _ => format!("{own_id}-ms"),
        };
        let statement = self.statement_of_plan.get(&i).map(|&s| self.json(s));
        let last_issue = statement
            .as_deref()
            .and_then(|s| extension(s, EXT_LAST_ISSUE))
            .map_or(DateField::Absent, |e| date(e.get("valueDateTime")));
        let mut ms_security = security(v);
        let mut carried = all_codings(v);
        if let Some(m) = self.lookup(v.get("medicationReference"), i) {
            carried.extend(all_codings(&self.json(m)));
        }
        if let Some(&s) = self.statement_of_plan.get(&i) {
            carried.extend(all_codings(&self.json(s)));
            for c in security(&self.json(s)) {
                if !ms_security.contains(&c) {
                    ms_security.push(c);
                }
            }
        }
        let ms = self.push(Item {
            head: ItemHead {
                id: statement_id.into(),
                element: Some(Element::MedicationStatement),
                class_code: Some("SBADM".into()),
                mood_code: Some("INT".into()),
                status_code: status_code.clone(),
                parent,
                effective,
                availability,
                confidentiality: ms_security.into(),
                carried: carried.into(),
                free_text: dosage_text,
                ..ItemHead::default()
            },
            kind: ItemKind::Medication(Box::new(Medication {
                consumable,
                dosage_text: dosage,
                dose,
                last_issue,
            })),
        });
        let supply_text = has_text(v.get("note"));
        match intent {
            "plan" => {
                let prescription_type = extension(v, EXT_PRESCRIPTION_TYPE)
                    .map(|e| codings(e.get("valueCodeableConcept")))
                    .unwrap_or_default();
                let acute = prescription_type
                    .iter()
                    .any(|c| c.code == "acute" || c.code == "acute-handwritten");
                let repeat_dispensing = !acute
                    && prescription_type
                        .iter()
                        .any(|c| c.code == "repeat-dispensing");
                let issues_recorded = extension(v, EXT_REPEAT_INFO)
                    .and_then(|e| extension(e, "numberOfRepeatPrescriptionsIssued"))
                    .and_then(|e| e.get("valueUnsignedInt").or_else(|| e.get("valueInteger")))
                    .and_then(Json::as_u64)
                    .and_then(|n| u32::try_from(n).ok());
                let repeats = extension(v, EXT_REPEAT_INFO)
                    .and_then(|e| extension(e, "numberOfRepeatPrescriptionsAllowed"))
                    .and_then(|e| e.get("valueUnsignedInt").or_else(|| e.get("valueInteger")))
                    .and_then(Json::as_u64)
                    .or_else(|| {
                        dispense
                            .and_then(|d| d.get("numberOfRepeatsAllowed"))
                            .and_then(Json::as_u64)
                    });
                // As the adaptor: acute 0, else the repeats allowed, else 1.
                let repeat_number = if acute {
                    0
                } else {
                    repeats.map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX))
                };
                self.push(Item {
                    head: ItemHead {
                        id: own_id.as_str().into(),
                        class_code: Some("SPLY".into()),
                        mood_code: Some("INT".into()),
                        status_code,
                        parent: Some(ms),
                        effective,
                        availability,
                        free_text: supply_text,
                        ..ItemHead::new(Element::EhrSupplyAuthorise)
                    },
                    kind: ItemKind::Supply(Box::new(Supply {
                        repeat_number: Some(repeat_number),
                        issues_recorded,
                        repeat_dispensing,
                        quantity,
                        quantity_unit,
                        prior_ref: None,
                    })),
                });
                let reason = extension(v, EXT_STATUS_REASON);
                if reason.is_some() || status == "stopped" {
                    let when = date(
                        reason
                            .and_then(|r| extension(r, "statusChangeDate"))
                            .and_then(|e| e.get("valueDateTime")),
                    );
                    let reason_cc = reason
                        .and_then(|r| extension(r, "statusReason"))
                        .and_then(|e| e.get("valueCodeableConcept"));
                    self.push(Item {
                        head: ItemHead {
                            id: format!("{own_id}-discontinue").into(),
                            class_code: Some("SPLY".into()),
                            mood_code: Some("RQO".into()),
                            status_code: Some("COMPLETE".into()),
                            parent: Some(ms),
                            codes: codings(reason_cc).into(),
                            code_uncoded: codings(reason_cc).is_empty(),
                            availability: when,
                            free_text: has_text(reason_cc),
                            ..ItemHead::new(Element::EhrSupplyDiscontinue)
                        },
                        kind: ItemKind::Supply(Box::new(Supply {
                            prior_ref: Some(own_id),
                            ..Supply::default()
                        })),
                    });
                }
            }
            _ => {
                // `order` (and anything else: an issue needs a plan to be shared at all).
                let prior = arr(Some(v), "basedOn").find_map(|b| self.ref_item_id(b, i));
                self.push(Item {
                    head: ItemHead {
                        id: own_id.into(),
                        class_code: Some("SPLY".into()),
                        mood_code: Some("RQO".into()),
                        status_code: Some("COMPLETE".into()),
                        parent: Some(ms),
                        effective,
                        availability,
                        free_text: supply_text,
                        ..ItemHead::new(Element::EhrSupplyPrescribe)
                    },
                    kind: ItemKind::Supply(Box::new(Supply {
                        quantity,
                        quantity_unit,
                        prior_ref: prior,
                        ..Supply::default()
                    })),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::gpconnect::testing::*;
    #[test]
    fn plan_statuses_and_vaccinations_not_given_are_never_shown_as_current_or_done() {
        let plan = |id: &str, status: &str| {
            format!(
                r#"{{"resourceType":"MedicationRequest","id":"{id}","intent":"plan","status":"{status}","medicationCodeableConcept":{{"coding":[{{"system":"http://snomed.info/sct","code":"322236009"}}]}},"authoredOn":"2026-03-01","dispenseRequest":{{"validityPeriod":{{"start":"2026-03-01","end":"2027-03-01"}}}}}}"#
            )
        };
        let imm = |id: &str, not_given: &str| {
            format!(
                r#"{{"resourceType":"Immunization","id":"{id}","status":"completed",{not_given}"vaccineCode":{{"coding":[{{"system":"http://snomed.info/sct","code":"871751000000104"}}]}},"date":"2026-03-01"}}"#
            )
        };
        let entries = [
            plan("p1", "active"),
            plan("p2", "on-hold"),
            plan("p3", "completed"),
            plan("p4", "cancelled"),
            plan("p5", "unknown"),
            imm("i1", r#""notGiven":false,"#),
            imm("i2", r#""notGiven":true,"#),
            imm("i3", r#""notGiven":"yes","#),
        ];
        let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
        let (ex, o) = outcomes(&bundle("", &refs));
        let ms = |plan: &str| ex.items[ex.at(plan)].parent.unwrap();
        assert_eq!(
            ex.items[ex.at("p2")].status_code.as_deref(),
            Some("SUSPENDED")
        );
        for p in ["p1", "p2"] {
            assert!(matches!(o[ms(p)], Outcome::Shared(_)), "{p}");
        }
        for p in ["p3", "p4", "p5"] {
            assert_eq!(
                o[ms(p)],
                Outcome::Withheld(WithheldReason::NotCurrent),
                "{p}"
            );
        }
        assert!(!ex.items[ex.at("i1")].not_done);
        assert!(ex.items[ex.at("i2")].not_done);
        assert!(ex.items[ex.at("i3")].not_done);
        // Shared only as a not-done Procedure, else out of scope.
        for i in ["i2", "i3"] {
            assert!(
                !matches!(o[ex.at(i)], Outcome::Shared(r) if r != crate::policy::decide::Role::Procedure),
                "{i}"
            );
        }
    }
}
