//! `migx explain`: what convert does with one file, item by item.

use super::admission::{admit, now_epoch_secs};
use super::convert::audit_id;
use super::read::read_input;
use crate::ehr::model::Element;
use crate::outcome::Status;
use crate::policy::decide::{decide, judged_time, Category, Outcome, WithheldReason};
use crate::settings::ConvertSettings;
use serde_json::{json, Value as Json};
use std::path::Path;

/// One source item as `migx explain` shows it.
#[derive(Debug, Clone)]
pub struct ExplainedItem {
    /// The source element id (lowercase), or `#<index>`.
    pub source_id: String,
    /// The construct, as in the GP2GP specification.
    pub element: &'static str,
    /// The category, when the item has one.
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

/// What convert would do with one file, item by item.
#[derive(Debug, Clone)]
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
    let (ex, _hash, size) = match read_input(path, settings) {
        Ok(v) => v,
        Err((e, _)) => {
            out.reason = Some(e.code.as_str().to_string());
            out.message = Some(e.to_string());
            return out;
        }
    };
    // The stages convert runs, up to the item decisions (made once, here): mapping and the
    // output safety net (schema validation) are convert's job, so explain does not pay for
    // them, and nothing they do changes a decision.
    let as_of = match admit(&ex, size, settings) {
        Ok(admission) => {
            out.status = Status::Converted;
            Some(admission.as_of)
        }
        Err(ended) => {
            out.status = ended.status;
            out.reason = ended
                .withheld
                .map(|r| r.as_str().to_string())
                .or(ended.error.as_ref().map(|e| e.code.as_str().to_string()));
            out.message = ended.error.as_ref().map(|e| e.to_string());
            // A rejected file releases nothing: no item of it is listed, so none reads `shared`.
            if ended.status == Status::Rejected {
                return out;
            }
            // A withheld patient's items are shown at the judged time the record would have
            // had (the claimed time when it has none).
            settings
                .as_of
                .or(ex.created.value())
                .map(|claimed| judged_time(&ex, claimed, now_epoch_secs()).unwrap_or(claimed))
        }
    };
    let Some(as_of) = as_of else { return out };
    let d = decide(&ex, &settings.policy, as_of);
    let text: std::collections::HashSet<usize> = d.free_text_removed.iter().copied().collect();
    for (i, dec) in d.items.iter().enumerate() {
        let item = &ex.items[i];
        let (decision, part_of, reason) = match dec.outcome {
            Outcome::Container if item.element == Some(Element::EhrComposition) => continue,
            Outcome::Container => ("container", None, None),
            Outcome::Shared(_) => ("shared", None, None),
            Outcome::PartOf(o) => ("shared-as-part", Some(audit_id(&ex.items[o], o)), None),
            Outcome::Withheld(r) => ("withheld", None, Some(r.as_str())),
        };
        out.items.push(ExplainedItem {
            source_id: audit_id(item, i),
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
        let items: Vec<Json> = self
            .items
            .iter()
            .map(|i| {
                json!({
                    "source_id": i.source_id,
                    "element": i.element,
                    "category": i.category.map(Category::as_str),
                    "decision": i.decision,
                    "part_of": i.part_of,
                    "reason": i.reason,
                    "inherited_from": i.inherited_from,
                    "free_text_removed": i.free_text_removed,
                })
            })
            .collect();
        json!({
            "input": self.input,
            "status": self.status.as_str(),
            "reason": self.reason,
            "message": self.message,
            "policy_sha256": self.policy_sha256,
            "exclusion_checked": self.exclusion_checked,
            "items": items,
        })
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
