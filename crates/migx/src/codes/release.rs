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
//! Index file layout (all integers little-endian):
//! ```text
//! magic      8 bytes  "MIGXSCT\0"
//! format     u32      2
//! version    u32 len + UTF-8 release version string
//! tags       u32 count, then count x (u32 len + UTF-8 semantic tag)
//! descs      u64 count, count x u64 description id (sorted), count x u64 concept id
//! concepts   u64 count, count x u64 concept id (sorted), count x u32 flags
//!            (bit 31 = active, low 31 bits = tag index + 1, 0 = no tag)
//! refset     u64 count, count x u64 concept id (sorted), count x u64 refset id
//! terms      u64 len + UTF-8 blob, (concepts + 1) x u32 offsets into it (concept order)
//! is-a       u32 1 if a relationship file was read, else 0; u64 count,
//!            count x u64 parent (sorted with the child), count x u64 child
//! end        8 bytes  "MIGXEND\0"
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::rf2::{load_simple_refset, Rf2Error};

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

/// The kind of RF2 file, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FileKind {
    Concept,
    Relationship,
    LanguageRefset,
    Description,
    SimpleRefset,
}

fn file_kind(name: &str) -> Option<FileKind> {
    if !name.ends_with(".txt") {
        return None;
    }
    if name.starts_with("sct2_Concept_Snapshot") {
        Some(FileKind::Concept)
    } else if name.starts_with("sct2_Description_Snapshot") {
        Some(FileKind::Description)
    } else if name.starts_with("sct2_Relationship_Snapshot") {
        Some(FileKind::Relationship)
    } else if name.starts_with("der2_cRefset_LanguageSnapshot") {
        Some(FileKind::LanguageRefset)
    } else if name.starts_with("der2_Refset_SimpleSnapshot") {
        Some(FileKind::SimpleRefset)
    } else {
        None
    }
}

/// Semantic tag of an FSN: the text in the last trailing parentheses.
fn semantic_tag(fsn: &str) -> Option<&str> {
    let t = fsn.trim_end();
    let body = t.strip_suffix(')')?;
    let open = body.rfind('(')?;
    let tag = body[open + 1..].trim();
    (!tag.is_empty()).then_some(tag)
}

/// Reads a tab-separated RF2 file line by line, checking the header.
fn for_each_row(
    path: &Path,
    header: &[&str],
    mut f: impl FnMut(usize, &[&str]) -> Result<(), ReleaseError>,
) -> Result<(), ReleaseError> {
    let file_name = path.display().to_string();
    let io = |source| ReleaseError::Io {
        path: file_name.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    let mut line_no = 0usize;
    let mut seen_header = false;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let l = line.trim_end_matches(['\n', '\r']);
        if l.is_empty() {
            continue;
        }
        let cols: Vec<&str> = l.split('\t').collect();
        if !seen_header {
            let first = cols.first().map(|c| c.trim_start_matches('\u{feff}'));
            let ok = cols.len() >= header.len()
                && first == Some(header[0])
                && cols[1..header.len()] == header[1..];
            if !ok {
                return Err(ReleaseError::Format {
                    file: file_name.clone(),
                    line: line_no,
                    message: format!("expected RF2 header: {}", header.join(" ")),
                });
            }
            seen_header = true;
            continue;
        }
        if cols.len() < header.len() {
            return Err(ReleaseError::Format {
                file: file_name.clone(),
                line: line_no,
                message: format!(
                    "expected {} tab-separated fields, found {}",
                    header.len(),
                    cols.len()
                ),
            });
        }
        f(line_no, &cols)?;
    }
    if !seen_header {
        return Err(ReleaseError::Format {
            file: file_name,
            line: 0,
            message: "empty file: no RF2 header".to_string(),
        });
    }
    Ok(())
}

/// The RF2 snapshot rule for a component listed more than once: the row with the latest
/// `effectiveTime` (its first field, `time`) stands, and on a tie the later row in the file.
fn keep_latest<K: Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    key: K,
    row: V,
    time: fn(&V) -> u32,
) {
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(mut o) => {
            if time(o.get()) <= time(&row) {
                o.insert(row);
            }
        }
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(row);
        }
    }
}

fn num(file: &Path, line: usize, v: &str, what: &str) -> Result<u64, ReleaseError> {
    v.trim().parse::<u64>().map_err(|_| ReleaseError::Format {
        file: file.display().to_string(),
        line,
        message: format!("{what} is not a number"),
    })
}

fn flag(file: &Path, line: usize, v: &str) -> Result<bool, ReleaseError> {
    match v.trim() {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(ReleaseError::Format {
            file: file.display().to_string(),
            line,
            message: "active is not 0 or 1".to_string(),
        }),
    }
}

impl SnomedIndex {
    /// Build an index from an RF2 release folder (searched recursively).
    pub fn build(dir: impl AsRef<Path>) -> Result<SnomedIndex, ReleaseError> {
        let dir = dir.as_ref();
        let mut files: Vec<(FileKind, PathBuf)> = Vec::new();
        for entry in walkdir::WalkDir::new(dir).follow_links(true) {
            let entry = entry.map_err(|e| ReleaseError::Io {
                path: e
                    .path()
                    .map_or_else(|| dir.display().to_string(), |p| p.display().to_string()),
                source: e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("directory walk failed")),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            if let Some(kind) = file_kind(&name) {
                files.push((kind, entry.path().to_path_buf()));
            }
        }
        // By kind, then path: language refsets are read before the descriptions they rank.
        files.sort();
        let has = |k: FileKind| files.iter().any(|(kind, _)| *kind == k);
        if !has(FileKind::Concept) || !has(FileKind::Description) {
            return Err(ReleaseError::Release {
                path: dir.display().to_string(),
                message:
                    "no sct2_Concept_Snapshot*.txt and sct2_Description_Snapshot*.txt files found"
                        .to_string(),
            });
        }

        // Concepts: id -> (effectiveTime, active).
        let mut concepts: HashMap<u64, (u32, bool)> = HashMap::new();
        // Descriptions: id -> (effectiveTime, concept, active).
        let mut descs: HashMap<u64, (u32, u64, bool)> = HashMap::new();
        // FSN semantic tags: concept -> (effectiveTime, tag).
        let mut fsn_tags: HashMap<u64, (u32, String)> = HashMap::new();
        let mut versions: Vec<String> = Vec::new();
        // IS-A relationships: id -> (effectiveTime, active, child, parent).
        let mut isa: HashMap<u64, (u32, bool, u64, u64)> = HashMap::new();
        let mut hierarchy = false;
        // Language refset members: (refset, description) -> (effectiveTime, active, preferred).
        let mut language: HashMap<(u64, u64), (u32, bool, bool)> = HashMap::new();
        // Best rank of a description preferred in some language refset (lower is better).
        let mut preferred: HashMap<u64, u64> = HashMap::new();
        // The display term chosen so far: concept -> (rank key, description id, term).
        let mut terms: HashMap<u64, (TermRank, u64, String)> = HashMap::new();

        for (kind, path) in &files {
            match kind {
                FileKind::Concept => {
                    if let Some(v) = path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .and_then(|s| s.strip_prefix("sct2_Concept_Snapshot_"))
                    {
                        versions.push(v.to_string());
                    }
                    for_each_row(
                        path,
                        &[
                            "id",
                            "effectiveTime",
                            "active",
                            "moduleId",
                            "definitionStatusId",
                        ],
                        |line, c| {
                            let id = num(path, line, c[0], "id")?;
                            let et = num(path, line, c[1], "effectiveTime")? as u32;
                            let active = flag(path, line, c[2])?;
                            keep_latest(&mut concepts, id, (et, active), |r| r.0);
                            Ok(())
                        },
                    )?;
                }
                FileKind::Relationship => {
                    hierarchy = true;
                    for_each_row(
                        path,
                        &[
                            "id",
                            "effectiveTime",
                            "active",
                            "moduleId",
                            "sourceId",
                            "destinationId",
                            "relationshipGroup",
                            "typeId",
                            "characteristicTypeId",
                            "modifierId",
                        ],
                        |line, c| {
                            let type_id = num(path, line, c[7], "typeId")?;
                            if type_id != IS_A_TYPE_ID {
                                return Ok(());
                            }
                            let id = num(path, line, c[0], "id")?;
                            let et = num(path, line, c[1], "effectiveTime")? as u32;
                            let active = flag(path, line, c[2])?;
                            let child = num(path, line, c[4], "sourceId")?;
                            let parent = num(path, line, c[5], "destinationId")?;
                            keep_latest(&mut isa, id, (et, active, child, parent), |r| r.0);
                            Ok(())
                        },
                    )?;
                }
                FileKind::LanguageRefset => {
                    for_each_row(
                        path,
                        &[
                            "id",
                            "effectiveTime",
                            "active",
                            "moduleId",
                            "refsetId",
                            "referencedComponentId",
                            "acceptabilityId",
                        ],
                        |line, c| {
                            let et = num(path, line, c[1], "effectiveTime")? as u32;
                            let active = flag(path, line, c[2])?;
                            let refset = num(path, line, c[4], "refsetId")?;
                            let desc = num(path, line, c[5], "referencedComponentId")?;
                            let pref = num(path, line, c[6], "acceptabilityId")? == PREFERRED_ID;
                            keep_latest(&mut language, (refset, desc), (et, active, pref), |r| r.0);
                            Ok(())
                        },
                    )?;
                }
                FileKind::Description => {
                    if preferred.is_empty() {
                        for (&(refset, desc), &(_, active, pref)) in &language {
                            if active && pref {
                                let rank = language_rank(refset);
                                let e = preferred.entry(desc).or_insert(rank);
                                *e = (*e).min(rank);
                            }
                        }
                    }
                    for_each_row(
                        path,
                        &[
                            "id",
                            "effectiveTime",
                            "active",
                            "moduleId",
                            "conceptId",
                            "languageCode",
                            "typeId",
                            "term",
                            "caseSignificanceId",
                        ],
                        |line, c| {
                            let id = num(path, line, c[0], "id")?;
                            let et = num(path, line, c[1], "effectiveTime")? as u32;
                            let active = flag(path, line, c[2])?;
                            let concept = num(path, line, c[4], "conceptId")?;
                            let type_id = num(path, line, c[6], "typeId")?;
                            keep_latest(&mut descs, id, (et, concept, active), |r| r.0);
                            if active && (type_id == FSN_TYPE_ID || type_id == SYNONYM_TYPE_ID) {
                                let rank = TermRank {
                                    not_preferred: !preferred.contains_key(&id),
                                    fsn: type_id == FSN_TYPE_ID,
                                    refset: preferred.get(&id).copied().unwrap_or(u64::MAX),
                                };
                                let term = c[7].trim();
                                let better = match terms.get(&concept) {
                                    Some((r, d, _)) => (rank, id) < (*r, *d),
                                    None => true,
                                };
                                if better && !term.is_empty() {
                                    terms.insert(concept, (rank, id, term.to_string()));
                                }
                            }
                            if active && type_id == FSN_TYPE_ID {
                                if let Some(tag) = semantic_tag(c[7]) {
                                    keep_latest(
                                        &mut fsn_tags,
                                        concept,
                                        (et, tag.to_string()),
                                        |r| r.0,
                                    );
                                }
                            }
                            Ok(())
                        },
                    )?;
                }
                FileKind::SimpleRefset => {}
            }
        }

        let mut refset: HashMap<u64, u64> = HashMap::new();
        for (kind, path) in &files {
            if *kind == FileKind::SimpleRefset {
                for m in load_simple_refset(path, &EXCLUSION_REFSETS)? {
                    let e = refset
                        .entry(m.referenced_component_id)
                        .or_insert(m.refset_id);
                    *e = (*e).min(m.refset_id);
                }
            }
        }

        // Semantic tag table.
        let mut tags: Vec<String> = fsn_tags.values().map(|(_, t)| t.clone()).collect();
        tags.sort();
        tags.dedup();
        let tag_index: HashMap<&str, u32> = tags
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i as u32 + 1))
            .collect();

        let mut concept_rows: Vec<(u64, u32)> = concepts
            .iter()
            .map(|(id, (_, active))| {
                let tag = fsn_tags
                    .get(id)
                    .and_then(|(_, t)| tag_index.get(t.as_str()).copied())
                    .unwrap_or(0);
                (*id, if *active { ACTIVE_BIT | tag } else { tag })
            })
            .collect();
        concept_rows.sort_unstable();
        let mut desc_rows: Vec<(u64, u64)> = descs.iter().map(|(d, (_, c, _))| (*d, *c)).collect();
        desc_rows.sort_unstable();
        let mut refset_rows: Vec<(u64, u64)> = refset.into_iter().collect();
        refset_rows.sort_unstable();

        // One display term per concept, in concept order. A term whose description a later
        // row made inactive (several files holding one description) is not used.
        let mut term_blob = String::new();
        let mut term_offsets: Vec<u32> = Vec::with_capacity(concept_rows.len() + 1);
        term_offsets.push(0);
        for (id, _) in &concept_rows {
            if let Some((_, desc, term)) = terms.get(id) {
                if descs
                    .get(desc)
                    .is_some_and(|(_, c, active)| c == id && *active)
                {
                    term_blob.push_str(term);
                }
            }
            let end = u32::try_from(term_blob.len()).map_err(|_| ReleaseError::Release {
                path: dir.display().to_string(),
                message: "display terms exceed 4 GB".to_string(),
            })?;
            term_offsets.push(end);
        }
        let mut isa_rows: Vec<(u64, u64)> = isa
            .into_values()
            .filter(|(_, active, child, parent)| *active && child != parent)
            .map(|(_, _, child, parent)| (parent, child))
            .collect();
        isa_rows.sort_unstable();
        isa_rows.dedup();

        versions.sort();
        versions.dedup();
        let version = if versions.is_empty() {
            "unknown".to_string()
        } else {
            versions.join("+")
        };

        Ok(SnomedIndex {
            version,
            tags,
            desc_ids: desc_rows.iter().map(|r| r.0).collect(),
            desc_concepts: desc_rows.iter().map(|r| r.1).collect(),
            concept_ids: concept_rows.iter().map(|r| r.0).collect(),
            concept_flags: concept_rows.iter().map(|r| r.1).collect(),
            refset_concepts: refset_rows.iter().map(|r| r.0).collect(),
            refset_ids: refset_rows.iter().map(|r| r.1).collect(),
            term_blob,
            term_offsets,
            hierarchy,
            isa_parents: isa_rows.iter().map(|r| r.0).collect(),
            isa_children: isa_rows.iter().map(|r| r.1).collect(),
        })
    }

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

    /// Serialise to the binary index format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            64 + self.version.len()
                + 16 * self.desc_ids.len()
                + 12 * self.concept_ids.len()
                + 16 * self.refset_concepts.len()
                + self.term_blob.len()
                + 4 * self.term_offsets.len()
                + 16 * self.isa_parents.len(),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        put_str(&mut out, &self.version);
        out.extend_from_slice(&(self.tags.len() as u32).to_le_bytes());
        for t in &self.tags {
            put_str(&mut out, t);
        }
        put_u64s(&mut out, &self.desc_ids);
        self.desc_concepts
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        put_u64s(&mut out, &self.concept_ids);
        self.concept_flags
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        put_u64s(&mut out, &self.refset_concepts);
        self.refset_ids
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        out.extend_from_slice(&(self.term_blob.len() as u64).to_le_bytes());
        out.extend_from_slice(self.term_blob.as_bytes());
        self.term_offsets
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        out.extend_from_slice(&u32::from(self.hierarchy).to_le_bytes());
        put_u64s(&mut out, &self.isa_parents);
        self.isa_children
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        out.extend_from_slice(END);
        out
    }

    /// Write the index file.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), ReleaseError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()).map_err(|source| ReleaseError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Load an index file written by [`SnomedIndex::write`].
    pub fn load(path: impl AsRef<Path>) -> Result<SnomedIndex, ReleaseError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ReleaseError::Io {
            path: path.display().to_string(),
            source,
        })?;
        SnomedIndex::from_bytes(&bytes).map_err(|message| ReleaseError::Index {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parse the binary index format.
    pub fn from_bytes(bytes: &[u8]) -> Result<SnomedIndex, String> {
        let mut r = Reader { b: bytes, pos: 0 };
        if r.take(8)? != MAGIC {
            return Err("not a migx SNOMED index (bad magic)".to_string());
        }
        let format = r.u32()?;
        if format != FORMAT {
            return Err(format!(
                "unsupported index format {format} (this migx reads format {FORMAT}): rebuild it with `migx snomed index`"
            ));
        }
        let version = r.string()?;
        let ntags = r.u32()? as usize;
        let mut tags = Vec::with_capacity(ntags.min(1 << 16));
        for _ in 0..ntags {
            tags.push(r.string()?);
        }
        let desc_ids = r.u64_array()?;
        let desc_concepts = r.u64s(desc_ids.len())?;
        let concept_ids = r.u64_array()?;
        let concept_flags = r.u32s(concept_ids.len())?;
        let refset_concepts = r.u64_array()?;
        let refset_ids = r.u64s(refset_concepts.len())?;
        let blob_len = r.u64()?;
        let blob_len = r.len_for(blob_len, 1)?;
        let term_blob = String::from_utf8(r.take(blob_len)?.to_vec())
            .map_err(|_| "display terms are not UTF-8".to_string())?;
        let term_offsets = r.u32s(concept_ids.len() + 1)?;
        let hierarchy = match r.u32()? {
            0 => false,
            1 => true,
            _ => return Err("bad hierarchy flag".to_string()),
        };
        let isa_parents = r.u64_array()?;
        let isa_children = r.u64s(isa_parents.len())?;
        if r.take(8)? != END || r.pos != bytes.len() {
            return Err("truncated or trailing data".to_string());
        }
        let offsets_ok = term_offsets.first() == Some(&0)
            && term_offsets.windows(2).all(|w| w[0] <= w[1])
            && term_offsets.last().map(|&e| e as usize) == Some(term_blob.len())
            && term_offsets
                .iter()
                .all(|&o| term_blob.is_char_boundary(o as usize));
        if !offsets_ok {
            return Err("display term offsets out of range".to_string());
        }
        let edges_sorted = isa_parents
            .iter()
            .zip(&isa_children)
            .collect::<Vec<_>>()
            .windows(2)
            .all(|w| w[0] < w[1]);
        if !edges_sorted {
            return Err("IS-A relationships are not sorted".to_string());
        }
        let sorted = |v: &[u64]| v.windows(2).all(|w| w[0] < w[1]);
        if !sorted(&desc_ids) || !sorted(&concept_ids) || !sorted(&refset_concepts) {
            return Err("arrays are not sorted".to_string());
        }
        if concept_flags
            .iter()
            .any(|f| (f & !ACTIVE_BIT) as usize > tags.len())
        {
            return Err("semantic tag index out of range".to_string());
        }
        Ok(SnomedIndex {
            version,
            tags,
            desc_ids,
            desc_concepts,
            concept_ids,
            concept_flags,
            refset_concepts,
            refset_ids,
            term_blob,
            term_offsets,
            hierarchy,
            isa_parents,
            isa_children,
        })
    }
}

/// How good a description is as a concept's display term; smaller is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TermRank {
    /// Not preferred in any language refset.
    not_preferred: bool,
    /// A fully specified name (a synonym is preferred over it).
    fsn: bool,
    /// Rank of the best language refset preferring it ([`language_rank`]).
    refset: u64,
}

/// The place of a language refset in [`LANGUAGE_REFSET_PRIORITY`]; others after, by id.
fn language_rank(refset: u64) -> u64 {
    LANGUAGE_REFSET_PRIORITY
        .iter()
        .position(|&r| r == refset)
        .map_or(refset.saturating_add(4), |i| i as u64)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_u64s(out: &mut Vec<u8>, v: &[u64]) {
    out.extend_from_slice(&(v.len() as u64).to_le_bytes());
    v.iter()
        .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| "truncated index".to_string())?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let s = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn string(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }
    fn len_for(&self, n: u64, width: usize) -> Result<usize, String> {
        let n = usize::try_from(n).map_err(|_| "array too large".to_string())?;
        match n.checked_mul(width) {
            Some(bytes) if bytes <= self.b.len() - self.pos => Ok(n),
            _ => Err("truncated index".to_string()),
        }
    }
    fn u64_array(&mut self) -> Result<Vec<u64>, String> {
        let n = self.u64()?;
        let n = self.len_for(n, 8)?;
        self.u64s(n)
    }
    fn u64s(&mut self, n: usize) -> Result<Vec<u64>, String> {
        let n = self.len_for(n as u64, 8)?;
        let s = self.take(n * 8)?;
        Ok(s.chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                u64::from_le_bytes(a)
            })
            .collect())
    }
    fn u32s(&mut self, n: usize) -> Result<Vec<u32>, String> {
        let n = self.len_for(n as u64, 4)?;
        let s = self.take(n * 4)?;
        Ok(s.chunks_exact(4)
            .map(|c| {
                let mut a = [0u8; 4];
                a.copy_from_slice(c);
                u32::from_le_bytes(a)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("fixtures/snomed-release")
    }

    #[test]
    fn semantic_tags_from_fsn() {
        assert_eq!(semantic_tag("Gout (disorder)"), Some("disorder"));
        assert_eq!(
            semantic_tag("Hypertensive disorder, systemic arterial (disorder)"),
            Some("disorder")
        );
        assert_eq!(
            semantic_tag("Systolic arterial pressure (observable entity)"),
            Some("observable entity")
        );
        assert_eq!(semantic_tag("No tag"), None);
        assert_eq!(semantic_tag("Empty ()"), None);
    }

    #[test]
    fn build_from_fixture_release() {
        let idx = SnomedIndex::build(fixture()).unwrap();
        assert_eq!(idx.release_version(), "INT_20250101");
        // Description ids resolve to their concepts (active or inactive descriptions).
        assert_eq!(idx.resolve_description(150085018), Some(90560007));
        assert_eq!(idx.resolve_description(301485011), Some(195967001));
        assert_eq!(idx.resolve_description(999011010), Some(999001004));
        assert_eq!(idx.resolve_description(90560007), None);
        assert_eq!(idx.concept_of(150085018), Some(90560007));
        assert_eq!(idx.concept_of(90560007), Some(90560007));
        // Active flags; the Full file (gout inactive) is ignored.
        assert_eq!(idx.is_active(90560007), Some(true));
        assert_eq!(idx.is_active(999001004), Some(false));
        assert_eq!(idx.is_active(123037004), None);
        // Semantic tags.
        assert_eq!(idx.semantic_tag(90560007), Some("disorder"));
        assert_eq!(idx.semantic_tag(57797005), Some("procedure"));
        assert_eq!(idx.semantic_tag(72313002), Some("observable entity"));
        assert_eq!(idx.semantic_tag(407377005), Some("finding"));
        assert_eq!(
            idx.semantic_tag(999004381000000103),
            Some("foundation metadata concept")
        );
        assert_eq!(idx.semantic_tag(123037004), None);
        // Exclusion refsets: active members only, other refsets ignored.
        assert_eq!(idx.in_exclusion_refset(76272004), Some(999004381000000103));
        assert_eq!(idx.in_exclusion_refset(57797005), Some(999004361000000107));
        assert_eq!(idx.in_exclusion_refset(407377005), Some(999004351000000109));
        assert_eq!(idx.in_exclusion_refset(15628003), None);
        assert_eq!(idx.in_exclusion_refset(195967001), None);
        assert_eq!(idx.exclusion_member_count(), 3);
        assert_eq!(idx.exclusion_members_in(999004381000000103), 1);
        assert_eq!(idx.exclusion_members_in(999004371000000100), 0);
        assert_eq!(idx.concept_count(), 11);
        assert_eq!(idx.description_count(), 20);
        // The UK-namespace description id of fixture extract 15, and the diabetes synonym.
        assert_eq!(idx.resolve_description(9990011000000115), Some(76272004));
        assert_eq!(idx.resolve_description(999014019), Some(73211009));
        assert_eq!(idx.semantic_tag(73211009), Some("disorder"));
    }

    fn hierarchy_fixture() -> PathBuf {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("fixtures/snomed-hierarchy")
    }

    #[test]
    fn display_terms_follow_the_language_refset() {
        let idx = SnomedIndex::build(hierarchy_fixture()).unwrap();
        // The preferred synonym, not an acceptable one with a smaller description id.
        assert_eq!(idx.term(73211009), Some("Diabetes mellitus"));
        // GB and US prefer different synonyms: the GB English refset ranks first.
        assert_eq!(idx.term(38341003), Some("Hypertensive disorder"));
        // No language refset entry at all: the active synonym, not the FSN.
        assert_eq!(
            idx.term(999111009),
            Some("Migx fixture synonym without language refset")
        );
        // The only synonym is inactive: the FSN.
        assert_eq!(
            idx.term(999112002),
            Some("Migx fixture concept with only its FSN active (finding)")
        );
        assert_eq!(idx.term(123037004), None);
        // The older fixture has no language refset: active synonyms.
        let old = SnomedIndex::build(fixture()).unwrap();
        assert_eq!(old.term(90560007), Some("Gout"));
        assert_eq!(
            old.term(57797005),
            Some("Induced termination of pregnancy (procedure)")
        );
        assert!(!old.has_hierarchy());
    }

    #[test]
    fn the_is_a_hierarchy_keeps_active_is_a_rows_only_and_survives_cycles() {
        let idx = SnomedIndex::build(hierarchy_fixture()).unwrap();
        assert!(idx.has_hierarchy());
        // 13 IS-A rows, one inactive; the finding-site row is not IS-A.
        assert_eq!(idx.is_a_count(), 12);
        assert_eq!(idx.children(76272004), &[999102009]);
        assert_eq!(idx.children(999101002), &[76272004, 999104005]);
        let mut below: Vec<u64> = idx.descendants(76272004);
        below.sort_unstable();
        assert_eq!(below, vec![999102009, 999103004, 999105006, 999106007]);
        // A cycle with nothing listed above it ends.
        let mut cycle = idx.descendants(999107003);
        cycle.sort_unstable();
        assert_eq!(cycle, vec![999107003, 999108008]);
        assert!(idx.descendants(999111009).is_empty());
    }

    #[test]
    fn write_and_load_round_trip() {
        let idx = SnomedIndex::build(fixture()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snomed.migxidx");
        idx.write(&path).unwrap();
        let loaded = SnomedIndex::load(&path).unwrap();
        assert_eq!(loaded, idx);
        assert_eq!(loaded.resolve_description(150085018), Some(90560007));
        assert_eq!(loaded.semantic_tag(90560007), Some("disorder"));
        assert_eq!(loaded.is_active(999001004), Some(false));
        assert_eq!(
            loaded.in_exclusion_refset(76272004),
            Some(999004381000000103)
        );
        assert_eq!(loaded.release_version(), "INT_20250101");
        let h = SnomedIndex::build(hierarchy_fixture()).unwrap();
        let p = dir.path().join("h.migxidx");
        h.write(&p).unwrap();
        let loaded = SnomedIndex::load(&p).unwrap();
        assert_eq!(loaded, h);
        assert_eq!(loaded.term(38341003), Some("Hypertensive disorder"));
        assert_eq!(loaded.descendants(999102009).len(), 3);
        // An index of the previous format is refused with the fix.
        let mut v1 = h.to_bytes();
        v1[8..12].copy_from_slice(&1u32.to_le_bytes());
        let e = SnomedIndex::from_bytes(&v1).unwrap_err();
        assert!(e.contains("migx snomed index"), "{e}");
    }

    #[test]
    fn corrupt_index_files_are_rejected() {
        let idx = SnomedIndex::build(fixture()).unwrap();
        let bytes = idx.to_bytes();
        assert!(SnomedIndex::from_bytes(&bytes).is_ok());
        assert!(SnomedIndex::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(SnomedIndex::from_bytes(&bytes[..20]).is_err());
        assert!(SnomedIndex::from_bytes(b"").is_err());
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(SnomedIndex::from_bytes(&bad).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(SnomedIndex::from_bytes(&extra).is_err());
        // A huge array length must not allocate or panic.
        let mut huge = Vec::new();
        huge.extend_from_slice(MAGIC);
        huge.extend_from_slice(&FORMAT.to_le_bytes());
        put_str(&mut huge, "v");
        huge.extend_from_slice(&0u32.to_le_bytes());
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(SnomedIndex::from_bytes(&huge).is_err());

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.idx");
        std::fs::write(&p, b"nonsense").unwrap();
        let e = SnomedIndex::load(&p).unwrap_err();
        assert!(e.to_string().contains("bad.idx"));
    }

    #[test]
    fn release_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            SnomedIndex::build(dir.path()),
            Err(ReleaseError::Release { .. })
        ));
        let t = dir.path().join("Snapshot/Terminology");
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(
            t.join("sct2_Concept_Snapshot_INT_20250101.txt"),
            "id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId\r\n90560007\t2025\tx\t1\t1\r\n",
        )
        .unwrap();
        std::fs::write(
            t.join("sct2_Description_Snapshot-en_INT_20250101.txt"),
            "id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId\r\n",
        )
        .unwrap();
        let e = SnomedIndex::build(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("sct2_Concept_Snapshot_INT_20250101.txt:2:"),
            "{e}"
        );
        std::fs::write(
            t.join("sct2_Concept_Snapshot_INT_20250101.txt"),
            "not\ta\theader\r\n",
        )
        .unwrap();
        let e = SnomedIndex::build(dir.path()).unwrap_err().to_string();
        assert!(e.contains(":1: expected RF2 header"), "{e}");
    }
}
