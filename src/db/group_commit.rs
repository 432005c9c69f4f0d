//! SQLite's one writer for answers: group commit.
//!
//! SQLite lets one transaction write at a time; every other writer sleeps in its busy handler
//! and tries again, and under load most of an answer's time went to those sleeps and to its own
//! commit. Here one thread, with a connection of its own, takes the answers in the order they
//! came and writes as many as have arrived into one transaction: each in a savepoint of its own,
//! so one refused (a 409, a 422, a 429) rolls back only itself. Nobody is answered before the
//! transaction that holds their answer has committed. If that commit fails, every answer of the
//! group is written again alone, on a new connection, and each is answered with its own outcome.
//!
//! The queue is bounded: when it is full the caller is told at once to come back
//! ([`GroupError::Full`], a 503 with `Retry-After`), rather than waiting behind it.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use prometheus::IntCounter;

use super::{DatabaseUrl, DbConn};

/// A group takes at most this many answers...
pub const MAX_GROUP: usize = 256;
/// ...and stops taking more this long after its first began, so that an answer is committed
/// well within [`crate::incidents::check_in::MAX_COMMIT_DELAY`] of the time it was given.
pub const MAX_GROUP_TIME: Duration = Duration::from_millis(50);

/// Why a write was not attempted.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// The queue is full: try again shortly. Nothing was written.
    #[error("the queue of answers to write is full")]
    Full,
    /// The writer stopped (the process is shutting down). Nothing was written.
    #[error("the writer stopped")]
    Stopped,
    /// The writer cannot open its connection. Nothing was written.
    #[error("the writer cannot reach the database")]
    Unavailable,
}

/// What the writer has done: metrics for operators, the bench and tests.
#[derive(Clone, Debug)]
pub struct GroupCounts {
    /// Transactions committed.
    pub groups: IntCounter,
    /// Writes committed in them, refused ones included.
    pub writes: IntCounter,
    /// Groups whose commit failed, each of their writes then done alone.
    pub failed_groups: IntCounter,
}

impl GroupCounts {
    pub fn new() -> prometheus::Result<Self> {
        Ok(Self {
            groups: IntCounter::new("answer_groups_total", "Transactions SQLite's answer writer committed")?,
            writes: IntCounter::new(
                "answer_group_writes_total",
                "Answers SQLite's answer writer committed in them, refused ones included",
            )?,
            failed_groups: IntCounter::new(
                "answer_groups_failed_total",
                "Groups of answers whose commit failed (each answer was then written alone)",
            )?,
        })
    }
}

/// The handle requests submit writes through; the thread ends when the last handle is dropped,
/// after the writes queued before.
#[derive(Clone)]
pub struct GroupWriter {
    jobs: SyncSender<Box<dyn Work>>,
    counts: GroupCounts,
}

impl GroupWriter {
    /// Starts the writing thread; `queue` writes may wait for it.
    pub fn start(url: DatabaseUrl, queue: usize, counts: GroupCounts) -> std::io::Result<Self> {
        let (jobs, receiver) = sync_channel::<Box<dyn Work>>(queue);
        let thread_counts = counts.clone();
        std::thread::Builder::new()
            .name("answer-writer".into())
            .spawn(move || Writer { url, conn: None, counts: thread_counts }.serve(&receiver))?;
        Ok(Self { jobs, counts })
    }

    /// Runs `write` in the writer's current transaction, in a savepoint of its own (a returned
    /// error rolls back only what `write` did), and returns its outcome once that transaction
    /// has committed. `write` may run more than once (again alone if the group's commit fails),
    /// so it must not have effects outside the connection.
    pub async fn run<T, E, F>(&self, write: F) -> Result<Result<T, E>, GroupError>
    where
        F: FnMut(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<diesel::result::Error> + Send + 'static,
    {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let job = Box::new(Pending { write, queued: Instant::now(), outcome: None, reply });
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => GroupError::Full,
            TrySendError::Disconnected(_) => GroupError::Stopped,
        })?;
        outcome.await.map_err(|_| GroupError::Stopped)?
    }

    pub fn counts(&self) -> &GroupCounts {
        &self.counts
    }
}

/// A write waiting for its group's commit.
trait Work: Send {
    /// When it was queued.
    fn queued(&self) -> Instant;
    /// Runs the write in a (nested) transaction of its own and keeps its outcome.
    fn run(&mut self, conn: &mut DbConn);
    /// Hands the kept outcome to the caller: its transaction committed.
    fn reply(self: Box<Self>);
    /// Tells the caller that nothing was written.
    fn refuse(self: Box<Self>, error: GroupError);
}

struct Pending<T, E, F> {
    write: F,
    queued: Instant,
    outcome: Option<Result<T, E>>,
    reply: tokio::sync::oneshot::Sender<Result<Result<T, E>, GroupError>>,
}

impl<T, E, F> Work for Pending<T, E, F>
where
    F: FnMut(&mut DbConn) -> Result<T, E> + Send,
    T: Send,
    E: From<diesel::result::Error> + Send,
{
    fn queued(&self) -> Instant {
        self.queued
    }

    fn run(&mut self, conn: &mut DbConn) {
        // An earlier run's outcome (in a group that then failed) never stands for this one.
        self.outcome = None;
        let write = &mut self.write;
        self.outcome = Some(conn.transaction(|conn| write(conn)));
    }

    fn reply(self: Box<Self>) {
        let Some(outcome) = self.outcome else {
            return self.refuse(GroupError::Unavailable);
        };
        // The caller may have gone (the client hung up); its answer stands all the same.
        let _ = self.reply.send(Ok(outcome));
    }

    fn refuse(self: Box<Self>, error: GroupError) {
        let _ = self.reply.send(Err(error));
    }
}

/// A write queued longer than this is refused unrun: its caller has given up long ago, and a
/// retry with the same idempotency key may already be running (keys are taken as abandoned
/// after a minute).
pub const MAX_QUEUED: Duration = Duration::from_secs(30);

/// A group still open this long after it began is not committed but written again answer by
/// answer, each with a fresh time: an answer's time and its commit stay within
/// [`crate::incidents::check_in::MAX_COMMIT_DELAY`] (one second) of each other.
const MAX_BEFORE_COMMIT: Duration = Duration::from_millis(500);

/// The depth of the connection's transactions as diesel counts them: 0 outside one; an error
/// once diesel has lost track (a failed savepoint rollback, say).
fn depth(conn: &mut DbConn) -> diesel::QueryResult<u32> {
    let status = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
        DbConn::Postgresql(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
    };
    Ok(status.transaction_depth()?.map_or(0, |d| d.get()))
}

/// Runs `job` in the transaction open at depth `within`; an error if it panicked or left the
/// transactions other than it found them (its own savepoint not released nor rolled back, or
/// the whole transaction rolled back under it), so that nothing of what it shares a
/// transaction with is committed.
fn run_within(job: &mut Box<dyn Work>, conn: &mut DbConn, within: u32) -> diesel::QueryResult<()> {
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn)));
    if ran.is_err() {
        tracing::error!("a write panicked in the answer writer; its transaction is not committed");
        return Err(diesel::result::Error::RollbackTransaction);
    }
    match depth(conn)? {
        d if d == within => Ok(()),
        _ => Err(diesel::result::Error::RollbackTransaction),
    }
}

/// Begins a transaction that holds SQLite's write lock from its first statement
/// (`BEGIN IMMEDIATE`). A deferred one would take a snapshot at the first read (the incident's
/// row), and could then not write if another process had committed since (`SQLITE_BUSY`, at
/// once, without waiting); and an answer's time is taken once the lock is held.
fn begin(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Postgresql(c) => AnsiTransactionManager::begin_transaction(c),
    }
}

/// Commits, and makes sure diesel agrees that no transaction is left open.
fn commit(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::commit_transaction(c)?,
        DbConn::Postgresql(c) => AnsiTransactionManager::commit_transaction(c)?,
    }
    match depth(conn)? {
        0 => Ok(()),
        _ => Err(diesel::result::Error::RollbackTransaction),
    }
}

/// Under a flood of answers the writer would go from one group to the next without ever
/// letting go of SQLite's write lock, and every other writer (the delivery worker, a fan-out,
/// location updates, in this process or another) would sleep in its busy handler until its
/// timeout. Those look again every 100 ms at most (SQLite's busy handler), so after holding
/// the lock this long without a pause...
const HOLD_AT_MOST: Duration = Duration::from_millis(100);
/// ...the writer steps aside for this long: at most ~13% of its time under a flood, and the
/// other writers find the lock free at about one look in eight.
const STEP_ASIDE: Duration = Duration::from_millis(15);

/// How long the writer has held the lock without a pause.
struct Pacing {
    busy_since: Instant,
}

impl Pacing {
    /// Before a group: `idle` says the writer had nothing to do until now.
    fn before_group(&mut self, idle: bool) {
        if idle {
            self.busy_since = Instant::now();
        } else if self.busy_since.elapsed() >= HOLD_AT_MOST {
            std::thread::sleep(STEP_ASIDE);
            self.busy_since = Instant::now();
        }
    }
}

struct Writer {
    url: DatabaseUrl,
    conn: Option<DbConn>,
    counts: GroupCounts,
}

impl Writer {
    fn serve(mut self, receiver: &Receiver<Box<dyn Work>>) {
        let mut pacing = Pacing { busy_since: Instant::now() };
        loop {
            let (first, idle) = match receiver.try_recv() {
                Ok(job) => (job, false),
                Err(TryRecvError::Empty) => match receiver.recv() {
                    Ok(job) => (job, true),
                    Err(_) => return,
                },
                Err(TryRecvError::Disconnected) => return,
            };
            pacing.before_group(idle);
            let Some(first) = fresh(first) else { continue };
            let Some(conn) = self.connection() else {
                first.refuse(GroupError::Unavailable);
                // Whatever else waits now would meet the same fate; refuse it too.
                while let Ok(job) = receiver.try_recv() {
                    job.refuse(GroupError::Unavailable);
                }
                continue;
            };
            if let Err(error) = begin(conn) {
                // Another process held the lock past the busy timeout: nothing was tried.
                tracing::warn!(%error, "the answer writer could not begin a transaction");
                self.conn = None;
                first.refuse(GroupError::Unavailable);
                continue;
            }
            let (group, committed) = group(conn, first, receiver);
            match committed {
                Ok(()) => {
                    self.counts.groups.inc();
                    self.counts.writes.inc_by(group.len() as u64);
                    group.into_iter().for_each(|job| job.reply());
                }
                Err(error) => self.alone(group, &error),
            }
        }
    }

    /// The group did not commit (or could not be trusted to): nothing of it was written. The
    /// connection is dropped (rolling back whatever it still had open), and each write is done
    /// again alone on a new one, in its own transaction, and answered with its own outcome.
    fn alone(&mut self, group: Vec<Box<dyn Work>>, error: &diesel::result::Error) {
        tracing::warn!(%error, writes = group.len(), "a group of answers did not commit; writing each alone");
        self.counts.failed_groups.inc();
        self.conn = None;
        for mut job in group {
            let Some(conn) = self.connection() else {
                job.refuse(GroupError::Unavailable);
                continue;
            };
            let committed =
                begin(conn).and_then(|()| run_within(&mut job, conn, 1)).and_then(|()| commit(conn));
            match committed {
                Ok(()) => {
                    self.counts.groups.inc();
                    self.counts.writes.inc();
                    job.reply();
                }
                Err(error) => {
                    tracing::warn!(%error, "an answer written alone did not commit");
                    self.conn = None;
                    job.refuse(GroupError::Unavailable);
                }
            }
        }
    }

    /// The writer's connection, opened again if it was lost.
    fn connection(&mut self) -> Option<&mut DbConn> {
        if self.conn.is_none() {
            match super::pool_connect(&self.url) {
                Ok(conn) => self.conn = Some(conn),
                Err(error) => {
                    tracing::error!(%error, "the answer writer cannot open its connection");
                    // Not in a tight loop while the database is away.
                    std::thread::sleep(Duration::from_millis(100));
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }
}

/// `job`, unless it waited too long to be run (then refused).
fn fresh(job: Box<dyn Work>) -> Option<Box<dyn Work>> {
    if job.queued().elapsed() > MAX_QUEUED {
        job.refuse(GroupError::Unavailable);
        return None;
    }
    Some(job)
}

/// Runs `first`, then whatever else waits (within [`MAX_GROUP`] and [`MAX_GROUP_TIME`]), each
/// in a savepoint of the transaction begun on `conn`, and commits. The group is returned with
/// whether it committed; on an error the transaction may still be open.
fn group(
    conn: &mut DbConn,
    first: Box<dyn Work>,
    receiver: &Receiver<Box<dyn Work>>,
) -> (Vec<Box<dyn Work>>, diesel::QueryResult<()>) {
    let began = Instant::now();
    let mut group = vec![first];
    let mut next = 0;
    loop {
        while next < group.len() {
            if let Err(error) = run_within(&mut group[next], conn, 1) {
                return (group, Err(error));
            }
            next += 1;
        }
        if group.len() >= MAX_GROUP || began.elapsed() >= MAX_GROUP_TIME {
            break;
        }
        match receiver.try_recv() {
            // A stale one is refused, and the next looked for.
            Ok(job) => group.extend(fresh(job)),
            Err(_) => break,
        }
    }
    if began.elapsed() > MAX_BEFORE_COMMIT {
        return (group, Err(diesel::result::Error::RollbackTransaction));
    }
    let committed = commit(conn);
    (group, committed)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;

    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    use diesel::{QueryableByName, RunQueryDsl};

    use super::*;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn database() -> (tempfile::TempDir, DatabaseUrl) {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("writer.db"));
        let mut conn = super::super::pool_connect(&url).unwrap();
        conn.batch_execute(
            "CREATE TABLE t (n INTEGER PRIMARY KEY); CREATE TABLE parent (id INTEGER PRIMARY KEY); \
             CREATE TABLE child (id INTEGER PRIMARY KEY, \
               parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        (dir, url)
    }

    fn count(url: &DatabaseUrl, table: &str) -> i64 {
        let mut conn = super::super::pool_connect(url).unwrap();
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n
    }

    fn insert(table: &'static str, n: i64) -> impl FnMut(&mut DbConn) -> Result<(), diesel::result::Error> {
        move |conn: &mut DbConn| {
            let sql = match table {
                "t" => format!("INSERT INTO t (n) VALUES ({n})"),
                "panic" => panic!("a write that panics"),
                _ => format!("INSERT INTO child (id, parent) VALUES ({n}, 99)"),
            };
            diesel::sql_query(sql).execute(conn).map(|_| ())
        }
    }

    /// Submits a write that holds the writer until `release` is sent, and returns once the
    /// writer runs it (the queue is empty then).
    async fn hold(writer: &GroupWriter) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (release, gate) = channel::<()>();
        let (started, running) = channel::<()>();
        let held = writer.clone();
        let handle = tokio::spawn(async move {
            let outcome = held
                .run(move |_: &mut DbConn| -> Result<(), diesel::result::Error> {
                    let _ = started.send(());
                    let _ = gate.recv();
                    Ok(())
                })
                .await;
            outcome.unwrap().unwrap();
        });
        tokio::task::spawn_blocking(move || running.recv().unwrap()).await.unwrap();
        (release, handle)
    }

    /// Queues `writes` behind a held writer, releases it, and returns their outcomes in order.
    async fn queued_behind_a_hold(
        writer: &GroupWriter,
        writes: Vec<(&'static str, i64)>,
    ) -> Vec<Result<Result<(), diesel::result::Error>, GroupError>> {
        let (release, held) = hold(writer).await;
        let mut handles = Vec::new();
        for (table, n) in writes {
            let writer = writer.clone();
            handles.push(tokio::spawn(async move { writer.run(insert(table, n)).await }));
            // In order: each is in the queue before the next is submitted.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        release.send(()).unwrap();
        // A failed group runs the hold again: it must not wait then.
        drop(release);
        held.await.unwrap();
        let mut outcomes = Vec::new();
        for handle in handles {
            outcomes.push(handle.await.unwrap());
        }
        outcomes
    }

    #[tokio::test]
    async fn writes_that_wait_together_commit_together_and_a_refusal_rolls_back_only_itself() {
        let (_dir, url) = database();
        let writer = GroupWriter::start(url.clone(), 64, GroupCounts::new().unwrap()).unwrap();
        let outcomes = queued_behind_a_hold(&writer, vec![("t", 1), ("t", 2), ("t", 1), ("t", 3)]).await;
        let outcomes: Vec<_> = outcomes.into_iter().map(Result::unwrap).collect();
        assert!(outcomes[0].is_ok() && outcomes[1].is_ok() && outcomes[3].is_ok());
        assert!(outcomes[2].is_err(), "the second write of key 1 is refused");
        assert_eq!(count(&url, "t"), 3);
        // The hold and the four writes: one transaction.
        assert_eq!(writer.counts().groups.get(), 1);
        assert_eq!(writer.counts().writes.get(), 5);
        assert_eq!(writer.counts().failed_groups.get(), 0);
    }

    #[tokio::test]
    async fn a_group_whose_commit_fails_writes_each_alone_and_answers_each_with_its_own_outcome() {
        let (_dir, url) = database();
        let writer = GroupWriter::start(url.clone(), 64, GroupCounts::new().unwrap()).unwrap();
        // The child row breaks a deferred foreign key: its savepoint is released, and the
        // group's COMMIT fails.
        let outcomes = queued_behind_a_hold(&writer, vec![("t", 1), ("child", 1), ("t", 2)]).await;
        assert!(matches!(outcomes[0], Ok(Ok(()))) && matches!(outcomes[2], Ok(Ok(()))));
        // Its own commit fails again alone: nothing of it is written, and its caller is told so.
        assert!(matches!(outcomes[1], Err(GroupError::Unavailable)));
        assert_eq!((count(&url, "t"), count(&url, "child")), (2, 0));
        assert_eq!(writer.counts().failed_groups.get(), 1);
        // The writer goes on in groups afterwards.
        writer.run(insert("t", 3)).await.unwrap().unwrap();
        assert_eq!(count(&url, "t"), 3);
    }

    #[tokio::test]
    async fn a_write_that_panics_is_refused_and_the_others_are_written_alone() {
        let (_dir, url) = database();
        let writer = GroupWriter::start(url.clone(), 64, GroupCounts::new().unwrap()).unwrap();
        let outcomes = queued_behind_a_hold(&writer, vec![("t", 1), ("panic", 0), ("t", 2)]).await;
        assert!(matches!(outcomes[0], Ok(Ok(()))) && matches!(outcomes[2], Ok(Ok(()))));
        assert!(matches!(outcomes[1], Err(GroupError::Unavailable)));
        assert_eq!(count(&url, "t"), 2);
        assert_eq!(writer.counts().failed_groups.get(), 1);
        // The thread lives on.
        writer.run(insert("t", 3)).await.unwrap().unwrap();
        assert_eq!(count(&url, "t"), 3);
    }

    /// Under a flood the writer steps aside now and then, so that another connection's write
    /// gets the lock within its busy timeout instead of failing with "database is locked".
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_of_writes_leaves_room_for_another_writer() {
        let (_dir, url) = database();
        let writer = GroupWriter::start(url.clone(), 128, GroupCounts::new().unwrap()).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut feeders = Vec::new();
        // More writers waiting than a group takes in its 50 ms: the queue never runs dry.
        for f in 0..64_i64 {
            let (writer, stop) = (writer.clone(), stop.clone());
            feeders.push(tokio::spawn(async move {
                let mut n = f * 1_000_000;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let mut write = insert("t", n);
                    let slow = move |conn: &mut DbConn| {
                        // Each write holds the lock a while: the writer never runs dry.
                        std::thread::sleep(Duration::from_millis(2));
                        write(conn)
                    };
                    writer.run(slow).await.unwrap().unwrap();
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let other = url.clone();
        let written = tokio::task::spawn_blocking(move || {
            // With the pool's busy timeout (10 s), as every other writer has.
            let mut conn = super::super::pool_connect(&other).unwrap();
            diesel::sql_query("INSERT INTO t (n) VALUES (-1)").execute(&mut conn).map(|_| ())
        })
        .await
        .unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for feeder in feeders {
            feeder.await.unwrap();
        }
        assert!(written.is_ok(), "the other writer got no turn: {written:?}");
        assert!(writer.counts().groups.get() > 1);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_nothing_of_the_refused_write_is_done() {
        let (_dir, url) = database();
        let writer = GroupWriter::start(url.clone(), 1, GroupCounts::new().unwrap()).unwrap();
        let (release, held) = hold(&writer).await;
        let queued = {
            let writer = writer.clone();
            tokio::spawn(async move { writer.run(insert("t", 1)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(writer.run(insert("t", 2)).await, Err(GroupError::Full)));
        release.send(()).unwrap();
        held.await.unwrap();
        queued.await.unwrap().unwrap().unwrap();
        assert_eq!(count(&url, "t"), 1);
    }
}
