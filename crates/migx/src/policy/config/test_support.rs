//! Helpers the policy's unit tests share.

use std::path::{Path, PathBuf};

use super::load::EMBEDDED_FILES;
use super::DEFAULT_POLICY_JSON;
use crate::codes::{CodeSystem, Coding};

pub(crate) fn snomed(code: &str) -> Coding {
    Coding::new(CodeSystem::Snomed, code)
}

pub(crate) fn read(code: &str) -> Coding {
    Coding::new(CodeSystem::ReadV2, code)
}

pub(crate) fn manifest(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(rel)
}

/// Write a policy folder: default.json (edited by `edit`) plus copies of the lists.
pub(crate) fn policy_dir(
    edit: impl FnOnce(&mut serde_json::Value),
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("codes")).unwrap();
    for (name, text) in EMBEDDED_FILES {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let mut v: serde_json::Value = serde_json::from_str(DEFAULT_POLICY_JSON).unwrap();
    edit(&mut v);
    let path = dir.path().join("policy.json");
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    (dir, path)
}
