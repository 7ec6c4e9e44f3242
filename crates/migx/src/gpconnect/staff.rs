//! Staff: the Practitioners, PractitionerRoles and Organizations each item's resource
//! names, read once into `Extract::agents`.

use super::bundle::Reader;
use super::json::{arr, codings, identifier, str_at};
use super::{SYSTEM_GMP_NUMBER, SYSTEM_ODS, SYSTEM_SDS_ROLE_PROFILE, SYSTEM_SDS_USER};
use crate::ehr::model::{
    gmp_number, sds_id, staff_text, Agent, AgentOrg, StaffKind, StaffName, StaffRef,
};
use serde_json::Value as Json;
use std::collections::HashMap;

impl<'a> Reader<'a> {
    /// Who took part in each item: the `Practitioner`, `PractitionerRole` or `Organization`
    /// a resource's `asserter`, `recorder`, `requester.agent`, `performer` (or
    /// `performer.actor`, `practitioner.actor`) and, for a medication, its
    /// `MedicationStatement`'s `informationSource` refer to. A reference that does not
    /// resolve to exactly one such resource names nobody (never guessed).
    pub(super) fn staff(&mut self) {
        // Practitioner -> the PractitionerRoles naming it, in one pass.
        let mut roles: HashMap<usize, Vec<usize>> = HashMap::new();
        for q in 0..self.res.len() {
            if self.res[q].ty == "PractitionerRole" {
                if let Some(p) = self.lookup(self.json(q).get("practitioner"), q) {
                    roles.entry(p).or_default().push(q);
                }
            }
        }
        for r in 0..self.res.len() {
            let items = self.items_of(r);
            if items.is_empty() {
                continue;
            }
            let v = self.json(r);
            let v: &Json = &v;
            let statement = self.statement_of_plan.get(&r).map(|&ms| self.json(ms));
            let mut refs: Vec<(StaffKind, &Json)> = Vec::new();
            let mut one = |kind, x: Option<_>| {
                if let Some(x) = x {
                    refs.push((kind, x));
                }
            };
            one(StaffKind::Asserter, v.get("asserter"));
            one(StaffKind::Recorder, v.get("recorder"));
            one(
                StaffKind::Requester,
                v.get("requester").and_then(|q| q.get("agent")),
            );
            for p in arr(Some(v), "performer") {
                one(StaffKind::Performer, Some(p.get("actor").unwrap_or(p)));
            }
            for p in arr(Some(v), "practitioner") {
                one(StaffKind::Performer, p.get("actor"));
            }
            if let Some(ms) = &statement {
                one(StaffKind::InformationSource, ms.get("informationSource"));
            }
            let mut staff = Vec::new();
            for (kind, x) in refs {
                if let Some(agent) = self.agent(x, r, &roles) {
                    staff.push(StaffRef {
                        kind,
                        agent: agent.into(),
                    });
                }
            }
            if staff.is_empty() {
                continue;
            }
            for i in items {
                self.ex.items[i].staff.extend(staff.iter().cloned());
            }
        }
    }

    /// The agent a reference names (read into `ex.agents` once), keyed by the resource's
    /// item id; `None` unless it resolves to exactly one Practitioner, PractitionerRole or
    /// Organization.
    fn agent(
        &mut self,
        x: &Json,
        from: usize,
        roles: &HashMap<usize, Vec<usize>>,
    ) -> Option<String> {
        let t = self.lookup(Some(x), from)?;
        let ty = self.res[t].ty;
        if !matches!(ty, "Practitioner" | "PractitionerRole" | "Organization") {
            return None;
        }
        let key = format!("{}:{}", ty.to_ascii_lowercase(), self.id(t));
        if self.ex.agents.contains_key(&key) {
            return Some(key);
        }
        let mut agent = Agent::default();
        match ty {
            "Organization" => agent.org = Some(self.organization(t)),
            "PractitionerRole" => {
                self.role_into(t, &mut agent);
                if let Some(p) = self.lookup(self.json(t).get("practitioner"), t) {
                    if self.res[p].ty == "Practitioner" {
                        self.practitioner_into(p, &mut agent);
                    }
                }
            }
            _ => {
                self.practitioner_into(t, &mut agent);
                // Its role: the one PractitionerRole naming it (several: none is picked).
                if let Some(&[q]) = roles.get(&t).map(Vec::as_slice) {
                    self.role_into(q, &mut agent);
                }
            }
        }
        self.ex.agents.insert(key.clone(), agent);
        Some(key)
    }

    fn practitioner_into(&self, p: usize, agent: &mut Agent) {
        let v = self.json(p);
        let v: &Json = &v;
        agent.person = true;
        let names: Vec<&Json> = arr(Some(v), "name").collect();
        let name = names
            .iter()
            .find(|n| str_at(n, "use") == Some("official"))
            .or(names.first());
        if let Some(n) = name {
            let parts = |k: &str| -> Vec<String> {
                arr(Some(*n), k)
                    .filter_map(Json::as_str)
                    .filter_map(staff_text)
                    .collect()
            };
            let sn = StaffName {
                prefix: parts("prefix"),
                given: parts("given"),
                family: str_at(n, "family").and_then(staff_text),
            };
            if !sn.is_empty() {
                agent.name = Some(sn);
            }
        }
        agent.sds_user_id = identifier(v, SYSTEM_SDS_USER).and_then(sds_id);
        agent.gmp_number = identifier(v, SYSTEM_GMP_NUMBER).and_then(gmp_number);
    }

    fn role_into(&self, q: usize, agent: &mut Agent) {
        let v = self.json(q);
        let v: &Json = &v;
        for c in arr(Some(v), "code") {
            agent.role.extend(codings(Some(c)));
        }
        agent.role_profile_id = identifier(v, SYSTEM_SDS_ROLE_PROFILE).and_then(sds_id);
        if let Some(o) = self.lookup(v.get("organization"), q) {
            if self.res[o].ty == "Organization" {
                agent.org = Some(self.organization(o));
            }
        }
    }

    pub(super) fn organization(&self, o: usize) -> AgentOrg {
        let v = self.json(o);
        let v: &Json = &v;
        AgentOrg {
            ods: identifier(v, SYSTEM_ODS)
                .map(str::trim)
                .filter(|s| crate::nhs::is_ods_code(s))
                .map(str::to_string),
            name: str_at(v, "name").and_then(staff_text),
        }
    }
}
