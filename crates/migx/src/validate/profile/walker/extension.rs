//! Extensions: each one's definition (by `url`), checked like any element, and whether it
//! may appear where it is (its contexts).

use serde_json::Value;

use super::Walker;
use crate::validate::profile::snapshot::Elem;
use crate::validate::profile::values::Place;
use crate::validate::profile::NoteKind;

impl<'a> Walker<'a> {
    /// An extension: its definition (by `url`) and whether it may appear here.
    pub(super) fn extension(
        &mut self,
        v: &'a Value,
        host: &Elem,
        pointer: &str,
        host_place: &Place,
        depth: usize,
    ) {
        let Some(url) = v.get("url").and_then(Value::as_str) else {
            return;
        };
        if !url.contains(':') {
            // A relative url names a part of a complex extension, defined inline.
            return;
        }
        let tree = self.defs.tree(url);
        let t = match tree.as_ref() {
            Ok(t) => t,
            Err(_) => {
                self.note(
                    NoteKind::NotEvaluated,
                    pointer,
                    "extension",
                    format!(
                        "extension {url} is not defined by any package; its content is not checked"
                    ),
                );
                return;
            }
        };
        if t.type_name != "Extension" {
            self.error(
                pointer,
                "extension",
                format!("{url} is not an extension definition"),
            );
            return;
        }
        let host_is_resource = self.defs.is_resource_type(&host_place.type_path);
        let mut fhirpath_only = Vec::new();
        let ok = t.contexts.is_empty()
            || t.contexts.iter().any(|(kind, expr)| match kind.as_str() {
                "element" => {
                    let e = expr.replace("[x]", "");
                    let p = host_place.path.replace("[x]", "");
                    let tp = host_place.type_path.replace("[x]", "");
                    e == p
                        || e == tp
                        || host_place.type_name.as_deref() == Some(e.as_str())
                        || e == "Element"
                        || e == "Base"
                        || (host_is_resource && (e == "Resource" || e == "DomainResource"))
                        || (host.name == "Extension" && e == "Extension")
                }
                "extension" => {
                    host_place.type_path == "Extension" && {
                        fhirpath_only.push(format!("extension {expr}"));
                        true
                    }
                }
                _ => {
                    fhirpath_only.push(expr.clone());
                    false
                }
            });
        if !ok {
            if fhirpath_only.is_empty() {
                let list: Vec<String> = t.contexts.iter().map(|(_, e)| e.clone()).collect();
                self.error(
                    pointer,
                    "extension-context",
                    format!(
                        "extension {url} is not allowed on {} (contexts: {})",
                        host_place.path,
                        list.join(", ")
                    ),
                );
            } else {
                self.note(
                    NoteKind::NotEvaluated,
                    pointer,
                    "extension-context",
                    format!("context of extension {url} is a FHIRPath expression; not evaluated"),
                );
            }
        }
        let place = Place {
            path: host_place.path.clone() + ".extension",
            type_path: "Extension".into(),
            type_name: Some("Extension".into()),
        };
        self.item(
            v,
            &t.root,
            &t.root,
            pointer,
            Some("Extension"),
            &place,
            depth,
        );
    }
}
