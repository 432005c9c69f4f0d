//! Per-user rate limits on what a person does often but a script does far more: answering and
//! sending locations. Each limit allows `max` requests per `window`, spread as a generic cell
//! rate (GCRA): a burst of `max` at once, then one every `window / max`. One stored time per
//! user and limit, in the database (`user_allowances`), taken by one conditional statement:
//! every server process counts against the same allowance, so N replicas do not give a user N
//! times the limit. Times come from the injected clock, so tests move them.

use chrono::NaiveDateTime;

use crate::config::UserLimits;
use crate::db::{self, DbConn};

/// A request over a limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The limit's name (`check_ins`, `location_updates`).
    pub limit: &'static str,
    /// Requests allowed per window.
    pub max: u32,
    pub window_secs: i64,
    /// When the next request will be allowed, in whole seconds from now (at least 1).
    pub retry_after_secs: u64,
}

/// Why a request was not counted: over its limit, or the database failed.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("over the {} limit", .0.limit)]
    Refused(Refused),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// One limit, for every user: its name and arithmetic. The state is each user's theoretical
/// arrival time, `full_at`: when their allowance is whole again (a missing one: it is whole).
/// Times are in microseconds since the Unix epoch, as stored.
#[derive(Clone, Copy, Debug)]
pub struct RateLimiter {
    name: &'static str,
    max: u32,
    window_us: i64,
    /// The time between two requests at the steady rate.
    interval_us: i64,
}

impl RateLimiter {
    /// `max` requests per `window` (both positive: the configuration checks them).
    pub fn new(name: &'static str, max: u32, window: chrono::Duration) -> Self {
        let window_us = window.num_microseconds().unwrap_or(i64::MAX);
        let interval_us = window_us / i64::from(max.max(1));
        Self { name, max, window_us, interval_us }
    }

    /// Counts a request of `user` at `now`, or refuses it (and counts nothing). One statement
    /// when it passes, a second (a read, for `Retry-After`) when it is refused; it does in the
    /// database what [`RateLimiter::admit`] does.
    pub fn check(&self, conn: &mut DbConn, user: &str, now: NaiveDateTime) -> Result<(), LimitError> {
        let now_us = micros(now);
        let latest = self.latest_passing(now_us);
        if db::user_allowances::take(conn, self.name, user, now_us, self.interval_us, latest)? {
            return Ok(());
        }
        // Refused: nothing was written. The time read now may be a later request's (another
        // process's); it only sets how long this one is told to wait.
        let full_at = db::user_allowances::full_at(conn, self.name, user)?.unwrap_or(now_us);
        Err(LimitError::Refused(self.refusal(full_at, now_us)))
    }

    /// The arithmetic alone: whether a request at `now` passes when the stored time is
    /// `full_at` (None: none stored), and the time to store if it does.
    pub fn admit(&self, full_at: Option<i64>, now: NaiveDateTime) -> Result<i64, Refused> {
        let now_us = micros(now);
        match full_at {
            Some(full_at) if full_at > self.latest_passing(now_us) => Err(self.refusal(full_at, now_us)),
            Some(full_at) => Ok(full_at.max(now_us).saturating_add(self.interval_us)),
            None => Ok(now_us.saturating_add(self.interval_us)),
        }
    }

    /// The latest stored time at which a request at `now_us` still passes: one more interval
    /// must keep the allowance used within one window (`max(full_at, now) + interval - now <=
    /// window`, and `now` itself always passes as `interval <= window`).
    fn latest_passing(&self, now_us: i64) -> i64 {
        now_us.saturating_add(self.window_us).saturating_sub(self.interval_us)
    }

    fn refusal(&self, full_at: i64, now_us: i64) -> Refused {
        let wait_us = full_at.saturating_sub(self.latest_passing(now_us));
        let secs = wait_us.saturating_add(999_999) / 1_000_000;
        Refused {
            limit: self.name,
            max: self.max,
            window_secs: self.window_us / 1_000_000,
            retry_after_secs: u64::try_from(secs.max(1)).unwrap_or(1),
        }
    }
}

/// The time as stored: microseconds since the Unix epoch.
fn micros(at: NaiveDateTime) -> i64 {
    at.and_utc().timestamp_micros()
}

/// The per-user limits, as configured (their state is in the database).
#[derive(Clone, Copy, Debug)]
pub struct UserLimiters {
    pub check_ins: RateLimiter,
    pub location_updates: RateLimiter,
}

impl UserLimiters {
    pub fn new(limits: &UserLimits) -> Self {
        Self {
            check_ins: RateLimiter::new("check_ins", limits.check_ins, limits.window),
            location_updates: RateLimiter::new("location_updates", limits.location_updates, limits.window),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::Duration;

    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap().naive_utc()
    }

    /// The stored times, in memory: what `user_allowances` holds.
    #[derive(Default)]
    struct Store(HashMap<&'static str, i64>);

    impl Store {
        fn check(
            &mut self,
            limiter: &RateLimiter,
            user: &'static str,
            now: NaiveDateTime,
        ) -> Result<(), Refused> {
            let full_at = limiter.admit(self.0.get(user).copied(), now)?;
            self.0.insert(user, full_at);
            Ok(())
        }
    }

    #[test]
    fn a_burst_of_max_passes_then_one_per_interval() {
        let limiter = RateLimiter::new("check_ins", 30, Duration::minutes(10));
        let mut store = Store::default();
        for _ in 0..30 {
            store.check(&limiter, "ada", at(0)).unwrap();
        }
        let refused = store.check(&limiter, "ada", at(0)).unwrap_err();
        assert_eq!(refused.limit, "check_ins");
        assert_eq!((refused.max, refused.window_secs, refused.retry_after_secs), (30, 600, 20));
        assert_eq!(store.check(&limiter, "ada", at(19)).unwrap_err().retry_after_secs, 1);
        store.check(&limiter, "ada", at(20)).unwrap();
        assert!(store.check(&limiter, "ada", at(20)).is_err(), "one more per 20 s");
        // Another user has an allowance of their own.
        store.check(&limiter, "bob", at(0)).unwrap();
    }

    #[test]
    fn a_refused_request_is_not_counted_and_a_quiet_window_restores_everything() {
        let limiter = RateLimiter::new("location_updates", 2, Duration::seconds(60));
        let mut store = Store::default();
        store.check(&limiter, "ada", at(0)).unwrap();
        store.check(&limiter, "ada", at(0)).unwrap();
        for _ in 0..100 {
            assert!(store.check(&limiter, "ada", at(1)).is_err());
        }
        store.check(&limiter, "ada", at(30)).unwrap();
        store.check(&limiter, "ada", at(120)).unwrap();
        store.check(&limiter, "ada", at(120)).unwrap();
        assert!(store.check(&limiter, "ada", at(120)).is_err());
    }

    #[test]
    fn a_stored_time_in_the_past_is_a_whole_allowance() {
        // What housekeeping relies on to delete such rows.
        let limiter = RateLimiter::new("check_ins", 3, Duration::seconds(60));
        let now = at(100);
        let past = micros(at(99));
        assert_eq!(limiter.admit(Some(past), now), limiter.admit(None, now));
    }

    #[test]
    fn an_uneven_interval_refuses_with_at_least_one_second() {
        // 7 per minute: one every 8.571428 s.
        let limiter = RateLimiter::new("check_ins", 7, Duration::seconds(60));
        let mut store = Store::default();
        for _ in 0..7 {
            store.check(&limiter, "ada", at(0)).unwrap();
        }
        assert_eq!(store.check(&limiter, "ada", at(0)).unwrap_err().retry_after_secs, 9);
        assert_eq!(store.check(&limiter, "ada", at(8)).unwrap_err().retry_after_secs, 1);
        store.check(&limiter, "ada", at(9)).unwrap();
    }
}
