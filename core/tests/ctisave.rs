//! `ctisave` through the real binary, the recorded session replayed by a test CTI server and
//! client: the two files hold each direction's messages pretty-printed with sorted keys, after
//! the filters; two captures without the changing fields are byte-identical; SIGTERM with
//! `--loop` (Ctrl-C is tested with ctistat) leaves complete files.
mod classic_support;
mod support;

use std::path::{Path, PathBuf};

use classic_support::{
    field_is, fixture, interrupt_open_session, pretty, replay, replay_steps, stripped,
};
use ctiproxy_plugin_api::Direction;
use serde_json::Value;
use support::{session_steps, Step};

const SAVE: &str = env!("CARGO_BIN_EXE_ctisave");

/// The client and server files in `dir`, as `ctisave` arguments and paths.
fn files(dir: &Path) -> (String, String) {
    let path = |name: &str| dir.join(name).to_str().expect("UTF-8 temp dir").to_owned();
    (path("client.txt"), path("server.txt"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(PathBuf::from(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What the file of `direction` must hold: each kept message pretty-printed, then `\n`.
fn expected(
    messages: &[(Direction, Value)],
    direction: Direction,
    keep: impl Fn(&Value) -> bool,
    fields: &[&str],
) -> String {
    let kept = messages.iter().filter(|(d, m)| *d == direction && keep(m));
    kept.map(|(_, m)| pretty(&stripped(m, fields)) + "\n").collect()
}

/// Saves one replayed session with `filters`, returns (client file, server file).
fn capture(filters: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (client, server) = files(dir.path());
    let args: Vec<&str> =
        [client.as_str(), server.as_str()].into_iter().chain(filters.iter().copied()).collect();
    let finished = replay(SAVE, &args);
    assert!(finished.stdout.is_empty(), "ctisave prints nothing: {}", finished.stdout);
    (read(&client), read(&server))
}

#[test]
fn each_direction_goes_to_its_file_pretty_printed_with_sorted_keys() {
    let (client, server) = capture(&[]);
    let messages = fixture();
    assert_eq!(client, expected(&messages, Direction::ClientToServer, |_| true, &[]));
    assert_eq!(server, expected(&messages, Direction::ServerToClient, |_| true, &[]));
}

#[test]
fn short_filters_strip_include_exclude_in_that_order() {
    let (client, server) = capture(&[
        "-s",
        "timenow",
        "-s",
        "status.new",
        "-i",
        "class=getlist",
        "-i",
        "class=keepalive",
        "-e",
        "tid=3",
    ]);
    let keep = |m: &Value| {
        (field_is(m, "class", "getlist") || field_is(m, "class", "keepalive"))
            && !field_is(m, "tid", "3")
    };
    let messages = fixture();
    let fields = ["timenow", "status.new"];
    assert_eq!(client, expected(&messages, Direction::ClientToServer, keep, &fields));
    assert_eq!(server, expected(&messages, Direction::ServerToClient, keep, &fields));
    assert!(!server.contains("\"timenow\""), "stripped");
}

#[test]
fn long_filters_work_the_same() {
    let (client, server) = capture(&[
        "--strip",
        "commandid",
        "--include",
        "listname=users",
        "--exclude",
        "function=updatestatus",
    ]);
    let keep =
        |m: &Value| field_is(m, "listname", "users") && !field_is(m, "function", "updatestatus");
    let messages = fixture();
    assert_eq!(client, expected(&messages, Direction::ClientToServer, keep, &["commandid"]));
    assert_eq!(server, expected(&messages, Direction::ServerToClient, keep, &["commandid"]));
    assert!(!client.is_empty() && !server.is_empty(), "the fixture has such messages");
}

/// The recorded session as a later run of the same scenario would send it: other times, other
/// command ids (the replies following them).
fn later_run(steps: &[Step]) -> Vec<Step> {
    let shift = |message: &mut Value, key: &str, by: f64| {
        if let Some(value) = message.get_mut(key) {
            *value = match value.as_i64() {
                Some(n) => Value::from(n + by as i64),
                None => Value::from(value.as_f64().expect("a number") + by),
            };
        }
    };
    steps
        .iter()
        .map(|step| {
            let mut message: Value = serde_json::from_str(&step.line).expect("JSON");
            shift(&mut message, "timenow", 86_400.25);
            shift(&mut message, "commandid", 7.0);
            shift(&mut message, "replyid", 7.0);
            Step { direction: step.direction, line: message.to_string() }
        })
        .collect()
}

#[test]
fn two_captures_without_the_changing_fields_are_byte_identical() {
    let strip = ["--strip", "timenow", "--strip", "commandid", "--strip", "replyid"];
    let first = capture(&strip);

    let steps = later_run(&session_steps());
    assert_ne!(steps, session_steps(), "the second run differs on the wire");
    let dir = tempfile::tempdir().expect("temp dir");
    let (client, server) = files(dir.path());
    let args: Vec<&str> = [client.as_str(), server.as_str()].into_iter().chain(strip).collect();
    replay_steps(SAVE, &args, steps);
    let second = (read(&client), read(&server));
    assert!(first.0.len() > 1000 && first.1.len() > 1000, "real captures");
    assert_eq!(first.0.as_bytes(), second.0.as_bytes(), "client files differ");
    assert_eq!(first.1.as_bytes(), second.1.as_bytes(), "server files differ");
}

#[test]
fn sigterm_with_loop_flushes_both_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (client, server) = files(dir.path());
    let steps = session_steps();
    let open = &steps[..steps.len() / 3];
    interrupt_open_session(SAVE, &[&client, &server], 1, open, "TERM");
    let whole = fixture();
    let part: Vec<(Direction, Value)> = fixture().into_iter().take(open.len()).collect();
    for (file, direction) in
        [(&client, Direction::ClientToServer), (&server, Direction::ServerToClient)]
    {
        let want =
            expected(&whole, direction, |_| true, &[]) + &expected(&part, direction, |_| true, &[]);
        assert_eq!(read(file), want, "{direction:?}");
    }
}

#[test]
fn an_unwritable_file_is_a_configuration_error() {
    let out = support::command(SAVE)
        .args(["127.0.0.1", "/nonexistent-dir/c.txt", "/nonexistent-dir/s.txt"])
        .args(["--listen-addr", "127.0.0.1", "--listen-port", "0"])
        .output()
        .expect("run ctisave");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("client_file") && stderr.contains("/nonexistent-dir/c.txt"),
        "{stderr}"
    );
}

#[test]
fn help_explains_every_option_with_examples() {
    let out = support::command(SAVE).arg("--help").output().expect("run ctisave --help");
    let help = String::from_utf8_lossy(&out.stdout);
    for option in [
        "<HOST> <CLIENT_FILE> <SERVER_FILE>",
        "-s, --strip",
        "-i, --include",
        "-e, --exclude",
        "--loop",
    ] {
        assert!(help.contains(option), "--help lacks {option:?}:\n{help}");
    }
    assert!(help.contains("Examples:\n  ctisave xivo.example.com client.txt server.txt"), "{help}");
}
