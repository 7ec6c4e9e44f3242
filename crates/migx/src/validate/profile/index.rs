//! The definitions as loaded, by canonical URL: StructureDefinitions, ValueSets and
//! CodeSystems. Compiling profiles ([`super::snapshot`]) and expanding ValueSets
//! ([`super::bindings`]) read this index; [`super::package`] fills it and keeps their caches
//! beside it in [`super::Definitions`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

/// A CodeSystem's codes, as far as they are known.
#[derive(Debug, Clone)]
pub struct CodeSystemInfo {
    /// `content` (`complete`, `fragment`, `example`, `not-present`, `supplement`).
    pub content: String,
    /// Every code defined, flattened over the hierarchy.
    pub codes: HashSet<String>,
}

/// StructureDefinitions, ValueSets and CodeSystems by canonical URL (without `|version`).
#[derive(Debug, Default)]
pub struct Index {
    pub(crate) sds: HashMap<String, Arc<Value>>,
    pub(crate) value_sets: HashMap<String, Arc<Value>>,
    pub(crate) code_systems: HashMap<String, Arc<CodeSystemInfo>>,
}

impl Index {
    /// The StructureDefinition with this canonical URL (a `|version` suffix is ignored).
    pub fn structure_definition(&self, url: &str) -> Option<&Arc<Value>> {
        self.sds.get(url.split('|').next().unwrap_or(url))
    }

    /// The canonical URL of a core type's definition (`Patient`, `Identifier`, `string`).
    pub fn core_url(type_code: &str) -> String {
        if type_code.contains(':') {
            return type_code.to_string();
        }
        format!("http://hl7.org/fhir/StructureDefinition/{type_code}")
    }

    /// Whether `name` is a core resource type.
    pub fn is_resource_type(&self, name: &str) -> bool {
        self.sds.get(&Self::core_url(name)).is_some_and(|sd| {
            sd.get("kind").and_then(Value::as_str) == Some("resource")
                && sd.get("derivation").and_then(Value::as_str) != Some("constraint")
        })
    }

    /// Whether `name` is a core type (datatype, primitive or resource).
    pub fn is_core_type(&self, name: &str) -> bool {
        !name.contains(':')
            && self.sds.get(&Self::core_url(name)).is_some_and(|sd| {
                sd.get("derivation").and_then(Value::as_str) != Some("constraint")
            })
    }
}
