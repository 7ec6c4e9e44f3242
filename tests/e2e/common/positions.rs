//! Generated extracts of both formats with a marker placed at a chosen position: the one
//! place that lists the positions a coding (or a text) can take. Property tests pick
//! positions and markers at random; the binary sweep takes every combination. Add a position
//! here (and its template in `xml_item` / `gpconnect_item`) and every test covers it.

use std::fmt::Write as _;

pub(crate) const SCT_OID: &str = "2.16.840.1.113883.2.1.3.2.4.15";
pub(crate) const READ_OID: &str = "2.16.840.1.113883.2.1.6.2";

/// Every spelling of SNOMED CT (and an unknown system, and none: screened under every
/// listed system).
pub(crate) const SNOMED_ALIASES: [&str; 10] = [
    "2.16.840.1.113883.2.1.3.2.4.15",
    "2.16.840.1.113883.6.96",
    "urn:oid:2.16.840.1.113883.6.96",
    "URN:OID:2.16.840.1.113883.2.1.3.2.4.15",
    "http://snomed.info/sct",
    "https://snomed.info/sct/",
    "http://snomed.info/sct/83821000000107/version/20250101",
    " HTTP://SNOMED.INFO/SCT ",
    "urn:oid:1.2.826.0.1285.99.1",
    "",
];
/// Every spelling of Read v2 (and CTV3, which keeps Read v2's codes).
pub(crate) const READ_ALIASES: [&str; 6] = [
    "2.16.840.1.113883.2.1.6.2",
    "urn:oid:2.16.840.1.113883.2.1.6.2",
    "http://read.info/readv2",
    "https://read.info/readv2/",
    "http://read.info/ctv3",
    "",
];

/// What is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// A sensitive code (SNOMED 76272004 syphilis) under SNOMED alias `n`.
    SensitiveSnomed(usize),
    /// A sensitive Read code (A98..00 gonococcal infections) under Read alias `n`.
    SensitiveRead(usize),
    /// A dissent code (SNOMED 416409005) under SNOMED alias `n`.
    DissentSnomed(usize),
    /// A dissent code (Read 93C1.00) under Read alias `n`.
    DissentRead(usize),
    /// A text string in a text-bearing attribute (see [`TextPos`]).
    Text(TextPos),
}

/// Text-bearing attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextPos {
    /// `displayName` / `display` of a shared coding.
    Display,
    /// Text after a code in `code` (`H33..00 <text>`).
    CodeSuffix,
    /// Text as the `codeSystem` / `system` of a translation.
    System,
    /// Text as the practice ODS code.
    Ods,
}

pub(crate) const TEXT_POSITIONS: [TextPos; 4] = [
    TextPos::Display,
    TextPos::CodeSuffix,
    TextPos::System,
    TextPos::Ods,
];

impl Marker {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Marker::SensitiveSnomed(_) => "76272004",
            Marker::SensitiveRead(_) => "A98..00",
            Marker::DissentSnomed(_) => "416409005",
            Marker::DissentRead(_) => "93C1.00",
            Marker::Text(_) => "",
        }
    }
    pub(crate) fn system(self) -> &'static str {
        match self {
            Marker::SensitiveSnomed(n) | Marker::DissentSnomed(n) => {
                SNOMED_ALIASES[n % SNOMED_ALIASES.len()]
            }
            Marker::SensitiveRead(n) | Marker::DissentRead(n) => {
                READ_ALIASES[n % READ_ALIASES.len()]
            }
            Marker::Text(_) => "",
        }
    }
    pub(crate) fn sensitive(self) -> bool {
        matches!(self, Marker::SensitiveSnomed(_) | Marker::SensitiveRead(_))
    }
    pub(crate) fn dissent(self) -> bool {
        matches!(self, Marker::DissentSnomed(_) | Marker::DissentRead(_))
    }
    /// Strings that must never appear in any output.
    pub(crate) fn forbidden(self, text: &str) -> Vec<String> {
        match self {
            Marker::Text(_) => vec![text.to_string()],
            Marker::SensitiveRead(_) => vec!["A98..".into()],
            Marker::DissentRead(_) => vec!["93C1.".into()],
            m => vec![m.code().to_string()],
        }
    }
}

/// Every marker: each code under each alias, and each text position.
pub(crate) fn all_markers() -> Vec<Marker> {
    let mut v = Vec::new();
    for n in 0..SNOMED_ALIASES.len() {
        v.push(Marker::SensitiveSnomed(n));
        v.push(Marker::DissentSnomed(n));
    }
    for n in 0..READ_ALIASES.len() {
        v.push(Marker::SensitiveRead(n));
        v.push(Marker::DissentRead(n));
    }
    v.extend(TEXT_POSITIONS.map(Marker::Text));
    v
}

/// Coded positions in a GP2GP EhrExtract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XmlPos {
    Code,
    Translation,
    QualifierName,
    QualifierValue,
    Value,
    ValueTranslation,
    Interpretation,
    Method,
    TargetSite,
    RangeInterpretation,
    Reason,
    CompositionCode,
    BatteryMember,
    ProblemNamed,
    Consumable,
    /// Dissent only: a coding on the extract's folder, outside any statement.
    Folder,
    /// Dissent only: a NarrativeStatement (comment) with a code.
    Narrative,
}

pub(crate) const XML_POSITIONS: [XmlPos; 17] = [
    XmlPos::Code,
    XmlPos::Translation,
    XmlPos::QualifierName,
    XmlPos::QualifierValue,
    XmlPos::Value,
    XmlPos::ValueTranslation,
    XmlPos::Interpretation,
    XmlPos::Method,
    XmlPos::TargetSite,
    XmlPos::RangeInterpretation,
    XmlPos::Reason,
    XmlPos::CompositionCode,
    XmlPos::BatteryMember,
    XmlPos::ProblemNamed,
    XmlPos::Consumable,
    XmlPos::Folder,
    XmlPos::Narrative,
];

/// Coded positions in a GP Connect STU3 bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonPos {
    ObsCode,
    ObsCodeExtra,
    ObsValue,
    ObsInterpretation,
    ObsMethod,
    ObsBodySite,
    ObsCategory,
    ObsComponent,
    ObsRangeAppliesTo,
    ObsExtension,
    ObsContained,
    ConditionCode,
    EncounterType,
    TopicListCode,
    ReportCode,
    MedicationCode,
    MedicationReason,
    AllergyCode,
    AllergyReaction,
    /// A reaction's `exposureRoute`.
    AllergyReactionRoute,
    /// A dose instruction's `route`.
    DoseRoute,
    /// A dose instruction's `additionalInstruction`.
    DoseAdditionalInstruction,
    /// A dose instruction's `asNeededCodeableConcept`.
    DoseAsNeeded,
    /// Dissent only: a Consent resource.
    ConsentResource,
    /// Dissent only: a List outside any consultation.
    OtherList,
    /// Dissent only: a comment-note Observation.
    CommentNote,
}

pub(crate) const JSON_POSITIONS: [JsonPos; 26] = [
    JsonPos::ObsCode,
    JsonPos::ObsCodeExtra,
    JsonPos::ObsValue,
    JsonPos::ObsInterpretation,
    JsonPos::ObsMethod,
    JsonPos::ObsBodySite,
    JsonPos::ObsCategory,
    JsonPos::ObsComponent,
    JsonPos::ObsRangeAppliesTo,
    JsonPos::ObsExtension,
    JsonPos::ObsContained,
    JsonPos::ConditionCode,
    JsonPos::EncounterType,
    JsonPos::TopicListCode,
    JsonPos::ReportCode,
    JsonPos::MedicationCode,
    JsonPos::MedicationReason,
    JsonPos::AllergyCode,
    JsonPos::AllergyReaction,
    JsonPos::AllergyReactionRoute,
    JsonPos::DoseRoute,
    JsonPos::DoseAdditionalInstruction,
    JsonPos::DoseAsNeeded,
    JsonPos::ConsentResource,
    JsonPos::OtherList,
    JsonPos::CommentNote,
];

/// Whether a position can carry a sensitive marker with an item to withhold (the others are
/// record-level: only dissent and text are placed there).
pub(crate) fn xml_has_victim(p: XmlPos) -> bool {
    !matches!(p, XmlPos::Folder | XmlPos::Narrative)
}
pub(crate) fn json_has_victim(p: JsonPos) -> bool {
    !matches!(
        p,
        JsonPos::ConsentResource | JsonPos::OtherList | JsonPos::CommentNote
    )
}

/// One placement: a marker at a position, in the item numbered `n` of the extract.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placement<P> {
    pub pos: P,
    pub marker: Marker,
}

/// A generated extract: its bytes, the ids that must not be in the bundle (items carrying a
/// sensitive marker), the ids that must be (benign items), and the strings that must never
/// appear anywhere.
pub(crate) struct Generated {
    pub bytes: Vec<u8>,
    pub withheld_ids: Vec<String>,
    pub shared_ids: Vec<String>,
    pub forbidden: Vec<String>,
    pub dissent: bool,
}

pub(crate) fn uuid(n: usize, salt: u32) -> String {
    format!("{:08x}-{:04x}-4000-8000-{:012x}", salt, n, n * 7 + 1)
}

pub(crate) fn text_marker(n: usize, salt: u32) -> String {
    format!("PROP MARK {salt} {n} Xq")
}

fn x(s: &str) -> String {
    s.trim().to_string()
}

// ------------------------------------------------------------------------------ XML

/// A coding element `<{tag} code=.. codeSystem=../>`, the system attribute left out when the
/// alias is empty.
fn xml_cd(tag: &str, code: &str, system: &str, extra_attrs: &str, body: &str) -> String {
    let sys = if system.is_empty() {
        String::new()
    } else {
        format!(r#" codeSystem="{system}""#)
    };
    if body.is_empty() {
        format!(r#"<{tag} code="{code}"{sys}{extra_attrs}/>"#)
    } else {
        format!(r#"<{tag} code="{code}"{sys}{extra_attrs}>{body}</{tag}>"#)
    }
}

fn xml_obs(id: &str, code: &str, after_code: &str, after_avail: &str) -> String {
    format!(
        r#"<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{id}"/>{code}{after_code}<statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/>{after_avail}</ObservationStatement></component>"#
    )
}

/// The benign code of a diagnosis (Read H33..00 asthma + SNOMED 195967001), with optional
/// inner elements (translations, qualifiers) and display.
fn benign_code(inner: &str, display: &str) -> String {
    let d = if display.is_empty() {
        String::new()
    } else {
        format!(r#" displayName="{display}""#)
    };
    format!(
        r#"<code code="H33..00" codeSystem="{READ_OID}"{d}><translation code="195967001" codeSystem="{SCT_OID}"/>{inner}</code>"#
    )
}

fn xml_composition(id: &str, code: &str, body: &str) -> String {
    format!(
        r#"<component typeCode="COMP"><ehrComposition classCode="COMPOSITION" moodCode="EVN"><id root="{id}"/>{code}<statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/>{body}</ehrComposition></component>"#
    )
}

/// One item of an XML extract carrying `m` at `p` (or a benign diagnosis when `m` is
/// `None`); returns (composition, folder codings, ODS override, withheld ids, shared ids).
#[allow(clippy::type_complexity)]
fn xml_item(
    n: usize,
    salt: u32,
    placed: Option<Placement<XmlPos>>,
) -> (String, String, Option<String>, Vec<String>, Vec<String>) {
    let id = uuid(n * 8 + 1, salt);
    let comp = uuid(n * 8 + 2, salt);
    let other = uuid(n * 8 + 3, salt);
    let auth = uuid(n * 8 + 4, salt);
    let text = text_marker(n, salt);
    let Some(Placement { pos, marker }) = placed else {
        return (
            xml_composition(&comp, "", &xml_obs(&id, &benign_code("", ""), "", "")),
            String::new(),
            None,
            vec![],
            vec![id],
        );
    };
    // The marker coding (or, for text markers, the benign coding with text in it).
    let (mc, ms) = (marker.code(), marker.system());
    let m = |tag: &str| xml_cd(tag, mc, x(ms).as_str(), "", "");
    let mut folder = String::new();
    let mut ods = None;
    let mut withheld = vec![id.clone()];
    let mut shared = vec![];
    if let Marker::Text(tp) = marker {
        withheld.clear();
        let (code, comp_body) = match tp {
            TextPos::Display => (benign_code("", &text), String::new()),
            TextPos::CodeSuffix => (
                format!(
                    r#"<code code="H33..00 {text}" codeSystem="{READ_OID}"><translation code="195967001" codeSystem="{SCT_OID}"/></code>"#
                ),
                String::new(),
            ),
            TextPos::System => (
                benign_code(
                    &format!(r#"<translation code="H33..00" codeSystem="{text}"/>"#),
                    "",
                ),
                String::new(),
            ),
            TextPos::Ods => {
                ods = Some(text.clone());
                (benign_code("", ""), String::new())
            }
        };
        let _ = comp_body;
        shared.push(id.clone());
        let obs = xml_obs(&id, &code, "", "");
        return (
            xml_composition(&comp, "", &obs),
            folder,
            ods,
            withheld,
            shared,
        );
    }
    let body = match pos {
        XmlPos::Code => xml_obs(&id, &m("code"), "", ""),
        XmlPos::Translation => xml_obs(&id, &benign_code(&m("translation"), ""), "", ""),
        XmlPos::QualifierName => xml_obs(
            &id,
            &benign_code(&format!("<qualifier>{}</qualifier>", m("name")), ""),
            "",
            "",
        ),
        XmlPos::QualifierValue => xml_obs(
            &id,
            &benign_code(
                &format!(
                    r#"<qualifier><name code="386134007" codeSystem="{SCT_OID}"/>{}</qualifier>"#,
                    m("value")
                ),
                "",
            ),
            "",
            "",
        ),
        XmlPos::Value => xml_obs(
            &id,
            &benign_code("", ""),
            "",
            &xml_cd("value", mc, x(ms).as_str(), r#" xsi:type="CD""#, ""),
        ),
        XmlPos::ValueTranslation => xml_obs(
            &id,
            &benign_code("", ""),
            "",
            &format!(
                r#"<value xsi:type="CD" code="373066001" codeSystem="{SCT_OID}">{}</value>"#,
                m("translation")
            ),
        ),
        XmlPos::Interpretation => xml_obs(&id, &benign_code("", ""), "", &m("interpretationCode")),
        XmlPos::Method => xml_obs(&id, &benign_code("", ""), "", &m("methodCode")),
        XmlPos::TargetSite => xml_obs(&id, &benign_code("", ""), "", &m("targetSiteCode")),
        XmlPos::RangeInterpretation => xml_obs(
            &id,
            &benign_code("", ""),
            "",
            &format!(
                "<referenceRange><referenceInterpretationRange>{}</referenceInterpretationRange></referenceRange>",
                m("interpretationCode")
            ),
        ),
        XmlPos::Reason => xml_obs(
            &id,
            &benign_code("", ""),
            "",
            &format!(
                r#"<reason typeCode="RSON"><justifyingObservation classCode="OBS" moodCode="EVN">{}</justifyingObservation></reason>"#,
                m("code")
            ),
        ),
        XmlPos::CompositionCode => {
            let obs = xml_obs(&id, &benign_code("", ""), "", "");
            return (xml_composition(&comp, &m("code"), &obs), folder, ods, withheld, shared);
        }
        XmlPos::BatteryMember => {
            // A battery of a benign result and the marked one: the marked one goes.
            let benign = xml_obs(&other, &benign_code("", ""), "", "");
            let marked = xml_obs(&id, &m("code"), "", "");
            format!(
                r#"<component typeCode="COMP"><CompoundStatement classCode="BATTERY" moodCode="EVN"><id root="{auth}"/><code code="44J3.00" codeSystem="{READ_OID}"/><statusCode code="COMPLETE"/><effectiveTime><center value="20260301"/></effectiveTime><availabilityTime value="20260301"/>{benign}{marked}</CompoundStatement></component>"#
            )
        }
        XmlPos::ProblemNamed => {
            withheld.push(other.clone());
            let named = xml_obs(&id, &m("code"), "", "");
            format!(
                r#"{named}<component typeCode="COMP"><LinkSet classCode="OBS" moodCode="EVN"><id root="{other}"/><code code="394774009" codeSystem="{SCT_OID}"/><statusCode code="COMPLETE"/><effectiveTime><low value="20250101"/></effectiveTime><availabilityTime value="20250101"/><conditionNamed typeCode="NAME" inversionInd="true"><namedStatementRef classCode="OBS" moodCode="EVN"><id root="{id}"/></namedStatementRef></conditionNamed></LinkSet></component>"#
            )
        }
        XmlPos::Consumable => {
            withheld.push(auth.clone());
            format!(
                r#"<component typeCode="COMP"><MedicationStatement classCode="SBADM" moodCode="INT"><id root="{id}"/><statusCode code="ACTIVE"/><effectiveTime><low value="20260101"/></effectiveTime><availabilityTime value="20260101"/><consumable typeCode="CSM"><manufacturedProduct classCode="MANU"><manufacturedMaterial classCode="MMAT" determinerCode="KIND"><code code="ATTA2082NEMIS" codeSystem="2.16.840.1.113883.2.1.6.9">{}</code></manufacturedMaterial></manufacturedProduct></consumable><component typeCode="COMP"><ehrSupplyAuthorise classCode="SPLY" moodCode="INT"><id root="{auth}"/><statusCode code="ACTIVE"/><effectiveTime><low value="20260101"/></effectiveTime><availabilityTime value="20260101"/><repeatNumber value="6"/><quantity value="28" unit="1"/></ehrSupplyAuthorise></component></MedicationStatement></component>"#,
                m("translation")
            )
        }
        XmlPos::Folder => {
            withheld.clear();
            folder = m("code");
            shared.push(id.clone());
            xml_obs(&id, &benign_code("", ""), "", "")
        }
        XmlPos::Narrative => {
            withheld.clear();
            format!(
                r#"<component typeCode="COMP"><NarrativeStatement classCode="OBS" moodCode="EVN"><id root="{id}"/>{}<text>note</text><statusCode code="COMPLETE"/><availabilityTime value="20260301"/></NarrativeStatement></component>"#,
                m("code")
            )
        }
    };
    (
        xml_composition(&comp, "", &body),
        folder,
        ods,
        withheld,
        shared,
    )
}

/// An XML extract of `n_items` benign diagnoses with `placements` on the first items.
pub(crate) fn xml_extract(
    n_items: usize,
    placements: &[Placement<XmlPos>],
    salt: u32,
) -> Generated {
    let mut body = String::new();
    let mut folder = String::new();
    let mut ods = "A12345".to_string();
    let mut g = Generated {
        bytes: vec![],
        withheld_ids: vec![],
        shared_ids: vec![],
        forbidden: vec![],
        dissent: false,
    };
    for n in 0..n_items.max(placements.len()) {
        let placed = placements.get(n).copied();
        let (c, f, o, w, s) = xml_item(n, salt, placed);
        body.push_str(&c);
        folder.push_str(&f);
        if let Some(o) = o {
            ods = o;
        }
        if let Some(p) = placed {
            g.forbidden
                .extend(p.marker.forbidden(&text_marker(n, salt)));
            g.dissent |= p.marker.dissent();
            if p.marker.sensitive() {
                g.withheld_ids.extend(w);
            } else {
                g.shared_ids.extend(s);
            }
        } else {
            g.shared_ids.extend(s);
        }
    }
    let mut xml = String::new();
    let _ = write!(
        xml,
        r#"<?xml version="1.0" encoding="UTF-8"?><RCMR_IN030000UK07 xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><id root="{}"/><creationTime value="20260314100000"/><ControlActEvent classCode="CACT" moodCode="EVN"><subject typeCode="SUBJ"><EhrExtract classCode="EXTRACT" moodCode="EVN"><id root="{}"/><availabilityTime value="20260314100000"/><recordTarget typeCode="RCT"><patient classCode="PAT"><id root="2.16.840.1.113883.2.1.4.1" extension="9000000009"/></patient></recordTarget><author typeCode="AUT"><AgentOrgSDS classCode="AGNT"><agentOrganizationSDS classCode="ORG" determinerCode="INSTANCE"><id root="1.2.826.0.1285.0.1.10" extension="{ods}"/></agentOrganizationSDS></AgentOrgSDS></author><component typeCode="COMP"><ehrFolder classCode="FOLDER" moodCode="EVN"><id root="{}"/>{folder}{body}</ehrFolder></component></EhrExtract></subject></ControlActEvent></RCMR_IN030000UK07>"#,
        uuid(90001, salt),
        uuid(90002, salt),
        uuid(90003, salt)
    );
    g.bytes = xml.into_bytes();
    g
}

// ------------------------------------------------------------------------------ STU3

fn coding(code: &str, system: &str, display: Option<&str>) -> serde_json::Value {
    let mut c = serde_json::Map::new();
    let system = system.trim();
    if !system.is_empty() {
        c.insert("system".into(), system.into());
    }
    c.insert("code".into(), code.into());
    if let Some(d) = display {
        c.insert("display".into(), d.into());
    }
    serde_json::Value::Object(c)
}

fn cc(codings: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({ "coding": codings })
}

fn benign_cc() -> serde_json::Value {
    cc(vec![
        coding("H33..00", "http://read.info/readv2", None),
        coding("195967001", "http://snomed.info/sct", None),
    ])
}

fn gpconnect_obs(id: &str, code: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "code": code, "subject": { "reference": "Patient/p1" },
        "effectiveDateTime": "2026-03-01", "issued": "2026-03-01T10:00:00+00:00"
    })
}

/// The resources of one STU3 item (the first is listed in its consultation), the withheld
/// and shared ids, and an ODS override.
#[allow(clippy::type_complexity)]
fn gpconnect_item(
    n: usize,
    salt: u32,
    placed: Option<Placement<JsonPos>>,
) -> (
    Vec<serde_json::Value>,
    Option<serde_json::Value>,
    Vec<String>,
    Vec<String>,
    Option<String>,
) {
    use serde_json::json;
    let id = uuid(n * 8 + 1, salt);
    let other = uuid(n * 8 + 3, salt);
    let text = text_marker(n, salt);
    let Some(Placement { pos, marker }) = placed else {
        return (
            vec![gpconnect_obs(&id, benign_cc())],
            None,
            vec![],
            vec![id],
            None,
        );
    };
    let m = coding(marker.code(), marker.system(), None);
    let mut withheld = vec![id.clone()];
    if let Marker::Text(tp) = marker {
        let (code, ods) = match tp {
            TextPos::Display => (
                cc(vec![
                    coding("H33..00", "http://read.info/readv2", Some(&text)),
                    coding("195967001", "http://snomed.info/sct", Some(&text)),
                ]),
                None,
            ),
            TextPos::CodeSuffix => (
                cc(vec![
                    coding(&format!("H33..00 {text}"), "http://read.info/readv2", None),
                    coding("195967001", "http://snomed.info/sct", None),
                ]),
                None,
            ),
            TextPos::System => (
                cc(vec![
                    coding("H33..00", &text, None),
                    coding("195967001", "http://snomed.info/sct", None),
                ]),
                None,
            ),
            TextPos::Ods => (benign_cc(), Some(text.clone())),
        };
        return (vec![gpconnect_obs(&id, code)], None, vec![], vec![id], ods);
    }
    let mut obs = gpconnect_obs(&id, benign_cc());
    let mut encounter_type = None;
    let mut res = Vec::new();
    match pos {
        JsonPos::ObsCode => obs["code"] = cc(vec![m]),
        JsonPos::ObsCodeExtra => obs["code"]["coding"].as_array_mut().expect("array").push(m),
        JsonPos::ObsValue => obs["valueCodeableConcept"] = cc(vec![m]),
        JsonPos::ObsInterpretation => obs["interpretation"] = cc(vec![m]),
        JsonPos::ObsMethod => obs["method"] = cc(vec![m]),
        JsonPos::ObsBodySite => obs["bodySite"] = cc(vec![m]),
        JsonPos::ObsCategory => obs["category"] = json!([cc(vec![m])]),
        JsonPos::ObsComponent => {
            obs["component"] = json!([{ "code": cc(vec![m]), "valueQuantity": { "value": 1 } }])
        }
        JsonPos::ObsRangeAppliesTo => {
            obs["referenceRange"] = json!([{ "low": { "value": 1 }, "appliesTo": [cc(vec![m])] }])
        }
        JsonPos::ObsExtension => {
            obs["extension"] =
                json!([{ "url": "https://example.org/ext", "valueCodeableConcept": cc(vec![m]) }])
        }
        JsonPos::ObsContained => {
            obs["contained"] = json!([{ "resourceType": "Observation", "id": "c1", "status": "final", "code": cc(vec![m]) }])
        }
        JsonPos::ConditionCode => {
            // A Condition coded with the marker whose actualProblem is the benign observation.
            withheld = vec![other.clone()];
            res.push(json!({
                "resourceType": "Condition", "id": other, "clinicalStatus": "active",
                "verificationStatus": "confirmed",
                "code": cc(vec![m]), "subject": { "reference": "Patient/p1" },
                "assertedDate": "2026-03-01",
                "extension": [{ "url": "https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-ActualProblem-1",
                                "valueReference": { "reference": format!("Observation/{id}") } }]
            }));
        }
        JsonPos::EncounterType => encounter_type = Some(cc(vec![m])),
        JsonPos::TopicListCode => {
            // A topic sub-list coded with the marker, inside the consultation.
            return (
                vec![
                    obs,
                    json!({ "resourceType": "List", "id": other, "status": "current", "mode": "snapshot",
                            "code": cc(vec![m]), "entry": [{ "item": { "reference": format!("Observation/{id}") } }] }),
                ],
                None,
                withheld,
                vec![],
                None,
            );
        }
        JsonPos::ReportCode => {
            obs["valueQuantity"] = json!({ "value": 5.4, "unit": "mmol/L" });
            withheld.push(other.clone());
            res.push(json!({
                "resourceType": "DiagnosticReport", "id": other, "status": "final",
                "code": cc(vec![m]), "subject": { "reference": "Patient/p1" },
                "issued": "2026-03-01T10:00:00+00:00",
                "result": [{ "reference": format!("Observation/{id}") }]
            }));
        }
        JsonPos::MedicationCode
        | JsonPos::MedicationReason
        | JsonPos::DoseRoute
        | JsonPos::DoseAdditionalInstruction
        | JsonPos::DoseAsNeeded => {
            let med = uuid(n * 8 + 5, salt);
            let drug = if pos == JsonPos::MedicationCode {
                cc(vec![
                    coding(
                        "ATTA2082NEMIS",
                        "https://fhir.hl7.org.uk/Id/emis-drug-codes",
                        None,
                    ),
                    m.clone(),
                ])
            } else {
                cc(vec![coding(
                    "ATTA2082NEMIS",
                    "https://fhir.hl7.org.uk/Id/emis-drug-codes",
                    None,
                )])
            };
            let mut plan = json!({
                "resourceType": "MedicationRequest", "id": id, "status": "active", "intent": "plan",
                "medicationReference": { "reference": format!("Medication/{med}") },
                "subject": { "reference": "Patient/p1" }, "authoredOn": "2026-01-01",
                "dispenseRequest": { "validityPeriod": { "start": "2026-01-01" } }
            });
            match pos {
                JsonPos::MedicationReason => plan["reasonCode"] = json!([cc(vec![m])]),
                JsonPos::DoseRoute => {
                    plan["dosageInstruction"] =
                        json!([{ "text": "One daily", "route": cc(vec![m]) }])
                }
                JsonPos::DoseAdditionalInstruction => {
                    plan["dosageInstruction"] =
                        json!([{ "text": "One daily", "additionalInstruction": [cc(vec![m])] }])
                }
                JsonPos::DoseAsNeeded => {
                    plan["dosageInstruction"] =
                        json!([{ "text": "One daily", "asNeededCodeableConcept": cc(vec![m]) }])
                }
                _ => {}
            }
            return (
                vec![
                    plan,
                    json!({ "resourceType": "Medication", "id": med, "code": drug }),
                ],
                None,
                withheld,
                vec![],
                None,
            );
        }
        JsonPos::AllergyCode | JsonPos::AllergyReaction | JsonPos::AllergyReactionRoute => {
            let mut a = json!({
                "resourceType": "AllergyIntolerance", "id": id, "clinicalStatus": "active",
                "verificationStatus": "confirmed", "category": ["medication"],
                "code": cc(vec![coding("293586001", "http://snomed.info/sct", None)]),
                "patient": { "reference": "Patient/p1" }, "assertedDate": "2026-03-01"
            });
            match pos {
                JsonPos::AllergyCode => a["code"]["coding"].as_array_mut().expect("array").push(m),
                JsonPos::AllergyReaction => {
                    a["reaction"] = json!([{ "manifestation": [cc(vec![m])] }])
                }
                _ => {
                    a["reaction"] = json!([{
                        "manifestation": [cc(vec![coding("271807003", "http://snomed.info/sct", None)])],
                        "exposureRoute": cc(vec![m])
                    }])
                }
            }
            return (vec![a], None, withheld, vec![], None);
        }
        JsonPos::ConsentResource => {
            return (
                vec![
                    obs,
                    json!({ "resourceType": "Consent", "id": other, "status": "active",
                            "patient": { "reference": "Patient/p1" }, "category": [cc(vec![m])] }),
                ],
                None,
                vec![],
                vec![id],
                None,
            );
        }
        JsonPos::OtherList => {
            return (
                vec![
                    obs,
                    json!({ "resourceType": "List", "id": other, "status": "current", "mode": "snapshot",
                            "code": cc(vec![m]) }),
                ],
                None,
                vec![],
                vec![id],
                None,
            );
        }
        JsonPos::CommentNote => {
            return (
                vec![
                    obs,
                    gpconnect_obs(
                        &other,
                        cc(vec![
                            coding("37331000000100", "http://snomed.info/sct", None),
                            m,
                        ]),
                    ),
                ],
                None,
                vec![],
                vec![id],
                None,
            );
        }
    }
    let mut v = vec![obs];
    v.extend(res);
    (v, encounter_type, withheld, vec![], None)
}

/// A GP Connect STU3 bundle: one Encounter (and consultation List) per item.
pub(crate) fn gpconnect_extract(
    n_items: usize,
    placements: &[Placement<JsonPos>],
    salt: u32,
) -> Generated {
    use serde_json::json;
    let mut entries = vec![];
    let mut ods = "A12345".to_string();
    let mut g = Generated {
        bytes: vec![],
        withheld_ids: vec![],
        shared_ids: vec![],
        forbidden: vec![],
        dissent: false,
    };
    for n in 0..n_items.max(placements.len()) {
        let placed = placements.get(n).copied();
        let (resources, enc_type, w, s, o) = gpconnect_item(n, salt, placed);
        if let Some(o) = o {
            ods = o;
        }
        let enc = uuid(n * 8 + 6, salt);
        let list = uuid(n * 8 + 7, salt);
        let first = format!(
            "{}/{}",
            resources[0]["resourceType"]
                .as_str()
                .unwrap_or("Observation"),
            resources[0]["id"].as_str().unwrap_or("")
        );
        let mut e = json!({ "resourceType": "Encounter", "id": enc, "status": "finished",
                            "subject": { "reference": "Patient/p1" },
                            "period": { "start": "2026-03-01T09:00:00+00:00" } });
        if let Some(t) = enc_type {
            e["type"] = json!([t]);
        }
        entries.push(json!({ "resource": e }));
        let mut items = vec![json!({ "item": { "reference": first } })];
        if let Some(l) = resources
            .iter()
            .skip(1)
            .find(|r| r["resourceType"] == "List" && r.get("entry").is_some())
        {
            items = vec![
                json!({ "item": { "reference": format!("List/{}", l["id"].as_str().unwrap_or("")) } }),
            ];
        }
        entries.push(json!({ "resource": {
            "resourceType": "List", "id": list, "status": "current", "mode": "snapshot",
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "325851000000107" }] },
            "encounter": { "reference": format!("Encounter/{enc}") },
            "entry": items
        }}));
        for r in resources {
            entries.push(json!({ "resource": r }));
        }
        if let Some(p) = placed {
            g.forbidden
                .extend(p.marker.forbidden(&text_marker(n, salt)));
            g.dissent |= p.marker.dissent();
            if p.marker.sensitive() {
                g.withheld_ids.extend(w);
            } else {
                g.shared_ids.extend(s);
            }
        } else {
            g.shared_ids.extend(s);
        }
    }
    let mut all = vec![
        json!({ "resource": { "resourceType": "Patient", "id": "p1",
            "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009" }],
            "managingOrganization": { "reference": "Organization/o1" } } }),
        json!({ "resource": { "resourceType": "Organization", "id": "o1",
            "identifier": [{ "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": ods }] } }),
    ];
    all.extend(entries);
    let bundle = json!({
        "resourceType": "Bundle", "id": uuid(90001, salt), "type": "collection",
        "meta": { "lastUpdated": "2026-03-14T10:00:00+00:00",
                  "profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-StructuredRecord-Bundle-1"] },
        "entry": all
    });
    g.bytes = serde_json::to_vec_pretty(&bundle).unwrap_or_default();
    g
}
