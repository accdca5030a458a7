//! The `mi` rules plugin inside the real proxy: the rules of config.example.toml on a live CTI
//! session (the shared fixtures) against the test MI server, byte-exact traffic whatever the MI
//! server does, the shutdown report, and rule errors located in the config file.
mod support;

use std::time::{Duration, Instant};

use ctiproxy_mi::test_server::{TestServer, UacRequest};
use support::{
    ctiproxy, parse_script, start_client, start_proxy, start_server, write_config, Step,
};

const EVENTS: &str = include_str!("fixtures/events-of-interest.jsonl");

/// config.example.toml's `mi` entry, sending for real to `datagram`.
fn example_mi_entry(datagram: &str) -> String {
    let entry = ctiproxy::demo::example_mi_entry().replace("dry_run = true", "dry_run = false");
    entry.replace("datagram = \"127.0.0.1:8809\"", &format!("datagram = \"{datagram}\""))
}

/// The login session, then the server messages of the event fixture's MWI and phone topics.
fn script() -> Vec<Step> {
    let mut steps = support::session_steps();
    let logout = steps.pop().expect("the session ends with the client's logout");
    let events: String = EVENTS
        .lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["topic"] == "mwi" || v["topic"] == "phone-config") && v["dir"] == "server"
        })
        .map(|l| format!("{l}\n"))
        .collect();
    steps.extend(parse_script(&events).unwrap());
    steps.push(logout);
    steps
}

fn wait_for(server: &TestServer, count: usize) -> Vec<UacRequest> {
    let start = Instant::now();
    while server.uac_requests().len() < count && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    server.uac_requests()
}

#[test]
fn the_example_rules_fire_on_a_live_session_and_traffic_stays_byte_exact() {
    let mi = TestServer::start();
    let steps = script();
    let (server_addr, server) = start_server(steps.clone()).unwrap();
    let (_dir, proxy) = start_proxy(server_addr, "", &example_mi_entry(&mi.datagram_addr()));
    let client = start_client(proxy.addr(), steps).join().unwrap().expect("client side");
    let server = server.join().unwrap().expect("server side");
    assert_eq!(client.received, server.sent, "server → client bytes unchanged");
    assert_eq!(server.received, client.sent, "client → server bytes unchanged");
    let finished = proxy.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    let mut sent: Vec<(String, Option<String>)> =
        wait_for(&mi, 9).into_iter().map(|r| (r.ruri, r.body)).collect();
    // Stable: per phone, the order in which they were sent.
    sent.sort_by(|a, b| a.0.cmp(&b.0));
    let lamps = |number: &str| {
        sent.iter()
            .filter(|(ruri, body)| {
                body.is_some() && ruri == &format!("sip:{number}@pbx.example.com")
            })
            .map(|(_, body)| body.as_deref().unwrap().lines().nth(2).unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    // Alice's mailbox at login, then listened to; Bob's at login, a message, then the fixture's.
    assert_eq!(lamps("1001"), ["Voice-Message: 1/0 (0/0)", "Voice-Message: 0/0 (0/0)"]);
    assert_eq!(
        lamps("1002"),
        [
            "Voice-Message: 0/0 (0/0)",
            "Voice-Message: 1/0 (0/0)",
            "Voice-Message: 2/0 (0/0)",
            "Voice-Message: 0/0 (0/0)",
            "Voice-Message: 2/1 (0/0)"
        ]
    );
    let resyncs: Vec<&str> =
        sent.iter().filter(|(_, body)| body.is_none()).map(|(r, _)| r.as_str()).collect();
    assert_eq!(resyncs, ["sip:1000@pbx.example.com", "sip:1002@pbx.example.com"]);
    assert!(
        finished.stderr.contains("mwi-lamp: matched 7, fired 7, succeeded 7, failed 0"),
        "{}",
        finished.stderr
    );
    assert!(
        finished
            .stderr
            .contains("phone-resync: matched 3, fired 2, succeeded 2, failed 0, suppressed 1"),
        "{}",
        finished.stderr
    );
}

#[test]
fn a_phone_that_never_answers_holds_neither_traffic_nor_shutdown() {
    let mi = TestServer::start(); // a NOTIFY to sip:dead@… is answered after 30 s
    let pipeline = format!(
        "[[pipeline]]\nplugin = \"mi\"\ndatagram = \"{}\"\nshutdown_timeout = 0.5\n\n[[pipeline.rules]]\nname = \"dead\"\nmatch = {{ class = \"keepalive\" }}\ndirection = \"client\"\naction = \"event_notify\"\nuri = \"sip:dead@pbx\"\nevent = \"snom_reboot\"\n",
        mi.datagram_addr()
    );
    let steps = support::session_steps();
    let (server_addr, server) = start_server(steps.clone()).unwrap();
    let started = Instant::now();
    let (_dir, proxy) = start_proxy(server_addr, "", &pipeline);
    let client = start_client(proxy.addr(), steps).join().unwrap().expect("client side");
    let server = server.join().unwrap().expect("server side");
    assert_eq!(client.received, server.sent);
    let finished = proxy.finish();
    assert!(started.elapsed() < Duration::from_secs(25), "nobody waited for the 408");
    assert!(finished.stderr.contains("1 MI commands were not sent"), "{}", finished.stderr);
    assert!(finished.stderr.contains("dead: matched 1, fired 1"), "{}", finished.stderr);
    assert!(finished.stderr.contains("not sent at shutdown 1"), "{}", finished.stderr);
}

#[test]
fn a_rule_error_names_the_file_line_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[[pipeline]]\nplugin = \"mi\"\ndatagram = \"127.0.0.1:8809\"\n\n[[pipeline.rules]]\nname = \"ok\"\naction = \"command\"\ncommand = \"uptime\"\n\n[[pipeline.rules]]\nname = \"broken\"\naction = \"event_notify\"\nuri = \"sip:x@y\"\nevent = \"{{ msg.x }\"\n";
    let config = write_config(dir.path(), text);
    let out = ctiproxy().arg("check").arg("-c").arg(&config).output().unwrap();
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&config.display().to_string(), "config.toml");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("config.toml:14:1: pipeline[0] (mi).rules[1].event: template error"),
        "{stderr}"
    );
    assert!(stderr.contains("   14 | event = \"{{ msg.x }\""), "{stderr}");
}

/// Masks the random From tags, the only thing that differs between two runs' commands.
fn untagged(output: &str) -> String {
    output
        .split(";tag=")
        .enumerate()
        .map(|(i, part)| if i == 0 { part.to_owned() } else { format!(";tag=T{}", &part[16..]) })
        .collect()
}

fn replay(config: &std::path::Path, captures: &[std::path::PathBuf]) -> String {
    let out = ctiproxy().arg("replay").arg("-c").arg(config).args(captures).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn replaying_a_capture_gives_the_dry_run_output_of_the_live_run() {
    let dir = tempfile::tempdir().unwrap();
    // Without the cooldown: a classic pair's times come from `timenow`, not from this run's clock.
    let rules = ctiproxy::demo::example_mi_entry().replace("cooldown = 10", "cooldown = 0");
    let (jsonl, client, server_file) =
        (dir.path().join("c.jsonl"), dir.path().join("client.txt"), dir.path().join("server.txt"));
    let saves = format!(
        "[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = \"{}\"\n\n[[pipeline]]\nplugin = \"save\"\nclient_file = \"{}\"\nserver_file = \"{}\"\n\n",
        jsonl.display(),
        client.display(),
        server_file.display()
    );
    let steps = script();
    let (server_addr, server) = start_server(steps.clone()).unwrap();
    let (_live_dir, proxy) = start_proxy(server_addr, "", &format!("{saves}{rules}"));
    start_client(proxy.addr(), steps).join().unwrap().expect("client side");
    server.join().unwrap().expect("server side");
    let live = proxy.finish();
    assert!(live.status.success(), "{}", live.stderr);
    assert_eq!(live.stdout.matches("mi dry-run: rule").count(), 10, "{}", live.stdout);

    let config = dir.path().join("rules.toml");
    std::fs::write(&config, &rules).unwrap();
    assert_eq!(untagged(&replay(&config, &[jsonl])), untagged(&live.stdout));
    // A classic pair keeps each message with its keys sorted: the causes read differently, the
    // commands are the same.
    let commands = |out: &str| {
        untagged(out)
            .lines()
            .filter(|l| !l.starts_with("    cause:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(commands(&replay(&config, &[client, server_file])), commands(&live.stdout));
}
