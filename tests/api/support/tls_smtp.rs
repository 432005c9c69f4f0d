//! A small SMTP server with TLS, for the pool's STARTTLS and implicit-TLS (smtps) paths: it
//! offers STARTTLS (or speaks TLS from the first byte), takes AUTH PLAIN, and records for each
//! message whether it came encrypted and who had logged in.
//!
//! Its certificate is for `localhost`, signed by a test CA (tls/, valid until 2126), made with:
//! `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500
//! -subj "/CN=safecheck test CA" -addext basicConstraints=critical,CA:TRUE ...`, then a
//! `CN=localhost` key and request signed by it with `subjectAltName=DNS:localhost`,
//! `extendedKeyUsage=serverAuth`; all as DER (the key as PKCS#8).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub const CA: &[u8] = include_bytes!("tls/ca.der");
const CERT: &[u8] = include_bytes!("tls/localhost.der");
const KEY: &[u8] = include_bytes!("tls/localhost.key.der");

/// How the server offers TLS.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain text, STARTTLS offered.
    StartTls,
    /// Plain text only.
    Plain,
    /// TLS from the first byte.
    Implicit,
}

/// One message as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub encrypted: bool,
    /// `user:password` from AUTH PLAIN, if any.
    pub login: Option<String>,
}

#[derive(Clone)]
pub struct TlsSmtp {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

/// TLS parameters that trust the test CA, for `localhost`.
pub fn client_tls() -> TlsParameters {
    TlsParameters::builder("localhost".to_owned())
        .add_root_certificate(Certificate::from_der(CA.to_vec()).unwrap())
        .build()
        .unwrap()
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl TlsSmtp {
    pub async fn start(mode: Mode) -> Self {
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(CERT.to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(KEY.to_vec())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sessions = received.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, received) = (acceptor.clone(), sessions.clone());
                tokio::spawn(async move {
                    let _ = session(tcp, mode, acceptor, received).await;
                });
            }
        });
        Self { addr, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn session(
    tcp: tokio::net::TcpStream,
    mode: Mode,
    acceptor: TlsAcceptor,
    received: Arc<Mutex<Vec<Received>>>,
) -> std::io::Result<()> {
    let mut encrypted = mode == Mode::Implicit;
    let mut io: Box<dyn Io> = if encrypted { Box::new(acceptor.accept(tcp).await?) } else { Box::new(tcp) };
    io.write_all(b"220 tls.test ESMTP\r\n").await?;
    let mut login = None;
    'session: loop {
        let mut reader = BufReader::new(io);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_owned();
            let upper = command.to_ascii_uppercase();
            let reply = if upper.starts_with("EHLO") {
                let starttls = if mode == Mode::StartTls && !encrypted { "250-STARTTLS\r\n" } else { "" };
                format!("250-tls.test\r\n{starttls}250-AUTH PLAIN\r\n250 8BITMIME")
            } else if upper == "STARTTLS" && mode == Mode::StartTls && !encrypted {
                reader.get_mut().write_all(b"220 2.0.0 go ahead\r\n").await?;
                io = Box::new(acceptor.accept(reader.into_inner()).await?);
                encrypted = true;
                continue 'session;
            } else if let Some(encoded) = upper.strip_prefix("AUTH PLAIN ").map(|_| &command[11..]) {
                let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
                let parts: Vec<String> =
                    decoded.split(|b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
                login = Some(format!("{}:{}", parts[1], parts[2]));
                "235 2.7.0 ok".to_owned()
            } else if upper.starts_with("MAIL") || upper.starts_with("RCPT") || upper == "NOOP" {
                "250 ok".to_owned()
            } else if upper == "DATA" {
                reader.get_mut().write_all(b"354 go ahead\r\n").await?;
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                }
                received.lock().unwrap().push(Received { encrypted, login: login.clone() });
                "250 queued".to_owned()
            } else if upper == "QUIT" {
                reader.get_mut().write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                "502 not here".to_owned()
            };
            reader.get_mut().write_all(format!("{reply}\r\n").as_bytes()).await?;
        }
    }
}
