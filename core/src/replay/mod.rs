//! `ctiproxy replay`: runs a configuration's pipeline over recorded traffic instead of live
//! sockets, so a pipeline (MI rules in dry-run, filters, statistics) can be tried on captures
//! before it meets production traffic.
//!
//! The inputs are told apart by content ([`detect`]): the save plugin's JSON-lines captures
//! ([`jsonl`]), replayed one after the other with their recorded times and flags, or one classic
//! ctisave pair ([`classic`]), rebuilt into one session by [`interleave`]. Either way recorded
//! events become whole sessions with unique ids ([`sessions`]) and go through the same queue
//! and pipeline thread as live traffic ([`feed`]), paced by [`pacer`] with `--realtime`.
//! Everything is streamed: memory is bounded by the configuration's `max_line_bytes`, not by
//! the size of a capture.

pub mod classic;
pub mod detect;
pub mod error;
pub mod feed;
pub mod frames;
pub mod interleave;
pub mod jsonl;
pub mod lines;
pub mod pacer;
pub mod progress;
pub mod record;
pub mod sessions;

use std::path::Path;
use std::time::Duration;

use indicatif::ProgressBar;

pub use detect::{plan, Plan};
pub use error::ReplayError;

use crate::budget::QueueLimits;
use crate::config::{Config, Overflow};
use crate::event::{now_micros, Event};
use crate::pipeline::{Pipeline, Report};
use classic::ClassicReader;
use feed::Feed;
use interleave::Pair;
use jsonl::JsonlReader;
use record::Record;
use sessions::{Sessions, CAPTURE_ENDED, REPLAY_STOPPED};

/// The default `--max-gap`.
pub const DEFAULT_MAX_GAP: Duration = Duration::from_secs(5);

/// How to replay.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Keep the recorded gaps between events instead of going as fast as possible.
    pub realtime: bool,
    /// With `realtime`, the longest wait between two events.
    pub max_gap: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { realtime: false, max_gap: DEFAULT_MAX_GAP }
    }
}

/// Replays `plan` through `pipeline` (built from `config`), then drains the pipeline and logs
/// its report as `run` does. The pipeline is drained and flushed even when a capture turns out
/// to be invalid part-way; the error is returned after that.
pub fn run(
    plan: &Plan,
    pipeline: Pipeline,
    config: &Config,
    options: Options,
) -> Result<Report, ReplayError> {
    let limits = QueueLimits { overflow: Overflow::Block, ..QueueLimits::of(&config.proxy) };
    let (handle, running) = pipeline.spawn(limits)?;
    let feed = Feed::new(handle, options.realtime.then_some(options.max_gap))?;
    let bar = progress::bar(progress::total_size(&plan.files()));
    let mut replay =
        Replay { feed, sessions: Sessions::default(), max_line: config.proxy.max_line_bytes, bar };
    let result = replay.plan(plan);
    let reason =
        if result.is_ok() && !replay.feed.stopped() { CAPTURE_ENDED } else { REPLAY_STOPPED };
    replay.close_sessions(reason);
    replay.bar.finish_and_clear();
    let interrupt = replay.feed.close();
    // A finished replay waits for all of its analysis, until a signal; then, like `run`, only
    // `shutdown_timeout_secs`.
    let deadline =
        crate::config::seconds_setting(config.proxy.shutdown_timeout_secs).unwrap_or(Duration::MAX);
    let report = running.join_unless(|| interrupt.heard(), deadline)?;
    crate::app::log_report(&report);
    result.map(|()| report)
}

/// A replay in progress.
struct Replay {
    feed: Feed,
    sessions: Sessions,
    max_line: usize,
    bar: ProgressBar,
}

impl Replay {
    fn plan(&mut self, plan: &Plan) -> Result<(), ReplayError> {
        match plan {
            Plan::Jsonl(files) => files.iter().try_for_each(|file| self.jsonl(file)),
            Plan::Pair { client, server } => self.pair(client, server),
        }
    }

    fn apply(&mut self, record: Record) {
        let feed = &mut self.feed;
        self.sessions.apply(record, &mut |event: Event| feed.send(event));
    }

    fn close_sessions(&mut self, reason: &str) {
        let feed = &mut self.feed;
        self.sessions.close_all(reason, &mut |event: Event| feed.send(event));
    }

    /// One JSON-lines capture; its sessions left open end with it.
    fn jsonl(&mut self, path: &Path) -> Result<(), ReplayError> {
        tracing::info!("Replaying {}.", path.display());
        let mut reader = JsonlReader::new(progress::open(path, &self.bar)?, path, self.max_line);
        while !self.feed.stopped() {
            let Some(record) = reader.next_record()? else { break };
            self.apply(record);
        }
        if !self.feed.stopped() {
            self.close_sessions(CAPTURE_ENDED);
        }
        Ok(())
    }

    /// A classic pair, as one session (its addresses: the two files).
    fn pair(&mut self, client: &Path, server: &Path) -> Result<(), ReplayError> {
        tracing::info!("Replaying the classic pair {} and {}.", client.display(), server.display());
        let reader = |path: &Path, bar: &ProgressBar| {
            progress::open(path, bar).map(|input| ClassicReader::new(input, path, self.max_line))
        };
        let start = interleave::first_time(reader(server, &ProgressBar::hidden())?)?;
        let start = start.unwrap_or_else(now_micros);
        let mut pair = Pair::new(reader(client, &self.bar)?, reader(server, &self.bar)?, start);
        let session = 1;
        self.apply(Record::Start {
            session,
            ts: start,
            client: client.display().to_string(),
            server: server.display().to_string(),
            tls: false,
        });
        while !self.feed.stopped() {
            let Some((direction, ts, frame)) = pair.next_message()? else { break };
            self.apply(Record::Message { session, ts, direction, frame });
        }
        Ok(())
    }
}
