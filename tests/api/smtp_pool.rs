//! The SMTP pool (src/notify/smtp_pool.rs) against the test sink and a TLS server: connections
//! are reused, capped, replaced when the server drops them, closed with QUIT when idle; a
//! refused message costs no other; STARTTLS, implicit TLS and AUTH work.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use lettre::Message;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use safecheck::notify::Mailer;
use safecheck::notify::mailer::{SendError, smtp_settings, smtp_target};
use safecheck::notify::smtp_pool::{PoolSettings, SmtpError, SmtpPool, SmtpTarget};

use crate::helpers::{SmtpSink, wait_until};
use crate::support::smtp_sink::plain_message;
use crate::support::tls_smtp::{self, Mode, TlsSmtp};

fn message(subject: &str) -> Message {
    plain_message(subject, "Ada is safe.\r\n.a line with a dot\r\n")
}

/// The pool as `SAFECHECK_SMTP_URL` configures it, to the sink.
fn pool(sink: &SmtpSink) -> SmtpPool {
    SmtpPool::new(smtp_target(&sink.url()).unwrap(), smtp_settings())
}

async fn send(pool: &SmtpPool, subject: &str) -> Result<(), SmtpError> {
    let message = message(subject);
    pool.send(message.envelope(), &message.formatted()).await.map(|_| ())
}

fn subjects(sink: &SmtpSink) -> Vec<String> {
    let mut subjects: Vec<String> = sink.received().iter().filter_map(|m| m.header("subject")).collect();
    subjects.sort();
    subjects
}

#[tokio::test]
async fn one_connection_carries_message_after_message() {
    let sink = SmtpSink::start().await;
    let pool = pool(&sink);
    for i in 0..10 {
        send(&pool, &format!("m{i}")).await.unwrap();
    }
    assert_eq!(sink.count(), 10);
    assert_eq!(sink.connections(), 1);
    assert_eq!(pool.idle_connections(), 1);
    assert!(sink.received()[0].data.contains("\r\n.a line with a dot"), "dot-stuffing is lettre's");
}

#[tokio::test]
async fn at_most_sixteen_connections_at_once_and_then_reused() {
    let sink = SmtpSink::start().await;
    sink.set_delay(Duration::from_millis(100));
    let pool = pool(&sink);
    let results = join_all((0..64).map(|i| {
        let pool = pool.clone();
        async move { send(&pool, &format!("m{i:02}")).await }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(subjects(&sink).len(), 64);
    assert_eq!(sink.max_open_connections(), 16);
    assert_eq!(sink.connections(), 16, "four rounds over the same sixteen");
    assert_eq!(pool.idle_connections(), 16);
}

#[tokio::test]
async fn a_connection_the_server_dropped_is_replaced_and_nothing_is_sent_twice() {
    let sink = SmtpSink::start().await;
    let pool = pool(&sink);
    send(&pool, "before").await.unwrap();
    sink.drop_connections();
    // Used a moment ago, so reused without a NOOP: it fails at MAIL FROM, before anything of
    // the message was sent, and the message takes a new connection.
    send(&pool, "after").await.unwrap();
    assert_eq!(subjects(&sink), ["after", "before"]);
    assert_eq!(sink.connections(), 2);
    assert_eq!(pool.idle_connections(), 1);
    assert_eq!(sink.noops(), 0);
    // Idle for over a second: a NOOP first, and a dropped one is replaced the same way.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sink.drop_connections();
    send(&pool, "later").await.unwrap();
    assert_eq!(subjects(&sink), ["after", "before", "later"]);
    assert_eq!(sink.connections(), 3);
}

/// While mail flows a connection carries message after message with no NOOP between them (one
/// round trip fewer each); one idle for over a second is checked with a NOOP before it is used.
#[tokio::test]
async fn no_noop_on_a_connection_used_within_the_last_second() {
    let sink = SmtpSink::start().await;
    let pool = pool(&sink);
    for i in 0..20 {
        send(&pool, &format!("m{i:02}")).await.unwrap();
    }
    assert_eq!((sink.connections(), sink.noops()), (1, 0));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(&pool, "after a pause").await.unwrap();
    assert_eq!((sink.connections(), sink.noops()), (1, 1));
    send(&pool, "at once").await.unwrap();
    assert_eq!((sink.connections(), sink.noops()), (1, 1));
}

#[tokio::test]
async fn a_421_costs_only_its_own_message_and_its_connection() {
    let sink = SmtpSink::start().await;
    sink.set_delay(Duration::from_millis(50));
    let mailer = Mailer::Smtp(pool(&sink));
    sink.reply_to_next_data(&["421 4.3.2 closing for maintenance"]);
    let results = join_all((0..20).map(|i| mailer.send(message(&format!("m{i:02}"))))).await;
    let refused: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert_eq!(refused.len(), 1, "{results:?}");
    assert!(matches!(refused[0], Err(SendError::Transient(e)) if e.contains("421")), "{refused:?}");
    assert_eq!(subjects(&sink).len(), 19);
    // The refused connection was closed (lettre sends QUIT); the others carry on.
    assert_eq!(sink.quits(), 1);
    mailer.send(message("again")).await.unwrap();
    assert_eq!(subjects(&sink).len(), 20);
    assert!(sink.max_open_connections() <= 16);
}

#[tokio::test]
async fn replies_are_classified_as_before() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::Smtp(pool(&sink));
    sink.reply_to_next_data(&["451 4.3.0 try again later", "550 5.1.1 no such mailbox"]);
    let first = mailer.send(message("one")).await;
    assert!(matches!(&first, Err(SendError::Transient(e)) if e.contains("451")), "{first:?}");
    let second = mailer.send(message("two")).await;
    assert!(matches!(&second, Err(SendError::Permanent(e)) if e.contains("550")), "{second:?}");
    mailer.send(message("three")).await.unwrap();
    assert_eq!(subjects(&sink), ["three"]);
}

#[tokio::test]
async fn a_server_that_is_down_or_too_slow_is_a_transient_error() {
    let sink = SmtpSink::start().await;
    let settings = PoolSettings { timeout: Duration::from_millis(300), ..smtp_settings() };
    let pool = SmtpPool::new(smtp_target(&sink.url()).unwrap(), settings);
    sink.set_down(true);
    let error = send(&pool, "down").await.unwrap_err();
    assert!(!error.is_permanent(), "{error}");
    sink.set_down(false);
    sink.set_delay(Duration::from_secs(1));
    let error = send(&pool, "slow").await.unwrap_err();
    assert!(matches!(error, SmtpError::TimedOut { .. }), "{error}");
    assert!(!error.is_permanent());
    assert_eq!(pool.idle_connections(), 0, "a connection cut off mid-message is not reused");
    sink.set_delay(Duration::ZERO);
    let refused = Mailer::Smtp(SmtpPool::new(
        SmtpTarget { port: 1, ..smtp_target(&sink.url()).unwrap() },
        smtp_settings(),
    ));
    assert!(matches!(refused.send(message("refused")).await, Err(SendError::Transient(_))));
}

#[tokio::test]
async fn idle_connections_are_closed_with_quit() {
    let sink = SmtpSink::start().await;
    let settings = PoolSettings { idle_timeout: Duration::from_millis(200), ..smtp_settings() };
    let pool = SmtpPool::new(smtp_target(&sink.url()).unwrap(), settings);
    send(&pool, "one").await.unwrap();
    assert_eq!(sink.open_connections(), 1);
    let idle_since = Instant::now();
    wait_until("the idle connection closed with QUIT", Duration::from_secs(5), || {
        sink.quits() == 1 && sink.open_connections() == 0
    })
    .await;
    // A margin below the 200 ms: the pool's idle clock started a moment before `idle_since`.
    assert!(idle_since.elapsed() >= Duration::from_millis(150), "closed long before its idle timeout");
    assert_eq!(pool.idle_connections(), 0);
    send(&pool, "two").await.unwrap();
    assert_eq!(sink.connections(), 2);
    drop(pool);
    wait_until("dropping the pool says QUIT to its idle connections", Duration::from_secs(5), || {
        sink.quits() == 2
    })
    .await;
}

/// The point of the pool: with TCP_NODELAY no message waits ~40 ms for a delayed ACK (lettre's
/// transport manages about 23 a second over one connection). Generous: 50 messages in 1 s.
#[tokio::test]
async fn messages_do_not_wait_for_delayed_acks() {
    let sink = SmtpSink::start().await;
    let pool = pool(&sink);
    send(&pool, "warm-up").await.unwrap();
    let start = Instant::now();
    for i in 0..50 {
        send(&pool, &format!("m{i}")).await.unwrap();
    }
    let elapsed = start.elapsed();
    assert_eq!(sink.connections(), 1);
    assert!(elapsed < Duration::from_secs(1), "50 messages took {elapsed:?}");
}

fn tls_target(server: &TlsSmtp, tls: Tls) -> SmtpTarget {
    SmtpTarget {
        host: "127.0.0.1".into(),
        port: server.addr.port(),
        tls,
        hello_name: ClientId::Domain("safecheck.test".into()),
        credentials: Some(Credentials::new("user".into(), "p@ss".into())),
    }
}

#[tokio::test]
async fn starttls_and_implicit_tls_carry_the_login_and_the_message() {
    for (mode, tls) in [
        (Mode::StartTls, Tls::Required(tls_smtp::client_tls())),
        (Mode::StartTls, Tls::Opportunistic(tls_smtp::client_tls())),
        (Mode::Implicit, Tls::Wrapper(tls_smtp::client_tls())),
    ] {
        let server = TlsSmtp::start(mode).await;
        let pool = SmtpPool::new(tls_target(&server, tls), smtp_settings());
        send(&pool, "one").await.unwrap();
        send(&pool, "two").await.unwrap();
        let received = server.received();
        assert_eq!(received.len(), 2);
        assert!(
            received.iter().all(|r| r.encrypted && r.login.as_deref() == Some("user:p@ss")),
            "{received:?}"
        );
    }
}

#[tokio::test]
async fn starttls_required_is_refused_by_a_server_without_it() {
    let server = TlsSmtp::start(Mode::Plain).await;
    let pool = SmtpPool::new(tls_target(&server, Tls::Required(tls_smtp::client_tls())), smtp_settings());
    let error = send(&pool, "one").await.unwrap_err();
    assert!(error.to_string().contains("STARTTLS"), "{error}");
    assert!(server.received().is_empty());
    // Opportunistic settles for plain text.
    let pool =
        SmtpPool::new(tls_target(&server, Tls::Opportunistic(tls_smtp::client_tls())), smtp_settings());
    send(&pool, "two").await.unwrap();
    assert!(!server.received()[0].encrypted);
}

#[tokio::test]
async fn a_certificate_not_for_the_name_or_not_trusted_is_refused() {
    let server = TlsSmtp::start(Mode::Implicit).await;
    let other_name = TlsParameters::builder("mail.example.org".into())
        .add_root_certificate(Certificate::from_der(tls_smtp::CA.to_vec()).unwrap())
        .build()
        .unwrap();
    let untrusted = TlsParameters::new("localhost".into()).unwrap();
    for tls in [other_name, untrusted] {
        let pool = SmtpPool::new(tls_target(&server, Tls::Wrapper(tls)), smtp_settings());
        let error = send(&pool, "one").await.unwrap_err();
        assert!(error.to_string().contains("certificate"), "{error}");
        assert!(!error.is_permanent(), "{error}");
    }
    assert!(server.received().is_empty());
}
