//! What clinical detail beside the codes a disclosure carries (issue 17): prescribing text
//! (dose instructions, quantity text), units, practitioners and the text of transfer-degraded
//! codes. The switches are policy data (`clinical_detail` in the policy JSON); the unit
//! strings migx may emit are a policy list (`policy/codes/units.tsv`) with a source per row.

use crate::codes::CompactString;
use crate::ehr::model::{Item, ItemKind, Value};
use serde::Deserialize;
use std::collections::HashMap;

/// UCUM's code system URI (FHIR `Quantity.system`).
pub const UCUM_SYSTEM: &str = "http://unitsofmeasure.org";

/// The `clinical_detail` section of a policy file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDetail {
    /// Share dose instructions (`pertinentMedicationDosage`, `dosageInstruction.text`).
    #[serde(default = "yes")]
    pub dose_instructions: bool,
    /// Share quantity text (the unit a prescription's quantity is counted in, "tablet").
    #[serde(default = "yes")]
    pub quantity_text: bool,
    /// The unit list (relative to the policy file); absent: the embedded list.
    #[serde(default)]
    pub units: Option<String>,
    /// Share the text of a transfer-degraded allergy code (`policy/codes/degraded.tsv`), the
    /// only place such an allergy names its allergen, as the allergy's `code.text`.
    #[serde(default = "yes")]
    pub degraded_allergy_text: bool,
    /// What a disclosure says about the staff who recorded, asserted, prescribed or performed
    /// an item (`share`, `role-only`, `none`).
    #[serde(default)]
    pub staff: StaffPolicy,
}

/// What a disclosure says about staff (`clinical_detail.staff`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaffPolicy {
    /// Practitioner (name, SDS user id, GMP number), PractitionerRole (role codes, SDS
    /// role profile id, organisation) and Organization (ODS code, name), as GP Connect
    /// shares them with the same receivers.
    #[default]
    Share,
    /// PractitionerRole (role codes, organisation) and Organization only: no name and no
    /// personal identifier.
    RoleOnly,
    /// No staff reference at all.
    None,
}

impl StaffPolicy {
    /// The policy file's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffPolicy::Share => "share",
            StaffPolicy::RoleOnly => "role-only",
            StaffPolicy::None => "none",
        }
    }
}

fn yes() -> bool {
    true
}

impl Default for RawDetail {
    fn default() -> Self {
        RawDetail {
            dose_instructions: true,
            quantity_text: true,
            units: None,
            degraded_allergy_text: true,
            staff: StaffPolicy::Share,
        }
    }
}

/// A unit the policy lets through: the text as the source wrote it, and its UCUM code
/// when the list gives one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownUnit<'a> {
    /// The unit string, exactly as written in the source (and emitted as `Quantity.unit`).
    pub text: &'a str,
    /// The UCUM code (`Quantity.code`, system [`UCUM_SYSTEM`]), when the string is, or means
    /// exactly, a UCUM unit.
    pub ucum: Option<&'a str>,
}

/// The unit strings migx emits.
#[derive(Debug, Clone, Default)]
pub struct UnitList {
    units: HashMap<String, Option<String>>,
}

/// Characters UCUM codes use (the printable ASCII subset of the UCUM grammar).
fn ucum_chars(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'<' | b'>'))
}

impl UnitList {
    /// Parse `unit<TAB>ucum_code<TAB>source` rows (`#` comments, one header row).
    pub fn parse(text: &str) -> Result<UnitList, (usize, String)> {
        let mut units = HashMap::new();
        let mut header = false;
        for (n, raw) in text.lines().enumerate() {
            let line_no = n + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let line = if n == 0 {
                line.strip_prefix('\u{feff}').unwrap_or(line)
            } else {
                line
            };
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            if !header {
                if cols != ["unit", "ucum_code", "source"] {
                    return Err((line_no, "header must be: unit ucum_code source".into()));
                }
                header = true;
                continue;
            }
            let [unit, code, source] = cols[..] else {
                return Err((line_no, "expected 3 tab-separated columns".into()));
            };
            if unit.trim() != unit || unit.is_empty() || unit.chars().any(char::is_control) {
                return Err((
                    line_no,
                    "unit is empty, padded or has control characters".into(),
                ));
            }
            if source.trim().is_empty() {
                return Err((line_no, "every row needs a source".into()));
            }
            let code = match code {
                "" => None,
                c if ucum_chars(c) => Some(c.to_string()),
                _ => return Err((line_no, "ucum_code has characters UCUM does not use".into())),
            };
            if units.insert(unit.to_string(), code).is_some() {
                return Err((line_no, "unit listed twice".into()));
            }
        }
        if !header {
            return Err((1, "no header row".into()));
        }
        Ok(UnitList { units })
    }

    /// The unit, when the list knows this exact string (after trimming the source's
    /// surrounding spaces).
    pub fn get<'a>(&'a self, unit: &str) -> Option<KnownUnit<'a>> {
        let (text, code) = self.units.get_key_value(unit.trim())?;
        Some(KnownUnit {
            text,
            ucum: code.as_deref(),
        })
    }

    /// How many unit strings the list holds.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }
}

/// The loaded `clinical_detail` policy.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// Share dose instructions.
    pub dose_instructions: bool,
    /// Share quantity text.
    pub quantity_text: bool,
    /// Units migx emits.
    pub units: UnitList,
    /// Share the text of a transfer-degraded allergy code.
    pub degraded_allergy_text: bool,
    /// What a disclosure says about staff.
    pub staff: StaffPolicy,
}

impl Detail {
    /// Whether sharing `item` drops some of its detail: a unit the list does not know, or
    /// prescribing text the policy turns off. The item is then audited `free-text`.
    pub fn drops(&self, item: &Item) -> bool {
        let unknown =
            |u: &Option<CompactString>| u.as_deref().is_some_and(|u| self.units.get(u).is_none());
        match &item.kind {
            ItemKind::Observation(o) => {
                let value_unit = match o.value.as_deref() {
                    Some(Value::Quantity { unit, .. }) | Some(Value::Range { unit, .. }) => {
                        unknown(unit)
                    }
                    _ => false,
                };
                (o.code_text.is_some() && !self.degraded_allergy_text)
                    || value_unit
                    || o.reference_range.as_ref().is_some_and(|r| unknown(&r.unit))
            }
            ItemKind::Medication(m) => {
                ((m.dosage_text.is_some() || m.dose.is_some()) && !self.dose_instructions)
                    || m.dose
                        .iter()
                        .flat_map(|d| d.units())
                        .any(|u| self.units.get(u).is_none())
            }
            ItemKind::Supply(s) => {
                (s.quantity_unit.is_some() && !self.quantity_text) || unknown(&s.quantity_unit)
            }
            ItemKind::Plain | ItemKind::Allergy(_) | ItemKind::LinkSet(_) => false,
        }
    }

    /// The unit to emit for a quantity's unit text, if any.
    pub fn unit<'a>(&'a self, unit: Option<&str>) -> Option<KnownUnit<'a>> {
        self.units.get(unit?)
    }

    /// The dose instruction to emit, if the policy shares it.
    pub fn dosage<'a>(&self, item: &'a Item) -> Option<&'a str> {
        item.medication()?
            .dosage_text
            .as_deref()
            .filter(|_| self.dose_instructions)
    }

    /// The structured dose to emit, if the policy shares dose instructions.
    pub fn dose<'a>(&self, item: &'a Item) -> Option<&'a crate::ehr::model::StructuredDose> {
        item.medication()?
            .dose
            .as_ref()
            .filter(|_| self.dose_instructions)
    }

    /// The text of a transfer-degraded allergy code to emit (as `code.text`), if the policy
    /// shares it.
    pub fn degraded_text<'a>(&self, item: &'a Item) -> Option<&'a str> {
        item.observation()?
            .code_text
            .as_deref()
            .filter(|_| self.degraded_allergy_text)
    }

    /// The quantity text (unit) of a supply to emit, if the policy shares it and knows it.
    pub fn quantity_unit<'a>(&'a self, item: &Item) -> Option<KnownUnit<'a>> {
        if !self.quantity_text {
            return None;
        }
        self.unit(item.supply()?.quantity_unit.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::model::{ItemHead, Medication, Observation, Supply};

    const EMBEDDED: &str = include_str!("../../../../policy/codes/units.tsv");

    #[test]
    fn the_embedded_list_parses_and_knows_ucum_and_text_units() {
        let l = UnitList::parse(EMBEDDED).expect("embedded list");
        assert!(l.len() > 50);
        assert_eq!(
            l.get("mm[Hg]"),
            Some(KnownUnit {
                text: "mm[Hg]",
                ucum: Some("mm[Hg]")
            })
        );
        assert_eq!(l.get("10*9/L").and_then(|u| u.ucum), Some("10*9/L"));
        // Known strings that mean a UCUM unit carry its code; others only their text.
        assert_eq!(l.get("mmHg").and_then(|u| u.ucum), Some("mm[Hg]"));
        assert_eq!(
            l.get("tablet").map(|u| (u.text, u.ucum)),
            Some(("tablet", None))
        );
        // Case matters in UCUM (mmol/l is not listed), free text never passes.
        for bad in [
            "mmol/l",
            "Banana",
            "Unknown UoM",
            "{Jane Smith}",
            "IU/L 37C",
            "",
        ] {
            assert_eq!(l.get(bad), None, "{bad}");
        }
        // Every UCUM code on the list is itself listed as a unit string (one identity).
        for code in l.units.values().flatten() {
            assert!(l.units.contains_key(code), "{code} is not listed as a unit");
        }
    }

    #[test]
    fn an_unknown_unit_or_switched_off_text_is_a_drop_for_every_unit_position() {
        let units = UnitList::parse(EMBEDDED).expect("embedded list");
        let on = Detail {
            dose_instructions: true,
            quantity_text: true,
            units: units.clone(),
            degraded_allergy_text: true,
            staff: StaffPolicy::Share,
        };
        let off = Detail {
            dose_instructions: false,
            quantity_text: false,
            units,
            degraded_allergy_text: false,
            staff: StaffPolicy::None,
        };
        // Every position a unit can take, with a known and an unknown unit.
        let positions: Vec<fn(&str) -> Item> = vec![
            |u| Item {
                head: ItemHead::default(),
                kind: ItemKind::Supply(Box::new(Supply {
                    quantity_unit: Some(u.into()),
                    ..Supply::default()
                })),
            },
            |u| Item {
                head: ItemHead::default(),
                kind: ItemKind::Observation(Observation {
                    value: Some(Box::new(Value::Quantity {
                        value: "1".into(),
                        unit: Some(u.into()),
                    })),
                    ..Observation::default()
                }),
            },
            |u| Item {
                head: ItemHead::default(),
                kind: ItemKind::Observation(Observation {
                    value: Some(Box::new(Value::Range {
                        low: None,
                        high: Some("1".into()),
                        unit: Some(u.into()),
                    })),
                    ..Observation::default()
                }),
            },
            |u| Item {
                head: ItemHead::default(),
                kind: ItemKind::Observation(Observation {
                    reference_range: Some(Box::new(crate::ehr::model::ReferenceRange {
                        low: None,
                        high: None,
                        unit: Some(u.into()),
                    })),
                    ..Observation::default()
                }),
            },
        ];
        for make in positions {
            assert!(!on.drops(&make("mmol/L")));
            assert!(on.drops(&make("Banana")));
        }
        let dosed = Item {
            head: ItemHead::default(),
            kind: ItemKind::Medication(Box::new(Medication {
                dosage_text: Some("One daily".into()),
                ..Medication::default()
            })),
        };
        assert!(!on.drops(&dosed) && off.drops(&dosed));
        assert_eq!(on.dosage(&dosed), Some("One daily"));
        assert_eq!(off.dosage(&dosed), None);
        let supply = Item {
            head: ItemHead::default(),
            kind: ItemKind::Supply(Box::new(Supply {
                quantity_unit: Some("tablet".into()),
                ..Supply::default()
            })),
        };
        assert!(off.drops(&supply) && off.quantity_unit(&supply).is_none());
        assert_eq!(on.quantity_unit(&supply).map(|u| u.text), Some("tablet"));
        let degraded = Item {
            head: ItemHead::default(),
            kind: ItemKind::Observation(Observation {
                code_text: Some("Penicillin".into()),
                ..Observation::default()
            }),
        };
        assert!(!on.drops(&degraded) && off.drops(&degraded));
        assert_eq!(on.degraded_text(&degraded), Some("Penicillin"));
        assert_eq!(off.degraded_text(&degraded), None);
    }

    #[test]
    fn malformed_lists_are_refused() {
        let h = "unit\tucum_code\tsource\n";
        assert!(UnitList::parse("").is_err());
        assert!(UnitList::parse("unit\tcode\n").is_err());
        assert!(UnitList::parse(&format!("{h}mg\tmg\n")).is_err());
        assert!(UnitList::parse(&format!("{h}mg\tmg\t\n")).is_err());
        assert!(UnitList::parse(&format!("{h} mg\tmg\tUCUM\n")).is_err());
        assert!(UnitList::parse(&format!("{h}mg\tm g\tUCUM\n")).is_err());
        assert!(UnitList::parse(&format!("{h}mg\tmg\tUCUM\nmg\tmg\tUCUM\n")).is_err());
        let ok = UnitList::parse(&format!("# c\n{h}mg\tmg\tUCUM\n")).expect("ok");
        assert_eq!(ok.get(" mg ").map(|u| u.text), Some("mg"));
    }
}
