//! The integration suite: the real server over HTTP, on SQLite or (with `TEST_DATABASE_URL`)
//! PostgreSQL, with a real SMTP server on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly by design")]

mod helpers;
mod support;

mod abuse;
mod accounts;
mod admin_cli;
mod answer_links;
mod approval;
mod audit_trail;
mod authorization;
mod bad_input;
mod check_ins;
mod contacts;
mod delivery;
mod drills;
mod fanout;
mod faults;
mod health;
mod incidents;
mod invitations;
mod lanes;
mod logs;
mod me;
mod metrics;
mod migrations;
mod notices;
mod openapi;
mod people;
mod per_user_limits;
mod postgres_only;
mod problems;
mod reminders;
mod retention;
mod roles;
mod rsa_tokens;
mod sessions;
mod smtp_harness;
mod smtp_plaintext;
mod smtp_pool;
mod smtp_throughput;
mod stored_words;
mod throttling;
mod tokens;
