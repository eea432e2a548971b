//! The background tasks of an instance (expiring reservations, applying the change log to
//! the cache, housekeeping), stopped together on shutdown. A task checks for the stop
//! only between two rounds of work, so a round in progress (a transaction) always finishes.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a task waits on to learn that the instance is stopping.
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once a stop is asked for (never, if the [`Background`] was dropped without
    /// one: a dropped handle does not stop anything).
    pub async fn requested(&mut self) {
        loop {
            if *self.0.borrow_and_update() {
                return;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Every background task of one instance.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Default for Background {
    fn default() -> Self {
        Self::new()
    }
}

impl Background {
    /// No tasks yet.
    pub fn new() -> Self {
        Self { stop: watch::channel(false).0, tasks: Vec::new() }
    }

    /// Runs `task` until it returns; it is given the [`Shutdown`] to watch.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shutdown = Shutdown(self.stop.subscribe());
        self.tasks.push((name, tokio::spawn(task(shutdown))));
    }

    /// How many tasks run.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether none runs.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Aborts every task where it stands, as a killed process would lose them: no shutdown
    /// step runs (tests of crash recovery).
    pub fn kill(self) {
        for (_, task) in self.tasks {
            task.abort();
        }
    }

    /// Asks every task to stop and waits up to `within` for all of them together; a task
    /// still running then is aborted. Returns how many ended by themselves.
    pub async fn stop(self, within: Duration) -> usize {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + within;
        let mut ended = 0;
        for (name, mut task) in self.tasks {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(_) => ended += 1,
                Err(_) => {
                    tracing::warn!(task = name, "a background task did not stop in time; aborted");
                    task.abort();
                }
            }
        }
        ended
    }
}
