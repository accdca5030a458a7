//! The stats plugin, tested in-process with the plugin-api harness.
use std::collections::BTreeMap;

use ctiproxy_plugin_api::abi::{MSG_NO_NEWLINE, MSG_OVERSIZE};
use ctiproxy_plugin_api::harness::Harness;
use ctiproxy_plugin_api::{CreateError, Direction, Outcome, SessionEnd};
use ctiproxy_stats::Stats;
use serde_json::{json, Value};

/// 2019-02-22T14:08:32Z.
const T0: i64 = 1_550_844_512_000_000;

fn stats(config: &str) -> Harness<Stats> {
    Harness::<Stats>::new(config).unwrap()
}

/// Every JSON report printed since the last call.
fn json_reports(h: &Harness<Stats>) -> Vec<Value> {
    h.take_output().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

fn end(id: u64) -> SessionEnd<'static> {
    SessionEnd { session_id: id, reason: "client closed", ..SessionEnd::default() }
}

#[test]
fn counts_messages_per_class_and_direction_most_frequent_first() {
    let mut h = stats(r#"format = "json""#);
    h.set_time(T0);
    h.start_session();
    let server_lines = [r#"{"class":"getlist"}"#, r#"{"class":"getlist"}"#, r#"{"class":"b"}"#];
    for line in server_lines {
        assert_eq!(h.server(line), Outcome::Pass);
    }
    let client_lines =
        [r#"{"class":"getlist"}"#, r#"{"class":"a"}"#, r#"{"no":"class"}"#, "not json"];
    for line in client_lines {
        h.client(line);
    }
    let (oversize, tail) = (r#"{"class":"big""#, r#"{"class":"a"}"#);
    h.send(Direction::ServerToClient, oversize.as_bytes(), MSG_OVERSIZE);
    h.send(Direction::ClientToServer, tail.as_bytes(), MSG_NO_NEWLINE);
    h.set_time(T0 + 2_000_000);
    h.end_session("client closed");

    let [report] = &json_reports(&h)[..] else { panic!("one report expected") };
    assert_eq!(report["report"], "session");
    assert_eq!(report["session"], 1);
    assert_eq!(report["client"], "127.0.0.1:40000");
    assert_eq!(report["server"], "127.0.0.1:5003");
    assert_eq!(report["reason"], "client closed");
    assert_eq!(report["start_us"], T0);
    assert_eq!(report["end_us"], T0 + 2_000_000);
    assert_eq!(report["duration_s"], 2.0);
    assert_eq!(
        report["messages"],
        json!({"client": 5, "server": 4, "classes": [
            {"class": "getlist", "client": 1, "server": 2},
            {"class": "a", "client": 2, "server": 0},
            {"class": "(no class)", "client": 1, "server": 0},
            {"class": "(not json)", "client": 1, "server": 0},
            {"class": "(oversize)", "client": 0, "server": 1},
            {"class": "b", "client": 0, "server": 1},
        ]})
    );
    // Bytes counted from the lines, each with its `\n` except the tail that had none.
    let c2s: usize = client_lines.iter().map(|l| l.len() + 1).sum::<usize>() + tail.len();
    let s2c: usize = server_lines.iter().map(|l| l.len() + 1).sum::<usize>() + oversize.len() + 1;
    assert_eq!(report["network"]["client"]["bytes"], c2s);
    assert_eq!(report["network"]["server"]["bytes"], s2c);
    assert_eq!(report["messages_per_s"], 4.5);
    assert_eq!(report["oversize"], 1);
    assert_eq!(report["dropped"], 0);
    assert_eq!(report["latency"], json!([]));
}

#[test]
fn network_figures_come_from_the_proxy_counts_at_session_end() {
    let mut h = stats(r#"format = "json""#);
    h.set_time(T0);
    h.start_session();
    h.client(r#"{"class":"a"}"#);
    h.set_time(T0 + 4_000_000);
    h.end_session_with(SessionEnd {
        bytes_c2s: 1000,
        bytes_s2c: 3000,
        msgs_c2s: 10,
        msgs_s2c: 30,
        reads_c2s: 4,
        reads_s2c: 8,
        dropped: 2,
        ..end(1)
    });
    let [report] = &json_reports(&h)[..] else { panic!("one report expected") };
    let wire = |bytes: u64, reads: u64| bytes + 50 * reads;
    assert_eq!(
        report["network"],
        json!({
            "client": {"bytes": 1000, "packets": 4, "wire_bytes": wire(1000, 4),
                       "bytes_per_s": 250.0, "packets_per_s": 1.0},
            "server": {"bytes": 3000, "packets": 8, "wire_bytes": wire(3000, 8),
                       "bytes_per_s": 750.0, "packets_per_s": 2.0},
        })
    );
    assert_eq!(report["messages_per_s"], 10.0);
    assert_eq!(report["dropped"], 2);
}

#[test]
fn latency_pairs_replyid_with_commandid_using_receive_timestamps() {
    let mut h = stats(r#"format = "json""#);
    h.set_time(T0);
    h.start_session();
    // 100 requests, the i-th answered after i ms; replies arrive in reverse order.
    for i in 1..=100 {
        h.set_time(T0 + i * 10);
        h.client(&format!(r#"{{"class":"getlist","commandid":{i}}}"#));
    }
    for i in (1..=100).rev() {
        h.set_time(T0 + i * 10 + i * 1000);
        h.server(&format!(r#"{{"class":"getlist","replyid":"{i}"}}"#));
    }
    h.set_time(T0 + 200);
    h.client(r#"{"class":"login_id","commandid":7}"#);
    h.set_time(T0 + 2_700);
    h.server(r#"{"class":"login_id","replyid":7}"#);
    h.server(r#"{"class":"getlist","replyid":12345}"#); // answers nothing
    h.end_session("client closed");

    let [report] = &json_reports(&h)[..] else { panic!("one report expected") };
    assert_eq!(
        report["latency"],
        json!([
            {"class": "getlist", "count": 100, "p50_ms": 50.0, "p99_ms": 99.0, "max_ms": 100.0},
            {"class": "login_id", "count": 1, "p50_ms": 2.5, "p99_ms": 2.5, "max_ms": 2.5},
        ])
    );
}

#[test]
fn requests_do_not_pair_across_sessions() {
    let mut h = stats(r#"format = "json""#);
    h.start_session();
    h.client(r#"{"class":"a","commandid":1}"#);
    h.end_session("client closed");
    h.start_session();
    h.server(r#"{"class":"a","replyid":1}"#);
    h.end_session("client closed");
    for report in json_reports(&h) {
        assert_eq!(report["latency"], json!([]), "{report}");
    }
}

#[test]
fn the_login_fixture_is_counted_class_by_class() {
    let fixture = include_str!("fixtures/session-login.jsonl");
    let records: Vec<Value> = fixture.lines().map(|l| serde_json::from_str(l).unwrap()).collect();

    // What the report must say, derived from the fixture itself.
    let mut expected: BTreeMap<String, [u64; 2]> = BTreeMap::new();
    let mut commandids = Vec::new();
    let mut replies = 0;
    let mut bytes = [0usize; 2];
    let mut h = stats(r#"format = "json""#);
    h.start_session();
    for record in &records {
        let msg = &record["msg"];
        let line = serde_json::to_string(msg).unwrap();
        let d = usize::from(record["dir"] == "server");
        let class = msg["class"].as_str().unwrap_or("(no class)").to_owned();
        expected.entry(class).or_default()[d] += 1;
        bytes[d] += line.len() + 1;
        if d == 0 {
            commandids.extend(msg.get("commandid").cloned());
        } else if msg.get("replyid").is_some_and(|id| commandids.contains(id)) {
            replies += 1;
        }
        let dir = if d == 0 { Direction::ClientToServer } else { Direction::ServerToClient };
        assert_eq!(h.send(dir, line.as_bytes(), 0), Outcome::Pass);
    }
    h.end_session("client closed");

    let [report] = &json_reports(&h)[..] else { panic!("one report expected") };
    let counted: BTreeMap<String, [u64; 2]> = report["messages"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let counts = [row["client"].as_u64().unwrap(), row["server"].as_u64().unwrap()];
            (row["class"].as_str().unwrap().to_owned(), counts)
        })
        .collect();
    assert_eq!(counted, expected);
    let totals: Vec<u64> = report["messages"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["client"].as_u64().unwrap() + row["server"].as_u64().unwrap())
        .collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "most frequent first: {totals:?}");
    let sent = expected.values().map(|c| c[0]).sum::<u64>();
    assert_eq!(report["messages"]["client"], sent);
    assert_eq!(report["messages"]["server"], records.len() as u64 - sent);
    assert_eq!(report["network"]["client"]["bytes"], bytes[0]);
    assert_eq!(report["network"]["server"]["bytes"], bytes[1]);
    let latency_count: u64 =
        report["latency"].as_array().unwrap().iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(latency_count, replies);
    assert!(replies > 0, "the fixture has request/reply pairs");
}

#[test]
fn totals_follow_at_shutdown_when_there_were_several_sessions() {
    let mut h = stats(r#"format = "json""#);
    h.set_time(T0);
    h.start_session();
    h.client(r#"{"class":"a"}"#);
    h.end_session_with(SessionEnd { dropped: 1, ..end(1) });
    h.start_session();
    h.client(r#"{"class":"a"}"#);
    h.server(r#"{"class":"b"}"#);
    h.set_time(T0 + 1_000_000);
    h.end_session_with(SessionEnd { dropped: 2, ..end(2) });
    let sessions = json_reports(&h);
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[1]["session"], 2);
    h.shutdown();

    let [total] = &json_reports(&h)[..] else { panic!("one total expected") };
    assert_eq!(total["report"], "total");
    assert_eq!(total["sessions"], 2);
    assert!(total.get("session").is_none() && total.get("reason").is_none());
    assert_eq!(total["start_us"], T0);
    assert_eq!(total["end_us"], T0 + 1_000_000);
    assert_eq!(
        total["messages"],
        json!({"client": 2, "server": 1, "classes": [
            {"class": "a", "client": 2, "server": 0},
            {"class": "b", "client": 0, "server": 1},
        ]})
    );
    assert_eq!(total["dropped"], 3);
}

#[test]
fn a_single_session_prints_no_totals() {
    let mut h = stats(r#"format = "json""#);
    h.start_session();
    h.end_session("client closed");
    assert_eq!(json_reports(&h).len(), 1);
    h.shutdown();
    assert_eq!(h.take_output(), "");
}

#[test]
fn without_per_session_reports_only_totals_at_shutdown() {
    let mut h = stats("format = \"json\"\nper_session = false");
    h.start_session();
    h.client(r#"{"class":"a"}"#);
    h.end_session("client closed");
    assert_eq!(h.take_output(), "");
    h.shutdown();
    let [total] = &json_reports(&h)[..] else { panic!("one total expected") };
    assert_eq!((total["report"].as_str(), total["sessions"].as_u64()), (Some("total"), Some(1)));
}

#[test]
fn a_session_still_open_at_shutdown_is_reported_up_to_the_last_tick() {
    let mut h = stats(r#"format = "json""#);
    h.set_time(T0);
    h.start_session();
    h.client(r#"{"class":"a"}"#);
    h.set_time(T0 + 3_000_000);
    h.timer_tick();
    h.shutdown();
    let [report] = &json_reports(&h)[..] else { panic!("one report expected") };
    assert_eq!(report["reason"], "still open at shutdown");
    assert_eq!(report["duration_s"], 3.0);
}

#[test]
fn show_selects_the_sections() {
    let mut h = stats("format = \"json\"\nshow = \"msg\"");
    h.start_session();
    h.end_session("client closed");
    let [report] = &json_reports(&h)[..] else { panic!() };
    let keys: Vec<&str> = report.as_object().unwrap().keys().map(String::as_str).collect();
    let common = ["report", "session", "client", "server", "reason", "start_us", "end_us"];
    assert_eq!(keys, [&common[..], &["duration_s", "messages"]].concat());

    let mut h = stats("format = \"json\"\nshow = \"network\"");
    h.start_session();
    h.end_session("client closed");
    let [report] = &json_reports(&h)[..] else { panic!() };
    let keys: Vec<&str> = report.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, [&common[..], &["duration_s", "network"]].concat());
}

#[test]
fn text_messages_report_has_aligned_columns() {
    let mut h = stats(r#"show = "msg""#);
    h.set_time(T0);
    h.start_session();
    h.server(r#"{"class":"getlist"}"#);
    h.server(r#"{"class":"getlist"}"#);
    h.client(r#"{"class":"login_capas"}"#);
    h.set_time(T0 + 1_500_000);
    h.end_session("client closed");
    assert_eq!(
        h.take_output(),
        "Session 1: 127.0.0.1:40000 > 127.0.0.1:5003, client closed\n\
         Running time: 1.500 s\n\
         \n\
         Messages         Client > Server  Server > Client\n\
         \x20   getlist                    0                2\n\
         \x20   login_capas                1                0\n\
         \x20   total                      1                2\n\
         \n"
    );
}

#[test]
fn text_network_report_has_the_classic_figures() {
    let mut h = stats(r#"show = "network""#);
    h.set_time(T0);
    h.start_session();
    h.set_time(T0 + 2_000_000);
    h.end_session_with(SessionEnd {
        bytes_c2s: 100,
        bytes_s2c: 2000,
        reads_c2s: 2,
        reads_s2c: 10,
        ..end(1)
    });
    let out = h.take_output();
    let expected = "\
Network                     Client > Server  Server > Client
    application bytes                   100             2000
    packets (estimated)                   2               10
    wire bytes (estimated)              200             2500
    bytes/s                            50.0           1000.0
    packets/s                           1.0              5.0
";
    assert!(out.contains(expected), "{out}");
    assert!(out.contains("Running time: 2.000 s\n"), "{out}");
}

#[test]
fn text_all_adds_latency_and_the_extra_counts() {
    let mut h = stats("");
    h.start_session();
    h.set_time(T0);
    h.client(r#"{"class":"login_id","commandid":1}"#);
    h.set_time(T0 + 1_250);
    h.server(r#"{"class":"login_id","replyid":1}"#);
    h.end_session("client closed");
    let out = h.take_output();
    assert!(out.contains("Latency (request > reply)  count  p50 ms  p99 ms  max ms\n"), "{out}");
    assert!(out.contains("    login_id                   1   1.250   1.250   1.250\n"), "{out}");
    assert!(out.contains("Oversize lines: 0\nDropped (queue full): 0\n"), "{out}");
    assert!(out.contains("Messages/s: "), "{out}");
}

#[test]
fn bad_settings_are_config_errors_naming_the_key() {
    for (config, key) in [(r#"show = "everything""#, "show"), (r#"format = "xml""#, "format")] {
        let Err(CreateError::Config(err)) = Harness::<Stats>::new(config) else {
            panic!("expected a config error for {config}");
        };
        assert_eq!(err.path, key);
    }
}

/// One session, three `getlist` and a line without class from the server, a `login_capas`, a
/// `getlist` and a line that is not JSON from the client, 2.5 s, counts from the proxy.
fn classic_session(config: &str) -> String {
    let mut h = stats(config);
    h.set_time(T0);
    h.start_session();
    for line in [r#"{"class":"getlist"}"#, r#"{"no":"class"}"#, r#"{"class":"getlist"}"#] {
        h.server(line);
    }
    h.server(r#"{"class":"getlist"}"#);
    for line in [r#"{"class":"login_capas"}"#, "not json", r#"{"class":"getlist"}"#] {
        h.client(line);
    }
    h.set_time(T0 + 2_500_000);
    h.end_session_with(SessionEnd {
        bytes_c2s: 300,
        bytes_s2c: 1200,
        reads_c2s: 3,
        reads_s2c: 4,
        ..end(1)
    });
    h.take_output()
}

/// The original `ctistat --msg`: `print msg_class, nb` per direction, most frequent first.
const CLASSIC_MESSAGES: &str = "\
=== Messages sent by client
(not-json) 1
getlist 1
login_capas 1
=== Messages sent by server
getlist 3
None 1
";

/// The original `ctistat --network`: `print "Label:\t", value`, floats as Python 2's `str`.
const CLASSIC_NETWORK: &str = "\
Running time:\t\t2.5
Client app bytes:\t300
Server app bytes:\t1200
Total app bytes:\t1500
Avg app bytes/s:\t600.0
===========
Client IP packets:\t3
Server IP packets:\t4
Total IP packets:\t7
Average IP packets/s:\t2.8
===========
Client wire bytes:\t450
Server wire bytes:\t1400
Total wire bytes:\t1850
Total headers overhead:\t0.233333333333
Average wire bytes/s:\t740.0
";

#[test]
fn classic_msg_prints_the_original_class_count_lists() {
    let out = classic_session("format = \"classic\"\nshow = \"msg\"");
    assert_eq!(out, CLASSIC_MESSAGES);
}

#[test]
fn classic_network_prints_the_original_labels_totals_overhead_and_rates() {
    let out = classic_session("format = \"classic\"\nshow = \"network\"");
    assert_eq!(out, CLASSIC_NETWORK);
}

#[test]
fn classic_all_prints_the_lists_then_the_network_figures() {
    let out = classic_session(r#"format = "classic""#);
    assert_eq!(out, format!("{CLASSIC_MESSAGES}{CLASSIC_NETWORK}"));
}

#[test]
fn classic_names_sessions_once_several_share_the_output_and_titles_the_totals() {
    let mut h = stats("format = \"classic\"\nshow = \"msg\"");
    h.set_time(T0);
    h.start_session();
    h.client(r#"{"class":"a"}"#);
    h.end_session("client closed");
    h.start_session();
    h.server(r#"{"class":"b"}"#);
    h.end_session("server closed");
    h.shutdown();
    assert_eq!(
        h.take_output(),
        "=== Messages sent by client\na 1\n=== Messages sent by server\n\
         === Session 2: 127.0.0.1:40000 > 127.0.0.1:5003, server closed\n\
         === Messages sent by client\n=== Messages sent by server\nb 1\n\
         === Total: 2 sessions\n\
         === Messages sent by client\na 1\n=== Messages sent by server\nb 1\n"
    );
}

#[test]
fn classic_network_of_an_instant_is_all_zero_rates() {
    let mut h = stats("format = \"classic\"\nshow = \"network\"");
    h.set_time(T0);
    h.start_session();
    h.set_time(T0);
    h.end_session("client closed");
    let out = h.take_output();
    for line in [
        "Running time:\t\t0.0\n",
        "Avg app bytes/s:\t0.0\n",
        "Total headers overhead:\t0.0\n",
        "Average wire bytes/s:\t0.0\n",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
}
