//! `List`: one per category.

use super::datatypes::{CodeableConcept, Extension, Meta, Reference};
use crate::fhir::ids::EntryIds;
use serde::{Serialize, Serializer};
use std::sync::Arc;

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
    #[serde(skip_serializing_if = "ListEntries::is_empty")]
    pub entry: ListEntries,
}

/// References to entries of the bundle being made, as indices into its entry ids (shared
/// with the bundle's plan): each serialised as the [`Reference`] to the entry's `fullUrl`,
/// made as it is written, so that 100,000 of them own no `String` each (issue 24.12). The
/// Provenance's targets, and inside [`ListEntries`] a List's members.
#[derive(Debug, Clone, Default)]
pub struct EntryRefs {
    ids: Arc<EntryIds>,
    members: Vec<u32>,
}

impl EntryRefs {
    /// References to the entries `members` (indices into `ids`, in order).
    pub fn new(ids: Arc<EntryIds>, members: Vec<u32>) -> EntryRefs {
        EntryRefs { ids, members }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Each one's `fullUrl`, in order (`None` for an index outside the ids: a bug).
    pub fn full_urls(&self) -> impl Iterator<Item = Option<String>> + '_ {
        self.members.iter().map(|&k| self.ids.full_url(k as usize))
    }

    /// Serialise each as `wrap` of its `Reference`; an index outside the ids does not
    /// serialise (never a reference to nothing in its place).
    fn serialize_as<S: Serializer, T: Serialize>(
        &self,
        serializer: S,
        wrap: impl Fn(Reference) -> T,
    ) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let mut seq = serializer.serialize_seq(Some(self.members.len()))?;
        for url in self.full_urls() {
            let url =
                url.ok_or_else(|| S::Error::custom("a reference to an entry outside the bundle"))?;
            seq.serialize_element(&wrap(Reference::to(url)))?;
        }
        seq.end()
    }
}

impl PartialEq for EntryRefs {
    /// The same references: the same `fullUrl`s in the same order.
    fn eq(&self, other: &EntryRefs) -> bool {
        self.full_urls().eq(other.full_urls())
    }
}

impl Serialize for EntryRefs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize_as(serializer, |r| r)
    }
}

/// `List.entry`, the members of a category List: [`EntryRefs`], each serialised as the
/// [`ListEntry`] naming it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListEntries(pub EntryRefs);

impl ListEntries {
    /// The entries naming the bundle entries `members` (indices into `ids`, in order).
    pub fn new(ids: Arc<EntryIds>, members: Vec<u32>) -> ListEntries {
        ListEntries(EntryRefs::new(ids, members))
    }

    /// Whether the List names nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for ListEntries {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_as(serializer, |item| ListEntry { item })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serialised from the ids, the entries are the bytes of the `ListEntry`s (and, as targets,
    /// the `Reference`s) they stand for;
    /// a member outside the ids does not serialise (never a List naming nothing in its place).
    #[test]
    fn list_entries_serialise_as_the_list_entries_they_stand_for() {
        let mut ids = EntryIds::default();
        for id in [
            "8f3b744a-93d9-433c-8d46-6ef68ac95052",
            "x",
            "00000000-0000-0000-0000-00000000000a",
        ] {
            ids.push(id);
        }
        let ids = Arc::new(ids);
        let e = ListEntries::new(Arc::clone(&ids), vec![2, 0, 1, 0]);
        assert_eq!(e.0.len(), 4);
        let urls = [
            "urn:uuid:00000000-0000-0000-0000-00000000000a",
            "urn:uuid:8f3b744a-93d9-433c-8d46-6ef68ac95052",
            "urn:uuid:x",
            "urn:uuid:8f3b744a-93d9-433c-8d46-6ef68ac95052",
        ];
        let owned: Vec<ListEntry> = urls
            .into_iter()
            .map(|u| ListEntry {
                item: Reference::to(u),
            })
            .collect();
        assert_eq!(
            serde_json::to_string_pretty(&e).unwrap(),
            serde_json::to_string_pretty(&owned).unwrap()
        );
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::to_value(&owned).unwrap()
        );
        // As Provenance targets: the References alone.
        let refs: Vec<Reference> = urls.into_iter().map(Reference::to).collect();
        assert_eq!(
            serde_json::to_string_pretty(&e.0).unwrap(),
            serde_json::to_string_pretty(&refs).unwrap()
        );
        assert!(serde_json::to_string(&EntryRefs::new(Arc::clone(&ids), vec![7])).is_err());
        assert!(ListEntries::default().is_empty());
        assert_eq!(
            serde_json::to_string(&ListEntries::default()).unwrap(),
            "[]"
        );
        assert!(serde_json::to_string(&ListEntries::new(ids, vec![3])).is_err());
        let mut other = EntryIds::default();
        other.push("00000000-0000-0000-0000-00000000000a");
        other.push("8f3b744a-93d9-433c-8d46-6ef68ac95052");
        other.push("x");
        let same = ListEntries::new(Arc::new(other), vec![0, 1, 2, 1]);
        assert_eq!(e, same);
        assert_ne!(e, ListEntries::new(Arc::clone(&same.0.ids), vec![0, 1, 2]));
    }
}
