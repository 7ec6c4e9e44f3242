//! Profile validation (`migx validate --package`): FHIR NPM packages (StructureDefinitions,
//! ValueSets, CodeSystems) over the built-in FHIR R4 4.0.1 base definitions.
//!
//! Stages, one module each:
//! - [`index`]: the loaded StructureDefinitions, ValueSets and CodeSystems by canonical URL.
//! - [`values`]: what the walker and slicing share (an instance item, its place, fixed and
//!   pattern comparison).
//! - [`fhirpath`]: the FHIRPath subset the invariants are evaluated with.
//! - [`snapshot`]: each profile compiled to a tree of element rules, from its snapshot or
//!   generated from its differential over its base (reads the index, caches its trees).
//! - [`bindings`]: ValueSet expansion and membership for required/extensible bindings
//!   (reads the index, caches its expansions).
//! - [`package`]: reading a package (`.tgz` or folder), its `package.json` dependencies, and
//!   the built-in base (`schemas/r4/definitions.json.gz`) into an index; [`Definitions`]
//!   holds it with both caches.
//! - [`slicing`]: assigns repeated items to slices by discriminator (the walker then checks
//!   each against its slice).
//! - [`walker`]: walks an instance against a tree: cardinality, choice types, fixed and
//!   pattern values, bindings, reference targets, extensions and their contexts, slices.
//!
//! Each module imports only those listed above it: no two import each other.
//!
//! What cannot be evaluated (a ValueSet defined by a filter, an unknown profile or
//! extension, an invariant using an unsupported function) is reported as a
//! [`Note`] of kind [`NoteKind::NotEvaluated`], never passed in silence.

pub mod bindings;
pub mod fhirpath;
pub mod index;
pub mod package;
pub mod slicing;
pub mod snapshot;
pub mod values;
pub mod walker;

use serde_json::Value;

pub use package::{Definitions, LoadError, PackageInfo};

use super::Violation;

/// The kind of a [`Note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoteKind {
    /// A rule whose severity is warning (extensible bindings, warning invariants).
    Warning,
    /// A rule the validator could not evaluate; the file is not claimed valid for it.
    NotEvaluated,
}

impl NoteKind {
    /// As written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::Warning => "warning",
            NoteKind::NotEvaluated => "not-evaluated",
        }
    }
}

/// A finding that does not make the file invalid: a warning, or a rule not evaluated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Note {
    /// Warning or not evaluated.
    pub kind: NoteKind,
    /// JSON Pointer of the element, relative to the document root.
    pub pointer: String,
    /// The rule (`binding`, `invariant`, `profile`, `extension`, `slicing`, ...).
    pub rule: String,
    /// What was not evaluated or what is doubtful; never instance content.
    pub message: String,
}

/// Findings of profile validation for one document.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Errors: the document does not conform.
    pub violations: Vec<Violation>,
    /// Warnings and rules not evaluated.
    pub notes: Vec<Note>,
}

/// Which profiles each resource is validated against.
#[derive(Debug, Clone, Default)]
pub struct ProfileOptions {
    /// When non-empty, every resource of a profile's type is validated against these
    /// profiles instead of its `meta.profile`.
    pub profile_urls: Vec<String>,
}

/// Validate a document (a resource or a Bundle) against the base definitions and the
/// profiles of the loaded packages. Every resource inside (Bundle entries, contained) is
/// validated against its own type and the profiles it claims in `meta.profile` (or
/// `opts.profile_urls`).
pub fn validate(defs: &Definitions, doc: &Value, opts: &ProfileOptions) -> Outcome {
    let mut w = walker::Walker::new(defs, doc, opts);
    w.document(doc);
    w.finish()
}

pub(crate) fn violation(pointer: &str, rule: &str, message: String) -> Violation {
    Violation {
        entry: None,
        resource_type: None,
        resource_id: None,
        pointer: pointer.to_string(),
        rule: rule.to_string(),
        message: super::truncate(&message, super::MAX_VALUE_CHARS * 4),
        value: None,
    }
}

#[cfg(test)]
mod tests;
