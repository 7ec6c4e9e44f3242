//! Building the index from an RF2 release folder: which files are read, each row checked,
//! the latest row per id kept, the display term chosen per concept.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::codes::rf2::load_simple_refset;

use super::*;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::release::test_support::*;

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
