//! Agents: the agentDirectory (who each agent is: person, name, ids, role, organisation)
//! and who took part in each statement (author, participants).

use super::attrs::{coding, normalise_id, systemless, Attrs};
use super::tags::Tag;
use super::{
    Slot, State, OID_GMP_NUMBER, OID_ODS, OID_ODS_ORG, OID_SDS_ROLE_PROFILE, OID_SDS_USER,
};
use crate::ehr::model::{gmp_number, sds_id, AgentOrg, SourceId, StaffKind, StaffName, StaffRef};

impl State {
    /// Fields of the agentDirectory `Agent` being read, matched by path relative to it.
    pub(super) fn agent_field(&mut self, a: &Attrs) {
        let Some((_, _, adepth)) = self.agent else {
            return;
        };
        let depth = self.path.len() - 1;
        let rel = &self.path[adepth + 1..];
        let Some((key, agent, _)) = self.agent.as_mut() else {
            return;
        };
        let ext = a.extension.as_deref();
        match rel {
            [Tag::Id] => match a.root.as_deref().map(str::trim) {
                Some(OID_GMP_NUMBER) => agent.gmp_number = ext.and_then(gmp_number),
                Some(OID_SDS_USER) => agent.sds_user_id = ext.and_then(sds_id),
                Some(OID_SDS_ROLE_PROFILE) => agent.role_profile_id = ext.and_then(sds_id),
                Some(root) if key.is_empty() && ext.is_none() => *key = normalise_id(root),
                _ => {}
            },
            [Tag::Code] => {
                if let Some(c) = coding(a) {
                    agent.role.push(c.clone());
                    self.ex.record_codings.push(c);
                } else {
                    self.ex.record_codings.extend(systemless(a));
                }
            }
            [Tag::AgentPerson] => agent.person = true,
            [Tag::AgentPerson, Tag::Name, part @ (Tag::Prefix | Tag::Given | Tag::Family)] => {
                let slot = match part {
                    Tag::Prefix => Slot::StaffPrefix,
                    Tag::Given => Slot::StaffGiven,
                    _ => Slot::StaffFamily,
                };
                self.capture = Some((0, slot, depth));
            }
            [Tag::RepresentedOrganization | Tag::AgentOrganization] => {
                agent.org.get_or_insert_with(AgentOrg::default);
            }
            [Tag::RepresentedOrganization | Tag::AgentOrganization, Tag::Id]
                if matches!(
                    a.root.as_deref().map(str::trim),
                    Some(OID_ODS_ORG | OID_ODS)
                ) =>
            {
                if let (Some(org), Some(ods)) = (agent.org.as_mut(), ext.map(str::trim)) {
                    if crate::nhs::is_ods_code(ods) {
                        org.ods = Some(ods.to_string());
                    }
                }
            }
            [Tag::RepresentedOrganization | Tag::AgentOrganization, Tag::Name] => {
                self.capture = Some((0, Slot::OrgName, depth));
            }
            // Every other coding in the directory: screened for dissent, as before.
            _ => {
                if let Some(c) = coding(a).or_else(|| systemless(a)) {
                    self.ex.record_codings.push(c)
                }
            }
        }
    }

    /// Who took part in the innermost statement (author, participants), by path relative to it.
    pub(super) fn participation_field(&mut self, idx: usize, rel: &[Tag], a: &Attrs) -> bool {
        let item = &mut self.ex.items[idx];
        match rel {
            // Who took part: the author wrote it; a Participant's typeCode says how
            // (`AUT` wrote it, `PRF` did it, `PPRF` did it as the primary performer); a
            // composition's Participant2 did what it holds. A nullFlavor names nobody.
            [Tag::Author] => self.participation = (!a.null_flavor).then_some(StaffKind::Recorder),
            [Tag::Participant] => {
                self.participation = match a.type_code.as_deref().map(str::trim) {
                    _ if a.null_flavor => None,
                    Some("AUT") => Some(StaffKind::Recorder),
                    Some("PRF") => Some(StaffKind::Performer),
                    Some("PPRF") => Some(StaffKind::PrimaryPerformer),
                    _ => None,
                }
            }
            [Tag::Participant2] => {
                self.participation = (!a.null_flavor).then_some(StaffKind::Performer)
            }
            [Tag::Author | Tag::Participant | Tag::Participant2, Tag::AgentRef, Tag::Id] => {
                if let (Some(kind), Some(root)) = (self.participation, a.root.as_deref()) {
                    // As `normalise_id` writes it (`id_text`), with no `String` between.
                    let agent = SourceId::from_root(root.trim(), None);
                    item.staff.push(StaffRef { kind, agent });
                }
            }
            _ => return false,
        }
        true
    }

    /// A staff name or organisation name being kept ends with its element.
    pub(super) fn close_staff_text(&mut self, depth: usize) {
        if let Some((_, slot, d)) = self.capture {
            if d == depth
                && matches!(
                    slot,
                    Slot::StaffPrefix | Slot::StaffGiven | Slot::StaffFamily | Slot::OrgName
                )
            {
                self.capture = None;
                // Too long or an undefined entity: not kept (staff data is never guessed).
                let kept = (!self.capture_overflow)
                    .then(|| crate::ehr::model::staff_text(&self.captured))
                    .flatten();
                self.capture_overflow = false;
                self.captured.clear();
                if let (Some(t), Some((_, agent, _))) = (kept, self.agent.as_mut()) {
                    match slot {
                        Slot::OrgName => {
                            if let Some(org) = agent.org.as_mut() {
                                org.name.get_or_insert(t);
                            }
                        }
                        _ => {
                            let name = agent.name.get_or_insert_with(StaffName::default);
                            match slot {
                                Slot::StaffPrefix => name.prefix.push(t),
                                Slot::StaffGiven => name.given.push(t),
                                _ => {
                                    name.family.get_or_insert(t);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// An agentDirectory `Agent` ends: it joins the directory (an id given twice: neither).
    pub(super) fn close_agent(&mut self, depth: usize) {
        if let Some((_, _, d)) = self.agent {
            if d == depth {
                if let Some((key, agent, _)) = self.agent.take() {
                    if !key.is_empty() && self.ex.agents.insert(key.clone(), agent).is_some() {
                        self.agent_dups.push(key);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ehr::reader::testing::*;

    #[test]
    fn the_agent_directory_and_participations_are_read_and_checked() {
        let agent = |id: &str, extra: &str| {
            format!(
                r#"<part typeCode="PART"><Agent classCode="AGNT"><id root="{id}"/>{extra}</Agent></part>"#
            )
        };
        let long = "x".repeat(MAX_STAFF_TEXT + 1);
        let dir = [
            agent(
                "A",
                r#"<id root="1.2.826.0.1285.0.2.0.65" extension="123456789012"/><id root="2.16.840.1.113883.2.1.4.2" extension="G1234567"/><id root="1.2.826.0.1285.0.2.0.67" extension="555"/><code code="62247001" codeSystem="2.16.840.1.113883.2.1.3.2.4.15"/><agentPerson><name><prefix>Dr</prefix><given>Ann</given><given>B</given><family>Example</family></name></agentPerson><representedOrganization><id root="2.16.840.1.113883.2.1.4.3" extension="A12345"/><name>Fixture &amp; Co</name></representedOrganization>"#,
            ),
            // Identifiers out of syntax and an over-long name part are not kept.
            agent(
                "B",
                &format!(r#"<id root="1.2.826.0.1285.0.2.0.65" extension="12 34"/><id root="2.16.840.1.113883.2.1.4.2" extension="not a number"/><agentPerson><name><family>{long}</family><given>Kept</given></name></agentPerson><agentOrganization><id root="2.16.840.1.113883.2.1.4.3" extension="no such code!"/></agentOrganization>"#),
            ),
            // Given twice: ambiguous, so neither is referenced.
            agent("D", "<agentPerson/>"),
            agent("D", "<agentPerson/>"),
        ]
        .concat();
        let stmt = |id: &str, parts: &str| {
            format!(
                r#"<component><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/>{parts}</ObservationStatement></component>"#
            )
        };
        let p = |ty: &str, who: &str| {
            format!(
                r#"<Participant typeCode="{ty}"><agentRef><id root="{who}"/></agentRef></Participant>"#
            )
        };
        let body = [
            stmt("S1", &[p("PRF", "A"), p("PPRF", "B"), p("AUT", "A"), p("RESP", "B")].concat()),
            stmt("S2", r#"<Participant nullFlavor="UNK" typeCode="PRF"><agentRef><id root="A"/></agentRef></Participant>"#),
        ]
        .concat();
        let doc = format!(
            r#"{ROOT}<EhrExtract><component><ehrFolder><responsibleParty><agentDirectory>{dir}</agentDirectory></responsibleParty><component><ehrComposition><id root="C"/><author><time value="2020"/><agentRef><id root="A"/></agentRef></author><Participant2 typeCode="RESP"><agentRef><id root="B"/></agentRef></Participant2>{body}</ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>"#
        );
        let ex = match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        };
        let a = &ex.agents["a"];
        assert!(a.person);
        assert_eq!(a.sds_user_id.as_deref(), Some("123456789012"));
        assert_eq!(a.gmp_number.as_deref(), Some("G1234567"));
        assert_eq!(a.role_profile_id.as_deref(), Some("555"));
        assert_eq!(a.role.len(), 1);
        let name = a.name.as_ref().expect("a name");
        assert_eq!(
            (
                name.prefix.clone(),
                name.given.clone(),
                name.family.as_deref()
            ),
            (
                vec!["Dr".to_string()],
                vec!["Ann".to_string(), "B".to_string()],
                Some("Example")
            )
        );
        let org = a.org.as_ref().expect("an organisation");
        assert_eq!(org.ods.as_deref(), Some("A12345"));
        assert_eq!(org.name.as_deref(), Some("Fixture & Co"));
        let b = &ex.agents["b"];
        assert_eq!(
            (b.sds_user_id.as_ref(), b.gmp_number.as_ref()),
            (None, None)
        );
        let bn = b.name.as_ref().expect("the part that passed");
        assert_eq!((bn.family.as_ref(), bn.given.len()), (None, 1));
        assert_eq!(b.org.as_ref().map(|o| o.ods.is_none()), Some(true));
        assert!(
            !ex.agents.contains_key("d"),
            "an id given twice names nobody"
        );
        let kinds = |id: &str| -> Vec<(StaffKind, String)> {
            ex.get(id)
                .expect(id)
                .staff
                .iter()
                .map(|s| (s.kind, s.agent.to_string()))
                .collect()
        };
        assert_eq!(
            kinds("s1"),
            vec![
                (StaffKind::Performer, "a".into()),
                (StaffKind::PrimaryPerformer, "b".into()),
                (StaffKind::Recorder, "a".into()),
            ]
        );
        assert!(
            kinds("s2").is_empty(),
            "a nullFlavor participant names nobody"
        );
        assert_eq!(
            kinds("c"),
            vec![
                (StaffKind::Recorder, "a".into()),
                (StaffKind::Performer, "b".into())
            ]
        );
    }
}
