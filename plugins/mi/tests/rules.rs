//! The `mi` rules plugin through the plugin harness (the real `extern "C"` shims) against the
//! test MI server on real sockets: the example rules on the shared CTI fixtures, ids and shapes,
//! refusals, cooldown, dry-run, failures by reason, a full queue and shutdown.

use std::time::{Duration, Instant};

use ctiproxy_mi::plugin::MiRules;
use ctiproxy_mi::test_server::{Injection, Kind, TestServer, UacRequest};
use ctiproxy_plugin_api::harness::Harness;
use ctiproxy_plugin_api::{Direction, Level};
use serde_json::Value;

const SESSION: &str = include_str!("../../../core/demo/session-login.jsonl");
const EVENTS: &str = include_str!("fixtures/cti/events-of-interest.jsonl");

const EXAMPLE: &str = include_str!("../../../config.example.toml");

/// The `mi` entry of config.example.toml, as the plugin receives it: its `vars` and its two
/// rules, without its transport and dry-run (each test sets its own).
fn example_rules() -> String {
    let start = EXAMPLE.find("plugin = \"mi\"").expect("config.example.toml has an mi entry");
    let entry = &EXAMPLE[start..];
    let end = entry.find("\n[[pipeline]]").unwrap_or(entry.len());
    entry[..end]
        .lines()
        .filter(|l| l.starts_with("vars") || l.starts_with("[[pipeline.rules]]") || in_rule(l))
        .map(|l| l.replace("[[pipeline.rules]]", "[[rules]]"))
        .collect::<Vec<_>>()
        .join("\n")
}

// Rule keys start lowercase; the entry's own settings are named so as not to collide.
fn in_rule(line: &str) -> bool {
    const RULE_KEYS: [&str; 12] = [
        "name",
        "match",
        "direction",
        "when",
        "each",
        "action",
        "uri",
        "account",
        "new",
        "old",
        "event",
        "cooldown",
    ];
    RULE_KEYS.iter().any(|k| line.starts_with(&format!("{k} =")))
}

fn plugin(transport: &str, extra: &str, rules: &str) -> Harness<MiRules> {
    Harness::new(&format!("{transport}\n{extra}\n{rules}")).expect("the plugin builds")
}

fn datagram(server: &TestServer) -> String {
    format!("datagram = \"{}\"", server.datagram_addr())
}

/// Plays `(dir, msg)` lines of a fixture (`{"dir", "msg"}` per line).
fn play(h: &mut Harness<MiRules>, fixture: &str) {
    for line in fixture.lines().filter(|l| !l.trim().is_empty()) {
        let record: Value = serde_json::from_str(line).unwrap();
        let msg = record["msg"].to_string();
        match record["dir"].as_str() {
            Some("client") => h.client(&msg),
            _ => h.server(&msg),
        };
    }
}

/// The event fixture's messages with the given topic, as `(dir, msg)` lines.
fn events(topic: &str) -> String {
    EVENTS
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).unwrap()["topic"] == topic)
        .collect::<Vec<_>>()
        .join("\n")
}

fn wait_for(server: &TestServer, count: usize) -> Vec<UacRequest> {
    let start = Instant::now();
    while server.uac_requests().len() < count && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.uac_requests()
}

/// `(ruri, headers without the random From tag, body)`.
fn shown(requests: &[UacRequest]) -> Vec<(String, String, Option<String>)> {
    requests
        .iter()
        .map(|r| {
            let headers = r
                .headers
                .split("\r\n")
                .map(|h| h.split(";tag=").next().unwrap_or(h))
                .collect::<Vec<_>>()
                .join("|");
            (r.ruri.clone(), headers, r.body.clone())
        })
        .collect()
}

fn mwi(number: &str, mailbox: &str, new: u32, old: u32) -> (String, String, Option<String>) {
    let uri = format!("sip:{number}@pbx.example.com");
    let waiting = if new > 0 { "yes" } else { "no" };
    (
        uri.clone(),
        format!("To: <{uri}>|From: <{uri}>|Event: message-summary|Subscription-State: active|Content-Type: application/simple-message-summary||"),
        Some(format!(
            "Messages-Waiting: {waiting}\r\nMessage-Account: sip:{mailbox}@pbx.example.com\r\nVoice-Message: {new}/{old} (0/0)\r\n\r\n"
        )),
    )
}

fn resync(number: &str) -> (String, String, Option<String>) {
    let uri = format!("sip:{number}@pbx.example.com");
    (uri.clone(), format!("To: <{uri}>|From: <{uri}>|Event: check-sync||"), None)
}

fn expected_commands() -> Vec<(String, String, Option<String>)> {
    vec![
        // The initial load: each mailbox's count, to its owner's line.
        mwi("1001", "1001", 1, 0),
        mwi("1002", "1002", 0, 0),
        // Later in the session: Bob gets a message, Alice listens to hers.
        mwi("1002", "1002", 1, 0),
        mwi("1001", "1001", 0, 0),
        // The administrator edits Bob's line (a push, not the answer to the client's request).
        resync("1002"),
        // The event fixture: voicemail 3 gets 2 new messages, then 0, then the legacy shape.
        mwi("1002", "1002", 2, 0),
        mwi("1002", "1002", 0, 0),
        mwi("1002", "1002", 2, 1),
        // Bob's line edited again within 10 s: the cooldown holds it; the legacy phone 3 fires.
        resync("1000"),
    ]
}

fn run_example(transport: String, server: &TestServer) -> Harness<MiRules> {
    let mut h = plugin(&transport, "timeout = 5", &example_rules());
    h.start_session();
    play(&mut h, SESSION);
    play(&mut h, &events("mwi"));
    play(&mut h, &events("phone-config"));
    // Commands to different phones go out concurrently; to one phone, in the order they fired.
    let by_phone = |mut commands: Vec<(String, String, Option<String>)>| {
        commands.sort_by(|a, b| a.0.cmp(&b.0));
        commands
    };
    let expected = by_phone(expected_commands());
    let received = by_phone(shown(&wait_for(server, expected.len())));
    assert_eq!(received, expected);
    h.shutdown();
    h
}

#[test]
fn the_example_rules_send_exactly_the_expected_commands_over_datagram() {
    let server = TestServer::start();
    let h = run_example(datagram(&server), &server);
    assert_eq!(shown(&server.uac_requests()).len(), expected_commands().len(), "nothing more");
    assert!(server.uac_requests().iter().all(|r| r.method == "NOTIFY"));
    assert_eq!(h.counter("mwi-lamp.fired"), 7);
    assert_eq!(h.counter("mwi-lamp.succeeded"), 7);
    assert_eq!(h.counter("phone-resync.fired"), 2);
    assert_eq!(h.counter("phone-resync.suppressed"), 1);
    let summary = h.logs().into_iter().find(|(_, m)| m.starts_with("MI rules:")).unwrap().1;
    assert!(summary.contains("mwi-lamp: matched 7, fired 7, succeeded 7, failed 0"), "{summary}");
    // -v: each command and its outcome, with the rule and the message that caused it.
    let debug: Vec<String> =
        h.logs().into_iter().filter(|(l, _)| *l == Level::Debug).map(|(_, m)| m).collect();
    let cause = "(cause: Server > Client session 1: {\"class\":\"getlist\",\"function\":\"updatestatus\",\"listname\":\"voicemails\",\"tipbxid\":\"xivo\",\"tid\":\"3\",\"status\":{\"new\":\"1\"}";
    for what in [
        "rule mwi-lamp: sending t_uac_dlg sip:1002@pbx.example.com ",
        "rule mwi-lamp: t_uac_dlg sip:1002@pbx.example.com: 200 OK ",
    ] {
        assert!(
            debug.iter().any(|m| m.starts_with(what) && m.contains(cause)),
            "{what}: {debug:#?}"
        );
    }
}

#[test]
fn the_example_rules_send_the_same_over_xmlrpc_and_fifo() {
    let server = TestServer::start();
    run_example(format!("xmlrpc = \"{}\"", server.xmlrpc_url()), &server);
    assert_eq!(server.requests(Kind::XmlRpc).len(), expected_commands().len());
    let server = TestServer::start();
    let fifo = format!(
        "fifo = \"{}\"\nreply_dir = \"{}\"",
        server.fifo_path().display(),
        server.reply_dir().display()
    );
    run_example(fifo, &server);
    assert_eq!(server.requests(Kind::Fifo).len(), expected_commands().len());
}

#[test]
fn the_example_rules_send_the_same_over_http() {
    let server = TestServer::start();
    run_example(format!("http = \"{}\"", server.http_url()), &server);
    assert_eq!(server.requests(Kind::Http).len(), expected_commands().len());
}

#[test]
fn ids_as_strings_or_integers_and_two_pbxs_with_overlapping_ids() {
    let server = TestServer::start();
    let mut h = plugin(&datagram(&server), "", &example_rules());
    let config = |pbx: &str, list: &str, tid: &str, config: &str| {
        format!(
            r#"{{"class":"getlist","function":"updateconfig","listname":"{list}","tipbxid":"{pbx}","tid":{tid},"config":{config}}}"#
        )
    };
    for pbx in ["xivo", "other"] {
        let number = if pbx == "xivo" { "1002" } else { "2002" };
        h.server(&config(pbx, "voicemails", "3", r#"{"mailbox":"1002"}"#));
        h.server(&config(pbx, "users", "\"4\"", r#"{"voicemailid":3,"linelist":[8]}"#));
        h.server(&config(pbx, "phones", "\"8\"", &format!(r#"{{"number":"{number}"}}"#)));
    }
    let status = |pbx: &str, tid: &str, new: &str| {
        format!(
            r#"{{"class":"getlist","function":"updatestatus","listname":"voicemails","tipbxid":"{pbx}","tid":{tid},"status":{{"new":{new}}}}}"#
        )
    };
    h.server(&status("xivo", "3", "\"2\""));
    h.server(&status("other", "\"3\"", "5"));
    h.server(&status("xivo", "\"3\"", "2")); // the same count, as an integer: no change
    let sent = shown(&wait_for(&server, 4));
    // The pushed phone configs fire the resync rule too, once per PBX (different URIs).
    let mut mwis: Vec<_> = sent.iter().filter(|(_, _, body)| body.is_some()).cloned().collect();
    mwis.sort();
    assert_eq!(mwis, [mwi("1002", "1002", 2, 0), mwi("2002", "1002", 5, 0)]);
    h.shutdown();
    assert_eq!(h.counter("mwi-lamp.matched"), 2);
}

#[test]
fn unknown_ids_undefined_values_and_injection_are_refused_before_sending() {
    let server = TestServer::start();
    let rules = r#"
[[rules]]
name = "notify-user"
match = { class = "getlist", function = "updatestatus", listname = "users" }
action = "event_notify"
uri = "sip:{{ lookup('users', msg.tid).config.number }}@pbx"
event = "check-sync"
headers = ["X-Status: {{ msg.status.availstate }}"]
"#;
    let mut h = plugin(&datagram(&server), "", rules);
    let user = r#"{"class":"getlist","function":"updateconfig","listname":"users","tipbxid":"xivo","tid":"5","config":{"number":"1003"}}"#;
    h.server(user);
    let status = |tid: &str, state: &str| {
        format!(
            r#"{{"class":"getlist","function":"updatestatus","listname":"users","tipbxid":"xivo","tid":"{tid}","status":{{"availstate":{state}}}}}"#
        )
    };
    h.server(&status("9", "\"away\"")); // unknown user
    h.server(&status("5", "\"away\\r\\nX-Injected: 1\"")); // header injection
    h.server(r#"{"class":"getlist","function":"updatestatus","listname":"users","tipbxid":"xivo","tid":"5","status":{}}"#);
    h.shutdown();
    assert_eq!(server.request_count(), 0, "nothing was sent");
    assert_eq!(h.counter("notify-user.refused"), 3);
    let logs: Vec<String> = h.logs().into_iter().map(|(_, m)| m).collect();
    let about =
        |needle: &str| logs.iter().any(|m| m.contains("rule notify-user") && m.contains(needle));
    assert!(about("(undefined)") && about("lookup('users', msg.tid).config.number"), "{logs:#?}");
    assert!(about("(invalid)") && about("control character"), "{logs:#?}");
    assert!(about("msg.status.availstate"), "{logs:#?}");
    assert!(!h.is_poisoned());
}

#[test]
fn cooldown_suppresses_repeats_and_lets_one_through_after_the_window() {
    let server = TestServer::start();
    let mut h = plugin(&datagram(&server), "", &example_rules());
    let phone = r#"{"class":"getlist","function":"updateconfig","listname":"phones","tipbxid":"xivo","tid":"8","config":{"number":"1002"}}"#;
    let t0 = 1_550_844_512_000_000;
    for (seconds, _) in [(0, "fires"), (3, "suppressed"), (9, "suppressed"), (10, "fires")] {
        h.set_time(t0 + seconds * 1_000_000);
        h.server(phone);
    }
    assert_eq!(shown(&wait_for(&server, 2)), [resync("1002"), resync("1002")]);
    h.shutdown();
    assert_eq!(h.counter("phone-resync.suppressed"), 2);
}

#[test]
fn dry_run_prints_every_command_and_sends_nothing() {
    let server = TestServer::start();
    let mut h = plugin(&datagram(&server), "dry_run = true", &example_rules());
    h.start_session();
    play(&mut h, SESSION);
    h.shutdown();
    let out = h.output();
    let over = format!("would send over datagram {}: t_uac_dlg sip:", server.datagram_addr());
    assert_eq!(out.matches(&format!("mi dry-run: rule mwi-lamp {over}")).count(), 4, "{out}");
    assert_eq!(out.matches(&format!("mi dry-run: rule phone-resync {over}1002")).count(), 1);
    assert!(out.contains(r#"    params: {"method":"NOTIFY","ruri":"sip:1002@pbx.example.com""#));
    assert!(out.contains("    cause:  Server > Client session 1: {\"class\":\"getlist\",\"function\":\"updateconfig\",\"listname\":\"phones\""));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(server.request_count(), 0);
}

#[test]
fn check_only_validates_without_starting_anything() {
    let h =
        Harness::<MiRules>::check_only(&format!("datagram = \"127.0.0.1:9\"\n{}", example_rules()));
    assert!(h.is_ok());
}

fn config_error(text: &str) -> String {
    match Harness::<MiRules>::new(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_settings_name_the_key() {
    let rule = |body: &str| format!("datagram = \"127.0.0.1:9\"\n[[rules]]\nname = \"r\"\n{body}");
    let error =
        config_error(&rule("action = \"event_notify\"\nuri = \"sip:{{ msg.x \"\nevent = \"x\""));
    assert!(error.contains("rules[0].uri: template error"), "{error}");
    let error = config_error(&rule(
        "action = \"event_notify\"\nwhen = \"msg.x ==\"\nuri = \"u\"\nevent = \"e\"",
    ));
    assert!(error.contains("rules[0].when: template error"), "{error}");
    let error = config_error(&rule("action = \"mwi_update\"\nuri = \"u\"\naccount = \"a\""));
    assert!(error.contains("rules[0].new: required by action mwi_update"), "{error}");
    let error = config_error(&rule("action = \"command\"\ncommand = \"uptime\"\nevent = \"e\""));
    assert!(error.contains("rules[0].event: not used by action command"), "{error}");
    let error = config_error(&rule("action = \"reboot\""));
    assert!(error.contains("reboot"), "{error}");
    let error = config_error("[[rules]]\nname = \"r\"\naction = \"command\"\ncommand = \"uptime\"");
    assert!(error.contains("set one MI transport"), "{error}");
    let error = config_error("datagram = \"nonsense\"\n[[rules]]\nname = \"r\"\naction = \"command\"\ncommand = \"uptime\"");
    assert!(error.contains("nonsense"), "{error}");
}

fn uptime_rule(extra: &str) -> String {
    format!(
        "{extra}\n[[rules]]\nname = \"ping\"\nmatch = {{ class = \"keepalive\" }}\naction = \"command\"\ncommand = \"uptime\"\n"
    )
}

fn failures(h: &Harness<MiRules>) -> String {
    h.logs().into_iter().find(|(_, m)| m.starts_with("MI rules:")).unwrap().1
}

#[test]
fn failures_are_counted_by_reason_and_traffic_is_never_held() {
    let server = TestServer::start();
    let mut h = plugin(&datagram(&server), "timeout = 0.3", &uptime_rule(""));
    server.inject(Kind::Datagram, Injection::Reply(b"garbage".to_vec()));
    server.inject(Kind::Datagram, Injection::Silence);
    let started = Instant::now();
    for _ in 0..3 {
        h.client(r#"{"class":"keepalive"}"#);
    }
    assert!(started.elapsed() < Duration::from_millis(250), "the pipeline never waits");
    h.shutdown();
    let summary = failures(&h);
    assert!(
        summary.contains("succeeded 1, failed 2 (malformed reply: 1, timeout: 1)"),
        "{summary}"
    );
    let warned = h.logs().iter().any(|(l, m)| *l == Level::Warn && m.contains("rule ping: uptime"));
    assert!(warned);
}

#[test]
fn a_phone_that_answers_408_is_a_failure_and_does_not_hold_the_others() {
    let server = TestServer::start();
    server.set_uac_delay(Duration::from_millis(600));
    let rules = r#"
[[rules]]
name = "resync"
match = { class = "resync" }
action = "event_notify"
uri = "sip:{{ msg.who }}@pbx"
event = "snom_reboot"
"#;
    let mut h = plugin(&datagram(&server), "uac_dlg_timeout = 5\nin_flight = 2", rules);
    h.server(r#"{"class":"resync","who":"dead"}"#);
    h.server(r#"{"class":"resync","who":"alive"}"#);
    let start = Instant::now();
    while h.counter("resync.succeeded") == 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(h.counter("resync.failed"), 0, "the live phone answered while the dead one waits");
    h.shutdown();
    assert!(failures(&h).contains("failed 1 (SIP 408 Request Timeout: 1)"), "{}", failures(&h));
    let headers = &server.uac_requests()[0].headers;
    assert!(headers.contains("Event: check-sync;reboot=true"), "{headers}");
}

#[test]
fn an_mi_server_that_is_down_fails_as_transport_or_timeout() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    drop(socket);
    let mut h = plugin(&format!("datagram = \"{addr}\""), "timeout = 0.2", &uptime_rule(""));
    h.client(r#"{"class":"keepalive"}"#);
    h.shutdown();
    let summary = failures(&h);
    assert!(
        summary.contains("failed 1 (transport error: 1)")
            || summary.contains("failed 1 (timeout: 1)"),
        "{summary}"
    );
}

#[test]
fn a_full_queue_refuses_and_shutdown_reports_what_was_not_sent() {
    let server = TestServer::start();
    for _ in 0..4 {
        server.inject(Kind::Datagram, Injection::Silence);
    }
    let extra = "timeout = 30\nin_flight = 1\nqueue = 1\nshutdown_timeout = 0.2";
    let mut h = plugin(&datagram(&server), extra, &uptime_rule(""));
    for _ in 0..4 {
        h.client(r#"{"class":"keepalive"}"#);
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    h.shutdown();
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown has a deadline");
    let summary = failures(&h);
    assert!(summary.contains("refused 2 (queue full: 2)"), "{summary}");
    assert!(summary.contains("not sent at shutdown 2"), "{summary}");
    let warned = h.logs().iter().any(|(_, m)| m.contains("2 MI commands were not sent"));
    assert!(warned, "{:?}", h.logs());
}

#[test]
fn the_rate_limit_refuses_beyond_its_rate() {
    let server = TestServer::start();
    let mut h = plugin(&datagram(&server), "rate_limit = 2", &uptime_rule(""));
    for _ in 0..5 {
        h.send(Direction::ClientToServer, br#"{"class":"keepalive"}"#, 0);
    }
    h.shutdown();
    assert!(failures(&h).contains("refused 3 (rate limit: 3)"), "{}", failures(&h));
}

#[test]
fn hostile_messages_neither_crash_nor_flood() {
    let server = TestServer::start();
    for _ in 0..16 {
        server.inject(Kind::Datagram, Injection::Silence);
    }
    let rules = r#"
[[rules]]
name = "each-item"
each = "msg.items"
action = "command"
command = "log_level"
params = { level = "{{ item }}" }
"#;
    let extra = "timeout = 5\nin_flight = 1\nqueue = 8\nshutdown_timeout = 0";
    let mut h = plugin(&datagram(&server), extra, rules);
    let deep = format!("{{\"items\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    h.server(&deep);
    let items: Vec<String> = (0..20_000).map(|i| i.to_string()).collect();
    h.server(&format!("{{\"items\":[{}]}}", items.join(",")));
    h.server(r#"{"items":"not a list of commands","x":1}"#);
    h.shutdown();
    assert!(!h.is_poisoned());
    let summary = failures(&h);
    // Nesting beyond the JSON parser's limit is no message; 20,000 items are 20,000 commands of
    // which the queue (8) and the one worker take 9, the rest refused; a string iterates by
    // character, each a valid level.
    assert!(summary.contains("matched 2, fired"), "{summary}");
    assert!(summary.contains("queue full: "), "{summary}");
}
