//! Email: the outbox rows become messages (templates), go out over SMTP (smtp_pool) or into
//! files (mailer), from a background job that claims due rows as leases (delivery). Every message
//! carries a one-click unsubscribe link (unsubscribe).

pub mod delivery;
pub mod mailer;
pub mod outbox;
pub mod prompt_messages;
pub mod smtp_pool;
pub mod templates;
pub mod unsubscribe;

pub use mailer::Mailer;
