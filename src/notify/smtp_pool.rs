//! Our own pool of SMTP connections, for one reason: TCP_NODELAY. lettre 0.11 leaves Nagle's
//! algorithm on, so the last small write of each message (`\r\n.\r\n`) waits for the server's
//! delayed ACK, about 40 ms a message. lettre's transport offers no way to set it; its
//! connection type takes a socket of ours (`connect_with_transport`), so we open the socket and
//! keep the connections. Everything SMTP stays lettre's: greeting, EHLO, STARTTLS, AUTH, and
//! MAIL/RCPT/DATA with its dot-stuffing and error codes.
//!
//! At most `max_connections` are open at once (a sender waits for one). An idle one is reused
//! at once if it carried a message within the last second, else after a NOOP shows it alive
//! (one round trip fewer per message while mail flows). A reused connection the server had
//! closed fails at MAIL FROM, before anything of the message was sent: the message then goes
//! over a new connection, so nothing goes out twice. Idle ones are closed with QUIT after
//! `idle_timeout`. A send refused by the server, or cut off after MAIL, is never repeated here:
//! the outbox retries 4xx and connection errors later.
//!
//! The transaction (MAIL, RCPT, DATA, the content) is lettre's `send` step by step, with
//! lettre's own commands, dot-stuffing and reply parsing; split only to know whether MAIL was
//! the step that failed.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
#[allow(deprecated)]
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Tls, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter, ServerInfo};
use lettre::transport::smtp::response::Response;
use tokio::io::ReadBuf;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// A connection that carried a message this recently is reused without a NOOP first.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// The server and how to talk to it.
#[derive(Clone)]
pub struct SmtpTarget {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub hello_name: ClientId,
    pub credentials: Option<Credentials>,
}

#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Connections open at once, busy or idle.
    pub max_connections: usize,
    /// An idle connection is closed after this long.
    pub idle_timeout: Duration,
    /// For connecting (each address, then greeting to AUTH), a NOOP, and a message's MAIL to
    /// its final reply.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// lettre's own: a 4xx or 5xx reply, a dropped connection, a TLS failure.
    #[error(transparent)]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("Connection error: {0}")]
    Connect(io::Error),
    /// Refused before sending anything: the message needs an extension the server lacks.
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("no answer from the mail server within {} s ({doing})", .after.as_secs_f32())]
    TimedOut { after: Duration, doing: &'static str },
}

impl SmtpError {
    /// A 5xx reply: sending again will not help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SmtpError::Smtp(e) if e.is_permanent())
    }
}

#[derive(Clone)]
pub struct SmtpPool {
    inner: Arc<Inner>,
}

struct Inner {
    target: SmtpTarget,
    settings: PoolSettings,
    /// One per open connection, held while it is in use or being opened.
    permits: Semaphore,
    /// Most recently used last.
    idle: Mutex<Vec<Idle>>,
    reaper_started: AtomicBool,
}

struct Idle {
    conn: AsyncSmtpConnection,
    since: Instant,
}

impl SmtpPool {
    pub fn new(target: SmtpTarget, settings: PoolSettings) -> Self {
        let permits = Semaphore::new(settings.max_connections);
        let inner = Inner {
            target,
            settings,
            permits,
            idle: Mutex::new(Vec::new()),
            reaper_started: AtomicBool::new(false),
        };
        SmtpPool { inner: Arc::new(inner) }
    }

    /// Sends one message; never sends it twice.
    pub async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<Response, SmtpError> {
        self.start_reaper();
        let inner = &self.inner;
        let timeout = inner.settings.timeout;
        // Never closed. The permit is released after the connection is parked or dropped, so
        // busy plus idle connections never exceed the permits.
        let _permit =
            inner.permits.acquire().await.map_err(|_| SmtpError::Connect(io::Error::other("pool closed")))?;
        loop {
            let (mut conn, checked) = self.checkout().await?;
            let options = match mail_options(conn.server_info(), envelope, email) {
                Ok(options) => options,
                // Refused before anything was sent: the connection is still good.
                Err(reason) => {
                    inner.park(conn);
                    return Err(SmtpError::Unsupported(reason));
                }
            };
            match tokio::time::timeout(timeout, transact(&mut conn, envelope, email, options)).await {
                Ok(Ok(response)) => {
                    inner.park(conn);
                    return Ok(response);
                }
                // Reused unchecked and gone (no reply code: the server had closed it) or going
                // (a 4xx such as 421 "closing"): nothing of the message was sent at MAIL, so it
                // takes a new connection, once.
                Ok(Err(Failed::AtMail(error)))
                    if !checked && (error.status().is_none() || error.is_transient()) =>
                {
                    tracing::debug!(error = %error, "an SMTP connection reused without NOOP was closed");
                    let _ = tokio::time::timeout(timeout, conn.abort()).await;
                }
                // After a reply or I/O error lettre's `send` says QUIT and closes the connection.
                Ok(Err(Failed::AtMail(error) | Failed::Later(error))) => {
                    let _ = tokio::time::timeout(timeout, conn.abort()).await;
                    return Err(error.into());
                }
                // Cut off mid-conversation: the connection is dropped.
                Err(_) => return Err(SmtpError::TimedOut { after: timeout, doing: "sending a message" }),
            }
        }
    }

    /// Connections open at once at most.
    pub fn max_connections(&self) -> usize {
        self.inner.settings.max_connections
    }

    /// Connections open and idle now.
    pub fn idle_connections(&self) -> usize {
        self.inner.lock_idle().len()
    }

    /// An idle connection, or a new one; `true` beside it when it was just opened or answered
    /// NOOP. One used within the last second is taken on trust (see the module's comment).
    async fn checkout(&self) -> Result<(AsyncSmtpConnection, bool), SmtpError> {
        let settings = &self.inner.settings;
        loop {
            let Some(mut idle) = self.inner.lock_idle().pop() else { break };
            let idle_for = idle.since.elapsed();
            if idle_for >= settings.idle_timeout {
                tokio::spawn(quit(idle.conn, settings.timeout));
                continue;
            }
            if idle_for < TRUSTED_FOR {
                return Ok((idle.conn, false));
            }
            // The server may have closed it meanwhile (its idle timeout, a restart). Nothing of
            // the message has been sent yet, so another connection is safe.
            if let Ok(true) = tokio::time::timeout(settings.timeout, idle.conn.test_connected()).await {
                return Ok((idle.conn, true));
            }
            tracing::debug!("dropping an SMTP connection that did not answer NOOP");
        }
        Ok((connect(&self.inner.target, settings.timeout).await?, true))
    }

    /// A task that closes connections idle for too long, started on first use (inside the
    /// runtime), ending when the pool is dropped.
    fn start_reaper(&self) {
        if self.inner.reaper_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let pool = Arc::downgrade(&self.inner);
        let every = (self.inner.settings.idle_timeout / 4).max(Duration::from_millis(10));
        tokio::spawn(reap(pool, every));
    }
}

impl Inner {
    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn park(&self, conn: AsyncSmtpConnection) {
        self.lock_idle().push(Idle { conn, since: Instant::now() });
    }

    fn take_expired(&self) -> Vec<AsyncSmtpConnection> {
        let mut idle = self.lock_idle();
        let (expired, keep) =
            idle.drain(..).partition::<Vec<_>, _>(|i| i.since.elapsed() >= self.settings.idle_timeout);
        *idle = keep;
        expired.into_iter().map(|i| i.conn).collect()
    }
}

impl Drop for Inner {
    /// QUIT for the idle connections, if a runtime is still there to send it.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(PoisonError::into_inner));
        if idle.is_empty() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let timeout = self.settings.timeout;
            runtime.spawn(async move {
                for i in idle {
                    quit(i.conn, timeout).await;
                }
            });
        }
    }
}

/// Where a transaction failed: at MAIL FROM (nothing of the message sent yet) or later.
enum Failed {
    AtMail(lettre::transport::smtp::Error),
    Later(lettre::transport::smtp::Error),
}

/// MAIL, RCPT for each recipient, DATA and the content, each waiting for its reply, as
/// lettre's `AsyncSmtpConnection::send` does.
async fn transact(
    conn: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    email: &[u8],
    options: Vec<MailParameter>,
) -> Result<Response, Failed> {
    conn.command(Mail::new(envelope.from().cloned(), options)).await.map_err(Failed::AtMail)?;
    for to in envelope.to() {
        conn.command(Rcpt::new(to.clone(), vec![])).await.map_err(Failed::Later)?;
    }
    conn.command(Data).await.map_err(Failed::Later)?;
    conn.message(email).await.map_err(Failed::Later)
}

/// MAIL FROM's parameters for this message, as lettre's `send` chooses them, or why the server
/// cannot take it (it lacks SMTPUTF8 or 8BITMIME), which lettre says before sending anything.
fn mail_options(
    server: &ServerInfo,
    envelope: &Envelope,
    email: &[u8],
) -> Result<Vec<MailParameter>, &'static str> {
    let non_ascii_address = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|address| !AsRef::<str>::as_ref(address).is_ascii());
    let mut options = Vec::new();
    if non_ascii_address {
        if !server.supports_feature(Extension::SmtpUtfEight) {
            return Err("Envelope contains non-ascii chars but server does not support SMTPUTF8");
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !email.is_ascii() {
        if !server.supports_feature(Extension::EightBitMime) {
            return Err("Message contains non-ascii chars but server does not support 8BITMIME");
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(options)
}

async fn reap(pool: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = pool.upgrade() else { return };
        let expired = inner.take_expired();
        let timeout = inner.settings.timeout;
        drop(inner);
        for conn in expired {
            quit(conn, timeout).await;
        }
    }
}

async fn quit(mut conn: AsyncSmtpConnection, timeout: Duration) {
    let _ = tokio::time::timeout(timeout, conn.quit()).await;
}

/// Opens a connection as lettre's `Tokio1Executor::connect` and `AsyncSmtpClient::connection`
/// do, but over a socket with TCP_NODELAY.
async fn connect(target: &SmtpTarget, timeout: Duration) -> Result<AsyncSmtpConnection, SmtpError> {
    let tcp = tcp_connect(&target.host, target.port, timeout).await?;
    tcp.set_nodelay(true).map_err(SmtpError::Connect)?;
    tokio::time::timeout(timeout, handshake(tcp, target))
        .await
        .map_err(|_| SmtpError::TimedOut { after: timeout, doing: "opening an SMTP session" })?
}

/// Each resolved address in turn, `timeout` for each, as lettre does.
async fn tcp_connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, SmtpError> {
    let addrs = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| SmtpError::TimedOut { after: timeout, doing: "resolving the mail server's name" })?
        .map_err(SmtpError::Connect)?;
    let mut last_error = None;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last_error = Some(e),
            Err(_) => last_error = Some(io::Error::new(io::ErrorKind::TimedOut, "connection timed out")),
        }
    }
    Err(SmtpError::Connect(
        last_error.unwrap_or_else(|| io::Error::other("could not resolve to any address")),
    ))
}

async fn handshake(tcp: TcpStream, target: &SmtpTarget) -> Result<AsyncSmtpConnection, SmtpError> {
    let stream: Box<dyn AsyncTokioStream> = match &target.tls {
        Tls::Wrapper(tls) => Box::new(ImplicitTls::handshake(tcp, tls.clone()).await?),
        _ => Box::new(tcp),
    };
    // Reads the greeting, sends EHLO.
    let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &target.hello_name).await?;
    match &target.tls {
        Tls::Opportunistic(tls) if conn.can_starttls() => {
            conn.starttls(tls.clone(), &target.hello_name).await?
        }
        Tls::Required(tls) => conn.starttls(tls.clone(), &target.hello_name).await?,
        _ => {}
    }
    if let Some(credentials) = &target.credentials {
        conn.auth(DEFAULT_MECHANISMS, credentials).await?;
    }
    Ok(conn)
}

/// `smtps://`: TLS from the first byte, before the greeting. `connect_with_transport` reads the
/// greeting at once, so the socket is handed over already encrypted, by lettre's own TLS code
/// and `TlsParameters` (public in 0.11, though deprecated: "not meant to be made public").
#[allow(deprecated)]
#[derive(Debug)]
struct ImplicitTls(AsyncNetworkStream);

#[allow(deprecated)]
impl ImplicitTls {
    async fn handshake(tcp: TcpStream, tls: TlsParameters) -> Result<Self, SmtpError> {
        let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
        stream.upgrade_tls(tls).await?;
        Ok(ImplicitTls(stream))
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

// lettre's stream speaks futures-io; `AsyncTokioStream` wants tokio's traits.
impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(futures_util::io::AsyncRead::poll_read(
            Pin::new(&mut self.0),
            cx,
            buf.initialize_unfilled()
        ))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        futures_util::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_util::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_util::io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}
