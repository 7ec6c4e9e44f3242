//! Dates: seconds since 1970-01-01 (civil calendar, no leap seconds), written as HL7
//! timestamps by the library's timestamp type.

/// Seconds since 1970-01-01 UTC at midnight starting `yyyymmdd` (the library's HL7 reader).
pub(crate) fn epoch_of_day(yyyymmdd: &str) -> i64 {
    migx::ehr::ts::Ts::parse(yyyymmdd).map_or(0, |t| t.local().and_utc().timestamp())
}

/// HL7 TS `yyyyMMddHHmmss` of an instant (seconds since the epoch), written by the library's
/// timestamp type.
pub(crate) struct Ts(pub(crate) i64);
/// HL7 TS, date only `yyyyMMdd`.
pub(crate) struct Day(pub(crate) i64);

pub(crate) fn hl7(secs: i64, precision: migx::ehr::ts::Precision) -> String {
    migx::ehr::ts::Ts::from_epoch_secs(secs, precision).map_or_else(String::new, |t| t.hl7())
}

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hl7(self.0, migx::ehr::ts::Precision::Second))
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hl7(self.0, migx::ehr::ts::Precision::Day))
    }
}
