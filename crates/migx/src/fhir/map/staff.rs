//! The staff a shared item names: Practitioner, PractitionerRole and their Organization,
//! only those a shared resource refers to, each written once, and only what the policy's
//! `clinical_detail.staff` lets through.

use super::{urn, Mapper};
use crate::ehr::model::{Agent, StaffKind};
use crate::fhir::ids::derived_uuid;
use crate::fhir::r4::{
    HumanName, Identifier, Meta, Organization, Practitioner, PractitionerRole, Reference, Resource,
};
use crate::fhir::{GMP_NUMBER_SYSTEM, ODS_SYSTEM, SDS_ROLE_PROFILE_SYSTEM, SDS_USER_SYSTEM};
use crate::policy::detail::StaffPolicy;
use hashbrown::HashMap;

/// Who stated an item, in order of preference: the asserter the source names, else (GP2GP)
/// the primary performer, else the performer (as the NHS GP2GP translator reads them).
pub(super) const ASSERTED: &[StaffKind] = &[
    StaffKind::Asserter,
    StaffKind::PrimaryPerformer,
    StaffKind::Performer,
];
/// Who did it: the primary performer (`PPRF`), else the performer (`PRF`, Participant2).
pub(super) const PERFORMED: &[StaffKind] = &[StaffKind::PrimaryPerformer, StaffKind::Performer];
/// Who prescribed or asked for it: the requester, else the performer.
pub(super) const REQUESTED: &[StaffKind] = &[
    StaffKind::Requester,
    StaffKind::PrimaryPerformer,
    StaffKind::Performer,
];

/// The Practitioner, PractitionerRole and Organization resources a bundle writes for its
/// staff: only those a shared resource refers to, each once.
#[derive(Default)]
pub(super) struct Staff {
    /// In order of first reference (deterministic: items are mapped in document order).
    pub(super) resources: Vec<Resource>,
    /// Resource ids already written, by what identifies them.
    written: HashMap<String, String>,
    /// Agent key (and whether an Organization may stand for it) -> the reference written
    /// for it (`None`: nothing the policy lets through).
    refs: HashMap<(String, bool), Option<String>>,
}

/// What identifies an agent's organisation (its ODS code, else its name).
fn staff_org_key(agent: &Agent) -> Option<String> {
    let org = agent.org.as_ref()?;
    match (&org.ods, &org.name) {
        (Some(ods), _) => Some(format!("ods:{}", ods.to_ascii_uppercase())),
        (None, Some(name)) => Some(format!("name:{name}")),
        (None, None) => None,
    }
}

impl Mapper<'_> {
    /// The reference for whoever took part in item `i` in one of `kinds` (in that order of
    /// preference), looked for on `i`, then `more` (the statement naming a problem, an
    /// allergy's observation, a medication's statement), then the containers of `i` (a
    /// composition's author and Participant2, as the NHS translator falls back to them).
    /// `allow_org`: the field may refer to an Organization. `None` when the policy writes no
    /// staff, nobody is named, the agent does not resolve, or nothing about it may be shared.
    pub(super) fn staff_ref(
        &self,
        i: usize,
        more: &[usize],
        kinds: &[StaffKind],
        allow_org: bool,
    ) -> Option<Reference> {
        if self.policy.detail().staff == StaffPolicy::None {
            return None;
        }
        let key = std::iter::once(i)
            .chain(more.iter().copied())
            .chain(self.ex.ancestors(i))
            .find_map(|c| {
                let staff = &self.item(c).staff;
                kinds
                    .iter()
                    .find_map(|k| staff.iter().find(|s| s.kind == *k))
            })?
            .agent
            .to_string();
        let cached = self
            .staff
            .borrow()
            .refs
            .get(&(key.clone(), allow_org))
            .cloned();
        let r = match cached {
            Some(r) => r,
            None => {
                let r = self
                    .ex
                    .agents
                    .get(&key)
                    .and_then(|a| self.write_staff(&key, a, allow_org));
                self.staff
                    .borrow_mut()
                    .refs
                    .insert((key, allow_org), r.clone());
                r
            }
        };
        r.map(Reference::to)
    }

    /// Write (once) what the policy lets through about one agent and return the reference
    /// a resource should carry.
    fn write_staff(&self, key: &str, agent: &Agent, allow_org: bool) -> Option<String> {
        let share = self.policy.detail().staff == StaffPolicy::Share;
        let org = self.staff_org(agent);
        if !agent.person {
            return org.filter(|_| allow_org);
        }
        let practitioner = if share {
            self.practitioner(key, agent)
        } else {
            None
        };
        let role_codes = self.concept(&agent.role);
        let has_role = !role_codes.codings().is_empty();
        let role_profile = agent.role_profile_id.as_deref().filter(|_| share);
        if org.is_none() && !has_role && role_profile.is_none() {
            // No role to write: the person alone (shared), else nobody.
            return practitioner;
        }
        let role_key = format!("role:{key}");
        if let Some(id) = self.staff.borrow().written.get(&role_key) {
            return Some(urn(id));
        }
        let id = derived_uuid(&["practitioner-role", &self.key, key]);
        let role = PractitionerRole {
            id: id.clone(),
            meta: Meta::ukcore("PractitionerRole"),
            identifier: role_profile
                .map(|p| Identifier::new(SDS_ROLE_PROFILE_SYSTEM, p))
                .into_iter()
                .collect(),
            practitioner: practitioner.map(Reference::to),
            organization: org.map(Reference::to),
            code: if has_role {
                vec![role_codes]
            } else {
                Vec::new()
            },
        };
        let mut st = self.staff.borrow_mut();
        st.written.insert(role_key, id.clone());
        st.resources
            .push(Resource::PractitionerRole(Box::new(role)));
        Some(urn(&id))
    }

    /// The Practitioner for a person, written once per person (the SDS user id, else the
    /// agent, identifies them); `None` when the source gives neither name nor identifier.
    fn practitioner(&self, key: &str, agent: &Agent) -> Option<String> {
        let mut identifier = Vec::new();
        if let Some(sds) = &agent.sds_user_id {
            identifier.push(Identifier::new(SDS_USER_SYSTEM, sds.as_str()));
        }
        if let Some(gmp) = &agent.gmp_number {
            identifier.push(Identifier::new(GMP_NUMBER_SYSTEM, gmp.as_str()));
        }
        let name = agent.name.as_ref().filter(|n| !n.is_empty());
        if identifier.is_empty() && name.is_none() {
            return None;
        }
        let person = match &agent.sds_user_id {
            Some(sds) => format!("sds:{sds}"),
            None => format!("agent:{key}"),
        };
        if let Some(id) = self.staff.borrow().written.get(&person) {
            return Some(urn(id));
        }
        let id = derived_uuid(&["practitioner", &self.key, &person]);
        let name = name
            .map(|n| HumanName {
                family: n.family.clone(),
                given: n.given.clone(),
                prefix: n.prefix.clone(),
            })
            .into_iter()
            .collect();
        let mut st = self.staff.borrow_mut();
        st.written.insert(person, id.clone());
        st.resources
            .push(Resource::Practitioner(Box::new(Practitioner {
                id: id.clone(),
                meta: Meta::ukcore("Practitioner"),
                identifier,
                name,
            })));
        Some(urn(&id))
    }

    /// The Organization an agent works for (or is): the practice's own when the ODS code
    /// is the practice's, else one written once per ODS code (else per name).
    fn staff_org(&self, agent: &Agent) -> Option<String> {
        let org = agent.org.as_ref()?;
        let dedup = staff_org_key(agent)?;
        if org.ods.is_some()
            && org.ods.as_deref().map(str::to_ascii_uppercase)
                == self.ex.practice_ods.as_deref().map(str::to_ascii_uppercase)
        {
            return Some(self.practice_ref.clone());
        }
        if let Some(id) = self.staff.borrow().written.get(&dedup) {
            return Some(urn(id));
        }
        let id = derived_uuid(&["staff-organization", &self.key, &dedup]);
        let mut st = self.staff.borrow_mut();
        st.written.insert(dedup, id.clone());
        st.resources
            .push(Resource::Organization(Box::new(Organization {
                id: id.clone(),
                meta: Meta::ukcore("Organization"),
                identifier: org
                    .ods
                    .as_ref()
                    .map(|ods| Identifier::new(ODS_SYSTEM, ods.as_str()))
                    .into_iter()
                    .collect(),
                name: org.name.clone(),
            })));
        Some(urn(&id))
    }
}

#[cfg(test)]
mod tests {
    use crate::ehr::model::{Agent, AgentOrg, Element, StaffKind, StaffName, StaffRef};
    use crate::fhir::map::testing::*;

    /// Two procedures by one clinician of another practice: one Practitioner, one
    /// PractitionerRole and one Organization, written once and after the resources, each
    /// procedure referring to the role.
    #[test]
    fn staff_are_written_once_and_only_when_referred_to() {
        let p = policy();
        let by = |id: &str| {
            let mut x = item(id, Element::ObservationStatement, vec![sct("80146002")]);
            x.staff = smallvec::smallvec![StaffRef {
                kind: StaffKind::Performer,
                agent: "ag1".into(),
            }];
            x
        };
        let (mut ex, _) = decided(vec![by("x1"), by("x2")], &p);
        ex.agents.insert(
            "ag1".into(),
            Agent {
                person: true,
                name: Some(StaffName {
                    family: Some("Doe".into()),
                    ..StaffName::default()
                }),
                sds_user_id: Some("123456789012".into()),
                org: Some(AgentOrg {
                    ods: Some("B86001".into()),
                    name: None,
                }),
                ..Agent::default()
            },
        );
        ex.agents.insert("unused".into(), Agent::default());
        let d = crate::policy::decide::decide(&ex, &p, as_of());
        let m = crate::fhir::map::Mapper::new(&ex, &d, &p, "m", "patient", "practice");
        let a = json(&m.procedure(0));
        let b = json(&m.procedure(1));
        let role = a["performer"][0]["actor"]["reference"].clone();
        assert_eq!(b["performer"][0]["actor"]["reference"], role);
        let staff: Vec<serde_json::Value> = m.staff.take().resources.iter().map(json).collect();
        let types: Vec<&str> = staff
            .iter()
            .map(|r| r["resourceType"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["Organization", "Practitioner", "PractitionerRole"]);
        assert_eq!(
            format!("urn:uuid:{}", staff[2]["id"].as_str().unwrap()),
            role
        );
        assert_eq!(staff[1]["name"][0]["family"], "Doe");
        assert_eq!(staff[0]["identifier"][0]["value"], "B86001");
    }
}
