//! `migx snomed index`: a compact index of an RF2 release.

use std::time::Instant;

use super::{exit, fail};

/// `migx snomed index`.
pub(super) fn index(release: &std::path::Path, out: &std::path::Path) -> i32 {
    let t = Instant::now();
    let idx = match crate::codes::release::SnomedIndex::build(release) {
        Ok(i) => i,
        Err(e) => return fail(&format!("{}: {e}", release.display())),
    };
    let built = t.elapsed();
    if let Err(e) = idx.write(out) {
        return fail(&format!("{}: {e}", out.display()));
    }
    eprintln!(
        "migx: indexed release {} ({} concepts, {} descriptions, {} exclusion members, {}) in {:.2} s -> {}",
        idx.release_version(),
        idx.concept_count(),
        idx.description_count(),
        idx.exclusion_member_count(),
        if idx.has_hierarchy() {
            format!("{} IS-A relationships", idx.is_a_count())
        } else {
            "no relationship file: subtypes will not be checked".to_string()
        },
        built.as_secs_f64(),
        out.display()
    );
    exit::OK
}
