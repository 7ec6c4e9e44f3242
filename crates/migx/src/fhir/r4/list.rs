//! `List`: one per category.

use super::datatypes::{CodeableConcept, Extension, Meta, Reference};
use serde::Serialize;

/// `List.entry`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListEntry {
    /// `item`.
    pub item: Reference,
}

/// `List`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct List {
    /// `id`.
    pub id: String,
    /// `meta`.
    pub meta: Meta,
    /// `extension` (the UK Core warning).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// `status`.
    pub status: &'static str,
    /// `mode`.
    pub mode: &'static str,
    /// `title`.
    pub title: &'static str,
    /// `code`.
    pub code: CodeableConcept,
    /// `subject`.
    pub subject: Reference,
    /// `date`.
    pub date: String,
    /// `emptyReason` (an empty List only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_reason: Option<CodeableConcept>,
    /// `entry`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<ListEntry>,
}
