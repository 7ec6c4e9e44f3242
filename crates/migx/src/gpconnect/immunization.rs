//! `Immunization`: an `ObservationStatement` coded by the vaccination procedure (else the
//! vaccine code), never claimed done unless the source says it was given.

use super::bundle::Reader;
use super::json::{codings, date, extension};
use crate::ehr::model::Element;
use serde_json::Value as Json;

const EXT_DATE_RECORDED: &str = "Extension-CareConnect-DateRecorded-1";

const EXT_VACCINATION_PROCEDURE: &str = "Extension-CareConnect-VaccinationProcedure-1";

impl<'a> Reader<'a> {
    pub(super) fn immunization(&mut self, i: usize, parent: Option<usize>) {
        let v = self.json(i);
        let v: &Json = &v;
        let mut item = self.base(i, Element::ObservationStatement, parent);
        item.class_code = Some("OBS".into());
        item.status_code = Some("COMPLETE".into());
        let procedure =
            extension(v, EXT_VACCINATION_PROCEDURE).map(|e| codings(e.get("valueCodeableConcept")));
        item.codes = procedure.unwrap_or_default().into();
        item.codes.extend(codings(v.get("vaccineCode")));
        item.code_uncoded = item.codes.is_empty();
        item.effective.center = date(v.get("date"));
        // Anything but an explicit `false` (or no value) is read as not given: a
        // vaccination is never claimed done on a guess.
        item.not_done = !matches!(v.get("notGiven"), None | Some(Json::Bool(false)));
        item.availability = match extension(v, EXT_DATE_RECORDED) {
            Some(e) => date(e.get("valueDateTime")),
            None => item.effective.center,
        };
        self.push(item);
    }
}
