//! Problem `LinkSet`s: the statements a problem links and the statement naming it.

use super::attrs::{normalise_ref, Attrs};
use super::tags::Tag;
use super::State;
use crate::ehr::model::Element;

impl State {
    /// A problem `LinkSet`'s linked statements and the statement naming the problem.
    pub(super) fn link_field(&mut self, idx: usize, rel: &[Tag], a: &Attrs) -> bool {
        let element = self.ex.items[idx].element;
        let item = &mut self.ex.items[idx];
        match rel {
            [Tag::Component, Tag::StatementRef, Tag::Id] if element == Some(Element::LinkSet) => {
                if let Some(r) = &a.root {
                    item.component_refs.push(normalise_ref(r, a));
                }
            }
            [Tag::ConditionNamed, Tag::NamedStatementRef, Tag::Id] => {
                if let Some(r) = &a.root {
                    item.named_statement = Some(normalise_ref(r, a));
                }
            }
            _ => return false,
        }
        true
    }
}
