//! Reading GP2GP HL7 v3 `EhrExtract` messages into the typed model.

pub mod model;
pub mod reader;
pub mod ts;

pub use model::{DateField, Element, Extract, Item, MessageKind, Value};
pub use reader::{read_extract, read_extract_bytes, Limits};
