//! `ctiproxy replay` through the real binary. One live run of the recorded session (a test CTI
//! server and client through `ctiproxy run`, with the spy and both save formats) provides the
//! captures; replaying them must show the plugins what they saw live. Hand-made captures cover
//! what a live run does not produce: flags, cut sessions, reused ids, gaps, corrupt lines.
mod classic_support;
mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use classic_support::parse_spy;
use ctiproxy_plugin_api::Direction;
use support::{
    ctiproxy, session_steps, start_client, start_proxy, start_server, Finished, Running,
};

/// What the live run left: its captures and what its spy printed.
struct Live {
    _dir: tempfile::TempDir,
    jsonl: PathBuf,
    client: PathBuf,
    server: PathBuf,
    spy: String,
}

/// The live run, done once for every test of this file.
fn live() -> &'static Live {
    static LIVE: OnceLock<Live> = OnceLock::new();
    LIVE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let [jsonl, client, server] =
            ["capture.jsonl", "client.txt", "server.txt"].map(|name| dir.path().join(name));
        let pipeline = format!(
            "[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = {jsonl:?}\n\
             [[pipeline]]\nplugin = \"save\"\nclient_file = {client:?}\nserver_file = {server:?}\n\
             [[pipeline]]\nplugin = \"spy\"\n"
        );
        let steps = session_steps();
        let (server_addr, cti_server) = start_server(steps.clone()).expect("test server");
        let (_config_dir, proxy) = start_proxy(server_addr, "", &pipeline);
        start_client(proxy.addr(), steps).join().expect("client").expect("client played");
        cti_server.join().expect("server").expect("server played");
        let finished = proxy.finish();
        assert!(finished.status.success(), "live run failed: {}", finished.stderr);
        Live { _dir: dir, jsonl, client, server, spy: finished.stdout }
    })
}

/// `ctiproxy replay -c CONFIG ARGS...` with `pipeline` as the whole configuration.
fn replay(pipeline: &str, args: &[&Path]) -> Finished {
    replay_with(pipeline, args, &[])
}

fn replay_with(pipeline: &str, captures: &[&Path], options: &[&str]) -> Finished {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = support::write_config(dir.path(), pipeline);
    let mut cmd = ctiproxy();
    cmd.arg("replay").arg("-c").arg(&config).args(options).args(captures);
    Running::spawn(cmd).finish()
}

fn succeeded(finished: Finished) -> Finished {
    assert!(finished.status.success(), "replay failed: {}", finished.stderr);
    finished
}

fn failed(finished: &Finished) -> &str {
    assert_eq!(
        finished.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        finished.stdout,
        finished.stderr
    );
    &finished.stderr
}

const SPY: &str = "[[pipeline]]\nplugin = \"spy\"\n";

fn save_jsonl(file: &Path) -> String {
    format!("[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = {file:?}\n")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write capture");
    path
}

#[test]
fn a_jsonl_capture_replays_to_the_live_spy_output_byte_for_byte() {
    let live = live();
    assert!(parse_spy(&live.spy).len() > 100, "the live run printed the session");
    // The capture masked login_pass's password (and says so); replay reads it all the same.
    let capture = read(&live.jsonl);
    assert!(capture.contains(r#""redacted":true"#) && !capture.contains("secret"));
    let finished = succeeded(replay(SPY, &[&live.jsonl]));
    assert_eq!(finished.stdout, live.spy);
}

#[test]
fn a_jsonl_capture_saved_again_is_the_same_file() {
    let live = live();
    let dir = tempfile::tempdir().expect("temp dir");
    let again = dir.path().join("again.jsonl");
    succeeded(replay(&save_jsonl(&again), &[&live.jsonl]));
    assert_eq!(read(&again), read(&live.jsonl));
}

/// The spy's message bodies that went `direction`.
fn bodies(stdout: &str, direction: Direction) -> Vec<String> {
    parse_spy(stdout).into_iter().filter(|p| p.direction == direction).map(|p| p.body).collect()
}

/// A classic pair keeps each direction's order but not how the two interleaved: the replay
/// shows every message as the live spy did, each direction in order, and every request before
/// its answer. (The live session pipelines requests, several in a row before the answers, which
/// no rule can tell from the files; so the overall order may differ.)
#[test]
fn a_classic_pair_replays_to_the_live_spy_output_without_headers() {
    let live = live();
    let finished = succeeded(replay(SPY, &[&live.client, &live.server]));
    for direction in [Direction::ClientToServer, Direction::ServerToClient] {
        let (replayed, seen_live) =
            (bodies(&finished.stdout, direction), bodies(&live.spy, direction));
        assert!(seen_live.len() > 40);
        assert_eq!(replayed, seen_live, "{direction:?}");
    }
    let printed = parse_spy(&finished.stdout);
    assert!(printed.iter().all(|p| p.session.is_none()), "a pair is one session");
    let id = |body: &str, key: &str| {
        let message: serde_json::Value = serde_json::from_str(body).expect("JSON");
        message.get(key).map(ToString::to_string)
    };
    let position = |direction: Direction, key: &str, wanted: &str| {
        printed
            .iter()
            .position(|p| p.direction == direction && id(&p.body, key).as_deref() == Some(wanted))
    };
    let mut answered = 0;
    for reply in printed.iter().filter_map(|p| id(&p.body, "replyid")) {
        let request = position(Direction::ClientToServer, "commandid", &reply).expect("request");
        assert!(request < position(Direction::ServerToClient, "replyid", &reply).unwrap());
        answered += 1;
    }
    assert!(answered > 0, "the session has replies");
}

fn pretty(values: &[serde_json::Value]) -> String {
    values.iter().map(|v| serde_json::to_string_pretty(v).expect("JSON") + "\n").collect()
}

#[test]
fn a_classic_pair_puts_a_getlist_request_before_its_answer() {
    use serde_json::json;
    let dir = tempfile::tempdir().expect("temp dir");
    let request = json!({"class": "getlist", "commandid": 5, "function": "listid", "listname": "users", "tipbxid": "xivo"});
    let client = write(dir.path(), "client.txt", &pretty(&[request]));
    let server = write(
        dir.path(),
        "server.txt",
        &pretty(&[
            json!({"class": "getlist", "function": "updatestatus", "listname": "users", "timenow": 1550844512.5}),
            json!({"class": "getlist", "function": "listid", "listname": "users", "list": ["1"], "tipbxid": "xivo", "timenow": 1550844513.25}),
        ]),
    );
    let finished = succeeded(replay(SPY, &[&client, &server]));
    let order: Vec<(Direction, bool)> = parse_spy(&finished.stdout)
        .into_iter()
        .map(|p| (p.direction, p.body.contains("listid")))
        .collect();
    assert_eq!(
        order,
        [
            (Direction::ServerToClient, false), // a push pulls no request forward
            (Direction::ClientToServer, true),
            (Direction::ServerToClient, true),
        ]
    );
    let times: Vec<String> = parse_spy(&finished.stdout).into_iter().map(|p| p.time).collect();
    assert!(times[0].ends_with(":32.500000") && times[1] == times[0], "{times:?}");
    assert!(times[2].ends_with(":33.250000"), "{times:?}");
}

const STATS: &str = "[[pipeline]]\nplugin = \"stats\"\nshow = \"msg\"\n";

#[test]
fn sessions_of_several_files_stay_distinct() {
    let live = live();
    let finished = succeeded(replay(STATS, &[&live.jsonl, &live.jsonl]));
    let reports: Vec<&str> =
        finished.stdout.lines().filter(|l| l.starts_with("Session ")).collect();
    assert_eq!(reports.len(), 2, "{}", finished.stdout);
    assert!(reports[0].starts_with("Session 1: ") && reports[1].starts_with("Session 2: "));
    let spy = succeeded(replay(SPY, &[&live.jsonl, &live.jsonl])).stdout;
    let sessions: Vec<Option<u64>> = parse_spy(&spy).into_iter().map(|p| p.session).collect();
    // The spy tags messages once it has seen several sessions: from the second file on.
    let second = sessions.iter().filter(|s| **s == Some(2)).count();
    assert_eq!(second * 2, sessions.len(), "{spy}");
}

const T0: i64 = 1_550_844_512_000_000;

fn stamp(ts_us: i64, session: u64) -> String {
    let ts = chrono::DateTime::from_timestamp_micros(ts_us)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    format!("{{\"ts\":\"{ts}\",\"ts_us\":{ts_us},\"session\":{session}")
}

fn start(ts_us: i64, session: u64) -> String {
    stamp(ts_us, session)
        + ",\"event\":\"start\",\"client\":\"127.0.0.1:40000\",\"server\":\"127.0.0.1:5003\"}\n"
}

fn message(ts_us: i64, session: u64, dir: &str, rest: &str) -> String {
    format!("{},\"dir\":\"{dir}\",{rest}}}\n", stamp(ts_us, session))
}

fn end(ts_us: i64, session: u64) -> String {
    stamp(ts_us, session)
        + ",\"event\":\"end\",\"reason\":\"client closed\",\"bytes_c2s\":40,\"bytes_s2c\":20,\"msgs_c2s\":2,\"msgs_s2c\":2,\"reads_c2s\":3,\"reads_s2c\":1,\"dropped\":0}\n"
}

#[test]
fn message_flags_survive_the_replay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = [
        start(T0, 1),
        message(T0 + 1, 1, "client", r#""line":"{\"class\": \"login_id\"}""#),
        message(T0 + 2, 1, "server", r#""line_base64":"Y2Fm6Q==""#),
        message(T0 + 3, 1, "server", r#""line":"{\"list\":[","oversize":true,"len":9000000"#),
        message(T0 + 4, 1, "server", r#""line":"abc\ndef","raw":true"#),
        message(T0 + 5, 1, "client", r#""line":"bye","no_newline":true"#),
        end(T0 + 6, 1),
    ]
    .concat();
    let input = write(dir.path(), "in.jsonl", &capture);
    let output = dir.path().join("out.jsonl");
    succeeded(replay(&save_jsonl(&output), &[&input]));
    assert_eq!(read(&output), capture);
}

#[test]
fn cut_sessions_get_a_start_and_an_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = message(T0, 4, "client", r#""line":"{\"class\": \"keepalive\"}""#);
    let input = write(dir.path(), "cut.jsonl", &capture);
    let output = dir.path().join("out.jsonl");
    succeeded(replay(&save_jsonl(&output), &[&input]));
    let records: Vec<serde_json::Value> =
        read(&output).lines().map(|l| serde_json::from_str(l).expect("record")).collect();
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(records[0]["event"], "start");
    assert_eq!(records[1]["dir"], "client");
    assert_eq!(
        (&records[2]["event"], &records[2]["reason"]),
        (&"end".into(), &"capture ended".into())
    );
    assert!(records.iter().all(|r| r["session"] == 4 && r["ts_us"] == T0));
    let line_with_newline = r#"{"class": "keepalive"}"#.len() + 1;
    assert_eq!(records[2]["bytes_c2s"], line_with_newline);
    assert_eq!(records[2]["msgs_c2s"], 1);
}

#[test]
fn missing_and_unknown_files_are_errors_naming_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.jsonl");
    let finished = replay(SPY, &[&missing]);
    assert!(failed(&finished).contains(&format!("cannot read {}", missing.display())));

    let text = write(dir.path(), "notes.jsonl", "hello\nworld\n");
    let finished = replay(SPY, &[&text]);
    let stderr = failed(&finished);
    assert!(stderr.contains(&format!("{}: neither", text.display())), "{stderr}");

    let classic = write(dir.path(), "client.txt", "{\n    \"class\": \"x\"\n}\n");
    let finished = replay(SPY, &[&classic]);
    assert!(failed(&finished).contains("give exactly two"), "{}", finished.stderr);
    assert!(finished.stdout.is_empty());
}

#[test]
fn a_corrupt_line_stops_the_replay_after_flushing_the_pipeline() {
    let live = live();
    let dir = tempfile::tempdir().expect("temp dir");
    let text = read(&live.jsonl);
    let lines: Vec<&str> = text.lines().collect();
    let good = 20;
    let corrupt = [&lines[..good], &["{\"ts\":\"oops"], &lines[good..]].concat().join("\n") + "\n";
    let input = write(dir.path(), "corrupt.jsonl", &corrupt);
    let output = dir.path().join("out.jsonl");
    let finished = replay(&(STATS.to_owned() + &save_jsonl(&output)), &[&input]);
    let stderr = failed(&finished);
    let expected = format!("{}:{}: not a capture record", input.display(), good + 1);
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(finished.stdout.contains("Session 1: "), "stats printed: {}", finished.stdout);
    let saved: Vec<String> = read(&output).lines().map(str::to_owned).collect();
    assert_eq!(saved[..good], lines[..good], "every record before the corrupt line");
    assert_eq!(saved.len(), good + 1, "and the session's end");
    assert!(saved[good].contains("\"reason\":\"replay stopped\""), "{}", saved[good]);
}

#[test]
fn a_bad_config_is_reported_as_check_reports_it() {
    let live = live();
    let dir = tempfile::tempdir().expect("temp dir");
    let invalid = ["[proxy]\nqueue = 0\n", "[[pipeline]]\nplugin = \"spy\"\nprety = true\n"];
    for text in invalid {
        let config = support::write_config(dir.path(), text);
        let run = |command: &str, extra: &[&Path]| {
            let mut cmd = ctiproxy();
            cmd.arg(command).arg("-c").arg(&config).args(extra);
            Running::spawn(cmd).finish()
        };
        let (check, replay) = (run("check", &[]), run("replay", &[&live.jsonl]));
        assert!(!check.stderr.trim().is_empty());
        assert_eq!(failed(&replay), failed(&check));
        assert!(replay.stdout.is_empty());
    }
}

#[test]
fn realtime_keeps_the_recorded_gaps() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hello = r#""line":"{\"class\": \"keepalive\"}""#;
    let capture = [
        start(T0, 1),
        message(T0, 1, "client", hello),
        message(T0 + 300_000, 1, "server", hello),
        end(T0 + 300_000, 1),
    ]
    .concat();
    let input = write(dir.path(), "gap.jsonl", &capture);
    let began = Instant::now();
    let finished = succeeded(replay_with(SPY, &[&input], &["--realtime"]));
    assert!(began.elapsed() >= Duration::from_millis(250), "{:?}", began.elapsed());
    assert_eq!(parse_spy(&finished.stdout).len(), 2);
}

#[test]
fn max_gap_caps_an_hour_of_silence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hello = r#""line":"{\"class\": \"keepalive\"}""#;
    let hour = 3_600_000_000;
    let capture = [
        start(T0, 1),
        message(T0, 1, "client", hello),
        message(T0 + hour, 1, "server", hello),
        end(T0 + hour, 1),
    ]
    .concat();
    let input = write(dir.path(), "hour.jsonl", &capture);
    let began = Instant::now();
    let options = ["--realtime", "--max-gap", "0.2"];
    let finished = succeeded(replay_with(SPY, &[&input], &options));
    assert!(began.elapsed() >= Duration::from_millis(150), "{:?}", began.elapsed());
    let times: Vec<String> = parse_spy(&finished.stdout).into_iter().map(|p| p.time).collect();
    assert_eq!(times.len(), 2);
    assert_ne!(times[0], times[1], "recorded times are shown, not replay times");
}

#[test]
fn usage_errors_exit_2() {
    let mut cmd = ctiproxy();
    cmd.args(["replay", "-c", "x.toml"]);
    assert_eq!(Running::spawn(cmd).finish().status.code(), Some(2), "no capture");
    let mut cmd = ctiproxy();
    cmd.args(["replay", "-c", "x.toml", "--max-gap", "-1", "a.jsonl"]);
    assert_eq!(Running::spawn(cmd).finish().status.code(), Some(2), "negative gap");
}

#[test]
fn a_signal_stops_a_replay_whose_output_nobody_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut capture = start(T0, 1);
    for n in 0..60_000 {
        capture += &message(T0 + n, 1, "server", r#""line":"{\"class\":\"getlist\",\"n\":1}""#);
    }
    let capture = write(dir.path(), "big.jsonl", &capture);
    let config = support::write_config(
        dir.path(),
        "[proxy]\nqueue_bytes = 1048576\nshutdown_timeout_secs = 1\n\n[[pipeline]]\nplugin = \"spy\"\n",
    );
    let mut cmd = ctiproxy();
    cmd.arg("replay").arg("-c").arg(&config).arg(&capture);
    let running = Running::spawn_unread(cmd);
    // The spy blocks on the full pipe, the queue fills, the feed waits for room.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !running.stderr().contains("Replaying ") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    running.signal("TERM");
    // Before, the feed waited for room the stalled spy never made, deaf to the signal.
    let finished = running.finish();
    assert!(finished.stderr.contains("were not analysed"), "{}", finished.stderr);
}
