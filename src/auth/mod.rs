//! Accounts and authentication: account creation, password hashing, access tokens (JWT), refresh tokens, and the extractor that
//! turns a bearer token into the calling user.

pub mod access_token;
pub mod accounts;
pub mod password;
pub mod refresh_token;

pub use access_token::TokenKeys;
pub use password::PasswordHasher;
