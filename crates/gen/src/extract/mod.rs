//! One synthetic GP2GP `EhrExtract`, written as it is generated: the message wrapper, the
//! agent directory and a timeline of compositions, each of one kind (consultation, vitals,
//! pathology, problem, allergy, medication, narrative, plan or referral). The statements of
//! each kind are written by `clinical.rs` and `medication.rs`; here, the writer and what
//! every statement shares (codes, participants, observations, narrative).

use std::io::{self, Write};

use crate::ids::description_id;
use crate::plan::FilePlan;
use crate::rng::{Id, Rng};
use crate::terms::*;
use crate::time::{Day, Ts};
use crate::{NHS_OID, ODS_OID, READ2, REQUESTER_ODS, SCT};

mod clinical;
mod medication;

pub(crate) struct Counting<W: Write> {
    pub(crate) inner: W,
    pub(crate) n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.n += buf.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub(crate) struct Auth {
    pub(crate) id: Id,
    pub(crate) drug: usize,
    pub(crate) issues_left: u32,
    pub(crate) quantity: u32,
}

pub(crate) struct Gen<W: Write> {
    pub(crate) w: Counting<W>,
    pub(crate) rng: Rng,
    pub(crate) p: FilePlan,
    pub(crate) now: i64,
    pub(crate) step: i64,
    pub(crate) agents: [Id; 4],
    pub(crate) recent_obs: Vec<Id>,
    pub(crate) auths: Vec<Auth>,
    pub(crate) compositions: u64,
}

/// Average composition size, used to spread the timeline over the file.
pub(crate) const AVG_COMPOSITION_BYTES: u64 = 4_500;

pub(crate) const NOPAT: &str = "<confidentialityCode code=\"NOPAT\" codeSystem=\"2.16.840.1.113883.4.642.3.47\" displayName=\"no disclosure to patient, family or caregivers without attending provider's authorization\"/>\n";

impl<W: Write> Gen<W> {
    pub(crate) fn new(inner: W, p: FilePlan) -> Self {
        let mut rng = Rng::new(p.seed);
        let agents = [rng.uuid(), rng.uuid(), rng.uuid(), rng.uuid()];
        let span_days = rng.range(5 * 365, 40 * 365) as i64;
        let start = p.creation - span_days * 86_400;
        let n_comp = (p.target_bytes / AVG_COMPOSITION_BYTES).max(4) as i64;
        Gen {
            w: Counting { inner, n: 0 },
            rng,
            now: start,
            step: ((p.creation - start) / n_comp).max(60),
            p,
            agents,
            recent_obs: Vec::new(),
            auths: Vec::new(),
            compositions: 0,
        }
    }

    fn agent(&mut self) -> Id {
        let i = 1 + self.rng.below(3) as usize;
        self.agents[i]
    }

    fn nopat(&mut self, pm: u64) -> io::Result<()> {
        if self.p.uk07 && self.rng.permille(pm) {
            self.w.write_all(NOPAT.as_bytes())?;
        }
        Ok(())
    }

    fn words(&mut self, n: u64) -> io::Result<()> {
        for i in 0..n {
            if i > 0 {
                self.w.write_all(b" ")?;
            }
            let word = *self.rng.pick(WORDS);
            self.w.write_all(word.as_bytes())?;
        }
        Ok(())
    }

    fn participant(&mut self, type_code: &str, agent: Id) -> io::Result<()> {
        write!(
            self.w,
            "<Participant typeCode=\"{type_code}\" contextControlCode=\"OP\">\n<agentRef classCode=\"AGNT\">\n<id root=\"{agent}\"/>\n</agentRef>\n</Participant>\n"
        )
    }

    /// `<code>` for a clinical term: SNOMED concept (or, EMIS-style, a description id) with a
    /// Read v2 translation, or Read v2 with a SNOMED translation.
    /// Consent/dissent records never use description ids (a converter must always see them).
    fn code(&mut self, term: &Term, allow_desc_id: bool) -> io::Result<()> {
        let Term { sct, term, read } = *term;
        let variant = match self.rng.below(10) {
            6..=7 if !allow_desc_id => 0,
            v => v,
        };
        match variant {
            0..=5 => write!(
                self.w,
                "<code code=\"{sct}\" codeSystem=\"{SCT}\" displayName=\"{term}\">\n<translation code=\"{read}\" codeSystem=\"{READ2}\" displayName=\"{term}\"/>\n</code>\n"
            ),
            6..=7 => {
                let item: u64 = sct.parse().unwrap_or(1) % 100_000_000 + 1_000_000;
                let (desc, check) = description_id(item);
                write!(
                    self.w,
                    "<code code=\"{desc}{check}\" codeSystem=\"{SCT}\" displayName=\"{term}\">\n<originalText>{term}</originalText>\n</code>\n"
                )
            }
            _ => write!(
                self.w,
                "<code code=\"{read}\" codeSystem=\"{READ2}\" displayName=\"{term}\">\n<translation code=\"{sct}\" codeSystem=\"{SCT}\" displayName=\"{term}\"/>\n</code>\n"
            ),
        }
    }

    fn remember_obs(&mut self, id: Id) {
        if self.recent_obs.len() >= 64 {
            let i = self.rng.below(64) as usize;
            self.recent_obs[i] = id;
        } else {
            self.recent_obs.push(id);
        }
    }

    /// A plain ObservationStatement with an optional PQ value and reference range.
    fn observation(&mut self, term: &Term, value: Option<&Lab>, annotate: bool) -> io::Result<Id> {
        self.observation_with(term, value, annotate, true)
    }

    fn observation_with(
        &mut self,
        term: &Term,
        value: Option<&Lab>,
        annotate: bool,
        allow_desc_id: bool,
    ) -> io::Result<Id> {
        let id = self.rng.uuid();
        let now = self.now;
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<ObservationStatement classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n"
        )?;
        self.code(term, allow_desc_id)?;
        write!(
            self.w,
            "<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n",
            Ts(now),
            Ts(now)
        )?;
        if let Some(l) = value {
            self.pq(l)?;
        }
        if annotate {
            self.w.write_all(b"<pertinentInformation typeCode=\"PERT\">\n<sequenceNumber value=\"+1\"/>\n<pertinentAnnotation classCode=\"OBS\" moodCode=\"EVN\">\n<text>")?;
            let n = self.rng.range(4, 30);
            self.words(n)?;
            self.w
                .write_all(b"</text>\n</pertinentAnnotation>\n</pertinentInformation>\n")?;
        }
        let a = self.agent();
        self.participant("PRF", a)?;
        self.nopat(40)?;
        self.w
            .write_all(b"</ObservationStatement>\n</component>\n")?;
        self.remember_obs(id);
        Ok(id)
    }

    /// PQ value, reference range, interpretation when out of range.
    fn pq(&mut self, l: &Lab) -> io::Result<()> {
        let span = (l.high - l.low).max(0.1);
        let v = l.low - 0.15 * span + self.rng.f64() * 1.3 * span;
        let v = if v < 0.0 { 0.0 } else { v };
        let Lab {
            unit, low, high, ..
        } = *l;
        if v > high {
            self.w.write_all(b"<interpretationCode code=\"HI\" codeSystem=\"2.16.840.1.113883.2.1.6.5\" displayName=\"Above high reference limit\"/>\n")?;
        } else if v < low {
            self.w.write_all(b"<interpretationCode code=\"LO\" codeSystem=\"2.16.840.1.113883.2.1.6.5\" displayName=\"Below low reference limit\"/>\n")?;
        }
        write!(
            self.w,
            "<value xsi:type=\"PQ\" value=\"{v:.3}\" unit=\"1\"><translation value=\"{v:.3}\"><originalText>{unit}</originalText></translation></value>\n<referenceRange typeCode=\"REFV\">\n<referenceInterpretationRange classCode=\"OBS\" moodCode=\"EVN.CRT\">\n<value><low value=\"{low:.3}\"/><high value=\"{high:.3}\"/></value>\n</referenceInterpretationRange>\n</referenceRange>\n"
        )
    }

    fn narrative(&mut self, words: u64) -> io::Result<()> {
        let id = self.rng.uuid();
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<NarrativeStatement classCode=\"OBS\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n<text>"
        )?;
        self.words(words)?;
        write!(
            self.w,
            "</text>\n<statusCode code=\"COMPLETE\"/>\n<availabilityTime value=\"{}\"/>\n",
            Ts(self.now)
        )?;
        let a = self.agent();
        self.participant("PRF", a)?;
        self.nopat(30)?;
        self.w.write_all(b"</NarrativeStatement>\n</component>\n")
    }

    fn composition(&mut self) -> io::Result<()> {
        let jitter = self.rng.range(1, 2 * self.step as u64) as i64;
        self.now = (self.now + jitter).min(self.p.creation - 3600);
        self.compositions += 1;
        // Kinds: consult, vitals, pathology, problem, allergy, authorise, issue, narrative, plan/referral
        let kind = self.rng.weighted(&[28, 12, 9, 6, 2, 6, 30, 5, 2]);
        let (ccode, cterm) = match kind {
            5 | 6 => ("196391000000103", "Non-consultation medication data"),
            2 => ("196401000000100", "Non-consultation data"),
            _ => *self.rng.pick(COMPOSITION_CODES),
        };
        let id = self.rng.uuid();
        let author = self.agent();
        let now = self.now;
        write!(
            self.w,
            "<component typeCode=\"COMP\">\n<ehrComposition classCode=\"COMPOSITION\" moodCode=\"EVN\">\n<id root=\"{id}\"/>\n<code code=\"{ccode}\" codeSystem=\"{SCT}\" displayName=\"{cterm}\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<center value=\"{}\"/>\n</effectiveTime>\n<availabilityTime value=\"{}\"/>\n<author typeCode=\"AUT\" contextControlCode=\"OP\">\n<time value=\"{}\"/>\n<agentRef classCode=\"AGNT\">\n<id root=\"{author}\"/>\n</agentRef>\n</author>\n<location typeCode=\"LOC\">\n<locatedEntity classCode=\"LOCE\">\n<code code=\"394730007\" codeSystem=\"{SCT}\" displayName=\"Healthcare related organisation\"/>\n<locatedPlace classCode=\"PLC\" determinerCode=\"INSTANCE\">\n<name>Main Surgery</name>\n</locatedPlace>\n</locatedEntity>\n</location>\n<Participant2 typeCode=\"PRF\" contextControlCode=\"OP\">\n<agentRef classCode=\"AGNT\">\n<id root=\"{author}\"/>\n</agentRef>\n</Participant2>\n",
            Ts(now),
            Ts(now),
            Ts(now + 300)
        )?;
        self.nopat(20)?;
        if self.compositions == 3 {
            self.consent_record()?;
        }
        match kind {
            0 => self.consultation()?,
            1 => self.vitals()?,
            2 => self.pathology()?,
            3 => self.problem()?,
            4 => self.allergy()?,
            5 => self.authorise()?,
            6 => self.issues()?,
            7 => {
                let n = self.rng.range(10, 120);
                self.narrative(n)?
            }
            _ => self.plan_or_request()?,
        }
        self.w.write_all(b"</ehrComposition>\n</component>\n")
    }

    fn header(&mut self) -> io::Result<()> {
        let interaction = if self.p.uk07 {
            "RCMR_IN030000UK07"
        } else {
            "RCMR_IN030000UK06"
        };
        let (msg, extract, folder) = (self.rng.uuid(), self.rng.uuid(), self.rng.uuid());
        let created = Ts(self.p.creation);
        let ods = self.p.ods.clone();
        let nhs = self.p.nhs.clone();
        let start = Day(self.now);
        let [org, gp1, gp2, gp3] = self.agents;
        write!(
            self.w,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{interaction} xmlns=\"urn:hl7-org:v3\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n<id root=\"{msg}\"/>\n<creationTime value=\"{created}\"/>\n<versionCode code=\"V3NPfIT3.1.10\"/>\n<interactionId root=\"2.16.840.1.113883.2.1.3.2.4.12\" extension=\"{interaction}\"/>\n<processingCode code=\"P\"/>\n<processingModeCode code=\"T\"/>\n<acceptAckCode code=\"NE\"/>\n<communicationFunctionRcv typeCode=\"RCV\">\n<device classCode=\"DEV\" determinerCode=\"INSTANCE\">\n<id root=\"1.2.826.0.1285.0.2.0.107\" extension=\"200000000111\"/>\n</device>\n</communicationFunctionRcv>\n<communicationFunctionSnd typeCode=\"SND\">\n<device classCode=\"DEV\" determinerCode=\"INSTANCE\">\n<id root=\"1.2.826.0.1285.0.2.0.107\" extension=\"200000000222\"/>\n</device>\n</communicationFunctionSnd>\n<ControlActEvent classCode=\"CACT\" moodCode=\"EVN\">\n<author1 typeCode=\"AUT\">\n<AgentSystemSDS classCode=\"AGNT\">\n<agentSystemSDS classCode=\"DEV\" determinerCode=\"INSTANCE\">\n<id root=\"1.2.826.0.1285.0.2.0.107\" extension=\"200000000222\"/>\n</agentSystemSDS>\n</AgentSystemSDS>\n</author1>\n<subject typeCode=\"SUBJ\" contextConductionInd=\"false\">\n<EhrExtract classCode=\"EXTRACT\" moodCode=\"EVN\">\n<id root=\"{extract}\"/>\n<statusCode code=\"COMPLETE\"/>\n<availabilityTime value=\"{created}\"/>\n<recordTarget typeCode=\"RCT\">\n<patient classCode=\"PAT\">\n<id root=\"{NHS_OID}\" extension=\"{nhs}\"/>\n</patient>\n</recordTarget>\n<author typeCode=\"AUT\">\n<time value=\"{created}\"/>\n<AgentOrgSDS classCode=\"AGNT\">\n<agentOrganizationSDS classCode=\"ORG\" determinerCode=\"INSTANCE\">\n<id root=\"{ODS_OID}\" extension=\"{ods}\"/>\n</agentOrganizationSDS>\n</AgentOrgSDS>\n</author>\n<destination typeCode=\"DST\">\n<AgentOrgSDS classCode=\"AGNT\">\n<agentOrganizationSDS classCode=\"ORG\" determinerCode=\"INSTANCE\">\n<id root=\"{ODS_OID}\" extension=\"{REQUESTER_ODS}\"/>\n</agentOrganizationSDS>\n</AgentOrgSDS>\n</destination>\n<component typeCode=\"COMP\">\n<ehrFolder classCode=\"FOLDER\" moodCode=\"EVN\">\n<id root=\"{folder}\"/>\n<statusCode code=\"COMPLETE\"/>\n<effectiveTime>\n<low value=\"{start}\"/>\n<high value=\"{created}\"/>\n</effectiveTime>\n<availabilityTime value=\"{created}\"/>\n<author typeCode=\"AUT\">\n<time value=\"{created}\"/>\n<AgentOrgSDS classCode=\"AGNT\">\n<agentOrganizationSDS classCode=\"ORG\" determinerCode=\"INSTANCE\">\n<id root=\"{ODS_OID}\" extension=\"{ods}\"/>\n</agentOrganizationSDS>\n</AgentOrgSDS>\n</author>\n<responsibleParty typeCode=\"RESP\">\n<agentDirectory classCode=\"AGNT\">\n<part typeCode=\"PART\">\n<Agent classCode=\"AGNT\">\n<id root=\"{org}\"/>\n<agentOrganization classCode=\"ORG\" determinerCode=\"INSTANCE\">\n<id root=\"{ODS_OID}\" extension=\"{ods}\"/>\n<name>SYNTHETIC MEDICAL PRACTICE {ods}</name>\n</agentOrganization>\n</Agent>\n</part>\n"
        )?;
        for (gp, given) in [(gp1, "Alex"), (gp2, "Sam"), (gp3, "Jo")] {
            write!(
                self.w,
                "<part typeCode=\"PART\">\n<Agent classCode=\"AGNT\">\n<id root=\"{gp}\"/>\n<code code=\"309394004\" codeSystem=\"{SCT}\" displayName=\"General practitioner\"/>\n<agentPerson classCode=\"PSN\" determinerCode=\"INSTANCE\">\n<name>\n<prefix>Dr</prefix>\n<given>{given}</given>\n<family>Synthetic</family>\n</name>\n</agentPerson>\n<representedOrganization classCode=\"ORG\" determinerCode=\"INSTANCE\">\n<id root=\"{ODS_OID}\" extension=\"{ods}\"/>\n<name>SYNTHETIC MEDICAL PRACTICE {ods}</name>\n</representedOrganization>\n</Agent>\n</part>\n"
            )?;
        }
        self.w
            .write_all(b"</agentDirectory>\n</responsibleParty>\n")
    }

    fn trailer(&mut self) -> io::Result<()> {
        let (req, lim) = (self.rng.uuid(), self.rng.uuid());
        let interaction = if self.p.uk07 {
            "RCMR_IN030000UK07"
        } else {
            "RCMR_IN030000UK06"
        };
        write!(
            self.w,
            "</ehrFolder>\n</component>\n<inFulfillmentOf typeCode=\"FLFS\">\n<priorEhrRequest classCode=\"EXTRACT\" moodCode=\"RQO\">\n<id root=\"{req}\"/>\n</priorEhrRequest>\n</inFulfillmentOf>\n<limitation typeCode=\"LIMIT\" inversionInd=\"true\">\n<limitingEhrExtractSpecification classCode=\"OBS\" moodCode=\"DEF\">\n<id root=\"{lim}\"/>\n<code code=\"37241000000102\" codeSystem=\"{SCT}\" displayName=\"Entire record available to originator (administrative concept)\"/>\n</limitingEhrExtractSpecification>\n</limitation>\n</EhrExtract>\n</subject>\n</ControlActEvent>\n</{interaction}>\n"
        )
    }

    /// Whole file; returns bytes written.
    pub(crate) fn run(mut self) -> io::Result<(u64, W)> {
        self.header()?;
        const TRAILER: u64 = 900;
        while self.w.n + TRAILER < self.p.target_bytes || self.compositions < 4 {
            self.composition()?;
        }
        self.trailer()?;
        self.w.flush()?;
        Ok((self.w.n, self.w.inner))
    }
}
