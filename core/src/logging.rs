//! Diagnostics setup: `tracing` to stderr (stdout is for user output), level from `-v` flags or
//! `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the stderr logger. `default` is the level without `-v` (e.g. `"info"`); each `-v`
/// raises it one step. `RUST_LOG`, when set, wins.
pub fn init(default: &str, verbose: u8) {
    let levels = ["error", "warn", "info", "debug", "trace"];
    let base = levels.iter().position(|l| *l == default).unwrap_or(2);
    let level = levels[(base + verbose as usize).min(levels.len() - 1)];
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
