//! FHIR R4 data types, as far as migx writes them. Fields are declared in the order migx
//! writes them and left out when absent or empty, so the serialised bytes are exactly the
//! output (`serde_json` keeps field order).

use serde::Serialize;

/// A string migx fixes (a system URI, a code: held as a reference to the constant) or one
/// it copies from the extract (held inline up to 24 bytes, as most codes and display terms
/// are: no allocation each).
pub type Text = compact_str::CompactString;

/// `Coding`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coding {
    /// `extension` (the SNOMED CT description id, `coding-sctdescid`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// `system`.
    pub system: Text,
    /// `code`.
    pub code: Text,
    /// `display`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<Text>,
}

impl Coding {
    /// A coding of a system and code migx fixes.
    pub fn fixed(system: &'static str, code: &'static str) -> Coding {
        Coding {
            extension: Vec::new(),
            system: Text::const_new(system),
            code: Text::const_new(code),
            display: None,
        }
    }

    /// A coding of a system, code and display migx fixes.
    pub fn displayed(system: &'static str, code: &'static str, display: &'static str) -> Coding {
        Coding {
            display: Some(Text::const_new(display)),
            ..Coding::fixed(system, code)
        }
    }
}

/// `CodeableConcept`. `coding` is written whenever it is `Some`, even empty (as migx has
/// always written a concept whose codings were all screened out).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CodeableConcept {
    /// `coding`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coding: Option<Vec<Coding>>,
    /// `text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}

impl CodeableConcept {
    /// A concept of the given codings.
    pub fn of(coding: Vec<Coding>) -> CodeableConcept {
        CodeableConcept {
            coding: Some(coding),
            text: None,
        }
    }

    /// A concept of one coding.
    pub fn one(coding: Coding) -> CodeableConcept {
        CodeableConcept::of(vec![coding])
    }

    /// The concept's codings (none when it has only text).
    pub fn codings(&self) -> &[Coding] {
        self.coding.as_deref().unwrap_or(&[])
    }
}

/// `Reference` (with the `identifier` and `display` forms the Provenance and AuditEvent use).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Reference {
    /// `reference` (a bundle `fullUrl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `identifier`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    /// `display`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    /// A reference to a bundle entry by its `fullUrl`.
    pub fn to(full_url: impl Into<String>) -> Reference {
        Reference {
            reference: Some(full_url.into()),
            ..Reference::default()
        }
    }

    /// A reference that only names (`display`).
    pub fn display(text: impl Into<String>) -> Reference {
        Reference {
            display: Some(text.into()),
            ..Reference::default()
        }
    }
}

/// `Identifier`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identifier {
    /// `system` (always one migx fixes).
    pub system: &'static str,
    /// `value`.
    pub value: String,
}

impl Identifier {
    /// An identifier in `system`.
    pub fn new(system: &'static str, value: impl Into<String>) -> Identifier {
        Identifier {
            system,
            value: value.into(),
        }
    }
}

/// `Meta`: the UK Core profile and any security labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meta {
    /// `profile`: the resource's one UK Core profile.
    pub profile: [Text; 1],
    /// `security`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security: Vec<Coding>,
}

impl Meta {
    /// The UK Core profile of a resource type (`UKCore-<ty>`): a constant for each type
    /// migx writes (no allocation per resource), made for any other.
    pub fn ukcore(ty: &str) -> Meta {
        let profile = match ukcore_profile(ty) {
            Some(url) => Text::const_new(url),
            None => Text::from(format!("{}{ty}", super::super::UKCORE)),
        };
        Meta {
            profile: [profile],
            security: Vec::new(),
        }
    }
}

/// The profile URL of each resource type migx writes (`UKCORE` + the type).
fn ukcore_profile(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "AllergyIntolerance" => {
            "https://fhir.hl7.org.uk/StructureDefinition/UKCore-AllergyIntolerance"
        }
        "AuditEvent" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-AuditEvent",
        "Bundle" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Bundle",
        "Condition" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Condition",
        "Consent" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Consent",
        "DiagnosticReport" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-DiagnosticReport",
        "Flag" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Flag",
        "Immunization" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Immunization",
        "List" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-List",
        "MedicationRequest" => {
            "https://fhir.hl7.org.uk/StructureDefinition/UKCore-MedicationRequest"
        }
        "MedicationStatement" => {
            "https://fhir.hl7.org.uk/StructureDefinition/UKCore-MedicationStatement"
        }
        "Observation" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation",
        "Organization" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Organization",
        "Patient" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient",
        "Practitioner" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Practitioner",
        "PractitionerRole" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-PractitionerRole",
        "Procedure" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Procedure",
        "Provenance" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Provenance",
        "Specimen" => "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Specimen",
        _ => return None,
    })
}

/// The one `value[x]` of an extension, as migx writes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ExtensionValue {
    /// `valueId`.
    #[serde(rename = "valueId")]
    Id(String),
    /// `valueCode`.
    #[serde(rename = "valueCode")]
    Code(&'static str),
    /// `valueDateTime`.
    #[serde(rename = "valueDateTime")]
    DateTime(String),
    /// `valueUnsignedInt`.
    #[serde(rename = "valueUnsignedInt")]
    UnsignedInt(u32),
    /// `valueReference`.
    #[serde(rename = "valueReference")]
    Reference(Reference),
    /// `valueCodeableConcept`.
    #[serde(rename = "valueCodeableConcept")]
    CodeableConcept(CodeableConcept),
}

/// `Extension`: its url, one `value[x]` or nested extensions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extension {
    /// `url`.
    pub url: &'static str,
    /// `value[x]`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub value: Option<ExtensionValue>,
    /// `extension` (a complex extension's parts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
}

impl Extension {
    /// An extension with a value.
    pub fn value(url: &'static str, value: ExtensionValue) -> Extension {
        Extension {
            url,
            value: Some(value),
            extension: Vec::new(),
        }
    }

    /// A complex extension of parts.
    pub fn parts(url: &'static str, extension: Vec<Extension>) -> Extension {
        Extension {
            url,
            value: None,
            extension,
        }
    }
}

/// A primitive element's extensions only (`_allowedBoolean`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrimitiveExtension {
    /// `extension`.
    pub extension: Vec<Extension>,
}

/// A FHIR `decimal` as migx writes it: a whole number written without a point is an
/// integer, anything else a floating-point number.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Decimal {
    /// A whole number.
    Integer(i64),
    /// Any other number.
    Float(f64),
}

impl Decimal {
    /// The number a decimal string means; `None` when it is not a plain finite number.
    pub fn parse(value: &str) -> Option<Decimal> {
        let v = value.trim();
        let n: f64 = v.parse().ok()?;
        if !n.is_finite() {
            return None;
        }
        Some(if n.fract() == 0.0 && n.abs() < 1e15 && !v.contains('.') {
            Decimal::Integer(n as i64)
        } else {
            Decimal::Float(n)
        })
    }
}

/// `Quantity`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantity {
    /// `value`.
    pub value: Decimal,
    /// `unit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `system` (UCUM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<&'static str>,
    /// `code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `Range` (also the shape of `Observation.referenceRange` as migx writes it).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Range {
    /// `low`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<Quantity>,
    /// `high`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<Quantity>,
}

impl Range {
    /// A range with neither end (not written).
    pub fn is_empty(&self) -> bool {
        self.low.is_none() && self.high.is_none()
    }
}

/// `Period`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Period {
    /// `start`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// `end`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

impl Period {
    /// A period with neither end (not written).
    pub fn is_empty(&self) -> bool {
        self.start.is_none() && self.end.is_none()
    }
}

/// `HumanName`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct HumanName {
    /// `family`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// `given`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
    /// `prefix`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefix: Vec<String>,
}

/// `Timing.repeat`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimingRepeat {
    /// `frequency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency: Option<u32>,
    /// `period`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Decimal>,
    /// `periodUnit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_unit: Option<&'static str>,
}

impl TimingRepeat {
    /// Nothing to say (not written).
    pub fn is_empty(&self) -> bool {
        self.frequency.is_none() && self.period.is_none() && self.period_unit.is_none()
    }
}

/// `Timing`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timing {
    /// `repeat`.
    pub repeat: TimingRepeat,
}

/// `Dosage.asNeeded[x]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AsNeeded {
    /// `asNeededCodeableConcept`.
    AsNeededCodeableConcept(CodeableConcept),
    /// `asNeededBoolean`.
    AsNeededBoolean(bool),
}

/// `Dosage.doseAndRate`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoseAndRate {
    /// `doseQuantity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dose_quantity: Option<Quantity>,
    /// `doseRange`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dose_range: Option<Range>,
}

/// `Dosage`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dosage {
    /// `text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `additionalInstruction`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_instruction: Vec<CodeableConcept>,
    /// `timing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
    /// `asNeeded[x]`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub as_needed: Option<AsNeeded>,
    /// `route`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<CodeableConcept>,
    /// `doseAndRate`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dose_and_rate: Vec<DoseAndRate>,
}

impl Dosage {
    /// Nothing to say (not written).
    pub fn is_empty(&self) -> bool {
        self == &Dosage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type migx writes has its profile as a constant, the URL made the way any other
    /// type's is.
    #[test]
    fn each_written_type_has_its_ukcore_profile_as_a_constant() {
        let written = crate::validate::schemas::COMMON_TYPES
            .iter()
            .chain(&["Bundle", "AuditEvent"]);
        for ty in written {
            let p = &Meta::ukcore(ty).profile[0];
            assert!(p.as_static_str().is_some(), "{ty}");
            assert_eq!(p.as_str(), format!("{}{ty}", crate::fhir::UKCORE));
        }
        let other = &Meta::ukcore("Encounter").profile[0];
        assert!(other.as_static_str().is_none());
        assert_eq!(other.as_str(), format!("{}Encounter", crate::fhir::UKCORE));
    }
    use serde_json::json;

    #[test]
    fn a_whole_number_written_without_a_point_is_an_integer() {
        assert_eq!(Decimal::parse("5"), Some(Decimal::Integer(5)));
        assert_eq!(Decimal::parse(" -12 "), Some(Decimal::Integer(-12)));
        assert_eq!(Decimal::parse("5.0"), Some(Decimal::Float(5.0)));
        assert_eq!(Decimal::parse("1e3"), Some(Decimal::Integer(1000)));
        assert_eq!(Decimal::parse("0.25"), Some(Decimal::Float(0.25)));
        assert_eq!(Decimal::parse("NaN"), None);
        assert_eq!(Decimal::parse("inf"), None);
        assert_eq!(Decimal::parse("5 mg"), None);
        // Serialised exactly as a JSON value of the same number would be.
        for (s, v) in [("5", json!(5)), ("5.0", json!(5.0)), ("0.1", json!(0.1))] {
            let d = Decimal::parse(s).unwrap();
            assert_eq!(
                serde_json::to_string(&d).unwrap(),
                serde_json::to_string(&v).unwrap()
            );
        }
    }

    #[test]
    fn an_extension_writes_its_url_then_its_one_value_or_its_parts() {
        let e = Extension::parts(
            "outer",
            vec![
                Extension::value("a", ExtensionValue::UnsignedInt(3)),
                Extension::value("b", ExtensionValue::DateTime("2020".into())),
            ],
        );
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"url":"outer","extension":[{"url":"a","valueUnsignedInt":3},{"url":"b","valueDateTime":"2020"}]}"#
        );
    }

    #[test]
    fn absent_and_empty_elements_are_not_written() {
        let d = Dosage {
            as_needed: Some(AsNeeded::AsNeededBoolean(true)),
            ..Dosage::default()
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"asNeededBoolean":true}"#
        );
        assert!(Dosage::default().is_empty());
        let c = CodeableConcept::of(Vec::new());
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"coding":[]}"#);
        let t = CodeableConcept {
            coding: None,
            text: Some("x".into()),
        };
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"text":"x"}"#);
    }
}
