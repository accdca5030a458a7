//! Log lines are coloured only on a terminal: written to a file they are plain text, on a
//! pseudo-terminal (made by `script(1)`) they carry ANSI colours unless `NO_COLOR` is set.
mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::{ctiproxy, plugin_dir, write_config, Running};

/// A one-message capture and a config to replay it through, in `dir`.
fn replay_files(dir: &Path) -> (String, String) {
    let config = write_config(dir, "[[pipeline]]\nplugin = \"stats\"\n");
    let capture = dir.join("capture.jsonl");
    std::fs::write(
        &capture,
        "{\"ts\":\"2019-02-22T14:08:32.000001Z\",\"ts_us\":1550844512000001,\"session\":1,\"dir\":\"server\",\"line\":\"{}\"}\n",
    )
    .unwrap();
    (config.display().to_string(), capture.display().to_string())
}

#[test]
fn logs_written_to_a_file_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (config, capture) = replay_files(dir.path());
    let log = dir.path().join("ctiproxy.log");
    let status = ctiproxy()
        .args(["replay", "-c", &config, &capture])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("INFO Replayed 1 messages."), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");
}

/// The replay's stderr as a terminal shows it (stdout discarded), with `env` set.
fn on_a_terminal(env: &[(&str, &str)]) -> Option<String> {
    let script = Command::new("script").arg("--version").stdout(Stdio::null()).status();
    if !script.is_ok_and(|s| s.success()) {
        eprintln!("skipped: script(1) is needed to run ctiproxy on a pseudo-terminal");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (config, capture) = replay_files(dir.path());
    let line =
        format!("'{}' replay -c '{config}' '{capture}' >/dev/null", env!("CARGO_BIN_EXE_ctiproxy"));
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env("CTIPROXY_PLUGIN_PATH", plugin_dir())
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR");
    cmd.envs(env.iter().copied());
    let finished = Running::spawn(cmd).finish();
    assert!(finished.status.success(), "{}{}", finished.stdout, finished.stderr);
    assert!(finished.stdout.contains("Replayed 1 messages."), "{}", finished.stdout);
    Some(finished.stdout)
}

#[test]
fn logs_on_a_terminal_are_coloured_unless_no_color_is_set() {
    let Some(coloured) = on_a_terminal(&[]) else { return };
    assert!(coloured.contains("\x1b["), "{coloured:?}");
    let Some(plain) = on_a_terminal(&[("NO_COLOR", "1")]) else { return };
    assert!(!plain.contains('\x1b'), "{plain:?}");
}
