//! References: the target's resource type (contained, Bundle `fullUrl`, relative or
//! absolute) against the element's target profiles.

use serde_json::Value;

use super::Walker;
use crate::validate::profile::package::Definitions;
use crate::validate::profile::snapshot::Elem;
use crate::validate::profile::values::Place;
use crate::validate::profile::NoteKind;

impl<'a> Walker<'a> {
    /// The resource type a reference points at, when it can be told.
    fn reference_type(&self, v: &Value) -> Result<Option<String>, String> {
        if let Some(t) = v.get("type").and_then(Value::as_str) {
            return Ok(Some(t.to_string()));
        }
        let Some(r) = v.get("reference").and_then(Value::as_str) else {
            return Ok(None);
        };
        if let Some(id) = r.strip_prefix('#') {
            let found = self.resources.last().and_then(|res| {
                res.get("contained")?.as_array()?.iter().find_map(|c| {
                    (c.get("id")?.as_str()? == id)
                        .then(|| c.get("resourceType")?.as_str().map(str::to_string))?
                })
            });
            return found
                .map(Some)
                .ok_or_else(|| "a contained reference that resolves to nothing".to_string());
        }
        if r.starts_with("urn:") {
            return self
                .full_urls
                .get(r)
                .cloned()
                .map(Some)
                .ok_or_else(|| "a urn reference outside the Bundle".to_string());
        }
        let parts: Vec<&str> = r.split('/').collect();
        let parts = match parts.iter().position(|p| *p == "_history") {
            Some(i) => &parts[..i],
            None => &parts[..],
        };
        if parts.len() >= 2 && self.defs.is_resource_type(parts[0]) {
            // Relative: `Type/id`.
            return Ok(Some(parts[0].to_string()));
        }
        if r.contains("://")
            && parts.len() >= 2
            && self.defs.is_resource_type(parts[parts.len() - 2])
        {
            return Ok(Some(parts[parts.len() - 2].to_string()));
        }
        if let Some(rt) = self.full_urls.get(r) {
            return Ok(Some(rt.clone()));
        }
        Err("a reference whose target type cannot be told".into())
    }

    /// A reference's target type against the element's target profiles.
    pub(super) fn reference(&mut self, v: &Value, elem: &Elem, pointer: &str, place: &Place) {
        let targets: Vec<&String> = elem
            .types
            .iter()
            .filter(|t| t.code == "Reference")
            .flat_map(|t| t.target_profiles.iter())
            .collect();
        if targets.is_empty() {
            return;
        }
        let mut allowed = Vec::new();
        for url in &targets {
            let ty = match self.defs.structure_definition(url) {
                Some(sd) => sd.get("type").and_then(Value::as_str).map(str::to_string),
                None => url.rsplit('/').next().map(str::to_string),
            };
            if let Some(ty) = ty {
                if ty == "Resource" || ty == "DomainResource" {
                    return;
                }
                allowed.push((ty, (*url).clone()));
            }
        }
        match self.reference_type(v) {
            Ok(None) => {}
            Ok(Some(ty)) => {
                if !allowed.iter().any(|(t, _)| *t == ty) {
                    let list: Vec<&str> = allowed.iter().map(|(t, _)| t.as_str()).collect();
                    self.error(
                        pointer,
                        "reference",
                        format!(
                            "{}: a reference to {ty} is not allowed here (allowed: {})",
                            place.path,
                            list.join(", ")
                        ),
                    );
                } else {
                    for (t, url) in &allowed {
                        if *t == ty && *url != Definitions::core_url(t) {
                            self.note(
                                NoteKind::NotEvaluated,
                                pointer,
                                "reference",
                                format!("target conformance to {url} is not checked (its type is)"),
                            );
                        }
                    }
                }
            }
            Err(why) => self.note(
                NoteKind::NotEvaluated,
                pointer,
                "reference",
                format!("{}: target type not checked: {why}", place.path),
            ),
        }
    }
}
