//! Pure types and rules: no I/O. Each parse function returns a field error naming what is wrong.

pub mod account;
/// Areas live in a crate of their own (`crates/area`) so that the fuzz target builds without the server.
pub use safecheck_area as area;
pub mod check_in;
pub mod contact;
pub mod email;
pub mod grid;
pub mod incident;
pub mod location;
pub mod notice;
pub mod outbox;
pub mod text;

pub use account::{DisplayName, Locale, Password, Role};
pub use area::{Area, BoundingBox};
pub use check_in::{CheckInMessage, SafetyStatus};
pub use contact::ContactState;
pub use email::Email;
pub use incident::{IncidentStatus, IncidentText, PromptSource};
pub use location::Fix;
pub use notice::{NoticeKind, NoticeText};
pub use outbox::{Lane, NotificationKind, NotificationState};

/// One problem with one field of a request, named by its path (`area.coordinates[0]`); it lives in
/// the area crate, whose parser returns it.
pub use safecheck_area::FieldError;
