//! Medication: authorisations (acute and repeat) and the issues that fulfil them.

use std::io::{self, Write};

use super::{Auth, Gen};
use crate::rng::Id;
use crate::terms::*;
use crate::time::{Day, Ts};
use crate::SCT;

impl<W: Write> Gen<W> {
    pub(super) fn medication_open(
        &mut self,
        mood: &str,
        drug: usize,
        low: i64,
        high: i64,
    ) -> io::Result<Id> {
        let id = self.rng.uuid();
        let d = &DRUGS[drug];
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<MedicationStatement classCode=\"SBADM\" moodCode=\"{mood}\">\n<id root=\"{id}\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<low value=\"{}\"/><high value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n<consumable typeCode=\"CSM\">\n<manufacturedProduct classCode=\"MANU\">\n<manufacturedMaterial determinerCode=\"KIND\" classCode=\"MMAT\">\n<code code=\"{}\" codeSystem=\"{SCT}\" displayName=\"{}\"/>\n</manufacturedMaterial>\n</manufacturedProduct>\n</consumable>\n",
            Day(low),
            Day(high),
            Day(low),
            d.sct,
            d.term
        )?;
        Ok(id)
    }

    pub(super) fn medication_close(&mut self, drug: usize) -> io::Result<()> {
        write!(
            self.w,
            "<pertinentInformation typeCode=\"PERT\">\n<pertinentMedicationDosage classCode=\"SBADM\" moodCode=\"RMD\">\n<text>{}</text>\n</pertinentMedicationDosage>\n</pertinentInformation>\n",
            DRUGS[drug].dose
        )?;
        let a = self.agent();
        self.participant("AUT", a)?;
        self.nopat(30)?;
        self.w.write_all(b"</MedicationStatement>\n</component>\n")
    }

    pub(super) fn authorise(&mut self) -> io::Result<()> {
        let n = self.rng.range(1, 3);
        for _ in 0..n {
            let drug = self.rng.below(DRUGS.len() as u64) as usize;
            let acute = self.rng.permille(350);
            let issues: u32 = if acute {
                1
            } else if self.rng.permille(100) {
                self.rng.range(100, 400) as u32
            } else {
                self.rng.range(3, 60) as u32
            };
            let days = 28 * issues as i64;
            let (low, high) = (self.now, (self.now + days * 86_400).min(self.p.creation));
            self.medication_open("INT", drug, low, high)?;
            let auth = self.rng.uuid();
            let quantity = *self.rng.pick(&[28u32, 56, 84, 30, 100, 200]);
            write!(
                self.w,
                "<component typeCode=\"COMP\">\n<ehrSupplyAuthorise classCode=\"SPLY\" moodCode=\"INT\">\n<id root=\"{auth}\"/>\n<code code=\"394823007\" codeSystem=\"{SCT}\" displayName=\"NHS Prescription\"/>\n<statusCode code=\"{}\"/>\n<effectiveTime>\n<low value=\"{}\"/><high value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n<repeatNumber value=\"{}\"/>\n<quantity value=\"{quantity}\" unit=\"1\">\n<translation value=\"{quantity}\">\n<originalText>{}</originalText>\n</translation>\n</quantity>\n<pertinentInformation typeCode=\"PERT\">\n<pertinentSupplyAnnotation>\n<text>Expected Supply Duration: 28 day</text>\n</pertinentSupplyAnnotation>\n</pertinentInformation>\n</ehrSupplyAuthorise>\n</component>\n",
                if high < self.p.creation { "COMPLETE" } else { "ACTIVE" },
                Day(low),
                Day(high),
                Day(low),
                if acute { 0 } else { issues },
                DRUGS[drug].form
            )?;
            if !acute && self.rng.permille(200) {
                let did = self.rng.uuid();
                write!(
                    self.w,
                    "<component typeCode=\"COMP\">\n<ehrSupplyDiscontinue classCode=\"SPLY\" moodCode=\"RQO\">\n<id root=\"{did}\"/>\n<code code=\"394823007\" codeSystem=\"{SCT}\" displayName=\"NHS Prescription\"/>\n<statusCode code=\"COMPLETE\"/>\n<availabilityTime value=\"{}\"/>\n<reversalOf typeCode=\"REV\">\n<priorMedicationRef moodCode=\"ORD\" classCode=\"SBADM\">\n<id root=\"{auth}\"/>\n</priorMedicationRef>\n</reversalOf>\n<pertinentInformation typeCode=\"PERT\">\n<pertinentSupplyAnnotation classCode=\"OBS\" moodCode=\"EVN\">\n<text>Discontinued: side effects</text>\n</pertinentSupplyAnnotation>\n</pertinentInformation>\n</ehrSupplyDiscontinue>\n</component>\n",
                    Ts(high)
                )?;
            }
            self.medication_close(drug)?;
            if self.auths.len() < 24 {
                self.auths.push(Auth {
                    id: auth,
                    drug,
                    issues_left: issues,
                    quantity,
                });
            }
        }
        Ok(())
    }

    pub(super) fn issues(&mut self) -> io::Result<()> {
        if self.auths.is_empty() {
            return self.authorise();
        }
        let n = self.rng.range(1, 4).min(self.auths.len() as u64);
        for _ in 0..n {
            let i = self.rng.below(self.auths.len() as u64) as usize;
            let (auth, drug, quantity) = {
                let a = &mut self.auths[i];
                a.issues_left = a.issues_left.saturating_sub(1);
                (a.id, a.drug, a.quantity)
            };
            if self.auths[i].issues_left == 0 {
                self.auths.swap_remove(i);
            }
            let (low, high) = (self.now, self.now + 28 * 86_400);
            self.medication_open("ORD", drug, low, high)?;
            let pid = self.rng.uuid();
            write!(
                self.w,
                "<component typeCode=\"COMP\">\n<ehrSupplyPrescribe classCode=\"SPLY\" moodCode=\"RQO\">\n<id root=\"{pid}\"/>\n<code code=\"394823007\" codeSystem=\"{SCT}\" displayName=\"NHS Prescription\"/>\n<statusCode code=\"COMPLETE\"/>\n<availabilityTime value=\"{}\"/>\n<quantity value=\"{quantity}\" unit=\"1\">\n<translation value=\"{quantity}\">\n<originalText>{}</originalText>\n</translation>\n</quantity>\n<inFulfillmentOf typeCode=\"FLFS\">\n<priorMedicationRef moodCode=\"INT\">\n<id root=\"{auth}\"/>\n</priorMedicationRef>\n</inFulfillmentOf>\n</ehrSupplyPrescribe>\n</component>\n",
                Day(low),
                DRUGS[drug].form
            )?;
            self.medication_close(drug)?;
        }
        Ok(())
    }
}
