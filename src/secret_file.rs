//! A generated secret kept in a file of its own, readable by its owner only.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rand::RngCore;

/// Reads the secret in `path`, or generates 32 random bytes (hex) and stores them there.
/// Returns the secret and whether it was generated now.
pub fn load_or_generate(path: &Path) -> anyhow::Result<(String, bool)> {
    match std::fs::read_to_string(path) {
        Ok(secret) => Ok((secret.trim().to_owned(), false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let secret = hex::encode(bytes);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
            Ok((secret, true))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reads_the_same_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let (first, generated) = load_or_generate(&path).unwrap();
        assert!(generated);
        assert_eq!(first.len(), 64);
        let (second, generated) = load_or_generate(&path).unwrap();
        assert!(!generated);
        assert_eq!(first, second);
    }
}
