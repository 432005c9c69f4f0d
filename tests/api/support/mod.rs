//! Test infrastructure: the SMTP sink (and a TLS SMTP server), the chaos proxy, the per-test
//! database, and the proxy that checks every response against the spec.

pub mod chaos_proxy;
pub mod smtp_sink;
pub mod spec_check;
pub mod spec_proxy;
pub mod test_db;
pub mod tls_smtp;
