//! Encounters and consultations, and where every resource sits: the composition each
//! `Encounter` becomes, the consultation `List` trees placing resources in it, encounter
//! references, report results and test-group members (ownership), and the plans a
//! `MedicationStatement` is based on.

use super::bundle::{nesting_error, Reader, Resolved, MAX_NESTING};
use super::json::{all_codings, arr, codings, extension, period, str_at};
use super::labels::security;
use crate::codes::CodeSystem;
use crate::ehr::model::{Codings, Element, Item, ItemHead};
use crate::error::InputError;
use serde_json::Value as Json;
use std::collections::HashSet;

const EXT_ASSOCIATED_ENCOUNTER: &str = "encounter-associatedEncounter";

const SNOMED_CONSULTATION_LIST: &str = "325851000000107";

impl<'a> Reader<'a> {
    /// Ownership (report results, group members), consultation placement, plan statements.
    pub(super) fn structure(&mut self) -> Result<(), InputError> {
        for i in 0..self.res.len() {
            let v = self.json(i);
            let v: &Json = &v;
            match self.res[i].ty {
                "DiagnosticReport" => {
                    for r in arr(Some(v), "result") {
                        let o = match self.resolve(Some(r), i) {
                            Resolved::Found(o) => o,
                            Resolved::Ambiguous(ts) => {
                                self.unresolved.insert(i);
                                self.unresolved.extend(ts);
                                continue;
                            }
                            _ => continue,
                        };
                        if o != i {
                            self.owner.entry(o).or_insert(i);
                            self.placed_in.entry(o).or_default().push(i);
                        }
                    }
                }
                "MedicationStatement" => {
                    for b in arr(Some(v), "basedOn") {
                        if let Some(p) = self.depend(Some(b), i) {
                            self.statement_of_plan.entry(p).or_insert(i);
                        }
                    }
                }
                "List"
                    if codings(v.get("code")).iter().any(|c| {
                        c.system == CodeSystem::Snomed && c.code == SNOMED_CONSULTATION_LIST
                    }) =>
                {
                    let enc = self.resolve(v.get("encounter"), i);
                    let mut seen = HashSet::new();
                    match enc {
                        Resolved::Found(enc) => self.place(i, Some(enc), &mut seen, 0)?,
                        // The consultation it belongs to is unknown: its items cannot be
                        // judged (fail closed).
                        Resolved::Missing | Resolved::Ambiguous(_) => {
                            self.place(i, None, &mut seen, 0)?
                        }
                        Resolved::Absent | Resolved::Contained(_) => {}
                    }
                }
                _ => {}
            }
        }
        // Test groups: `has-member` builds a group only inside a report, as the adaptor maps
        // it (elsewhere EMIS uses it to link entries that stay separate statements).
        // A panel's members, wherever it sits, are placed in it (a confidential panel covers
        // them).
        for i in 0..self.res.len() {
            if self.res[i].ty != "Observation" {
                continue;
            }
            let v = self.json(i);
            for rel in arr(Some(&v), "related") {
                if str_at(rel, "type") != Some("has-member") {
                    continue;
                }
                if let Some(o) = self.depend(rel.get("target"), i) {
                    if o != i {
                        self.placed_in.entry(o).or_default().push(i);
                    }
                }
            }
        }
        let mut work: Vec<usize> = self.owner.keys().copied().collect();
        work.sort_unstable();
        while let Some(g) = work.pop() {
            let v = self.json(g);
            let v: &Json = &v;
            for rel in arr(Some(v), "related") {
                if str_at(rel, "type") != Some("has-member") {
                    continue;
                }
                if let Some(o) = self.lookup(rel.get("target"), g) {
                    if o != g && self.res[o].ty == "Observation" && !self.owner.contains_key(&o) {
                        self.owner.insert(o, g);
                        self.groups.insert(g);
                        work.push(o);
                    }
                }
            }
        }
        // An owner loop (a has-member b has-member a) must not make an item its own
        // ancestor: each resource has one owner, so one colouring walk finds every loop in
        // linear time, and the edge closing it is cut.
        let mut state = vec![0u8; self.res.len()]; // 0 new, 1 on the current walk, 2 done
        let mut keys: Vec<usize> = self.owner.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            let mut path = Vec::new();
            let mut cur = k;
            loop {
                match state[cur] {
                    2 => break,
                    1 => {
                        // `cur` closes a loop: cut its owner edge.
                        self.owner.remove(&cur);
                        break;
                    }
                    _ => {}
                }
                state[cur] = 1;
                path.push(cur);
                match self.owner.get(&cur) {
                    Some(&o) => cur = o,
                    None => break,
                }
            }
            for p in path {
                state[p] = 2;
            }
        }
        // Fall back to the resource's own encounter reference.
        // Every resource's own encounter references count too (not only the first: each
        // placement counts), whether or not a consultation list placed it.
        for i in 0..self.res.len() {
            let v = self.json(i);
            let v: &Json = &v;
            if matches!(self.res[i].ty, "Encounter" | "List") {
                continue;
            }
            let refs = [
                v.get("context"),
                v.get("encounter"),
                v.get("context").and_then(|c| c.get("encounter")),
                extension(v, EXT_ASSOCIATED_ENCOUNTER).and_then(|e| e.get("valueReference")),
            ];
            for r in refs.into_iter().flatten() {
                if r.get("encounter").is_some() && r.get("reference").is_none() {
                    continue; // `context` holding `encounter` (read on its own)
                }
                let Some(e) = self.depend(Some(r), i) else {
                    continue;
                };
                if self.res[e].ty == "Encounter" {
                    self.encounter_of.entry(i).or_insert(e);
                    self.placed_in.entry(i).or_default().push(e);
                }
            }
        }
        Ok(())
    }

    /// Place a consultation list's items (through its sub-lists) in its encounter; with no
    /// resolvable encounter, its items cannot be judged and are withheld.
    pub(super) fn place(
        &mut self,
        list: usize,
        enc: Option<usize>,
        seen: &mut HashSet<usize>,
        depth: usize,
    ) -> Result<(), InputError> {
        if depth > MAX_NESTING {
            return Err(nesting_error());
        }
        if !seen.insert(list) {
            return Ok(());
        }
        let v = self.json(list);
        let v: &Json = &v;
        // A consultation's lists are part of it: their codings are the composition's.
        match enc {
            Some(enc) => self
                .list_codings
                .entry(enc)
                .or_default()
                .extend(all_codings(v)),
            None => self.ex.record_codings.extend(all_codings(v)),
        }
        for e in arr(Some(v), "entry") {
            let Some(t) = self.lookup(e.get("item"), list) else {
                continue;
            };
            if self.res[t].ty == "List" {
                self.place(t, enc, seen, depth + 1)?;
            } else if let Some(enc) = enc {
                self.encounter_of.entry(t).or_insert(enc);
                self.placed_in.entry(t).or_default().push(enc);
            } else {
                self.unresolved.insert(t);
            }
        }
        Ok(())
    }

    pub(super) fn encounter(&mut self, i: usize) {
        let v = self.json(i);
        let v: &Json = &v;
        let mut codes = Codings::new();
        for t in arr(Some(v), "type") {
            codes.extend(codings(Some(t)));
        }
        let effective = period(v.get("period"));
        let mut carried = all_codings(v);
        carried.extend(self.list_codings.remove(&i).unwrap_or_default());
        self.current = Some(i);
        let idx = self.push(Item::of(ItemHead {
            id: self.id(i).into(),
            carried: carried.into(),
            class_code: Some("COMPOSITION".into()),
            status_code: Some("COMPLETE".into()),
            codes,
            availability: effective.low,
            effective,
            confidentiality: security(v).into(),
            ..ItemHead::new(Element::EhrComposition)
        }));
        self.current = None;
        self.composition.insert(i, idx);
        self.mark_emitted(i);
    }
}
