//! The phases of one run of the check-in benchmark (see main.rs for what each measures).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::Connection;
use std::time::{Duration, Instant};

use safecheck::clock::SystemClock;
use safecheck::db::{self, DatabaseUrl};
use safecheck::domain::{CheckInMessage, SafetyStatus};
use safecheck::incidents::check_in::{self, Answer};
use serde_json::json;

use crate::common::server::{self, Server};
use crate::common::smtp::{self, Sink};
use crate::common::{BenchDb, percentile};
use crate::load::{self, CHECK_IN_SCRIPT};
use crate::seed::{self, CONTACTS_PER_USER};

const HOURLY_CAP: i64 = 1000;
const WRK_CONNECTIONS: u32 = 32;
const SMTP_CONNECTIONS: usize = 16;
/// Check-ins written directly for the transaction ceiling (and the outbox the worker empties).
const DIRECT_CHECK_INS: usize = 6_000;
/// Each reply's delay in phase 4b, as from a relay across a network.
pub const SINK_LATENCY: Duration = Duration::from_millis(20);
/// Emails delivered (and sent by the minimal senders) at that latency.
const LATENCY_EMAILS: usize = 3_000;
/// Round trips a message takes, one command at a time: MAIL, RCPT, DATA, the content.
pub const ROUND_TRIPS: f64 = 4.0;

pub struct Bench {
    db: BenchDb,
    users: Vec<String>,
    tokens: Arc<Vec<String>>,
    tokens_file: PathBuf,
    script_file: PathBuf,
    operator_token: String,
    sink: Sink,
    seconds: u32,
    backlog: usize,
}

#[derive(Clone, Debug, Default)]
pub struct OpenLoopFigures {
    pub rate: f64,
    pub sent: usize,
    pub failed: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub email_p50_s: f64,
    pub email_p99_s: f64,
    pub emails_missing: usize,
    pub rss_mb: f64,
}

#[derive(Debug, Default)]
pub struct RunFigures {
    pub healthz_rate: f64,
    pub healthz_p99_ms: f64,
    pub check_in_max_rate: f64,
    pub check_in_wrk_p99_ms: f64,
    pub check_in_non_2xx: u64,
    pub rss_wrk_mb: f64,
    pub direct_rate: f64,
    /// Statements sent to the database per answer in the direct phase, BEGIN and COMMIT
    /// included: each is a round trip on PostgreSQL.
    pub statements_per_answer: f64,
    pub delivery_rate: f64,
    pub mean_email_bytes: usize,
    pub rss_worker_mb: f64,
    pub sink_rate: f64,
    /// Phase 4b, replies 20 ms away: the worker, and the minimal sender one command at a time
    /// and pipelined.
    pub latency_delivery_rate: f64,
    pub latency_sender_rate: f64,
    pub latency_pipelined_rate: f64,
    pub at_500: OpenLoopFigures,
    pub at_half: OpenLoopFigures,
    /// 500/s again, `serve` answering and a separate `safecheck worker` delivering.
    pub split_500: OpenLoopFigures,
    pub split_worker_rss_mb: f64,
    pub behind_backlog: BacklogFigures,
    pub registration_burst: BurstFigures,
}

/// Check-ins at a modest rate, without and then during a burst of registrations hashed at the
/// production cost (phase 8).
#[derive(Clone, Debug, Default)]
pub struct BurstFigures {
    pub rate: f64,
    pub quiet_p50_ms: f64,
    pub quiet_p99_ms: f64,
    pub burst_p50_ms: f64,
    pub burst_p99_ms: f64,
    /// Check-ins during the burst that were not 201.
    pub burst_failed: usize,
    pub registered: usize,
    /// Registrations refused with 503 `password_hashing` (the hashing pool full).
    pub busy: usize,
}

/// Check-ins while a backlog of prompt emails waits (phase 7).
#[derive(Clone, Debug, Default)]
pub struct BacklogFigures {
    pub backlog: usize,
    pub sent: usize,
    pub failed: usize,
    pub email_p50_s: f64,
    pub email_p99_s: f64,
    pub emails_missing: usize,
    /// Backlog emails still queued once every contact email had arrived.
    pub backlog_left: i64,
}

impl Bench {
    pub async fn prepare(db: BenchDb, users: usize, seconds: u32, backlog: usize) -> Self {
        let started = Instant::now();
        let url = db.url.clone();
        let ids = tokio::task::spawn_blocking(move || seed::users_with_contacts(&url, users)).await.unwrap();
        println!(
            "seeded {users} users and {} contacts in {:.1} s",
            users * CONTACTS_PER_USER,
            started.elapsed().as_secs_f64()
        );
        let env = server::env(&db.env_url, db.dir.path(), &[]);
        let tokens = seed::tokens(&env, &ids);
        let tokens_file = db.dir.path().join("tokens.txt");
        std::fs::write(&tokens_file, tokens.join("\n")).unwrap();
        let script_file = db.dir.path().join("check_in.lua");
        std::fs::write(&script_file, CHECK_IN_SCRIPT).unwrap();
        let url = db.url.clone();
        let operator = tokio::task::spawn_blocking(move || seed::operator(&url)).await.unwrap();
        let operator_token = seed::tokens_for_role(&env, &operator, safecheck::domain::Role::Operator);
        let sink = Sink::start().await;
        Self {
            db,
            users: ids,
            tokens: Arc::new(tokens),
            tokens_file,
            script_file,
            operator_token,
            sink,
            seconds,
            backlog,
        }
    }

    fn env(&self, extra: &[(&str, String)]) -> Vec<(String, String)> {
        server::env(&self.db.env_url, self.db.dir.path(), extra)
    }

    fn log(&self, name: &str, run: usize) -> PathBuf {
        self.db.dir.path().join(format!("{name}-{run}.log"))
    }

    /// One run of every phase; with `delivery_only`, the check-in transaction and the delivery
    /// phases only (3, 4, 5 and 4b), for working on delivery.
    pub async fn run(&self, run: usize, delivery_only: bool) -> RunFigures {
        let mut figures = RunFigures::default();
        if !delivery_only {
            self.closed_loop(run, &mut figures).await;
        }
        let url = self.db.url.clone();
        tokio::task::spawn_blocking(move || seed::settle_outbox(&url)).await.unwrap();
        (figures.direct_rate, figures.statements_per_answer) = self.direct(run).await;
        println!(
            "direct transaction: {:.0} check-ins/s, {:.2} statements each",
            figures.direct_rate, figures.statements_per_answer
        );
        self.delivery(run, &mut figures).await;
        self.sink.reset();
        figures.sink_rate = smtp::minimal_sender_rate(
            self.sink.addr,
            20_000,
            SMTP_CONNECTIONS,
            figures.mean_email_bytes.max(500),
        )
        .await;
        println!("minimal sender: {:.0} messages/s", figures.sink_rate);
        self.delivery_at_latency(run, &mut figures).await;
        if delivery_only {
            return figures;
        }
        self.open_loops(run, &mut figures).await;
        figures.registration_burst = self.registration_burst(run).await;
        println!("registration burst: {:?}", figures.registration_burst);
        if self.backlog > 0 {
            figures.behind_backlog = self.behind_backlog(run).await;
            println!("behind a backlog: {:?}", figures.behind_backlog);
        }
        figures
    }

    /// Phase 8: check-ins at 50/s for `seconds / 2`, then again while clients register new
    /// accounts 40 at a time, as fast as the server answers, hashed at the production cost
    /// (argon2id m=19 MiB, t=2): latency from each check-in's scheduled start, both times.
    /// Password hashing has a bounded pool of its own; this shows whether check-ins feel it.
    async fn registration_burst(&self, run: usize) -> BurstFigures {
        const RATE: f64 = 50.0;
        const WAVE: usize = 40;
        let production = safecheck::config::Argon2Params::default();
        let server = Server::serve(
            &self.env(&[
                ("SAFECHECK_ARGON2_MEMORY_KIB", production.memory_kib.to_string()),
                ("SAFECHECK_ARGON2_ITERATIONS", production.iterations.to_string()),
                ("SAFECHECK_REGISTER_MAX_PER_IP", "1000000".into()),
            ]),
            &self.log("serve-burst", run),
        )
        .await;
        let incident = self.incident(&server, &format!("registration burst, run {run}")).await;
        let url = format!("{}/v1/incidents/{incident}/check-ins", server.base);
        let seconds = (f64::from(self.seconds) / 2.0).min(self.users.len() as f64 / RATE / 2.0);
        let quiet = load::open_loop(&url, self.tokens.clone(), 0, RATE, seconds).await;
        let first_during = quiet.len();

        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let burst = {
            let (stop, url) = (stop.clone(), format!("{}/v1/auth/register", server.base));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut registered, mut busy, mut n) = (0, 0, 0);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let wave = (0..WAVE).map(|_| {
                        n += 1;
                        let body = json!({
                            "email": format!("burst{run}-{n}@example.org"),
                            "password": "a good long password",
                            "display_name": "Burst",
                        });
                        client.post(&url).json(&body).send()
                    });
                    for response in futures_util::future::join_all(wave).await {
                        match response.map(|r| r.status().as_u16()) {
                            Ok(201) => registered += 1,
                            Ok(503) => busy += 1,
                            other => panic!("a registration got {other:?}"),
                        }
                    }
                }
                (registered, busy)
            })
        };
        // The burst is under way before the first timed check-in.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = load::open_loop(&url, self.tokens.clone(), first_during, RATE, seconds).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (registered, busy) = burst.await.unwrap();
        let latencies = |sent: &[load::Sent]| {
            let mut ms: Vec<f64> = sent.iter().map(|s| s.latency.as_secs_f64() * 1000.0).collect();
            ms.sort_by(f64::total_cmp);
            ms
        };
        let (quiet_ms, during_ms) = (latencies(&quiet), latencies(&during));
        BurstFigures {
            rate: RATE,
            quiet_p50_ms: percentile(&quiet_ms, 0.50),
            quiet_p99_ms: percentile(&quiet_ms, 0.99),
            burst_p50_ms: percentile(&during_ms, 0.50),
            burst_p99_ms: percentile(&during_ms, 0.99),
            burst_failed: during.iter().filter(|s| s.status != 201).count(),
            registered,
            busy,
        }
    }

    /// Phase 7: check-ins at 100/s while `backlog` emails of the people lane wait (reminders,
    /// which delivery takes before a large activation's prompt emails), against a server that
    /// delivers: each 201 to its contacts' emails, which the outbox's lanes send first.
    async fn behind_backlog(&self, run: usize) -> BacklogFigures {
        const RATE: f64 = 100.0;
        let (url, backlog) = (self.db.url.clone(), self.backlog);
        let started = Instant::now();
        tokio::task::spawn_blocking(move || {
            seed::settle_outbox(&url);
            seed::queued_reminder_emails(&url, backlog);
        })
        .await
        .unwrap();
        println!("queued {backlog} reminder emails in {:.1} s", started.elapsed().as_secs_f64());
        let server = Server::serve(
            &self.env(&[("SAFECHECK_SMTP_URL", self.sink.url())]),
            &self.log("serve-backlog", run),
        )
        .await;
        let incident = self.incident(&server, &format!("behind a backlog, run {run}")).await;
        self.sink.reset();
        let seconds = f64::from(self.seconds).min(self.users.len() as f64 / RATE);
        let url = format!("{}/v1/incidents/{incident}/check-ins", server.base);
        let sent = load::open_loop(&url, self.tokens.clone(), 0, RATE, seconds).await;
        let ok: Vec<&load::Sent> = sent.iter().filter(|s| s.status == 201).collect();
        let contacts: Vec<(Instant, String)> = ok
            .iter()
            .flat_map(|s| (0..CONTACTS_PER_USER).map(move |k| (s.done_at, seed::contact_email(s.user, k))))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut to_email = Vec::with_capacity(contacts.len());
        let mut missing = contacts.len();
        while Instant::now() < deadline {
            to_email.clear();
            for (done_at, email) in &contacts {
                if let Some(at) = self.sink.arrivals_for(email).first() {
                    to_email.push(at.saturating_duration_since(*done_at).as_secs_f64());
                }
            }
            missing = contacts.len() - to_email.len();
            if missing == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let url = self.db.url.clone();
        let backlog_left = tokio::task::spawn_blocking(move || seed::queued_reminders(&url)).await.unwrap();
        drop(server);
        let url = self.db.url.clone();
        tokio::task::spawn_blocking(move || seed::settle_outbox(&url)).await.unwrap();
        to_email.sort_by(f64::total_cmp);
        BacklogFigures {
            backlog,
            sent: sent.len(),
            failed: sent.len() - ok.len(),
            email_p50_s: percentile(&to_email, 0.50),
            email_p99_s: percentile(&to_email, 0.99),
            emails_missing: missing,
            backlog_left,
        }
    }

    /// Phases 1 and 2: wrk against a server that runs no jobs.
    async fn closed_loop(&self, run: usize, figures: &mut RunFigures) {
        let server = Server::serve(
            &self.env(&[("SAFECHECK_RUN_WORKERS", "false".into())]),
            &self.log("serve-wrk", run),
        )
        .await;
        let incident = self.incident(&server, &format!("wrk {run}")).await;
        let healthz = load::wrk(&format!("{}/healthz", server.base), None, &[], WRK_CONNECTIONS, 10);
        figures.healthz_rate = healthz.requests_per_sec;
        figures.healthz_p99_ms = healthz.p99_ms;
        println!("GET /healthz: {healthz:?}");
        let env = [
            ("BENCH_TOKENS", self.tokens_file.display().to_string()),
            ("BENCH_WRK_THREADS", "2".to_owned()),
            ("BENCH_PATH", format!("/v1/incidents/{incident}/check-ins")),
        ];
        let result = load::wrk(&server.base, Some(&self.script_file), &env, WRK_CONNECTIONS, self.seconds);
        println!("check-ins under wrk: {result:?}");
        if result.requests > 2 * self.users.len() as u64 {
            println!("WARNING: more check-ins than 2 per user; later ones notify nobody. Use more --users.");
        }
        figures.check_in_max_rate = result.requests_per_sec;
        figures.check_in_wrk_p99_ms = result.p99_ms;
        figures.check_in_non_2xx = result.non_2xx;
        figures.rss_wrk_mb = server.peak_rss_mb();
    }

    /// Phase 3: the check-in transaction without HTTP, on as many threads as the server has
    /// actix workers' worth of blocking threads busy (4), each with its own connection.
    /// Returns the rate and the statements per answer.
    async fn direct(&self, run: usize) -> (f64, f64) {
        let incident = {
            let server = Server::serve(
                &self.env(&[("SAFECHECK_RUN_WORKERS", "false".into())]),
                &self.log("serve-direct", run),
            )
            .await;
            self.incident(&server, &format!("direct {run}")).await
        };
        let count = DIRECT_CHECK_INS.min(self.users.len());
        let threads = 4;
        let started = Instant::now();
        let mut handles = Vec::new();
        for t in 0..threads {
            let url = self.db.url.clone();
            let users: Vec<String> = self.users[..count].iter().skip(t).step_by(threads).cloned().collect();
            let incident = incident.clone();
            handles.push(tokio::task::spawn_blocking(move || direct_check_ins(&url, &incident, &users)));
        }
        let mut statements = 0;
        for handle in handles {
            statements += handle.await.unwrap();
        }
        (count as f64 / started.elapsed().as_secs_f64(), statements as f64 / count as f64)
    }

    /// Phase 4: `safecheck worker` empties the outbox the direct check-ins filled.
    async fn delivery(&self, run: usize, figures: &mut RunFigures) {
        self.sink.reset();
        let expected = DIRECT_CHECK_INS.min(self.users.len()) * CONTACTS_PER_USER;
        let worker = Server::worker(
            &self.env(&[("SAFECHECK_SMTP_URL", self.sink.url()), ("SAFECHECK_JOBS", "delivery".into())]),
            &self.log("worker", run),
        );
        let arrived = self.sink.wait_for(expected, Duration::from_secs(600)).await;
        assert_eq!(arrived, expected, "the worker delivered every email");
        let (first, last) = self.sink.span().unwrap();
        figures.delivery_rate = (arrived - 1) as f64 / (last - first).as_secs_f64();
        figures.mean_email_bytes = self.sink.mean_size();
        figures.rss_worker_mb = worker.peak_rss_mb();
        println!(
            "delivery: {arrived} emails ({} bytes each on average) at {:.0}/s over {} connections",
            figures.mean_email_bytes,
            figures.delivery_rate,
            self.sink.connections()
        );
    }

    /// Phase 4b: the same worker delivering part of that outbox again to a sink whose replies
    /// come 20 ms late, then the minimal sender there, one command at a time and pipelined.
    async fn delivery_at_latency(&self, run: usize, figures: &mut RunFigures) {
        let url = self.db.url.clone();
        let requeued =
            tokio::task::spawn_blocking(move || seed::requeue_sent(&url, LATENCY_EMAILS)).await.unwrap();
        let sink = Sink::start_with_latency(SINK_LATENCY).await;
        let worker = Server::worker(
            &self.env(&[("SAFECHECK_SMTP_URL", sink.url()), ("SAFECHECK_JOBS", "delivery".into())]),
            &self.log("worker-latency", run),
        );
        let arrived = sink.wait_for(requeued, Duration::from_secs(600)).await;
        assert_eq!(arrived, requeued, "the worker delivered every email");
        drop(worker);
        let (first, last) = sink.span().unwrap();
        figures.latency_delivery_rate = (arrived - 1) as f64 / (last - first).as_secs_f64();
        let size = figures.mean_email_bytes.max(500);
        figures.latency_sender_rate =
            smtp::minimal_sender_rate(sink.addr, LATENCY_EMAILS, SMTP_CONNECTIONS, size).await;
        figures.latency_pipelined_rate =
            smtp::pipelined_sender_rate(sink.addr, LATENCY_EMAILS, SMTP_CONNECTIONS, size).await;
        println!(
            "at {} ms: delivery {:.0}/s, minimal sender {:.0}/s, pipelined {:.0}/s",
            SINK_LATENCY.as_millis(),
            figures.latency_delivery_rate,
            figures.latency_sender_rate,
            figures.latency_pipelined_rate
        );
    }

    /// Phase 6: fixed rates against a server that also delivers.
    async fn open_loops(&self, run: usize, figures: &mut RunFigures) {
        let url = self.db.url.clone();
        tokio::task::spawn_blocking(move || seed::settle_outbox(&url)).await.unwrap();
        let server = Server::serve(
            &self.env(&[("SAFECHECK_SMTP_URL", self.sink.url())]),
            &self.log("serve-open", run),
        )
        .await;
        let half = figures.check_in_max_rate / 2.0;
        for (rate, slot) in [(500.0, &mut figures.at_500), (half, &mut figures.at_half)] {
            let incident = self.incident(&server, &format!("open loop {rate:.0}/s, run {run}")).await;
            *slot = self.open_loop(&server, &incident, rate).await;
            println!("open loop at {rate:.0}/s: {slot:?}");
        }
        drop(server);
        // As BENCHMARKS.md recommends deploying: `serve` answering, `safecheck worker` delivering.
        let server = Server::serve(
            &self.env(&[
                ("SAFECHECK_SMTP_URL", self.sink.url()),
                ("SAFECHECK_JOBS", "housekeeping,fanout,expiry".into()),
            ]),
            &self.log("serve-split", run),
        )
        .await;
        let worker = Server::worker(
            &self.env(&[("SAFECHECK_SMTP_URL", self.sink.url()), ("SAFECHECK_JOBS", "delivery".into())]),
            &self.log("worker-split", run),
        );
        let incident = self.incident(&server, &format!("serve and worker at 500/s, run {run}")).await;
        figures.split_500 = self.open_loop(&server, &incident, 500.0).await;
        figures.split_worker_rss_mb = worker.peak_rss_mb();
        println!("serve and worker at 500/s: {:?}", figures.split_500);
    }

    async fn open_loop(&self, server: &Server, incident: &str, rate: f64) -> OpenLoopFigures {
        self.sink.reset();
        let seconds = f64::from(self.seconds).min(self.users.len() as f64 / rate);
        let url = format!("{}/v1/incidents/{incident}/check-ins", server.base);
        let sent = load::open_loop(&url, self.tokens.clone(), 0, rate, seconds).await;
        let ok: Vec<&load::Sent> = sent.iter().filter(|s| s.status == 201).collect();
        let mut latencies: Vec<f64> = sent.iter().map(|s| s.latency.as_secs_f64() * 1000.0).collect();
        latencies.sort_by(f64::total_cmp);
        let expected = ok.len() * CONTACTS_PER_USER;
        let arrived = self.sink.wait_for(expected, Duration::from_secs(120)).await;
        let mut to_email: Vec<f64> = Vec::with_capacity(expected);
        for s in &ok {
            for k in 0..CONTACTS_PER_USER {
                if let Some(at) = self.sink.arrivals_for(&seed::contact_email(s.user, k)).first() {
                    to_email.push(at.saturating_duration_since(s.done_at).as_secs_f64());
                }
            }
        }
        to_email.sort_by(f64::total_cmp);
        OpenLoopFigures {
            rate,
            sent: sent.len(),
            failed: sent.len() - ok.len(),
            p50_ms: percentile(&latencies, 0.50),
            p95_ms: percentile(&latencies, 0.95),
            p99_ms: percentile(&latencies, 0.99),
            email_p50_s: percentile(&to_email, 0.50),
            email_p99_s: percentile(&to_email, 0.99),
            emails_missing: expected.saturating_sub(arrived),
            rss_mb: server.peak_rss_mb(),
        }
    }

    /// A new incident over an empty stretch of ocean (its fan-out prompts nobody), with a
    /// prompt for every seeded user whose email was sent, as if they had been inside; then fresh
    /// planner statistics.
    async fn incident(&self, server: &Server, title: &str) -> String {
        let body = json!({
            "title": title,
            "area": { "type": "Circle", "center": { "lat": 0.0, "lon": -30.0 }, "radius_m": 1000.0 }
        });
        let url = format!("{}/v1/incidents", server.base);
        let created =
            crate::common::post_json(&reqwest::Client::new(), &url, &self.operator_token, &body).await;
        let id = created["id"].as_str().expect("incident created").to_owned();
        let (url, users, incident) = (self.db.url.clone(), self.users.clone(), id.clone());
        tokio::task::spawn_blocking(move || {
            seed::prompts(&url, &incident, &users);
            seed::analyze(&url);
        })
        .await
        .unwrap();
        id
    }
}

/// Records an answer for each user; returns how many statements that took.
fn direct_check_ins(url: &DatabaseUrl, incident: &str, users: &[String]) -> u64 {
    let mut conn = db::pool_connect(url).unwrap();
    let statements = Arc::new(AtomicU64::new(0));
    let counter = StatementCounter(statements.clone());
    match &mut conn {
        db::DbConn::Postgresql(c) => c.set_instrumentation(counter),
        db::DbConn::Sqlite(c) => c.set_instrumentation(counter),
    }
    // The per-user limit is counted in the transaction, as the server does; never reached here.
    let limit = safecheck::limits::RateLimiter::new("check_ins", 1_000, chrono::Duration::minutes(10));
    for user in users {
        let answer = Answer {
            incident_id: incident.to_owned(),
            user_id: user.clone(),
            status: SafetyStatus::Safe,
            message: CheckInMessage::parse("At home, all fine.").unwrap(),
        };
        let recorded =
            check_in::record(&mut conn, answer, HOURLY_CAP, Some(limit), &SystemClock, |_, _| Ok(()))
                .unwrap();
        assert_eq!(recorded.notifications_queued, CONTACTS_PER_USER);
    }
    statements.load(Ordering::Relaxed)
}

/// Counts the statements a connection sends.
struct StatementCounter(Arc<AtomicU64>);

impl diesel::connection::Instrumentation for StatementCounter {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        if let diesel::connection::InstrumentationEvent::StartQuery { .. } = event {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}
