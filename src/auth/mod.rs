//! Accounts and authentication: account creation, password hashing (argon2id), access tokens
//! (JWT) and refresh tokens. The extractor that turns a bearer token into the calling user is
//! `routes::caller`.

pub mod access_token;
pub mod accounts;
pub mod password;
pub mod password_pool;
pub mod refresh_token;
pub mod throttle;

pub use access_token::TokenKeys;
pub use password::PasswordHasher;
pub use password_pool::PasswordPool;
