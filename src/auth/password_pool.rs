//! The threads that hash and verify passwords, and only that. argon2 is slow and memory-hard by
//! design: on the blocking pool every database call shares, a burst of registrations or
//! guesses would queue check-ins behind it. Here at most `threads` hashes run at once (about
//! the number of cores), `queue` more wait, and beyond that the caller is told to come back.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::PasswordHasher;
use crate::config::PasswordPoolConfig;

type Job = Box<dyn FnOnce(&PasswordHasher) + Send>;

/// A bounded pool of password hashing threads.
pub struct PasswordPool {
    jobs: SyncSender<Job>,
    /// One per job running or queued: taken before any other work of the request, so that a
    /// request the pool cannot take is refused before it costs anything else.
    slots: Arc<Semaphore>,
}

/// A place in the pool, reserved: [`Slot::run`] cannot be refused for want of room.
pub struct Slot<'a> {
    pool: &'a PasswordPool,
    permit: OwnedSemaphorePermit,
}

/// Why a hash was not computed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every thread is busy and the queue is full: try again shortly.
    #[error("the password hashing pool is full")]
    Full,
    /// The pool stopped (the process is shutting down).
    #[error("the password hashing pool stopped")]
    Stopped,
}

impl PasswordPool {
    /// Starts `config.threads` threads; they end when the pool is dropped.
    pub fn start(hasher: PasswordHasher, config: PasswordPoolConfig) -> std::io::Result<Self> {
        let capacity = config.threads + config.queue;
        let (jobs, receiver) = sync_channel::<Job>(capacity);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..config.threads {
            let (receiver, hasher) = (receiver.clone(), hasher.clone());
            std::thread::Builder::new()
                .name(format!("password-{n}"))
                .spawn(move || work(&receiver, &hasher))?;
        }
        Ok(Self { jobs, slots: Arc::new(Semaphore::new(capacity)) })
    }

    /// A place for one job, or [`PoolError::Full`] at once when every thread is busy and the
    /// queue is full.
    pub fn reserve(&self) -> Result<Slot<'_>, PoolError> {
        let permit = self.slots.clone().try_acquire_owned().map_err(|_| PoolError::Full)?;
        Ok(Slot { pool: self, permit })
    }

    /// Runs `job` on a pool thread; [`PoolError::Full`] at once when the pool is saturated.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        self.reserve()?.run(job).await
    }

    /// Queues `job` in the place `permit` holds; the place is freed when the job ends.
    fn submit<T: Send + 'static>(
        &self,
        permit: OwnedSemaphorePermit,
        job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<T>, PoolError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |hasher| {
            let _permit = permit;
            // The caller may have gone (client hung up); nothing to tell then.
            let _ = done.send(job(hasher));
        });
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => PoolError::Full,
            TrySendError::Disconnected(_) => PoolError::Stopped,
        })?;
        Ok(result)
    }
}

impl Slot<'_> {
    /// Runs `job` in this place.
    pub async fn run<T: Send + 'static>(
        self,
        job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        self.pool.submit(self.permit, job)?.await.map_err(|_| PoolError::Stopped)
    }
}

fn work(receiver: &Mutex<Receiver<Job>>, hasher: &PasswordHasher) {
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let next = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match next {
            Ok(job) => job(hasher),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Argon2Params;

    #[tokio::test]
    async fn a_saturated_pool_refuses_at_once_and_serves_again_after() {
        let hasher =
            PasswordHasher::new(Argon2Params { memory_kib: 256, iterations: 1, parallelism: 1 }).unwrap();
        let pool = PasswordPool::start(hasher, PasswordPoolConfig { threads: 1, queue: 1 }).unwrap();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let first = pool
            .submit(pool.slots.clone().try_acquire_owned().unwrap(), move |_| {
                started.send(()).unwrap();
                gate.recv().unwrap();
                1
            })
            .unwrap();
        running.recv().unwrap();
        let second = pool.reserve().unwrap();
        assert!(matches!(pool.reserve(), Err(PoolError::Full)));
        let second = second.run(|_| 2);
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), 1);
        assert_eq!(second.await.unwrap(), 2);
        let hash = pool.run(|h| h.hash("correct horse").unwrap()).await.unwrap();
        assert!(pool.run(move |h| h.verify("correct horse", Some(&hash))).await.unwrap());
    }
}
