//! Problem `LinkSet`s: the statements a problem links and the statement naming it.

use super::attrs::{normalise_ref, Attrs};
use super::tags::Tag;
use super::State;

impl State {
    /// A problem `LinkSet`'s linked statements and the statement naming the problem.
    pub(super) fn link_field(&mut self, idx: usize, rel: &[Tag], a: &Attrs) -> bool {
        // Only a problem header links statements and names its problem; the same paths on
        // another construct mean nothing to migx (its codings are read as carried).
        let Some(link) = self.ex.items[idx].link_set_mut() else {
            return false;
        };
        match rel {
            [Tag::Component, Tag::StatementRef, Tag::Id] => {
                if let Some(r) = &a.root {
                    link.component_refs.push(normalise_ref(r, a));
                }
            }
            [Tag::ConditionNamed, Tag::NamedStatementRef, Tag::Id] => {
                if let Some(r) = &a.root {
                    link.named_statement = Some(normalise_ref(r, a));
                }
            }
            _ => return false,
        }
        true
    }
}
