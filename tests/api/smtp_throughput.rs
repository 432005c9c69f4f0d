//! Measures messages a second, one after another, to the test sink: lettre's transport (Nagle on:
//! each message waits for the sink's delayed ACK), lettre's connection over one socket of ours
//! with and without TCP_NODELAY, and the pool (one connection, TCP_NODELAY, a NOOP before each
//! reuse).
//! Ignored in the suite; run it with:
//!
//! `cargo test --test api smtp_throughput -- --ignored --nocapture` (SMTP_THROUGHPUT_N=200)

use std::time::{Duration, Instant};

use lettre::message::header::ContentType;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use safecheck::notify::mailer::{smtp_settings, smtp_target};
use safecheck::notify::smtp_pool::{PoolSettings, SmtpPool};

use crate::helpers::SmtpSink;

/// About the size of a prompt (plain text and HTML).
fn message(i: usize) -> Message {
    Message::builder()
        .from("safecheck <no-reply@safecheck.test>".parse().unwrap())
        .to("Mum <mum@example.org>".parse().unwrap())
        .subject(format!("Are you safe? ({i})"))
        .header(ContentType::TEXT_PLAIN)
        .body("Please tell us you are safe: https://safecheck.test/v1/answer/0123456789\r\n".repeat(40))
        .unwrap()
}

struct Row {
    path: &'static str,
    elapsed: Duration,
    connections: usize,
}

async fn measure<F, Fut>(path: &'static str, n: usize, send_all: F) -> Row
where
    F: FnOnce(SmtpSink, Vec<Message>) -> Fut,
    Fut: Future<Output = ()>,
{
    let sink = SmtpSink::start().await;
    let messages: Vec<Message> = (0..n).map(message).collect();
    let start = Instant::now();
    send_all(sink.clone(), messages).await;
    let elapsed = start.elapsed();
    assert_eq!(sink.count(), n);
    Row { path, elapsed, connections: sink.connections() }
}

async fn raw_connection(sink: &SmtpSink, nodelay: bool) -> AsyncSmtpConnection {
    let tcp = tokio::net::TcpStream::connect(sink.addr).await.unwrap();
    tcp.set_nodelay(nodelay).unwrap();
    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &ClientId::default()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn smtp_throughput_over_one_connection() {
    let n: usize = std::env::var("SMTP_THROUGHPUT_N").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let mut rows = Vec::new();

    rows.push(
        measure("lettre AsyncSmtpTransport (pool of 1)", n, |sink, messages| async move {
            let transport =
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(sink.addr.ip().to_string())
                    .port(sink.addr.port())
                    .pool_config(PoolConfig::new().max_size(1))
                    .build();
            for m in messages {
                transport.send(m).await.unwrap();
            }
        })
        .await,
    );
    for (path, nodelay) in [
        ("lettre connection, our socket, Nagle on", false),
        ("lettre connection, our socket, TCP_NODELAY", true),
    ] {
        rows.push(
            measure(path, n, |sink, messages| async move {
                let mut conn = raw_connection(&sink, nodelay).await;
                for m in messages {
                    conn.send(m.envelope(), &m.formatted()).await.unwrap();
                }
                conn.quit().await.unwrap();
            })
            .await,
        );
    }
    rows.push(
        measure("SmtpPool (1 connection, NOOP before reuse)", n, |sink, messages| async move {
            let settings = PoolSettings { max_connections: 1, ..smtp_settings() };
            let pool = SmtpPool::new(smtp_target(&sink.url()).unwrap(), settings);
            for m in messages {
                pool.send(m.envelope(), &m.formatted()).await.unwrap();
            }
        })
        .await,
    );

    println!("\n{n} messages of {} bytes, one after another:", message(0).formatted().len());
    println!("{:<46} {:>10} {:>12} {:>12}", "path", "mails/s", "ms/message", "connections");
    for row in &rows {
        let secs = row.elapsed.as_secs_f64();
        println!(
            "{:<46} {:>10.0} {:>12.2} {:>12}",
            row.path,
            n as f64 / secs,
            secs * 1000.0 / n as f64,
            row.connections
        );
    }
    // lettre's pool puts a connection back from a spawned task, so a send right after another
    // may find none and open one more (it keeps one, QUITs the rest); the others use one.
    assert!(rows[1..].iter().all(|r| r.connections == 1));
}
