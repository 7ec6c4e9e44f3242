//! The record's id index: source id -> item, without a second copy of any id. The table
//! holds only which item and which of its ids (8 bytes); a lookup hashes the id asked for
//! and compares it with the item's own id string (issue 24.12: bytes per item).

use super::item::Item;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// One indexed id: the item, and which of its ids (0: `id`, k: `alt_ids[k - 1]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    item: u32,
    which: u32,
}

/// Source id -> item index, over the items it was built from; ids seen on more than one
/// element are not in it (see [`IdIndex::build`]).
#[derive(Clone, Default)]
pub(super) struct IdIndex {
    table: HashTable<Slot>,
    hasher: DefaultHashBuilder,
}

impl std::fmt::Debug for IdIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdIndex({} ids)", self.table.len())
    }
}

/// The id a slot names, if the items still hold it.
fn id_of(items: &[Item], s: Slot) -> Option<&str> {
    let item = items.get(s.item as usize)?;
    match s.which {
        0 => Some(item.id.as_str()),
        k => item.alt_ids.get(k as usize - 1).map(String::as_str),
    }
}

impl IdIndex {
    /// Index every id and alternative id of `items` (an item without an id is not indexed,
    /// nor are its alternative ids); the ids seen on more than one element (or twice on
    /// one) are left out, and returned sorted.
    pub(super) fn build(items: &[Item]) -> (IdIndex, Vec<String>) {
        let hasher = DefaultHashBuilder::default();
        let mut table: HashTable<Slot> = HashTable::with_capacity(items.len());
        let mut dups: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            // More items than a u32 counts cannot be read (the input limits stop far
            // sooner); past it ids are not indexed, so references to them do not resolve.
            let Ok(i) = u32::try_from(i) else { break };
            if item.id.is_empty() {
                continue;
            }
            let ids =
                std::iter::once(item.id.as_str()).chain(item.alt_ids.iter().map(String::as_str));
            for (k, id) in (0u32..).zip(ids) {
                let h = hasher.hash_one(id);
                if table.find(h, |&s| id_of(items, s) == Some(id)).is_some() {
                    dups.push(id.to_string());
                    continue;
                }
                table.insert_unique(h, Slot { item: i, which: k }, |&s| {
                    hasher.hash_one(id_of(items, s).unwrap_or_default())
                });
            }
        }
        dups.sort();
        dups.dedup();
        for d in &dups {
            let h = hasher.hash_one(d.as_str());
            if let Ok(e) = table.find_entry(h, |&s| id_of(items, s) == Some(d.as_str())) {
                e.remove();
            }
        }
        table.shrink_to_fit(|&s| hasher.hash_one(id_of(items, s).unwrap_or_default()));
        (IdIndex { table, hasher }, dups)
    }

    /// The item with this id, looked up among `items` (the ones it was built from).
    pub(super) fn get(&self, items: &[Item], id: &str) -> Option<usize> {
        let h = self.hasher.hash_one(id);
        self.table
            .find(h, |&s| id_of(items, s) == Some(id))
            .map(|s| s.item as usize)
    }

    /// How many ids are indexed.
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// Every indexed id with its item, in no particular order.
    pub(super) fn iter<'a>(
        &'a self,
        items: &'a [Item],
    ) -> impl Iterator<Item = (&'a str, usize)> + 'a {
        self.table
            .iter()
            .filter_map(move |&s| Some((id_of(items, s)?, s.item as usize)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::model::{Element, Item};
    use std::collections::HashMap;

    /// The index as it was: a map of copied ids, duplicates removed.
    fn oracle(items: &[Item]) -> (HashMap<String, usize>, Vec<String>) {
        let mut index = HashMap::new();
        let mut dups = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if item.id.is_empty() {
                continue;
            }
            for id in
                std::iter::once(item.id.as_str()).chain(item.alt_ids.iter().map(String::as_str))
            {
                if index.insert(id.to_string(), i).is_some() {
                    dups.push(id.to_string());
                }
            }
        }
        dups.sort();
        dups.dedup();
        for d in &dups {
            index.remove(d);
        }
        (index, dups)
    }

    #[test]
    fn the_index_finds_what_a_map_of_copied_ids_finds() {
        // Ids drawn from a small pool, so repeats (within an item, across items, between an
        // id and an alternative id) and items without ids all occur.
        let pool = ["a", "b", "c", "d", "e", "f", "g", ""];
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for round in 0..300 {
            let items: Vec<Item> = (0..1 + round % 9)
                .map(|_| {
                    let mut it = Item::new(Element::ObservationStatement);
                    it.head.id = pool[next(pool.len())].into();
                    for _ in 0..next(3) {
                        it.head.alt_ids.push(pool[next(pool.len() - 1)].to_string());
                    }
                    it
                })
                .collect();
            let (index, dups) = IdIndex::build(&items);
            let (map, want_dups) = oracle(&items);
            assert_eq!(dups, want_dups, "{round}");
            assert_eq!(index.len(), map.len(), "{round}");
            for id in pool.iter().chain(&["h", "A"]) {
                assert_eq!(index.get(&items, id), map.get(*id).copied(), "{round} {id}");
            }
            let mut listed: Vec<(&str, usize)> = index.iter(&items).collect();
            listed.sort();
            let mut want: Vec<(&str, usize)> = map.iter().map(|(k, &v)| (k.as_str(), v)).collect();
            want.sort();
            assert_eq!(listed, want, "{round}");
        }
    }

    #[test]
    fn an_index_entry_is_eight_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 8);
    }
}
