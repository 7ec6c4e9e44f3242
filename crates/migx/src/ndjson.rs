//! `--format ndjson`: the disclosed resources as FHIR bulk data, one file per resource
//! type (`<DIR>/ndjson/<ResourceType>.ndjson`, `application/fhir+ndjson`), ready for a FHIR
//! server's bulk `$import`.
//!
//! Each line is one resource, compact JSON. Order is deterministic: input path order, then
//! bundle entry order. Within a bundle, resources reference each other by `urn:uuid:<id>`
//! (the entries' `fullUrl`); a server importing loose resources cannot resolve those, so
//! they are rewritten to relative references `<ResourceType>/<id>` (the id is unchanged).
//! Anything else (identifiers, the Provenance's `urn:uuid:` of the source message) is left
//! as it is.
//!
//! Writing streams: each worker turns its bundle into per-type line buffers and drops the
//! bundle; the single writer appends them, in input order, to per-type temp files which are
//! synced and renamed into place at the end of the run (an interrupted run publishes
//! nothing and leaves the previous files untouched).

use crate::fhir::r4::{Bundle, BundleEntry};
use crate::output::{self, AtomicFile};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One input's disclosed resources, as NDJSON lines per resource type.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    /// Resource type -> lines (each ending in `\n`), in bundle entry order.
    pub by_type: BTreeMap<String, Vec<u8>>,
    /// SHA-256 of all lines in bundle entry order (what was disclosed, for the access audit).
    pub sha256: String,
}

/// Turn a disclosed bundle into NDJSON lines: each typed resource serialised on its own
/// (one small JSON tree at a time, for the reference rewrite), in entry order.
pub fn bundle_lines(bundle: &Bundle) -> io::Result<Lines> {
    let mut lines = LineWriter::new(
        bundle
            .entry
            .iter()
            .map(|e| (e.full_url.as_str(), e.resource.resource_type())),
    );
    for e in &bundle.entry {
        lines.push(e)?;
    }
    Ok(lines.finish())
}

/// One bundle's NDJSON lines, made entry by entry as the entries are (`migx convert`
/// streams them here without holding the bundle): told every entry's `fullUrl` and type
/// first, for the reference rewrite.
pub struct LineWriter {
    /// fullUrl -> relative reference.
    refs: HashMap<String, String>,
    by_type: BTreeMap<String, Vec<u8>>,
    hasher: Sha256,
}

impl LineWriter {
    /// Ready for a bundle whose entries have these `fullUrl`s (`urn:uuid:<id>`) and types.
    pub fn new<'a, U: AsRef<str>>(entries: impl Iterator<Item = (U, &'a str)>) -> LineWriter {
        let refs = entries
            .map(|(url, ty)| {
                let url = url.as_ref();
                let id = url.strip_prefix("urn:uuid:").unwrap_or(url);
                (url.to_string(), format!("{ty}/{id}"))
            })
            .collect();
        LineWriter {
            refs,
            by_type: BTreeMap::new(),
            hasher: Sha256::new(),
        }
    }

    /// The next entry's line.
    pub fn push(&mut self, e: &BundleEntry) -> io::Result<()> {
        let mut r = serde_json::to_value(&e.resource).map_err(io::Error::other)?;
        rewrite_refs(&mut r, &self.refs);
        let buf = self
            .by_type
            .entry(e.resource.resource_type().to_string())
            .or_default();
        let start = buf.len();
        serde_json::to_writer(&mut *buf, &r).map_err(io::Error::other)?;
        buf.push(b'\n');
        self.hasher.update(&buf[start..]);
        Ok(())
    }

    /// The lines, per type, and their hash.
    pub fn finish(self) -> Lines {
        Lines {
            by_type: self.by_type,
            sha256: crate::digest::hex(&self.hasher.finalize()),
        }
    }
}

fn rewrite_refs(v: &mut Json, refs: &HashMap<String, String>) {
    match v {
        Json::Object(m) => {
            for (k, child) in m.iter_mut() {
                if k == "reference" {
                    if let Json::String(s) = child {
                        if let Some(rel) = refs.get(s.as_str()) {
                            *s = rel.clone();
                        }
                        continue;
                    }
                }
                rewrite_refs(child, refs);
            }
        }
        Json::Array(a) => a.iter_mut().for_each(|c| rewrite_refs(c, refs)),
        _ => {}
    }
}

/// The single writer of `<DIR>/ndjson/`: appends lines in the order it is given them.
pub struct Writer {
    dir: PathBuf,
    files: BTreeMap<String, AtomicFile>,
}

impl Writer {
    /// Prepare `dir` (created owner-only; stale temp files from an interrupted run removed).
    pub fn new(dir: &Path) -> io::Result<Writer> {
        output::secure_dir(dir)?;
        output::remove_stale_temps(dir)?;
        Ok(Writer {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
        })
    }

    /// Append one input's lines (call in input order).
    pub fn append(&mut self, lines: &Lines) -> io::Result<()> {
        for (ty, bytes) in &lines.by_type {
            let f = match self.files.get_mut(ty) {
                Some(f) => f,
                None => {
                    let f = AtomicFile::create(&self.dir.join(format!("{ty}.ndjson")))?;
                    self.files.entry(ty.clone()).or_insert(f)
                }
            };
            f.write_all(bytes)?;
        }
        Ok(())
    }

    /// Publish every file; remove `*.ndjson` files an earlier run left for types this run
    /// did not produce (so the folder holds exactly this run's disclosures).
    pub fn commit(self) -> io::Result<()> {
        let written: Vec<String> = self.files.keys().map(|t| format!("{t}.ndjson")).collect();
        for (_, f) in self.files {
            f.commit()?;
        }
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".ndjson") && !written.contains(&name) {
                    std::fs::remove_file(e.path())?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::decide::Category;

    /// A bundle of one shared procedure: a line per resource, per type, in entry order;
    /// every reference to an entry made relative, identifiers left as they are.
    #[test]
    fn lines_per_type_in_entry_order_with_relative_references() {
        crate::fhir::map::testing::one_shared_procedure(|b, _| {
            let l = bundle_lines(b).unwrap();
            assert_eq!(
                l.by_type.keys().collect::<Vec<_>>(),
                vec![
                    "Consent",
                    "List",
                    "Organization",
                    "Patient",
                    "Procedure",
                    "Provenance"
                ]
            );
            let lists = String::from_utf8(l.by_type["List"].clone()).unwrap();
            assert_eq!(lists.lines().count(), Category::ALL.len());
            let patient_id = b.entry[0].resource.id();
            let proc = String::from_utf8(l.by_type["Procedure"].clone()).unwrap();
            let lines: Vec<&str> = proc.lines().collect();
            assert_eq!(lines.len(), 1);
            assert!(lines[0].contains(&format!(r#""reference":"Patient/{patient_id}""#)));
            assert!(!lines[0].contains(r#""reference":"urn:uuid:"#));
            // identifiers are not references: untouched
            assert!(lines[0].contains(r#""system":"urn:ietf:rfc:3986","value":"urn:uuid:"#));
            // The Provenance's source message identifier stays a urn:uuid too.
            let prov = String::from_utf8(l.by_type["Provenance"].clone()).unwrap();
            assert!(
                prov.contains(r#""identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:"#)
            );
            assert!(prov.contains(&format!(r#""reference":"Patient/{patient_id}""#)));
            assert_eq!(l.sha256.len(), 64);
            assert_eq!(l.sha256, bundle_lines(b).unwrap().sha256);
        });
    }

    #[test]
    fn writer_publishes_atomically_and_removes_stale_types() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("ndjson");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Flag.ndjson"), b"old\n").unwrap();
        let mut w = Writer::new(&dir).unwrap();
        let mut l = Lines::default();
        l.by_type.insert("Patient".into(), b"{\"a\":1}\n".to_vec());
        w.append(&l).unwrap();
        w.append(&l).unwrap();
        // nothing published before commit
        assert!(!dir.join("Patient.ndjson").exists());
        w.commit().unwrap();
        assert_eq!(
            std::fs::read(dir.join("Patient.ndjson")).unwrap(),
            b"{\"a\":1}\n{\"a\":1}\n"
        );
        assert!(!dir.join("Flag.ndjson").exists());
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }
}
