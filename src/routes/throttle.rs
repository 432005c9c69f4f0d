//! Login throttling: too many failures for one account, or from one address, within the window
//! answer 429 with `Retry-After` until the oldest failure leaves the window.

use chrono::{Duration, NaiveDateTime};

use crate::db::DbConn;
use crate::db::login_failures::{self, Scope};
use crate::error::ApiError;
use crate::routes::with_db;
use crate::state::AppState;

/// 429 if the account or the address has reached its limit.
pub async fn check_login(state: &AppState, email: &str, ip: &str) -> Result<(), ApiError> {
    let limits = state.config.login_throttle;
    let window = Duration::from_std(limits.window).map_err(|e| ApiError::Internal(e.into()))?;
    let (email, ip) = (email.to_owned(), ip.to_owned());
    let now = state.clock.now();
    let retry_after = with_db(state, move |conn| {
        let account =
            blocked_for(conn, Scope::Account, &email, limits.max_failures_per_account, window, now)?;
        let address = blocked_for(conn, Scope::Ip, &ip, limits.max_failures_per_ip, window, now)?;
        Ok(account.max(address))
    })
    .await?;
    match retry_after {
        Some(secs) => Err(ApiError::TooManyRequests { retry_after_secs: secs }),
        None => Ok(()),
    }
}

/// Seconds until `subject` may try again, if it is over its limit.
fn blocked_for(
    conn: &mut DbConn,
    scope: Scope,
    subject: &str,
    max: u32,
    window: Duration,
    now: NaiveDateTime,
) -> Result<Option<u64>, ApiError> {
    let (count, oldest) = login_failures::recent(conn, scope, subject, now - window)?;
    if count < i64::from(max) {
        return Ok(None);
    }
    let free_at = oldest.unwrap_or(now) + window;
    let secs = (free_at - now).num_seconds().max(1);
    Ok(Some(u64::try_from(secs).unwrap_or(1)))
}

/// Counts a failed login against the account and the address.
pub async fn record_login_failure(state: &AppState, email: &str, ip: &str) -> Result<(), ApiError> {
    let (email, ip) = (email.to_owned(), ip.to_owned());
    let now = state.clock.now();
    with_db(state, move |conn| {
        login_failures::record(conn, Scope::Account, &email, now)?;
        login_failures::record(conn, Scope::Ip, &ip, now)?;
        Ok(())
    })
    .await
}

/// A successful login forgets the account's failures.
pub async fn clear_account(state: &AppState, email: &str) -> Result<(), ApiError> {
    let email = email.to_owned();
    with_db(state, move |conn| Ok(login_failures::clear(conn, Scope::Account, &email).map(|_| ())?)).await
}
