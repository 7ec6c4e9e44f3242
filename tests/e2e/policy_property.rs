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

// ---------------------------------------------------------------------------------------
// Issue 13.2 / 24.1 / 24.7: confidentiality at ANY ancestor or referrer. One generator: a
// target of a random shape inside a random nesting of containers, with random referrers,
// and a confidentiality code at any subset of the positions that cover it. The property:
// the target is withheld exactly when a restricting code sits at a covering position, and
// no withheld id or marker appears in any output or printed line.

/// Where a confidentiality code can sit relative to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    /// On the target statement itself (for a medication: the MedicationStatement).
    Own,
    /// On the k-th container around it (battery, group, report, allergy compound).
    Wrapper(usize),
    /// On the allergy's observation / the medication's authorisation (the part that gives
    /// the shared resource its meaning).
    Part,
    /// On the ehrComposition holding it.
    Composition,
    /// On the ehrFolder.
    Folder,
    /// On the EhrExtract.
    Extract,
    /// On a LinkSet (in another composition) naming the target as its problem.
    NamingLinkSet,
    /// On a LinkSet (in another composition) listing the target as a component.
    ComponentLinkSet,
    /// Nested deeper inside the target statement (not a direct child).
    Nested,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Diagnosis,
    Result,
    Allergy,
    Medication,
}

#[derive(Debug, Clone)]
struct Placement {
    shape: Shape,
    /// Containers around a Diagnosis/Result: true = pathology report, false = battery.
    wrappers: Vec<bool>,
    naming: bool,
    component: bool,
    /// (position, code) pairs; codes other than NOSCRUB restrict.
    codes: Vec<(Pos, &'static str)>,
}

const CONF_SYS: &str = "2.16.840.1.113883.4.642.3.47";

fn conf(codes: &[(Pos, &'static str)], at: Pos) -> String {
    codes
        .iter()
        .filter(|(p, _)| *p == at)
        .map(|(_, c)| format!(r#"<confidentialityCode code="{c}" codeSystem="{CONF_SYS}"/>"#))
        .collect()
}

fn nested(codes: &[(Pos, &'static str)]) -> String {
    let c = conf(codes, Pos::Nested);
    if c.is_empty() {
        String::new()
    } else {
        format!("<pertinentInformation>{c}</pertinentInformation>")
    }
}

/// The extract; returns (xml, target ids, ids of the naming LinkSet, bystander id).
fn placed(p: &Placement, salt: u32) -> (String, Vec<String>, Option<String>, String) {
    let id = |n: usize| uuid(n, salt);
    let c = &p.codes;
    let mut targets = Vec::new();
    let stmt = match p.shape {
        Shape::Diagnosis | Shape::Result => {
            let t = id(1);
            targets.push(t.clone());
            let value = if p.shape == Shape::Result {
                r#"<value xsi:type="PQ" value="5.4" unit="mmol/L"/>"#
            } else {
                ""
            };
            let code = if p.shape == Shape::Result {
                "44J3.00"
            } else {
                "H33..00"
            };
            let mut s = format!(
                r#"<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{t}"/><code code="{code}" codeSystem="{READ}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/>{value}{}{}<text>{}</text></ObservationStatement></component>"#,
                conf(c, Pos::Own),
                nested(c),
                marker(1)
            );
            for (k, &report) in p.wrappers.iter().enumerate() {
                let w = id(10 + k);
                let (cls, code) = if report {
                    (
                        "CLUSTER",
                        format!(r#"<code code="16488004" codeSystem="{SCT}"/>"#),
                    )
                } else {
                    (
                        "BATTERY",
                        format!(r#"<code code="44J..00" codeSystem="{READ}"/>"#),
                    )
                };
                s = format!(
                    r#"<component typeCode="COMP"><CompoundStatement classCode="{cls}" moodCode="EVN"><id root="{w}"/>{code}<statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/>{}{s}</CompoundStatement></component>"#,
                    conf(c, Pos::Wrapper(k))
                );
            }
            s
        }
        Shape::Allergy => {
            let (h, o) = (id(1), id(2));
            targets.push(h.clone());
            targets.push(o.clone());
            format!(
                r#"<component typeCode="COMP"><CompoundStatement classCode="CATEGORY" moodCode="EVN"><id root="{h}"/><code code="14L..00" codeSystem="{READ}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20190402"/></effectiveTime><availabilityTime value="20190402"/>{}{}<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{o}"/><code code="91936005" codeSystem="{SCT}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20190402"/></effectiveTime><availabilityTime value="20190402"/>{}</ObservationStatement></component></CompoundStatement></component>"#,
                conf(c, Pos::Own),
                nested(c),
                conf(c, Pos::Part)
            )
        }
        Shape::Medication => {
            let (ms, auth, ms2, presc) = (id(1), id(2), id(3), id(4));
            targets.extend([ms.clone(), auth.clone(), ms2.clone(), presc.clone()]);
            let drug = format!(
                r#"<consumable typeCode="CSM"><manufacturedProduct classCode="MANU"><manufacturedMaterial classCode="MMAT" determinerCode="KIND"><code code="320000009" codeSystem="{SCT}"/></manufacturedMaterial></manufacturedProduct></consumable>"#
            );
            format!(
                r#"<component typeCode="COMP"><MedicationStatement classCode="SBADM" moodCode="INT"><id root="{ms}"/><statusCode code="ACTIVE"/><effectiveTime><low value="20260101"/><high value="20261231"/></effectiveTime><availabilityTime value="20260101"/>{drug}{}{}<component typeCode="COMP"><ehrSupplyAuthorise classCode="SPLY" moodCode="INT"><id root="{auth}"/><statusCode code="ACTIVE"/><effectiveTime><low value="20260101"/><high value="20261231"/></effectiveTime><availabilityTime value="20260101"/><repeatNumber value="3"/><quantity value="28" unit="1"/>{}</ehrSupplyAuthorise></component></MedicationStatement></component><component typeCode="COMP"><MedicationStatement classCode="SBADM" moodCode="ORD"><id root="{ms2}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20260201"/></effectiveTime><availabilityTime value="20260201"/>{drug}<component typeCode="COMP"><ehrSupplyPrescribe classCode="SPLY" moodCode="RQO"><id root="{presc}"/><statusCode code="COMPLETE"/><availabilityTime value="20260201"/><quantity value="28" unit="1"/><inFulfillmentOf typeCode="FLFS"><priorMedicationRef classCode="SBADM" moodCode="INT"><id root="{auth}"/></priorMedicationRef></inFulfillmentOf></ehrSupplyPrescribe></component></MedicationStatement></component>"#,
                conf(c, Pos::Own),
                nested(c),
                conf(c, Pos::Part)
            )
        }
    };
    let comp = |cid: String, body: String, at: Option<Pos>| {
        format!(
            r#"<component typeCode="COMP"><ehrComposition classCode="COMPOSITION" moodCode="EVN"><id root="{cid}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/>{}{body}</ehrComposition></component>"#,
            at.map(|a| conf(c, a)).unwrap_or_default()
        )
    };
    let mut body = comp(id(20), stmt, Some(Pos::Composition));
    let first = targets[0].clone();
    let linkset = |lid: &str, named: &str, components: &[&str], at: Pos| {
        let comps: String = components
            .iter()
            .map(|x| format!(r#"<component typeCode="COMP"><statementRef classCode="OBS" moodCode="EVN"><id root="{x}"/></statementRef></component>"#))
            .collect();
        format!(
            r#"<component typeCode="COMP"><LinkSet classCode="OBS" moodCode="EVN"><id root="{lid}"/><code code="394774009" codeSystem="{SCT}"/><statusCode code="COMPLETE"/><effectiveTime><low value="20250101"/></effectiveTime><availabilityTime value="20250101"/>{}{comps}<conditionNamed typeCode="NAME" inversionInd="true"><namedStatementRef classCode="OBS" moodCode="EVN"><id root="{named}"/></namedStatementRef></conditionNamed></LinkSet></component>"#,
            conf(c, at)
        )
    };
    let mut naming = None;
    if p.naming {
        let lid = id(30);
        body.push_str(&comp(
            id(31),
            linkset(&lid, &first, &[], Pos::NamingLinkSet),
            None,
        ));
        naming = Some(lid.to_ascii_lowercase());
    }
    if p.component {
        let (lid, named) = (id(40), id(41));
        let o = format!(
            r#"<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{named}"/><code code="H33..00" codeSystem="{READ}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20250101"/></effectiveTime><availabilityTime value="20250101"/></ObservationStatement></component>"#
        );
        let ls = linkset(&lid, &named, &[first.as_str()], Pos::ComponentLinkSet);
        body.push_str(&comp(id(42), format!("{o}{ls}"), None));
    }
    // A bystander no code covers (unless the whole record is covered).
    let by = id(50);
    body.push_str(&comp(
        id(51),
        format!(
            r#"<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{by}"/><code code="H33..00" codeSystem="{READ}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/></ObservationStatement></component>"#
        ),
        None,
    ));
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><RCMR_IN030000UK07 xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><id root="{}"/><creationTime value="20260314100000"/><ControlActEvent classCode="CACT" moodCode="EVN"><subject typeCode="SUBJ"><EhrExtract classCode="EXTRACT" moodCode="EVN"><id root="{}"/>{}<availabilityTime value="20260314100000"/><recordTarget typeCode="RCT"><patient classCode="PAT"><id root="2.16.840.1.113883.2.1.4.1" extension="9000000009"/></patient></recordTarget><author typeCode="AUT"><AgentOrgSDS classCode="AGNT"><agentOrganizationSDS classCode="ORG" determinerCode="INSTANCE"><id root="1.2.826.0.1285.0.1.10" extension="A12345"/></agentOrganizationSDS></AgentOrgSDS></author><component typeCode="COMP"><ehrFolder classCode="FOLDER" moodCode="EVN"><id root="{}"/>{}{body}</ehrFolder></component></EhrExtract></subject></ControlActEvent></RCMR_IN030000UK07>"#,
        id(90001),
        id(90002),
        conf(c, Pos::Extract),
        id(90003),
        conf(c, Pos::Folder),
    );
    let lower = |v: Vec<String>| v.into_iter().map(|s| s.to_ascii_lowercase()).collect();
    (xml, lower(targets), naming, by.to_ascii_lowercase())
}

fn placement() -> impl Strategy<Value = Placement> {
    let shape = prop_oneof![
        Just(Shape::Diagnosis),
        Just(Shape::Result),
        Just(Shape::Allergy),
        Just(Shape::Medication),
    ];
    let code = prop_oneof![Just("NOPAT"), Just("R"), Just("V"), Just("NOSCRUB")];
    (
        shape,
        proptest::collection::vec(any::<bool>(), 0..3),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec((0usize..12, code), 0..3),
    )
        .prop_map(|(shape, wrappers, naming, component, raw)| {
            let wrappers = if matches!(shape, Shape::Diagnosis | Shape::Result) {
                wrappers
            } else {
                Vec::new()
            };
            let mut positions = vec![
                Pos::Own,
                Pos::Composition,
                Pos::Folder,
                Pos::Extract,
                Pos::Nested,
            ];
            positions.extend((0..wrappers.len()).map(Pos::Wrapper));
            if matches!(shape, Shape::Allergy | Shape::Medication) {
                positions.push(Pos::Part);
            }
            if naming {
                positions.push(Pos::NamingLinkSet);
            }
            if component {
                positions.push(Pos::ComponentLinkSet);
            }
            let codes = raw
                .into_iter()
                .map(|(k, c)| (positions[k % positions.len()], c))
                .collect();
            Placement {
                shape,
                wrappers,
                naming,
                component,
                codes,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn confidentiality_at_any_ancestor_or_referrer_withholds(p in placement(), salt in 1u32..0xFFFF) {
        let (xml, targets, naming, bystander) = placed(&p, salt);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.xml");
        std::fs::write(&path, &xml).unwrap();
        let s = settings();
        let c = convert_file(&path, &s);
        prop_assert_eq!(c.status, Status::Converted, "{:?}", c.error);
        let bundle = serde_json::to_string(c.bundle.as_ref().unwrap()).unwrap();
        let restricted = p.codes.iter().any(|(_, code)| *code != "NOSCRUB");
        let record = p
            .codes
            .iter()
            .any(|(pos, code)| *code != "NOSCRUB" && matches!(pos, Pos::Folder | Pos::Extract));
        let explained = migx::pipeline::explain_file(&path, &s).to_table(false);
        prop_assert!(!bundle.contains(&marker(1)) && !explained.contains(&marker(1)));
        if restricted {
            for t in &targets {
                prop_assert!(!bundle.contains(t.as_str()), "withheld {} in the bundle: {:?}", t, p);
            }
            if let Some(l) = &naming {
                prop_assert!(!bundle.contains(l.as_str()), "the problem naming a withheld item is shared: {:?}", p);
            }
            prop_assert!(c.items.iter().any(|i| targets.contains(&i.source_id.to_string()) && i.reason.as_str() == "confidential"), "{:?}", p);
            // explain says where an inherited reason came from, by element name.
            prop_assert!(explained.contains("withheld: confidential"), "{}", explained);
            for line in explained.lines().filter(|l| l.contains("(from ")) {
                let from = line.rsplit("(from ").next().unwrap_or("").trim_end_matches(')');
                prop_assert!(
                    ["ehrComposition", "ehrFolder", "EhrExtract", "LinkSet", "CompoundStatement", "ObservationStatement", "MedicationStatement", "ehrSupplyAuthorise"].contains(&from),
                    "origin {:?} is not an element name", from
                );
            }
        } else {
            // Shared itself, or (a plain statement a problem names) as that problem.
            let shared = bundle.contains(targets[0].as_str())
                || naming.as_ref().is_some_and(|l| bundle.contains(l.as_str()));
            prop_assert!(shared, "shareable target missing: {:?}", p);
        }
        // Nothing reduces what no code covers.
        prop_assert_eq!(bundle.contains(bystander.as_str()), !record, "bystander: {:?}", p);
    }
}

// ---------------------------------------------------------------------------------------
// Issue 24.9: an entered-in-error status (HL7 v3 `statusCode` `nullified`, any case) at any
// generated position that gives the target its meaning or contains it (the statement, a
// battery or report around it, the allergy's observation or the medication's
// authorisation, the consultation) never lets the target reach an output; on a problem
// naming the target, the problem is not shared. What no status covers is still shared.

/// The XML with the `statusCode` of the element whose id is `id` (its first occurrence)
/// set to `status`.
fn set_status(xml: &str, id: &str, status: &str) -> String {
    let anchor = format!(r#"<id root="{id}"/>"#);
    let Some(at) = xml.find(&anchor) else {
        return xml.to_string();
    };
    let key = r#"<statusCode code=""#;
    let Some(rel) = xml[at..].find(key) else {
        return xml.to_string();
    };
    let start = at + rel + key.len();
    let end = start + xml[start..].find('"').unwrap_or(0);
    format!("{}{status}{}", &xml[..start], &xml[end..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn entered_in_error_at_any_position_never_reaches_an_output(
        p in placement(),
        at in 0usize..16,
        status in prop_oneof![Just("nullified"), Just("NULLIFIED"), Just(" Nullified ")],
        salt in 1u32..0xFFFF,
    ) {
        // Confidentiality is the other test's business: no codes here.
        let p = Placement { codes: Vec::new(), ..p };
        let (xml, targets, naming, bystander) = placed(&p, salt);
        let mut positions: Vec<(Pos, usize)> = vec![(Pos::Own, 1), (Pos::Composition, 20)];
        positions.extend((0..p.wrappers.len()).map(|k| (Pos::Wrapper(k), 10 + k)));
        if matches!(p.shape, Shape::Allergy | Shape::Medication) {
            positions.push((Pos::Part, 2));
        }
        if p.naming {
            positions.push((Pos::NamingLinkSet, 30));
        }
        let (pos, n) = positions[at % positions.len()];
        let xml = set_status(&xml, &uuid(n, salt), status);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.xml");
        std::fs::write(&path, &xml).unwrap();
        let s = settings();
        let c = convert_file(&path, &s);
        prop_assert_eq!(c.status, Status::Converted, "{:?}", c.error);
        let bundle = serde_json::to_string(c.bundle.as_ref().unwrap()).unwrap();
        let explained = migx::pipeline::explain_file(&path, &s).to_table(false);
        prop_assert!(!bundle.contains(&marker(1)) && !explained.contains(&marker(1)));
        if let Some(l) = &naming {
            if pos == Pos::NamingLinkSet {
                prop_assert!(!bundle.contains(l.as_str()), "a nullified problem is shared: {:?}", p);
                prop_assert!(c.items.iter().any(|i| &i.source_id == l && i.reason.as_str() == "entered-in-error"), "{:?}", p);
            }
        }
        if pos != Pos::NamingLinkSet {
            for t in &targets {
                prop_assert!(!bundle.contains(t.as_str()), "entered in error {} in the bundle ({:?}): {:?}", t, pos, p);
            }
            if let Some(l) = &naming {
                prop_assert!(!bundle.contains(l.as_str()), "the problem naming a nullified item is shared: {:?}", p);
            }
            prop_assert!(c.items.iter().any(|i| targets.contains(&i.source_id.to_string()) && i.reason.as_str() == "entered-in-error"), "{:?} {:?}", pos, p);
            prop_assert!(explained.contains("withheld: entered-in-error"), "{}", explained);
        }
        prop_assert!(bundle.contains(bystander.as_str()), "bystander: {:?}", p);
    }
}

// ---------------------------------------------------------------------------------------
// Issue 13.2 / 24.1 / 24.3 / 24.4 / 24.7 in GP Connect STU3: the same property, with every
// reference written in a random FHIR form, the target placed in several containers at
// once (consultation and topic lists, a problem list, a report outside the consultation, a
// panel, a problem), and a label at any subset of the positions that cover it.

/// Where a label can sit relative to the STU3 target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SPos {
    Own,
    Encounter,
    OuterEncounter,
    ConsultationList,
    TopicList,
    ProblemList,
    Report,
    Panel,
    Problem,
    Medication,
    Contained,
    Bundle,
    Patient,
}

#[derive(Debug, Clone)]
struct SPlacement {
    /// Target is a MedicationRequest (with a referenced Medication), else an Observation.
    medication: bool,
    /// Placed in the consultation through lists (else through its own `context`).
    via_list: bool,
    /// The consultation is `partOf` an outer one.
    outer: bool,
    problem_list: bool,
    report: bool,
    panel: bool,
    /// 0 none, 1 actualProblem, 2 related content.
    problem: u8,
    contained: bool,
    /// Reference form per reference (index into `FORMS`).
    forms: Vec<usize>,
    labels: Vec<(SPos, &'static str)>,
}

const FORMS: usize = 6;

fn sid(n: usize, salt: u32) -> String {
    format!("{:08x}-{:04x}-4000-8000-{:012x}", salt, n, n * 11 + 3)
}

/// A reference to `ty`/`id` in form `f`.
fn sref(ty: &str, id: &str, f: usize) -> String {
    match f % FORMS {
        0 => format!(r#"{{"reference":"{ty}/{id}"}}"#),
        1 => format!(r#"{{"reference":"  {ty}/{id} "}}"#),
        2 => format!(r#"{{"reference":"https://gp.example.org/fhir/{ty}/{id}"}}"#),
        3 => format!(r#"{{"reference":"urn:uuid:{id}"}}"#),
        4 => format!(r#"{{"identifier":{{"system":"https://example.org/ids","value":"{id}"}}}}"#),
        _ => format!(
            r#"{{"reference":"{ty}/{}/_history/2"}}"#,
            id.to_ascii_uppercase()
        ),
    }
}

fn labels(l: &[(SPos, &'static str)], at: SPos) -> String {
    let codes: Vec<String> = l
        .iter()
        .filter(|(p, _)| *p == at)
        .map(|(_, c)| format!(r#"{{"system":"http://hl7.org/fhir/v3/ActCode","code":"{c}"}}"#))
        .collect();
    if codes.is_empty() {
        String::new()
    } else {
        format!(r#""meta":{{"security":[{}]}},"#, codes.join(","))
    }
}

/// The bundle; returns (json, target id, problem id if any, bystander id).
fn sentry(entries: &mut Vec<String>, ty: &str, rid: &str, ident: &str, body: String) {
    entries.push(format!(
        r#"{{"fullUrl":"urn:uuid:{rid}","resource":{{"resourceType":"{ty}","id":"{rid}","identifier":[{ident}{{"system":"https://example.org/ids","value":"{rid}"}}],{body}}}}}"#
    ));
}

fn splaced(p: &SPlacement, salt: u32) -> (String, String, Option<String>, String) {
    let id = |n: usize| sid(n, salt);
    let mut forms = p.forms.iter().copied().cycle();
    let mut r = |ty: &str, i: &str| sref(ty, i, forms.next().unwrap_or(0));
    let l = &p.labels;
    let mut entries: Vec<String> = Vec::new();
    let mut entry = |ty: &str, rid: &str, body: String| sentry(&mut entries, ty, rid, "", body);
    let (pat, org, enc, outer, t, by) = (id(1), id(2), id(3), id(4), id(5), id(6));
    let patient = format!(
        r#"{}"managingOrganization":{},"active":true"#,
        labels(l, SPos::Patient),
        r("Organization", &org)
    );
    let organisation = r#""name":"Practice","active":true"#.to_string();
    let part_of = if p.outer {
        format!(r#""partOf":{},"#, r("Encounter", &outer))
    } else {
        String::new()
    };
    entry(
        "Encounter",
        &enc,
        format!(
            r#"{}{part_of}"status":"finished","period":{{"start":"2026-03-01T09:00:00+00:00"}}"#,
            labels(l, SPos::Encounter)
        ),
    );
    if p.outer {
        entry(
            "Encounter",
            &outer,
            format!(
                r#"{}"status":"finished","period":{{"start":"2026-03-01T08:00:00+00:00"}}"#,
                labels(l, SPos::OuterEncounter)
            ),
        );
    }
    let target_ty = if p.medication {
        "MedicationRequest"
    } else {
        "Observation"
    };
    let contained = if p.contained {
        let inner = labels(l, SPos::Contained);
        format!(
            r#""contained":[{{"resourceType":"Provenance","id":"prov1",{inner}"recorded":"2026-03-01T09:00:00+00:00"}}],"#
        )
    } else {
        String::new()
    };
    let context = if p.via_list {
        String::new()
    } else {
        format!(r#""context":{},"#, r("Encounter", &enc))
    };
    if p.medication {
        let med = id(7);
        entry(
            "Medication",
            &med,
            format!(
                r#"{}"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"322236009"}}]}}"#,
                labels(l, SPos::Medication)
            ),
        );
        entry(
            "MedicationRequest",
            &t,
            format!(
                r#"{}{contained}{context}"intent":"plan","status":"active","medicationReference":{},"authoredOn":"2026-03-01","dispenseRequest":{{"validityPeriod":{{"start":"2026-03-01"}},"numberOfRepeatsAllowed":3}},"note":[{{"text":"{}"}}]"#,
                labels(l, SPos::Own),
                r("Medication", &med),
                marker(7)
            ),
        );
    } else {
        entry(
            "Observation",
            &t,
            format!(
                r#"{}{contained}{context}"status":"final","code":{{"coding":[{{"system":"http://snomed.info/sct","code":"1000731000000107"}}]}},"effectiveDateTime":"2026-03-01","issued":"2026-03-01T10:00:00+00:00","valueQuantity":{{"value":5.4,"unit":"mmol/L"}},"comment":"{}""#,
                labels(l, SPos::Own),
                marker(7)
            ),
        );
    }
    if p.via_list {
        let (consult, topic) = (id(8), id(9));
        entry(
            "List",
            &consult,
            format!(
                r#"{}"status":"current","mode":"snapshot","code":{{"coding":[{{"system":"http://snomed.info/sct","code":"325851000000107"}}]}},"encounter":{},"entry":[{{"item":{}}}]"#,
                labels(l, SPos::ConsultationList),
                r("Encounter", &enc),
                r("List", &topic)
            ),
        );
        entry(
            "List",
            &topic,
            format!(
                r#"{}"status":"current","mode":"snapshot","code":{{"coding":[{{"system":"http://snomed.info/sct","code":"25851000000105"}}]}},"entry":[{{"item":{}}}]"#,
                labels(l, SPos::TopicList),
                r(target_ty, &t)
            ),
        );
    }
    if p.problem_list {
        entry(
            "List",
            &id(10),
            format!(
                r#"{}"status":"current","mode":"snapshot","code":{{"coding":[{{"system":"http://snomed.info/sct","code":"717711000000103"}}]}},"entry":[{{"item":{}}}]"#,
                labels(l, SPos::ProblemList),
                r(target_ty, &t)
            ),
        );
    }
    if p.report && !p.medication {
        entry(
            "DiagnosticReport",
            &id(11),
            format!(
                r#"{}"status":"final","code":{{"coding":[{{"system":"http://snomed.info/sct","code":"721981007"}}]}},"issued":"2026-03-01T10:00:00+00:00","result":[{}]"#,
                labels(l, SPos::Report),
                r("Observation", &t)
            ),
        );
    }
    if p.panel && !p.medication {
        entry(
            "Observation",
            &id(12),
            format!(
                r#"{}"status":"final","code":{{"coding":[{{"system":"http://snomed.info/sct","code":"1000731000000107"}}]}},"effectiveDateTime":"2026-03-01","issued":"2026-03-01T10:00:00+00:00","valueQuantity":{{"value":1,"unit":"mmol/L"}},"related":[{{"type":"has-member","target":{}}}]"#,
                labels(l, SPos::Panel),
                r("Observation", &t)
            ),
        );
    }
    let mut problem = None;
    if p.problem > 0 {
        let c = id(13);
        let ext = if p.problem == 1 {
            "Extension-CareConnect-ActualProblem-1"
        } else {
            "Extension-CareConnect-RelatedClinicalContent-1"
        };
        entry(
            "Condition",
            &c,
            format!(
                r#"{}"extension":[{{"url":"https://fhir.nhs.uk/STU3/StructureDefinition/{ext}","valueReference":{}}}],"clinicalStatus":"active","verificationStatus":"confirmed","code":{{"coding":[{{"system":"http://snomed.info/sct","code":"195967001"}}]}},"onsetDateTime":"2025-01-01","assertedDate":"2025-01-01""#,
                labels(l, SPos::Problem),
                r(target_ty, &t)
            ),
        );
        problem = Some(c);
    }
    // A bystander nothing covers but the record.
    entry(
        "Observation",
        &by,
        r#""status":"final","code":{"coding":[{"system":"http://snomed.info/sct","code":"1000731000000107"}]},"effectiveDateTime":"2026-03-02","issued":"2026-03-02T10:00:00+00:00","valueQuantity":{"value":4.4,"unit":"mmol/L"}"#.to_string(),
    );
    let bundle_labels = labels(l, SPos::Bundle);
    let bundle_meta = if bundle_labels.is_empty() {
        r#""meta":{"profile":["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-StructuredRecord-Bundle-1"],"lastUpdated":"2026-03-14T10:00:00+00:00"},"#.to_string()
    } else {
        bundle_labels.replace(
            r#""meta":{"#,
            r#""meta":{"profile":["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-StructuredRecord-Bundle-1"],"lastUpdated":"2026-03-14T10:00:00+00:00","#,
        )
    };
    sentry(
        &mut entries,
        "Patient",
        &pat,
        r#"{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"},"#,
        patient,
    );
    sentry(
        &mut entries,
        "Organization",
        &org,
        r#"{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"A12345"},"#,
        organisation,
    );
    let json = format!(
        r#"{{"resourceType":"Bundle","id":"{}",{bundle_meta}"type":"collection","entry":[{}]}}"#,
        id(99),
        entries.join(",")
    );
    (json, t, problem, by)
}

fn splacement() -> impl Strategy<Value = SPlacement> {
    let code = prop_oneof![Just("NOPAT"), Just("R"), Just("V"), Just("NOSCRUB")];
    (
        any::<bool>(),
        any::<[bool; 6]>(),
        0u8..3,
        proptest::collection::vec(0usize..FORMS, 1..8),
        proptest::collection::vec((0usize..16, code), 0..3),
    )
        .prop_map(|(medication, f, problem, forms, raw)| {
            let [via_list, outer, problem_list, report, panel, contained] = f;
            let mut positions = vec![SPos::Own, SPos::Encounter, SPos::Bundle, SPos::Patient];
            if outer {
                positions.push(SPos::OuterEncounter);
            }
            if via_list {
                positions.extend([SPos::ConsultationList, SPos::TopicList]);
            }
            if problem_list {
                positions.push(SPos::ProblemList);
            }
            if report && !medication {
                positions.push(SPos::Report);
            }
            if panel && !medication {
                positions.push(SPos::Panel);
            }
            if problem > 0 {
                positions.push(SPos::Problem);
            }
            if medication {
                positions.push(SPos::Medication);
            }
            if contained {
                positions.push(SPos::Contained);
            }
            let labels = raw
                .into_iter()
                .map(|(k, c)| (positions[k % positions.len()], c))
                .collect();
            SPlacement {
                medication,
                via_list,
                outer,
                problem_list,
                report,
                panel,
                problem,
                contained,
                forms,
                labels,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn gp_connect_labels_at_any_container_or_referrer_withhold(p in splacement(), salt in 1u32..0xFFFF) {
        let (json, target, problem, bystander) = splaced(&p, salt);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, &json).unwrap();
        let s = settings();
        let c = convert_file(&path, &s);
        prop_assert_eq!(c.status, Status::Converted, "{:?} {}", c.error, json);
        let bundle = serde_json::to_string(c.bundle.as_ref().unwrap()).unwrap();
        let explained = migx::pipeline::explain_file(&path, &s).to_table(false);
        prop_assert!(!bundle.contains(&marker(7)) && !explained.contains(&marker(7)));
        let restricted = p.labels.iter().any(|(_, code)| *code != "NOSCRUB");
        let record = p
            .labels
            .iter()
            .any(|(pos, code)| *code != "NOSCRUB" && matches!(pos, SPos::Bundle | SPos::Patient));
        if restricted {
            prop_assert!(!bundle.contains(target.as_str()), "withheld target in the bundle: {:?}", p);
            if p.problem == 1 {
                prop_assert!(!bundle.contains(problem.as_deref().unwrap_or("-")), "problem naming a withheld item: {:?}", p);
            }
            prop_assert!(explained.contains("withheld: confidential"), "{}", explained);
            for line in explained.lines().filter(|l| l.contains("(from ")) {
                let from = line.rsplit("(from ").next().unwrap_or("").trim_end_matches(')');
                prop_assert!(
                    ["ehrComposition", "LinkSet", "CompoundStatement", "ObservationStatement", "MedicationStatement", "List", "Medication", "contained", "Bundle", "Patient"].contains(&from),
                    "origin {:?} is not an element name", from
                );
            }
        } else {
            let shared = bundle.contains(target.as_str())
                || problem.as_ref().is_some_and(|c| bundle.contains(c.as_str()));
            prop_assert!(shared, "shareable target missing: {:?}\n{}", p, explained);
        }
        prop_assert_eq!(bundle.contains(bystander.as_str()), !record, "bystander: {:?}\n{}", p, explained);
    }
}
