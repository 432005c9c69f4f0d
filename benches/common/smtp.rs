//! The benchmarks' SMTP sink (a small real SMTP server on loopback that notes when each
//! recipient's message arrived, optionally behind a network's latency) and the minimal sender
//! that measures its own accept rate, one command at a time or pipelined (RFC 2920).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Arrivals {
    /// Recipient -> when each of their messages' DATA ended.
    by_recipient: HashMap<String, Vec<Instant>>,
    messages: usize,
    /// DATA bytes received, for the mean message size.
    bytes: usize,
    connections: usize,
}

#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    arrivals: Arc<Mutex<Arrivals>>,
}

impl Sink {
    pub async fn start() -> Self {
        Self::start_with_latency(Duration::ZERO).await
    }

    /// A sink whose every reply reaches the client `latency` after the command that asked for
    /// it arrived, as across a network with that round trip: replies to pipelined commands
    /// travel together, and nothing else is slowed.
    pub async fn start_with_latency(latency: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = listener.local_addr().expect("sink address");
        let arrivals = Arc::new(Mutex::new(Arrivals::default()));
        let shared = arrivals.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.lock().expect("sink lock").connections += 1;
                stream.set_nodelay(true).expect("nodelay");
                tokio::spawn(session(stream, shared.clone(), latency));
            }
        });
        Self { addr, arrivals }
    }

    /// For `SAFECHECK_SMTP_URL`: plain text on loopback.
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    pub fn messages(&self) -> usize {
        self.arrivals.lock().expect("sink lock").messages
    }

    /// Mean size of the messages received so far, in bytes.
    pub fn mean_size(&self) -> usize {
        let arrivals = self.arrivals.lock().expect("sink lock");
        arrivals.bytes / arrivals.messages.max(1)
    }

    pub fn connections(&self) -> usize {
        self.arrivals.lock().expect("sink lock").connections
    }

    /// Forgets what arrived so far.
    pub fn reset(&self) {
        *self.arrivals.lock().expect("sink lock") = Arrivals::default();
    }

    /// When the messages to `recipient` arrived.
    pub fn arrivals_for(&self, recipient: &str) -> Vec<Instant> {
        self.arrivals.lock().expect("sink lock").by_recipient.get(recipient).cloned().unwrap_or_default()
    }

    /// The first and last arrival overall.
    pub fn span(&self) -> Option<(Instant, Instant)> {
        let arrivals = self.arrivals.lock().expect("sink lock");
        let all = arrivals.by_recipient.values().flatten();
        let first = all.clone().min()?;
        Some((*first, *all.max()?))
    }

    /// Waits until `count` messages arrived or `timeout` passed; returns the count.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.messages();
            if now >= count || Instant::now() >= deadline {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Writes replies to the client, each at once or once the latency has passed since its
/// command arrived.
enum Replies {
    Direct(tokio::net::tcp::OwnedWriteHalf),
    Delayed(tokio::sync::mpsc::UnboundedSender<(Instant, &'static [u8])>),
}

impl Replies {
    fn new(write: tokio::net::tcp::OwnedWriteHalf, latency: Duration) -> Self {
        if latency.is_zero() {
            return Replies::Direct(write);
        }
        let (send, mut receive) = tokio::sync::mpsc::unbounded_channel::<(Instant, &'static [u8])>();
        tokio::spawn(async move {
            let mut write = write;
            while let Some((asked_at, reply)) = receive.recv().await {
                tokio::time::sleep_until((asked_at + latency).into()).await;
                if write.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
        Replies::Delayed(send)
    }

    async fn send(&mut self, asked_at: Instant, reply: &'static [u8]) -> std::io::Result<()> {
        match self {
            Replies::Direct(write) => write.write_all(reply).await,
            Replies::Delayed(send) => {
                send.send((asked_at, reply)).map_err(|_| std::io::ErrorKind::BrokenPipe.into())
            }
        }
    }
}

async fn session(
    stream: TcpStream,
    arrivals: Arc<Mutex<Arrivals>>,
    latency: Duration,
) -> std::io::Result<()> {
    let (read, write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut write = Replies::new(write, latency);
    write.send(Instant::now(), b"220 sink ESMTP\r\n").await?;
    let mut line = String::new();
    let mut recipients: Vec<String> = Vec::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut asked_at = Instant::now();
        let upper = line.trim_end().to_ascii_uppercase();
        let reply: &'static [u8] = if upper.starts_with("EHLO") {
            b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM") || upper.starts_with("RSET") {
            recipients.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO") {
            let address = line.trim_end().get(8..).unwrap_or("").trim().trim_matches(['<', '>']);
            recipients.push(address.to_owned());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write.send(asked_at, b"354 go ahead\r\n").await?;
            let mut size = 0;
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                size += line.len();
            }
            let at = Instant::now();
            asked_at = at;
            let mut shared = arrivals.lock().expect("sink lock");
            shared.messages += 1;
            shared.bytes += size;
            for r in recipients.drain(..) {
                shared.by_recipient.entry(r).or_default().push(at);
            }
            drop(shared);
            b"250 OK queued\r\n"
        } else if upper == "QUIT" {
            write.send(asked_at, b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        write.send(asked_at, reply).await?;
    }
}

/// The sink's own accept rate: `messages` messages of `size` bytes over `connections`
/// connections (TCP_NODELAY, one command at a time, as a plain SMTP client does). Messages/s.
pub async fn minimal_sender_rate(addr: SocketAddr, messages: usize, connections: usize, size: usize) -> f64 {
    sender_rate(addr, messages, connections, size, false).await
}

/// The same with PIPELINING (RFC 2920): MAIL, RCPT and DATA in one write and their three
/// replies read together, then the content: two round trips a message instead of four.
pub async fn pipelined_sender_rate(
    addr: SocketAddr,
    messages: usize,
    connections: usize,
    size: usize,
) -> f64 {
    sender_rate(addr, messages, connections, size, true).await
}

async fn sender_rate(
    addr: SocketAddr,
    messages: usize,
    connections: usize,
    size: usize,
    pipelined: bool,
) -> f64 {
    let body: String = {
        let mut body = String::from("From: a@bench.test\r\nTo: b@bench.test\r\nSubject: ceiling\r\n\r\n");
        while body.len() < size {
            body.push_str("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n");
        }
        body.push_str(".\r\n");
        body
    };
    let body = Arc::new(body);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let share = messages / connections + usize::from(c < messages % connections);
        let body = body.clone();
        tasks.push(tokio::spawn(async move { send_many(addr, share, &body, pipelined).await }));
    }
    for task in tasks {
        task.await.expect("sender task").expect("minimal sender");
    }
    messages as f64 / started.elapsed().as_secs_f64()
}

async fn send_many(addr: SocketAddr, count: usize, body: &str, pipelined: bool) -> std::io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut replies = BufReader::new(read);
    let mut line = String::new();
    let mut expect = async |replies: &mut BufReader<_>, code: &str| -> std::io::Result<()> {
        loop {
            line.clear();
            replies.read_line(&mut line).await?;
            assert!(line.starts_with(code), "sink answered {line:?}, not {code}");
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(());
            }
        }
    };
    expect(&mut replies, "220").await?;
    write.write_all(b"EHLO sender\r\n").await?;
    expect(&mut replies, "250").await?;
    for _ in 0..count {
        if pipelined {
            write.write_all(b"MAIL FROM:<a@bench.test>\r\nRCPT TO:<b@bench.test>\r\nDATA\r\n").await?;
            expect(&mut replies, "250").await?;
            expect(&mut replies, "250").await?;
            expect(&mut replies, "354").await?;
            write.write_all(body.as_bytes()).await?;
            expect(&mut replies, "250").await?;
            continue;
        }
        write.write_all(b"MAIL FROM:<a@bench.test>\r\n").await?;
        expect(&mut replies, "250").await?;
        write.write_all(b"RCPT TO:<b@bench.test>\r\n").await?;
        expect(&mut replies, "250").await?;
        write.write_all(b"DATA\r\n").await?;
        expect(&mut replies, "354").await?;
        write.write_all(body.as_bytes()).await?;
        expect(&mut replies, "250").await?;
    }
    write.write_all(b"QUIT\r\n").await?;
    Ok(())
}
