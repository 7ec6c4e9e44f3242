//! Required and extensible bindings: a coded value against its ValueSet's expansion.

use serde_json::Value;

use super::Walker;
use crate::validate::profile::bindings::{self, Membership};
use crate::validate::profile::snapshot::Elem;
use crate::validate::profile::values::{shown, Place};
use crate::validate::profile::NoteKind;

impl<'a> Walker<'a> {
    /// A required or extensible binding.
    pub(super) fn binding(
        &mut self,
        v: &Value,
        elem: &Elem,
        code: &str,
        pointer: &str,
        place: &Place,
    ) {
        let Some(b) = &elem.binding else { return };
        if b.strength != "required" && b.strength != "extensible" {
            return;
        }
        let Some(vs) = b.value_set.as_deref() else {
            return;
        };
        let codings: Vec<(Option<&str>, &str)> = match code {
            "code" | "string" | "uri" => v.as_str().map(|c| vec![(None, c)]).unwrap_or_default(),
            "Coding" | "Quantity" => match v.get("code").and_then(Value::as_str) {
                Some(c) => vec![(v.get("system").and_then(Value::as_str), c)],
                None => return,
            },
            "CodeableConcept" => v
                .get("coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    Some((
                        c.get("system").and_then(Value::as_str),
                        c.get("code").and_then(Value::as_str)?,
                    ))
                })
                .collect(),
            _ => return,
        };
        if codings.is_empty() {
            if b.strength == "required" && code == "CodeableConcept" {
                self.error(
                    pointer,
                    "binding",
                    format!("{}: no coding from the required ValueSet {vs}", place.path),
                );
            }
            return;
        }
        let exp = self.defs.expansion(vs);
        let mut not_evaluated = None;
        for (system, c) in &codings {
            match bindings::membership(&exp, *system, c) {
                Membership::In => return,
                Membership::InSystem(s) => {
                    self.note(
                        NoteKind::NotEvaluated,
                        pointer,
                        "code",
                        format!("codes of {s} are not loaded: the code itself is not verified"),
                    );
                    return;
                }
                Membership::NotIn => {}
                Membership::NotEvaluated(why) => not_evaluated = Some(why),
            }
        }
        if let Some(why) = not_evaluated {
            self.note(
                NoteKind::NotEvaluated,
                pointer,
                "binding",
                format!("binding to {vs} not evaluated: {why}"),
            );
            return;
        }
        let value = codings
            .iter()
            .map(|(s, c)| match s {
                Some(s) => format!("{s}|{c}"),
                None => (*c).to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let value = shown(&Value::String(value));
        if b.strength == "required" {
            self.error_value(
                pointer,
                "binding",
                format!("{}: not in the required ValueSet {vs}", place.path),
                value,
            );
        } else {
            self.note(
                NoteKind::Warning,
                pointer,
                "binding",
                format!(
                    "{}: not in the extensible ValueSet {vs} ({value})",
                    place.path
                ),
            );
        }
    }
}
