//! The Patient: one verified NHS number, every resource about that Patient, and the
//! practice's ODS code.

use super::bundle::Reader;
use super::json::{arr, codings, extension, str_at};
use super::{SYSTEM_NHS_NUMBER, SYSTEM_NHS_NUMBER_LEGACY, SYSTEM_ODS};
use crate::ehr::model::IdentityProblem;
use serde_json::Value as Json;

/// GP Connect's NHS number verification status extension (on the NHS number identifier).
const EXT_NHS_VERIFICATION: &str = "Extension-CareConnect-GPC-NHSNumberVerificationStatus-1";

/// NHS Number Status Indicator `01`: number present and verified (NHS Data Dictionary).
const NHS_NUMBER_VERIFIED: &str = "01";

pub(super) fn nhs_number(patient: &Json) -> Option<&str> {
    arr(Some(patient), "identifier")
        .find(|i| str_at(i, "system") == Some(SYSTEM_NHS_NUMBER))
        .and_then(|i| str_at(i, "value"))
}

impl<'a> Reader<'a> {
    /// One bundle, one verified patient, checked once for every resource: the Patient's NHS
    /// numbers (one number, under the current system, verified when a status is given), and
    /// the `subject`/`patient` of every resource, top-level or contained, which must be
    /// that Patient (by a reference that resolves to it, or by its NHS number). A contained
    /// Patient is another patient.
    fn check_identity(&mut self, p: usize) {
        let patient = self.json(p);
        let patient: &Json = &patient;
        let mut numbers: Vec<&str> = Vec::new();
        for ident in arr(Some(patient), "identifier") {
            let system = str_at(ident, "system").map(str::trim).unwrap_or_default();
            let value = str_at(ident, "value").map(str::trim).unwrap_or_default();
            if system == SYSTEM_NHS_NUMBER {
                if !numbers.contains(&value) {
                    numbers.push(value);
                }
                let status = extension(ident, EXT_NHS_VERIFICATION)
                    .map(|e| codings(e.get("valueCodeableConcept")));
                if let Some(codes) = status {
                    if !codes.iter().any(|c| c.code == NHS_NUMBER_VERIFIED) {
                        self.ex.identity(IdentityProblem::Unverified(
                            "the Patient's NHS number verification status is not 01 (number present and verified)".into(),
                        ));
                    }
                }
            } else if system.eq_ignore_ascii_case(SYSTEM_NHS_NUMBER_LEGACY)
                || system.to_ascii_lowercase().ends_with("/nhs-number")
            {
                self.ex.identity(IdentityProblem::Unverified(
                    "the Patient has an NHS number under a legacy or unknown identifier system (current: https://fhir.nhs.uk/Id/nhs-number)".into(),
                ));
            }
        }
        if numbers.len() > 1 {
            self.ex.identity(IdentityProblem::Conflicting(format!(
                "the Patient carries {} different NHS numbers",
                numbers.len()
            )));
        }
        let nhs = numbers.first().copied().unwrap_or_default();
        let mut foreign = 0usize;
        for r in 0..self.res.len() {
            let doc = self.json(r);
            let contained = arr(Some(&doc), "contained").map(|c| (true, c));
            for (inner, v) in std::iter::once((false, &*doc)).chain(contained) {
                // Any Patient but the bundle's own (a contained one never is).
                if (inner || r != p) && str_at(v, "resourceType") == Some("Patient") {
                    foreign += 1;
                }
                for field in ["subject", "patient"] {
                    if let Some(s) = v.get(field) {
                        if !self.is_the_patient(s, p, nhs) {
                            foreign += 1;
                        }
                    }
                }
            }
        }
        if foreign > 0 {
            self.ex.identity(IdentityProblem::Conflicting(format!(
                "{foreign} resource(s) name another patient (a subject or patient that is not the bundle's Patient, or a contained Patient)"
            )));
        }
    }

    /// Whether a `subject`/`patient` value is the bundle's Patient `p` (NHS number `nhs`):
    /// its reference resolves to `p`, and any identifier it gives is `p`'s NHS number.
    fn is_the_patient(&self, s: &Json, p: usize, nhs: &str) -> bool {
        let by_reference = match str_at(s, "reference").map(str::trim) {
            Some(r) if r.starts_with('#') => Some(false),
            Some(_) => Some(self.lookup(Some(s), p) == Some(p)),
            None => None,
        };
        let by_identifier = s.get("identifier").map(|i| {
            str_at(i, "system").map(str::trim) == Some(SYSTEM_NHS_NUMBER)
                && !nhs.is_empty()
                && str_at(i, "value").map(str::trim) == Some(nhs)
        });
        match (by_reference, by_identifier) {
            (None, None) => false,
            (r, i) => r.unwrap_or(true) && i.unwrap_or(true),
        }
    }

    pub(super) fn read_patient(&mut self) {
        let patients: Vec<usize> = (0..self.res.len())
            .filter(|&i| self.res[i].ty == "Patient")
            .collect();
        for &p in &patients {
            match nhs_number(&self.json(p)) {
                Some(n) => self.ex.nhs_numbers.push(n.trim().to_string()),
                None if patients.len() > 1 => self.ex.nhs_numbers.push(String::new()),
                None => {}
            }
        }
        if let [p] = patients[..] {
            self.check_identity(p);
        }
        let ods = |o: &Json| {
            arr(Some(o), "identifier")
                .find(|i| str_at(i, "system") == Some(SYSTEM_ODS))
                .and_then(|i| str_at(i, "value"))
                .map(|s| s.trim().to_string())
        };
        let managing = patients
            .first()
            .and_then(|&p| self.lookup(self.json(p).get("managingOrganization"), p))
            .and_then(|o| ods(&self.json(o)));
        let practice = managing.or_else(|| {
            (0..self.res.len())
                .filter(|&r| self.res[r].ty == "Organization")
                .find_map(|r| ods(&self.json(r)))
        });
        self.ex.set_practice_ods(practice.as_deref());
    }
}
