//! The numbers behind a report, for one session or for the totals of several.

use ctiproxy_plugin_api::{Direction, Message, SessionEnd};

use crate::latency::Latencies;

/// Index of client → server figures in the per-direction arrays.
pub const C2S: usize = 0;
/// Index of server → client figures.
pub const S2C: usize = 1;

/// The per-direction index of `direction`.
pub fn index(direction: Direction) -> usize {
    match direction {
        Direction::ClientToServer => C2S,
        Direction::ServerToClient => S2C,
    }
}

/// What one session (or several, merged) amounted to. Arrays are indexed by [`C2S`] / [`S2C`].
#[derive(Debug, Default, Clone)]
pub struct Figures {
    /// Messages per class (or `(not json)`, `(no class)`, `(oversize)`) and direction.
    pub classes: crate::FastMap<String, [u64; 2]>,
    /// Messages.
    pub msgs: [u64; 2],
    /// Application bytes.
    pub bytes: [u64; 2],
    /// TCP reads.
    pub reads: [u64; 2],
    /// Lines over the maximum length.
    pub oversize: u64,
    /// Events the pipeline lost to a full queue.
    pub dropped: u64,
    /// Earliest and latest event time seen, microseconds since the Unix epoch.
    pub span: Option<(i64, i64)>,
    /// Request → reply times.
    pub latency: Latencies,
}

impl Figures {
    /// Counts one message whose `class` (a string) is `class`.
    pub fn count_message(&mut self, message: &Message<'_>, class: Option<&str>) {
        let d = index(message.direction());
        self.msgs[d] += 1;
        // A line lost its `\n` on the way here; a raw read or a final tail never had one.
        let newline = !(message.is_raw() || message.lacks_newline());
        self.bytes[d] += message.len() + u64::from(newline);
        self.reads[d] += u64::from(message.is_raw());
        self.oversize += u64::from(message.is_oversize());
        self.count_class(class_key(message, class), d);
        self.stretch(message.timestamp_micros());
    }

    fn count_class(&mut self, class: &str, d: usize) {
        match self.classes.get_mut(class) {
            Some(counts) => counts[d] += 1,
            None => {
                let mut counts = [0; 2];
                counts[d] = 1;
                self.classes.insert(class.to_owned(), counts);
            }
        }
    }

    /// Takes in the proxy's own figures for the session.
    ///
    /// The proxy counted the wire, including what earlier filters hid from this plugin and what
    /// the queue dropped, so its numbers win; the ones counted here remain when the proxy has
    /// none (a session cut short by shutdown, a test harness).
    pub fn apply_end(&mut self, end: &SessionEnd<'_>) {
        let max = |mine: &mut u64, theirs: u64| *mine = (*mine).max(theirs);
        max(&mut self.bytes[C2S], end.bytes_c2s);
        max(&mut self.bytes[S2C], end.bytes_s2c);
        max(&mut self.msgs[C2S], end.msgs_c2s);
        max(&mut self.msgs[S2C], end.msgs_s2c);
        max(&mut self.reads[C2S], end.reads_c2s);
        max(&mut self.reads[S2C], end.reads_s2c);
        self.dropped += end.dropped;
        self.stretch(end.timestamp_micros);
    }

    /// Widens the time span to include `unix_micros`.
    pub fn stretch(&mut self, unix_micros: i64) {
        self.span = Some(match self.span {
            None => (unix_micros, unix_micros),
            Some((start, end)) => (start.min(unix_micros), end.max(unix_micros)),
        });
    }

    /// Adds a session's figures to these totals.
    pub fn merge(&mut self, other: &Figures) {
        for (class, counts) in &other.classes {
            let mine = self.classes.entry(class.clone()).or_default();
            mine[C2S] += counts[C2S];
            mine[S2C] += counts[S2C];
        }
        for d in [C2S, S2C] {
            self.msgs[d] += other.msgs[d];
            self.bytes[d] += other.bytes[d];
            self.reads[d] += other.reads[d];
        }
        self.oversize += other.oversize;
        self.dropped += other.dropped;
        if let Some((start, end)) = other.span {
            self.stretch(start);
            self.stretch(end);
        }
        self.latency.merge(&other.latency);
    }

    /// Microseconds from the first to the last event.
    pub fn duration_us(&self) -> i64 {
        self.span.map_or(0, |(start, end)| end - start)
    }
}

/// The name a message is counted under.
fn class_key<'m>(message: &Message<'_>, class: Option<&'m str>) -> &'m str {
    if message.is_oversize() {
        return "(oversize)";
    }
    match message.root() {
        None => "(not json)",
        Some(_) => class.unwrap_or("(no class)"),
    }
}
