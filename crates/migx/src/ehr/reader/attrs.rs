//! One element's attributes (borrowed from the event), and the codings, dates and ids read
//! from them.

use super::errors::safe_name;
use super::Limits;
use crate::codes::{CodeSystem, Coding};
use crate::ehr::model::DateField;
use crate::error::{ErrorCode, InputError};
use quick_xml::events::attributes::AttrError;
use quick_xml::events::BytesStart;
use std::borrow::Cow;
use std::collections::HashSet;

/// The attributes of one element that the reader uses, borrowed from the event.
#[derive(Default)]
pub(super) struct Attrs<'a> {
    // Borrowed from the reader's buffer unless a value needed normalising: most elements'
    // attributes are read and dropped, so this saves an allocation per attribute.
    pub(super) root: Option<Cow<'a, str>>,
    pub(super) extension: Option<Cow<'a, str>>,
    pub(super) code: Option<Cow<'a, str>>,
    /// `codeSystem`, identified (through the reader's [`Systems`]).
    pub(super) code_system: Option<CodeSystem>,
    pub(super) display_name: Option<Cow<'a, str>>,
    pub(super) value: Option<Cow<'a, str>>,
    pub(super) unit: Option<Cow<'a, str>>,
    pub(super) xsi_type: Option<Cow<'a, str>>,
    pub(super) null_flavor: bool,
    pub(super) class_code: Option<Cow<'a, str>>,
    pub(super) mood_code: Option<Cow<'a, str>>,
    pub(super) type_code: Option<Cow<'a, str>>,
    pub(super) xmlns: Vec<(String, String)>,
}

/// An owned copy of an attribute value kept in the model.
pub(super) fn own(v: &Option<Cow<'_, str>>) -> Option<String> {
    v.as_deref().map(str::to_string)
}

pub(super) fn set_date(slot: &mut DateField, a: &Attrs) {
    if let Some(v) = &a.value {
        *slot = DateField::from_hl7(v);
    }
}

pub(super) fn coding(a: &Attrs) -> Option<Coding> {
    match (&a.code, &a.code_system) {
        (Some(code), Some(sys)) if !code.trim().is_empty() => Some(Coding {
            system: sys.clone(),
            code: code.trim().to_string(),
            display: own(&a.display_name),
        }),
        _ => None,
    }
}

/// A code given without a `codeSystem`: its system is unknown, so it is screened under
/// every listed system and never emitted.
pub(super) fn systemless(a: &Attrs) -> Option<Coding> {
    match (&a.code, &a.code_system) {
        (Some(code), None) if !code.trim().is_empty() => Some(Coding {
            system: CodeSystem::Invalid,
            code: code.trim().to_string(),
            display: None,
        }),
        _ => None,
    }
}

/// Ids are compared case-insensitively (UUIDs arrive upper-case).
pub fn normalise_id(root: &str) -> String {
    root.trim().to_ascii_lowercase()
}

/// `root` (normalised) and `/extension` when there is one, built in one allocation.
pub(super) fn normalise_ref(root: &str, a: &Attrs) -> String {
    let root = root.trim();
    let ext = a.extension.as_deref();
    let mut s = String::with_capacity(root.len() + ext.map_or(0, |e| e.len() + 1));
    s.push_str(root);
    s.make_ascii_lowercase();
    if let Some(ext) = ext {
        s.push('/');
        s.push_str(ext);
    }
    s
}

pub(super) fn read_attrs<'a>(
    e: &'a BytesStart<'_>,
    limits: &Limits,
    pos: u64,
    systems: &mut Systems,
) -> Result<Attrs<'a>, InputError> {
    let mut out = Attrs::default();
    // Duplicate names are checked here, not by quick-xml (whose check allocates a list of
    // names per element): the first names on the stack, any beyond in a set.
    let mut seen = SeenNames::default();
    let mut attributes = e.attributes();
    attributes.with_checks(false);
    for (n, attr) in attributes.enumerate() {
        if n >= limits.max_attributes {
            return Err(InputError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "an element has more than {} attributes",
                    limits.max_attributes
                ),
            )
            .at(pos)
            .in_element(safe_name(e.local_name().as_ref().as_bytes())));
        }
        let attr = attr.map_err(|err| {
            InputError::new(ErrorCode::MalformedXml, format!("bad attribute: {err}"))
                .at(pos)
                .in_element(safe_name(e.local_name().as_ref().as_bytes()))
        })?;
        let key: &'a str = attr.key.0;
        if let Some(prev) = seen.insert(key, e) {
            let at = offset_in(key, e);
            return Err(InputError::new(
                ErrorCode::MalformedXml,
                format!("bad attribute: {}", AttrError::Duplicated(at, prev)),
            )
            .at(pos)
            .in_element(safe_name(e.local_name().as_ref().as_bytes())));
        }
        let local = attr.key.local_name();
        let local = local.as_ref();
        let value = || -> Result<Cow<'a, str>, InputError> {
            attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|_| {
                    // Not the escape error's text: it quotes the value's content.
                    InputError::new(
                        ErrorCode::MalformedXml,
                        "an attribute value has an unknown entity or a bad character reference",
                    )
                    .at(pos)
                    .in_element(safe_name(e.local_name().as_ref().as_bytes()))
                })
        };
        if key == "xmlns" || key.starts_with("xmlns:") {
            out.xmlns.push((key.to_string(), value()?.into_owned()));
            continue;
        }
        match local {
            "root" => out.root = Some(value()?),
            "extension" => out.extension = Some(value()?),
            "code" => out.code = Some(value()?),
            "codeSystem" => out.code_system = Some(systems.identify(&value()?)),
            "displayName" => out.display_name = Some(value()?),
            "value" => out.value = Some(value()?),
            "unit" => out.unit = Some(value()?),
            "type" if key.starts_with("xsi:") || key == "type" => out.xsi_type = Some(value()?),
            "nullFlavor" => out.null_flavor = true,
            // The first one, as a search for it would find (a duplicate is an error anyway).
            "classCode" if out.class_code.is_none() => out.class_code = Some(value()?),
            "moodCode" if out.mood_code.is_none() => out.mood_code = Some(value()?),
            "typeCode" if out.type_code.is_none() => out.type_code = Some(value()?),
            _ => {}
        }
    }
    Ok(out)
}

/// Where `name` (borrowed from the tag) starts in the tag's text, as quick-xml counts.
fn offset_in(name: &str, e: &BytesStart<'_>) -> usize {
    (name.as_ptr() as usize).saturating_sub(e.as_ptr() as usize)
}

/// How many attribute names are compared one by one before a set takes over (so a tag
/// with many attributes costs linear time, not quadratic).
const SEEN_ON_STACK: usize = 16;

/// The attribute names of one element seen so far, without allocating for the usual few.
#[derive(Default)]
struct SeenNames<'a> {
    first: [&'a str; SEEN_ON_STACK],
    len: usize,
    /// Made only for a tag with more than `SEEN_ON_STACK` attributes.
    more: Option<HashSet<&'a str>>,
}

impl<'a> SeenNames<'a> {
    /// Record `name`; if it was seen before, the earlier one's offset in the tag.
    fn insert(&mut self, name: &'a str, e: &BytesStart<'_>) -> Option<usize> {
        let earlier = self.first[..self.len]
            .iter()
            .find(|n| **n == name)
            .or_else(|| self.more.as_ref().and_then(|m| m.get(name)));
        if let Some(prev) = earlier {
            return Some(offset_in(prev, e));
        }
        if self.len < SEEN_ON_STACK {
            self.first[self.len] = name;
            self.len += 1;
        } else {
            self.more.get_or_insert_with(HashSet::new).insert(name);
        }
        None
    }
}

/// The code systems one extract names, each identified once: an extract names a handful of
/// systems on every one of its codings, and identifying one (trimming, lower-casing, the
/// alias table, the OID syntax) costs more than comparing the text it was written as.
#[derive(Default)]
pub(super) struct Systems {
    seen: Vec<(Box<str>, CodeSystem)>,
}

/// Distinct `codeSystem` texts remembered; any beyond are identified each time.
const SYSTEMS_KEPT: usize = 32;

impl Systems {
    /// What [`CodeSystem::parse`] says `raw` is (the alias table in effect is the same for
    /// the whole read).
    pub(super) fn identify(&mut self, raw: &str) -> CodeSystem {
        if let Some((_, s)) = self.seen.iter().find(|(r, _)| &**r == raw) {
            return s.clone();
        }
        let s = CodeSystem::parse(raw);
        if self.seen.len() < SYSTEMS_KEPT {
            self.seen.push((raw.into(), s.clone()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::reader::testing::*;

    /// Every element's attributes, with `names` as their names in order.
    fn tag(names: &[String]) -> String {
        let attrs: String = names.iter().map(|n| format!(" {n}=\"v\"")).collect();
        format!("{ROOT}<ehrFolder{attrs}/></RCMR_IN030000UK06>")
    }

    /// What quick-xml's own duplicate check says of the same tag (the check migx replaced).
    fn quick_xml_says(doc: &str) -> Option<String> {
        let mut r = quick_xml::Reader::from_str(doc);
        loop {
            match r.read_event() {
                Ok(quick_xml::events::Event::Empty(e)) => {
                    return e.attributes().find_map(|a| a.err()).map(|e| e.to_string())
                }
                Ok(quick_xml::events::Event::Eof) | Err(_) => return None,
                _ => {}
            }
        }
    }

    #[test]
    fn a_duplicate_attribute_is_refused_wherever_it_sits() {
        // Every pair of positions in tags of 1 to 40 attributes (past the names kept on the
        // stack), the same name given twice: refused, with quick-xml's own message.
        for n in 2..=40 {
            for i in 0..n {
                for j in i + 1..n {
                    let mut names: Vec<String> = (0..n).map(|k| format!("a{k}")).collect();
                    names[j] = names[i].clone();
                    let doc = tag(&names);
                    let e = read(&doc).expect_err("duplicate attribute");
                    assert_eq!(e.code, ErrorCode::MalformedXml, "{n} {i} {j}");
                    let want = quick_xml_says(&doc).expect("quick-xml sees it too");
                    assert_eq!(e.message, format!("bad attribute: {want}"), "{n} {i} {j}");
                    assert_eq!(e.element.as_deref(), Some("ehrFolder"));
                }
            }
            // All distinct (a prefixed name is another name): read.
            let mut names: Vec<String> = (0..n).map(|k| format!("a{k}")).collect();
            names[0] = "type".into();
            names[n - 1] = "xsi:type".into();
            let doc = tag(&names).replace("<ehrFolder", "<ehrFolder xmlns:xsi=\"x\"");
            assert!(read(&doc).is_ok(), "{n}");
            assert_eq!(quick_xml_says(&doc), None);
        }
    }

    #[test]
    fn a_code_system_identified_once_is_what_parse_says_every_time() {
        let raws: Vec<String> = [
            "2.16.840.1.113883.2.1.3.2.4.15",
            " 2.16.840.1.113883.2.1.6.2 ",
            "http://snomed.info/sct",
            "HTTP://SNOMED.INFO/SCT",
            "urn:oid:2.16.840.1.113883.2.1.3.2.4.14",
            "not a system",
            "",
        ]
        .into_iter()
        .map(str::to_string)
        .chain((0..40).map(|k| format!("1.2.3.{k}")))
        .collect();
        let mut systems = Systems::default();
        // Twice over, past the number kept: the same answer as parsing afresh.
        for round in 0..2 {
            for raw in &raws {
                assert_eq!(
                    systems.identify(raw),
                    CodeSystem::parse(raw),
                    "{round} {raw:?}"
                );
            }
        }
    }

    const SCT: &str = "2.16.840.1.113883.2.1.3.2.4.15";

    fn coded<'a>(code: Option<&'a str>, system: Option<&str>) -> Attrs<'a> {
        Attrs {
            code: code.map(Cow::Borrowed),
            code_system: system.map(CodeSystem::parse),
            display_name: Some(Cow::Borrowed("shown")),
            ..Attrs::default()
        }
    }

    #[test]
    fn a_coding_needs_a_non_blank_code_and_a_system() {
        let c = coding(&coded(Some(" 1234 "), Some(SCT))).expect("a coding");
        assert_eq!(c.code, "1234", "the code is trimmed");
        assert_eq!(c.system, CodeSystem::parse(SCT));
        assert_eq!(c.display.as_deref(), Some("shown"));
        assert_eq!(
            coding(&coded(Some(" \t "), Some(SCT))),
            None,
            "a blank code"
        );
        assert_eq!(coding(&coded(Some("1234"), None)), None, "no system");
        assert_eq!(coding(&coded(None, Some(SCT))), None, "no code");
    }

    #[test]
    fn a_code_without_a_system_is_kept_for_screening_under_no_system() {
        // The screen tries a systemless code under every listed system: it must reach it.
        let c = systemless(&coded(Some(" A78.. "), None)).expect("a systemless coding");
        assert_eq!(c.code, "A78..");
        assert_eq!(c.system, CodeSystem::Invalid);
        assert_eq!(c.display, None, "its display is never emitted");
        assert_eq!(systemless(&coded(Some("  "), None)), None, "a blank code");
        assert_eq!(
            systemless(&coded(Some("A78.."), Some(SCT))),
            None,
            "a code with a system is a coding, not systemless"
        );
        assert_eq!(systemless(&coded(None, None)), None);
    }
}
