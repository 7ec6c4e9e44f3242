//! Clinical coding: code systems, codings, and the code lists the policy loads.
//!
//! Everything here is about *codes*, never about a patient. Code lists are data files
//! (see `policy/`), so a clinical safety officer can review them without reading Rust.

pub use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// A code system as GP systems use them, known by its HL7 OID in EhrExtract and by its
/// URI in FHIR.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CodeSystem {
    /// SNOMED CT, OID `2.16.840.1.113883.2.1.3.2.4.15`, `http://snomed.info/sct`.
    Snomed,
    /// Read v2, OID `2.16.840.1.113883.2.1.6.2`, `http://read.info/readv2`.
    ReadV2,
    /// CTV3, OID `2.16.840.1.113883.2.1.3.2.4.14`, `http://read.info/ctv3`.
    Ctv3,
    /// Any other system, kept by OID (emitted as `urn:oid:<oid>`) or URI.
    Other(String),
    /// A `codeSystem`/`system` that is neither an OID nor a URI (it may hold text): its
    /// codings are screened as if they were in every listed system and never emitted.
    Invalid,
}

/// HL7 OID of SNOMED CT.
pub const OID_SNOMED: &str = "2.16.840.1.113883.2.1.3.2.4.15";
/// HL7 OID of Read v2 (the 5-byte Read codes used by EMIS and Vision).
pub const OID_READ_V2: &str = "2.16.840.1.113883.2.1.6.2";
/// HL7 OID of CTV3 (Clinical Terms Version 3, used by SystmOne).
pub const OID_CTV3: &str = "2.16.840.1.113883.2.1.3.2.4.14";
/// FHIR system URI of SNOMED CT.
pub const URI_SNOMED: &str = "http://snomed.info/sct";
/// FHIR system URI of Read v2.
pub const URI_READ_V2: &str = "http://read.info/readv2";
/// FHIR system URI of CTV3.
pub const URI_CTV3: &str = "http://read.info/ctv3";

impl CodeSystem {
    /// The one normalisation of a code-system identifier, used by both readers and every
    /// rule: an HL7 OID (bare or `urn:oid:`), or a URI in any spelling the active alias table
    /// (the policy's `code_systems`, else `policy/codes/systems.tsv`, see [`systems`]) knows. Text that is neither an OID nor a
    /// URI (free text in a `codeSystem`/`system`) is [`CodeSystem::Invalid`]: screened like an
    /// unknown system, never emitted.
    pub fn parse(raw: &str) -> Self {
        systems::identify(raw)
    }

    /// From a FHIR `system` URI (same normalisation as [`CodeSystem::parse`]).
    pub fn from_uri(uri: &str) -> Self {
        Self::parse(uri)
    }

    /// The FHIR `system` URI.
    pub fn uri(&self) -> &str {
        match self {
            CodeSystem::Snomed => URI_SNOMED,
            CodeSystem::ReadV2 => URI_READ_V2,
            CodeSystem::Ctv3 => URI_CTV3,
            CodeSystem::Other(uri) => uri,
            CodeSystem::Invalid => "",
        }
    }

    /// [`CodeSystem::uri`] as text to keep: the known systems' URIs borrowed, any other
    /// copied.
    pub fn uri_text(&self) -> std::borrow::Cow<'static, str> {
        match self {
            CodeSystem::Snomed => URI_SNOMED.into(),
            CodeSystem::ReadV2 => URI_READ_V2.into(),
            CodeSystem::Ctv3 => URI_CTV3.into(),
            CodeSystem::Other(uri) => uri.clone().into(),
            CodeSystem::Invalid => "".into(),
        }
    }

    /// Short name used in code-list files and reports: `snomed`, `readv2`, `ctv3`, or the URI.
    pub fn short_name(&self) -> &str {
        match self {
            CodeSystem::Snomed => "snomed",
            CodeSystem::ReadV2 => "readv2",
            CodeSystem::Ctv3 => "ctv3",
            CodeSystem::Other(uri) => uri,
            CodeSystem::Invalid => "invalid",
        }
    }
}

/// One code in one system, as the source carried it. `display` is the source's own display
/// text for the code (a term, not free text about the patient).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Coding {
    /// The code system.
    pub system: CodeSystem,
    /// The code as written. A Read v2 code may carry a 2-character term suffix (`14L..00`: concept
    /// `14L..`, term `00`) that picks a synonym, not a different concept; a SNOMED CT code may be a
    /// description id rather than a concept id. Held inline up to 24 bytes (every code
    /// migx reads is shorter), so a coding costs no allocation for its code.
    pub code: CompactString,
    /// The source's display term, if any (inline up to 24 bytes, as most terms are).
    pub display: Option<CompactString>,
}

impl Coding {
    /// Give back the room its strings grew into while being read (issue 24.12).
    pub fn shrink(&mut self) {
        if let CodeSystem::Other(s) = &mut self.system {
            s.shrink_to_fit();
        }
        self.code.shrink_to_fit();
        if let Some(d) = &mut self.display {
            d.shrink_to_fit();
        }
    }

    /// A coding with no display term.
    pub fn new(system: CodeSystem, code: impl Into<CompactString>) -> Self {
        Coding {
            system,
            code: code.into(),
            display: None,
        }
    }
}

pub mod degraded;
pub mod list;
pub mod release;
pub mod rf2;
pub mod snomed;
pub mod syntax;
pub mod systems;
pub(crate) mod tsv;
