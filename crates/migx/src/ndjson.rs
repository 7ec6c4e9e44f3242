//! `--format ndjson`: the released resources as FHIR bulk data, one file per resource
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

use crate::output::{self, AtomicFile};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One input's released resources, as NDJSON lines per resource type.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    /// Resource type -> lines (each ending in `\n`), in bundle entry order.
    pub by_type: BTreeMap<String, Vec<u8>>,
    /// SHA-256 of all lines in bundle entry order (what was released, for the access audit).
    pub sha256: String,
}

/// Turn a released bundle into NDJSON lines (consumes the bundle: nothing is cloned).
pub fn bundle_lines(bundle: Json) -> io::Result<Lines> {
    let Json::Object(mut b) = bundle else {
        return Err(io::Error::other("the bundle is not a JSON object"));
    };
    let Some(Json::Array(entries)) = b.remove("entry") else {
        return Ok(Lines {
            by_type: BTreeMap::new(),
            sha256: crate::digest::hex(&Sha256::digest(b"")),
        });
    };
    // fullUrl -> relative reference.
    let mut refs: HashMap<String, String> = HashMap::with_capacity(entries.len());
    for e in &entries {
        if let (Some(url), Some(ty), Some(id)) = (
            e["fullUrl"].as_str(),
            e["resource"]["resourceType"].as_str(),
            e["resource"]["id"].as_str(),
        ) {
            refs.insert(url.to_string(), format!("{ty}/{id}"));
        }
    }
    let mut by_type: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut hasher = Sha256::new();
    for e in entries {
        let Json::Object(mut e) = e else { continue };
        let Some(mut r) = e.remove("resource") else {
            continue;
        };
        let ty = r["resourceType"].as_str().unwrap_or_default().to_string();
        if ty.is_empty() || !ty.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return Err(io::Error::other("a resource without a valid resourceType"));
        }
        rewrite_refs(&mut r, &refs);
        let buf = by_type.entry(ty).or_default();
        let start = buf.len();
        serde_json::to_writer(&mut *buf, &r).map_err(io::Error::other)?;
        buf.push(b'\n');
        hasher.update(&buf[start..]);
    }
    Ok(Lines {
        by_type,
        sha256: crate::digest::hex(&hasher.finalize()),
    })
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
    /// did not produce (so the folder holds exactly this run's release).
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
    use serde_json::json;

    #[test]
    fn lines_per_type_in_entry_order_with_relative_references() {
        let b = json!({
            "resourceType": "Bundle",
            "entry": [
                { "fullUrl": "urn:uuid:p1", "resource": { "resourceType": "Patient", "id": "p1" } },
                { "fullUrl": "urn:uuid:c1", "resource": { "resourceType": "Condition", "id": "c1",
                    "subject": { "reference": "urn:uuid:p1" },
                    "identifier": [{ "system": "urn:ietf:rfc:3986", "value": "urn:uuid:p1" }] } },
                { "fullUrl": "urn:uuid:c2", "resource": { "resourceType": "Condition", "id": "c2",
                    "subject": { "reference": "urn:uuid:unknown" } } }
            ]
        });
        let l = bundle_lines(b).unwrap();
        assert_eq!(
            l.by_type.keys().collect::<Vec<_>>(),
            vec!["Condition", "Patient"]
        );
        let cond = String::from_utf8(l.by_type["Condition"].clone()).unwrap();
        let lines: Vec<&str> = cond.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains(r#""reference":"Patient/p1""#));
        // identifiers are not references: untouched
        assert!(lines[0].contains(r#""value":"urn:uuid:p1""#));
        assert!(lines[1].contains(r#""reference":"urn:uuid:unknown""#));
        assert_eq!(l.sha256.len(), 64);
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
