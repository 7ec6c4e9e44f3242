//! `AllergyIntolerance`: a CATEGORY `CompoundStatement` (Read `14L..00` drug / `SN53.00`
//! non-drug) holding one `ObservationStatement` with the allergy code.

use super::bundle::Reader;
use super::json::{arr, codings, date, extension, has_text, mapped, str_at, MAX_KEPT_TEXT};
use crate::codes::{CodeSystem, Coding};
use crate::ehr::model::{Allergy, Element, Item, ItemHead, ItemKind, Observation, Reaction};
use serde_json::Value as Json;

const EXT_ALLERGY_END: &str = "Extension-CareConnect-GPC-AllergyIntoleranceEnd-1";

/// STU3 AllergyIntolerance `verificationStatus` codes and their R4
/// `allergyintolerance-verification` codes.
const ALLERGY_VERIFICATION: [(&str, &str); 4] = [
    ("unconfirmed", "unconfirmed"),
    ("confirmed", "confirmed"),
    ("refuted", "refuted"),
    ("entered-in-error", "entered-in-error"),
];

/// STU3 `AllergyIntolerance.reaction.severity` codes and their R4 codes (the same).
const REACTION_SEVERITY: [(&str, &str); 3] = [
    ("mild", "mild"),
    ("moderate", "moderate"),
    ("severe", "severe"),
];

/// STU3 AllergyIntolerance `clinicalStatus` codes and their R4
/// `allergyintolerance-clinical` codes.
const ALLERGY_CLINICAL: [(&str, &str); 3] = [
    ("active", "active"),
    ("inactive", "inactive"),
    ("resolved", "resolved"),
];

impl<'a> Reader<'a> {
    pub(super) fn allergy(&mut self, i: usize, parent: Option<usize>) {
        let v = self.json(i);
        let v: &Json = &v;
        let medication = arr(Some(v), "category").any(|c| c.as_str() == Some("medication"));
        let mut header = self.base(i, Element::CompoundStatement, parent);
        header.class_code = Some("CATEGORY".into());
        header.status_code = Some("COMPLETE".into());
        header.codes = smallvec::smallvec![Coding {
            system: CodeSystem::ReadV2,
            code: if medication { "14L..00" } else { "SN53.00" }.into(),
            display: None,
        }];
        header.effective.low = date(v.get("onsetDateTime"));
        // Resolved allergies (GP Connect "Ended allergies") carry an end date.
        if let Some(end) = extension(v, EXT_ALLERGY_END) {
            header.effective.high =
                date(extension(end, "endDate").and_then(|e| e.get("valueDateTime")));
        }
        header.availability = date(v.get("assertedDate"));
        header.verification = mapped(v, "verificationStatus", &ALLERGY_VERIFICATION);
        header.clinical_status = mapped(v, "clinicalStatus", &ALLERGY_CLINICAL);
        header.free_text |= arr(Some(v), "reaction")
            .any(|r| has_text(r.get("description")) || has_text(r.get("note")));
        // The coded part of each reaction (its text is narrative, above; the text of a
        // manifestation or route is free text too).
        header.free_text |= arr(Some(v), "reaction").any(|r| {
            arr(Some(r), "manifestation").any(|m| has_text(Some(m)))
                || has_text(r.get("exposureRoute"))
        });
        let reactions = arr(Some(v), "reaction")
            .map(|r| {
                let mut manifestation = Vec::new();
                for m in arr(Some(r), "manifestation") {
                    manifestation.extend(codings(Some(m)));
                }
                Reaction {
                    manifestation,
                    severity: mapped(r, "severity", &REACTION_SEVERITY),
                    onset: date(r.get("onset")),
                    exposure_route: codings(r.get("exposureRoute")),
                }
            })
            .collect();
        let codes = codings(v.get("code"));
        // A transfer-degraded allergy code names its allergen only in `code.text`: kept (the
        // policy decides whether it is shared); any other code text is free text.
        let code_text = codes
            .iter()
            .any(crate::codes::degraded::is_degraded_allergy)
            .then(|| v.get("code").and_then(|c| str_at(c, "text")))
            .flatten()
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= MAX_KEPT_TEXT)
            .map(str::to_string);
        let mut obs = Item {
            head: ItemHead {
                id: format!("{}-obs", header.id).into(),
                class_code: Some("OBS".into()),
                status_code: Some("COMPLETE".into()),
                code_uncoded: codes.is_empty(),
                codes: codes.into(),
                effective: header.effective,
                availability: header.availability,
                free_text: code_text.is_none() && has_text(v.get("code")),
                ..ItemHead::new(Element::ObservationStatement)
            },
            kind: ItemKind::Observation(Observation {
                code_text,
                ..Observation::default()
            }),
        };
        header.kind = ItemKind::Allergy(Box::new(Allergy { reactions }));
        let h = self.push(header);
        obs.head.parent = Some(h);
        self.push(obs);
    }
}
