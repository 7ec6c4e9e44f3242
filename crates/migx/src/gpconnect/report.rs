//! `DiagnosticReport` (and its `Specimen`s): CLUSTER 16488004 holding one CLUSTER
//! 123038009 per specimen holding its results.

use super::bundle::Reader;
use super::json::{all_codings, arr, date, has_text, period, snomed};
use super::labels::security;
use crate::ehr::model::{Effective, Element, Item, ItemHead};
use crate::error::InputError;
use serde_json::Value as Json;

impl<'a> Reader<'a> {
    pub(super) fn report(
        &mut self,
        i: usize,
        parent: Option<usize>,
        depth: usize,
    ) -> Result<(), InputError> {
        let v = self.json(i);
        let v: &Json = &v;
        let mut item = self.base(i, Element::CompoundStatement, parent);
        item.class_code = Some("CLUSTER".into());
        item.status_code = Some("COMPLETE".into());
        item.codes = smallvec::smallvec![snomed("16488004")];
        item.effective = match v.get("effectivePeriod") {
            Some(p) => period(Some(p)),
            None => Effective {
                center: date(v.get("effectiveDateTime")),
                ..Effective::default()
            },
        };
        item.availability = date(v.get("issued"));
        item.authored = item.availability;
        item.free_text |= has_text(v.get("conclusion")) || v.get("presentedForm").is_some();
        let availability = item.availability;
        let report = self.push(item);
        let mut specimens: Vec<(usize, usize)> = Vec::new();
        for s in arr(Some(v), "specimen") {
            let Some(si) = self.lookup(Some(s), i) else {
                continue;
            };
            if self.res[si].ty != "Specimen" || specimens.iter().any(|&(r, _)| r == si) {
                continue;
            }
            let sv = self.json(si);
            let sv: &Json = &sv;
            let collected = sv.get("collection");
            let it = Item::of(ItemHead {
                id: self.id(si).into(),
                class_code: Some("CLUSTER".into()),
                status_code: Some("COMPLETE".into()),
                parent: Some(report),
                codes: smallvec::smallvec![snomed("123038009")],
                effective: Effective {
                    center: date(collected.and_then(|c| c.get("collectedDateTime"))),
                    ..Effective::default()
                },
                availability,
                confidentiality: security(sv).into(),
                carried: all_codings(sv).into(),
                free_text: has_text(sv.get("note")),
                ..ItemHead::new(Element::CompoundStatement)
            });
            specimens.push((si, self.push(it)));
            self.mark_emitted(si);
        }
        let results: Vec<usize> = arr(Some(v), "result")
            .filter_map(|r| self.lookup(Some(r), i))
            .filter(|&t| self.owner.get(&t) == Some(&i))
            .collect();
        for r in results {
            let spec = self.lookup(self.json(r).get("specimen"), r);
            let target = specimens
                .iter()
                .find(|&&(s, _)| Some(s) == spec)
                .or(specimens.first())
                .map_or(report, |&(_, item)| item);
            self.emit(r, Some(target), depth + 1)?;
        }
        Ok(())
    }
}
