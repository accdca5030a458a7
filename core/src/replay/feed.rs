//! Hands replayed events to the running pipeline: through its queue with overflow "block" (a
//! replay never drops), paced when `--realtime` asks, and stopping early on Ctrl-C or SIGTERM
//! so the plugins are still flushed, as a live run does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::Notify;

use super::pacer::Pacer;
use crate::event::Event;
use crate::pipeline::PipelineHandle;
use crate::stop_signal::StopSignal;

/// The replay's end of the pipeline queue.
pub struct Feed {
    runtime: Runtime,
    handle: PipelineHandle,
    pacer: Option<Pacer>,
    stop: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

impl Feed {
    /// A feed into `handle`; `max_gap` paces it in real time with gaps capped at that.
    pub fn new(handle: PipelineHandle, max_gap: Option<Duration>) -> std::io::Result<Feed> {
        // One worker: the signal listener runs on it even while nothing is handed over (while
        // the pipeline drains at the end, a Ctrl-C must still be heard).
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Notify::new());
        let (stop_flag, wake_feed) = (stop.clone(), wake.clone());
        let signal = StopSignal::install(&runtime);
        runtime.spawn(async move {
            signal.wait().await;
            stop_flag.store(true, Ordering::SeqCst);
            wake_feed.notify_one();
        });
        Ok(Feed { runtime, handle, pacer: max_gap.map(Pacer::new), stop, wake })
    }

    /// Whether Ctrl-C or SIGTERM asked the replay to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Hands `event` over once it is due, waiting for room in the queue. After a stop, only
    /// session ends still go through (at once), so plugins see every session close.
    pub fn send(&mut self, event: Event) {
        let due = self.pacer.as_mut().map(|p| p.due(event_ts(&event)));
        if let Some(due) = due.filter(|_| !self.stopped()) {
            let wake = &self.wake;
            self.runtime.block_on(async {
                tokio::select! {
                    () = tokio::time::sleep_until(due.into()) => {}
                    () = wake.notified() => {}
                }
            });
        }
        match event {
            Event::Messages { .. } if self.stopped() => {}
            // The runtime only when the queue is full: a message that finds room needs no
            // executor.
            Event::Messages { .. } => {
                if let Err(event) = self.handle.try_send_messages(event) {
                    self.wait_for_room(event);
                }
            }
            _ => self.handle.send_control(event),
        }
    }

    /// Queues `event` once the queue has room, unless a stop comes first: a plugin whose output
    /// nobody reads must not make the replay deaf to signals. An abandoned event is counted as
    /// dropped, as `run` counts what a stop leaves waiting.
    fn wait_for_room(&self, event: Event) {
        let (handle, wake) = (&self.handle, &self.wake);
        let messages = event.message_count() as u64;
        self.runtime.block_on(async {
            tokio::select! {
                _ = handle.send_messages(event) => {}
                () = wake.notified() => handle.count_dropped(messages),
            }
        });
    }

    /// Stops feeding: once the handle is gone the pipeline drains and shuts down. The signal
    /// listener stays, for the drain: [`Interrupt::heard`].
    pub fn close(self) -> Interrupt {
        drop(self.handle);
        Interrupt { _runtime: self.runtime, stop: self.stop }
    }
}

/// The signal listener of a closed feed.
pub struct Interrupt {
    _runtime: Runtime,
    stop: Arc<AtomicBool>,
}

impl Interrupt {
    /// Whether Ctrl-C, SIGTERM, SIGHUP or SIGQUIT came, before or since the feed closed.
    pub fn heard(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

fn event_ts(event: &Event) -> i64 {
    match event {
        Event::SessionStart { ts, .. }
        | Event::Messages { ts, .. }
        | Event::SessionEnd { ts, .. } => *ts,
    }
}
