//! argon2id password hashes, made and checked off the actix workers by the callers.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::Argon2Params;

/// Hashes and verifies passwords with one set of argon2id parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    /// A hash of a random password, verified against when the account does not exist, so
    /// that an unknown email costs as much time as a wrong password.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(params: Argon2Params) -> anyhow::Result<Self> {
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut hasher = Self { argon2, dummy_hash: String::new() };
        hasher.dummy_hash = hasher.hash(&uuid::Uuid::new_v4().to_string())?;
        Ok(hasher)
    }

    /// A PHC string with a fresh random salt.
    pub fn hash(&self, password: &str) -> anyhow::Result<String> {
        self.argon2
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
    }

    /// Whether `password` matches `stored` (a PHC string); `None` does the same work against a
    /// dummy hash and answers false.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let candidate = stored.unwrap_or(&self.dummy_hash);
        let Ok(parsed) = PasswordHash::new(candidate) else {
            return false;
        };
        let matches = self.argon2.verify_password(password.as_bytes(), &parsed).is_ok();
        matches && stored.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(Argon2Params { memory_kib: 256, iterations: 1, parallelism: 1 }).unwrap()
    }

    #[test]
    fn hashes_are_argon2id_and_salted() {
        let hasher = cheap();
        let a = hasher.hash("correct horse").unwrap();
        let b = hasher.hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(hasher.verify("correct horse", Some(&a)));
        assert!(!hasher.verify("wrong horse", Some(&a)));
        assert!(!hasher.verify("correct horse", None));
    }
}
