//! Confidentiality as a property inherited over one graph of containment and reference,
//! computed once per extract.
//!
//! A confidentiality code on any construct covers everything the construct contains or
//! refers to, and whatever is shared as one resource with it. The edges, in both formats
//! (GP Connect constructs are read into the same model):
//!
//! | from | to | why |
//! |---|---|---|
//! | the record (`EhrExtract`, `ehrFolder`; GP Connect `Bundle`, `Patient`) | every item | the whole record is covered |
//! | an item | its children (composition, compound, battery, report, specimen, medication) | containment |
//! | an item | every further placement's contents (`Item::also_in`: GP Connect consultations, reports, groups, lists) | every placement counts |
//! | a `LinkSet` | its named statement and its component statements | the problem covers what it links |
//! | a named statement | its `LinkSet` | the statement is the problem's meaning |
//! | a problem and what its GP Connect `actualProblem` points at (`Item::depends_on`) | each other | the same |
//! | an `ehrSupplyAuthorise` | its `MedicationStatement` | shared as one MedicationRequest |
//! | an `ehrSupplyAuthorise` / `ehrSupplyPrescribe` | the issues and discontinuations that name it (`inFulfillmentOf`, `reversalOf`) | the chain |
//! | an allergy's observation | the allergy | shared as one AllergyIntolerance |
//!
//! Codes of constructs that are not items (a GP Connect `List` or `Medication`) arrive as
//! `Item::covered_by`. The walk is a breadth-first search from every restricted item at once:
//! each item and each edge is visited once per level (withhold, then label), so the cost is
//! linear in the size of the record whatever its shape.

use crate::ehr::model::{Element, Extract};
use crate::policy::{ConfidentialityAction, Policy};
use std::collections::VecDeque;

/// Where the code that reaches an item was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The construct carrying the code, by migx's element names (`ehrComposition`,
    /// `LinkSet`, `EhrExtract`, `List`, ...); never a source id.
    pub construct: &'static str,
    /// The code is on the item itself (not inherited).
    pub own: bool,
}

/// A confidentiality code that reaches an item, and what it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Withhold (`Drop`) or share with a security label (`Label`); never `Share`.
    pub action: ConfidentialityAction,
    /// Where it came from (for `migx explain`).
    pub origin: Origin,
}

/// The strongest action among `codes` (unknown codes withhold: fail closed).
fn strongest<'a>(policy: &Policy, codes: impl Iterator<Item = &'a str>) -> ConfidentialityAction {
    let mut best = ConfidentialityAction::Share;
    for c in codes {
        match policy.confidentiality_action(c) {
            ConfidentialityAction::Drop => return ConfidentialityAction::Drop,
            ConfidentialityAction::Label => best = ConfidentialityAction::Label,
            ConfidentialityAction::Share => {}
        }
    }
    best
}

/// Outgoing edges of every item, in one flat adjacency (built once).
struct Edges {
    start: Vec<usize>,
    to: Vec<usize>,
}

impl Edges {
    fn build(ex: &Extract, policy: &Policy) -> Edges {
        let n = ex.items.len();
        let total = n + ex.covers.len();
        let mut pairs: Vec<(usize, usize)> = Vec::with_capacity(n * 2);
        for (k, cover) in ex.covers.iter().enumerate() {
            let node = n + k;
            pairs.extend(cover.items.iter().filter(|&&i| i < n).map(|&i| (node, i)));
            pairs.extend(
                cover
                    .covers
                    .iter()
                    .filter(|&&c| c < ex.covers.len())
                    .map(|&c| (node, n + c)),
            );
            pairs.extend(cover.owners.iter().filter(|&&i| i < n).map(|&i| (i, node)));
        }
        let resolve = |id: &str| ex.index().get(id);
        for (i, item) in ex.items.iter().enumerate() {
            for &c in &item.children {
                pairs.push((i, c));
            }
            for &p in &item.also_in {
                if p < n {
                    pairs.push((p, i));
                }
            }
            // A problem and the resource its meaning is read from cover each other.
            for &d in &item.depends_on {
                if d < n {
                    pairs.push((d, i));
                    pairs.push((i, d));
                }
            }
            if let Some(link) = item.link_set() {
                if let Some(named) = link.named_statement.as_deref().and_then(resolve) {
                    pairs.push((i, named));
                    pairs.push((named, i));
                }
                for r in &link.component_refs {
                    if let Some(c) = resolve(r) {
                        pairs.push((i, c));
                    }
                }
            }
            match item.element {
                Some(Element::EhrSupplyAuthorise) => {
                    if let Some(p) = item.parent {
                        pairs.push((i, p));
                    }
                }
                Some(Element::CompoundStatement)
                    if policy.category_rule(&item.codes) == Some("allergy-header") =>
                {
                    // The allergen is the first observation (as `decide` reads it).
                    if let Some(&obs) = item
                        .children
                        .iter()
                        .find(|&&c| ex.items[c].element == Some(Element::ObservationStatement))
                    {
                        pairs.push((obs, i));
                    }
                }
                _ => {}
            }
            if let Some(prior) = item.prior_ref().and_then(resolve) {
                pairs.push((prior, i));
            }
        }
        // Counting sort by source: O(n + e).
        let mut start = vec![0usize; total + 1];
        for &(a, _) in &pairs {
            start[a + 1] += 1;
        }
        for k in 0..total {
            start[k + 1] += start[k];
        }
        let mut fill = start.clone();
        let mut to = vec![0usize; pairs.len()];
        for &(a, b) in &pairs {
            to[fill[a]] = b;
            fill[a] += 1;
        }
        Edges { start, to }
    }

    fn from(&self, i: usize) -> &[usize] {
        &self.to[self.start[i]..self.start[i + 1]]
    }
}

/// For every item (indexed like `Extract::items`), the confidentiality that reaches it, if
/// any: the most restrictive over every path (withhold beats label).
pub fn confidentiality(ex: &Extract, policy: &Policy) -> Vec<Option<Reach>> {
    let n = ex.items.len();
    // Items, then covers (constructs that are not items), as one node space.
    let mut reach: Vec<Option<Reach>> = vec![None; n + ex.covers.len()];
    let record = strongest(
        policy,
        ex.record_confidentiality.iter().map(|(_, c)| c.as_str()),
    );
    if record == ConfidentialityAction::Drop {
        // The whole record is covered: nothing to walk.
        let construct = ex
            .record_confidentiality
            .iter()
            .find(|(_, c)| policy.confidentiality_action(c) == ConfidentialityAction::Drop)
            .map_or("EhrExtract", |(k, _)| k);
        let r = Reach {
            action: ConfidentialityAction::Drop,
            origin: Origin {
                construct,
                own: false,
            },
        };
        return vec![Some(r); n];
    }
    let edges = Edges::build(ex, policy);
    // Own codes of each item, then of each cover: (action, construct, own).
    let own: Vec<(ConfidentialityAction, &'static str, bool)> = ex
        .items
        .iter()
        .map(|item| {
            let a = strongest(policy, item.confidentiality.iter().map(String::as_str));
            (a, item.element.map_or("unknown", Element::name), true)
        })
        .chain(ex.covers.iter().map(|c| {
            let a = strongest(policy, c.codes.iter().map(String::as_str));
            (a, c.construct, false)
        }))
        .collect();
    for level in [ConfidentialityAction::Drop, ConfidentialityAction::Label] {
        let mut queue = VecDeque::new();
        for (i, &(a, construct, is_own)) in own.iter().enumerate() {
            if a == level && reach[i].is_none() {
                reach[i] = Some(Reach {
                    action: level,
                    origin: Origin {
                        construct,
                        own: is_own,
                    },
                });
                queue.push_back(i);
            }
        }
        if level == ConfidentialityAction::Label && record == ConfidentialityAction::Label {
            let construct = ex
                .record_confidentiality
                .first()
                .map_or("EhrExtract", |(k, _)| k);
            for (i, r) in reach.iter_mut().enumerate().take(n) {
                if r.is_none() {
                    *r = Some(Reach {
                        action: level,
                        origin: Origin {
                            construct,
                            own: false,
                        },
                    });
                    queue.push_back(i);
                }
            }
        }
        while let Some(i) = queue.pop_front() {
            let Some(from) = reach[i] else { continue };
            for &t in edges.from(i) {
                if reach[t].is_none() {
                    reach[t] = Some(Reach {
                        action: level,
                        origin: Origin {
                            construct: from.origin.construct,
                            own: false,
                        },
                    });
                    queue.push_back(t);
                }
            }
        }
    }
    reach.truncate(n);
    reach
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::model::{Cover, ExtractBuilder, Item, ItemHead};

    fn item(id: &str, element: Element, parent: Option<usize>) -> Item {
        Item::of(ItemHead {
            id: id.into(),
            parent,
            ..ItemHead::new(element)
        })
    }

    fn policy() -> Policy {
        Policy::embedded_default().expect("embedded policy")
    }

    #[test]
    fn a_code_reaches_contents_referrers_and_chains_with_its_origin() {
        let mut ex = ExtractBuilder {
            items: vec![
                item("comp", Element::EhrComposition, None),
                item("obs", Element::ObservationStatement, Some(0)),
                item("ls", Element::LinkSet, None),
                item("ms", Element::MedicationStatement, None),
                item("auth", Element::EhrSupplyAuthorise, Some(3)),
                item("presc", Element::EhrSupplyPrescribe, None),
                item("other", Element::ObservationStatement, None),
            ],
            ..ExtractBuilder::default()
        };
        ex.items[2]
            .link_set_mut()
            .expect("a link set")
            .named_statement = Some("obs".into());
        ex.items[2].confidentiality = vec!["NOPAT".into()].into();
        ex.items[4].confidentiality = vec!["NOPAT".into()].into();
        ex.items[5].supply_mut().expect("a supply").prior_ref = Some("auth".into());
        let ex = ex.finish();
        let r = confidentiality(&ex, &policy());
        let drop = |i: usize| r[i].is_some_and(|r| r.action == ConfidentialityAction::Drop);
        assert!(!drop(0), "the problem does not cover the consultation");
        assert!(drop(1) && drop(2) && drop(3) && drop(4) && drop(5));
        assert!(!drop(6));
        assert_eq!(
            r[1].map(|r| r.origin),
            Some(Origin {
                construct: "LinkSet",
                own: false
            })
        );
        assert_eq!(r[3].map(|r| r.origin.construct), Some("ehrSupplyAuthorise"));
        assert!(r[4].is_some_and(|r| r.origin.own));
    }

    #[test]
    fn the_record_covers_every_item_and_label_yields_to_drop() {
        let ex = ExtractBuilder {
            items: vec![
                item("a", Element::ObservationStatement, None),
                item("b", Element::ObservationStatement, None),
            ],
            record_confidentiality: vec![("ehrFolder", "NOPAT".into())],
            ..ExtractBuilder::default()
        };
        let ex = ex.finish();
        let r = confidentiality(&ex, &policy());
        assert!(r.iter().all(|r| r.is_some_and(
            |r| r.action == ConfidentialityAction::Drop && r.origin.construct == "ehrFolder"
        )));
    }

    #[test]
    fn a_list_covers_its_entries_and_sub_lists_and_a_problem_its_related_list() {
        let mut ex = ExtractBuilder {
            items: vec![
                item("a", Element::ObservationStatement, None),
                item("b", Element::ObservationStatement, None),
                item("c", Element::ObservationStatement, None),
                item("ls", Element::LinkSet, None),
            ],
            covers: vec![
                Cover {
                    construct: "List",
                    codes: vec!["NOPAT".into()],
                    items: vec![0],
                    covers: vec![1],
                    owners: vec![],
                },
                Cover {
                    construct: "List",
                    codes: vec![],
                    items: vec![1],
                    covers: vec![],
                    owners: vec![],
                },
                Cover {
                    construct: "List",
                    codes: vec![],
                    items: vec![2],
                    covers: vec![],
                    owners: vec![3],
                },
            ],
            ..ExtractBuilder::default()
        };
        ex.items[3].confidentiality = vec!["R".into()].into();
        let ex = ex.finish();
        let r = confidentiality(&ex, &policy());
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].map(|r| r.origin.construct), Some("List"));
        assert_eq!(r[1].map(|r| r.origin.construct), Some("List"));
        assert_eq!(r[2].map(|r| r.origin.construct), Some("LinkSet"));
    }

    #[test]
    fn a_long_chain_is_reached_to_its_end() {
        // Linear time is the bench's claim (`benches/limits.py`, the chain cases); here,
        // only that a code reaches the end of a 200,000-long containment chain.
        let n: usize = 200_000;
        let mut ex = ExtractBuilder {
            items: (0..n)
                .map(|k| {
                    item(
                        &format!("i{k}"),
                        Element::CompoundStatement,
                        k.checked_sub(1),
                    )
                })
                .collect(),
            ..ExtractBuilder::default()
        };
        ex.items[0].confidentiality = vec!["NOPAT".into()].into();
        let ex = ex.finish();
        let r = confidentiality(&ex, &policy());
        assert!(r
            .iter()
            .all(|r| r.is_some_and(|r| r.action == ConfidentialityAction::Drop)));
    }

    /// The default policy with restricting codes labelled instead of withheld.
    fn labelling_policy() -> Policy {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policy");
        let text = std::fs::read_to_string(format!("{dir}/default.json")).expect("policy");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("policy JSON");
        v["confidentiality"]["handling"] = serde_json::Value::from("label");
        Policy::from_json_str(&v.to_string(), "label test", dir).expect("labelling policy")
    }

    fn dropped(r: &[Option<Reach>], i: usize) -> bool {
        r[i].is_some_and(|r| r.action == ConfidentialityAction::Drop)
    }

    #[test]
    fn every_further_placement_covers_what_it_holds() {
        // `also_in`: an item placed in a second consultation (GP Connect) is covered by that
        // placement's code, and by nothing else.
        let mut ex = ExtractBuilder {
            items: vec![
                item("first", Element::EhrComposition, None),
                item("second", Element::EhrComposition, None),
                item("obs", Element::ObservationStatement, Some(0)),
                item("other", Element::ObservationStatement, Some(0)),
            ],
            ..ExtractBuilder::default()
        };
        ex.items[2].also_in = vec![1].into();
        ex.items[1].confidentiality = vec!["NOPAT".into()].into();
        let ex = ex.finish();
        let r = confidentiality(&ex, &policy());
        assert!(
            dropped(&r, 2),
            "the second placement's code covers the item"
        );
        assert_eq!(r[2].map(|r| r.origin.construct), Some("ehrComposition"));
        assert!(
            !dropped(&r, 0) && !dropped(&r, 3),
            "nothing else is covered"
        );
    }

    #[test]
    fn a_problem_and_the_resource_its_meaning_is_read_from_cover_each_other() {
        // `depends_on` (GP Connect `actualProblem`), in both directions.
        for restricted in [0, 1] {
            let mut ex = ExtractBuilder {
                items: vec![
                    item("problem", Element::LinkSet, None),
                    item("meaning", Element::ObservationStatement, None),
                    item("unrelated", Element::ObservationStatement, None),
                ],
                ..ExtractBuilder::default()
            };
            ex.items[0].depends_on = vec![1].into();
            ex.items[restricted].confidentiality = vec!["NOPAT".into()].into();
            let ex = ex.finish();
            let r = confidentiality(&ex, &policy());
            assert!(
                dropped(&r, 0) && dropped(&r, 1),
                "code on item {restricted}"
            );
            assert!(!dropped(&r, 2));
        }
    }

    fn allergy(ex: &mut ExtractBuilder) {
        ex.items[0].codes = smallvec::smallvec![crate::codes::Coding {
            system: crate::codes::CodeSystem::ReadV2,
            code: "14L..".into(),
            display: None,
        }];
    }

    #[test]
    fn an_allergens_code_covers_its_allergy_and_no_other_compound() {
        // The allergen is the first ObservationStatement of an allergy-header compound (a
        // plan statement before it is not the allergen); only an allergy header is covered
        // by its allergen's code, and only by the allergen's.
        let build = |header: bool, restricted: usize| {
            let mut ex = ExtractBuilder {
                items: vec![
                    item("compound", Element::CompoundStatement, None),
                    item("plan", Element::PlanStatement, Some(0)),
                    item("allergen", Element::ObservationStatement, Some(0)),
                    item("second", Element::ObservationStatement, Some(0)),
                ],
                ..ExtractBuilder::default()
            };
            if header {
                allergy(&mut ex);
            }
            ex.items[restricted].confidentiality = vec!["NOPAT".into()].into();
            let ex = ex.finish();
            confidentiality(&ex, &policy())
        };
        let r = build(true, 2);
        assert!(dropped(&r, 0), "the allergen's code covers the allergy");
        assert_eq!(
            r[0].map(|r| r.origin.construct),
            Some("ObservationStatement")
        );
        assert!(
            dropped(&r, 1) && dropped(&r, 3),
            "and, through it, all it contains"
        );
        for restricted in [1, 3] {
            let r = build(true, restricted);
            assert!(!dropped(&r, 0), "item {restricted} is not the allergen");
        }
        let r = build(false, 2);
        assert!(
            !dropped(&r, 0),
            "a compound that is no allergy is not covered"
        );
    }

    #[test]
    fn a_record_level_label_labels_every_item_and_an_items_label_only_its_own() {
        let p = labelling_policy();
        let ex = ExtractBuilder {
            items: vec![
                item("a", Element::ObservationStatement, None),
                item("b", Element::ObservationStatement, None),
            ],
            record_confidentiality: vec![("ehrFolder", "NOPAT".into())],
            ..ExtractBuilder::default()
        };
        let mut ex = ex.finish();
        let r = confidentiality(&ex, &p);
        assert!(r.iter().all(
            |r| r.is_some_and(|r| r.action == ConfidentialityAction::Label
                && r.origin
                    == Origin {
                        construct: "ehrFolder",
                        own: false
                    })
        ));

        ex.record_confidentiality.clear();
        ex.items[0].confidentiality = vec!["NOPAT".into()].into();
        let r = confidentiality(&ex, &p);
        assert_eq!(r[0].map(|r| r.action), Some(ConfidentialityAction::Label));
        assert!(r[0].is_some_and(|r| r.origin.own));
        assert_eq!(r[1], None, "an unlabelled record labels nothing else");
    }

    #[test]
    fn an_index_out_of_range_links_nothing() {
        // The model's indices are the reader's; a bad one (one past the items, the first
        // cover's node) must neither panic nor reach a node it does not name. Each case
        // puts the bad index in one field of a restricted node (or names a restricted node
        // by it) and checks the one item that would be reached through it.
        const N: usize = 3;
        fn list(codes: &[&str], items: Vec<usize>, owners: Vec<usize>) -> Cover {
            Cover {
                construct: "List",
                codes: codes.iter().map(|c| c.to_string()).collect(),
                items,
                covers: vec![],
                owners,
            }
        }
        type Case = (&'static str, fn(&mut ExtractBuilder), usize);
        let cases: [Case; 5] = [
            (
                "Cover::items",
                |ex| {
                    ex.covers = vec![
                        list(&[], vec![0], vec![]),
                        list(&["NOPAT"], vec![N], vec![]),
                    ]
                },
                0,
            ),
            (
                "Cover::owners",
                |ex| {
                    ex.covers = vec![
                        list(&["NOPAT"], vec![], vec![]),
                        list(&[], vec![1], vec![N]),
                    ]
                },
                1,
            ),
            (
                "Cover::covers",
                |ex| {
                    let mut c = list(&["NOPAT"], vec![], vec![]);
                    c.covers = vec![1];
                    ex.covers = vec![c];
                },
                2,
            ),
            (
                "Item::also_in",
                |ex| {
                    ex.covers = vec![list(&["NOPAT"], vec![], vec![])];
                    ex.items[2].also_in = vec![N].into();
                },
                2,
            ),
            (
                "Item::depends_on",
                |ex| {
                    ex.covers = vec![list(&["NOPAT"], vec![], vec![])];
                    ex.items[2].depends_on = vec![N].into();
                },
                2,
            ),
        ];
        for (field, edit, watched) in cases {
            let mut ex = ExtractBuilder {
                items: (0..N)
                    .map(|k| item(&format!("i{k}"), Element::ObservationStatement, None))
                    .collect(),
                ..ExtractBuilder::default()
            };
            edit(&mut ex);
            let ex = ex.finish();
            let r = confidentiality(&ex, &policy());
            assert_eq!(r.len(), N, "{field}");
            assert!(
                !dropped(&r, watched),
                "{field}: a bad index reached item {watched}"
            );
        }
    }
}
