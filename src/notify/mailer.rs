//! Sends messages over SMTP (pooled connections) or, with no SMTP server configured, writes
//! them as .eml files under the data directory.

use std::time::Duration;

use anyhow::Context;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::Config;

/// Where mail goes.
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
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

/// Connections kept open to the SMTP server, and so messages in flight at once.
pub const SMTP_CONNECTIONS: u32 = 16;

impl Mailer {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        match &config.smtp_url {
            Some(url) => Ok(Mailer::Smtp(smtp_transport(url.expose_secret())?)),
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

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Mailer::Smtp(transport) => match transport.send(message).await {
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

/// `smtp://` means STARTTLS (required) unless `?tls=opportunistic` or `?tls=none` (plain text,
/// for a relay on loopback) says otherwise; `smtps://` is TLS from the first byte.
fn smtp_transport(url: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let tls = params.iter().find_map(|p| p.strip_prefix("tls=")).map(str::to_owned);
    if tls.as_deref() == Some("none") {
        params.retain(|p| !p.starts_with("tls="));
    } else if tls.is_none() && base.starts_with("smtp://") {
        params.push("tls=required");
    }
    let url = if params.is_empty() { base.to_owned() } else { format!("{base}?{}", params.join("&")) };
    // The URL may hold a password: errors say what is wrong, not the URL.
    let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
        .map_err(|e| anyhow::anyhow!("SAFECHECK_SMTP_URL is not usable: {e}"))?;
    Ok(builder
        .timeout(Some(Duration::from_secs(20)))
        .pool_config(PoolConfig::new().max_size(SMTP_CONNECTIONS).idle_timeout(Duration::from_secs(60)))
        .build())
}
