//! Email: the outbox rows become messages (templates, compose), go out over SMTP (smtp_pool) or
//! into files (mailer), streamed by a background job (delivery) that claims due rows as leases
//! and records their outcomes (claims). Every message
//! carries a one-click unsubscribe link, signed with the link key (links).

pub mod claims;
pub mod compose;
pub mod delivery;
pub mod links;
pub mod mailer;
pub mod notice_templates;
pub mod outbox;
pub mod prompt_messages;
pub mod smtp_pool;
pub mod templates;

pub use mailer::Mailer;
