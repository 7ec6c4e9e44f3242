//! The category of a shared allergy (drug or not): a clinical classification of the
//! allergy header's codes, so it is data (`policy/codes/allergy-category.tsv`, each row with
//! its public source) decided here; the FHIR mapping only writes what this says.

use crate::codes::{CodeSystem, Coding};
use std::sync::OnceLock;

const TABLE: &str = include_str!("../../../../policy/codes/allergy-category.tsv");

/// What kind of substance a shared allergy is to (FHIR R4 `AllergyIntolerance.category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllergyCategory {
    /// A drug allergy (`medication`).
    Medication,
    /// Any other allergy (`environment`, as the NHS translators map a non-drug allergy).
    Environment,
}

impl AllergyCategory {
    /// The FHIR R4 code.
    pub fn as_str(self) -> &'static str {
        match self {
            AllergyCategory::Medication => "medication",
            AllergyCategory::Environment => "environment",
        }
    }
}

/// One row: a code system, a code, exact or prefix, and the category.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    system: CodeSystem,
    code: String,
    prefix: bool,
    category: AllergyCategory,
}

impl Row {
    fn matches(&self, c: &Coding) -> bool {
        if c.system != self.system {
            return false;
        }
        let code = c.code.trim();
        if self.prefix {
            return code.starts_with(&self.code);
        }
        match self.system {
            // Read codes carry a 2-character term suffix (`14L..00`): compared on 5.
            CodeSystem::ReadV2 | CodeSystem::Ctv3 => code.get(..5).unwrap_or(code) == self.code,
            _ => code == self.code,
        }
    }
}

fn parse(text: &str) -> Result<Vec<Row>, String> {
    const FILE: &str = "allergy-category.tsv";
    let header = ["system", "code", "match", "category", "source"];
    let mut rows = Vec::new();
    for (n, cols) in crate::codes::tsv::rows(FILE, text, &header)? {
        let [system, code, kind, category, _source] = cols[..] else {
            return Err(format!("{FILE} line {n}: 5 columns expected"));
        };
        let bad = |what: &str| format!("{FILE} line {n}: {what}");
        let system = match system {
            "readv2" => CodeSystem::ReadV2,
            "ctv3" => CodeSystem::Ctv3,
            "snomed" => CodeSystem::Snomed,
            _ => return Err(bad("unknown system")),
        };
        let prefix = match kind {
            "exact" => false,
            "prefix" => true,
            _ => return Err(bad("match is exact or prefix")),
        };
        let category = match category {
            "medication" => AllergyCategory::Medication,
            "environment" => AllergyCategory::Environment,
            _ => return Err(bad("unknown category")),
        };
        rows.push(Row {
            system,
            code: code.to_string(),
            prefix,
            category,
        });
    }
    Ok(rows)
}

fn table() -> &'static [Row] {
    static T: OnceLock<Vec<Row>> = OnceLock::new();
    // The embedded table is checked by the tests below; if it ever failed to parse, no row
    // would match and every allergy would be `environment`, never a wrong `medication`.
    T.get_or_init(|| parse(TABLE).unwrap_or_default())
}

/// The category of an allergy whose header carries `codes`: the first row any of them
/// matches, else `environment`.
pub fn allergy_category(codes: &[Coding]) -> AllergyCategory {
    table()
        .iter()
        .find(|r| codes.iter().any(|c| r.matches(c)))
        .map(|r| r.category)
        .unwrap_or(AllergyCategory::Environment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_every_row_names_a_source() {
        let rows = parse(TABLE).unwrap();
        assert!(rows.len() >= 3);
        assert!(
            parse("system\tcode\tmatch\tcategory\tsource\nicd10\tX\texact\tmedication\tS\n")
                .is_err()
        );
        assert!(
            parse("system\tcode\tmatch\tcategory\tsource\nreadv2\tX\texact\tfood\tS\n").is_err()
        );
        assert!(
            parse("system\tcode\tmatch\tcategory\tsource\nreadv2\tX\texact\tmedication\t \n")
                .is_err()
        );
        assert!(parse("a\tb\n").is_err());
    }

    /// Every Read spelling of the drug-allergy header, in both Read versions, is a drug
    /// allergy; the non-drug header, an unknown code, a code of another system and no code
    /// are not.
    #[test]
    fn drug_allergy_headers_are_medication_and_everything_else_environment() {
        let c = |s: CodeSystem, code: &str| Coding::new(s, code);
        for s in [CodeSystem::ReadV2, CodeSystem::Ctv3] {
            for code in ["14L..", "14L..00", "14L1.", " 14L.. "] {
                assert_eq!(
                    allergy_category(&[c(s.clone(), code)]),
                    AllergyCategory::Medication,
                    "{s:?} {code}"
                );
            }
        }
        assert_eq!(
            allergy_category(&[c(CodeSystem::Snomed, "1521000000106")]),
            AllergyCategory::Medication
        );
        for codes in [
            vec![c(CodeSystem::ReadV2, "SN53.00")],
            vec![c(CodeSystem::ReadV2, "H33..")],
            vec![c(CodeSystem::Snomed, "14L")],
            vec![c(CodeSystem::Other("urn:oid:1.2.3".into()), "14L..")],
            Vec::new(),
        ] {
            assert_eq!(
                allergy_category(&codes),
                AllergyCategory::Environment,
                "{codes:?}"
            );
        }
        // Any coding of the header decides: a translation to the drug header makes it one.
        assert_eq!(
            allergy_category(&[c(CodeSystem::ReadV2, "SN53."), c(CodeSystem::Ctv3, "14L..")]),
            AllergyCategory::Medication
        );
        assert_eq!(AllergyCategory::Medication.as_str(), "medication");
        assert_eq!(AllergyCategory::Environment.as_str(), "environment");
    }
}
