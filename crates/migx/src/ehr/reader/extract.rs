//! The root element, the wrapper and the `EhrExtract`'s own fields: the extract's id and
//! time, the patient (one NHS number per `recordTarget`), the sending practice, and the
//! codings outside every statement.

use super::attrs::{coding, normalise_id, own, systemless, Attrs};
use super::errors::safe_name;
use super::tags::Tag;
use super::{State, HL7_NS, OID_NHS_NUMBER, OID_ODS};
use crate::ehr::model::{Agent, DateField, IdentityProblem, MessageKind};
use crate::error::{ErrorCode, InputError};
use quick_xml::events::BytesStart;

impl State {
    pub(super) fn check_root(
        &mut self,
        local: &str,
        e: &BytesStart<'_>,
        attrs: &Attrs,
        pos: u64,
    ) -> Result<(), InputError> {
        let kind = match local {
            "RCMR_IN030000UK06" => MessageKind::Uk06,
            "RCMR_IN030000UK07" => MessageKind::Uk07,
            "EhrExtract" => MessageKind::BareExtract,
            _ => {
                return Err(InputError::new(
                    ErrorCode::UnsupportedMessage,
                    format!(
                    "root element <{}> is not RCMR_IN030000UK06, RCMR_IN030000UK07 or EhrExtract",
                    safe_name(local.as_bytes())
                ),
                )
                .at(pos)
                .in_element(safe_name(local.as_bytes())))
            }
        };
        let qname = e.name();
        let qname = qname.as_ref();
        let prefix = qname.split_once(':').map(|(p, _)| p);
        let wanted = match prefix {
            Some(p) => format!("xmlns:{p}"),
            None => "xmlns".to_string(),
        };
        let ns = attrs
            .xmlns
            .iter()
            .find(|(k, _)| *k == wanted)
            .map(|(_, v)| v.as_str());
        if ns != Some(HL7_NS) {
            return Err(InputError::new(
                ErrorCode::WrongNamespace,
                format!("root element <{local}> is not in namespace {HL7_NS}"),
            )
            .at(pos)
            .in_element(local));
        }
        self.ex.kind = Some(kind);
        Ok(())
    }

    /// Fields of the EhrExtract itself (outside any statement).
    pub(super) fn extract_field(&mut self, attrs: &Attrs) {
        let Some(rel) = self.extract_depth.and_then(|xd| self.path.get(xd + 1..)) else {
            return;
        };
        match rel {
            [Tag::Id] if self.ex.extract_id.is_none() => {
                self.ex.extract_id = attrs.root.as_deref().map(normalise_id)
            }
            [Tag::AvailabilityTime] => {
                if let (Some(v), DateField::Absent) = (&attrs.value, self.ex.created) {
                    self.ex.created = DateField::from_hl7(v);
                }
            }
            // One slot per recordTarget (empty until an NHS number is read): two
            // recordTargets are two patients, whether or not they carry usable ids.
            [Tag::RecordTarget] => self.ex.nhs_numbers.push(String::new()),
            [Tag::RecordTarget, Tag::Patient, Tag::Id]
                if attrs.root.as_deref() == Some(OID_NHS_NUMBER) =>
            {
                let n = own(&attrs.extension).unwrap_or_default();
                match self.ex.nhs_numbers.last_mut() {
                    Some(slot) if slot.is_empty() => *slot = n,
                    Some(slot) if slot.trim() != n.trim() => {
                        self.ex.identity(IdentityProblem::Conflicting(
                            "one recordTarget carries two different NHS numbers".into(),
                        ));
                    }
                    _ => {}
                }
            }
            [Tag::Author, Tag::AgentOrgSds, Tag::AgentOrganizationSds, Tag::Id]
                if attrs.root.as_deref() == Some(OID_ODS) && self.ex.practice_ods.is_none() =>
            {
                self.ex.set_practice_ods(attrs.extension.as_deref());
            }
            [.., Tag::AgentDirectory, Tag::Part, Tag::Agent] => {
                let depth = self.path.len() - 1;
                self.agent = Some((String::new(), Agent::default(), depth));
            }
            _ if self.agent.is_some() => self.agent_field(attrs),
            // Codings on the extract, folder or record target: screened for dissent.
            _ => {
                if let Some(c) = coding(attrs).or_else(|| systemless(attrs)) {
                    self.ex.record_codings.push(c)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ehr::reader::testing::*;

    #[test]
    fn each_record_target_is_one_patient_with_or_without_an_id() {
        let pt = |id: &str| format!(r#"<recordTarget><patient>{id}</patient></recordTarget>"#);
        let nhs = r#"<id root="2.16.840.1.113883.2.1.4.1" extension="9990000018"/>"#;
        let doc = |body: String| {
            format!("{ROOT}<ControlActEvent><subject><EhrExtract>{body}</EhrExtract></subject></ControlActEvent></RCMR_IN030000UK06>")
        };
        let ex = read(&doc(pt(nhs))).expect("one");
        assert_eq!(ex.nhs_numbers, vec!["9990000018".to_string()]);
        let ex = read(&doc(format!("{}{}", pt(nhs), pt(nhs)))).expect("two");
        assert_eq!(ex.nhs_numbers.len(), 2);
        let ex = read(&doc(format!("{}{}", pt(""), pt(nhs)))).expect("two");
        assert_eq!(ex.nhs_numbers.len(), 2);
    }
}
