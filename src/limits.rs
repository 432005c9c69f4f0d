//! Per-user rate limits on what a person does often but a script does far more: answering and
//! sending locations. Each limit allows `max` requests per `window`, spread as a generic cell
//! rate (GCRA): a burst of `max` at once, then one every `window / max`. One stored time per
//! user and limit, in memory: each process counts its own requests (with N replicas a user may
//! make up to N times the limit; the defaults are far above what a person does, so they stop
//! scripts, not people). Times come from the injected clock, so tests move them.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::NaiveDateTime;

use crate::config::UserLimits;

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

/// One limit, for every user.
#[derive(Debug)]
pub struct RateLimiter {
    name: &'static str,
    max: u32,
    window: chrono::Duration,
    /// The time between two requests at the steady rate.
    interval: chrono::Duration,
    state: Mutex<Users>,
}

#[derive(Debug, Default)]
struct Users {
    /// Each user's theoretical arrival time: when their allowance is whole again.
    full_at: HashMap<String, NaiveDateTime>,
    /// The map is swept of users whose allowance is whole again once it holds this many.
    sweep_at: usize,
}

/// Entries kept before the first sweep.
const FIRST_SWEEP: usize = 1024;

impl RateLimiter {
    /// `max` requests per `window` (both positive: the configuration checks them).
    pub fn new(name: &'static str, max: u32, window: chrono::Duration) -> Self {
        let interval = window / i32::try_from(max.max(1)).unwrap_or(i32::MAX);
        let state = Mutex::new(Users { full_at: HashMap::new(), sweep_at: FIRST_SWEEP });
        Self { name, max, window, interval, state }
    }

    /// Counts a request of `user` at `now`, or refuses it (and counts nothing).
    pub fn check(&self, user: &str, now: NaiveDateTime) -> Result<(), Refused> {
        // A poisoned lock only means another request panicked mid-update: the map is still sound.
        let mut users = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let full_at = users.full_at.get(user).copied().filter(|t| *t > now).unwrap_or(now);
        // Allowed while the allowance used, after this request, stays within one window.
        let after = full_at + self.interval;
        if after - now > self.window {
            let wait = after - self.window - now;
            let secs = (wait.num_milliseconds() + 999) / 1000;
            return Err(Refused {
                limit: self.name,
                max: self.max,
                window_secs: self.window.num_seconds(),
                retry_after_secs: u64::try_from(secs.max(1)).unwrap_or(1),
            });
        }
        users.full_at.insert(user.to_owned(), after);
        if users.full_at.len() >= users.sweep_at {
            users.full_at.retain(|_, t| *t > now);
            users.sweep_at = (users.full_at.len() * 2).max(FIRST_SWEEP);
        }
        Ok(())
    }
}

/// The per-user limits of this process.
#[derive(Debug)]
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
    use chrono::Duration;

    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap().naive_utc()
    }

    #[test]
    fn a_burst_of_max_passes_then_one_per_interval() {
        let limiter = RateLimiter::new("check_ins", 30, Duration::minutes(10));
        for _ in 0..30 {
            limiter.check("ada", at(0)).unwrap();
        }
        let refused = limiter.check("ada", at(0)).unwrap_err();
        assert_eq!(refused.limit, "check_ins");
        assert_eq!((refused.max, refused.window_secs, refused.retry_after_secs), (30, 600, 20));
        assert_eq!(limiter.check("ada", at(19)).unwrap_err().retry_after_secs, 1);
        limiter.check("ada", at(20)).unwrap();
        assert!(limiter.check("ada", at(20)).is_err(), "one more per 20 s");
        // Another user has an allowance of their own.
        limiter.check("bob", at(0)).unwrap();
    }

    #[test]
    fn a_refused_request_is_not_counted_and_a_quiet_window_restores_everything() {
        let limiter = RateLimiter::new("location_updates", 2, Duration::seconds(60));
        limiter.check("ada", at(0)).unwrap();
        limiter.check("ada", at(0)).unwrap();
        for _ in 0..100 {
            assert!(limiter.check("ada", at(1)).is_err());
        }
        limiter.check("ada", at(30)).unwrap();
        limiter.check("ada", at(120)).unwrap();
        limiter.check("ada", at(120)).unwrap();
        assert!(limiter.check("ada", at(120)).is_err());
    }

    #[test]
    fn users_whose_allowance_is_whole_again_are_forgotten() {
        let limiter = RateLimiter::new("check_ins", 30, Duration::minutes(10));
        for i in 0..FIRST_SWEEP * 3 {
            limiter.check(&format!("user{i}"), at(i64::try_from(i).unwrap() * 60)).unwrap();
        }
        let kept = limiter.state.lock().unwrap().full_at.len();
        assert!(kept < FIRST_SWEEP * 2, "{kept} users kept");
    }
}
