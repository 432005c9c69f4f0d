//! Load: wrk (closed loop, the highest sustained rate) and an open-loop sender at a fixed rate
//! whose latencies count from each request's scheduled start (coordinated-omission safe, as
//! wrk2 or `oha -q --latency-correction` do it).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What wrk reported.
#[derive(Debug, Default)]
pub struct WrkResult {
    pub requests_per_sec: f64,
    pub requests: u64,
    pub non_2xx: u64,
    pub socket_errors: String,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// `wrk -t threads -c connections -d seconds --latency [-s script] url`.
pub fn wrk(
    url: &str,
    script: Option<&Path>,
    env: &[(&str, String)],
    connections: u32,
    seconds: u32,
) -> WrkResult {
    let mut command = Command::new("wrk");
    command.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
        "--timeout",
        "10s",
    ]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output =
        command.arg(url).envs(env.iter().map(|(k, v)| (k, v))).output().expect("wrk runs (apt install wrk)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    let mut result = WrkResult::default();
    for line in text.lines().map(str::trim) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Requests/sec:", v] => result.requests_per_sec = v.parse().unwrap_or(f64::NAN),
            ["Non-2xx", "or", "3xx", "responses:", v] => result.non_2xx = v.parse().unwrap_or(0),
            ["50%", v] => result.p50_ms = millis(v),
            ["99%", v] => result.p99_ms = millis(v),
            [n, "requests", "in", ..] => result.requests = n.parse().unwrap_or(0),
            ["Socket", "errors:", ..] => result.socket_errors = line.to_owned(),
            _ => {}
        }
    }
    result
}

fn millis(value: &str) -> f64 {
    let (number, unit) = value.split_at(value.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(value.len()));
    let n: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

/// One request of an open-loop run.
pub struct Sent {
    pub user: usize,
    /// From the scheduled start to the end of the response.
    pub latency: Duration,
    pub status: u16,
    /// When the response was complete.
    pub done_at: Instant,
}

/// Sends `rate` check-ins a second for `seconds`, user `first_user + i` answering `i`-th, each
/// at its scheduled time whatever the earlier ones are doing.
pub async fn open_loop(
    url: &str,
    tokens: Arc<Vec<String>>,
    first_user: usize,
    rate: f64,
    seconds: f64,
) -> Vec<Sent> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let count = (rate * seconds) as usize;
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled).await;
        let (client, url, tokens) = (client.clone(), url.to_owned(), tokens.clone());
        let user = first_user + i;
        tasks.push(tokio::spawn(async move {
            let status = client
                .post(&url)
                .bearer_auth(&tokens[user])
                .header("Content-Type", "application/json")
                .body(r#"{"status":"safe","message":"At home, all fine."}"#)
                .send()
                .await
                .map_or(0, |r| r.status().as_u16());
            let done_at = Instant::now();
            Sent { user, latency: tokio::time::Instant::now() - scheduled, status, done_at }
        }));
    }
    let mut sent = Vec::with_capacity(count);
    for task in tasks {
        sent.push(task.await.expect("request task"));
    }
    sent
}

/// The wrk script that posts check-ins, each thread walking its share of the tokens; a user's
/// second answer in a run flips to need_help so it notifies again.
pub const CHECK_IN_SCRIPT: &str = r#"
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
local tokens = {}
local i = 0
local step = 2
local path = "/"
function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
  step = tonumber(os.getenv("BENCH_WRK_THREADS"))
  path = os.getenv("BENCH_PATH")
  i = id
end
function request()
  local n = #tokens
  local status = (math.floor(i / n) % 2 == 0) and "safe" or "need_help"
  local token = tokens[(i % n) + 1]
  i = i + step
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, '{"status":"' .. status .. '","message":"At home, all fine."}')
end
"#;
