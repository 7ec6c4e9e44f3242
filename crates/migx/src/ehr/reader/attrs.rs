//! One element's attributes (borrowed from the event), and the codings, dates and ids read
//! from them.

use super::errors::safe_name;
use super::Limits;
use crate::codes::{CodeSystem, Coding};
use crate::ehr::model::DateField;
use crate::error::{ErrorCode, InputError};
use quick_xml::events::BytesStart;
use std::borrow::Cow;

/// The attributes of one element that the reader uses, borrowed from the event.
#[derive(Default)]
pub(super) struct Attrs<'a> {
    // Borrowed from the reader's buffer unless a value needed normalising: most elements'
    // attributes are read and dropped, so this saves an allocation per attribute.
    pub(super) root: Option<Cow<'a, str>>,
    pub(super) extension: Option<Cow<'a, str>>,
    pub(super) code: Option<Cow<'a, str>>,
    pub(super) code_system: Option<Cow<'a, str>>,
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
            system: CodeSystem::parse(sys),
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
) -> Result<Attrs<'a>, InputError> {
    let mut out = Attrs::default();
    for (n, attr) in e.attributes().enumerate() {
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
        let key = attr.key.as_ref();
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
            "codeSystem" => out.code_system = Some(value()?),
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
