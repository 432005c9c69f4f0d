//! A location fix reported by a device.

use chrono::{DateTime, Duration, Utc};

use super::FieldError;

/// How far in the future a device clock may be before a fix is refused.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(2);

/// A validated location fix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fix {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub recorded_at: DateTime<Utc>,
}

impl Fix {
    /// Checks ranges; `recorded_at` defaults to `now` and may not be later than `now` plus skew.
    pub fn parse(
        lat: f64,
        lon: f64,
        accuracy_m: Option<f64>,
        recorded_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            errors.push(FieldError::new("lat", "must be between -90 and 90"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            errors.push(FieldError::new("lon", "must be between -180 and 180"));
        }
        if let Some(accuracy) = accuracy_m
            && (!accuracy.is_finite() || accuracy < 0.0)
        {
            errors.push(FieldError::new("accuracy_m", "must be a number of metres, 0 or more"));
        }
        let recorded_at = recorded_at.unwrap_or(now);
        if recorded_at > now + MAX_CLOCK_SKEW {
            errors.push(FieldError::new("recorded_at", "must not be in the future"));
        }
        if errors.is_empty() { Ok(Self { lat, lon, accuracy_m, recorded_at }) } else { Err(errors) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: Result<Fix, Vec<FieldError>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn ranges_are_checked_and_named() {
        let now = Utc::now();
        assert!(Fix::parse(48.86, 2.37, Some(10.0), None, now).is_ok());
        assert!(Fix::parse(-90.0, 180.0, Some(0.0), None, now).is_ok());
        assert_eq!(fields(Fix::parse(91.0, 0.0, None, None, now)), ["lat"]);
        assert_eq!(fields(Fix::parse(0.0, -180.5, None, None, now)), ["lon"]);
        assert_eq!(fields(Fix::parse(0.0, 0.0, Some(-1.0), None, now)), ["accuracy_m"]);
        assert_eq!(fields(Fix::parse(f64::NAN, 0.0, None, None, now)), ["lat"]);
    }

    #[test]
    fn the_future_is_refused_beyond_the_skew() {
        let now = Utc::now();
        assert!(Fix::parse(0.0, 0.0, None, Some(now + Duration::seconds(30)), now).is_ok());
        assert_eq!(fields(Fix::parse(0.0, 0.0, None, Some(now + Duration::hours(1)), now)), ["recorded_at"]);
    }
}
