//! `safecheck serve` / `safecheck worker` as a child process, configured by environment like
//! in production; killed on drop. Its peak RSS is read from `/proc/<pid>/status` (VmHWM).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const JWT_SECRET: &str = "bench-secret-bench-secret-bench-secret-0001";
pub const PUBLIC_URL: &str = "http://127.0.0.1";

pub struct Server {
    child: Child,
    pub base: String,
}

/// The configuration every benchmark process shares; `extra` adds or overrides.
pub fn env(database_url: &str, data_dir: &Path, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("SAFECHECK_DATABASE_URL".into(), database_url.to_owned()),
        ("SAFECHECK_DATA_DIR".into(), data_dir.display().to_string()),
        ("SAFECHECK_JWT_SECRET".into(), JWT_SECRET.into()),
        ("SAFECHECK_PUBLIC_URL".into(), PUBLIC_URL.into()),
        ("SAFECHECK_ARGON2_MEMORY_KIB".into(), "256".into()),
        ("SAFECHECK_ARGON2_ITERATIONS".into(), "1".into()),
        // Each run's contacts hear of several incidents within the hour.
        ("SAFECHECK_MAX_EMAILS_PER_RECIPIENT_PER_HOUR".into(), "1000".into()),
        ("SAFECHECK_ACCESS_TOKEN_TTL_SECS".into(), "7200".into()),
        // The benches time the fan-out of an activation, not a second operator's approval.
        ("SAFECHECK_APPROVAL_THRESHOLD".into(), "1000000000".into()),
        ("RUST_LOG".into(), "warn".into()),
    ];
    // A knob to try, e.g. SAFECHECK_SMTP_CONNECTIONS: the bench's own environment passes
    // `BENCH_SAFECHECK_*` on, without the prefix.
    let passed: Vec<(String, String)> = std::env::vars()
        .filter_map(|(k, v)| Some((k.strip_prefix("BENCH_")?.to_owned(), v)))
        .filter(|(k, _)| k.starts_with("SAFECHECK_"))
        .collect();
    for (key, value) in
        extra.iter().map(|(k, v)| (*k, v.clone())).chain(passed.iter().map(|(k, v)| (k.as_str(), v.clone())))
    {
        env.retain(|(k, _)| k != key);
        env.push((key.to_owned(), value));
    }
    env
}

/// A port free right now, for the child to bind.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

impl Server {
    /// `safecheck serve` on a free port, ready (`/readyz` 200) when this returns.
    pub async fn serve(env: &[(String, String)], log: &Path) -> Self {
        let port = free_port();
        let mut env = env.to_vec();
        env.push(("SAFECHECK_LISTEN".into(), format!("127.0.0.1:{port}")));
        let mut server = Self::spawn("serve", &env, log);
        let base = format!("http://127.0.0.1:{port}");
        server.base = base.clone();
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "the server did not become ready; see {}", log.display());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// `safecheck worker` (the background jobs only).
    pub fn worker(env: &[(String, String)], log: &Path) -> Self {
        Self::spawn("worker", env, log)
    }

    fn spawn(command: &str, env: &[(String, String)], log: &Path) -> Self {
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_safecheck"))
            .arg(command)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start safecheck");
        Self { child, base: String::new() }
    }

    /// Peak resident set size so far, in MB.
    pub fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
