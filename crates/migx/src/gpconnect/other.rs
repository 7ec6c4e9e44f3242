//! Every other resource type: `ProcedureRequest`, `ReferralRequest`, `DocumentReference`,
//! `Consent` and anything else with clinical content, read as the plain statement it is.

use super::bundle::Reader;
use super::consent::{consent_reading, ConsentReading};
use super::json::{arr, codings, date};
use crate::ehr::model::{Codings, Element};
use serde_json::Value as Json;

impl<'a> Reader<'a> {
    pub(super) fn simple(&mut self, i: usize, parent: Option<usize>, element: Element) {
        let v = self.json(i);
        let v: &Json = &v;
        let mut item = self.base(i, element, parent);
        item.status_code = Some("COMPLETE".into());
        item.codes = match self.res[i].ty {
            "ReferralRequest" => {
                let mut cs = Codings::new();
                for r in arr(Some(v), "reasonCode") {
                    cs.extend(codings(Some(r)));
                }
                cs.extend(codings(v.get("type")));
                cs
            }
            "DocumentReference" => codings(v.get("type")).into(),
            // A Consent's own code is its category, and only a clear permission has one: a
            // permit code elsewhere grants nothing (`Screen::item_consent`).
            "Consent" if consent_reading(v) == ConsentReading::Permits => {
                let mut cs = Codings::new();
                for c in arr(Some(v), "category") {
                    cs.extend(codings(Some(c)));
                }
                cs
            }
            "Consent" => Codings::new(),
            _ => codings(v.get("code")).into(),
        };
        item.free_text |= self.res[i].ty == "DocumentReference";
        item.effective.center = date(
            v.get("occurrenceDateTime")
                .or_else(|| v.get("effectiveDateTime"))
                .or_else(|| v.get("created"))
                .or_else(|| v.get("dateTime")),
        );
        item.availability = date(
            v.get("authoredOn")
                .or_else(|| v.get("indexed"))
                .or_else(|| v.get("issued"))
                .or_else(|| v.get("authored")),
        );
        self.push(item);
    }
}
