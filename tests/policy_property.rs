//! Property test (issue 3): for random extracts built from shareable and withheld items, no
//! withheld code or free-text string appears anywhere in what convert produces, no withheld
//! source id appears in the bundle, and every shareable item does.

use migx::consent::{ConsentBook, ConsentDecision};
use migx::pipeline::{convert_file, ConvertSettings, Status};
use migx::policy::Policy;
use proptest::prelude::*;
use std::fmt::Write as _;
use std::sync::Arc;

const SCT: &str = "2.16.840.1.113883.2.1.3.2.4.15";
const READ: &str = "2.16.840.1.113883.2.1.6.2";

#[derive(Debug, Clone, Copy)]
enum Kind {
    // Shareable.
    Diagnosis,
    Procedure,
    RecentTest,
    Problem,
    // Withheld, with the reason expected in the audit.
    SensitiveSnomed,
    SensitiveInTranslation,
    SensitiveRead,
    NopatStatement,
    NopatComposition,
    Narrative,
    OldTest,
}

impl Kind {
    fn shareable(self) -> bool {
        matches!(
            self,
            Kind::Diagnosis | Kind::Procedure | Kind::RecentTest | Kind::Problem
        )
    }
    fn reason(self) -> &'static str {
        match self {
            Kind::SensitiveSnomed | Kind::SensitiveInTranslation | Kind::SensitiveRead => {
                "sensitive-code"
            }
            Kind::NopatStatement | Kind::NopatComposition => "confidential",
            Kind::Narrative => "free-text",
            Kind::OldTest => "outside-window",
            _ => "",
        }
    }
}

/// Codes that only withheld items carry: none may appear in any output.
const WITHHELD_CODES: [&str; 3] = ["76272004", "15628003", "A98..00"];

fn uuid(n: usize, salt: u32) -> String {
    format!("{:08X}-{:04X}-4000-8000-{:012X}", salt, n, n * 7 + 1)
}

fn marker(n: usize) -> String {
    format!("PROPMARK-{n}-X")
}

fn obs(id: &str, code: &str, sys: &str, extra: &str, date: &str, text: Option<&str>) -> String {
    format!(
        r#"<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/><code code="{code}" codeSystem="{sys}">{extra}</code><statusCode code="COMPLETE"/><effectiveTime><center value="{date}"/></effectiveTime><availabilityTime value="{date}"/>{}</ObservationStatement></component>"#,
        text.map(|t| format!("<text>{t}</text>"))
            .unwrap_or_default()
    )
}

fn composition(id: &str, body: &str, nopat: bool) -> String {
    let conf = if nopat {
        r#"<confidentialityCode code="NOPAT" codeSystem="2.16.840.1.113883.4.642.3.47"/>"#
    } else {
        ""
    };
    format!(
        r#"<component typeCode="COMP"><ehrComposition classCode="COMPOSITION" moodCode="EVN"><id root="{id}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/>{conf}{body}</ehrComposition></component>"#
    )
}

/// An extract holding `kinds`; returns the XML and (id, kind) per item.
fn extract(kinds: &[Kind], salt: u32) -> (String, Vec<(String, Kind)>) {
    let mut body = String::new();
    let mut items = Vec::new();
    for (n, &k) in kinds.iter().enumerate() {
        let id = uuid(n * 2 + 1, salt);
        let comp = uuid(n * 2 + 2, salt + 1);
        let m = marker(n);
        let stmt = match k {
            Kind::Diagnosis => obs(&id, "H33..00", READ, "", "20260301", Some(&m)),
            Kind::Procedure => obs(&id, "7H2..00", READ, "", "20250101", None),
            Kind::RecentTest => obs(&id, "44J3.00", READ, "", "20260101", Some(&m))
                .replace("<availabilityTime", r#"<value xsi:type="PQ" value="5.4" unit="mmol/L"/><availabilityTime"#),
            Kind::OldTest => obs(&id, "44J3.00", READ, "", "20200101", None)
                .replace("<availabilityTime", r#"<value xsi:type="PQ" value="5.4" unit="mmol/L"/><availabilityTime"#),
            Kind::Problem => {
                let named = uuid(n * 2 + 1000, salt);
                let o = obs(&named, "H33..00", READ, "", "20250101", None);
                format!(
                    r#"{o}<component typeCode="COMP"><LinkSet classCode="OBS" moodCode="EVN"><id root="{id}"/><code code="394774009" codeSystem="{SCT}"/><statusCode code="COMPLETE"/><effectiveTime><low value="20250101"/></effectiveTime><availabilityTime value="20250101"/><conditionNamed typeCode="NAME" inversionInd="true"><namedStatementRef classCode="OBS" moodCode="EVN"><id root="{named}"/></namedStatementRef></conditionNamed></LinkSet></component>"#
                )
            }
            Kind::SensitiveSnomed => obs(&id, "76272004", SCT, "", "20260301", Some(&m)),
            Kind::SensitiveInTranslation => obs(
                &id,
                "H33..00",
                READ,
                &format!(r#"<translation code="15628003" codeSystem="{SCT}"/>"#),
                "20260301",
                None,
            ),
            Kind::SensitiveRead => obs(&id, "A98..00", READ, "", "20260301", None),
            Kind::NopatStatement => obs(&id, "H33..00", READ, "", "20260301", Some(&m)).replace(
                "</ObservationStatement>",
                r#"<confidentialityCode code="NOPAT" codeSystem="2.16.840.1.113883.4.642.3.47"/></ObservationStatement>"#,
            ),
            Kind::NopatComposition => obs(&id, "H33..00", READ, "", "20260301", Some(&m)),
            Kind::Narrative => format!(
                r#"<component typeCode="COMP"><NarrativeStatement classCode="OBS" moodCode="EVN"><id root="{id}"/><text>{m}</text><statusCode code="COMPLETE"/><availabilityTime value="20260301"/></NarrativeStatement></component>"#
            ),
        };
        body.push_str(&composition(
            &comp,
            &stmt,
            matches!(k, Kind::NopatComposition),
        ));
        items.push((id.to_ascii_lowercase(), k));
    }
    let mut xml = String::new();
    let _ = write!(
        xml,
        r#"<?xml version="1.0" encoding="UTF-8"?><RCMR_IN030000UK07 xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><id root="{}"/><creationTime value="20260314100000"/><ControlActEvent classCode="CACT" moodCode="EVN"><subject typeCode="SUBJ"><EhrExtract classCode="EXTRACT" moodCode="EVN"><id root="{}"/><availabilityTime value="20260314100000"/><recordTarget typeCode="RCT"><patient classCode="PAT"><id root="2.16.840.1.113883.2.1.4.1" extension="9000000009"/></patient></recordTarget><author typeCode="AUT"><AgentOrgSDS classCode="AGNT"><agentOrganizationSDS classCode="ORG" determinerCode="INSTANCE"><id root="1.2.826.0.1285.0.1.10" extension="A12345"/></agentOrganizationSDS></AgentOrgSDS></author><component typeCode="COMP"><ehrFolder classCode="FOLDER" moodCode="EVN"><id root="{}"/>{body}</ehrFolder></component></EhrExtract></subject></ControlActEvent></RCMR_IN030000UK07>"#,
        uuid(90001, salt),
        uuid(90002, salt),
        uuid(90003, salt)
    );
    (xml, items)
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Diagnosis),
        Just(Kind::Procedure),
        Just(Kind::RecentTest),
        Just(Kind::Problem),
        Just(Kind::SensitiveSnomed),
        Just(Kind::SensitiveInTranslation),
        Just(Kind::SensitiveRead),
        Just(Kind::NopatStatement),
        Just(Kind::NopatComposition),
        Just(Kind::Narrative),
        Just(Kind::OldTest),
    ]
}

fn settings() -> ConvertSettings {
    let policy = Arc::new(Policy::embedded_default().unwrap());
    let consent = Arc::new(ConsentBook::all(ConsentDecision::Permit, "Y02345", "TREAT"));
    let mut s = ConvertSettings::new(policy, consent);
    s.run_permitted_requesters = vec!["Y02345".into()];
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn withheld_never_leaks_and_shareable_always_arrives(kinds in proptest::collection::vec(kind(), 1..14), salt in 1u32..0xFFFF) {
        let (xml, items) = extract(&kinds, salt);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.xml");
        std::fs::write(&path, xml).unwrap();
        let c = convert_file(&path, &settings());
        prop_assert_eq!(c.status, Status::Converted, "{:?}", c.error);
        let bundle = serde_json::to_string(c.bundle.as_ref().unwrap()).unwrap();
        let audit: String = c.items.iter().map(|i| format!("{i:?}\n")).collect();
        for (n, (id, k)) in items.iter().enumerate() {
            // No free text ever, from any item, anywhere.
            let m = marker(n);
            prop_assert!(!bundle.contains(&m) && !audit.contains(&m), "free text {} leaked", m);
            if k.shareable() {
                prop_assert!(bundle.contains(id.as_str()), "shareable {:?} {} missing", k, id);
            } else {
                prop_assert!(!bundle.contains(id.as_str()), "withheld {:?} {} in the bundle", k, id);
                let listed = c.items.iter().any(|i| &i.source_id == id && i.reason.as_str() == k.reason() && !i.text_only);
                prop_assert!(listed, "withheld {:?} {} not audited as {}", k, id, k.reason());
            }
        }
        for code in WITHHELD_CODES {
            prop_assert!(!bundle.contains(&format!("\"{code}\"")), "withheld code {} in the bundle", code);
        }
    }
}
