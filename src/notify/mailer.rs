//! Sends messages over SMTP (pooled connections, see smtp_pool) or, with no SMTP server
//! configured, writes them as .eml files under the data directory.

use std::borrow::Cow;
use std::time::Duration;

use anyhow::Context;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{SMTP_PORT, SUBMISSION_PORT, SUBMISSIONS_PORT, authentication::Credentials};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::Config;
use crate::notify::smtp_pool::{PoolSettings, SmtpPool, SmtpTarget};

/// Where mail goes.
pub enum Mailer {
    Smtp(SmtpPool),
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Why a message was not accepted.
#[derive(Debug)]
pub enum SendError {
    /// Try again later: a 4xx reply, a dropped or refused connection, a timeout.
    Transient(String),
    /// Do not try again: a 5xx reply.
    Permanent(String),
}

/// Connections open to the SMTP server at most, and so messages in flight at once, unless
/// `SAFECHECK_SMTP_CONNECTIONS` says otherwise.
pub const SMTP_CONNECTIONS: usize = crate::config::DEFAULT_SMTP_CONNECTIONS;

/// Messages written to files at once, with no SMTP server.
const FILE_WRITERS: usize = 16;

impl Mailer {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        match &config.smtp_url {
            Some(url) => {
                let settings =
                    PoolSettings { max_connections: config.delivery.smtp_connections, ..smtp_settings() };
                Ok(Mailer::Smtp(SmtpPool::new(smtp_target(url.expose_secret())?, settings)))
            }
            None => {
                let dir = config.mail_dir();
                std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                Ok(Mailer::Files(AsyncFileTransport::<Tokio1Executor>::new(dir)))
            }
        }
    }

    /// For the start-up log: where mail goes (never the credentials).
    pub fn describe(&self, config: &Config) -> String {
        match self {
            Mailer::Smtp(_) => "SMTP (SAFECHECK_SMTP_URL)".to_owned(),
            Mailer::Files(_) => {
                format!("no SMTP server configured: .eml files in {}", config.mail_dir().display())
            }
        }
    }

    /// Messages that can be on their way at once.
    pub fn concurrency(&self) -> usize {
        match self {
            Mailer::Smtp(pool) => pool.max_connections(),
            Mailer::Files(_) => FILE_WRITERS,
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Mailer::Smtp(pool) => match pool.send(message.envelope(), &message.formatted()).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Err(e) => Err(SendError::Transient(e.to_string())),
            },
            Mailer::Files(transport) => {
                transport.send(message).await.map(|_| ()).map_err(|e| SendError::Transient(e.to_string()))
            }
        }
    }
}

/// The pool's default limits: 16 connections, closed after 60 s idle; 20 s for any step.
pub fn smtp_settings() -> PoolSettings {
    PoolSettings {
        max_connections: SMTP_CONNECTIONS,
        idle_timeout: Duration::from_secs(60),
        timeout: Duration::from_secs(20),
    }
}

/// `smtp://` means STARTTLS (required) unless `?tls=opportunistic` or `?tls=none` (plain text,
/// for a relay on loopback) says otherwise; `smtps://` is TLS from the first byte.
pub fn smtp_target(url: &str) -> anyhow::Result<SmtpTarget> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let tls = params.iter().find_map(|p| p.strip_prefix("tls=")).map(str::to_owned);
    if tls.as_deref() == Some("none") {
        params.retain(|p| !p.starts_with("tls="));
    } else if tls.is_none() && base.starts_with("smtp://") {
        params.push("tls=required");
    }
    let url = if params.is_empty() { base.to_owned() } else { format!("{base}?{}", params.join("&")) };
    // lettre still judges the URL, so what is accepted or refused, and why, is unchanged.
    // The URL may hold a password: errors say what is wrong, not the URL.
    AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
        .map_err(|e| anyhow::anyhow!("SAFECHECK_SMTP_URL is not usable: {e}"))?;
    target_from_url(&url).map_err(|e| anyhow::anyhow!("SAFECHECK_SMTP_URL is not usable: {e}"))
}

/// What lettre 0.11's `from_url` makes of a URL it accepted (its `from_connection_url`).
fn target_from_url(url: &str) -> anyhow::Result<SmtpTarget> {
    let url = url::Url::parse(url)?;
    let host = url.host_str().context("smtp host undefined")?.to_owned();
    let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    let (default_port, tls) = match (url.scheme(), tls.as_deref()) {
        ("smtp", None) => (SMTP_PORT, Tls::None),
        ("smtp", Some("required")) => (SUBMISSION_PORT, Tls::Required(TlsParameters::new(host.clone())?)),
        ("smtp", Some("opportunistic")) => {
            (SUBMISSION_PORT, Tls::Opportunistic(TlsParameters::new(host.clone())?))
        }
        ("smtps", _) => (SUBMISSIONS_PORT, Tls::Wrapper(TlsParameters::new(host.clone())?)),
        (scheme, tls) => anyhow::bail!("unknown scheme '{scheme}' or tls parameter '{tls:?}'"),
    };
    let hello_name = match url.path() {
        path if path.len() > 1 => ClientId::Domain(path.trim_matches('/').to_owned()),
        _ => ClientId::default(),
    };
    let decode = |s: &str| -> anyhow::Result<String> {
        Ok(percent_encoding::percent_decode_str(s).decode_utf8().map(Cow::into_owned)?)
    };
    let credentials = match url.password() {
        Some(password) => Some(Credentials::new(decode(url.username())?, decode(password)?)),
        None => None,
    };
    Ok(SmtpTarget { port: url.port().unwrap_or(default_port), host, tls, hello_name, credentials })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> SmtpTarget {
        smtp_target(url).unwrap()
    }

    fn tls_domain(tls: &Tls) -> Option<&str> {
        match tls {
            Tls::None => None,
            Tls::Opportunistic(p) | Tls::Required(p) | Tls::Wrapper(p) => Some(p.domain()),
        }
    }

    #[test]
    fn smtp_is_starttls_required_on_the_submission_port() {
        let t = target("smtp://mail.example.org");
        assert_eq!((t.host.as_str(), t.port), ("mail.example.org", 587));
        assert!(matches!(t.tls, Tls::Required(_)));
        assert_eq!(tls_domain(&t.tls), Some("mail.example.org"));
        assert!(t.credentials.is_none());
        assert_eq!(t.hello_name, ClientId::default());
        assert!(matches!(target("smtp://mail.example.org:2587?tls=required").tls, Tls::Required(_)));
        assert_eq!(target("smtp://mail.example.org:2587").port, 2587);
    }

    #[test]
    fn opportunistic_and_none_are_asked_for() {
        let t = target("smtp://mail.example.org?tls=opportunistic");
        assert_eq!(t.port, 587);
        assert!(matches!(t.tls, Tls::Opportunistic(_)));
        let t = target("smtp://127.0.0.1?tls=none");
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 25));
        assert!(matches!(t.tls, Tls::None));
        let t = target("smtp://127.0.0.1:2525?foo=bar&tls=none");
        assert_eq!(t.port, 2525);
        assert!(matches!(t.tls, Tls::None));
    }

    #[test]
    fn smtps_is_tls_from_the_first_byte_whatever_tls_says() {
        let t = target("smtps://mail.example.org");
        assert_eq!(t.port, 465);
        assert!(matches!(t.tls, Tls::Wrapper(_)));
        assert!(matches!(target("smtps://mail.example.org:1465?tls=none").tls, Tls::Wrapper(_)));
        assert!(matches!(target("smtps://mail.example.org?tls=opportunistic").tls, Tls::Wrapper(_)));
    }

    #[test]
    fn credentials_are_percent_decoded_and_need_a_password() {
        let t = target("smtp://us%40er:p%40ss%2Fw@mail.example.org:587");
        assert_eq!(t.credentials, Some(Credentials::new("us@er".into(), "p@ss/w".into())));
        assert!(target("smtp://user@mail.example.org").credentials.is_none());
    }

    #[test]
    fn the_path_names_us_in_ehlo() {
        let t = target("smtp://mail.example.org/client.example.org");
        assert_eq!(t.hello_name, ClientId::Domain("client.example.org".into()));
    }

    #[test]
    fn unusable_urls_are_refused_without_showing_the_password() {
        for url in ["smtp://user:secret@mail.example.org?tls=sometimes", "smtp://user:secret@", "smtp:secret"]
        {
            let error = smtp_target(url).err().unwrap().to_string();
            assert!(error.starts_with("SAFECHECK_SMTP_URL is not usable"), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
