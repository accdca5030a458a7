//! Why a replay failed. Every error names the capture file, and the line when there is one, so
//! a user can open the file where the problem is.

use std::path::{Path, PathBuf};

/// A replay that could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A capture file cannot be opened or read at all.
    #[error("cannot read {}: {reason}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why (not `source`: the message already says it, and a source chain would repeat it).
        reason: std::io::Error,
    },
    /// Reading failed part-way.
    #[error("{}:{line}: cannot read: {reason}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The line being read (1-based).
        line: u64,
        /// Why.
        reason: std::io::Error,
    },
    /// A line is not what the format says.
    #[error("{}:{line}: {why}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: u64,
        /// What is wrong.
        why: String,
    },
    /// The file is neither kind of capture.
    #[error("{}: neither a JSON-lines capture (save plugin, format = \"jsonl\": each line a JSON object starting with \"ts\") nor a classic ctisave file (pretty-printed JSON messages)", .0.display())]
    Unknown(PathBuf),
    /// The files given do not make a replayable set.
    #[error("{0}")]
    Arguments(String),
    /// Stopped by a signal, the pipeline was still analysing at the shutdown deadline.
    #[error(transparent)]
    Stalled(#[from] crate::pipeline::Stalled),
    /// The replay could not start (threads, runtime).
    #[error("cannot start the replay: {0}")]
    Start(#[from] std::io::Error),
}

impl ReplayError {
    /// An [`ReplayError::Invalid`] for `path` at `line`.
    pub fn invalid(path: &Path, line: u64, why: impl Into<String>) -> Self {
        ReplayError::Invalid { path: path.to_owned(), line, why: why.into() }
    }
}

/// A serde_json error without its "at line L column C" suffix, which counts from the start of
/// the text serde saw, not of the file: callers put the file's own line in front instead.
pub fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.line() > 0 => format!("{} (column {})", &text[..at], error.column()),
        _ => text,
    }
}
