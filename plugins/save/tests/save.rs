//! The save plugin, tested in-process with the plugin-api harness, on real files.
use std::fs;
use std::path::{Path, PathBuf};

use ctiproxy_plugin_api::abi::{MSG_NO_NEWLINE, MSG_OVERSIZE, MSG_RAW};
use ctiproxy_plugin_api::harness::Harness;
use ctiproxy_plugin_api::{CreateError, Direction, Level, Outcome, SessionEnd};
use ctiproxy_save::Save;
use tempfile::TempDir;

/// 2019-02-22T14:08:32Z.
const T0: i64 = 1_550_844_512_000_000;

struct Classic {
    _dir: TempDir,
    client: PathBuf,
    server: PathBuf,
}

fn classic_files() -> Classic {
    let dir = tempfile::tempdir().unwrap();
    let (client, server) = (dir.path().join("client.txt"), dir.path().join("server.txt"));
    Classic { _dir: dir, client, server }
}

fn classic(files: &Classic, extra: &str) -> Harness<Save> {
    let config =
        format!("client_file = {:?}\nserver_file = {:?}\n{extra}", files.client, files.server);
    Harness::<Save>::new(&config).unwrap()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

fn config_error(config: &str) -> String {
    match Harness::<Save>::new(config) {
        Err(CreateError::Config(err)) => err.to_string(),
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(_) => panic!("expected a config error for {config}"),
    }
}

#[test]
fn classic_writes_one_pretty_sorted_file_per_direction() {
    let files = classic_files();
    let mut h = classic(&files, "");
    h.start_session();
    assert_eq!(h.client(r#"{"commandid": 1, "class": "login_id", "é": "ü"}"#), Outcome::Pass);
    h.server(r#"{"class":"login_id","capas":{"z":[],"a":{}}}"#);
    h.client("not json");
    h.send(Direction::ServerToClient, b"{\"class\":\"getlist\",\"list\":[", MSG_OVERSIZE);
    h.send(Direction::ClientToServer, b"{\"a\":1}\n{\"b\"", MSG_RAW);
    h.end_session("client closed");
    assert_eq!(h.shutdown(), Outcome::Pass);

    assert_eq!(
        read(&files.client),
        "{\n    \"class\": \"login_id\",\n    \"commandid\": 1,\n    \"é\": \"ü\"\n}\n\
         not json\n\
         {\"a\":1}\n{\"b\"\n"
    );
    assert_eq!(
        read(&files.server),
        "{\n    \"capas\": {\n        \"a\": {},\n        \"z\": []\n    },\n    \"class\": \"login_id\"\n}\n\
         [oversize line: 27 bytes, not decoded] {\"class\":\"getlist\",\"list\":[\n"
    );
}

#[test]
fn buffered_writes_reach_the_file_on_each_tick() {
    let files = classic_files();
    let mut h = classic(&files, "");
    h.start_session();
    h.client(r#"{"class": "keepalive"}"#);
    assert_eq!(read(&files.client), "", "written before the tick: not buffered?");
    h.timer_tick();
    assert_eq!(read(&files.client), "{\n    \"class\": \"keepalive\"\n}\n");
    h.client(r#"{"class": "x"}"#);
    h.end_session("client closed");
    assert!(read(&files.client).ends_with("{\n    \"class\": \"x\"\n}\n"), "session end flushes");
}

#[test]
fn a_capture_past_the_buffer_arrives_whole_in_order_even_without_a_last_flush() {
    let files = classic_files();
    let mut h = classic(&files, "");
    h.start_session();
    // About 300 KiB: several buffers handed to the writing thread, and a last one still held.
    let expected: String = (0..10_000)
        .map(|n| {
            h.client(&format!(r#"{{"class": "x", "n": {n}}}"#));
            format!("{{\n    \"class\": \"x\",\n    \"n\": {n}\n}}\n")
        })
        .collect();
    drop(h);
    assert_eq!(read(&files.client), expected);
}

#[test]
fn files_are_truncated_unless_append_is_set() {
    let files = classic_files();
    fs::write(&files.client, "before\n").unwrap();
    fs::write(&files.server, "before\n").unwrap();
    let mut h = classic(&files, "append = true");
    h.client("{}");
    h.shutdown();
    drop(h);
    assert_eq!(read(&files.client), "before\n{}\n");
    assert_eq!(read(&files.server), "before\n");

    let mut h = classic(&files, "");
    h.client("{}");
    h.shutdown();
    assert_eq!(read(&files.client), "{}\n");
    assert_eq!(read(&files.server), "");
}

/// Linux stamps a file's modification time on every `ftruncate`, even one that changes nothing
/// (POSIX asks it only of a change of size), so an old stamp left on an empty file shows it was
/// not truncated: ext4 would have flushed the whole capture to disk in the closing thread,
/// holding the exit (see `target.rs`).
#[cfg(target_os = "linux")]
#[test]
fn an_empty_file_is_not_truncated() {
    let files = classic_files();
    let long_ago = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
    fs::File::create(&files.client).unwrap().set_modified(long_ago).unwrap();
    fs::write(&files.server, "before\n").unwrap();
    let h = classic(&files, "");
    let modified = |path: &Path| fs::metadata(path).unwrap().modified().unwrap();
    assert_eq!(modified(&files.client), long_ago, "the empty file was truncated");
    assert_eq!(read(&files.server), "", "a file with content is still truncated");
    drop(h);
}

#[test]
fn jsonl_records_every_event_with_timestamps_and_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture.jsonl");
    let mut h = Harness::<Save>::new(&format!("format = \"jsonl\"\nfile = {path:?}")).unwrap();
    h.set_time(T0);
    h.start_session();
    h.set_time(T0 + 1);
    h.client(r#"{"class": "login_id", "é": 1}"#);
    h.set_time(T0 + 1_500_000);
    h.send(Direction::ServerToClient, b"caf\xe9", 0);
    h.send(Direction::ServerToClient, b"{\"list\":[", MSG_OVERSIZE);
    h.send(Direction::ClientToServer, b"tail", MSG_RAW | MSG_NO_NEWLINE);
    h.set_time(T0 + 2_000_000);
    h.end_session_with(SessionEnd {
        session_id: 1,
        timestamp_micros: 0,
        reason: "client closed",
        bytes_c2s: 40,
        bytes_s2c: 20,
        msgs_c2s: 2,
        msgs_s2c: 2,
        reads_c2s: 3,
        reads_s2c: 1,
        dropped: 0,
    });
    h.shutdown();

    let expected = [
        r#"{"ts":"2019-02-22T14:08:32.000000Z","ts_us":1550844512000000,"session":1,"event":"start","client":"127.0.0.1:40000","server":"127.0.0.1:5003"}"#,
        r#"{"ts":"2019-02-22T14:08:32.000001Z","ts_us":1550844512000001,"session":1,"dir":"client","line":"{\"class\": \"login_id\", \"é\": 1}"}"#,
        r#"{"ts":"2019-02-22T14:08:33.500000Z","ts_us":1550844513500000,"session":1,"dir":"server","line_base64":"Y2Fm6Q=="}"#,
        r#"{"ts":"2019-02-22T14:08:33.501000Z","ts_us":1550844513501000,"session":1,"dir":"server","line":"{\"list\":[","oversize":true,"len":9}"#,
        r#"{"ts":"2019-02-22T14:08:33.502000Z","ts_us":1550844513502000,"session":1,"dir":"client","line":"tail","raw":true,"no_newline":true}"#,
        r#"{"ts":"2019-02-22T14:08:34.000000Z","ts_us":1550844514000000,"session":1,"event":"end","reason":"client closed","bytes_c2s":40,"bytes_s2c":20,"msgs_c2s":2,"msgs_s2c":2,"reads_c2s":3,"reads_s2c":1,"dropped":0}"#,
    ];
    assert_eq!(read(&path), expected.join("\n") + "\n");
}

#[test]
fn a_write_error_is_reported_once_counted_and_never_stops_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let server = dir.path().join("server.txt");
    // Every write to /dev/full fails with ENOSPC, like a full disk.
    let config = format!("client_file = \"/dev/full\"\nserver_file = {server:?}");
    let mut h = Harness::<Save>::new(&config).unwrap();
    h.start_session();
    assert_eq!(h.client(r#"{"class": "a"}"#), Outcome::Pass);
    assert_eq!(h.timer_tick(), Outcome::Pass);
    assert_eq!(h.client(r#"{"class": "b"}"#), Outcome::Pass);
    assert_eq!(h.server(r#"{"class": "c"}"#), Outcome::Pass);
    assert_eq!(h.timer_tick(), Outcome::Pass);
    assert_eq!(h.end_session("client closed"), Outcome::Pass);
    assert_eq!(h.shutdown(), Outcome::Pass);

    assert!(!h.is_poisoned());
    let errors: Vec<_> = h.logs().into_iter().filter(|(level, _)| *level == Level::Error).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].1.starts_with("client_file: cannot write /dev/full: No space left on device"),
        "{}",
        errors[0].1
    );
    // One failed flush per tick, session end and shutdown.
    assert_eq!(h.counter("write_errors"), 4);
    assert_eq!(read(&server), "{\n    \"class\": \"c\"\n}\n", "the other file keeps working");
}

#[test]
fn an_unopenable_file_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("missing-dir").join("client.txt");
    let ok = dir.path().join("server.txt");
    let err = config_error(&format!("client_file = {bad:?}\nserver_file = {ok:?}"));
    let expected = format!(
        "client_file: cannot create {}: directory {} does not exist",
        bad.display(),
        bad.parent().unwrap().display()
    );
    assert_eq!(err, expected);

    let err = config_error(&format!("format = \"jsonl\"\nappend = true\nfile = {bad:?}"));
    assert!(err.starts_with(&format!("file: cannot open {}:", bad.display())), "{err}");
}

#[test]
fn keys_must_fit_the_format() {
    assert_eq!(
        config_error(r#"client_file = "/tmp/c""#),
        r#"server_file: required with format = "classic""#
    );
    assert_eq!(
        config_error(r#"server_file = "/tmp/s""#),
        r#"client_file: required with format = "classic""#
    );
    assert_eq!(
        config_error("client_file = \"/tmp/c\"\nfile = \"/tmp/f\""),
        r#"file: only used with format = "jsonl""#
    );
    assert_eq!(config_error(r#"format = "jsonl""#), r#"file: required with format = "jsonl""#);
    assert_eq!(
        config_error("format = \"jsonl\"\nfile = \"/tmp/f\"\nserver_file = \"/tmp/s\""),
        r#"server_file: only used with format = "classic""#
    );
    assert_eq!(
        config_error("client_file = \"/tmp/same\"\nserver_file = \"/tmp/same\""),
        "server_file: /tmp/same: same file as client_file"
    );
    assert!(config_error(r#"format = "xml""#).starts_with("format: unknown variant `xml`"));
}

#[test]
fn a_check_only_build_neither_truncates_nor_creates_files() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("client.txt");
    std::fs::write(&existing, "precious capture\n").unwrap();
    let new = dir.path().join("server.txt");
    let config = format!(
        "client_file = {:?}\nserver_file = {:?}",
        existing.display().to_string(),
        new.display().to_string()
    );
    let mut h = Harness::<Save>::check_only(&config).unwrap();
    h.shutdown();
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "precious capture\n");
    assert!(!new.exists(), "check must not create files");
}

#[test]
fn a_check_only_build_still_rejects_a_missing_directory() {
    let config = "format = \"jsonl\"\nfile = \"/nonexistent-dir/capture.jsonl\"";
    let Err(CreateError::Config(err)) = Harness::<Save>::check_only(config) else {
        panic!("expected a config error");
    };
    assert_eq!(err.path, "file");
    assert!(err.message.contains("directory /nonexistent-dir does not exist"), "{err}");
}

#[test]
fn a_file_another_entry_writes_is_refused_until_it_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture.jsonl");
    let config = format!("format = \"jsonl\"\nfile = {:?}", path.display().to_string());
    let mut first = Harness::<Save>::new(&config).unwrap();
    first.client("{}");
    first.timer_tick();
    let written = read(&path);
    let other_spelling = format!(
        "format = \"jsonl\"\nfile = {:?}",
        dir.path().join(".").join("capture.jsonl").display().to_string()
    );
    for check_only in [false, true] {
        let second = if check_only {
            Harness::<Save>::check_only(&other_spelling)
        } else {
            Harness::<Save>::new(&other_spelling)
        };
        let Err(CreateError::Config(err)) = second else { panic!("a second writer was accepted") };
        assert_eq!(err.path, "file");
        assert!(err.message.ends_with("capture.jsonl is already written by save file"), "{err}");
        assert_eq!(read(&path), written, "the refused entry touched the file");
    }
    drop(first);
    assert!(Harness::<Save>::new(&config).is_ok(), "a closed file is free again");
}

#[test]
fn empty_paths_fifos_and_directories_are_refused_before_opening() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let cases = [
        ("file = \"\"".to_owned(), "file: must not be empty: give a file path".to_owned()),
        (
            format!("file = {:?}", fifo.display().to_string()),
            format!(
                "file: cannot create {}: it is a FIFO (named pipe), not a regular file",
                fifo.display()
            ),
        ),
        (
            format!("file = {:?}", dir.path().display().to_string()),
            format!(
                "file: cannot create {}: it is a directory, not a regular file",
                dir.path().display()
            ),
        ),
    ];
    for (file, expected) in cases {
        let config = format!("format = \"jsonl\"\n{file}");
        assert_eq!(config_error(&config), expected);
        match Harness::<Save>::check_only(&config) {
            Err(CreateError::Config(err)) => assert_eq!(err.to_string(), expected),
            _ => panic!("check-only accepted {file}"),
        }
    }
}

#[test]
fn classic_files_keep_every_number_as_it_was_written() {
    let files = classic_files();
    let mut h = classic(&files, "");
    h.server(r#"{"timenow":1550844512.3439999,"tiny":1e-07,"big":18446744073709551616,"neg":-0,"one":1.0}"#);
    h.shutdown();
    let saved = read(&files.server);
    for text in
        ["1550844512.3439999", "1e-07", "18446744073709551616", "\"neg\": -0", "\"one\": 1.0"]
    {
        assert!(saved.contains(text), "{text} in {saved}");
    }
}

const LOGIN: &str = r#"{"class": "login_pass", "password": "secret", "commandid": 1}"#;

/// Saves one login in each format with `extra` settings; returns the classic client file and
/// the capture.
fn saved_login(extra: &str) -> (String, String) {
    let files = classic_files();
    let mut h = classic(&files, extra);
    h.start_session();
    h.client(LOGIN);
    h.shutdown();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture.jsonl");
    let config = format!("format = \"jsonl\"\nfile = {path:?}\n{extra}");
    let mut h = Harness::<Save>::new(&config).unwrap();
    h.start_session();
    h.client(LOGIN);
    h.send(Direction::ClientToServer, br#"{"password":"raw-secret"}"#, MSG_RAW);
    h.shutdown();
    (read(&files.client), read(&path))
}

#[test]
fn passwords_are_saved_as_stars_and_the_capture_says_so() {
    let (classic, capture) = saved_login("");
    assert_eq!(
        classic,
        "{\n    \"class\": \"login_pass\",\n    \"commandid\": 1,\n    \"password\": \"***\"\n}\n"
    );
    assert!(!capture.contains("secret"), "{capture}");
    assert!(capture.contains(
        r#""line":"{\"class\": \"login_pass\", \"password\": \"***\", \"commandid\": 1}","redacted":true"#
    ));
}

#[test]
fn redact_changes_the_fields_or_keeps_captures_exact() {
    let (classic, capture) = saved_login("redact = []");
    assert!(classic.contains("\"secret\"") && capture.contains("raw-secret"));
    assert!(!capture.contains("redacted"));
    let (classic, capture) = saved_login(r#"redact = ["class"]"#);
    assert!(classic.contains("\"class\": \"***\"") && classic.contains("secret"));
    assert!(capture.contains(r#"{\"class\": \"***\", \"password\": \"secret\""#));
    assert_eq!(config_error(r#"redact = [""]"#), "redact: item 1: empty field name");
}

#[cfg(unix)]
#[test]
fn files_are_created_private_or_with_the_configured_mode() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let files = classic_files();
    drop(classic(&files, ""));
    assert_eq!((mode(&files.client), mode(&files.server)), (0o600, 0o600));
    // An existing world-readable capture is tightened when overwritten.
    fs::set_permissions(&files.client, fs::Permissions::from_mode(0o644)).unwrap();
    drop(classic(&files, r#"mode = "0640""#));
    assert_eq!((mode(&files.client), mode(&files.server)), (0o640, 0o640));
    let err = config_error(&format!(
        "client_file = {:?}\nserver_file = {:?}\nmode = \"644x\"",
        files.client, files.server
    ));
    assert!(err.starts_with("mode: \"644x\" is not file permissions in octal"), "{err}");
}
