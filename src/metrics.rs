//! Prometheus metrics: requests by route and status, their latency, and at each scrape the
//! outbox and fan-out figures read from the database.

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::group_commit::GroupCounts;
use crate::domain::NotificationState;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets, in seconds: from a cached read to a slow export.
const LATENCY_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// What the database says at scrape time.
#[derive(Debug, Default)]
pub struct OutboxSnapshot {
    /// Notifications by state, over all incidents; a state may come more than once (the
    /// outbox's rows and prompts' emails), its figures are added.
    pub notifications_by_state: Vec<(NotificationState, i64)>,
    /// Of those, the drills' (also by state): left out of `notifications`, in
    /// `exercise_notifications`.
    pub drill_notifications_by_state: Vec<(NotificationState, i64)>,
    /// When the oldest notification still waiting to be sent became due.
    pub oldest_due: Option<NaiveDateTime>,
    /// Per active incident: prompts created so far, whether the fan-out is complete, and
    /// whether it is a drill (labelled apart, so that real incidents' figures leave drills out).
    pub fanouts: Vec<(String, i64, bool, bool)>,
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    /// Scrapes set the database gauges and read them back: one at a time.
    render_lock: std::sync::Mutex<()>,
    requests: IntCounterVec,
    latency: HistogramVec,
    notifications: IntGaugeVec,
    drill_notifications: IntGaugeVec,
    oldest_due_age: prometheus::Gauge,
    fanout_prompts: IntGaugeVec,
    fanout_complete: IntGaugeVec,
    fanout_rows_read: IntCounter,
    answer_groups: GroupCounts,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("safecheck".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route pattern and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route pattern",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )?;
        let notifications = IntGaugeVec::new(
            Opts::new("notifications", "Notifications by state (drills' left out: exercise_notifications)"),
            &["state"],
        )?;
        let drill_notifications = IntGaugeVec::new(
            Opts::new("exercise_notifications", "Drills' notifications by state"),
            &["state"],
        )?;
        let oldest_due_age = prometheus::Gauge::new(
            "notifications_oldest_due_age_seconds",
            "How long the oldest notification waiting to be sent has been due (0 when none is)",
        )?;
        let fanout_prompts = IntGaugeVec::new(
            Opts::new("fanout_prompts", "Prompts created so far, per active incident"),
            &["incident_id", "exercise"],
        )?;
        let fanout_complete = IntGaugeVec::new(
            Opts::new("fanout_complete", "1 when the active incident's fan-out is complete"),
            &["incident_id", "exercise"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(notifications.clone()))?;
        registry.register(Box::new(drill_notifications.clone()))?;
        registry.register(Box::new(oldest_due_age.clone()))?;
        registry.register(Box::new(fanout_prompts.clone()))?;
        let fanout_rows_read = IntCounter::new(
            "fanout_location_rows_read_total",
            "Location rows this process's fan-outs read (each once per activation)",
        )?;
        registry.register(Box::new(fanout_complete.clone()))?;
        registry.register(Box::new(fanout_rows_read.clone()))?;
        let answer_groups = GroupCounts::new()?;
        for counter in [&answer_groups.groups, &answer_groups.writes, &answer_groups.failed_groups] {
            registry.register(Box::new(counter.clone()))?;
        }
        #[cfg(target_os = "linux")]
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(Self {
            registry,
            render_lock: std::sync::Mutex::new(()),
            requests,
            latency,
            notifications,
            drill_notifications,
            oldest_due_age,
            fanout_prompts,
            fanout_complete,
            fanout_rows_read,
            answer_groups,
        })
    }

    /// Counts location rows a fan-out read.
    pub fn count_fanout_rows_read(&self, rows: u64) {
        self.fanout_rows_read.inc_by(rows);
    }

    /// The counters SQLite's answer writer adds to (shared: the same series).
    pub fn answer_groups(&self) -> GroupCounts {
        self.answer_groups.clone()
    }

    /// Counts one finished request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.latency.with_label_values(&[method, route]).observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with the database figures as of `now`.
    pub fn render(&self, snapshot: &OutboxSnapshot, now: NaiveDateTime) -> prometheus::Result<String> {
        let _one_at_a_time = self.render_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.notifications.reset();
        self.drill_notifications.reset();
        for state in NotificationState::ALL {
            self.notifications.with_label_values(&[state.as_str()]).set(0);
            self.drill_notifications.with_label_values(&[state.as_str()]).set(0);
        }
        for (state, count) in &snapshot.notifications_by_state {
            self.notifications.with_label_values(&[state.as_str()]).add(*count);
        }
        for (state, count) in &snapshot.drill_notifications_by_state {
            self.notifications.with_label_values(&[state.as_str()]).sub(*count);
            self.drill_notifications.with_label_values(&[state.as_str()]).add(*count);
        }
        let age = snapshot.oldest_due.map(|due| (now - due).num_milliseconds().max(0)).unwrap_or(0);
        self.oldest_due_age.set(age as f64 / 1000.0);
        self.fanout_prompts.reset();
        self.fanout_complete.reset();
        for (incident_id, prompts, complete, exercise) in &snapshot.fanouts {
            let labels = [incident_id.as_str(), if *exercise { "true" } else { "false" }];
            self.fanout_prompts.with_label_values(&labels).set(*prompts);
            self.fanout_complete.with_label_values(&labels).set(i64::from(*complete));
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
