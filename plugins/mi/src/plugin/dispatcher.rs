//! The workers that send commands, so the pipeline never waits on the network.
//!
//! Commands wait in a bounded queue (full: refused and counted, traffic unaffected) for one of
//! `in_flight` worker threads. Commands for different targets go out concurrently, so a phone
//! that never answers holds one worker until OpenSIPS's 408 while the others go on; commands for
//! the same target go out one at a time, in the order they fired, so a lamp never ends on a
//! stale count. At shutdown the queue is closed and the workers finish what is queued and in
//! flight until a deadline; whatever is left is counted as not sent.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ctiproxy_plugin_api::{Host, Level};

use super::action::Request;
use super::outcome::classify;
use super::repeats::Repeats;
use super::tally::{Event, Refusal, Tally};
use crate::client::Client;

/// One command to send.
#[derive(Debug)]
pub struct Job {
    /// The rule's index.
    pub rule: usize,
    /// The rule's name, for the log.
    pub rule_name: Arc<str>,
    /// The request.
    pub request: Request,
    /// The CTI message that caused it, for the log.
    pub cause: String,
}

/// The queue and what is in flight, under one lock.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<Job>,
    /// Targets in flight, with the rule of each (counted as not sent if the deadline passes).
    busy: HashMap<String, usize>,
    closed: bool,
    /// Past the shutdown deadline: workers stop and report nothing more.
    abandoned: bool,
}

struct Shared {
    client: Client,
    tally: Arc<Tally>,
    host: Host,
    repeats: Arc<Repeats>,
    capacity: usize,
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The queue and its workers.
pub struct Dispatcher {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Dispatcher {
    /// Starts `in_flight` workers behind a queue of `capacity` commands.
    pub fn start(
        client: Client,
        capacity: usize,
        in_flight: usize,
        tally: Arc<Tally>,
        host: Host,
        repeats: Arc<Repeats>,
    ) -> std::io::Result<Dispatcher> {
        let shared = Arc::new(Shared {
            client,
            tally,
            host,
            repeats,
            capacity,
            queue: Mutex::default(),
            changed: Condvar::new(),
        });
        let workers = (0..in_flight)
            .map(|slot| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("mi-worker-{slot}"))
                    .spawn(move || work(&shared))
            })
            .collect::<Result<_, _>>()?;
        Ok(Dispatcher { shared, workers })
    }

    /// Queues a command, or refuses it when the queue is full.
    pub fn submit(&self, job: Job) -> Result<(), Refusal> {
        let mut queue = self.shared.lock();
        if queue.closed {
            return Err(Refusal::new("shutting down", "the plugin is shutting down"));
        }
        if queue.waiting.len() >= self.shared.capacity {
            let detail = format!(
                "{} commands are waiting already; {} not sent",
                queue.waiting.len(),
                job.request.target
            );
            return Err(Refusal::new("queue full", detail));
        }
        queue.waiting.push_back(job);
        drop(queue);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Closes the queue and waits up to `deadline` for the workers; returns how many commands
    /// were given up (queued or in flight at the deadline).
    pub fn finish(&mut self, deadline: Duration) -> u64 {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        // A deadline too far for the clock is no deadline.
        let until = Instant::now().checked_add(deadline);
        let before_deadline = || until.is_none_or(|until| Instant::now() < until);
        while before_deadline() && self.workers.iter().any(|w| !w.is_finished()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut guard = self.shared.lock();
        let queue = &mut *guard;
        queue.abandoned = true;
        let rules: Vec<usize> = queue
            .waiting
            .drain(..)
            .map(|job| job.rule)
            .chain(queue.busy.drain().map(|(_, rule)| rule))
            .collect();
        drop(guard);
        self.shared.changed.notify_all();
        for &rule in &rules {
            self.shared.tally.record(rule, Event::Abandoned);
        }
        // Finished workers are joined; one still waiting on a reply is left to end on its own.
        for worker in std::mem::take(&mut self.workers) {
            if worker.is_finished() {
                let _ = worker.join();
            }
        }
        rules.len() as u64
    }
}

impl Drop for Dispatcher {
    /// An instance dropped without a shutdown (a later plugin of the pipeline failed to build)
    /// must not leave workers waiting for ever: they drain what is queued and stop.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}

/// The next job whose target is not in flight, marked busy; `None` once closed and drained.
fn next(shared: &Shared) -> Option<Job> {
    let mut queue = shared.lock();
    loop {
        if queue.abandoned {
            return None;
        }
        let free =
            queue.waiting.iter().position(|job| !queue.busy.contains_key(&job.request.target));
        if let Some(at) = free {
            let job = queue.waiting.remove(at).expect("position is in range");
            queue.busy.insert(job.request.target.clone(), job.rule);
            return Some(job);
        }
        if queue.closed && queue.waiting.is_empty() {
            return None;
        }
        queue = shared.changed.wait(queue).unwrap_or_else(PoisonError::into_inner);
    }
}

fn work(shared: &Shared) {
    while let Some(job) = next(shared) {
        let result = shared.client.command(&job.request.method, job.request.params.clone());
        let still_ours = shared.lock().busy.remove(&job.request.target).is_some();
        shared.changed.notify_all();
        // After the deadline, the job was already counted as not sent.
        if !still_ours {
            return;
        }
        report(shared, &job, &result);
    }
}

fn report(shared: &Shared, job: &Job, result: &Result<crate::Reply, crate::Error>) {
    let what = format!("{} {}", job.request.method, job.request.target);
    match classify(&job.request.method, result) {
        Ok(detail) => {
            shared.tally.record(job.rule, Event::Succeeded);
            let message =
                format!("rule {}: {what}: {detail} (cause: {})", job.rule_name, job.cause);
            shared.host.log(Level::Debug, &message);
        }
        Err(reason) => {
            shared.tally.record(job.rule, Event::Failed(&reason));
            let error = match result {
                Err(e) => e.to_string(),
                Ok(reply) => reply.to_compact_json(),
            };
            let message =
                format!("rule {}: {what} failed: {error} (cause: {})", job.rule_name, job.cause);
            shared.repeats.log(&shared.host, job.rule, &reason, &message);
        }
    }
}
