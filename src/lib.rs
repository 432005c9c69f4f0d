//! safecheck: a Safety Check backend. An operator activates an incident over an area, everyone
//! whose recent location lies inside is prompted, and each answer fans out to their contacts.

pub mod auth;
pub mod cidr;
pub mod cli;
pub mod clock;
pub mod community;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod incidents;
pub mod jobs;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod retention;
pub mod routes;
pub mod secret_file;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod web;
