//! What every statement has (ids, codes and translations, status, dates, confidentiality
//! codes at any depth, free text), the dispatch of a statement's fields to each construct's
//! reader, and the texts the model keeps.

use super::attrs::{coding, normalise_ref, own, set_date, source_id, systemless, Attrs};
use super::tags::Tag;
use super::{Slot, State};
use crate::codes::CompactString;
use crate::ehr::model::{push_lean, DateField, ItemKind, Value};

impl State {
    /// Fields of the innermost open statement, matched by path relative to it: each
    /// construct's reader in turn (in the order their paths must be tried: a kept text
    /// before the free text of the same path), then free text and every other coding.
    pub(super) fn item_field(&mut self, idx: usize, idepth: usize, tag: Tag, a: &Attrs) {
        let depth = self.path.len() - 1;
        // The path is lent to the readers while they write the statement.
        let path = std::mem::take(&mut self.path);
        let rel = path.get(idepth + 1..).unwrap_or_default();
        let done = self.statement_field(idx, rel, depth, a)
            || self.participation_field(idx, rel, a)
            || self.value_field(idx, rel, depth, tag, a)
            || self.medication_field(idx, rel, depth, a)
            || self.link_field(idx, rel, a);
        if !done {
            let item = &mut self.ex.items[idx];
            match rel {
                // Free text: only whether it is there, never what it says.
                [.., Tag::Text] | [Tag::Code, Tag::OriginalText] | [.., Tag::OriginalText] => {
                    self.text_target = Some(idx);
                }
                // Every other coding inside the statement, wherever it sits (qualifier values,
                // method, target site, reason, range interpretation, ...): screened, never emitted.
                _ => item.carried.extend(coding(a).or_else(|| systemless(a))),
            }
        }
        self.path = path;
    }

    /// What every statement has: ids, codes, status, dates, confidentiality codes at any depth, and the kept text of a transfer-degraded allergy code.
    pub(super) fn statement_field(
        &mut self,
        idx: usize,
        rel: &[Tag],
        depth: usize,
        a: &Attrs,
    ) -> bool {
        let item = &mut self.ex.items[idx];
        match rel {
            [Tag::Id] => {
                if let Some(root) = &a.root {
                    if item.id.is_empty() {
                        item.id = source_id(root, a);
                    } else {
                        item.alt_ids.push(normalise_ref(root, a));
                    }
                }
            }
            [Tag::Code] => match coding(a) {
                Some(c) => item.codes.push(c),
                None => {
                    item.code_uncoded = true;
                    item.carried.extend(systemless(a));
                }
            },
            [Tag::Code, Tag::Translation] => match coding(a) {
                Some(c) => item.codes.push(c),
                None => item.carried.extend(systemless(a)),
            },
            // A problem's qualifiers; on any other construct, carried codings.
            [Tag::Code, Tag::Qualifier, Tag::Name] => match (coding(a), item.link_set_mut()) {
                (Some(c), Some(link)) => push_lean(&mut link.qualifiers, c),
                (Some(c), None) => item.carried.push(c),
                (None, _) => item.carried.extend(systemless(a)),
            },
            [Tag::StatusCode] => {
                item.status_code = a.code.as_deref().map(crate::ehr::model::hl7_code);
                item.entered_in_error |= a
                    .code
                    .as_deref()
                    .is_some_and(|c| c.trim().eq_ignore_ascii_case("nullified"));
            }
            [Tag::EffectiveTime] => {
                if let Some(v) = &a.value {
                    item.effective.center = DateField::from_hl7(v);
                }
            }
            [Tag::EffectiveTime, Tag::Low] => set_date(&mut item.effective.low, a),
            [Tag::EffectiveTime, Tag::High] => set_date(&mut item.effective.high, a),
            [Tag::EffectiveTime, Tag::Center] => set_date(&mut item.effective.center, a),
            [Tag::AvailabilityTime] => set_date(&mut item.availability, a),
            [Tag::Author, Tag::Time] => set_date(&mut item.authored, a),
            // At any depth inside the statement (not only as its direct child): a code the
            // reader does not place is still a restriction on the statement.
            [.., Tag::ConfidentialityCode] => {
                // An unreadable confidentiality code is still a restriction: keep a marker.
                item.confidentiality
                    .push(own(&a.code).unwrap_or_else(|| "UNKNOWN".to_string()));
            }
            // The allergen of a transfer-degraded allergy code is named only in its text.
            [Tag::Code, Tag::OriginalText]
                if item
                    .codes
                    .iter()
                    .any(crate::codes::degraded::is_degraded_allergy) =>
            {
                self.capture = Some((idx, Slot::CodeText, depth));
            }
            _ => return false,
        }
        true
    }

    /// A text the model keeps (dose instruction, unit text, degraded code text) ends with its
    /// element: kept, or (too long, an undefined entity) flagged as free text.
    pub(super) fn close_kept_text(&mut self, depth: usize) {
        if let Some((idx, slot, d)) = self.capture {
            if d == depth {
                self.capture = None;
                // Copied out exactly as long as it is; the buffer keeps its room for the next.
                let text = self.captured.trim();
                let item = &mut self.ex.items[idx];
                if self.capture_overflow {
                    item.free_text = true;
                } else if !text.is_empty() {
                    match (slot, &mut item.kind) {
                        (Slot::Dosage, ItemKind::Medication(m)) => {
                            m.dosage_text = Some(text.to_string())
                        }
                        (Slot::CodeText, ItemKind::Observation(o)) => {
                            o.code_text = Some(text.to_string())
                        }
                        (Slot::QuantityUnit, ItemKind::Supply(s)) if s.quantity_unit.is_none() => {
                            s.quantity_unit = Some(CompactString::from(text))
                        }
                        (Slot::ValueUnit, ItemKind::Observation(o)) => match o.value.as_deref_mut()
                        {
                            Some(Value::Quantity { unit, .. })
                            | Some(Value::Range { unit, .. })
                                if unit.is_none() =>
                            {
                                *unit = Some(CompactString::from(text))
                            }
                            _ => {}
                        },
                        // A degraded code's text on a construct that keeps none: free text.
                        (Slot::CodeText, _) => item.free_text = true,
                        _ => {}
                    }
                }
                self.capture_overflow = false;
                self.captured.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ehr::reader::testing::*;

    #[test]
    fn a_nullified_statement_is_marked_entered_in_error() {
        let st = |id: &str, status: &str| {
            format!(
                r#"<component><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/><code code="H33..00" codeSystem="2.16.840.1.113883.2.1.6.2"/><statusCode code="{status}"/></ObservationStatement></component>"#
            )
        };
        let doc = format!(
            "{ROOT}<ControlActEvent><subject><EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><statusCode code=\"COMPLETE\"/>{}{}{}</ehrComposition></component></ehrFolder></component></EhrExtract></subject></ControlActEvent></RCMR_IN030000UK06>",
            st("A", "nullified"),
            st("B", "COMPLETE"),
            st("D", " NULLIFIED ")
        );
        let ex = read(&doc).expect("reads");
        let eie = |id: &str| ex.get(id).map(|i| i.entered_in_error);
        assert_eq!(eie("a"), Some(true));
        assert_eq!(eie("b"), Some(false));
        assert_eq!(eie("d"), Some(true));
        assert_eq!(eie("c"), Some(false));
    }

    #[test]
    fn only_a_transfer_degraded_allergy_code_keeps_its_text() {
        let sct = "2.16.840.1.113883.2.1.3.2.4.15";
        let obs = |id: &str, code: &str, text: &str| {
            format!(
                r#"<ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/><code code="{code}" codeSystem="{sct}"><originalText>{text}</originalText></code></ObservationStatement>"#
            )
        };
        let body = [
            obs("D1", "196461000000101", "Penicillin V 250mg tablets"),
            obs("D2", "196471000000108", "Peanuts"),
            // Another degraded code, an ordinary code, and an over-long text: free text only.
            obs("D3", "196411000000103", "Seen in clinic"),
            obs("D4", "91936005", "Allergy to penicillin, said so"),
            obs("D5", "196461000000101", &"x".repeat(MAX_KEPT_TEXT + 1)),
        ]
        .concat();
        let doc = format!("{ROOT}<EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><component>{body}</component></ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>");
        let ex = match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        };
        let kept = |id: &str| {
            let i = ex.get(id).expect(id);
            let text = i.observation().and_then(|o| o.code_text.as_deref());
            (text, i.free_text)
        };
        assert_eq!(kept("d1"), (Some("Penicillin V 250mg tablets"), false));
        assert_eq!(kept("d2"), (Some("Peanuts"), false));
        assert_eq!(kept("d3"), (None, true));
        assert_eq!(kept("d4"), (None, true));
        assert_eq!(kept("d5"), (None, true));
    }

    #[test]
    fn a_statement_reads_its_code_translations_qualifiers_and_dates() {
        let sct = "2.16.840.1.113883.2.1.3.2.4.15";
        let code = format!(
            r#"<code code="1000" codeSystem="{sct}"><translation code="X1" codeSystem="2.16.840.1.113883.2.1.6.2"/><translation code="LOCAL7"/><qualifier><name code="386134007" codeSystem="{sct}"/></qualifier></code>"#
        );
        let dates = r#"<effectiveTime><low value="20200101"/><high value="20200301"/><center value="20200201"/></effectiveTime><availabilityTime value="20200102"/><author typeCode="AUT"><time value="20200103"/></author>"#;
        let body = format!(
            r#"<LinkSet classCode="OBS" moodCode="EVN"><id root="P1"/>{code}</LinkSet><ObservationStatement classCode="OBS" moodCode="EVN"><id root="O1"/>{code}{dates}</ObservationStatement><ObservationStatement classCode="OBS" moodCode="EVN"><id root="O2"/><code code="1001" codeSystem="{sct}"/><effectiveTime value="20210505"/></ObservationStatement>"#
        );
        let doc = format!("{ROOT}<EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><component>{body}</component></ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>");
        let ex = match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        };
        let codes = |cs: &[crate::codes::Coding]| -> Vec<String> {
            cs.iter().map(|c| c.code.to_string()).collect()
        };
        // The code and every coded translation are the statement's codes (screened and
        // emitted); a translation without a system is carried (screened only).
        let o1 = ex.get("o1").expect("o1");
        assert_eq!(codes(&o1.codes), ["1000", "X1"]);
        assert_eq!(
            codes(&o1.carried),
            ["LOCAL7", "386134007"],
            "the qualifier is carried"
        );
        let p1 = ex.get("p1").expect("p1");
        assert_eq!(codes(&p1.carried), ["LOCAL7"], "nothing read twice");
        assert_eq!(
            p1.link_set().map(|l| codes(&l.qualifiers)),
            Some(vec!["386134007".to_string()]),
            "a problem's qualifier is its own"
        );
        let d = |v: &str| DateField::from_hl7(v);
        assert_eq!(o1.effective.low, d("20200101"));
        assert_eq!(o1.effective.high, d("20200301"));
        assert_eq!(o1.effective.center, d("20200201"));
        assert_eq!(o1.availability, d("20200102"));
        assert_eq!(o1.authored, d("20200103"));
        let o2 = ex.get("o2").expect("o2");
        assert_eq!(o2.effective.center, d("20210505"));
        assert!(
            o2.carried.is_empty(),
            "a statement's own code is not carried too"
        );
    }

    #[test]
    fn a_confidentiality_code_at_any_depth_restricts_the_statement() {
        // NOPAT directly on the statement, deep inside it (a participation, a value), and a
        // confidentialityCode with no readable code: each is kept; the last as a marker that
        // fails closed.
        let st = |id: &str, inner: &str| {
            format!(
                r#"<ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/><code code="1000" codeSystem="2.16.840.1.113883.2.1.3.2.4.15"/>{inner}</ObservationStatement>"#
            )
        };
        let nopat =
            r#"<confidentialityCode code="NOPAT" codeSystem="2.16.840.1.113883.4.642.3.47"/>"#;
        let body = [
            st("A", nopat),
            st("B", &format!("<pertinentInformation><pertinentAnnotation>{nopat}</pertinentAnnotation></pertinentInformation>")),
            st("D", r#"<confidentialityCode nullFlavor="UNK"/>"#),
            st("E", ""),
        ]
        .concat();
        let doc = format!("{ROOT}<EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><component>{body}</component></ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>");
        let ex = match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        };
        let conf = |id: &str| ex.get(id).expect(id).confidentiality.clone();
        assert_eq!(conf("a"), ["NOPAT"]);
        assert_eq!(conf("b"), ["NOPAT"]);
        assert_eq!(conf("d"), ["UNKNOWN"]);
        assert!(conf("e").is_empty());
    }
}
