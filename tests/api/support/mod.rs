//! Test infrastructure: the SMTP sink, the chaos proxy and the per-test database.

pub mod chaos_proxy;
pub mod smtp_sink;
pub mod test_db;
