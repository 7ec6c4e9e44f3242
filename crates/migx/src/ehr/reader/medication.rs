//! Medication: a statement's drug (consumable), a supply's quantity, unit text and repeats,
//! the dose instruction, and the prior authorisation an issue fulfils or a discontinuation
//! reverses.

use super::attrs::{coding, normalise_ref, own_short, systemless, Attrs};
use super::tags::Tag;
use super::{Slot, State};
use crate::ehr::model::push_lean;

impl State {
    /// A medication statement's drug, a supply's quantity and repeats, the dose text, and the prior issue or authorisation an issue fulfils or reverses.
    pub(super) fn medication_field(
        &mut self,
        idx: usize,
        rel: &[Tag],
        depth: usize,
        a: &Attrs,
    ) -> bool {
        // Each field belongs to one construct's payload; on any other construct the path
        // falls through to what every statement has (its codings carried and screened, its
        // text free text).
        let item = &mut self.ex.items[idx];
        match rel {
            [Tag::Consumable, Tag::ManufacturedProduct, Tag::ManufacturedMaterial, Tag::Code]
            | [Tag::Consumable, Tag::ManufacturedProduct, Tag::ManufacturedMaterial, Tag::Code, Tag::Translation] =>
            {
                let Some(m) = item.medication_mut() else {
                    return false;
                };
                match coding(a) {
                    Some(c) => push_lean(&mut m.consumable, c),
                    None => item.carried.extend(systemless(a)),
                }
            }
            // Kept text: the dose instruction.
            [Tag::PertinentInformation, Tag::PertinentMedicationDosage, Tag::Text]
                if item.medication().is_some() =>
            {
                self.capture = Some((idx, Slot::Dosage, depth));
            }
            [Tag::RepeatNumber] => {
                let Some(s) = item.supply_mut() else {
                    return false;
                };
                s.repeat_number = a.value.as_ref().and_then(|v| v.parse().ok())
            }
            [Tag::Quantity] => {
                let Some(s) = item.supply_mut() else {
                    return false;
                };
                s.quantity = own_short(&a.value);
                s.quantity_unit = own_short(&a.unit).filter(|u| u != "1");
            }
            // Kept text: the unit EMIS writes as text.
            [Tag::Quantity, Tag::Translation, Tag::OriginalText] if item.supply().is_some() => {
                self.capture = Some((idx, Slot::QuantityUnit, depth));
            }
            [Tag::InFulfillmentOf | Tag::ReversalOf, Tag::PriorMedicationRef, Tag::Id] => {
                match item.supply_mut() {
                    Some(s) => {
                        if let Some(r) = &a.root {
                            s.prior_ref = Some(normalise_ref(r, a));
                        }
                    }
                    // Only a supply fulfils or reverses another; on any other construct the
                    // reference cannot be followed, and confidentiality would flow along it:
                    // fail closed.
                    None => item.unresolved_placement = true,
                }
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::ehr::reader::testing::*;

    #[test]
    fn only_a_supply_fulfils_another_and_a_stray_reference_withholds() {
        let prior = r#"<inFulfillmentOf><priorMedicationRef><id root="A1"/></priorMedicationRef></inFulfillmentOf>"#;
        let body = format!(
            r#"<ehrSupplyPrescribe classCode="SPLY" moodCode="RQO"><id root="P1"/>{prior}</ehrSupplyPrescribe><ObservationStatement classCode="OBS" moodCode="EVN"><id root="O1"/>{prior}<consumable><manufacturedProduct><manufacturedMaterial><code code="322236009" codeSystem="2.16.840.1.113883.2.1.3.2.4.15"/></manufacturedMaterial></manufacturedProduct></consumable></ObservationStatement>"#
        );
        let doc = format!("{ROOT}<EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><component>{body}</component></ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>");
        let ex = match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        };
        let p = ex.get("p1").expect("issue");
        assert_eq!(p.prior_ref(), Some("a1"));
        assert!(!p.unresolved_placement);
        let o = ex.get("o1").expect("observation");
        assert_eq!(o.prior_ref(), None);
        assert!(
            o.unresolved_placement,
            "a reference it cannot hold withholds it"
        );
        // A drug code on an observation is carried: screened, never emitted as a drug.
        assert!(o.carried.iter().any(|c| c.code == "322236009"));
        assert!(o.emitted_codings().all(|c| c.code != "322236009"));
    }

    #[test]
    fn dose_text_and_unit_texts_are_kept_free_text_only_flagged() {
        let med = r#"<MedicationStatement classCode="SBADM" moodCode="INT"><id root="M1"/>
            <component><ehrSupplyAuthorise classCode="SPLY" moodCode="INT"><id root="A1"/>
              <quantity value="28" unit="1"><translation value="28"><originalText>tablet</originalText></translation></quantity>
              <pertinentInformation><pertinentSupplyAnnotation><text>note</text></pertinentSupplyAnnotation></pertinentInformation>
            </ehrSupplyAuthorise></component>
            <pertinentInformation><pertinentMedicationDosage><text>
              One &amp; a half &#x2013; daily</text></pertinentMedicationDosage></pertinentInformation>
          </MedicationStatement>"#;
        let obs = |id: &str, value: &str| {
            format!(
                r#"<ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/>{value}</ObservationStatement>"#
            )
        };
        let body = [
            med.to_string(),
            obs("O1", r#"<value xsi:type="PQ" value="5.1" unit="1"><translation value="5.1"><originalText>10*9/L</originalText></translation></value>"#),
            obs("O2", r#"<value xsi:type="PQ" value="140" unit="mm[Hg]"/>"#),
            obs("O3", &format!(r#"<value xsi:type="PQ" value="1" unit="1"><translation value="1"><originalText>{}</originalText></translation></value>"#, "x".repeat(MAX_KEPT_TEXT + 1))),
            obs("O4", r#"<value xsi:type="PQ" value="1" unit="1"><translation value="1"><originalText>a &bogus; b</originalText></translation></value>"#),
        ]
        .concat();
        let doc = format!("{ROOT}<EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><component>{body}</component></ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>");
        let ex = match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        };
        let m = ex.get("m1").expect("medication");
        assert_eq!(
            m.medication().and_then(|m| m.dosage_text.as_deref()),
            Some("One & a half \u{2013} daily")
        );
        assert!(
            !m.free_text,
            "the dose text is kept, not flagged as narrative"
        );
        let a = ex.get("a1").expect("authorise");
        assert_eq!(
            a.supply()
                .map(|s| (s.quantity.as_deref(), s.quantity_unit.as_deref())),
            Some((Some("28"), Some("tablet")))
        );
        assert!(a.free_text, "the supply annotation stays free text");
        let unit = |id: &str| match ex
            .get(id)
            .and_then(|i| i.observation())
            .map(|o| o.value.as_deref())
        {
            Some(Some(Value::Quantity { unit, .. })) => unit.clone(),
            v => panic!("{v:?}"),
        };
        assert_eq!(unit("o1").as_deref(), Some("10*9/L"));
        assert_eq!(unit("o2").as_deref(), Some("mm[Hg]"));
        // Too long, or an undefined entity: not kept, flagged as free text instead.
        for id in ["o3", "o4"] {
            assert_eq!(unit(id), None, "{id}");
            assert!(ex.get(id).expect(id).free_text, "{id}");
        }
    }

    #[test]
    fn a_drug_is_read_with_its_translations_and_a_supply_with_its_repeats() {
        let sct = "2.16.840.1.113883.2.1.3.2.4.15";
        let body = format!(
            r#"<MedicationStatement classCode="SBADM" moodCode="INT"><id root="M1"/><consumable><manufacturedProduct><manufacturedMaterial><code code="322236009" codeSystem="{sct}"><translation code="DM1" codeSystem="2.16.840.1.113883.2.1.6.2"/><translation code="LOCAL7"/></code></manufacturedMaterial></manufacturedProduct></consumable><component><ehrSupplyAuthorise classCode="SPLY" moodCode="INT"><id root="A1"/><repeatNumber value="3"/><quantity value="28" unit="tablet"/></ehrSupplyAuthorise></component></MedicationStatement>"#
        );
        let doc = format!("{ROOT}<EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><component>{body}</component></ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>");
        let ex = match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        };
        let m = ex.get("m1").expect("medication");
        let drug: Vec<&str> = m
            .medication()
            .map(|m| m.consumable.iter().map(|c| c.code.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            drug,
            ["322236009", "DM1"],
            "the drug code and its coded translation"
        );
        // A translation without a system is not a drug coding but is still screened.
        assert!(m.carried.iter().any(|c| c.code == "LOCAL7"));
        let a = ex.get("a1").and_then(Item::supply).expect("authorisation");
        assert_eq!(a.repeat_number, Some(3));
        assert_eq!(a.quantity.as_deref(), Some("28"));
        assert_eq!(a.quantity_unit.as_deref(), Some("tablet"));
    }

    #[test]
    fn prescribing_texts_on_another_construct_are_free_text() {
        // Only a medication keeps a dose text and only a supply a unit text; the same
        // elements elsewhere are narrative: flagged (and counted), never silently dropped.
        let obs = |id: &str, inner: &str| {
            format!(
                r#"<ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/>{inner}</ObservationStatement>"#
            )
        };
        let body = [
            obs(
                "O1",
                "<pertinentInformation><pertinentMedicationDosage><text>take two</text></pertinentMedicationDosage></pertinentInformation>",
            ),
            obs(
                "O2",
                r#"<quantity value="1"><translation value="1"><originalText>a box</originalText></translation></quantity>"#,
            ),
        ]
        .concat();
        let doc = format!("{ROOT}<EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><component>{body}</component></ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>");
        let ex = match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        };
        for id in ["o1", "o2"] {
            assert!(ex.get(id).expect(id).free_text, "{id}");
        }
    }
}
