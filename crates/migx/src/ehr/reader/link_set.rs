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

#[cfg(test)]
mod tests {
    use crate::ehr::reader::testing::*;

    fn extract(body: &str) -> Extract {
        let doc = format!("{ROOT}<EhrExtract><component><ehrFolder><component><ehrComposition><id root=\"C\"/><component>{body}</component></ehrComposition></component></ehrFolder></component></EhrExtract></RCMR_IN030000UK06>");
        match read(&doc) {
            Ok(ex) => ex,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn a_problem_reads_its_linked_statements_and_the_statement_naming_it() {
        // Confidentiality flows along these links (a NOPAT problem withholds what it links,
        // a withheld named statement withholds the problem), so each must be read.
        let links = r#"<component typeCode="COMP"><statementRef classCode="OBS" moodCode="EVN"><id root="S-1"/></statementRef></component><component typeCode="COMP"><statementRef classCode="OBS" moodCode="EVN"><id root="S-2" extension="X9"/></statementRef></component><conditionNamed typeCode="NAME" inversionInd="true"><namedStatementRef classCode="OBS" moodCode="EVN"><id root="N-1"/></namedStatementRef></conditionNamed>"#;
        let ex = extract(&format!(
            r#"<LinkSet classCode="OBS" moodCode="EVN"><id root="P1"/><code code="394774009" codeSystem="2.16.840.1.113883.2.1.3.2.4.15"/>{links}</LinkSet><ObservationStatement classCode="OBS" moodCode="EVN"><id root="O1"/>{links}</ObservationStatement>"#
        ));
        let p = ex.get("p1").and_then(Item::link_set).expect("a problem");
        assert_eq!(p.component_refs, ["s-1", "s-2/X9"]);
        assert_eq!(p.named_statement.as_deref(), Some("n-1"));
        // On another construct the same paths are not links.
        assert!(ex.get("o1").expect("observation").link_set().is_none());
    }
}
