//! Throttling that cannot be turned against an account's owner: an account is slowed down only
//! for the client address that fails, with a delay that grows per failure; each address has a
//! budget of its own. Every attempt is counted before it is judged, by one atomic statement per
//! counter, so a burst of parallel guesses gets no more tries than the same guesses in sequence,
//! and an attempt costs the same few statements however large the flood.

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::config::LoginThrottle;
use crate::db::DbConn;
use crate::db::throttle_counters::{self, Counted, Scope};

/// The limits a refusal can name (the problem document's `limit`).
pub mod limits {
    /// Failed password checks for one account from one client address.
    pub const ACCOUNT_ADDRESS: &str = "login_failures_per_account_and_address";
    /// Password checks from one client address, whatever the account.
    pub const ADDRESS: &str = "login_attempts_per_address";
    /// Registrations from one client address.
    pub const REGISTRATIONS: &str = "registrations_per_address";
}

/// An attempt refused before any password was checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub limit: &'static str,
    pub retry_after_secs: u64,
}

/// An admitted password check, counted as a failure until [`succeeded`] says otherwise. Keeps
/// what its counting saw, so that taking it back touches only the window it was counted in.
#[derive(Clone, Debug)]
pub struct Attempt {
    pair: String,
    address: String,
    pair_counted: Counted,
    address_counted: Counted,
}

/// Why a check was not made: refused, or the database failed.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    #[error("refused by {}", .0.limit)]
    Refused(Refusal),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Counts a password check of `account` (a normalised email) from `address`, then admits it
/// or refuses it. Admitted: within the address's budget, and either among the first
/// `free_failures` for the pair or the delay the pair's failures call for has passed since the
/// pair's attempt counted before this one. Two statements, whatever came before.
pub fn begin_password_check(
    conn: &mut DbConn,
    limits: &LoginThrottle,
    account: &str,
    address: &str,
    now: NaiveDateTime,
) -> Result<Attempt, ThrottleError> {
    let window = chrono_duration(limits.window);
    let pair = format!("{address} {account}");
    // Both counted first (each its own statement, committed at once): the k-th of concurrent
    // attempts to be counted reads a count of k and its predecessor's time.
    let pair_counted = throttle_counters::count(conn, Scope::AccountAddress, &pair, now, window)?;
    let address_counted = throttle_counters::count(conn, Scope::Ip, address, now, window)?;

    if i64::from(address_counted.attempts) > i64::from(limits.max_failures_per_ip) {
        let free_at = address_counted.window_start + window;
        return Err(refuse(limits::ADDRESS, seconds_until(free_at, now)));
    }
    let before = u32::try_from(pair_counted.attempts).unwrap_or(0).saturating_sub(1);
    let wait = delay_after(limits, before);
    if !wait.is_zero()
        && let Some(previous) = pair_counted.previous_at
        && now < previous + chrono_duration(wait)
    {
        // This attempt counts too: the next one waits for one more failure's delay.
        let next = delay_after(limits, before.saturating_add(1));
        return Err(refuse(limits::ACCOUNT_ADDRESS, next.as_secs().max(1)));
    }
    Ok(Attempt { pair, address: address.to_owned(), pair_counted, address_counted })
}

/// The password was right: the pair's failures are forgotten, and this check does not count
/// against the address.
pub fn succeeded(conn: &mut DbConn, attempt: &Attempt) -> diesel::QueryResult<()> {
    throttle_counters::clear(conn, Scope::AccountAddress, &attempt.pair)?;
    throttle_counters::uncount(conn, Scope::Ip, &attempt.address, &attempt.address_counted)?;
    Ok(())
}

/// The password could not be checked (no hashing thread free): the attempt did not happen.
pub fn abandoned(conn: &mut DbConn, attempt: &Attempt) -> diesel::QueryResult<()> {
    throttle_counters::uncount(conn, Scope::AccountAddress, &attempt.pair, &attempt.pair_counted)?;
    throttle_counters::uncount(conn, Scope::Ip, &attempt.address, &attempt.address_counted)?;
    Ok(())
}

/// Counts a registration from `address`, refused beyond `max` in a window (which begins at the
/// first registration counted after the previous window ended).
pub fn begin_registration(
    conn: &mut DbConn,
    max: u32,
    window: Duration,
    address: &str,
    now: NaiveDateTime,
) -> Result<(), ThrottleError> {
    let window = chrono_duration(window);
    let counted = throttle_counters::count(conn, Scope::Registration, address, now, window)?;
    if i64::from(counted.attempts) > i64::from(max) {
        let free_at = counted.window_start + window;
        return Err(refuse(limits::REGISTRATIONS, seconds_until(free_at, now)));
    }
    Ok(())
}

/// How long an attempt waits after `failures` failures: nothing for the free ones, then
/// `delay_base` doubling per failure beyond, at most `delay_max`.
pub fn delay_after(limits: &LoginThrottle, failures: u32) -> Duration {
    let Some(beyond) = failures.checked_sub(limits.free_failures) else {
        return Duration::ZERO;
    };
    let factor = 1u32.checked_shl(beyond.min(31)).unwrap_or(u32::MAX);
    limits.delay_base.saturating_mul(factor).min(limits.delay_max)
}

fn refuse(limit: &'static str, retry_after_secs: u64) -> ThrottleError {
    ThrottleError::Refused(Refusal { limit, retry_after_secs })
}

fn seconds_until(at: NaiveDateTime, now: NaiveDateTime) -> u64 {
    let millis = (at - now).num_milliseconds().max(0);
    u64::try_from((millis + 999) / 1000).unwrap_or(0).max(1)
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LoginThrottle {
        LoginThrottle {
            free_failures: 5,
            delay_base: Duration::from_secs(1),
            delay_max: Duration::from_secs(900),
            max_failures_per_ip: 50,
            window: Duration::from_secs(900),
        }
    }

    #[test]
    fn the_delay_is_nothing_for_the_free_failures_then_doubles_up_to_its_cap() {
        let l = limits();
        assert_eq!(delay_after(&l, 0), Duration::ZERO);
        assert_eq!(delay_after(&l, 4), Duration::ZERO);
        assert_eq!(delay_after(&l, 5), Duration::from_secs(1));
        assert_eq!(delay_after(&l, 6), Duration::from_secs(2));
        assert_eq!(delay_after(&l, 9), Duration::from_secs(16));
        assert_eq!(delay_after(&l, 15), Duration::from_secs(900));
        assert_eq!(delay_after(&l, u32::MAX), Duration::from_secs(900));
    }
}
