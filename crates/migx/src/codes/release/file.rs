//! The index file: written once, loaded in milliseconds. Layout (all integers little-endian):
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

use std::path::Path;

use super::*;

impl SnomedIndex {
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
    use crate::codes::release::test_support::*;

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
}
