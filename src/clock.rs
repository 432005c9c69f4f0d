//! Time, injected: every time the server stores or compares with stored times (incident expiry,
//! token lifetimes, login throttling, retries, housekeeping) is read through this trait, so tests
//! move it forward instead of sleeping. Durations measured within one process (cache ages,
//! request latency, SMTP idle time) use `Instant`, which no test needs to move.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{NaiveDateTime, SubsecRound, Utc};

/// A source of the current UTC time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC, at the microsecond precision both databases keep.
    fn now(&self) -> NaiveDateTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        Utc::now().naive_utc().trunc_subsecs(6)
    }
}

/// The system clock shifted by an offset a test can change.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: AtomicI64,
}

impl OffsetClock {
    /// Moves this clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> NaiveDateTime {
        SystemClock.now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// A stored UTC time as RFC 3339 with a `Z`, to the microsecond.
pub fn rfc3339(at: NaiveDateTime) -> String {
    chrono::DateTime::<Utc>::from_naive_utc_and_offset(at, Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
