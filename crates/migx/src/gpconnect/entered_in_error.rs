//! Entered in error: a resource the source marks `entered-in-error`, and everything that
//! shares its meaning, is never shared.

use super::bundle::{Reader, Resolved};
use super::json::{arr, str_at};
use serde_json::Value as Json;
use std::collections::HashSet;

/// Whether a resource says it was entered in error: its `status` or `verificationStatus`
/// (a code, or a CodeableConcept as R4 writes it) is `entered-in-error`, on the resource or
/// on a resource it contains.
pub(super) fn says_entered_in_error(v: &Json) -> bool {
    let is_eie = |s: &str| s.trim().eq_ignore_ascii_case("entered-in-error");
    let field = |key: &str| match v.get(key) {
        Some(Json::String(s)) => is_eie(s),
        Some(cc @ Json::Object(_)) => {
            arr(Some(cc), "coding").any(|c| str_at(c, "code").is_some_and(is_eie))
        }
        _ => false,
    };
    field("status")
        || field("verificationStatus")
        || arr(Some(v), "contained").any(|c| {
            c.get("status").and_then(Json::as_str).is_some_and(is_eie)
                || c.get("verificationStatus")
                    .and_then(Json::as_str)
                    .is_some_and(is_eie)
        })
}

impl<'a> Reader<'a> {
    /// Mark every item made from a resource the source says was entered in error, and
    /// every item that shares its meaning: the plan a `MedicationStatement` is merged into,
    /// the medications using a `Medication`, the entries of a `List` (and its sub-lists).
    /// Never shared, whatever the resource type.
    pub(super) fn entered_in_error(&mut self) {
        let n = self.res.len();
        let mut marked: Vec<usize> = Vec::new();
        let mut stack: Vec<usize> = (0..n)
            .filter(|&r| self.res[r].says_entered_in_error)
            .collect();
        let mut seen: HashSet<usize> = stack.iter().copied().collect();
        while let Some(r) = stack.pop() {
            marked.extend(self.items_of(r));
            let mut next: Vec<usize> = Vec::new();
            match self.res[r].ty {
                "MedicationStatement" => next.extend(
                    self.statement_of_plan
                        .iter()
                        .filter(|&(_, &st)| st == r)
                        .map(|(&plan, _)| plan),
                ),
                "Medication" => next.extend(
                    self.medication_users
                        .iter()
                        .filter(|&&(m, _)| m == r)
                        .map(|&(_, user)| user),
                ),
                "List" => {
                    let v = self.json(r);
                    let v: &Json = &v;
                    for e in arr(Some(v), "entry") {
                        match self.resolve(e.get("item"), r) {
                            Resolved::Found(t) => next.push(t),
                            Resolved::Ambiguous(ts) => next.extend(ts),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            for t in next {
                if seen.insert(t) {
                    stack.push(t);
                }
            }
        }
        for i in marked {
            if let Some(item) = self.ex.items.get_mut(i) {
                item.entered_in_error = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::gpconnect::testing::*;
    #[test]
    fn entered_in_error_on_any_resource_is_never_shared() {
        let eie = WithheldReason::EnteredInError;
        let obs = |id: &str, extra: &str| {
            format!(r#"{{"resourceType":"Observation","id":"{id}",{extra}{OBS}}}"#)
                .replace(r#""status":"final","#, "")
        };
        let plan = |id: &str, status: &str| {
            format!(
                r#"{{"resourceType":"MedicationRequest","id":"{id}","intent":"plan","status":"{status}","medicationCodeableConcept":{{"coding":[{{"system":"http://snomed.info/sct","code":"322236009"}}]}},"authoredOn":"2026-03-01","dispenseRequest":{{"validityPeriod":{{"start":"2026-03-01"}}}}}}"#
            )
        };
        let condition = |id: &str, field: &str| {
            format!(
                r#"{{"resourceType":"Condition","id":"{id}","clinicalStatus":"active",{field}"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"195967001"}}]}},"onsetDateTime":"2020-01-01","assertedDate":"2020-01-02"}}"#
            )
        };
        let allergy = r#"{"resourceType":"AllergyIntolerance","id":"al","clinicalStatus":"active","verificationStatus":"entered-in-error","category":["medication"],"code":{"coding":[{"system":"http://snomed.info/sct","code":"294505008"}]},"assertedDate":"2026-03-01"}"#;
        let statement = r#"{"resourceType":"MedicationStatement","id":"st","status":"entered-in-error","basedOn":[{"reference":"MedicationRequest/p2"}]}"#;
        let list = r#"{"resourceType":"List","id":"l","status":"entered-in-error","entry":[{"item":{"reference":"Observation/o4"}}]}"#;
        let entries = [
            obs("o1", r#""status":"entered-in-error","#),
            obs("o2", r#""status":"final","#),
            obs(
                "o3",
                r#""status":"final","contained":[{"resourceType":"Specimen","id":"s","status":"entered-in-error"}],"#,
            ),
            obs("o4", r#""status":"final","#),
            plan("p1", "entered-in-error"),
            plan("p2", "active"),
            condition("c1", r#""verificationStatus":"entered-in-error","#),
            condition(
                "c2",
                r#""verificationStatus":{"coding":[{"code":"entered-in-error"}]},"#,
            ),
            condition("c3", ""),
            allergy.to_string(),
            statement.to_string(),
            list.to_string(),
        ];
        let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
        let (ex, o) = outcomes(&bundle("", &refs));
        for id in ["o1", "o3", "o4", "c1", "c2", "al"] {
            assert_eq!(o[ex.at(id)], Outcome::Withheld(eie), "{id}");
        }
        for plan in ["p1", "p2"] {
            let ms = ex.items[ex.at(plan)].parent.unwrap();
            assert_eq!(o[ms], Outcome::Withheld(eie), "{plan}");
        }
        assert!(matches!(o[ex.at("o2")], Outcome::Shared(_)));
        assert!(matches!(o[ex.at("c3")], Outcome::Shared(_)));
    }
}
