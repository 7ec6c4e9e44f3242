//! Dates as the source gave them: parsed, absent or unreadable, and `effectiveTime`.

use crate::ehr::ts::Ts;

/// A date field as the source gave it: parsed, absent, or present but unreadable (which a
/// filter decision must treat as "unknown", failing closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateField {
    /// No date was given (no element, a `nullFlavor`, or a placeholder such as SystmOne's
    /// `19000101000000`).
    #[default]
    Absent,
    /// A parsed timestamp, keeping the source's precision.
    Value(Ts),
    /// A date was given but could not be parsed; date filters treat it as unknown and fail closed.
    Invalid,
}

impl DateField {
    /// From an HL7 v3 TS value (`yyyy[MM[dd[HH[mm[ss]]]]]` with optional offset); placeholders
    /// count as absent.
    pub fn from_hl7(s: &str) -> DateField {
        match Ts::parse(s) {
            Ok(ts) if ts.is_placeholder() => DateField::Absent,
            Ok(ts) => DateField::Value(ts),
            Err(_) => DateField::Invalid,
        }
    }
    /// From a FHIR `date`/`dateTime`/`instant` string (GP Connect STU3).
    pub fn from_fhir(s: &str) -> DateField {
        match Ts::parse_fhir(s) {
            Ok(ts) if ts.is_placeholder() => DateField::Absent,
            Ok(ts) => DateField::Value(ts),
            Err(_) => DateField::Invalid,
        }
    }
    /// The timestamp, when one was parsed.
    pub fn value(&self) -> Option<Ts> {
        match self {
            DateField::Value(t) => Some(*t),
            _ => None,
        }
    }
}

/// `effectiveTime` as an interval or a point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effective {
    /// Start of the interval (`effectiveTime/low`): e.g. a problem's onset or a medication's start.
    pub low: DateField,
    /// End of the interval (`effectiveTime/high`): e.g. a problem's end or an authorisation's
    /// expiry.
    pub high: DateField,
    /// A single point in time (`effectiveTime/@value` or `center`).
    pub center: DateField,
}

impl Effective {
    /// When the thing happened: center, else low.
    pub fn point(&self) -> DateField {
        match self.center {
            DateField::Absent => self.low,
            c => c,
        }
    }
}
