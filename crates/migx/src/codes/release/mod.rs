//! A compact index of a SNOMED CT RF2 release: description id -> concept id, concept active
//! flags, semantic tags (from the fully specified names), one display term per concept, the
//! IS-A hierarchy and the members of the GP summary exclusion refsets. Built once from a
//! release folder (`SnomedIndex::build`), written to a single binary file (`write`) and
//! loaded in milliseconds (`load`) by later runs.
//!
//! Only Snapshot files are read: `sct2_Concept_Snapshot*.txt`, `sct2_Description_Snapshot*.txt`,
//! `sct2_Relationship_Snapshot*.txt` (inferred relationships: active IS-A rows only),
//! `der2_cRefset_LanguageSnapshot*.txt` and `der2_Refset_SimpleSnapshot*.txt`, found
//! recursively (an edition is usually the International release plus the UK extension side
//! by side).
//!
//! **Display term** of a concept (see [`SnomedIndex::term`]): among its active descriptions,
//! the synonym marked *preferred* in a language refset; else its fully specified name if that
//! is preferred; else (a release without a language refset entry for the concept) an active
//! synonym; else its active FSN. Ties go to the language refset first in
//! [`LANGUAGE_REFSET_PRIORITY`] (NHS realm clinical, NHS realm pharmacy, GB English, US
//! English, then any other by id), then the smallest description id.
//!
//! Here: the index and its queries. Beside it: `build` (from a release folder) and `file`
//! (the index file, its layout and its checks on load).

use super::rf2::Rf2Error;

mod build;
mod file;
#[cfg(test)]
mod test_support;

/// The four "General practice summary data sharing exclusion" refsets.
pub const EXCLUSION_REFSETS: [u64; 4] = [
    999_004_381_000_000_103, // sexually transmitted disease
    999_004_371_000_000_100, // assisted fertilisation
    999_004_361_000_000_107, // termination of pregnancy
    999_004_351_000_000_109, // gender-related issues
];

/// `typeId` of a fully specified name.
pub const FSN_TYPE_ID: u64 = 900_000_000_000_003_001;
/// `typeId` of a synonym.
pub const SYNONYM_TYPE_ID: u64 = 900_000_000_000_013_009;
/// `typeId` of the IS-A relationship (116680003 |Is a|).
pub const IS_A_TYPE_ID: u64 = 116_680_003;
/// `acceptabilityId` of a preferred description in a language refset.
pub const PREFERRED_ID: u64 = 900_000_000_000_548_007;
/// Language refsets in the order their preferred terms are chosen: the NHS realm language
/// refsets of the UK Edition (clinical part 999001261000000100, pharmacy part
/// 999000691000001104), then the International GB English (900000000000508004) and US English
/// (900000000000509007) refsets. Any other language refset comes after these, by id.
pub const LANGUAGE_REFSET_PRIORITY: [u64; 4] = [
    999_001_261_000_000_100,
    999_000_691_000_001_104,
    900_000_000_000_508_004,
    900_000_000_000_509_007,
];

const MAGIC: &[u8; 8] = b"MIGXSCT\0";
const END: &[u8; 8] = b"MIGXEND\0";
const FORMAT: u32 = 2;
const ACTIVE_BIT: u32 = 1 << 31;

/// Errors building, writing or loading an index. They name the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// A release file or the index file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of an RF2 file is not in the expected tab-separated format.
    #[error("{file}:{line}: {message}")]
    Format {
        /// The RF2 file.
        file: String,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The folder is not a usable release (e.g. no Snapshot concept or description file).
    #[error("{path}: not a usable SNOMED CT release: {message}")]
    Release {
        /// The release folder.
        path: String,
        /// What is missing or wrong.
        message: String,
    },
    /// The index file is not one migx wrote, or is truncated or of another format version.
    #[error("{path}: bad migx SNOMED index: {message}")]
    Index {
        /// The index file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An exclusion refset file is invalid.
    #[error(transparent)]
    Rf2(#[from] Rf2Error),
}

/// The compact, immutable release index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnomedIndex {
    version: String,
    tags: Vec<String>,
    desc_ids: Vec<u64>,
    desc_concepts: Vec<u64>,
    concept_ids: Vec<u64>,
    concept_flags: Vec<u32>,
    refset_concepts: Vec<u64>,
    refset_ids: Vec<u64>,
    /// Display terms, concatenated; concept `i`'s term is `term_blob[term_offsets[i]..term_offsets[i + 1]]`.
    term_blob: String,
    term_offsets: Vec<u32>,
    /// A relationship file was read (so [`SnomedIndex::has_hierarchy`]).
    hierarchy: bool,
    /// Active IS-A edges, sorted by (parent, child).
    isa_parents: Vec<u64>,
    isa_children: Vec<u64>,
}

impl SnomedIndex {
    /// The release version: the distinct `<namespace>_<date>` suffixes of the concept
    /// snapshot files, e.g. `GB1000000_20250101+INT_20250101`.
    pub fn release_version(&self) -> &str {
        &self.version
    }

    /// The concept a description id belongs to.
    pub fn resolve_description(&self, description_id: u64) -> Option<u64> {
        let i = self.desc_ids.binary_search(&description_id).ok()?;
        self.desc_concepts.get(i).copied()
    }

    fn concept_flags(&self, concept_id: u64) -> Option<u32> {
        let i = self.concept_ids.binary_search(&concept_id).ok()?;
        self.concept_flags.get(i).copied()
    }

    /// Whether the concept is active; `None` if the release does not know it.
    pub fn is_active(&self, concept_id: u64) -> Option<bool> {
        self.concept_flags(concept_id).map(|f| f & ACTIVE_BIT != 0)
    }

    /// The semantic tag of the concept's fully specified name (`disorder`, `procedure`, ...).
    pub fn semantic_tag(&self, concept_id: u64) -> Option<&str> {
        let tag = self.concept_flags(concept_id)? & !ACTIVE_BIT;
        let i = usize::try_from(tag).ok()?.checked_sub(1)?;
        self.tags.get(i).map(String::as_str)
    }

    /// The exclusion refset the concept is an active member of.
    pub fn in_exclusion_refset(&self, concept_id: u64) -> Option<u64> {
        let i = self.refset_concepts.binary_search(&concept_id).ok()?;
        self.refset_ids.get(i).copied()
    }

    /// The display term of a concept (see the module documentation for which description it
    /// is): `None` when the release has no active description for it.
    pub fn term(&self, concept_id: u64) -> Option<&str> {
        let i = self.concept_ids.binary_search(&concept_id).ok()?;
        let start = usize::try_from(*self.term_offsets.get(i)?).ok()?;
        let end = usize::try_from(*self.term_offsets.get(i + 1)?).ok()?;
        self.term_blob.get(start..end).filter(|t| !t.is_empty())
    }

    /// Whether the release had a relationship file, so that IS-A subtypes can be found.
    pub fn has_hierarchy(&self) -> bool {
        self.hierarchy
    }

    /// Number of active IS-A relationships in the index.
    pub fn is_a_count(&self) -> usize {
        self.isa_parents.len()
    }

    /// The direct IS-A children of a concept (active relationships), sorted.
    pub fn children(&self, concept_id: u64) -> &[u64] {
        let start = self.isa_parents.partition_point(|&p| p < concept_id);
        let end = self.isa_parents.partition_point(|&p| p <= concept_id);
        self.isa_children.get(start..end).unwrap_or(&[])
    }

    /// Every concept below `root` in the IS-A hierarchy (not `root` itself unless a cycle leads
    /// back to it), each once, in breadth-first order. Cycles end the walk, never loop.
    pub fn descendants(&self, root: u64) -> Vec<u64> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut queue = std::collections::VecDeque::from([root]);
        while let Some(c) = queue.pop_front() {
            for &child in self.children(c) {
                if seen.insert(child) {
                    out.push(child);
                    queue.push_back(child);
                }
            }
        }
        out
    }

    /// Resolve a code that may be a concept id or a description id to a concept id.
    pub fn concept_of(&self, id: u64) -> Option<u64> {
        if self.concept_flags(id).is_some() {
            Some(id)
        } else {
            self.resolve_description(id)
        }
    }

    /// Number of description ids the index can resolve.
    pub fn description_count(&self) -> usize {
        self.desc_ids.len()
    }

    /// Number of concepts (active and inactive) in the index.
    pub fn concept_count(&self) -> usize {
        self.concept_ids.len()
    }

    /// Every (concept, exclusion refset) pair the release holds, by concept id.
    pub fn exclusion_members(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.refset_concepts
            .iter()
            .copied()
            .zip(self.refset_ids.iter().copied())
    }

    /// Number of distinct concepts in the exclusion refsets.
    pub fn exclusion_member_count(&self) -> usize {
        self.refset_concepts.len()
    }

    /// Number of active members the release holds in one exclusion refset (a concept in
    /// several exclusion refsets counts for the lowest refset id only).
    pub fn exclusion_members_in(&self, refset_id: u64) -> usize {
        self.refset_ids.iter().filter(|&&r| r == refset_id).count()
    }
}
