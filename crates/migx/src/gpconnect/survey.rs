//! The first pass over a Bundle's resources: each parsed alone, once, from its slice of the
//! input; the one reference index built from it, with what needs no other resource (GP
//! Connect markers, label shapes, entered-in-error, Consents, contained labels, the codings
//! of resources that become no item); its tree dropped unless others refer to it.

use super::bundle::{internal_error, Kept, Res, Survey, STRUCTURAL_TYPES};
use super::consent::consent_facts;
use super::entered_in_error::says_entered_in_error;
use super::index::{Index, Texts};
use super::is_gpconnect_resource;
use super::json::{all_codings, arr, ref_key, str_at};
use super::labels::{check_entry_labels, security};
use super::raw::{parse, RawEntry};
use crate::digest::is_uuid;
use crate::error::InputError;
use serde_json::Value as Json;
use std::collections::HashMap;

/// At most this many bytes of the input are kept parsed between passes (a tree is about
/// 13 times its JSON: 2 MiB keep at most ~26 MB, inside the fixed 64 MB of the memory
/// budget); beyond it resources are parsed again each time they are read, so that memory
/// stays a small multiple of the input whatever the bundle holds.
pub(super) const KEPT_BYTES: usize = 2 << 20;

/// Which resources' trees the first pass keeps for the later passes. Speed only: what is
/// read is the same whichever is chosen (tested on the fixtures and the corpus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keep {
    /// Every resource (a bundle within [`KEPT_BYTES`]: read as fast as one whole tree).
    All,
    /// The resources others refer to (structural types and Encounters), within
    /// [`KEPT_BYTES`].
    Referred,
    /// None: every read parses again.
    #[cfg(test)]
    Nothing,
}

impl Keep {
    /// The choice for an input of `len` bytes.
    pub(super) fn for_input(len: usize) -> Keep {
        if len <= KEPT_BYTES {
            Keep::All
        } else {
            Keep::Referred
        }
    }
}

/// Read each entry's resource once (see [`Survey`]). The `Res` built here borrow nothing
/// yet: [`Reader::new`] points them at the survey's [`Kept`].
pub(super) fn survey<'a>(entries: Vec<RawEntry<'a>>, keep: Keep) -> Result<Survey<'a>, InputError> {
    let mut s = Survey {
        kept: Kept::default(),
        kept_at: Vec::new(),
        facts: Vec::new(),
        ids: Texts::default(),
        index: Index::with_capacity(entries.len()),
        idents: Index::default(),
        gpconnect: false,
        bad_labels: None,
        record_codings: Vec::new(),
    };
    // Resource type -> its place in `kept.types` (each type's name held once).
    let mut types: HashMap<String, u32> = HashMap::new();
    let mut kept_bytes = 0usize;
    s.kept_at.reserve_exact(entries.len());
    s.facts.reserve_exact(entries.len());
    for (n, e) in entries.into_iter().enumerate() {
        let Some(raw) = e.resource else { continue };
        let v = parse(raw).map_err(|_| internal_error())?;
        s.gpconnect |= is_gpconnect_resource(&v);
        if s.bad_labels.is_none() {
            s.bad_labels = check_entry_labels(&v, n).err();
        }
        let Some(ty) = str_at(&v, "resourceType") else {
            continue;
        };
        let rid = str_at(&v, "id").unwrap_or("").trim();
        let ident = arr(Some(&v), "identifier")
            .filter_map(|i| str_at(i, "value"))
            .map(str::trim)
            .find(|s| is_uuid(s));
        let id = match (ident, rid) {
            (Some(u), _) => s.ids.push_lower(&[u])?,
            (None, r) if !r.is_empty() => s.ids.push_lower(&[r])?,
            _ => s.ids.push(&format!("entry-{n}"))?,
        };
        let i = s.facts.len();
        if !rid.is_empty() {
            s.index.add(&[ty, "/", rid], i)?;
        }
        let full_url = match e.full_url {
            Some(f) => Some(parse(f).map_err(|_| internal_error())?),
            None => None,
        };
        if let Some(full) = full_url
            .as_ref()
            .and_then(Json::as_str)
            .map(str::trim)
            .filter(|f| !f.is_empty())
        {
            let full = full.to_ascii_lowercase();
            if !full.starts_with("urn:") {
                if let Some(k) = ref_key(&full) {
                    s.index.add(&[k.as_str()], i)?;
                }
            }
            s.index.add(&[full.as_str()], i)?;
        }
        for ident in arr(Some(&v), "identifier") {
            let value = str_at(ident, "value").map(str::trim).unwrap_or("");
            if value.is_empty() {
                continue;
            }
            let system = str_at(ident, "system").map(str::trim).unwrap_or("");
            s.idents.add(&[system, "|", value], i)?;
            if !system.is_empty() {
                s.idents.add(&["|", value], i)?;
            }
        }
        // Resources that become no item (Lists, Patient, Medication, ...): their codings are
        // screened for dissent all the same.
        let structural = STRUCTURAL_TYPES.contains(&ty);
        if structural {
            s.record_codings.extend(all_codings(&v));
        }
        let consent = consent_facts(&v).map(Box::new);
        let contained_security: Vec<String> =
            arr(Some(&v), "contained").flat_map(security).collect();
        let facts = Res {
            ty: "",
            raw,
            kept: None,
            id,
            says_entered_in_error: says_entered_in_error(&v),
            consent,
            contained_security: contained_security.into_boxed_slice(),
        };
        let type_at = match types.get(ty) {
            Some(&t) => t,
            None => {
                let t = u32::try_from(s.kept.types.len()).map_err(|_| internal_error())?;
                s.kept.types.push(ty.to_string());
                types.insert(ty.to_string(), t);
                t
            }
        };
        let keep = match keep {
            Keep::All => true,
            Keep::Referred => {
                (structural || ty == "Encounter") && kept_bytes + raw.len() <= KEPT_BYTES
            }
            #[cfg(test)]
            Keep::Nothing => false,
        };
        let tree_at = if keep {
            kept_bytes += raw.len();
            s.kept.trees.push(v);
            Some(s.kept.trees.len() - 1)
        } else {
            None
        };
        s.kept_at.push((type_at, tree_at));
        s.facts.push(facts);
    }
    s.ids.shrink();
    s.index.shrink();
    s.idents.shrink();
    Ok(s)
}
