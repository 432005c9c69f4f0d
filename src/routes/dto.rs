//! Response bodies shared by several routes. Diesel rows are never serialized directly.

use serde::Serialize;

use crate::db::contacts::ContactRow;
use crate::db::locations::LocationRow;
use crate::db::users::UserRow;
use crate::domain::{ContactState, Locale, Role};
use crate::error::ApiError;

pub use crate::clock::rfc3339;

/// The incident's stored area as JSON; text that is not JSON is a fault of ours (a 500 whose
/// cause goes to the log), never shown as an empty area.
pub fn stored_area(incident: &crate::db::incidents::IncidentRow) -> Result<serde_json::Value, ApiError> {
    serde_json::from_str(&incident.area).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!("the stored area of incident {} is not JSON: {e}", incident.id))
    })
}

/// A user's own profile.
#[derive(Serialize)]
pub struct UserDto {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub locale: Locale,
    pub role: Role,
    pub created_at: String,
    pub updated_at: String,
}

impl From<UserRow> for UserDto {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            locale: row.locale,
            role: row.role,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

/// The stored location fix.
#[derive(Serialize)]
pub struct LocationDto {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub recorded_at: String,
}

impl From<LocationRow> for LocationDto {
    fn from(row: LocationRow) -> Self {
        Self { lat: row.lat, lon: row.lon, accuracy_m: row.accuracy_m, recorded_at: rfc3339(row.recorded_at) }
    }
}

/// One contact.
#[derive(Serialize)]
pub struct ContactDto {
    pub id: String,
    pub name: String,
    pub email: String,
    pub locale: Locale,
    pub created_at: String,
    pub state: ContactState,
}

impl ContactDto {
    pub fn new(row: ContactRow, state: ContactState) -> Self {
        Self {
            id: row.id,
            name: row.name,
            email: row.email,
            locale: row.locale,
            created_at: rfc3339(row.created_at),
            state,
        }
    }
}
