//! Mail in clear text only to a relay on this machine: anything else stops the server at start.

use std::process::Command;

fn serve_with_smtp(url: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_safecheck"))
        .arg("serve")
        .env("SAFECHECK_DATA_DIR", dir.path())
        .env("SAFECHECK_LISTEN", "127.0.0.1:0")
        .env("SAFECHECK_SMTP_URL", url)
        .output()
        .unwrap()
}

#[test]
fn serve_refuses_to_start_with_a_clear_text_relay_off_loopback_naming_the_variable() {
    let out = serve_with_smtp("smtp://mailer:hunter2@mail.example.org:25?tls=none");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SAFECHECK_SMTP_URL"), "{stderr}");
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
}
