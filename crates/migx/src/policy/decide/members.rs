//! What each shared item holds of the other shared items, decided once here from the
//! items' outcomes and read by the mappers, which map it and recompute nothing: a report's
//! top-level results and groups, a group's direct members, the problems a problem is linked
//! to, a medication's issues.

use super::{Decision, Outcome, Role};
use crate::ehr::model::{Element, Extract};
use hashbrown::{HashMap, HashSet};

/// The shared members of every shared report, group, problem and medication, by item index
/// into `Extract::items`, each list in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    /// Shared report -> its shared results and groups not held by a shared group inside it.
    report_results: HashMap<usize, Vec<usize>>,
    /// Shared group -> its shared direct results and groups.
    group_members: HashMap<usize, Vec<usize>>,
    /// Shared results and groups held by a shared group (members of it, not of a List).
    grouped: HashSet<usize>,
    /// Shared problem -> the other shared problems the source relates it to, either way.
    linked_problems: HashMap<usize, Vec<usize>>,
    /// Shared medication (its `MedicationStatement`) -> its shared issues
    /// (`ehrSupplyPrescribe`).
    issues: HashMap<usize, Vec<usize>>,
}

/// The members of `holder` in `map`, none when it has none.
fn of(map: &HashMap<usize, Vec<usize>>, holder: usize) -> &[usize] {
    map.get(&holder).map_or(&[], Vec::as_slice)
}

impl Members {
    /// A shared report's shared results and groups: a result or group inside a shared group
    /// is that group's member instead.
    pub fn report_results(&self, report: usize) -> &[usize] {
        of(&self.report_results, report)
    }

    /// A shared group's shared direct results and groups.
    pub fn group_members(&self, group: usize) -> &[usize] {
        of(&self.group_members, group)
    }

    /// Whether a shared result or group is a member of a shared group.
    pub fn in_group(&self, i: usize) -> bool {
        self.grouped.contains(&i)
    }

    /// The other shared problems a shared problem is linked to, in either direction.
    pub fn linked_problems(&self, problem: usize) -> &[usize] {
        of(&self.linked_problems, problem)
    }

    /// A shared medication's shared issues.
    pub fn issues(&self, medication: usize) -> &[usize] {
        of(&self.issues, medication)
    }

    /// How many shared medications have shared issues.
    pub fn medications_with_issues(&self) -> usize {
        self.issues.len()
    }
}

/// The members of every shared holder, from the final outcomes (after parts have shared the
/// fate of what they belong to).
pub(super) fn members(ex: &Extract, items: &[Decision]) -> Members {
    let outcome = |j: usize| items.get(j).map(|d| d.outcome);
    let shared_group =
        |j: usize| matches!(outcome(j), Some(Outcome::Shared(Role::ResultGroup { .. })));
    let mut m = Members::default();
    for (j, dec) in items.iter().enumerate() {
        let parent = ex.items[j].parent;
        // Results and groups: in the shared group around them, else in their report.
        let in_shared_group = parent.is_some_and(shared_group);
        match dec.outcome {
            Outcome::Shared(Role::Result { .. } | Role::ResultGroup { .. }) if in_shared_group => {
                if let Some(g) = parent {
                    m.group_members.entry(g).or_default().push(j);
                    m.grouped.insert(j);
                }
            }
            _ => {}
        }
        let report = match dec.outcome {
            Outcome::Shared(Role::Result { group: Some(g) })
                if matches!(outcome(g), Some(Outcome::Shared(Role::DiagnosticReport))) =>
            {
                Some(g)
            }
            Outcome::Shared(Role::ResultGroup { report: Some(r) }) if !in_shared_group => Some(r),
            _ => None,
        };
        if let Some(r) = report {
            m.report_results.entry(r).or_default().push(j);
        }
    }
    m.linked_problems = linked_problems(ex, items);
    m.issues = issues(ex, items);
    m
}

/// Links between shared problems, in both directions: GP2GP a LinkSet's
/// `component/statementRef` naming another LinkSet (as the NHS translator reads a problem
/// hierarchy), GP Connect `RelatedProblemHeader` targets. A link to a problem that is not
/// shared is not made (it would say a withheld problem exists).
fn linked_problems(ex: &Extract, items: &[Decision]) -> HashMap<usize, Vec<usize>> {
    let shared_problem = |j: usize| {
        matches!(
            items.get(j).map(|x| x.outcome),
            Some(Outcome::Shared(Role::Problem { .. }))
        )
    };
    let mut out: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, item) in ex.items.iter().enumerate() {
        if !shared_problem(i) {
            continue;
        }
        let Some(link) = item.link_set() else {
            continue;
        };
        for id in link.component_refs.iter().chain(&link.related_problems) {
            let Some(j) = ex.index().get(id) else {
                continue;
            };
            if j == i || !shared_problem(j) {
                continue;
            }
            for (a, b) in [(i, j), (j, i)] {
                let v = out.entry(a).or_default();
                if !v.contains(&b) {
                    v.push(b);
                }
            }
        }
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    out
}

/// The issues of each shared medication: an issue that is part of its own statement, or of
/// a statement that is itself part of the medication (an issue recorded in another statement
/// belongs to the medication whose authorisation it fulfils).
fn issues(ex: &Extract, items: &[Decision]) -> HashMap<usize, Vec<usize>> {
    let mut issues: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, item) in ex.items.iter().enumerate() {
        if item.element != Some(Element::EhrSupplyPrescribe)
            || items[i].outcome != Outcome::PartOf(item.parent.unwrap_or(usize::MAX))
        {
            continue;
        }
        let Some(parent) = item.parent else { continue };
        let owner = match items[parent].outcome {
            Outcome::PartOf(o) => o,
            _ => parent,
        };
        if matches!(
            items[owner].outcome,
            Outcome::Shared(Role::Medication { .. })
        ) {
            issues.entry(owner).or_default().push(i);
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{CodeSystem, Coding};
    use crate::ehr::model::{
        DateField, Effective, ExtractBuilder, Item, ItemHead, ItemKind, LinkSet, Observation, Value,
    };
    use crate::ehr::ts::Ts;
    use crate::policy::decide::decide;
    use crate::policy::Policy;

    /// Laboratory reporting (`pathology-report`), specimen (`specimen`), a test code, and
    /// syphilis (on the default sensitive list).
    const REPORT: &str = "16488004";
    const SPECIMEN: &str = "123038009";
    const TEST: &str = "72313002";
    const SENSITIVE: &str = "76272004";

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Node {
        Report,
        Specimen,
        Battery,
        Result,
    }

    fn policy() -> &'static Policy {
        static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
        POLICY.get_or_init(|| Policy::embedded_default().expect("embedded policy"))
    }

    fn decided(items: Vec<Item>) -> (Extract, Vec<Decision>, Members) {
        let ex = ExtractBuilder {
            items,
            ..ExtractBuilder::default()
        }
        .finish();
        let d = decide(&ex, policy(), Ts::parse("20260314").expect("as-of"));
        (ex, d.items, d.members)
    }

    fn node(kind: Node, parent: Option<usize>, sensitive: bool, n: usize) -> Item {
        let code = |c: &str| Coding::new(CodeSystem::Snomed, c);
        let mut codes = vec![code(match kind {
            Node::Report => REPORT,
            Node::Specimen => SPECIMEN,
            Node::Battery | Node::Result => TEST,
        })];
        if sensitive {
            codes.push(code(SENSITIVE));
        }
        let head = ItemHead {
            id: format!("n{n}").into(),
            parent,
            codes: codes.into(),
            class_code: match kind {
                Node::Battery => Some("BATTERY".into()),
                Node::Report | Node::Specimen => Some("CLUSTER".into()),
                Node::Result => Some("OBS".into()),
            },
            effective: Effective {
                center: DateField::from_hl7("20260301"),
                ..Effective::default()
            },
            ..ItemHead::new(match kind {
                Node::Result => Element::ObservationStatement,
                _ => Element::CompoundStatement,
            })
        };
        let kind = match kind {
            Node::Result => ItemKind::Observation(Observation {
                value: Some(Box::new(Value::Quantity {
                    value: "5".into(),
                    unit: None,
                })),
                ..Observation::default()
            }),
            _ => ItemKind::Plain,
        };
        Item { head, kind }
    }

    /// Every tree of up to `max` nodes under a root of each kind (a child under any node
    /// but a result), as (kind, parent) in document order.
    fn trees(max: usize) -> Vec<Vec<(Node, Option<usize>)>> {
        let mut done = Vec::new();
        let mut open: Vec<Vec<(Node, Option<usize>)>> = [Node::Report, Node::Battery]
            .into_iter()
            .map(|r| vec![(r, None)])
            .collect();
        while let Some(t) = open.pop() {
            if t.len() < max {
                // Add the next node (document order: after every node, under one that is
                // not a result and is the last node or an ancestor of it).
                let mut chain = vec![t.len() - 1];
                while let Some(p) = t[*chain.last().unwrap_or(&0)].1 {
                    chain.push(p);
                }
                for &p in &chain {
                    if t[p].0 == Node::Result {
                        continue;
                    }
                    for k in [Node::Battery, Node::Result, Node::Specimen] {
                        let mut u = t.clone();
                        u.push((k, Some(p)));
                        open.push(u);
                    }
                }
            }
            done.push(t);
        }
        done
    }

    /// What the mappers read before the members were decided here (a group's shared
    /// children; a report's shared results and groups not inside a shared group): the
    /// members must say the same.
    fn by_children(ex: &Extract, d: &[Decision], holder: usize) -> Vec<usize> {
        let shared_group =
            |j: usize| matches!(d[j].outcome, Outcome::Shared(Role::ResultGroup { .. }));
        match d[holder].outcome {
            Outcome::Shared(Role::ResultGroup { .. }) => ex.items[holder]
                .children
                .iter()
                .copied()
                .filter(|&c| {
                    matches!(
                        d[c].outcome,
                        Outcome::Shared(Role::Result { .. } | Role::ResultGroup { .. })
                    )
                })
                .collect(),
            Outcome::Shared(Role::DiagnosticReport) => (0..d.len())
                .filter(|&j| match d[j].outcome {
                    Outcome::Shared(Role::Result { group: Some(g) }) => g == holder,
                    Outcome::Shared(Role::ResultGroup { report: Some(r) }) => {
                        r == holder && !ex.items[j].parent.is_some_and(shared_group)
                    }
                    _ => false,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn every_shared_result_and_group_is_held_once_by_what_shares_it() {
        let mut checked = 0;
        for tree in trees(5) {
            // No node sensitive, then each node in turn.
            for sensitive in std::iter::once(None).chain((0..tree.len()).map(Some)) {
                let items = tree
                    .iter()
                    .enumerate()
                    .map(|(n, &(k, p))| node(k, p, sensitive == Some(n), n))
                    .collect();
                let (ex, d, m) = decided(items);
                let mut held = vec![0; d.len()];
                for h in 0..d.len() {
                    let listed: Vec<usize> = m
                        .report_results(h)
                        .iter()
                        .chain(m.group_members(h))
                        .copied()
                        .collect();
                    assert_eq!(
                        listed,
                        by_children(&ex, &d, h),
                        "{tree:?} {sensitive:?} {h}"
                    );
                    for &j in &listed {
                        assert!(matches!(d[j].outcome, Outcome::Shared(_)), "{tree:?} {j}");
                        held[j] += 1;
                    }
                }
                for (j, dec) in d.iter().enumerate() {
                    assert!(held[j] <= 1, "{tree:?} {sensitive:?}: {j} held twice");
                    let grouped = m.group_members.values().flatten().any(|&x| x == j);
                    assert_eq!(m.in_group(j), grouped, "{tree:?} {j}");
                    if !matches!(dec.outcome, Outcome::Shared(_)) {
                        assert_eq!(held[j], 0, "{tree:?} {sensitive:?}: withheld {j} held");
                    }
                }
                checked += 1;
            }
        }
        assert!(checked > 500, "{checked} trees");
    }

    fn problem(id: &str, links: &[&str], sensitive: bool) -> Item {
        let mut head = ItemHead {
            id: id.into(),
            codes: smallvec::smallvec![Coding::new(CodeSystem::Snomed, "394774009")],
            ..ItemHead::new(Element::LinkSet)
        };
        if sensitive {
            head.codes.push(Coding::new(CodeSystem::Snomed, SENSITIVE));
        }
        Item {
            head,
            kind: ItemKind::LinkSet(Box::new(LinkSet {
                named_statement: Some(format!("{id}-named")),
                component_refs: links.iter().map(|s| s.to_string()).collect(),
                ..LinkSet::default()
            })),
        }
    }

    fn named(id: &str) -> Item {
        Item::of(ItemHead {
            id: format!("{id}-named").into(),
            codes: smallvec::smallvec![Coding::new(CodeSystem::ReadV2, "H33..")],
            availability: DateField::from_hl7("20260301"),
            ..ItemHead::new(Element::ObservationStatement)
        })
    }

    #[test]
    fn problems_are_linked_both_ways_and_never_to_a_withheld_one() {
        // a relates b; b relates c, which is withheld; each link named from either end.
        for (from, to) in [("a", "b"), ("b", "a")] {
            let items = vec![
                problem(from, &[to], false),
                named(from),
                problem(to, &["c"], false),
                named(to),
                problem("c", &[], true),
                named("c"),
            ];
            let (_, d, m) = decided(items);
            assert!(matches!(
                d[0].outcome,
                Outcome::Shared(Role::Problem { .. })
            ));
            assert!(matches!(
                d[2].outcome,
                Outcome::Shared(Role::Problem { .. })
            ));
            assert!(matches!(d[4].outcome, Outcome::Withheld(_)), "{:?}", d[4]);
            assert_eq!(m.linked_problems(0), [2]);
            assert_eq!(m.linked_problems(2), [0], "not to the withheld problem");
            assert_eq!(m.linked_problems(4), [] as [usize; 0]);
        }
    }

    #[test]
    fn a_group_inside_a_shared_group_is_held_by_that_group_not_by_the_report() {
        // Decided by hand (not by `decide`): a report, a group in it, a group in that group
        // and a result in the inner group, every group naming the report.
        let items = vec![
            node(Node::Report, None, false, 0),
            node(Node::Battery, Some(0), false, 1),
            node(Node::Battery, Some(1), false, 2),
            node(Node::Result, Some(2), false, 3),
        ];
        let ex = ExtractBuilder {
            items,
            ..ExtractBuilder::default()
        }
        .finish();
        let shared = |role: Role| Decision {
            category: None,
            outcome: Outcome::Shared(role),
        };
        let d = [
            shared(Role::DiagnosticReport),
            shared(Role::ResultGroup { report: Some(0) }),
            shared(Role::ResultGroup { report: Some(0) }),
            shared(Role::Result { group: Some(2) }),
        ];
        let m = members(&ex, &d);
        assert_eq!(
            m.report_results(0),
            [1],
            "only the outer group is the report's"
        );
        assert_eq!(m.group_members(1), [2]);
        assert_eq!(m.group_members(2), [3]);
        assert!(m.in_group(2) && m.in_group(3) && !m.in_group(1));
        assert_eq!(m.medications_with_issues(), 0);
    }
}
