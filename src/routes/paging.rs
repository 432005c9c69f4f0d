//! Cursor paging: a page ends with an opaque cursor naming the last row's `(time, id)`, so rows
//! added meanwhile never shift a page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime};
use serde::Deserialize;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `?cursor=…&limit=…`
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

impl PageQuery {
    /// The page size, 1 to 200 (50 when absent).
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}"))),
        }
    }

    /// The position to continue after, if a cursor was given (an empty one is none).
    pub fn position(&self) -> Result<Option<(NaiveDateTime, String)>, ApiError> {
        self.cursor.as_deref().filter(|c| !c.is_empty()).map(decode).transpose()
    }
}

/// The cursor for a page that ended at `(at, id)`.
pub fn encode(at: NaiveDateTime, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.and_utc().timestamp_micros()))
}

fn decode(cursor: &str) -> Result<(NaiveDateTime, String), ApiError> {
    let invalid = || ApiError::BadRequest {
        detail: "cursor: not a cursor this server issued".into(),
        errors: vec![crate::domain::FieldError::new("cursor", "not a cursor this server issued")],
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (micros, id) = text.split_once('|').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?.naive_utc();
    // Both databases keep years 1 to 9999 at most; anything else was not issued here.
    if !(1..=9999).contains(&chrono::Datelike::year(&at)) {
        return Err(invalid());
    }
    Ok((at, id.to_owned()))
}

/// The next cursor: present when the page is full (more rows may follow).
pub fn next_cursor<T>(rows: &[T], limit: i64, key: impl Fn(&T) -> (NaiveDateTime, &str)) -> Option<String> {
    if i64::try_from(rows.len()).ok()? < limit {
        return None;
    }
    rows.last().map(|row| {
        let (at, id) = key(row);
        encode(at, id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap().naive_utc();
        let query = PageQuery { cursor: Some(encode(at, "abc")), limit: None };
        assert_eq!(query.position().unwrap(), Some((at, "abc".to_owned())));
        let bad = PageQuery { cursor: Some("!!".into()), limit: Some(0) };
        assert!(bad.position().is_err());
        assert!(bad.limit().is_err());
    }
}
