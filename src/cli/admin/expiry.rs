//! `--expires`: an RFC 3339 time (`2026-12-01T00:00:00Z`) or a duration from now (`6h`, `1d12h`).

use chrono::{DateTime, Duration, Utc};

/// When the incident should expire, as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    At(DateTime<Utc>),
    In(Duration),
}

impl Expiry {
    /// The moment, counting a duration from `now`.
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Expiry::At(at) => at,
            Expiry::In(duration) => now + duration,
        }
    }
}

/// Parses `--expires` (clap's value parser). Whether the time is in the future is for the server
/// to say: its clock is the one that counts.
pub fn parse_expiry(raw: &str) -> Result<Expiry, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(Expiry::At(at.with_timezone(&Utc)));
    }
    parse_duration(raw.trim()).map(Expiry::In).ok_or_else(|| {
        format!(
            "{raw:?} is neither an RFC 3339 time (2026-12-01T00:00:00Z) nor a duration (90m, 6h, 2d, 1d12h)"
        )
    })
}

/// `<n><unit>` repeated, units `s`, `m`, `h`, `d`, `w`; more than zero in all.
fn parse_duration(raw: &str) -> Option<Duration> {
    let mut total = Duration::zero();
    let mut rest = raw;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let amount: i64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let part = match unit {
            's' => Duration::try_seconds(amount),
            'm' => Duration::try_minutes(amount),
            'h' => Duration::try_hours(amount),
            'd' => Duration::try_days(amount),
            'w' => Duration::try_weeks(amount),
            _ => None,
        }?;
        total = total.checked_add(&part)?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Some(total).filter(|d| *d > Duration::zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rfc3339_time_is_taken_as_is() {
        let expiry = parse_expiry("2026-12-01T01:00:00+01:00").unwrap();
        assert_eq!(expiry, Expiry::At("2026-12-01T00:00:00Z".parse().unwrap()));
    }

    #[test]
    fn a_duration_counts_from_now() {
        let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap();
        let at = |raw: &str| parse_expiry(raw).unwrap().resolve(now).to_rfc3339();
        assert_eq!(at("6h"), "2026-11-28T16:00:00+00:00");
        assert_eq!(at("90m"), "2026-11-28T11:30:00+00:00");
        assert_eq!(at("1d12h"), "2026-11-29T22:00:00+00:00");
        assert_eq!(at("1w"), "2026-12-05T10:00:00+00:00");
        assert_eq!(at("45s"), "2026-11-28T10:00:45+00:00");
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", "6", "h", "6x", "0h", "-6h", "6 h", "tomorrow", "2026-12-01", "99999999999999w"] {
            assert!(parse_expiry(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
