//! The confidentiality graph's edges: everything that is not containment (further
//! placements, lists, referenced Medications, contained resources, encounters within
//! encounters, unresolved references, the record's own labels), handed to `policy::graph`.

use super::bundle::{Reader, Resolved};
use super::json::arr;
use super::labels::security;
use crate::ehr::model::Cover;
use serde_json::Value as Json;
use std::collections::HashMap;

impl<'a> Reader<'a> {
    /// Hand the confidentiality graph everything that is not containment: further
    /// placements, lists, referenced and contained resources, encounters within encounters,
    /// references that did not resolve, and the record's own labels.
    pub(super) fn confidentiality_graph(&mut self) {
        let n = self.res.len();
        // The whole record: the Bundle's and the Patient's labels.
        for c in security(self.bundle) {
            self.ex.record_confidentiality.push(("Bundle", c));
        }
        for i in 0..n {
            if self.res[i].ty == "Patient" {
                for c in security(&self.json(i)) {
                    self.ex.record_confidentiality.push(("Patient", c));
                }
            }
        }
        // An encounter within another (`partOf`): the outer one covers it.
        for i in 0..n {
            if self.res[i].ty != "Encounter" {
                continue;
            }
            if let Some(o) = self.depend(self.json(i).get("partOf"), i) {
                self.placed_in.entry(i).or_default().push(o);
            }
        }
        // Every placement beside the one the item is emitted under.
        let placed: Vec<(usize, Vec<usize>)> = self.placed_in.drain().collect();
        for (r, containers) in placed {
            let Some(main) = self.item_of(r) else {
                continue;
            };
            for c in containers {
                if let Some(ci) = self.item_of(c) {
                    if ci != main && self.ex.items[main].parent != Some(ci) {
                        self.ex.items[main].also_in.push(ci);
                    }
                }
            }
        }
        // Lists (consultation, topic, heading, problem lists, any other): each covers its
        // entries and its sub-lists.
        let mut list_cover: HashMap<usize, usize> = HashMap::new();
        for i in 0..n {
            if self.res[i].ty == "List" {
                list_cover.insert(i, self.ex.covers.len());
                self.ex.covers.push(Cover {
                    construct: "List",
                    codes: security(&self.json(i)),
                    ..Cover::default()
                });
            }
        }
        for i in 0..n {
            let Some(&k) = list_cover.get(&i) else {
                continue;
            };
            let v = self.json(i);
            let v: &Json = &v;
            for e in arr(Some(v), "entry") {
                let targets = match self.resolve(e.get("item"), i) {
                    Resolved::Found(t) => vec![t],
                    Resolved::Ambiguous(ts) => {
                        // Every candidate counts, and none is shared on a guess.
                        self.unresolved.extend(ts.iter().copied());
                        ts
                    }
                    Resolved::Contained(c) => {
                        let codes = security(&c);
                        self.ex.covers[k].codes.extend(codes);
                        Vec::new()
                    }
                    Resolved::Absent | Resolved::Missing => Vec::new(),
                };
                for t in targets {
                    match list_cover.get(&t) {
                        Some(&sub) => self.ex.covers[k].covers.push(sub),
                        None => {
                            let items = self.items_of(t);
                            self.ex.covers[k].items.extend(items);
                        }
                    }
                }
            }
        }
        // A problem relating a list covers the list's contents.
        for (item, list) in std::mem::take(&mut self.related_lists) {
            if let Some(&k) = list_cover.get(&list) {
                self.ex.covers[k].owners.push(item);
            }
        }
        // A referenced Medication covers the medications using it.
        let mut med_cover: HashMap<usize, usize> = HashMap::new();
        for (m, user) in std::mem::take(&mut self.medication_users) {
            let k = *med_cover.entry(m).or_insert_with(|| {
                self.ex.covers.push(Cover {
                    construct: "Medication",
                    codes: security(&self.json(m)),
                    ..Cover::default()
                });
                self.ex.covers.len() - 1
            });
            let items = self.items_of(user);
            self.ex.covers[k].items.extend(items);
        }
        // A contained resource's labels cover the resource containing it.
        for i in 0..n {
            let codes = std::mem::take(&mut self.res[i].contained_security);
            if !codes.is_empty() {
                let items = self.items_of(i);
                self.ex.covers.push(Cover {
                    construct: "contained",
                    codes: codes.into_vec(),
                    items,
                    ..Cover::default()
                });
            }
        }
        // What a problem's meaning depends on.
        for (item, r) in std::mem::take(&mut self.depends) {
            if let Some(t) = self.item_of(r) {
                self.ex.items[item].depends_on.push(t);
            }
        }
        // References a confidentiality decision depends on that did not resolve.
        for r in std::mem::take(&mut self.unresolved) {
            for it in self.items_of(r) {
                self.ex.items[it].unresolved_placement = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::gpconnect::testing::*;

    #[test]
    fn the_bundle_or_the_patient_covers_every_item() {
        let ok = format!(r#"{{"resourceType":"Observation","id":"b",{OBS}}}"#);
        let (_, o) = outcomes(&bundle(r#","security":[{"code":"NOPAT"}]"#, &[&ok]));
        assert!(o
            .iter()
            .all(|o| *o == Outcome::Withheld(WithheldReason::Confidential)));
        let patient_r = r#"{"resourceType":"Patient","id":"p2","meta":{"security":[{"system":"http://hl7.org/fhir/v3/Confidentiality","code":"R"}]}}"#;
        let (ex, o) = outcomes(&bundle("", &[patient_r, &ok]));
        assert_eq!(
            ex.record_confidentiality,
            vec![("Patient", "R".to_string())]
        );
        assert!(o
            .iter()
            .all(|o| *o == Outcome::Withheld(WithheldReason::Confidential)));
    }

    #[test]
    fn a_confidential_medication_or_list_covers_what_uses_or_lists_it() {
        let med = r#"{"resourceType":"Medication","id":"m","meta":{"security":[{"code":"NOPAT"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"322236009"}]}}"#;
        let plan = r#"{"resourceType":"MedicationRequest","id":"rq","intent":"plan","status":"active","medicationReference":{"reference":"urn:uuid:0f0f0f0f-0000-4000-8000-000000000001"},"authoredOn":"2026-03-01","dispenseRequest":{"validityPeriod":{"start":"2026-03-01"}}}"#;
        let ok = format!(r#"{{"resourceType":"Observation","id":"b",{OBS}}}"#);
        let list = r#"{"resourceType":"List","id":"pl","meta":{"security":[{"code":"NOPAT"}]},"entry":[{"item":{"identifier":{"value":"B-IDENT"}}}]}"#;
        let ok = ok.replace(
            r#""id":"b","#,
            r#""id":"b","identifier":[{"system":"https://x.example/ids","value":"B-IDENT"}],"#,
        );
        let mut b = String::from_utf8(bundle("", &[med, plan, &ok, list])).unwrap();
        // The Medication's fullUrl is a urn:uuid, as GP Connect bundles often write.
        b = b.replace(
            r#"{"resource":{"resourceType":"Medication""#,
            r#"{"fullUrl":"urn:uuid:0f0f0f0f-0000-4000-8000-000000000001","resource":{"resourceType":"Medication""#,
        );
        let (ex, o) = outcomes(b.as_bytes());
        let ms = ex.items[ex.at("rq")].parent.unwrap();
        assert_eq!(o[ms], Outcome::Withheld(WithheldReason::Confidential));
        assert_eq!(
            o[ex.at("b")],
            Outcome::Withheld(WithheldReason::Confidential)
        );
    }

    #[test]
    fn an_outer_encounter_covers_the_encounter_within_it() {
        let enc = |id: &str, extra: &str| {
            format!(
                r#"{{"resourceType":"Encounter","id":"{id}",{extra}"status":"finished","period":{{"start":"2026-03-01T09:00:00+00:00"}}}}"#
            )
        };
        let outer = enc("outer", r#""meta":{"security":[{"code":"NOPAT"}]},"#);
        let inner = enc("inner", r#""partOf":{"reference":"Encounter/outer"},"#);
        let obs = format!(
            r#"{{"resourceType":"Observation","id":"b","context":{{"reference":"Encounter/inner"}},{OBS}}}"#
        );
        // A partOf on something that is not an encounter is no placement.
        let other = format!(
            r#"{{"resourceType":"Observation","id":"c","partOf":[{{"reference":"Encounter/outer"}}],{OBS}}}"#
        );
        let (ex, o) = outcomes(&bundle("", &[&outer, &inner, &obs, &other]));
        let at = |id: &str| ex.at(id);
        assert_eq!(ex.items[at("inner")].also_in, [at("outer")]);
        assert_eq!(o[at("b")], Outcome::Withheld(WithheldReason::Confidential));
        assert!(ex.items[at("c")].also_in.is_empty());
    }

    #[test]
    fn each_cover_names_its_construct() {
        // What `explain` and the audit say a confidentiality came from ("inherited from a
        // List"): the construct's name, never a source id.
        let med = r#"{"resourceType":"Medication","id":"m","meta":{"security":[{"code":"NOPAT"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"322236009"}]}}"#;
        let plan = r#"{"resourceType":"MedicationRequest","id":"rq","intent":"plan","status":"active","medicationReference":{"reference":"Medication/m"},"authoredOn":"2026-03-01","dispenseRequest":{"validityPeriod":{"start":"2026-03-01"}}}"#;
        let obs = format!(
            r#"{{"resourceType":"Observation","id":"b","contained":[{{"resourceType":"Provenance","id":"pv","meta":{{"security":[{{"code":"NOPAT"}}]}},"recorded":"2026-03-01T09:00:00+00:00"}}],{OBS}}}"#
        );
        let list = r#"{"resourceType":"List","id":"pl","meta":{"security":[{"code":"R"}]},"entry":[{"item":{"reference":"Observation/b"}}]}"#;
        let (ex, _) = outcomes(&bundle("", &[med, plan, &obs, list]));
        let mut names: Vec<&str> = ex.covers.iter().map(|c| c.construct).collect();
        names.sort_unstable();
        assert_eq!(names, ["List", "Medication", "contained"]);
    }

    #[test]
    fn a_contained_resources_label_covers_the_resource_containing_it() {
        let with = |id: &str, label: &str| {
            format!(
                r#"{{"resourceType":"Observation","id":"{id}","contained":[{{"resourceType":"Provenance","id":"pv",{label}"recorded":"2026-03-01T09:00:00+00:00"}}],{OBS}}}"#
            )
        };
        let b = with("b", r#""meta":{"security":[{"code":"NOPAT"}]},"#);
        let c = with("c", "");
        let (ex, o) = outcomes(&bundle("", &[&b, &c]));
        let at = |id: &str| ex.at(id);
        assert_eq!(o[at("b")], Outcome::Withheld(WithheldReason::Confidential));
        assert!(matches!(o[at("c")], Outcome::Shared(_)), "{:?}", o[at("c")]);
        let contained: Vec<(&[String], &[usize])> = ex
            .covers
            .iter()
            .filter(|c| c.construct == "contained")
            .map(|c| (c.codes.as_slice(), c.items.as_slice()))
            .collect();
        assert_eq!(contained, [(&["NOPAT".to_string()][..], &[at("b")][..])]);
    }
}
