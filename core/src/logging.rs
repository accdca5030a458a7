//! Diagnostics setup: `tracing` to stderr (stdout is for user output), level from `-v` flags or
//! `RUST_LOG`, as text for people or JSON for log shippers.
//!
//! Text is coloured only when stderr is a terminal and `NO_COLOR` is unset or empty
//! (<https://no-color.org>), so files, pipes and journald get plain lines. JSON
//! (`--log-format json`) is one object per line, never coloured.

use std::ffi::OsString;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `--log-format`: how diagnostics are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields.message`, …).
    Json,
}

/// Installs the stderr logger. `default` is the level without `-v` (e.g. `"info"`); each `-v`
/// raises it one step. `RUST_LOG`, when set, wins.
pub fn init(default: &str, verbose: u8, format: LogFormat) {
    let levels = ["error", "warn", "info", "debug", "trace"];
    let base = levels.iter().position(|l| *l == default).unwrap_or(2);
    let level = levels[(base + verbose as usize).min(levels.len() - 1)];
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => {
            let colour = colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
            builder.with_ansi(colour).try_init()
        }
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

/// Whether to colour text logs: on a terminal, unless `NO_COLOR` is set to anything but "".
fn colour(stderr_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }
}
