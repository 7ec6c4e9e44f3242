//! Loading FHIR NPM packages and the built-in R4 base, indexed once per process.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::bindings::{Expander, Expansion, Expansions};
pub use super::index::CodeSystemInfo;
use super::index::Index;
use super::snapshot::{Compiler, Tree, Trees};

/// The compact base definitions (see `schemas/r4/build.py` and `schemas/r4/SOURCE.json`).
pub const BASE_DEFINITIONS_GZ: &[u8] =
    include_bytes!("../../../../../schemas/r4/definitions.json.gz");
/// `schemas/r4/SOURCE.json`: where the base definitions come from, with checksums.
pub const BASE_SOURCE: &str = include_str!("../../../../../schemas/r4/SOURCE.json");
/// The FHIR core package the base stands for.
pub const CORE_PACKAGE: &str = "hl7.fhir.r4.core";
/// Its version.
pub const CORE_VERSION: &str = "4.0.1";

/// A package could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path cannot be read.
    #[error("{path}: cannot read package: {reason}")]
    Io {
        /// The package path.
        path: String,
        /// The I/O error kind.
        reason: String,
    },
    /// Not a package: no `package.json`, or not a gzip'd tar.
    #[error("{path}: not a FHIR package: {reason}")]
    Format {
        /// The package path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The built-in base definitions cannot be read (a build defect).
    #[error("internal error: the built-in R4 definitions cannot be read")]
    Base,
}

/// One loaded package, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInfo {
    /// `name` of its `package.json`.
    pub name: String,
    /// `version` of its `package.json`.
    pub version: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// StructureDefinitions, ValueSets and CodeSystems it holds.
    pub resources: usize,
    /// Dependencies (`name#version`) neither built in nor given.
    pub missing_dependencies: Vec<String>,
    /// JSON files in the package that could not be parsed (named, never echoed).
    pub unreadable: Vec<String>,
}

/// Everything validation reads: StructureDefinitions, ValueSets and CodeSystems by
/// canonical URL (the [`Index`]), plus caches of compiled profiles and expanded ValueSets.
pub struct Definitions {
    pub(crate) index: Index,
    /// Loaded packages, in the order given.
    pub packages: Vec<PackageInfo>,
    trees: Trees,
    expansions: Expansions,
}

impl std::fmt::Debug for Definitions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Definitions")
            .field("structure_definitions", &self.index.sds.len())
            .field("value_sets", &self.index.value_sets.len())
            .field("code_systems", &self.index.code_systems.len())
            .field("packages", &self.packages)
            .finish()
    }
}

fn flat_codes(concepts: Option<&Value>, out: &mut HashSet<String>) {
    for c in concepts.and_then(Value::as_array).into_iter().flatten() {
        match c {
            Value::String(s) => {
                out.insert(s.clone());
            }
            Value::Object(o) => {
                if let Some(code) = o.get("code").and_then(Value::as_str) {
                    out.insert(code.to_string());
                }
                flat_codes(o.get("concept"), out);
            }
            _ => {}
        }
    }
}

fn code_system_info(cs: &Value) -> CodeSystemInfo {
    let mut codes = HashSet::new();
    // The compact base keeps `codes` (flat strings); a package keeps `concept` (a tree).
    flat_codes(cs.get("codes"), &mut codes);
    flat_codes(cs.get("concept"), &mut codes);
    CodeSystemInfo {
        content: cs
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("complete")
            .to_string(),
        codes,
    }
}

/// The built-in base, parsed once per process.
fn base() -> Option<&'static Value> {
    static BASE: OnceLock<Option<Value>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(BASE_DEFINITIONS_GZ)
            .read_to_end(&mut text)
            .ok()?;
        serde_json::from_slice(&text).ok()
    })
    .as_ref()
}

/// A package read from disk, not yet indexed.
struct RawPackage {
    info: PackageInfo,
    dependencies: Vec<(String, String)>,
    resources: Vec<Value>,
}

fn is_conformance(v: &Value) -> bool {
    matches!(
        v.get("resourceType").and_then(Value::as_str),
        Some("StructureDefinition" | "ValueSet" | "CodeSystem")
    ) && v.get("url").and_then(Value::as_str).is_some()
}

/// name, version, dependencies (name, version) of a `package.json`.
type Manifest = (String, String, Vec<(String, String)>);

fn manifest(path: &Path, bytes: &[u8]) -> Result<Manifest, LoadError> {
    let format = |reason: &str| LoadError::Format {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let v: Value =
        serde_json::from_slice(bytes).map_err(|_| format("package.json is not valid JSON"))?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| format("package.json has no name"))?
        .to_string();
    let version = v
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let deps = v
        .get("dependencies")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    Ok((name, version, deps))
}

/// Entries of a tar archive (ustar, pax and GNU long names): (path, data) of regular files.
fn tar_entries(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    fn field(b: &[u8]) -> String {
        let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).trim().to_string()
    }
    fn octal(b: &[u8]) -> Option<usize> {
        let s = field(b);
        if s.is_empty() {
            return Some(0);
        }
        usize::from_str_radix(s.trim_matches(' '), 8).ok()
    }
    let mut out = Vec::new();
    let mut pos = 0;
    let mut long_name: Option<String> = None;
    while pos + 512 <= bytes.len() {
        let header = &bytes[pos..pos + 512];
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let size = octal(&header[124..136])?;
        let kind = header[156];
        let data_start = pos + 512;
        let data_end = data_start.checked_add(size)?;
        let data = bytes.get(data_start..data_end)?;
        let mut name = field(&header[0..100]);
        let prefix = field(&header[345..500]);
        if &header[257..262] == b"ustar" && !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        match kind {
            b'x' => {
                // pax records: "<len> key=value\n"
                let text = String::from_utf8_lossy(data);
                for rec in text.split('\n') {
                    if let Some((_, kv)) = rec.split_once(' ') {
                        if let Some(p) = kv.strip_prefix("path=") {
                            long_name = Some(p.to_string());
                        }
                    }
                }
            }
            b'L' => long_name = Some(field(data)),
            b'0' | 0 => {
                let name = long_name.take().unwrap_or(name);
                out.push((name, data.to_vec()));
            }
            _ => long_name = None,
        }
        pos = data_start + size.div_ceil(512) * 512;
    }
    Some(out)
}

fn read_tgz(path: &Path) -> Result<RawPackage, LoadError> {
    let io = |e: std::io::Error| LoadError::Io {
        path: path.display().to_string(),
        reason: e.kind().to_string(),
    };
    let format = |reason: &str| LoadError::Format {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let file = std::fs::read(path).map_err(io)?;
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&file[..])
        .read_to_end(&mut tar)
        .map_err(|_| format("not a gzip file"))?;
    let entries = tar_entries(&tar).ok_or_else(|| format("not a tar archive"))?;
    // A FHIR package keeps its content in `package/` (files in `package/other/` and
    // `package/examples/` are not definitions).
    let mut manifest_bytes = None;
    let mut files = Vec::new();
    for (name, data) in entries {
        let name = name.trim_start_matches("./");
        let Some(rel) = name.strip_prefix("package/") else {
            continue;
        };
        if rel == "package.json" {
            manifest_bytes = Some(data);
        } else if !rel.contains('/') && rel.ends_with(".json") && !rel.starts_with('.') {
            files.push((rel.to_string(), data));
        }
    }
    let manifest_bytes = manifest_bytes.ok_or_else(|| format("no package/package.json"))?;
    let (name, version, dependencies) = manifest(path, &manifest_bytes)?;
    Ok(collect(path, name, version, dependencies, files))
}

fn collect(
    path: &Path,
    name: String,
    version: String,
    dependencies: Vec<(String, String)>,
    mut files: Vec<(String, Vec<u8>)>,
) -> RawPackage {
    files.sort();
    let mut resources = Vec::new();
    let mut unreadable = Vec::new();
    for (file, data) in files {
        match serde_json::from_slice::<Value>(&data) {
            Ok(v) if is_conformance(&v) => resources.push(v),
            Ok(_) => {}
            Err(_) => unreadable.push(file),
        }
    }
    RawPackage {
        info: PackageInfo {
            name,
            version,
            path: path.to_path_buf(),
            resources: resources.len(),
            missing_dependencies: Vec::new(),
            unreadable,
        },
        dependencies,
        resources,
    }
}

fn read_folder(path: &Path) -> Result<RawPackage, LoadError> {
    let io = |e: std::io::Error| LoadError::Io {
        path: path.display().to_string(),
        reason: e.kind().to_string(),
    };
    let dir = if path.join("package").join("package.json").is_file() {
        path.join("package")
    } else {
        path.to_path_buf()
    };
    let manifest_bytes = std::fs::read(dir.join("package.json")).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            LoadError::Format {
                path: path.display().to_string(),
                reason: "no package.json".into(),
            }
        } else {
            io(e)
        }
    })?;
    let (name, version, dependencies) = manifest(path, &manifest_bytes)?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let file = entry.file_name().to_string_lossy().to_string();
        if file == "package.json" || file.starts_with('.') || !file.ends_with(".json") {
            continue;
        }
        if entry.file_type().map_err(io)?.is_file() {
            files.push((file, std::fs::read(entry.path()).map_err(io)?));
        }
    }
    Ok(collect(path, name, version, dependencies, files))
}

/// Read one package: a `.tgz` (or `.tar.gz`) file, or a folder holding `package.json`
/// (directly or in `package/`).
fn read_package(path: &Path) -> Result<RawPackage, LoadError> {
    if path.is_dir() {
        read_folder(path)
    } else {
        read_tgz(path)
    }
}

impl Definitions {
    /// The built-in FHIR R4 4.0.1 base definitions alone.
    pub fn base_only() -> Result<Definitions, LoadError> {
        Definitions::load(&[])
    }

    /// Load the built-in base and the given packages. Dependencies are resolved by each
    /// `package.json`: `hl7.fhir.r4.core#4.0.1` is built in; others must be among the
    /// given packages, else they are listed in [`PackageInfo::missing_dependencies`] (what
    /// needs them is then reported as not evaluated). On a canonical URL defined twice, the
    /// package given first wins; packages override the base.
    pub fn load(paths: &[PathBuf]) -> Result<Definitions, LoadError> {
        let base = base().ok_or(LoadError::Base)?;
        let mut defs = Definitions {
            index: Index::default(),
            packages: Vec::new(),
            trees: Trees::default(),
            expansions: Expansions::default(),
        };
        let list = |key: &str| {
            base.get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        };
        for sd in list("structureDefinitions") {
            if let Some(url) = sd.get("url").and_then(Value::as_str) {
                defs.index.sds.insert(url.to_string(), Arc::new(sd.clone()));
            }
        }
        for vs in list("valueSets") {
            if let Some(url) = vs.get("url").and_then(Value::as_str) {
                defs.index
                    .value_sets
                    .insert(url.to_string(), Arc::new(vs.clone()));
            }
        }
        for cs in list("codeSystems") {
            if let Some(url) = cs.get("url").and_then(Value::as_str) {
                defs.index
                    .code_systems
                    .insert(url.to_string(), Arc::new(code_system_info(cs)));
            }
        }
        let mut raws = Vec::new();
        for p in paths {
            raws.push(read_package(p)?);
        }
        let names: HashMap<String, String> = raws
            .iter()
            .map(|r| (r.info.name.clone(), r.info.version.clone()))
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        for raw in raws {
            let mut info = raw.info;
            for (dep, version) in &raw.dependencies {
                let satisfied = (dep == CORE_PACKAGE && version == CORE_VERSION)
                    || names
                        .get(dep)
                        .is_some_and(|v| v == version || version.is_empty());
                if !satisfied {
                    info.missing_dependencies.push(format!("{dep}#{version}"));
                }
            }
            for r in raw.resources {
                let Some(url) = r.get("url").and_then(Value::as_str).map(str::to_string) else {
                    continue;
                };
                // Canonical URLs may carry a version (`url|1.0`); index without it.
                let url = url.split('|').next().unwrap_or("").to_string();
                if !seen.insert(url.clone()) {
                    continue;
                }
                match r.get("resourceType").and_then(Value::as_str) {
                    Some("StructureDefinition") => {
                        defs.index.sds.insert(url, Arc::new(r));
                    }
                    Some("ValueSet") => {
                        defs.index.value_sets.insert(url, Arc::new(r));
                    }
                    Some("CodeSystem") => {
                        defs.index
                            .code_systems
                            .insert(url, Arc::new(code_system_info(&r)));
                    }
                    _ => {}
                }
            }
            defs.packages.push(info);
        }
        Ok(defs)
    }

    /// The StructureDefinition with this canonical URL (a `|version` suffix is ignored).
    pub fn structure_definition(&self, url: &str) -> Option<&Arc<Value>> {
        self.index.structure_definition(url)
    }

    /// The canonical URL of a core type's definition (`Patient`, `Identifier`, `string`).
    pub fn core_url(type_code: &str) -> String {
        Index::core_url(type_code)
    }

    /// Whether `name` is a core resource type.
    pub fn is_resource_type(&self, name: &str) -> bool {
        self.index.is_resource_type(name)
    }

    /// Whether `name` is a core type (datatype, primitive or resource).
    pub fn is_core_type(&self, name: &str) -> bool {
        self.index.is_core_type(name)
    }

    /// The compiled element tree of a profile (or core type) URL, compiled on first use.
    pub fn tree(&self, url: &str) -> Arc<Result<Tree, String>> {
        Compiler {
            index: &self.index,
            trees: &self.trees,
        }
        .tree_at(url, 0)
    }

    /// The tree of a core type by its code.
    pub fn core_tree(&self, type_code: &str) -> Arc<Result<Tree, String>> {
        self.tree(&Self::core_url(type_code))
    }

    /// The expansion of a ValueSet, computed once per process.
    pub fn expansion(&self, url: &str) -> Arc<Expansion> {
        Expander {
            index: &self.index,
            expansions: &self.expansions,
        }
        .expand(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_reader_reads_ustar_and_long_names() {
        fn header(name: &str, size: usize, kind: u8) -> Vec<u8> {
            let mut h = vec![0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            let s = format!("{size:011o}");
            h[124..135].copy_from_slice(s.as_bytes());
            h[156] = kind;
            h[257..262].copy_from_slice(b"ustar");
            h
        }
        fn pad(mut d: Vec<u8>) -> Vec<u8> {
            let n = d.len().div_ceil(512) * 512;
            d.resize(n, 0);
            d
        }
        let long = format!("package/{}.json", "x".repeat(120));
        let mut tar = header("package/a.json", 2, b'0');
        tar.extend(pad(b"{}".to_vec()));
        tar.extend(header("././@LongLink", long.len(), b'L'));
        tar.extend(pad(long.as_bytes().to_vec()));
        tar.extend(header("ignored", 3, b'0'));
        tar.extend(pad(b"[1]".to_vec()));
        tar.extend(vec![0u8; 1024]);
        let entries = tar_entries(&tar).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], ("package/a.json".to_string(), b"{}".to_vec()));
        assert_eq!(entries[1].0, long);
        // A size that runs past the end is not an archive.
        let bad = header("package/a.json", 5000, b'0');
        assert!(tar_entries(&bad).is_none());
    }

    #[test]
    fn base_definitions_match_their_recorded_source() {
        use sha2::{Digest, Sha256};
        let source: Value = serde_json::from_str(BASE_SOURCE).unwrap();
        let digest = Sha256::digest(BASE_DEFINITIONS_GZ);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(source["output_sha256"], hex.as_str());
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(BASE_DEFINITIONS_GZ)
            .read_to_end(&mut text)
            .unwrap();
        let digest = Sha256::digest(&text);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(source["json_sha256"], hex.as_str());
        let defs = Definitions::base_only().unwrap();
        assert_eq!(
            defs.index.sds.len() as u64,
            source["counts"]["structureDefinitions"].as_u64().unwrap()
        );
        assert!(defs.is_resource_type("Patient"));
        assert!(!defs.is_resource_type("Identifier"));
        assert!(defs.is_core_type("dateTime"));
    }

    /// When the source tarball is at hand (`MIGX_R4_SOURCE_TGZ`), its checksum is the
    /// recorded one: the generator's input is the published package.
    #[test]
    fn source_tarball_checksum_when_available() {
        use sha2::{Digest, Sha256};
        let Ok(path) = std::env::var("MIGX_R4_SOURCE_TGZ") else {
            eprintln!("skipped: MIGX_R4_SOURCE_TGZ not set");
            return;
        };
        let source: Value = serde_json::from_str(BASE_SOURCE).unwrap();
        let bytes = std::fs::read(path).unwrap();
        let hex: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(source["tarball_sha256"], hex.as_str());
    }
}
