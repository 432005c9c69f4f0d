//! Check-in and delivery benchmark, each figure beside its ceiling:
//!
//! 1. `GET /healthz` under wrk: what HTTP alone costs here (the ceiling for 2).
//! 2. Check-ins under wrk (closed loop, 32 connections): the highest sustained rate. Each user
//!    has 5 contacts, so each answer writes 5 outbox rows. The server runs no jobs.
//! 3. The same check-in transaction called directly on the database, no HTTP (the ceiling
//!    for 2); it also fills the outbox for 4.
//! 4. `safecheck worker` delivering that outbox to the SMTP sink: emails/s.
//! 5. A minimal SMTP sender to the same sink: its own accept rate (the ceiling for 4).
//!    Then 4 and 5 again, 3,000 emails, against a sink whose replies come 20 ms late (a relay
//!    across a network): the worker, beside what 16 connections allow at 4 round trips a
//!    message, and the minimal sender one command at a time and pipelined (RFC 2920).
//! 6. Check-ins at fixed open-loop rates (500/s, and half of 2's rate) against a server that
//!    also delivers: latency p50/p95/p99 from each request's scheduled start, and from each 201
//!    to its emails arriving at the sink. Then 500/s again as BENCHMARKS.md recommends deploying:
//!    `serve` answering and a separate `safecheck worker` delivering.
//! 7. Check-ins at 100/s while `--backlog` emails of the people lane (default 1,000,000
//!    reminders, which delivery takes before a large activation's prompt emails) wait: each 201 to
//!    its contacts' emails, which the outbox's lanes send first; and how much of the backlog was
//!    still waiting at the end.
//! 8. Check-ins at 50/s, then again during a burst of registrations hashed at the production
//!    argon2 cost (40 at a time, as fast as the server answers): p50/p99 both times, and how
//!    many registrations were made or refused as busy (503 `password_hashing`).
//!
//! Peak RSS of each server process is read from /proc. `--runs` repeats 1-6 on fresh incidents
//! and reports medians.
//!
//! cargo bench --bench checkins -- --backend sqlite|postgres [--users 30000] [--runs 3] [--backlog 1000000]
//!     [--only delivery]  (phases 3, 4, 5 and 4b; the table's other rows are then empty)

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly")]

#[path = "../common/mod.rs"]
mod common;

mod load;
mod phases;
mod seed;

use common::{BenchDb, flag_or, median};
use phases::{Bench, RunFigures};

#[tokio::main]
async fn main() {
    let backend: String = flag_or("--backend", "sqlite".to_owned());
    let users: usize = flag_or("--users", 30_000);
    let runs: usize = flag_or("--runs", 3);
    let seconds: u32 = flag_or("--seconds", 20);
    let backlog: usize = flag_or("--backlog", 1_000_000);
    let delivery_only = flag_or("--only", String::new()) == "delivery";
    let db = BenchDb::create(&backend);
    println!("backend: {backend}; users: {users} with 5 contacts each; runs: {runs}; {seconds} s per load");
    let bench = Bench::prepare(db, users, seconds, backlog).await;
    let mut figures: Vec<RunFigures> = Vec::new();
    for run in 1..=runs {
        println!("--- run {run} of {runs}");
        let figures_of_run = bench.run(run, delivery_only).await;
        println!("{figures_of_run:#?}");
        figures.push(figures_of_run);
    }
    report(&backend, &figures);
}

/// The medians, as markdown rows for BENCHMARKS.md.
fn report(backend: &str, runs: &[RunFigures]) {
    let m = |f: fn(&RunFigures) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let n = runs.len();
    println!("\nmedians of {n} runs, backend {backend}:\n");
    println!("| backend | figure | value | ceiling | ratio |");
    println!("|---|---|---|---|---|");
    let rate = m(|r| r.check_in_max_rate);
    println!(
        "| {backend} | check-ins/s, wrk 32 connections | {rate:.0} | GET /healthz {:.0}/s | {:.2} |",
        m(|r| r.healthz_rate),
        rate / m(|r| r.healthz_rate)
    );
    println!(
        "| {backend} | check-ins/s, same | {rate:.0} | the transaction alone, {:.0}/s | {:.2} |",
        m(|r| r.direct_rate),
        rate / m(|r| r.direct_rate)
    );
    println!(
        "| {backend} | statements per answer in the transaction alone (BEGIN and COMMIT included) | {:.1} | — | — |",
        m(|r| r.statements_per_answer)
    );
    for (label, pick) in [
        ("500/s", (|r: &RunFigures| r.at_500.clone()) as fn(&RunFigures) -> phases::OpenLoopFigures),
        ("half the highest rate", |r: &RunFigures| r.at_half.clone()),
        ("500/s, serve + a separate worker", |r: &RunFigures| r.split_500.clone()),
    ] {
        let figs: Vec<phases::OpenLoopFigures> = runs.iter().map(pick).collect();
        let mm = |f: fn(&phases::OpenLoopFigures) -> f64| median(&figs.iter().map(f).collect::<Vec<_>>());
        println!(
            "| {backend} | check-in latency at {label} ({:.0}/s): p50 / p95 / p99 | {:.1} / {:.1} / {:.1} ms | GET /healthz p99 under wrk {:.1} ms | — |",
            mm(|f| f.rate),
            mm(|f| f.p50_ms),
            mm(|f| f.p95_ms),
            mm(|f| f.p99_ms),
            m(|r| r.healthz_p99_ms)
        );
        println!(
            "| {backend} | 201 → email at the sink at {label}: p50 / p99 | {:.2} / {:.2} s | — | — |",
            mm(|f| f.email_p50_s),
            mm(|f| f.email_p99_s)
        );
        println!(
            "| {backend} | at {label}: check-ins sent, not 201, emails missing after 120 s | {:.0}, {:.0}, {:.0} | —, 0, 0 | — |",
            mm(|f| f.sent as f64),
            mm(|f| f.failed as f64),
            mm(|f| f.emails_missing as f64)
        );
        println!("| {backend} | peak RSS, serve, at {label} | {:.0} MB | 150 MB | — |", mm(|f| f.rss_mb));
    }
    let delivery = m(|r| r.delivery_rate);
    println!(
        "| {backend} | delivery, emails/s (16 connections) | {delivery:.0} | minimal sender, {:.0}/s | {:.2} |",
        m(|r| r.sink_rate),
        delivery / m(|r| r.sink_rate)
    );
    let latency_ms = phases::SINK_LATENCY.as_secs_f64() * 1000.0;
    let allowed = 16.0 / phases::ROUND_TRIPS / phases::SINK_LATENCY.as_secs_f64();
    let at_latency = m(|r| r.latency_delivery_rate);
    println!(
        "| {backend} | delivery, emails/s, each reply {latency_ms:.0} ms late (16 connections) | {at_latency:.0} | 16 connections / {:.0} round trips / {latency_ms:.0} ms = {allowed:.0}/s; minimal sender there {:.0}/s | {:.2} |",
        phases::ROUND_TRIPS,
        m(|r| r.latency_sender_rate),
        at_latency / allowed
    );
    println!(
        "| {backend} | minimal sender pipelined (RFC 2920: 2 round trips), {latency_ms:.0} ms late | {:.0} | one command at a time, {:.0}/s | {:.2} |",
        m(|r| r.latency_pipelined_rate),
        m(|r| r.latency_sender_rate),
        m(|r| r.latency_pipelined_rate) / m(|r| r.latency_sender_rate)
    );
    println!("| {backend} | peak RSS, serve under wrk | {:.0} MB | 150 MB | — |", m(|r| r.rss_wrk_mb));
    println!("| {backend} | peak RSS, worker delivering | {:.0} MB | 150 MB | — |", m(|r| r.rss_worker_mb));
    println!(
        "| {backend} | peak RSS, the separate worker at 500/s | {:.0} MB | 150 MB | — |",
        m(|r| r.split_worker_rss_mb)
    );
    let burst = |f: fn(&phases::BurstFigures) -> f64| {
        median(&runs.iter().map(|r| f(&r.registration_burst)).collect::<Vec<_>>())
    };
    println!(
        "| {backend} | check-in p50 / p99 at {:.0}/s during a registration burst (production argon2) | {:.1} / {:.1} ms | the same rate without: {:.1} / {:.1} ms | — |",
        burst(|b| b.rate),
        burst(|b| b.burst_p50_ms),
        burst(|b| b.burst_p99_ms),
        burst(|b| b.quiet_p50_ms),
        burst(|b| b.quiet_p99_ms)
    );
    println!(
        "| {backend} | during that burst: check-ins not 201; accounts registered; registrations refused busy (503) | {:.0}; {:.0}; {:.0} | 0; —; — | — |",
        burst(|b| b.burst_failed as f64),
        burst(|b| b.registered as f64),
        burst(|b| b.busy as f64)
    );
    let backlog = runs.first().map_or(0, |r| r.behind_backlog.backlog);
    if backlog > 0 {
        println!(
            "| {backend} | 201 → email at 100/s behind {backlog} queued people-lane emails: p50 / p99 | {:.2} / {:.2} s | — | — |",
            m(|r| r.behind_backlog.email_p50_s),
            m(|r| r.behind_backlog.email_p99_s)
        );
        println!(
            "| {backend} | behind the backlog: check-ins sent, not 201, emails missing after 120 s; backlog still queued | {:.0}, {:.0}, {:.0}; {:.0} | —, 0, 0 | — |",
            m(|r| r.behind_backlog.sent as f64),
            m(|r| r.behind_backlog.failed as f64),
            m(|r| r.behind_backlog.emails_missing as f64),
            m(|r| r.behind_backlog.backlog_left as f64)
        );
    }
}
