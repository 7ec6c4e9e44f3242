//! The clinical statements of a composition: the consent record, consultations, vitals,
//! pathology reports, problems, allergies, plans and referrals.

use std::io::{self, Write};

use super::Gen;
use crate::plan::ConsentCode;
use crate::terms::*;
use crate::time::{Day, Ts};
use crate::{READ2, SCT};

impl<W: Write> Gen<W> {
    pub(super) fn consent_record(&mut self) -> io::Result<()> {
        let t = match self.p.consent_code {
            ConsentCode::None => return Ok(()),
            ConsentCode::Given => t(
                "417528008",
                "Consent given for upload to local shared electronic record",
                "93C0.00",
            ),
            ConsentCode::Dissent => t(
                "416409005",
                "Refused consent for upload to local shared electronic record",
                "93C1.00",
            ),
        };
        self.observation_with(&t, None, false, false).map(|_| ())
    }

    pub(super) fn consultation(&mut self) -> io::Result<()> {
        let n = self.rng.range(1, 4);
        for _ in 0..n {
            let sensitive = self.rng.permille(15);
            let term = if sensitive {
                self.rng.pick(SENSITIVE)
            } else if self.rng.permille(300) {
                self.rng.pick(CONDITIONS)
            } else {
                self.rng.pick(FINDINGS)
            };
            let annotate = self.rng.permille(500);
            self.observation(term, None, annotate)?;
        }
        if self.rng.permille(300) {
            let v = self.rng.pick(VITALS);
            let term = Term {
                sct: v.sct,
                term: v.term,
                read: "22A..00",
            };
            self.observation(&term, Some(v), false)?;
        }
        if self.rng.permille(600) {
            let n = self.rng.range(5, 60);
            self.narrative(n)?;
        }
        if self.rng.permille(150) {
            self.plan_or_request()?;
        }
        Ok(())
    }

    pub(super) fn vitals(&mut self) -> io::Result<()> {
        let id = self.rng.uuid();
        let now = self.now;
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<CompoundStatement classCode=\"BATTERY\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n<code code=\"163020007\" codeSystem=\"{SCT}\" displayName=\"O/E - blood pressure reading\">\n<translation code=\"246..00\" codeSystem=\"{READ2}\" displayName=\"O/E - blood pressure reading\"/>\n</code>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
            Ts(now),
            Ts(now)
        )?;
        let sys = lab(
            "72313002",
            "Systolic arterial pressure",
            "mm[Hg]",
            100.0,
            140.0,
        );
        let dia = lab(
            "1091811000000102",
            "Diastolic arterial pressure",
            "mm[Hg]",
            60.0,
            90.0,
        );
        for (l, read) in [(&sys, "2469.00"), (&dia, "246A.00")] {
            let oid = self.rng.uuid();
            write!(
                self.w,
                "<component typeCode=\"COMP\" contextConductionInd=\"true\">\n<ObservationStatement classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{oid}\"/>\n<code code=\"{}\" codeSystem=\"{SCT}\" displayName=\"{}\">\n<translation code=\"{read}\" codeSystem=\"{READ2}\" displayName=\"{}\"/>\n</code>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
                l.sct,
                l.term,
                l.term,
                Ts(now),
                Ts(now)
            )?;
            self.pq(l)?;
            self.w
                .write_all(b"</ObservationStatement>\n</component>\n")?;
        }
        let a = self.agent();
        self.participant("PRF", a)?;
        self.nopat(30)?;
        self.w.write_all(b"</CompoundStatement>\n</component>\n")?;
        if self.rng.permille(500) {
            let v = self.rng.pick(&VITALS[..3]);
            let term = Term {
                sct: v.sct,
                term: v.term,
                read: "22K..00",
            };
            self.observation(&term, Some(v), false)?;
        }
        Ok(())
    }

    pub(super) fn pathology(&mut self) -> io::Result<()> {
        let now = self.now;
        let (report, specimen, spec_role) = (self.rng.uuid(), self.rng.uuid(), self.rng.uuid());
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<CompoundStatement classCode=\"CLUSTER\" moodCode=\"EVN\">\n<id root=\"{report}\"/>\n<code code=\"16488004\" codeSystem=\"{SCT}\" displayName=\"laboratory reporting\">\n<originalText>Filed Report</originalText>\n</code>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
            Ts(now),
            Ts(now)
        )?;
        if self.rng.permille(500) {
            self.narrative(12)?;
        }
        write!(
            self.w,
            "<component typeCode=\"COMP\" contextConductionInd=\"true\">\n<CompoundStatement classCode=\"CLUSTER\" moodCode=\"EVN\">\n<id root=\"{specimen}\"/>\n<code code=\"123038009\" codeSystem=\"{SCT}\" displayName=\"specimen (specimen)\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n<specimen typeCode=\"SPC\">\n<specimenRole classCode=\"SPEC\">\n<id root=\"{spec_role}\"/>\n<id root=\"2.16.840.1.113883.2.1.4.5.2\" extension=\"LAB{:08}\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<specimenSpecimenMaterial determinerCode=\"INSTANCE\" classCode=\"MAT\">\n<desc>VENOUS BLOOD</desc>\n</specimenSpecimenMaterial>\n</specimenRole>\n</specimen>\n",
            Ts(now),
            Ts(now),
            self.rng.below(100_000_000),
            Ts(now - 86_400)
        )?;
        let n_panels = self.rng.range(1, 3);
        for _ in 0..n_panels {
            let (pcode, pterm, tests) = *self.rng.pick(LAB_PANELS);
            let bid = self.rng.uuid();
            write!(
                self.w,
                "<component typeCode=\"COMP\" contextConductionInd=\"true\">\n<CompoundStatement classCode=\"BATTERY\" moodCode=\"EVN\">\n<id root=\"{bid}\"/>\n<code code=\"{pcode}\" codeSystem=\"{SCT}\" displayName=\"{pterm}\">\n<originalText>{pterm}</originalText>\n</code>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
                Ts(now),
                Ts(now)
            )?;
            for l in tests {
                let oid = self.rng.uuid();
                write!(
                    self.w,
                    "<component typeCode=\"COMP\" contextConductionInd=\"true\">\n<ObservationStatement classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{oid}\"/>\n<code code=\"{}\" codeSystem=\"{SCT}\" displayName=\"{}\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
                    l.sct,
                    l.term,
                    Ts(now),
                    Ts(now)
                )?;
                self.pq(l)?;
                self.w
                    .write_all(b"</ObservationStatement>\n</component>\n")?;
            }
            if self.rng.permille(300) {
                self.narrative(15)?;
            }
            self.w.write_all(b"</CompoundStatement>\n</component>\n")?;
        }
        self.w.write_all(b"</CompoundStatement>\n</component>\n")?;
        self.nopat(20)?;
        self.w.write_all(b"</CompoundStatement>\n</component>\n")
    }

    pub(super) fn problem(&mut self) -> io::Result<()> {
        let term = if self.rng.permille(30) {
            self.rng.pick(SENSITIVE)
        } else {
            self.rng.pick(CONDITIONS)
        };
        let annotate = self.rng.permille(300);
        let named = self.observation(term, None, annotate)?;
        let id = self.rng.uuid();
        let active = self.rng.permille(600);
        let (scode, sterm) = if active {
            ("394774009", "Active problem")
        } else {
            ("394775005", "Inactive problem")
        };
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<LinkSet classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n<code code=\"{scode}\" codeSystem=\"{SCT}\" displayName=\"{sterm}\">\n"
        )?;
        if self.rng.permille(400) {
            write!(
                self.w,
                "<qualifier inverted=\"false\">\n<name code=\"386134007\" codeSystem=\"{SCT}\" displayName=\"Significant\"/>\n</qualifier>\n"
            )?;
        }
        write!(
            self.w,
            "</code>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<low value=\"{}\"/>\n",
            Day(self.now)
        )?;
        if !active {
            let end = self.now + self.rng.range(7, 700) as i64 * 86_400;
            writeln!(
                self.w,
                "<high value=\"{}\"/>",
                Day(end.min(self.p.creation))
            )?;
        }
        write!(
            self.w,
            "</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
            Ts(self.now)
        )?;
        let n_refs = self.rng.below(4).min(self.recent_obs.len() as u64);
        for _ in 0..n_refs {
            let r = *self.rng.pick(&self.recent_obs);
            if r != named {
                write!(
                    self.w,
                    "<component typeCode=\"COMP\">\n<statementRef classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{r}\"/>\n</statementRef>\n</component>\n"
                )?;
            }
        }
        write!(
            self.w,
            "<conditionNamed typeCode=\"NAME\" inversionInd=\"true\">\n<namedStatementRef classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{named}\"/>\n</namedStatementRef>\n</conditionNamed>\n"
        )?;
        self.nopat(30)?;
        self.w.write_all(b"</LinkSet>\n</component>\n")
    }

    pub(super) fn allergy(&mut self) -> io::Result<()> {
        let drug = self.rng.permille(650);
        let (read, cterm, term) = if drug {
            (
                "14L..00",
                "H/O: drug allergy",
                self.rng.pick(DRUG_ALLERGIES),
            )
        } else {
            (
                "SN53.00",
                "Allergy, unspecified",
                self.rng.pick(OTHER_ALLERGIES),
            )
        };
        let id = self.rng.uuid();
        let now = self.now;
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<CompoundStatement classCode=\"CATEGORY\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n<code code=\"{read}\" codeSystem=\"{READ2}\" displayName=\"{cterm}\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
            Day(now),
            Day(now)
        )?;
        self.observation(term, None, true)?;
        self.nopat(30)?;
        self.w.write_all(b"</CompoundStatement>\n</component>\n")
    }

    pub(super) fn plan_or_request(&mut self) -> io::Result<()> {
        let id = self.rng.uuid();
        let when = self.now + self.rng.range(7, 365) as i64 * 86_400;
        let a = self.agent();
        if self.rng.permille(500) {
            write!(
                self.w,
                "<component typeCode=\"COMP\">\n<PlanStatement classCode=\"OBS\" moodCode=\"INT\">\n<id root=\"{id}\"/>\n<code code=\"390906007\" codeSystem=\"{SCT}\" displayName=\"Follow-up encounter\">\n<translation code=\"8H8..00\" codeSystem=\"{READ2}\" displayName=\"Follow-up arranged\"/>\n</code>\n<text>Review "
            )?;
            self.words(6)?;
            write!(
                self.w,
                "</text>\n<statusCode code=\"ACTIVE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
                Day(when),
                Ts(self.now)
            )?;
            self.participant("PRF", a)?;
            self.nopat(30)?;
            self.w.write_all(b"</PlanStatement>\n</component>\n")
        } else {
            write!(
                self.w,
                "<component typeCode=\"COMP\">\n<RequestStatement classCode=\"OBS\" moodCode=\"RQO\">\n<id root=\"{id}\"/>\n<code code=\"3457005\" codeSystem=\"{SCT}\" displayName=\"Patient referral\">\n<translation code=\"8H...00\" codeSystem=\"{READ2}\" displayName=\"Referral for further care\"/>\n</code>\n<text>Referral: "
            )?;
            self.words(12)?;
            write!(
                self.w,
                "</text>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n<priorityCode code=\"394848005\" codeSystem=\"{SCT}\" displayName=\"Normal\"><originalText>Routine</originalText></priorityCode>\n",
                Day(self.now),
                Ts(self.now)
            )?;
            self.participant("PPRF", a)?;
            self.nopat(30)?;
            self.w.write_all(b"</RequestStatement>\n</component>\n")
        }
    }
}
