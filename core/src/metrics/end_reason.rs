//! Why a session ended, as one word of a small fixed set: the session's own reason is a
//! sentence (it names peers, errors, byte counts), which as a label would make a new series per
//! session.

/// Why a session ended, as a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The client closed its side first.
    ClientClosed,
    /// The server closed its side first.
    ServerClosed,
    /// A socket failed (reset, write error) on either side.
    Failed,
    /// The proxy was stopped (a signal) while the session ran.
    Shutdown,
    /// Nothing moved for `idle_timeout_secs`.
    Idle,
    /// Closed at once: `max_sessions` were open.
    Refused,
    /// The CTI server could not be connected to.
    ServerUnreachable,
}

impl EndReason {
    /// Every reason, so each series exists (at 0) from the first scrape.
    pub const ALL: [EndReason; 7] = [
        EndReason::ClientClosed,
        EndReason::ServerClosed,
        EndReason::Failed,
        EndReason::Shutdown,
        EndReason::Idle,
        EndReason::Refused,
        EndReason::ServerUnreachable,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::ClientClosed => "client_closed",
            EndReason::ServerClosed => "server_closed",
            EndReason::Failed => "failed",
            EndReason::Shutdown => "shutdown",
            EndReason::Idle => "idle",
            EndReason::Refused => "refused",
            EndReason::ServerUnreachable => "server_unreachable",
        }
    }

    /// The reason a session reported (`crate::session`'s texts), as a word: whether the server
    /// leg was up, and the first words of the sentence. Anything not recognised is a failure,
    /// so a new error text can never make a new series.
    pub fn of(connected: bool, reason: &str) -> EndReason {
        let shutdown = ["proxy shutting down", "the proxy shut down"];
        if shutdown.iter().any(|s| reason.starts_with(s)) {
            EndReason::Shutdown
        } else if !connected {
            EndReason::ServerUnreachable
        } else if reason == "client closed" {
            EndReason::ClientClosed
        } else if reason == "server closed" {
            EndReason::ServerClosed
        } else if reason.starts_with("idle for") {
            EndReason::Idle
        } else {
            EndReason::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EndReason::{self, *};

    #[test]
    fn session_reasons_map_to_a_fixed_set() {
        let cases = [
            (true, "client closed", ClientClosed),
            (true, "server closed", ServerClosed),
            (true, "idle for 2s (idle_timeout_secs)", Idle),
            (true, "proxy shutting down", Shutdown),
            (true, "proxy shutting down; the client was not reading: 5 bytes of the last read not delivered", Shutdown),
            (false, "the proxy shut down while connecting", Shutdown),
            (false, "Connection refused (os error 111)", ServerUnreachable),
            (false, "no answer within 10s", ServerUnreachable),
            (true, "client connection failed: Connection reset by peer (os error 104)", Failed),
            (true, "cannot write to the server: Broken pipe (os error 32)", Failed),
            (true, "the other direction failed", Failed),
            (true, "something new", Failed),
        ];
        for (connected, reason, word) in cases {
            assert_eq!(EndReason::of(connected, reason), word, "{reason}");
        }
        let words: std::collections::HashSet<_> = EndReason::ALL.map(EndReason::as_str).into();
        assert_eq!(words.len(), EndReason::ALL.len());
    }
}
