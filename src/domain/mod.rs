//! Pure types and rules: no I/O. Each parse function returns a field error naming what is wrong.

pub mod account;
pub mod area;
pub mod check_in;
pub mod email;
pub mod location;

pub use account::{DisplayName, Locale, Password, Role};
pub use area::{Area, BoundingBox};
pub use check_in::{CheckInMessage, SafetyStatus};
pub use email::Email;
pub use location::Fix;

/// One problem with one field of a request, named by its path (`area.coordinates[0]`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}
