//! A real SMTP server on 127.0.0.1:0 that keeps what it receives, for tests to read back.
//! It speaks enough RFC 5321 for lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and can be
//! told to answer the next DATA commands with chosen replies (451, 550, ...).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as the sink received it.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// The raw message: headers, blank line, body (dot-unstuffed).
    pub data: String,
}

impl ReceivedMail {
    /// The header's value with RFC 2047 encoded words (`=?utf-8?b?...?=`) decoded.
    pub fn header_text(&self, name: &str) -> Option<String> {
        self.header(name).map(|raw| decode_words(&raw))
    }

    /// The first header of that name, unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(current) = value.as_mut() {
                if line.starts_with(' ') || line.starts_with('\t') {
                    current.push_str(line.trim_start());
                    continue;
                }
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }
}

#[derive(Default)]
struct Shared {
    mail: Vec<ReceivedMail>,
    /// Replies for the next DATA terminations, in order; when empty, 250.
    data_replies: VecDeque<String>,
    connections: usize,
    /// Connections open now, and the most open at once.
    open: usize,
    max_open: usize,
    /// QUIT commands received.
    quits: usize,
    /// NOOP commands received.
    noops: usize,
    /// Bumped by `drop_connections`: sessions of an older generation close at their next command.
    generation: u64,
    /// While true, new connections are closed at once and open ones at their next command.
    down: bool,
    /// How long to take before answering the end of each message's DATA.
    delay: Duration,
}

/// The sink; dropping it stops nothing (its task ends with the test's runtime).
#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp sink");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mut shared = accept_shared.lock().unwrap();
                if shared.down {
                    drop(stream);
                    continue;
                }
                shared.connections += 1;
                shared.open += 1;
                shared.max_open = shared.max_open.max(shared.open);
                let generation = shared.generation;
                let session_shared = accept_shared.clone();
                tokio::spawn(async move {
                    session(stream, session_shared.clone(), generation).await;
                    session_shared.lock().unwrap().open -= 1;
                });
            }
        });
        Self { addr, shared }
    }

    /// `smtp://` URL for the app, without TLS (loopback).
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.shared.lock().unwrap().mail.clone()
    }

    /// Forgets what was received so far (a test's setup mail, such as invitations), so that
    /// what it asserts next counts only what follows.
    pub fn clear(&self) {
        self.shared.lock().unwrap().mail.clear();
    }

    /// How many messages arrived so far (cheaper than `received().len()`).
    pub fn count(&self) -> usize {
        self.shared.lock().unwrap().mail.len()
    }

    /// Waits until messages with `count` distinct Message-IDs arrived, or `timeout` passed;
    /// returns everything received.
    pub async fn wait_for_distinct(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let distinct = {
                let shared = self.shared.lock().unwrap();
                shared
                    .mail
                    .iter()
                    .filter_map(|m| m.header("message-id"))
                    .collect::<std::collections::HashSet<_>>()
                    .len()
            };
            if distinct >= count || tokio::time::Instant::now() >= deadline {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().unwrap().connections
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.shared.lock().unwrap().open
    }

    /// The most connections that were open at once.
    pub fn max_open_connections(&self) -> usize {
        self.shared.lock().unwrap().max_open
    }

    /// QUIT commands received so far.
    pub fn quits(&self) -> usize {
        self.shared.lock().unwrap().quits
    }

    /// NOOP commands received so far.
    pub fn noops(&self) -> usize {
        self.shared.lock().unwrap().noops
    }

    /// Drops every open connection, as a server restarting or timing out idle clients does: each
    /// closes without a reply at its next command. New connections are served as usual.
    pub fn drop_connections(&self) {
        self.shared.lock().unwrap().generation += 1;
    }

    /// Takes the server down (true: connections are closed) or back up.
    pub fn set_down(&self, down: bool) {
        self.shared.lock().unwrap().down = down;
    }

    /// Makes each message take this long to be accepted (a slow server).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().unwrap().delay = delay;
    }

    /// Makes the next DATA commands answer these replies (e.g. "451 4.3.0 try later").
    pub fn reply_to_next_data(&self, replies: &[&str]) {
        let mut shared = self.shared.lock().unwrap();
        shared.data_replies.extend(replies.iter().map(|r| (*r).to_owned()));
    }

    /// Waits until at least `count` messages arrived, or `timeout` passed; returns them all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mail = self.received();
            if mail.len() >= count || tokio::time::Instant::now() >= deadline {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn session(stream: TcpStream, shared: Arc<Mutex<Shared>>, generation: u64) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut from = String::new();
    let mut to = Vec::new();
    if write.write_all(b"220 sink.test ESMTP ready\r\n").await.is_err() {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        {
            let shared = shared.lock().unwrap();
            if shared.down || shared.generation != generation {
                return;
            }
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING".into()
        } else if upper.starts_with("HELO") {
            "250 sink.test".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command[10..]);
            to.clear();
            "250 2.1.0 ok".into()
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&command[8..]));
            "250 2.1.5 ok".into()
        } else if upper == "DATA" {
            if write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await.is_err() {
                return;
            }
            let mut data = String::new();
            loop {
                let mut body_line = String::new();
                match lines.read_line(&mut body_line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if body_line == ".\r\n" || body_line == ".\n" {
                    break;
                }
                let unstuffed = body_line.strip_prefix('.').unwrap_or(&body_line);
                data.push_str(unstuffed);
            }
            let delay = shared.lock().unwrap().delay;
            tokio::time::sleep(delay).await;
            let mut guard = shared.lock().unwrap();
            match guard.data_replies.pop_front() {
                Some(reply) => reply,
                None => {
                    guard.mail.push(ReceivedMail { from: from.clone(), to: to.clone(), data });
                    "250 2.0.0 queued".into()
                }
            }
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            "250 2.0.0 ok".into()
        } else if upper == "NOOP" {
            shared.lock().unwrap().noops += 1;
            "250 2.0.0 ok".into()
        } else if upper == "QUIT" {
            shared.lock().unwrap().quits += 1;
            let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
            return;
        } else {
            "502 5.5.2 command not recognised".into()
        };
        if write.write_all(format!("{reply}\r\n").as_bytes()).await.is_err() {
            return;
        }
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg.find('>').unwrap_or(arg.len());
    arg[start..end].to_owned()
}

/// Decodes RFC 2047 encoded words; the space between two adjacent encoded words goes away.
fn decode_words(raw: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut previous_was_word = false;
    for token in raw.split(' ') {
        let word = token.strip_prefix("=?").and_then(|t| t.strip_suffix("?="));
        let decoded = word.and_then(|w| {
            let mut parts = w.splitn(3, '?');
            let (_charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
            let bytes = match encoding.to_ascii_lowercase().as_str() {
                "b" => base64::engine::general_purpose::STANDARD.decode(text).ok()?,
                "q" => quoted(text),
                _ => return None,
            };
            String::from_utf8(bytes).ok()
        });
        match decoded {
            Some(text) => {
                if !out.is_empty() && !previous_was_word {
                    out.push(' ');
                }
                out.push_str(&text);
                previous_was_word = true;
            }
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(token);
                previous_was_word = false;
            }
        }
    }
    out
}

fn quoted(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => out.push(b' '),
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// A plain-text message from safecheck to Mum, for tests that send through lettre themselves.
pub fn plain_message(subject: &str, body: &str) -> lettre::Message {
    lettre::Message::builder()
        .from("safecheck <no-reply@safecheck.test>".parse().unwrap())
        .to("Mum <mum@example.org>".parse().unwrap())
        .subject(subject)
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .unwrap()
}
