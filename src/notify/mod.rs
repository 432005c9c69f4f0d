//! Email: the outbox rows become messages (templates), go out over SMTP (smtp_pool) or into
//! files (mailer), from a background job that claims due rows as leases (delivery). Every message
//! carries a one-click unsubscribe link, signed with the link key (links).

pub mod delivery;
pub mod links;
pub mod mailer;
pub mod outbox;
pub mod prompt_messages;
pub mod smtp_pool;
pub mod templates;

pub use mailer::Mailer;
