//! The element names the reader knows: everything else is `Other`, tracked for depth only.

use crate::ehr::model::Element;

/// Element names the reader cares about. Everything else is `Other` and only tracked for depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    Other,
    Id,
    CreationTime,
    EhrExtract,
    EhrFolder,
    RecordTarget,
    Patient,
    Author,
    AgentOrgSds,
    AgentOrganizationSds,
    AvailabilityTime,
    Code,
    Translation,
    OriginalText,
    Qualifier,
    Name,
    StatusCode,
    EffectiveTime,
    Low,
    High,
    Center,
    ConfidentialityCode,
    Value,
    InterpretationCode,
    ReferenceRange,
    ReferenceInterpretationRange,
    Text,
    Time,
    PertinentInformation,
    PertinentAnnotation,
    PertinentMedicationDosage,
    PertinentSupplyAnnotation,
    Component,
    StatementRef,
    ConditionNamed,
    NamedStatementRef,
    Consumable,
    ManufacturedProduct,
    ManufacturedMaterial,
    RepeatNumber,
    Quantity,
    InFulfillmentOf,
    ReversalOf,
    PriorMedicationRef,
    AgentRef,
    Participant,
    Participant2,
    AgentDirectory,
    Part,
    Agent,
    AgentPerson,
    RepresentedOrganization,
    AgentOrganization,
    Prefix,
    Given,
    Family,
    Statement(Element),
}

/// Every element name the reader knows, with what it is.
const NAMES: [(&[u8], Tag); 69] = [
    (b"id", Tag::Id),
    (b"low", Tag::Low),
    (b"code", Tag::Code),
    (b"name", Tag::Name),
    (b"high", Tag::High),
    (b"text", Tag::Text),
    (b"time", Tag::Time),
    (b"part", Tag::Part),
    (b"value", Tag::Value),
    (b"Agent", Tag::Agent),
    (b"given", Tag::Given),
    (b"author", Tag::Author),
    (b"center", Tag::Center),
    (b"prefix", Tag::Prefix),
    (b"family", Tag::Family),
    (b"patient", Tag::Patient),
    (b"LinkSet", Tag::Statement(Element::LinkSet)),
    (b"quantity", Tag::Quantity),
    (b"agentRef", Tag::AgentRef),
    (b"qualifier", Tag::Qualifier),
    (b"component", Tag::Component),
    (b"ehrFolder", Tag::EhrFolder),
    (b"EhrExtract", Tag::EhrExtract),
    (b"statusCode", Tag::StatusCode),
    (b"consumable", Tag::Consumable),
    (b"reversalOf", Tag::ReversalOf),
    (b"AgentOrgSDS", Tag::AgentOrgSds),
    (b"translation", Tag::Translation),
    (b"Participant", Tag::Participant),
    (b"participant", Tag::Participant),
    (b"agentPerson", Tag::AgentPerson),
    (b"creationTime", Tag::CreationTime),
    (b"recordTarget", Tag::RecordTarget),
    (b"originalText", Tag::OriginalText),
    (b"statementRef", Tag::StatementRef),
    (b"repeatNumber", Tag::RepeatNumber),
    (b"Participant2", Tag::Participant2),
    (b"participant2", Tag::Participant2),
    (b"effectiveTime", Tag::EffectiveTime),
    (b"PlanStatement", Tag::Statement(Element::PlanStatement)),
    (b"referenceRange", Tag::ReferenceRange),
    (b"conditionNamed", Tag::ConditionNamed),
    (b"ehrComposition", Tag::Statement(Element::EhrComposition)),
    (b"agentDirectory", Tag::AgentDirectory),
    (b"inFulfillmentOf", Tag::InFulfillmentOf),
    (b"availabilityTime", Tag::AvailabilityTime),
    (
        b"RequestStatement",
        Tag::Statement(Element::RequestStatement),
    ),
    (b"namedStatementRef", Tag::NamedStatementRef),
    (
        b"CompoundStatement",
        Tag::Statement(Element::CompoundStatement),
    ),
    (b"agentOrganization", Tag::AgentOrganization),
    (b"interpretationCode", Tag::InterpretationCode),
    (b"priorMedicationRef", Tag::PriorMedicationRef),
    (
        b"ehrSupplyAuthorise",
        Tag::Statement(Element::EhrSupplyAuthorise),
    ),
    (
        b"ehrSupplyPrescribe",
        Tag::Statement(Element::EhrSupplyPrescribe),
    ),
    (
        b"NarrativeStatement",
        Tag::Statement(Element::NarrativeStatement),
    ),
    (b"confidentialityCode", Tag::ConfidentialityCode),
    (b"pertinentAnnotation", Tag::PertinentAnnotation),
    (b"manufacturedProduct", Tag::ManufacturedProduct),
    (
        b"MedicationStatement",
        Tag::Statement(Element::MedicationStatement),
    ),
    (b"agentOrganizationSDS", Tag::AgentOrganizationSds),
    (b"pertinentInformation", Tag::PertinentInformation),
    (b"manufacturedMaterial", Tag::ManufacturedMaterial),
    (
        b"ObservationStatement",
        Tag::Statement(Element::ObservationStatement),
    ),
    (
        b"ehrSupplyDiscontinue",
        Tag::Statement(Element::EhrSupplyDiscontinue),
    ),
    (
        b"RegistrationStatement",
        Tag::Statement(Element::RegistrationStatement),
    ),
    (b"representedOrganization", Tag::RepresentedOrganization),
    (b"pertinentMedicationDosage", Tag::PertinentMedicationDosage),
    (b"pertinentSupplyAnnotation", Tag::PertinentSupplyAnnotation),
    (
        b"referenceInterpretationRange",
        Tag::ReferenceInterpretationRange,
    ),
];

/// Where a name of two or more bytes lies in [`SLOTS`]: its first two and last two bytes and
/// its length, mixed by one multiplication. The multiplier was chosen so that no two known
/// names share a slot ([`SLOTS`] is built at compile time and the build fails if they do).
const fn slot(b: &[u8]) -> usize {
    let n = b.len();
    let key =
        (b[0] as u32 | (b[1] as u32) << 8 | (b[n - 2] as u32) << 16 | (b[n - 1] as u32) << 24)
            ^ (n as u32).wrapping_mul(0x9E37_79B9);
    (key.wrapping_mul(0xB70A_5507) >> 24) as usize
}

/// For each slot, 1 + the index in [`NAMES`] of the name there, or 0.
const SLOTS: [u8; 256] = {
    let mut slots = [0u8; 256];
    let mut i = 0;
    while i < NAMES.len() {
        let s = slot(NAMES[i].0);
        assert!(
            slots[s] == 0,
            "two element names share a slot: choose another multiplier"
        );
        slots[s] = (i + 1) as u8;
        i += 1;
    }
    slots
};

/// What the element `local` is: one table look-up and one comparison. It runs for every
/// element; the match by length it replaced compiled to 8.7 KB of code whose scattered
/// comparisons missed the instruction cache on most calls (6% of a run's misses).
pub(super) fn tag_of(local: &str) -> Tag {
    let b = local.as_bytes();
    if b.len() < 2 {
        return Tag::Other;
    }
    match SLOTS[slot(b)] {
        0 => Tag::Other,
        i => {
            let (name, tag) = NAMES[i as usize - 1];
            if name == b {
                tag
            } else {
                Tag::Other
            }
        }
    }
}

/// The former matcher (by length, then by name), kept as the reference [`tag_of`] must
/// agree with.
#[cfg(test)]
fn tag_by_length(local: &str) -> Tag {
    let b = local.as_bytes();
    match b.len() {
        2 => match b {
            b"id" => Tag::Id,
            _ => Tag::Other,
        },
        3 => match b {
            b"low" => Tag::Low,
            _ => Tag::Other,
        },
        4 => match b {
            b"code" => Tag::Code,
            b"name" => Tag::Name,
            b"high" => Tag::High,
            b"text" => Tag::Text,
            b"time" => Tag::Time,
            b"part" => Tag::Part,
            _ => Tag::Other,
        },
        5 => match b {
            b"value" => Tag::Value,
            b"Agent" => Tag::Agent,
            b"given" => Tag::Given,
            _ => Tag::Other,
        },
        6 => match b {
            b"author" => Tag::Author,
            b"center" => Tag::Center,
            b"prefix" => Tag::Prefix,
            b"family" => Tag::Family,
            _ => Tag::Other,
        },
        7 => match b {
            b"patient" => Tag::Patient,
            b"LinkSet" => Tag::Statement(Element::LinkSet),
            _ => Tag::Other,
        },
        8 => match b {
            b"quantity" => Tag::Quantity,
            b"agentRef" => Tag::AgentRef,
            _ => Tag::Other,
        },
        9 => match b {
            b"qualifier" => Tag::Qualifier,
            b"component" => Tag::Component,
            b"ehrFolder" => Tag::EhrFolder,
            _ => Tag::Other,
        },
        10 => match b {
            b"EhrExtract" => Tag::EhrExtract,
            b"statusCode" => Tag::StatusCode,
            b"consumable" => Tag::Consumable,
            b"reversalOf" => Tag::ReversalOf,
            _ => Tag::Other,
        },
        11 => match b {
            b"AgentOrgSDS" => Tag::AgentOrgSds,
            b"translation" => Tag::Translation,
            b"Participant" | b"participant" => Tag::Participant,
            b"agentPerson" => Tag::AgentPerson,
            _ => Tag::Other,
        },
        12 => match b {
            b"creationTime" => Tag::CreationTime,
            b"recordTarget" => Tag::RecordTarget,
            b"originalText" => Tag::OriginalText,
            b"statementRef" => Tag::StatementRef,
            b"repeatNumber" => Tag::RepeatNumber,
            b"Participant2" | b"participant2" => Tag::Participant2,
            _ => Tag::Other,
        },
        13 => match b {
            b"effectiveTime" => Tag::EffectiveTime,
            b"PlanStatement" => Tag::Statement(Element::PlanStatement),
            _ => Tag::Other,
        },
        14 => match b {
            b"referenceRange" => Tag::ReferenceRange,
            b"conditionNamed" => Tag::ConditionNamed,
            b"ehrComposition" => Tag::Statement(Element::EhrComposition),
            b"agentDirectory" => Tag::AgentDirectory,
            _ => Tag::Other,
        },
        15 => match b {
            b"inFulfillmentOf" => Tag::InFulfillmentOf,
            _ => Tag::Other,
        },
        16 => match b {
            b"availabilityTime" => Tag::AvailabilityTime,
            b"RequestStatement" => Tag::Statement(Element::RequestStatement),
            _ => Tag::Other,
        },
        17 => match b {
            b"namedStatementRef" => Tag::NamedStatementRef,
            b"CompoundStatement" => Tag::Statement(Element::CompoundStatement),
            b"agentOrganization" => Tag::AgentOrganization,
            _ => Tag::Other,
        },
        18 => match b {
            b"interpretationCode" => Tag::InterpretationCode,
            b"priorMedicationRef" => Tag::PriorMedicationRef,
            b"ehrSupplyAuthorise" => Tag::Statement(Element::EhrSupplyAuthorise),
            b"ehrSupplyPrescribe" => Tag::Statement(Element::EhrSupplyPrescribe),
            b"NarrativeStatement" => Tag::Statement(Element::NarrativeStatement),
            _ => Tag::Other,
        },
        19 => match b {
            b"confidentialityCode" => Tag::ConfidentialityCode,
            b"pertinentAnnotation" => Tag::PertinentAnnotation,
            b"manufacturedProduct" => Tag::ManufacturedProduct,
            b"MedicationStatement" => Tag::Statement(Element::MedicationStatement),
            _ => Tag::Other,
        },
        20 => match b {
            b"agentOrganizationSDS" => Tag::AgentOrganizationSds,
            b"pertinentInformation" => Tag::PertinentInformation,
            b"manufacturedMaterial" => Tag::ManufacturedMaterial,
            b"ObservationStatement" => Tag::Statement(Element::ObservationStatement),
            b"ehrSupplyDiscontinue" => Tag::Statement(Element::EhrSupplyDiscontinue),
            _ => Tag::Other,
        },
        21 => match b {
            b"RegistrationStatement" => Tag::Statement(Element::RegistrationStatement),
            _ => Tag::Other,
        },
        23 => match b {
            b"representedOrganization" => Tag::RepresentedOrganization,
            _ => Tag::Other,
        },
        25 => match b {
            b"pertinentMedicationDosage" => Tag::PertinentMedicationDosage,
            b"pertinentSupplyAnnotation" => Tag::PertinentSupplyAnnotation,
            _ => Tag::Other,
        },
        28 => match b {
            b"referenceInterpretationRange" => Tag::ReferenceInterpretationRange,
            _ => Tag::Other,
        },
        _ => Tag::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table reads every name as the former matcher did, and so does every near miss:
    /// each byte of each name changed (to a neighbour, the other case, a colon, a high
    /// byte), each name cut short or lengthened, and short strings of every byte.
    #[test]
    fn the_table_reads_every_name_and_near_miss_as_the_match_by_length() {
        let mut probes: Vec<Vec<u8>> = vec![Vec::new()];
        for b in 0..=255u8 {
            probes.push(vec![b]);
            for c in [b'a', b'e', b'C', b'2'] {
                probes.push(vec![b, c]);
                probes.push(vec![c, b]);
            }
        }
        for (name, _) in NAMES {
            let name = name.to_vec();
            probes.push(name.clone());
            for at in 0..name.len() {
                for b in [
                    name[at] ^ 0x20,
                    name[at] + 1,
                    name[at] - 1,
                    b':',
                    b'_',
                    0xc3,
                    0xff,
                ] {
                    let mut p = name.clone();
                    p[at] = b;
                    probes.push(p);
                }
                probes.push(name[..at].to_vec());
                probes.push(name[at..].to_vec());
            }
            for b in [b'a', b's', b'2', b':'] {
                let mut p = name.clone();
                p.push(b);
                probes.push(p.clone());
                p.insert(0, b);
                probes.push(p);
            }
        }
        let mut known = 0;
        for p in &probes {
            // Names are text: the reader only ever asks of valid UTF-8.
            let Ok(s) = std::str::from_utf8(p) else {
                continue;
            };
            assert_eq!(tag_of(s), tag_by_length(s), "{s:?}");
            known += usize::from(tag_of(s) != Tag::Other);
        }
        assert!(known >= NAMES.len(), "every name is known: {known}");
        // Every name in the table is a different name, and names what the matcher says.
        for (i, (a, tag)) in NAMES.iter().enumerate() {
            assert!(NAMES[i + 1..].iter().all(|(b, _)| a != b));
            assert_eq!(tag_by_length(std::str::from_utf8(a).unwrap()), *tag);
        }
    }
}
