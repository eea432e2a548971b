//! When a failed delivery is tried again: exponential backoff with jitter for three days, the
//! first retry within a minute. `EMPORIUM_WEBHOOK_RETRY_BASE` (seconds, default 30) scales the
//! whole schedule, its three days included.

use chrono::Duration;

/// A retry schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    base_ms: i64,
}

impl Default for Schedule {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BASE_SECONDS)
    }
}

impl Schedule {
    /// The default base, in seconds.
    pub const DEFAULT_BASE_SECONDS: f64 = 30.0;

    /// The schedule for a base gap of `base_seconds` (at least 1 ms).
    pub fn new(base_seconds: f64) -> Self {
        Self { base_ms: ((base_seconds * 1000.0).round() as i64).max(1) }
    }

    /// The gap before the next attempt after `failed` failed attempts (1 or more): the base
    /// doubled for each failure after the first, capped at 1,440 bases (12 hours at 30 s),
    /// times a jitter between 0.75 and 1.25 (`jitter` in 0..1).
    pub fn gap(&self, failed: u32, jitter: f64) -> Duration {
        let doublings = failed.saturating_sub(1).min(30);
        let bases = (1i64 << doublings).min(1_440);
        let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
        Duration::milliseconds(((self.base_ms * bases) as f64 * factor).round() as i64)
    }

    /// How long a delivery keeps being tried after its first attempt: three days at the
    /// default base.
    pub fn window(&self) -> Duration {
        Duration::milliseconds(self.base_ms * 8_640)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_grow_from_under_a_minute_to_a_cap_within_three_days() {
        let schedule = Schedule::default();
        assert!(schedule.gap(1, 1.0) <= Duration::minutes(1), "the first retry within a minute");
        assert_eq!(schedule.gap(1, 0.5), Duration::seconds(30));
        assert_eq!(schedule.gap(2, 0.5), Duration::seconds(60));
        assert_eq!(schedule.gap(5, 0.5), Duration::minutes(8));
        assert_eq!(schedule.gap(40, 0.5), Duration::hours(12));
        assert_eq!(schedule.window(), Duration::days(3));
        let fast = Schedule::new(0.03);
        assert_eq!(fast.window(), Duration::milliseconds(259_200));
        assert_eq!(fast.gap(1, 0.5), Duration::milliseconds(30));
    }
}
