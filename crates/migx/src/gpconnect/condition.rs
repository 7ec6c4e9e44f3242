//! `Condition` (problem header): a `LinkSet` naming its actual problem, or a synthesised
//! statement carrying the Condition's own code.

use super::bundle::Reader;
use super::json::{
    codings, date, extension, extensions, has_text, mapped, ref_key, reference, snomed, str_at,
};
use super::observation::is_comment_note;
use crate::ehr::model::{Element, Item, ItemHead, ItemKind, LinkSet};
use serde_json::Value as Json;

const EXT_ACTUAL_PROBLEM: &str = "Extension-CareConnect-ActualProblem-1";

const EXT_RELATED_CONTENT: &str = "Extension-CareConnect-RelatedClinicalContent-1";

const EXT_SIGNIFICANCE: &str = "Extension-CareConnect-ProblemSignificance-1";

const EXT_RELATED_PROBLEM: &str = "Extension-CareConnect-RelatedProblemHeader-1";

/// STU3 Condition `verificationStatus` codes and the R4 `condition-ver-status` code each
/// means (the same words; STU3 `unknown` says nothing, so it maps to none;
/// `entered-in-error` is withheld before any mapping).
const CONDITION_VERIFICATION: [(&str, &str); 5] = [
    ("provisional", "provisional"),
    ("differential", "differential"),
    ("confirmed", "confirmed"),
    ("refuted", "refuted"),
    ("entered-in-error", "entered-in-error"),
];

/// STU3 Condition `clinicalStatus` codes and their R4 `condition-clinical` codes.
const CONDITION_CLINICAL: [(&str, &str); 5] = [
    ("active", "active"),
    ("recurrence", "recurrence"),
    ("inactive", "inactive"),
    ("remission", "remission"),
    ("resolved", "resolved"),
];

impl<'a> Reader<'a> {
    pub(super) fn condition(&mut self, i: usize, parent: Option<usize>) {
        let v = self.json(i);
        let v: &Json = &v;
        let mut item = self.base(i, Element::LinkSet, parent);
        let mut link = LinkSet::default();
        item.class_code = Some("OBS".into());
        item.status_code = Some("COMPLETE".into());
        // GP Connect requires clinicalStatus; anything but `active` or `recurrence` (an
        // active status in R4's hierarchy) is not current.
        item.clinical_status = mapped(v, "clinicalStatus", &CONDITION_CLINICAL);
        let active = matches!(item.clinical_status, Some("active" | "recurrence"));
        item.verification = mapped(v, "verificationStatus", &CONDITION_VERIFICATION);
        item.codes = smallvec::smallvec![snomed(if active { "394774009" } else { "394775005" })];
        if extension(v, EXT_SIGNIFICANCE).and_then(|e| str_at(e, "valueCode")) == Some("major") {
            link.qualifiers.push(snomed("386134007"));
        }
        item.effective.low = date(v.get("onsetDateTime"));
        item.effective.high = date(v.get("abatementDateTime"));
        item.availability = date(v.get("assertedDate"));
        item.code_uncoded = v.get("code").is_some() && codings(v.get("code")).is_empty();
        let mut lists = Vec::new();
        for e in extensions(v, EXT_RELATED_CONTENT) {
            let Some(r) = e.get("valueReference") else {
                continue;
            };
            let target = self.lookup(Some(r), i);
            let is_list = target.is_some_and(|t| self.res[t].ty == "List")
                || reference(Some(r))
                    .and_then(|s| ref_key(s.trim()))
                    .is_some_and(|k| k.starts_with("list/"));
            if is_list {
                lists.extend(target);
            } else if let Some(id) = self.ref_item_id(r, i) {
                link.component_refs.push(id);
            }
        }
        // Problems related to this one: read as ids only; the mapping links a shared
        // problem to another only when that one is shared too.
        for e in extensions(v, EXT_RELATED_PROBLEM) {
            if let Some(t) = extension(e, "target")
                .and_then(|t| t.get("valueReference"))
                .and_then(|r| self.lookup(Some(r), i))
                .filter(|&t| self.res[t].ty == "Condition" && t != i)
            {
                link.related_problems.push(self.id(t).to_string());
            }
        }
        let actual = self.depend(
            extension(v, EXT_ACTUAL_PROBLEM).and_then(|e| e.get("valueReference")),
            i,
        );
        let named_obs = actual.filter(|&t| self.is_plain_observation(t));
        let synth = match named_obs {
            Some(t) => {
                link.named_statement = Some(self.id(t).to_string());
                None
            }
            None => {
                let id = format!("{}-named", item.id);
                link.named_statement = Some(id.clone());
                Some(Item::of(ItemHead {
                    id: id.into(),
                    class_code: Some("OBS".into()),
                    status_code: Some("COMPLETE".into()),
                    parent,
                    codes: codings(v.get("code")).into(),
                    code_uncoded: codings(v.get("code")).is_empty(),
                    effective: item.effective,
                    availability: item.availability,
                    confidentiality: item.confidentiality.clone(),
                    free_text: has_text(v.get("code")),
                    ..ItemHead::new(Element::ObservationStatement)
                }))
            }
        };
        item.kind = ItemKind::LinkSet(Box::new(link));
        let ls = self.push(item);
        if let Some(s) = synth {
            self.push(s);
            // The problem's meaning is the resource its actualProblem points at, whatever
            // that is read as (a group, a note): withheld with it.
            if let Some(t) = actual {
                self.depends.push((ls, t));
            }
        }
        for l in lists {
            self.related_lists.push((ls, l));
        }
    }

    /// An Observation that becomes a single ObservationStatement (not a group or a note).
    fn is_plain_observation(&self, t: usize) -> bool {
        let v = self.json(t);
        let v: &Json = &v;
        self.res[t].ty == "Observation"
            && v.get("component").is_none()
            && !self.groups.contains(&t)
            && !is_comment_note(v)
    }
}

#[cfg(test)]
mod tests {
    use crate::gpconnect::testing::*;
    #[test]
    fn certainty_and_clinical_status_come_from_the_source() {
        let condition = |id: &str, clinical: &str, ver: &str| {
            format!(
                r#"{{"resourceType":"Condition","id":"{id}","clinicalStatus":"{clinical}",{ver}"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"195967001"}}]}},"onsetDateTime":"2020-01-01","assertedDate":"2020-01-02"}}"#
            )
        };
        let allergy = |id: &str, clinical: &str, ver: &str| {
            format!(
                r#"{{"resourceType":"AllergyIntolerance","id":"{id}","clinicalStatus":"{clinical}",{ver}"category":["medication"],"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"294505008"}}]}},"assertedDate":"2026-03-01"}}"#
            )
        };
        let v = |s: &str| format!(r#""verificationStatus":"{s}","#);
        let entries = [
            condition("c1", "active", &v("provisional")),
            condition("c2", "recurrence", &v("differential")),
            condition("c3", "active", &v("refuted")),
            condition("c4", "remission", ""),
            condition("c5", "active", &v("unknown")),
            allergy("a1", "active", &v("unconfirmed")),
            allergy("a2", "active", &v("refuted")),
            allergy("a3", "resolved", &v("confirmed")),
            allergy("a4", "inactive", ""),
            allergy("a5", "active", &v("Confirmed")),
        ];
        let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
        let (ex, o) = outcomes(&bundle("", &refs));
        let it = |id: &str| &ex.items[ex.at(id)];
        assert_eq!(it("c1").verification, Some("provisional"));
        assert_eq!(it("c2").verification, Some("differential"));
        assert_eq!(it("c2").clinical_status, Some("recurrence"));
        assert_eq!(it("c5").verification, None);
        assert_eq!(it("a1").verification, Some("unconfirmed"));
        assert_eq!(it("a5").verification, Some("confirmed"));
        for id in ["c1", "c2", "c5", "a1", "a5"] {
            assert!(matches!(o[ex.at(id)], Outcome::Shared(_)), "{id}");
        }
        for id in ["c3", "a2"] {
            assert_eq!(
                o[ex.at(id)],
                Outcome::Withheld(WithheldReason::Refuted),
                "{id}"
            );
        }
        for id in ["c4", "a3", "a4"] {
            assert_eq!(
                o[ex.at(id)],
                Outcome::Withheld(WithheldReason::NotCurrent),
                "{id}"
            );
        }
    }
}
