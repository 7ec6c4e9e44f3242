//! The Provenance of a release: what it was made from (the source message and its hash),
//! by which rules (policy, consent, SNOMED CT release, displays, exclusion sets), for whom,
//! and which entries it covers.

use super::{lists, urn};
use crate::consent::ConsentOrigin;
use crate::ehr::model::Extract;
use crate::fhir::ids::{derived_uuid, source_uuid};
use crate::fhir::r4::consent::{ProvenanceAgent, ProvenanceEntity};
use crate::fhir::r4::{
    CodeableConcept, Coding, EntryRefs, Identifier, Meta, Provenance, Reference, Resource, Text,
};
use crate::fhir::{SharingContext, URI_SYSTEM, V3_ACT_REASON};

const PARTICIPANT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";

/// The Provenance of a bundle whose entries' `fullUrl`s are `targets`; `incomplete` when
/// items were withheld whose category could not be known.
pub(super) fn provenance(
    id: &str,
    targets: EntryRefs,
    ex: &Extract,
    rc: &SharingContext<'_>,
    practice_ref: &str,
    incomplete: bool,
) -> Resource {
    let message = ex
        .message_id
        .as_deref()
        .map(source_uuid)
        .unwrap_or_else(|| derived_uuid(&["file", rc.source_sha256]));
    let kind = ex.kind.map(|k| k.name()).unwrap_or("unknown");
    let consent_origin = match rc.consent.origin {
        ConsentOrigin::OperatorAssertion => {
            "consent: operator assertion (--consent-all), not a patient's decision".to_string()
        }
        ConsentOrigin::FileRow { line } => {
            format!("consent: point-of-care decision, consent file line {line}")
        }
    };
    let snomed = match rc.policy.snomed_release_version() {
        Some(v) => format!("SNOMED CT release {v}"),
        None => {
            "SNOMED CT: no release loaded; exclusion coverage limited to built-in lists".to_string()
        }
    };
    let displays = match rc.policy.displays() {
        crate::policy::DisplaySource::Terminology => {
            "code displays: terminology (terms of the policy's code lists; the source's display text is never copied)"
        }
        crate::policy::DisplaySource::Source => {
            "code displays: source (displayName/display as the GP system wrote it)"
        }
    };
    let derivation = |display: String| ProvenanceEntity {
        role: "derivation",
        what: Reference::display(display),
    };
    let mut entity = vec![
        ProvenanceEntity {
            role: "source",
            what: Reference {
                identifier: Some(Identifier::new(URI_SYSTEM, urn(&message))),
                ..Reference::display(format!("{kind} sha256:{}", rc.source_sha256))
            },
        },
        derivation(format!(
            "policy {} {} sha256:{}",
            rc.policy.name(),
            rc.policy.version(),
            rc.policy.sha256()
        )),
        derivation(consent_origin),
        derivation(snomed),
        derivation(displays.to_string()),
        derivation(rc.exclusion.refsets_text()),
        derivation(rc.exclusion.hierarchy_text()),
    ];
    if !rc.run_permitted_requesters.is_empty() {
        entity.push(derivation(format!(
            "requesters permitted for this run only (--permit-requester): {}",
            rc.run_permitted_requesters.join(", ")
        )));
    }
    if incomplete {
        entity.push(lists::incomplete_entity());
    }
    let agent = |code, who| ProvenanceAgent {
        r#type: CodeableConcept::one(Coding::fixed(PARTICIPANT_TYPE, code)),
        who,
    };
    Resource::Provenance(Box::new(Provenance {
        id: id.to_string(),
        meta: Meta::ukcore("Provenance"),
        target: targets,
        recorded: rc.as_of.fhir_instant(),
        reason: vec![CodeableConcept::one(Coding {
            code: Text::from(rc.consent.purpose.as_str()),
            ..Coding::fixed(V3_ACT_REASON, "")
        })],
        agent: vec![
            agent(
                "assembler",
                Reference::display(format!("migx {}", env!("CARGO_PKG_VERSION"))),
            ),
            agent("custodian", Reference::to(practice_ref)),
        ],
        entity,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::model::ExtractBuilder;
    use crate::fhir::map::testing::{context, json};

    #[test]
    fn the_provenance_names_its_source_its_rules_and_every_target() {
        context(|rc| {
            let ex = ExtractBuilder {
                message_id: Some("m".into()),
                ..ExtractBuilder::default()
            }
            .finish();
            let mut ids = crate::fhir::ids::EntryIds::default();
            ids.push("a");
            ids.push("b");
            let targets = EntryRefs::new(std::sync::Arc::new(ids), vec![0, 1]);
            let p = json(&provenance("v", targets, &ex, rc, "urn:uuid:o", false));
            assert_eq!(p["target"].as_array().unwrap().len(), 2);
            assert_eq!(p["target"][1]["reference"], "urn:uuid:b");
            assert_eq!(p["entity"][0]["role"], "source");
            assert_eq!(p["entity"][0]["what"]["identifier"]["system"], URI_SYSTEM);
            let displays: Vec<&str> = p["entity"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["what"]["display"].as_str())
                .collect();
            assert!(displays.iter().any(|d| d.starts_with("policy ")));
            assert!(displays
                .iter()
                .any(|d| d.starts_with("consent: operator assertion")));
            assert!(!displays.iter().any(|d| d.starts_with("incomplete")));
            assert_eq!(p["agent"][1]["who"]["reference"], "urn:uuid:o");
            assert_eq!(p["reason"][0]["coding"][0]["code"], "TREAT");
            let p = json(&provenance("v", EntryRefs::default(), &ex, rc, "o", true));
            let last = p["entity"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(last["role"], "removal");
        });
    }
}
