//! What the withheld items mean for the category Lists and for the Bundle, decided once
//! from the items' outcomes so that the List and Bundle mappers only map it.
//!
//! One rule for every category: a List whose category lost items to anything but its own
//! scope ([`WithheldReason::is_scope`]) warns, and when empty says whether they were
//! withheld by policy or could not be used, never that nothing is recorded. Items withheld
//! whose category could not be known reach no List, so they mark the whole Bundle
//! incomplete.

use super::{Category, Decision, Outcome, WithheldReason};

/// What the withheld items of one category mean for its List.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Withholding {
    /// Items withheld by policy (confidential, sensitive, entered in error, free text, or
    /// not screenable because their codes cannot be resolved).
    pub by_policy: usize,
    /// Items withheld because their data are unusable (invalid codes or dates, references
    /// that do not resolve, nothing to classify them by).
    pub unusable: usize,
}

impl Withholding {
    /// Whether the List must warn (something of its category was withheld outside its scope).
    pub fn warns(self) -> bool {
        self.by_policy + self.unusable > 0
    }
}

/// Per category and for the whole Bundle, what was withheld outside the categories' scope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListWithholding {
    /// Per category, indexed like [`Category::ALL`] (`category as usize`).
    pub by_category: [Withholding; Category::ALL.len()],
    /// Withheld items whose category could not be known, counted by reason (in
    /// [`WithheldReason::ALL`] order, reasons with none left out).
    pub uncategorised: Vec<(WithheldReason, usize)>,
}

impl ListWithholding {
    /// What the List of `category` must say.
    pub fn of(&self, category: Category) -> Withholding {
        self.by_category[category as usize]
    }

    /// The categories whose List warns, in bundle order.
    pub fn warning_categories(&self) -> Vec<Category> {
        Category::ALL
            .into_iter()
            .filter(|&c| self.of(c).warns())
            .collect()
    }

    /// Whether the Bundle is incomplete: something was withheld, outside any scope, that no
    /// List can warn about.
    pub fn incomplete(&self) -> bool {
        !self.uncategorised.is_empty()
    }
}

/// Count, over the final outcomes, what every List and the Bundle must say.
pub(super) fn list_withholding(items: &[Decision]) -> ListWithholding {
    let mut out = ListWithholding::default();
    let mut uncategorised = [0usize; WithheldReason::ALL.len()];
    for dec in items {
        let Outcome::Withheld(r) = dec.outcome else {
            continue;
        };
        if r.is_scope() {
            continue;
        }
        match dec.category {
            Some(c) => {
                let w = &mut out.by_category[c as usize];
                if r.is_policy_decision() {
                    w.by_policy += 1;
                } else {
                    w.unusable += 1;
                }
            }
            None => {
                if let Some(k) = WithheldReason::ALL.iter().position(|&x| x == r) {
                    uncategorised[k] += 1;
                }
            }
        }
    }
    out.uncategorised = WithheldReason::ALL
        .into_iter()
        .zip(uncategorised)
        .filter(|&(_, n)| n > 0)
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn withheld(category: Option<Category>, r: WithheldReason) -> Decision {
        Decision {
            category,
            outcome: Outcome::Withheld(r),
        }
    }

    /// Every reason in every category: the List warns exactly when the reason is not the
    /// category's scope, counted as policy or as unusable data by the reason alone; other
    /// categories and the Bundle are untouched.
    #[test]
    fn every_reason_in_every_category_warns_unless_scope() {
        for cat in Category::ALL {
            for r in WithheldReason::ALL {
                let w = list_withholding(&[withheld(Some(cat), r)]);
                assert_eq!(w.of(cat).warns(), !r.is_scope(), "{cat:?} {r:?}");
                if !r.is_scope() {
                    let expected = if r.is_policy_decision() {
                        Withholding {
                            by_policy: 1,
                            unusable: 0,
                        }
                    } else {
                        Withholding {
                            by_policy: 0,
                            unusable: 1,
                        }
                    };
                    assert_eq!(w.of(cat), expected, "{cat:?} {r:?}");
                    assert_eq!(w.warning_categories(), vec![cat]);
                }
                for other in Category::ALL.into_iter().filter(|&o| o != cat) {
                    assert!(!w.of(other).warns(), "{cat:?} {r:?} {other:?}");
                }
                assert!(!w.incomplete(), "{cat:?} {r:?}");
            }
        }
    }

    /// Items withheld without a category make the Bundle incomplete, counted by reason,
    /// unless their reason is scope; no List warns for them.
    #[test]
    fn uncategorised_items_are_counted_by_reason() {
        for r in WithheldReason::ALL {
            let w = list_withholding(&[withheld(None, r), withheld(None, r)]);
            if r.is_scope() {
                assert!(w.uncategorised.is_empty(), "{r:?}");
            } else {
                assert_eq!(w.uncategorised, vec![(r, 2)], "{r:?}");
            }
            assert_eq!(w.incomplete(), !r.is_scope(), "{r:?}");
            assert!(w.warning_categories().is_empty(), "{r:?}");
        }
    }

    /// Shared items, parts and containers count for nothing; counts add up per category.
    #[test]
    fn only_withheld_items_count() {
        let w = list_withholding(&[
            Decision {
                category: Some(Category::Tests),
                outcome: Outcome::Shared(super::super::Role::Result { group: None }),
            },
            Decision {
                category: Some(Category::Tests),
                outcome: Outcome::Container,
            },
            withheld(Some(Category::Tests), WithheldReason::Confidential),
            withheld(Some(Category::Tests), WithheldReason::InvalidDate),
            withheld(Some(Category::Tests), WithheldReason::SensitiveCode),
        ]);
        assert_eq!(
            w.of(Category::Tests),
            Withholding {
                by_policy: 2,
                unusable: 1,
            }
        );
        assert!(!w.incomplete());
    }
}
