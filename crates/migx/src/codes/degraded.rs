//! Transfer-degraded codes (`policy/codes/degraded.tsv`): a GP2GP sender that cannot map a
//! drug allergy sends one of these SNOMED CT codes and names the allergen only in the code's
//! text. The readers keep that text for these codes (and only these); the policy decides
//! whether it is shared (`clinical_detail.degraded_allergy_text`, hazard D12).

/// The embedded list of transfer-degraded allergy codes (`policy/codes/degraded.tsv`).
const DEGRADED_TSV: &str = include_str!("../../../../policy/codes/degraded.tsv");

/// The SNOMED CT codes of the embedded degraded-allergy list (parsed once; a row that is not
/// `code<TAB>term<TAB>source` with a source is a build-time data error caught by the tests).
fn degraded_codes() -> &'static [String] {
    static CODES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    CODES.get_or_init(|| {
        DEGRADED_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .skip(1)
            .filter_map(|l| l.split('\t').next())
            .map(str::to_string)
            .collect()
    })
}

/// Whether a coding is a transfer-degraded allergy code (SNOMED CT, on the embedded list):
/// its text, and only its text, names the allergen.
pub fn is_degraded_allergy(c: &super::Coding) -> bool {
    c.system == super::CodeSystem::Snomed && degraded_codes().iter().any(|d| *d == c.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_degraded_list_is_sourced_snomed_and_read_by_the_one_identity() {
        use crate::codes::{CodeSystem, Coding};
        let rows: Vec<&str> = DEGRADED_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        assert_eq!(rows[0], "code\tterm\tsource");
        for r in &rows[1..] {
            let cols: Vec<&str> = r.split('\t').collect();
            assert_eq!(cols.len(), 3, "{r}");
            assert!(!cols[2].trim().is_empty(), "every row needs a source: {r}");
            assert!(crate::codes::snomed::parse_sctid(cols[0]).is_ok(), "{r}");
        }
        assert_eq!(degraded_codes().len(), rows.len() - 1);
        let sct = |c: &str| Coding::new(CodeSystem::Snomed, c);
        assert!(is_degraded_allergy(&sct("196461000000101")));
        assert!(is_degraded_allergy(&sct("196471000000108")));
        // Other degraded codes (record entry, medication) and other systems are not allergies.
        assert!(!is_degraded_allergy(&sct("196411000000103")));
        assert!(!is_degraded_allergy(&Coding::new(
            CodeSystem::ReadV2,
            "196461000000101"
        )));
    }
}
