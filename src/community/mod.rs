//! The people around a user: their contacts, who opt in to hearing from them.

pub mod contacts;
