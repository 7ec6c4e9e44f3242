//! HL7 v3 timestamps (`TS`): `yyyy[MM[dd[HH[mm[ss[.fff]]]]]][+/-HHMM]`.
//!
//! GP systems write local (Europe/London) times without an offset; FHIR wants an offset on
//! any value with a time, so we apply the UK rule for British Summer Time. A value that is
//! not a TS is an error the caller must handle: a date used for a filter decision that
//! cannot be read makes the item withheld (fail closed), never silently "current".

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use std::cmp::Ordering;
use std::fmt;

/// How much of the timestamp the source gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    /// Only the year (`yyyy`).
    Year,
    /// Year and month (`yyyyMM`).
    Month,
    /// A calendar day (`yyyyMMdd`).
    Day,
    /// Hours only (`yyyyMMddHH`); FHIR has no hour precision, so output renders it like a
    /// minute, but the span it denotes (see [`Ts::end_epoch_secs`]) is the whole hour.
    Hour,
    /// Hours and minutes (`yyyyMMddHHmm`).
    Minute,
    /// Seconds, with or without a fraction.
    Second,
}

/// A parsed HL7 TS. Comparisons use the UTC instant at the start of the given precision.
///
/// Eight bytes (issue 24.12: every item holds five dates): the local date, and one word
/// packing the seconds into the local day (17 bits), the precision (3 bits), whether the
/// offset was in the source (1 bit) and the offset in minutes (11 bits: every offset
/// `parse_offset` accepts is whole minutes within 14:59 of UTC). Read through
/// [`Ts::local`], [`Ts::precision`], [`Ts::offset_secs`], [`Ts::explicit_offset`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ts {
    /// Local calendar date (missing parts filled with their first value).
    date: NaiveDate,
    /// Time of day, precision, offset source and offset, packed (see [`Ts::new`]).
    packed: u32,
}

/// Bits of [`Ts::packed`]: seconds into the day, then precision, explicit offset, offset.
const SECS_BITS: u32 = 17;
const PRECISION_SHIFT: u32 = SECS_BITS;
const EXPLICIT_SHIFT: u32 = PRECISION_SHIFT + 3;
const OFFSET_SHIFT: u32 = EXPLICIT_SHIFT + 1;
/// Offsets are stored as minutes plus this bias (0..=2047 in 11 bits).
const OFFSET_BIAS: i32 = 1024;

impl fmt::Debug for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ts")
            .field("local", &self.local())
            .field("precision", &self.precision())
            .field("offset_secs", &self.offset_secs())
            .field("explicit_offset", &self.explicit_offset())
            .finish()
    }
}

/// Why a TS could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an HL7 TS timestamp")]
pub struct TsError;

impl Ts {
    /// A timestamp from its parts. `local` is whole seconds and `offset_secs` whole minutes
    /// within 14:59 of UTC (what every parser here gives); a finer part is dropped.
    fn new(
        local: NaiveDateTime,
        precision: Precision,
        offset_secs: i32,
        explicit_offset: bool,
    ) -> Ts {
        debug_assert!(offset_secs % 60 == 0 && offset_secs.abs() < 15 * 3600);
        let minutes = (offset_secs / 60).clamp(-(15 * 60 - 1), 15 * 60 - 1) + OFFSET_BIAS;
        let packed = local.num_seconds_from_midnight()
            | (precision as u32) << PRECISION_SHIFT
            | u32::from(explicit_offset) << EXPLICIT_SHIFT
            | (minutes as u32) << OFFSET_SHIFT;
        Ts {
            date: local.date(),
            packed,
        }
    }

    /// Local wall-clock time (missing parts filled with their first value).
    pub fn local(&self) -> NaiveDateTime {
        let secs = self.packed & ((1 << SECS_BITS) - 1);
        let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap_or(NaiveTime::MIN);
        self.date.and_time(time)
    }

    /// How much of the value the source gave; output keeps it (a year stays a year).
    pub fn precision(&self) -> Precision {
        match (self.packed >> PRECISION_SHIFT) & 0b111 {
            0 => Precision::Year,
            1 => Precision::Month,
            2 => Precision::Day,
            3 => Precision::Hour,
            4 => Precision::Minute,
            _ => Precision::Second,
        }
    }

    /// Offset east of UTC in seconds: from the value, else the UK rule.
    pub fn offset_secs(&self) -> i32 {
        ((self.packed >> OFFSET_SHIFT) as i32 - OFFSET_BIAS) * 60
    }

    /// Whether the offset was in the source.
    pub fn explicit_offset(&self) -> bool {
        (self.packed >> EXPLICIT_SHIFT) & 1 == 1
    }

    /// The same instant and offset at another precision.
    pub fn with_precision(&self, precision: Precision) -> Ts {
        Ts::new(
            self.local(),
            precision,
            self.offset_secs(),
            self.explicit_offset(),
        )
    }

    /// Parse an HL7 TS value.
    pub fn parse(s: &str) -> Result<Ts, TsError> {
        let s = s.trim();
        // Read as bytes (every date of every statement comes through here): the body runs
        // to the first sign, the digits to the first '.', as `str::find` would split them.
        let b = s.as_bytes();
        let sign = b.iter().position(|&c| c == b'+' || c == b'-');
        let body = &b[..sign.unwrap_or(b.len())];
        let offset = sign.map(|i| &s[i..]);
        let dot = body.iter().position(|&c| c == b'.');
        let digits = &body[..dot.unwrap_or(body.len())];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(TsError);
        }
        if let Some(i) = dot {
            let f = &body[i + 1..];
            if f.is_empty() || !f.iter().all(u8::is_ascii_digit) || digits.len() < 14 {
                return Err(TsError);
            }
        }
        let precision = match digits.len() {
            4 => Precision::Year,
            6 => Precision::Month,
            8 => Precision::Day,
            10 => Precision::Hour,
            12 => Precision::Minute,
            14 => Precision::Second,
            _ => return Err(TsError),
        };
        // Every byte is an ASCII digit (checked above).
        let num = |a: usize, b: usize| -> u32 {
            digits[a..b]
                .iter()
                .fold(0, |n, &d| n * 10 + u32::from(d - b'0'))
        };
        let part = |a: usize, missing: u32| {
            if digits.len() >= a + 2 {
                num(a, a + 2)
            } else {
                missing
            }
        };
        let year = num(0, 4) as i32;
        let (month, day) = (part(4, 1), part(6, 1));
        let (hour, minute, second) = (part(8, 0), part(10, 0), part(12, 0));
        let date = NaiveDate::from_ymd_opt(year, month, day).ok_or(TsError)?;
        let time = NaiveTime::from_hms_opt(hour, minute, second).ok_or(TsError)?;
        let local = NaiveDateTime::new(date, time);
        let (offset_secs, explicit_offset) = match offset {
            Some(o) => (parse_offset(o)?, true),
            None => (uk_offset_secs(local), false),
        };
        Ok(Ts::new(local, precision, offset_secs, explicit_offset))
    }

    /// [`Ts::parse`] as it was written with `str` searches and `parse`, the reference the
    /// byte reading is tested against.
    #[cfg(test)]
    fn parse_by_str(s: &str) -> Result<Ts, TsError> {
        let s = s.trim();
        let (body, offset) = match s.find(['+', '-']) {
            Some(i) => (&s[..i], Some(&s[i..])),
            None => (s, None),
        };
        let (digits, fraction) = match body.find('.') {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TsError);
        }
        if let Some(f) = fraction {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) || digits.len() < 14 {
                return Err(TsError);
            }
        }
        let num = |a: usize, b: usize| -> Result<u32, TsError> {
            digits.get(a..b).and_then(|d| d.parse().ok()).ok_or(TsError)
        };
        let precision = match digits.len() {
            4 => Precision::Year,
            6 => Precision::Month,
            8 => Precision::Day,
            10 => Precision::Hour,
            12 => Precision::Minute,
            14 => Precision::Second,
            _ => return Err(TsError),
        };
        let year = num(0, 4)? as i32;
        let month = if digits.len() >= 6 { num(4, 6)? } else { 1 };
        let day = if digits.len() >= 8 { num(6, 8)? } else { 1 };
        let hour = if digits.len() >= 10 { num(8, 10)? } else { 0 };
        let minute = if digits.len() >= 12 { num(10, 12)? } else { 0 };
        let second = if digits.len() >= 14 { num(12, 14)? } else { 0 };
        let date = NaiveDate::from_ymd_opt(year, month, day).ok_or(TsError)?;
        let time = NaiveTime::from_hms_opt(hour, minute, second).ok_or(TsError)?;
        let local = NaiveDateTime::new(date, time);
        let (offset_secs, explicit_offset) = match offset {
            Some(o) => (parse_offset(o)?, true),
            None => (uk_offset_secs(local), false),
        };
        Ok(Ts::new(local, precision, offset_secs, explicit_offset))
    }

    /// Parse a FHIR (STU3 or R4) `date`/`dateTime`/`instant`: `YYYY`, `YYYY-MM`,
    /// `YYYY-MM-DD`, `YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]`. Values without an offset are
    /// UK local time, like HL7 TS values. The text is rewritten as an HL7 TS and parsed by
    /// [`Ts::parse`], so both formats give the same value for the same instant.
    pub fn parse_fhir(s: &str) -> Result<Ts, TsError> {
        let s = s.trim();
        if !s.is_ascii() {
            return Err(TsError);
        }
        let (date, time) = match s.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let parts: Vec<&str> = date.split('-').collect();
        let ok_len = match parts.as_slice() {
            [y] => y.len() == 4,
            [y, m] => y.len() == 4 && m.len() == 2,
            [y, m, d] => y.len() == 4 && m.len() == 2 && d.len() == 2,
            _ => false,
        };
        if !ok_len || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(TsError);
        }
        let mut hl7: String = parts.concat();
        if let Some(t) = time {
            if parts.len() != 3 {
                return Err(TsError);
            }
            let (clock, offset) = match t.find(['Z', '+', '-']) {
                Some(i) => (&t[..i], Some(&t[i..])),
                None => (t, None),
            };
            let (hms, fraction) = match clock.split_once('.') {
                Some((a, b)) => (a, Some(b)),
                None => (clock, None),
            };
            let hms: Vec<&str> = hms.split(':').collect();
            if !(hms.len() == 2 || hms.len() == 3)
                || !hms
                    .iter()
                    .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(TsError);
            }
            hl7.push_str(&hms.concat());
            if hms.len() == 2 {
                hl7.push_str("00");
            }
            if let Some(f) = fraction {
                hl7.push('.');
                hl7.push_str(f);
            }
            match offset {
                Some("Z") => hl7.push_str("+0000"),
                Some(o) => {
                    let b = o.as_bytes();
                    if o.len() != 6 || b[3] != b':' {
                        return Err(TsError);
                    }
                    hl7.push_str(&o[..3]);
                    hl7.push_str(&o[4..]);
                }
                None => {}
            }
        }
        Ts::parse(&hl7)
    }

    /// SystmOne writes `19000101...` for "no date"; such a value means "not given".
    pub fn is_placeholder(&self) -> bool {
        self.date == NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default()
    }

    /// The UTC instant (seconds since the epoch) of the start of this value.
    pub fn epoch_secs(&self) -> i64 {
        self.local().and_utc().timestamp() - i64::from(self.offset_secs())
    }

    /// The first UTC instant (seconds since the epoch) after the period this value denotes
    /// at its precision: `2025` denotes the whole of 2025, so its end is the start of 2026;
    /// `20250314` ends at the next midnight. `[epoch_secs, end_epoch_secs)` holds every instant
    /// the source may have meant, which is what an order decided "at the precision given"
    /// needs (a fraction of a second counts as its whole second).
    pub fn end_epoch_secs(&self) -> i64 {
        let l = self.local();
        let date = l.date();
        let next = match self.precision() {
            Precision::Year => NaiveDate::from_ymd_opt(l.year().saturating_add(1), 1, 1)
                .map(|d| d.and_time(NaiveTime::MIN)),
            Precision::Month => {
                let (y, m) = if l.month() == 12 {
                    (l.year().saturating_add(1), 1)
                } else {
                    (l.year(), l.month() + 1)
                };
                NaiveDate::from_ymd_opt(y, m, 1).map(|d| d.and_time(NaiveTime::MIN))
            }
            Precision::Day => date.succ_opt().map(|d| d.and_time(NaiveTime::MIN)),
            Precision::Hour => l.checked_add_signed(chrono::Duration::hours(1)),
            Precision::Minute => l.checked_add_signed(chrono::Duration::minutes(1)),
            Precision::Second => l.checked_add_signed(chrono::Duration::seconds(1)),
        };
        let Some(next) = next else {
            return i64::MAX; // past the calendar's end: the period never ends
        };
        // Without an offset in the source the end is UK local time too (it may fall on the
        // other side of a clock change than the start).
        let offset = if self.explicit_offset() {
            self.offset_secs()
        } else {
            uk_offset_secs(next)
        };
        next.and_utc().timestamp() - i64::from(offset)
    }

    /// The value at UTC `secs` seconds after 1970-01-01, at `precision` (for writers of HL7
    /// text such as the benchmark generator); `None` outside the calendar.
    pub fn from_epoch_secs(secs: i64, precision: Precision) -> Option<Ts> {
        let local = chrono::DateTime::from_timestamp(secs, 0)?.naive_utc();
        Some(Ts::new(local, precision, 0, false))
    }

    /// The HL7 TS text at the value's precision (`yyyy`, `yyyyMM`, `yyyyMMdd`, ...
    /// `yyyyMMddHHmmss`), in its local time without an offset.
    pub fn hl7(&self) -> String {
        let parts = match self.precision() {
            Precision::Year => 0,
            Precision::Month => 1,
            Precision::Day => 2,
            Precision::Hour => 3,
            Precision::Minute => 4,
            Precision::Second => 5,
        };
        written(self.local(), parts, false, None).unwrap_or_else(|| self.hl7_by_chrono())
    }

    /// [`Ts::hl7`] through chrono's formatter, for a year outside 0..=9999 (the written
    /// forms above are for four-digit years).
    fn hl7_by_chrono(&self) -> String {
        let format = match self.precision() {
            Precision::Year => "%Y",
            Precision::Month => "%Y%m",
            Precision::Day => "%Y%m%d",
            Precision::Hour => "%Y%m%d%H",
            Precision::Minute => "%Y%m%d%H%M",
            Precision::Second => "%Y%m%d%H%M%S",
        };
        self.local().format(format).to_string()
    }

    /// The calendar date in local time.
    pub fn date(&self) -> NaiveDate {
        self.date
    }

    /// The FHIR `date`/`dateTime` rendering, keeping the source precision.
    pub fn fhir(&self) -> String {
        // Every part to the second and the offset once there is a time (FHIR has no hour
        // precision); only the date's parts given otherwise.
        let (parts, offset) = match self.precision() {
            Precision::Year => (0, None),
            Precision::Month => (1, None),
            Precision::Day => (2, None),
            Precision::Hour | Precision::Minute | Precision::Second => {
                (5, Some(self.offset_secs()))
            }
        };
        written(self.local(), parts, true, offset).unwrap_or_else(|| self.fhir_by_chrono())
    }

    /// The FHIR `instant` rendering (full precision required by FHIR).
    pub fn fhir_instant(&self) -> String {
        written(self.local(), 5, true, Some(self.offset_secs()))
            .unwrap_or_else(|| self.fhir_instant_by_chrono())
    }

    /// [`Ts::fhir`] through chrono's formatter, for a year outside 0..=9999 (and the
    /// reference the written form is tested against).
    fn fhir_by_chrono(&self) -> String {
        let l = &self.local();
        match self.precision() {
            Precision::Year => format!("{:04}", l.year()),
            Precision::Month => format!("{:04}-{:02}", l.year(), l.month()),
            Precision::Day => format!("{:04}-{:02}-{:02}", l.year(), l.month(), l.day()),
            Precision::Hour | Precision::Minute | Precision::Second => {
                format!(
                    "{}{}",
                    l.format("%Y-%m-%dT%H:%M:%S"),
                    fmt_offset(self.offset_secs())
                )
            }
        }
    }

    /// [`Ts::fhir_instant`] through chrono's formatter (see [`Ts::fhir_by_chrono`]).
    fn fhir_instant_by_chrono(&self) -> String {
        format!(
            "{}{}",
            self.local().format("%Y-%m-%dT%H:%M:%S"),
            fmt_offset(self.offset_secs())
        )
    }
}

/// `l` written digit by digit into one string of the right size (this runs for every date
/// of every shared item, and chrono's formatter parses its pattern each time): the year,
/// then the first `parts` of month, day, hour, minute and second, with FHIR's separators
/// when `separated` (HL7 TS has none), then `±hh:mm` when an offset is given. `None` for a
/// year outside 0..=9999, which the four digits cannot hold.
fn written(l: NaiveDateTime, parts: usize, separated: bool, offset: Option<i32>) -> Option<String> {
    let year = u32::try_from(l.year()).ok().filter(|&y| y <= 9999)?;
    let mut out = String::with_capacity(25);
    push_digits(&mut out, year, 4);
    let after_year = [
        ('-', l.month()),
        ('-', l.day()),
        ('T', l.hour()),
        (':', l.minute()),
        (':', l.second()),
    ];
    for (sep, v) in after_year.into_iter().take(parts) {
        if separated {
            out.push(sep);
        }
        push_digits(&mut out, v, 2);
    }
    if let Some(secs) = offset {
        out.push(if secs < 0 { '-' } else { '+' });
        let a = secs.unsigned_abs();
        push_digits(&mut out, a / 3600, 2);
        out.push(':');
        push_digits(&mut out, a % 3600 / 60, 2);
    }
    Some(out)
}

/// `v` as exactly `width` decimal digits, zero-padded (`v` below `10^width`).
fn push_digits(out: &mut String, v: u32, width: u32) {
    let mut div = 10u32.pow(width - 1);
    while div > 0 {
        out.push(char::from(b'0' + (v / div % 10) as u8));
        div /= 10;
    }
}

impl PartialOrd for Ts {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.epoch_secs().cmp(&other.epoch_secs()))
    }
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fhir())
    }
}

fn parse_offset(o: &str) -> Result<i32, TsError> {
    let sign = if o.starts_with('-') { -1 } else { 1 };
    let d = &o[1..];
    if !(d.len() == 2 || d.len() == 4) || !d.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TsError);
    }
    let h: i32 = d[..2].parse().map_err(|_| TsError)?;
    let m: i32 = if d.len() == 4 {
        d[2..].parse().map_err(|_| TsError)?
    } else {
        0
    };
    if h > 14 || m > 59 {
        return Err(TsError);
    }
    Ok(sign * (h * 3600 + m * 60))
}

fn fmt_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

fn last_sunday(year: i32, month: u32) -> NaiveDate {
    // March and October have 31 days: step back from the 31st to its week's Sunday.
    let last = NaiveDate::from_ymd_opt(year, month, 31).unwrap_or_default();
    let back = last.weekday().num_days_from_sunday();
    last.checked_sub_days(chrono::Days::new(u64::from(back)))
        .unwrap_or(last)
}

/// UK local time offset: BST (+1h) from 01:00 UTC on the last Sunday of March to 01:00 UTC on
/// the last Sunday of October (the rule since 1996; earlier years are treated the same).
pub fn uk_offset_secs(local: NaiveDateTime) -> i32 {
    // Asked of every date the reader keeps: only March and October hold a change, so the
    // other months need no look for their last Sunday.
    match local.month() {
        4..=9 => return 3600,
        1 | 2 | 11 | 12 => return 0,
        _ => {}
    }
    uk_offset_by_boundaries(local)
}

/// [`uk_offset_secs`] by the two boundaries of `local`'s year, whatever its month.
fn uk_offset_by_boundaries(local: NaiveDateTime) -> i32 {
    let y = local.year();
    // Boundaries expressed in local time: spring forward at 01:00 GMT, fall back at 02:00 BST.
    let start = last_sunday(y, 3).and_hms_opt(1, 0, 0).unwrap_or_default();
    let end = last_sunday(y, 10).and_hms_opt(2, 0, 0).unwrap_or_default();
    if local >= start && local < end {
        3600
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    /// The offset by month is the offset by the two boundaries, at every hour of every day
    /// of years around the rule's edges and in each weekday pattern.
    #[test]
    fn the_uk_offset_by_month_is_the_offset_by_the_boundaries() {
        let mut seen = 0;
        for y in (1990..=2032).chain([1, 999, 9999]) {
            let mut d = NaiveDate::from_ymd_opt(y, 1, 1).expect("a date");
            while d.year() == y {
                for (h, m) in [
                    (0, 0),
                    (0, 59),
                    (1, 0),
                    (1, 59),
                    (2, 0),
                    (2, 30),
                    (12, 0),
                    (23, 59),
                ] {
                    let local = d.and_hms_opt(h, m, 0).expect("a time");
                    assert_eq!(
                        uk_offset_secs(local),
                        uk_offset_by_boundaries(local),
                        "{local}"
                    );
                    seen += 1;
                }
                d = d.succ_opt().expect("a next day");
            }
        }
        assert!(seen > 100_000);
    }

    /// The digit-by-digit renderings equal chrono's formatter for every precision, offset
    /// sign and size, calendar edges and times of day; and the last Sunday of March and
    /// October, found by arithmetic, is the one stepping back day by day finds.
    #[test]
    fn written_renderings_equal_chronos() {
        use Precision::*;
        let dates = [
            (0, 1, 1),
            (1, 1, 1),
            (999, 9, 9),
            (1996, 3, 31),
            (2024, 2, 29),
            (2026, 10, 25),
            (9999, 12, 31),
        ];
        let times = [(0, 0, 0), (1, 0, 0), (9, 5, 7), (12, 34, 56), (23, 59, 59)];
        let offsets = [
            -(14 * 3600 + 59 * 60),
            -3600,
            -60,
            0,
            60,
            3600,
            5 * 3600 + 30 * 60,
            14 * 3600 + 59 * 60,
        ];
        for p in [Year, Month, Day, Hour, Minute, Second] {
            for &(y, mo, d) in &dates {
                for &(h, mi, se) in &times {
                    for &off in &offsets {
                        for explicit in [false, true] {
                            let local = NaiveDate::from_ymd_opt(y, mo, d)
                                .unwrap()
                                .and_hms_opt(h, mi, se)
                                .unwrap();
                            let ts = Ts::new(local, p, off, explicit);
                            assert_eq!(ts.fhir(), ts.fhir_by_chrono(), "{ts:?}");
                            assert_eq!(ts.fhir_instant(), ts.fhir_instant_by_chrono(), "{ts:?}");
                            assert_eq!(ts.hl7(), ts.hl7_by_chrono(), "{ts:?}");
                        }
                    }
                }
            }
        }
        let stepping = |year: i32, month: u32| {
            let mut d = NaiveDate::from_ymd_opt(year, month, 31).unwrap_or_default();
            while d.weekday() != Weekday::Sun {
                d = d.pred_opt().unwrap_or(d);
            }
            d
        };
        for year in (1..=2200).chain([9999]) {
            for month in [3, 10] {
                assert_eq!(
                    last_sunday(year, month),
                    stepping(year, month),
                    "{year}-{month}"
                );
            }
        }
    }

    /// The byte reading of a TS gives what the `str` reading gave, value or error, for
    /// every sequence of up to five pieces drawn from digits runs, signs, dots, spaces,
    /// letters and non-ASCII text, and for every precision of real values with and without
    /// fraction and offset.
    #[test]
    fn byte_reading_equals_the_str_reading() {
        let pieces = [
            "", "2020", "03", "14", "1005", "01", "2", "20200714", "99", "00", "13", "31", "30",
            "+", "-", ".", "123", "+0200", "-0530", "+01", "+1500", " ", "\u{a0}", "Z", "T", "x",
            "\u{ff12}", "٣", "24", "60",
        ];
        let mut inputs = vec![String::new()];
        for _ in 0..3 {
            let mut next = Vec::new();
            for s in &inputs {
                for p in pieces {
                    next.push(format!("{s}{p}"));
                }
            }
            inputs.extend(next);
            inputs.sort();
            inputs.dedup();
        }
        for s in [
            "2020",
            "202003",
            "20200314",
            "2020031410",
            "202003141005",
            "20200314100501",
        ] {
            for frac in ["", ".1", ".123", "."] {
                for off in ["", "+0000", "-0100", "+01", "+1459", "+1460", "-"] {
                    for pad in ["", " ", "\t"] {
                        inputs.push(format!("{pad}{s}{frac}{off}{pad}"));
                    }
                }
            }
        }
        for s in &inputs {
            assert_eq!(Ts::parse(s), Ts::parse_by_str(s), "{s:?}");
        }
    }

    #[test]
    fn precisions() {
        assert_eq!(Ts::parse("2020").unwrap().fhir(), "2020");
        assert_eq!(Ts::parse("202003").unwrap().fhir(), "2020-03");
        assert_eq!(Ts::parse("20200314").unwrap().fhir(), "2020-03-14");
        assert_eq!(
            Ts::parse("202003141005").unwrap().fhir(),
            "2020-03-14T10:05:00+00:00"
        );
        assert_eq!(
            Ts::parse("20200714100501").unwrap().fhir(),
            "2020-07-14T10:05:01+01:00"
        );
        assert_eq!(
            Ts::parse("20200714100501.123+0200").unwrap().fhir(),
            "2020-07-14T10:05:01+02:00"
        );
    }

    #[test]
    fn rejects_non_ts() {
        for bad in [
            "",
            "2020-03-14",
            "20201340",
            "2020031",
            "yesterday",
            "20200230",
            "2020+99",
        ] {
            assert!(Ts::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fhir_datetimes() {
        assert_eq!(Ts::parse_fhir("2020").unwrap().fhir(), "2020");
        assert_eq!(Ts::parse_fhir("2020-03").unwrap().fhir(), "2020-03");
        assert_eq!(Ts::parse_fhir("1978-12-31").unwrap().fhir(), "1978-12-31");
        assert_eq!(
            Ts::parse_fhir("2010-01-14T09:53:33.41+00:00")
                .unwrap()
                .fhir(),
            "2010-01-14T09:53:33+00:00"
        );
        assert_eq!(
            Ts::parse_fhir("2012-05-17T00:00:00+01:00").unwrap().fhir(),
            "2012-05-17T00:00:00+01:00"
        );
        assert_eq!(
            Ts::parse_fhir("2020-07-14T10:05:01Z").unwrap().fhir(),
            "2020-07-14T10:05:01+00:00"
        );
        // No offset: UK local time, as for HL7 TS.
        assert_eq!(
            Ts::parse_fhir("2020-07-14T10:05:01").unwrap(),
            Ts::parse("20200714100501").unwrap()
        );
        for bad in [
            "",
            "20200314",
            "2020-3-14",
            "2020-02-30",
            "2020-03-14T",
            "2020-03-14T10",
            "2020-03-14T10:05:01+0100",
            "2020-03-14T10:05:01.+01:00",
            "2020-03T10:05",
            "2020-03-14 10:05:01",
            "yesterday",
            "２０２０",
        ] {
            assert!(Ts::parse_fhir(bad).is_err(), "{bad}");
        }
    }

    /// Every part given comes back from the packed eight bytes: each precision, every
    /// whole-minute offset within 14:59 of UTC, both offset sources, dates at the calendar's
    /// edges and times at the day's.
    #[test]
    fn a_timestamp_keeps_every_part_in_eight_bytes() {
        use Precision::*;
        assert_eq!(std::mem::size_of::<Ts>(), 8);
        let dates = [
            (1, 1, 1),
            (1900, 1, 1),
            (2024, 2, 29),
            (2026, 3, 29),
            (9999, 12, 31),
        ];
        let times = [(0, 0, 0), (1, 0, 0), (12, 34, 56), (23, 59, 59)];
        let limit = 14 * 60 + 59;
        for p in [Year, Month, Day, Hour, Minute, Second] {
            for &(y, mo, d) in &dates {
                for &(h, mi, se) in &times {
                    let local = NaiveDate::from_ymd_opt(y, mo, d)
                        .and_then(|d| d.and_hms_opt(h, mi, se))
                        .expect("a valid time");
                    for minutes in (-limit..=limit).step_by(13).chain([-limit, 0, limit]) {
                        for explicit in [false, true] {
                            let t = Ts::new(local, p, minutes * 60, explicit);
                            assert_eq!(t.local(), local);
                            assert_eq!(t.precision(), p);
                            assert_eq!(t.offset_secs(), minutes * 60);
                            assert_eq!(t.explicit_offset(), explicit);
                            assert_eq!(t.date(), local.date());
                        }
                    }
                }
            }
        }
        let t = Ts::parse("20250314103000+0545").expect("parses");
        assert_eq!((t.offset_secs(), t.explicit_offset()), (20_700, true));
        let t = Ts::parse("20250714103000").expect("parses");
        assert_eq!((t.offset_secs(), t.explicit_offset()), (3600, false));
        assert_eq!(
            Ts::parse("19991231-1459").expect("parses").offset_secs(),
            -53_940
        );
    }

    #[test]
    fn spans_follow_the_precision() {
        let span = |v: &str| {
            let t = Ts::parse(v).unwrap();
            (t.epoch_secs(), t.end_epoch_secs())
        };
        let at = |v: &str| Ts::parse(v).unwrap().epoch_secs();
        assert_eq!(span("2025"), (at("20250101000000"), at("20260101000000")));
        assert_eq!(span("202512"), (at("20251201000000"), at("20260101000000")));
        // Month across the spring clock change: starts GMT, ends BST.
        assert_eq!(span("202503"), (at("20250301000000"), at("20250401000000")));
        assert_eq!(
            span("20250314"),
            (at("20250314000000"), at("20250315000000"))
        );
        assert_eq!(
            span("2025031410"),
            (at("20250314100000"), at("20250314110000"))
        );
        assert_eq!(
            span("202503141005"),
            (at("20250314100500"), at("20250314100600"))
        );
        assert_eq!(
            span("20250314100501"),
            (at("20250314100501"), at("20250314100502"))
        );
        assert_eq!(
            span("20250314100501.5"),
            (at("20250314100501"), at("20250314100502"))
        );
        assert_eq!(
            span("20250714+0200"),
            (at("20250714000000+0200"), at("20250715000000+0200"))
        );
        assert_eq!(
            Ts::parse("2025031410").unwrap().precision(),
            Precision::Hour
        );
        assert_eq!(
            Ts::parse("2025031410").unwrap().fhir(),
            "2025-03-14T10:00:00+00:00"
        );
        let last = Ts::parse("99991231").unwrap();
        assert!(last.end_epoch_secs() > last.epoch_secs());
    }

    #[test]
    fn ordering_uses_instants() {
        let a = Ts::parse("20200314100000").unwrap();
        let b = Ts::parse("20200314100001").unwrap();
        assert!(a < b);
        assert!(Ts::parse("19000101000000").unwrap().is_placeholder());
    }
}
