//! The spy through the real `ctiproxy replay`: on a terminal (a pseudo-terminal made by
//! `script(1)`) control characters from the wire are shown written out, never obeyed; in a pipe
//! the bytes stay exact, as captures and scripts need.
mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::{ctiproxy, plugin_dir, write_config, Running};

const SPY: &str = "[[pipeline]]\nplugin = \"spy\"\ncolor = \"never\"\n";

/// One server line that is not JSON, full of what a terminal would obey.
const CAPTURE: &str = "{\"ts\":\"2019-02-22T14:08:32.000001Z\",\"ts_us\":1550844512000001,\"session\":1,\
    \"dir\":\"server\",\"line\":\"\\u001b[2J\\u001b]0;owned\\u0007 a\\tb\\r \\u007f \\u009b31m\"}\n";

/// The shown line, its `\r` and `\t` written out too.
const SHOWN: &str = "\\x1b[2J\\x1b]0;owned\\x07 a\\tb\\r \\x7f \\u{9b}31m";

fn files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let config = write_config(dir, SPY);
    let capture = dir.join("capture.jsonl");
    std::fs::write(&capture, CAPTURE).unwrap();
    (config, capture)
}

#[test]
fn on_a_terminal_control_characters_are_shown_not_obeyed() {
    let script = Command::new("script").arg("--version").stdout(Stdio::null()).status();
    if !script.is_ok_and(|s| s.success()) {
        eprintln!("skipped: script(1) is needed to run ctiproxy on a pseudo-terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (config, capture) = files(dir.path());
    let line = format!(
        "'{}' replay -c '{}' '{}'",
        env!("CARGO_BIN_EXE_ctiproxy"),
        config.display(),
        capture.display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env("CTIPROXY_PLUGIN_PATH", plugin_dir())
        .env("RUST_LOG", "error")
        .env("TZ", "UTC");
    let finished = Running::spawn(cmd).finish();
    assert!(finished.status.success(), "{}{}", finished.stdout, finished.stderr);
    // The terminal turns each `\n` into `\r\n`.
    let expected = format!("    14:08:32.000001 Server > Client\r\n{SHOWN}\r\n");
    assert_eq!(finished.stdout, expected);
}

#[test]
fn in_a_pipe_the_bytes_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (config, capture) = files(dir.path());
    let mut cmd = ctiproxy();
    cmd.arg("replay").arg("-c").arg(&config).arg(&capture).env("TZ", "UTC");
    let finished = Running::spawn(cmd).finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert_eq!(
        finished.stdout,
        "    14:08:32.000001 Server > Client\n\x1b[2J\x1b]0;owned\x07 a\tb\r \x7f \u{9b}31m\n"
    );
}
