//! What reports share: the window they cover and its buckets, and how they show rates and
//! averages. No I/O.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};

use crate::ValidationErrors;

/// The longest window a report covers.
pub const MAX_MONTHS: u32 = 24;

/// A report's window: from `from` (inclusive) to `to` (exclusive), at most [`MAX_MONTHS`] apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    /// Parses `from` and `to` (RFC 3339, both required): 422 field errors for a missing or
    /// unreadable one, `to` not after `from`, or a window over two years.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut read = |field: &'static str, text: Option<&str>| match text.map(str::trim).filter(|t| !t.is_empty()) {
            None => {
                errors.add(field, "required", "an RFC 3339 time, e.g. 2026-01-01T00:00:00Z");
                None
            }
            Some(text) => match DateTime::parse_from_rfc3339(text) {
                Ok(at) => Some(at.with_timezone(&Utc)),
                Err(_) => {
                    errors.add(field, "invalid_value", "an RFC 3339 time, e.g. 2026-01-01T00:00:00Z");
                    None
                }
            },
        };
        let (from, to) = (read("from", from), read("to", to));
        let (Some(from), Some(to)) = (from, to) else { return Err(errors) };
        if to <= from {
            return Err(ValidationErrors::single("to", "out_of_range", "must be after from"));
        }
        if from.checked_add_months(Months::new(MAX_MONTHS)).is_some_and(|limit| to > limit) {
            return Err(ValidationErrors::single("to", "out_of_range", "at most 2 years after from"));
        }
        Ok(Self { from, to })
    }

    /// The whole UTC days the window covers, the first and last possibly in part.
    pub fn days(&self) -> i64 {
        let last = self.to - Duration::nanoseconds(1);
        (last.date_naive() - self.from.date_naive()).num_days() + 1
    }
}

/// The buckets of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// UTC days.
    Day,
    /// ISO weeks, from Monday 00:00 UTC.
    Week,
    /// Calendar months, from the 1st 00:00 UTC.
    Month,
}

impl Interval {
    /// Parses `day`, `week` or `month`; `day` when not given.
    pub fn parse(text: Option<&str>) -> Result<Self, ValidationErrors> {
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            None | Some("day") => Ok(Self::Day),
            Some("week") => Ok(Self::Week),
            Some("month") => Ok(Self::Month),
            Some(_) => Err(ValidationErrors::single("interval", "invalid_value", "must be day, week or month")),
        }
    }

    /// The start of the bucket holding `at`.
    pub fn start_of(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.date_naive();
        let first = match self {
            Self::Day => day,
            Self::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Self::Month => NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap_or(day),
        };
        Utc.from_utc_datetime(&first.and_time(chrono::NaiveTime::MIN))
    }

    /// The start of the bucket after the one starting at `start`.
    pub fn next(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Day => start + Duration::days(1),
            Self::Week => start + Duration::days(7),
            Self::Month => start.checked_add_months(Months::new(1)).unwrap_or(start + Duration::days(31)),
        }
    }

    /// The starts of the buckets covering `window`, in order: the first is the bucket holding
    /// `from` (so it may begin before it), every later one starts before `to`.
    pub fn buckets(self, window: &Window) -> Vec<DateTime<Utc>> {
        let mut starts = Vec::new();
        let mut start = self.start_of(window.from);
        while start < window.to {
            starts.push(start);
            start = self.next(start);
        }
        starts
    }
}

/// `numerator / denominator` rounded half to even (0 when `denominator` is 0).
pub fn div_half_even(numerator: i64, denominator: i64) -> i64 {
    if denominator == 0 {
        return 0;
    }
    let (n, d) = (i128::from(numerator), i128::from(denominator));
    let (quotient, remainder) = (n / d, n % d);
    let twice = (remainder * 2).abs();
    let rounded = match twice.cmp(&d.abs()) {
        std::cmp::Ordering::Greater => quotient + (n.signum() * d.signum()),
        std::cmp::Ordering::Equal if quotient % 2 != 0 => quotient + (n.signum() * d.signum()),
        _ => quotient,
    };
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// A rate as reports show it: a decimal string with 4 places, rounded half to even
/// (`"0.0325"`); `"0.0000"` when `denominator` is 0.
pub fn rate(numerator: i64, denominator: i64) -> String {
    let scaled = div_half_even(numerator.saturating_mul(10_000), denominator);
    let sign = if scaled < 0 { "-" } else { "" };
    let scaled = scaled.unsigned_abs();
    format!("{sign}{}.{:04}", scaled / 10_000, scaled % 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn windows_are_checked() {
        let ok = Window::parse(Some("2026-01-01T00:00:00Z"), Some("2026-04-01T00:00:00+02:00"));
        assert_eq!(ok.map(|w| (w.from, w.to)).ok(), Some((at("2026-01-01T00:00:00Z"), at("2026-03-31T22:00:00Z"))));
        assert!(Window::parse(Some("2026-02-01T00:00:00Z"), Some("2026-01-01T00:00:00Z")).is_err(), "from after to");
        assert!(Window::parse(Some("2026-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z")).is_err(), "empty");
        assert!(Window::parse(Some("2024-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z")).is_ok(), "two years");
        assert!(Window::parse(Some("2024-01-01T00:00:00Z"), Some("2026-01-01T00:00:01Z")).is_err(), "over two years");
        assert!(Window::parse(Some("yesterday"), None).is_err());
        let days = Window::parse(Some("2026-01-01T12:00:00Z"), Some("2026-01-03T00:00:00Z")).map(|w| w.days());
        assert_eq!(days.ok(), Some(2));
    }

    #[test]
    fn buckets_are_utc_days_iso_weeks_and_months_with_every_empty_one_listed() {
        let window = Window { from: at("2026-12-30T10:00:00Z"), to: at("2027-01-06T00:00:00Z") };
        let days = Interval::Day.buckets(&window);
        assert_eq!((days.len(), days[0], days[6]), (7, at("2026-12-30T00:00:00Z"), at("2027-01-05T00:00:00Z")));
        // 2026-12-30 is a Wednesday: its ISO week starts on Monday the 28th.
        assert_eq!(Interval::Week.buckets(&window), [at("2026-12-28T00:00:00Z"), at("2027-01-04T00:00:00Z")]);
        assert_eq!(Interval::Month.buckets(&window), [at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z")]);
        assert!(Interval::parse(Some("hour")).is_err());
    }

    #[test]
    fn rates_and_averages_round_half_to_even() {
        assert_eq!(rate(13, 400), "0.0325");
        assert_eq!(rate(1, 3), "0.3333");
        assert_eq!(rate(2, 3), "0.6667");
        assert_eq!(rate(5, 4), "1.2500");
        assert_eq!(rate(1, 0), "0.0000");
        // 0.00005 → 0.0000, 0.00015 → 0.0002.
        assert_eq!(rate(1, 20_000), "0.0000");
        assert_eq!(rate(3, 20_000), "0.0002");
        assert_eq!(
            (div_half_even(5, 2), div_half_even(7, 2), div_half_even(-5, 2), div_half_even(10, 4)),
            (2, 4, -2, 2)
        );
        assert_eq!(div_half_even(1000, 3), 333);
    }
}
