//! `migx explain`: what convert does with one file, item by item.

use super::convert::{audit_id, convert_extract, Converted, Through};
use super::read::read_input;
use crate::ehr::model::Element;
use crate::outcome::Status;
use crate::policy::decide::{Category, Outcome, WithheldReason};
use crate::settings::ConvertSettings;
use serde::{Serialize, Serializer};
use serde_json::Value as Json;
use std::path::Path;

/// One source item as `migx explain` shows it (`--json`: fields in this order).
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedItem {
    /// The source element id (lowercase), or `#<index>`.
    pub source_id: String,
    /// The construct, as in the GP2GP specification.
    pub element: &'static str,
    /// The category, when the item has one.
    #[serde(serialize_with = "category_name")]
    pub category: Option<Category>,
    /// `shared`, `shared-as-part` (of the item named in `part_of`), `container` (structure
    /// whose contents are decided one by one, e.g. a specimen in a report), or `withheld`.
    pub decision: &'static str,
    /// For `shared-as-part`: the id of the item it is shared as part of.
    pub part_of: Option<String>,
    /// For `withheld`: the rule.
    pub reason: Option<&'static str>,
    /// For `withheld: confidential` by a code on another construct (an enclosing
    /// composition, the problem naming it, the extract, a GP Connect `List`): that
    /// construct's name, never its id.
    pub inherited_from: Option<&'static str>,
    /// The item is shared but its free text was removed.
    pub free_text_removed: bool,
}

/// What convert would do with one file, item by item (`--json`: fields in this order).
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The file explained.
    pub input: String,
    /// What convert would do with it.
    pub status: Status,
    /// Patient-level reason (withheld) or error code (rejected).
    pub reason: Option<String>,
    /// The rejection message, when rejected.
    pub message: Option<String>,
    /// SHA-256 of the policy the decisions were made under.
    pub policy_sha256: String,
    /// What the sensitive-code check rested on (official refsets or not; SNOMED CT subtypes
    /// or only exact matches and Read v2/CTV3 prefixes).
    pub exclusion_checked: Vec<String>,
    /// Every item but compositions, in document order.
    pub items: Vec<ExplainedItem>,
}

/// Explain one file with the same functions convert uses (so they cannot disagree).
pub fn explain_file(path: &Path, settings: &ConvertSettings) -> Explanation {
    let mut out = Explanation {
        input: path.display().to_string(),
        status: Status::Rejected,
        reason: None,
        message: None,
        policy_sha256: settings.policy.sha256().to_string(),
        exclusion_checked: {
            let b = settings.exclusion_basis();
            vec![b.refsets_text(), b.hierarchy_text()]
        },
        items: Vec::new(),
    };
    let (ex, hash, size) = match read_input(path, settings) {
        Ok(v) => v,
        Err((e, _)) => {
            out.reason = Some(e.code.as_str().to_string());
            out.message = Some(e.to_string());
            return out;
        }
    };
    // The conversion's own run of the stages, up to the item decisions: mapping and the
    // output safety net (schema validation) are convert's job, so explain does not pay for
    // them, and nothing they do changes a decision. What it shows is that run's decisions.
    let Converted {
        conversion: c,
        decisions,
    } = convert_extract(&ex, &hash, size, settings, Through::Decisions);
    out.status = c.status;
    out.reason = c
        .withheld
        .map(|r| r.as_str().to_string())
        .or(c.error.as_ref().map(|e| e.code.as_str().to_string()));
    out.message = c.error.as_ref().map(|e| e.to_string());
    // A rejected file discloses nothing: no item of it is listed, so none reads `shared`.
    if c.status == Status::Rejected {
        return out;
    }
    // A withheld patient's items are shown at the time its record would have been judged;
    // none when no time is known.
    let Some(d) = decisions else { return out };
    let text: std::collections::HashSet<usize> = d.free_text_removed.iter().copied().collect();
    for (i, dec) in d.items.iter().enumerate() {
        let item = &ex.items[i];
        let (decision, part_of, reason) = match dec.outcome {
            Outcome::Container if item.element == Some(Element::EhrComposition) => continue,
            Outcome::Container => ("container", None, None),
            Outcome::Shared(_) => ("shared", None, None),
            Outcome::PartOf(o) => (
                "shared-as-part",
                Some(audit_id(&ex.items[o], o).to_string()),
                None,
            ),
            Outcome::Withheld(r) => ("withheld", None, Some(r.as_str())),
        };
        out.items.push(ExplainedItem {
            source_id: audit_id(item, i).to_string(),
            element: item.element.map(Element::name).unwrap_or("unknown"),
            category: dec.category,
            decision,
            part_of,
            reason,
            inherited_from: match dec.outcome {
                Outcome::Withheld(WithheldReason::Confidential) => d.inherited_from(i),
                _ => None,
            },
            free_text_removed: text.contains(&i),
        });
    }
    out
}

impl Explanation {
    /// The explanation as JSON (`migx explain --json`).
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }

    /// The explanation as a table; `colour` adds ANSI colours (terminals without `NO_COLOR`).
    pub fn to_table(&self, colour: bool) -> String {
        use std::fmt::Write as _;
        let paint = |s: &str, code: &str| {
            if colour {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let mut t = String::new();
        let status = match self.status {
            Status::Converted => paint("converted", "32"),
            Status::Withheld => paint("withheld", "33"),
            Status::Rejected => paint("rejected", "31"),
        };
        let _ = writeln!(
            t,
            "{}: {}{}",
            self.input,
            status,
            self.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        if let Some(m) = &self.message {
            let _ = writeln!(t, "  {m}");
        }
        let _ = writeln!(t, "policy sha256 {}", self.policy_sha256);
        for line in &self.exclusion_checked {
            let _ = writeln!(t, "{line}");
        }
        if self.items.is_empty() {
            return t;
        }
        let _ = writeln!(
            t,
            "{:<38} {:<22} {:<15} decision",
            "source id", "element", "category"
        );
        for i in &self.items {
            let decision = match (i.decision, i.reason, &i.part_of) {
                ("withheld", Some(r), _) => match i.inherited_from {
                    Some(from) => paint(&format!("withheld: {r} (from {from})"), "33"),
                    None => paint(&format!("withheld: {r}"), "33"),
                },
                ("shared-as-part", _, Some(o)) => paint(&format!("shared as part of {o}"), "32"),
                _ => paint(i.decision, "32"),
            };
            let _ = writeln!(
                t,
                "{:<38} {:<22} {:<15} {}{}",
                i.source_id,
                i.element,
                i.category.map(Category::as_str).unwrap_or("-"),
                decision,
                if i.free_text_removed {
                    " (free text removed)"
                } else {
                    ""
                }
            );
        }
        t
    }
}

/// A category as its stable string (`null` when there is none).
fn category_name<S: Serializer>(c: &Option<Category>, s: S) -> Result<S::Ok, S::Error> {
    c.map(Category::as_str).serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{ConsentBook, ConsentDecision};
    use crate::policy::Policy;
    use std::sync::Arc;

    /// Every fixture: what explain lists as withheld, and as shared without its free text,
    /// is exactly what the conversion's audit records, item by item, in the same run of the
    /// stages (and a converted file's status and reason agree).
    #[test]
    fn explain_shows_the_decisions_convert_audits() {
        let policy = Arc::new(Policy::embedded_default().expect("policy"));
        let dir = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/extracts"
        ));
        let book = ConsentBook::from_file(&dir.join("../consent.csv"), false);
        for consent in [
            book.ok().map(Arc::new),
            Some(Arc::new(ConsentBook::all(
                ConsentDecision::Permit,
                "Y02345",
                "TREAT",
            ))),
        ]
        .into_iter()
        .flatten()
        {
            let mut s = ConvertSettings::new(policy.clone(), consent);
            s.run_permitted_requesters = vec!["Y02345".into()];
            let mut seen = 0;
            for f in crate::pipeline::collect_inputs(&[dir.to_path_buf()]) {
                let c = crate::pipeline::convert_file(&f.path, &s);
                let e = explain_file(&f.path, &s);
                assert_eq!(e.status, c.status, "{}", f.display);
                if c.status != Status::Converted {
                    continue;
                }
                seen += 1;
                let audited: Vec<(String, &str)> = c
                    .items
                    .iter()
                    .filter(|i| !i.text_only)
                    .map(|i| (i.source_id.to_string(), i.reason.as_str()))
                    .collect();
                let explained: Vec<(String, &str)> = e
                    .items
                    .iter()
                    .filter(|i| i.decision == "withheld")
                    .map(|i| (i.source_id.clone(), i.reason.unwrap_or("")))
                    .collect();
                assert_eq!(explained, audited, "{}", f.display);
                let mut text: Vec<&str> = c
                    .items
                    .iter()
                    .filter(|i| i.text_only && !i.source_id.starts_with('#'))
                    .map(|i| i.source_id.as_str())
                    .collect();
                let mut shown: Vec<&str> = e
                    .items
                    .iter()
                    .filter(|i| i.free_text_removed && !i.source_id.starts_with('#'))
                    .map(|i| i.source_id.as_str())
                    .collect();
                text.sort_unstable();
                shown.sort_unstable();
                assert_eq!(shown, text, "{}", f.display);
            }
            assert!(seen > 5, "the fixtures convert");
        }
    }
}
