//! The test SMTP server itself: what lettre sends arrives, and scripted replies are given.

use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::helpers::SmtpSink;
use crate::support::smtp_sink::plain_message;

fn transport(sink: &SmtpSink) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(sink.addr.ip().to_string())
        .port(sink.addr.port())
        .build()
}

fn message(subject: &str) -> Message {
    plain_message(subject, "line one\r\n.starts with a dot\r\n")
}

#[tokio::test]
async fn the_sink_receives_what_lettre_sends() {
    let sink = SmtpSink::start().await;
    transport(&sink).send(message("Ada is safe")).await.unwrap();
    let mail = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].from, "no-reply@safecheck.test");
    assert_eq!(mail[0].to, ["mum@example.org"]);
    assert_eq!(mail[0].header("subject").as_deref(), Some("Ada is safe"));
    assert!(mail[0].data.contains("\r\n.starts with a dot"), "dot-unstuffed body");
}

#[tokio::test]
async fn scripted_replies_refuse_then_accept() {
    let sink = SmtpSink::start().await;
    sink.reply_to_next_data(&["451 4.3.0 try again later"]);
    let error = transport(&sink).send(message("first")).await.unwrap_err();
    assert!(error.is_transient(), "{error}");
    transport(&sink).send(message("second")).await.unwrap();
    let mail = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].header("subject").as_deref(), Some("second"));
}

#[tokio::test]
async fn every_test_app_sends_to_its_own_sink() {
    use secrecy::ExposeSecret;
    let app = crate::helpers::spawn_app().await;
    let configured = app.config.smtp_url.as_ref().unwrap().expose_secret().to_owned();
    assert_eq!(configured, app.smtp.url());
    assert!(app.smtp.received().is_empty());
}
