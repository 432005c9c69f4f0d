//! The stored login: `$XDG_CONFIG_HOME/safecheck/session.json` (else
//! `$HOME/.config/safecheck/session.json`), readable by its owner only.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::failure::Failure;

/// Refresh a little before the server would refuse the token, not after.
const EXPIRY_MARGIN: chrono::Duration = chrono::Duration::seconds(30);

/// What `login` keeps between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The server this login belongs to; its tokens are never sent anywhere else.
    pub url: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
    /// When the access token stops working.
    pub expires_at: DateTime<Utc>,
}

/// The answer of `POST /v1/auth/login` and `POST /v1/auth/refresh`.
#[derive(Debug, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
}

impl Session {
    pub fn new(url: &str, email: &str, pair: TokenPair, now: DateTime<Utc>) -> Self {
        Self {
            url: url.to_owned(),
            email: email.to_owned(),
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            expires_at: now + chrono::Duration::seconds(pair.expires_in),
        }
    }

    /// The same login with the pair a refresh returned.
    pub fn renew(&mut self, pair: TokenPair, now: DateTime<Utc>) {
        *self = Self::new(&self.url, &self.email, pair, now);
    }

    /// Whether the access token has expired (or is about to).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now + EXPIRY_MARGIN >= self.expires_at
    }
}

/// Where the session lives.
#[derive(Debug, Clone)]
pub struct SessionFile {
    path: PathBuf,
}

impl SessionFile {
    /// The session file of this user, from the environment.
    pub fn locate() -> Result<Self, Failure> {
        let dir =
            config_dir(std::env::var_os("XDG_CONFIG_HOME"), std::env::var_os("HOME")).ok_or_else(|| {
                Failure::Other("cannot find a config directory: set HOME or XDG_CONFIG_HOME".into())
            })?;
        Ok(Self { path: dir.join("safecheck").join("session.json") })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored session, or `None` when there is none.
    pub fn load(&self) -> Result<Option<Session>, Failure> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_failure("cannot read", &e)),
        };
        let session = serde_json::from_str(&text).map_err(|e| {
            Failure::NotLoggedIn(format!(
                "the session file {} is damaged ({e}); log in again with `safecheck admin login`",
                self.path.display()
            ))
        })?;
        Ok(Some(session))
    }

    /// Writes the session: a new file of mode 0600 renamed over the old one, so a reader never
    /// sees half a file and the tokens are never readable by others, not even for a moment.
    pub fn save(&self, session: &Session) -> Result<(), Failure> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|e| self.io_failure("cannot create the directory of", &e))?;
        let json = serde_json::to_vec_pretty(session).map_err(|e| Failure::Other(e.to_string()))?;
        let temporary = self.path.with_extension(format!("json.{}.tmp", std::process::id()));
        let written = write_private(&temporary, &json).and_then(|()| std::fs::rename(&temporary, &self.path));
        if let Err(e) = written {
            // Best effort: the temporary file holds tokens.
            drop(std::fs::remove_file(&temporary));
            return Err(self.io_failure("cannot write", &e));
        }
        Ok(())
    }

    /// Waits for, then holds, the exclusive lock of this session: `session.json.lock` beside it
    /// (mode 0600, kept empty and never deleted, so every command locks the same file). Commands
    /// that refresh the login hold it from re-reading the session until the new pair is stored;
    /// the lock is released when the guard is dropped (or the process ends).
    pub fn lock(&self) -> Result<SessionLock, Failure> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|e| self.io_failure("cannot create the directory of", &e))?;
        let path = self.lock_path();
        let file = open_lock_file(&path).map_err(|e| lock_failure("cannot open", &path, &e))?;
        file.lock().map_err(|e| lock_failure("cannot lock", &path, &e))?;
        Ok(SessionLock { file })
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    /// Forgets the session; no file is fine.
    pub fn delete(&self) -> Result<(), Failure> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_failure("cannot delete", &e)),
        }
    }

    fn io_failure(&self, what: &str, error: &std::io::Error) -> Failure {
        Failure::Other(format!("{what} the session file {}: {error}", self.path.display()))
    }
}

/// The held lock of a session file; dropping it releases the lock.
#[derive(Debug)]
pub struct SessionLock {
    file: std::fs::File,
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking first just says so.
        drop(self.file.unlock());
    }
}

fn lock_failure(what: &str, path: &Path, error: &std::io::Error) -> Failure {
    Failure::Other(format!("{what} the session lock file {}: {error}", path.display()))
}

/// `$XDG_CONFIG_HOME`, else `$HOME/.config`. The XDG spec says to ignore a relative (or empty)
/// `XDG_CONFIG_HOME`.
fn config_dir(xdg_config_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |v: OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    xdg_config_home
        .and_then(absolute)
        .or_else(|| home.filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".config")))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // `mode` only applies to a new file; a leftover temporary file may have another mode.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Opens (creating it if need be) the lock file; it stays empty, so it is never truncated.
#[cfg(unix)]
fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_dir_follows_xdg_then_home() {
        let some = |s: &str| Some(OsString::from(s));
        assert_eq!(config_dir(some("/x/conf"), some("/home/a")), Some(PathBuf::from("/x/conf")));
        assert_eq!(config_dir(some("relative"), some("/home/a")), Some(PathBuf::from("/home/a/.config")));
        assert_eq!(config_dir(some(""), some("/home/a")), Some(PathBuf::from("/home/a/.config")));
        assert_eq!(config_dir(None, None), None);
    }

    #[test]
    fn a_session_expires_a_little_early() {
        let now = Utc::now();
        let pair = TokenPair { access_token: "a".into(), refresh_token: "r".into(), expires_in: 900 };
        let session = Session::new("http://127.0.0.1:8080", "op@example.org", pair, now);
        assert!(!session.is_expired(now));
        assert!(session.is_expired(now + chrono::Duration::seconds(880)));
    }

    #[cfg(unix)]
    #[test]
    fn the_session_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = SessionFile { path: dir.path().join("safecheck").join("session.json") };
        let pair = TokenPair { access_token: "a".into(), refresh_token: "r".into(), expires_in: 900 };
        file.save(&Session::new("http://h", "e@x.org", pair, Utc::now())).unwrap();
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(file.load().unwrap().unwrap().refresh_token, "r");
        file.delete().unwrap();
        assert!(file.load().unwrap().is_none());
    }

    #[test]
    fn the_session_lock_is_exclusive_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = SessionFile { path: dir.path().join("safecheck").join("session.json") };
        let lock_path = dir.path().join("safecheck").join("session.json.lock");
        let held = file.lock().unwrap();
        // Another open file description (as another process would have) cannot take it meanwhile.
        let other = open_lock_file(&lock_path).unwrap();
        assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        drop(held);
        other.try_lock().unwrap();
        other.unlock().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&lock_path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
