//! End-to-end tests of `ctiproxy mi`: the real binary against the test MI server of
//! `ctiproxy-mi` (feature `test-server`) over real UDP, HTTP and FIFO endpoints: results on
//! stdout (indented, or compact with `--json`), MI errors on stderr with status 1, transport
//! failures, timeouts and usage errors with status 2.

use std::process::{Command, Output};

use ctiproxy_mi::test_server::{Injection, Kind, TestServer};

fn mi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ctiproxy"))
        .arg("mi")
        .args(args)
        .output()
        .expect("run ctiproxy")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn mi_on(server: &TestServer, kind: Kind, rest: &[&str]) -> Output {
    let mut args = server.cli_args(kind);
    args.extend(rest.iter().map(|s| s.to_string()));
    mi(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

const KINDS: [Kind; 4] = [Kind::Datagram, Kind::Http, Kind::XmlRpc, Kind::Fifo];

#[test]
fn result_prints_indented_json_on_stdout() {
    for kind in KINDS {
        let server = TestServer::start();
        let output = mi_on(
            &server,
            kind,
            &["call", "get_statistics", r#"statistics=["rcv_requests","used_size"]"#],
        );
        assert_eq!(output.status.code(), Some(0), "{kind:?}: {}", stderr(&output));
        assert_eq!(
            stdout(&output),
            "{\n  \"core:rcv_requests\": 0,\n  \"shmem:used_size\": 3503120\n}\n",
            "{kind:?}"
        );
        assert_eq!(stderr(&output), "");
    }
}

#[test]
fn json_flag_prints_compact_json() {
    let server = TestServer::start();
    let output = mi_on(&server, Kind::Datagram, &["--json", "call", "uptime"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "{\"Now\":\"Sun Nov 22 21:21:50 2026\",\"Up since\":\"Sun Nov 22 21:20:18 2026\",\"Up time\":\"92 [sec]\"}\n"
    );
}

#[test]
fn duplicate_keys_are_all_printed() {
    let server = TestServer::start();
    let output = mi_on(
        &server,
        Kind::Fifo,
        &["--json", "call", "get_statistics", r#"statistics=["shmem:","used_size"]"#],
    );
    assert_eq!(stdout(&output).matches("\"shmem:used_size\"").count(), 2, "{}", stdout(&output));
}

#[test]
fn mi_error_goes_to_stderr_with_status_1() {
    for kind in KINDS {
        let server = TestServer::start();
        let output = mi_on(&server, kind, &["call", "foo_bar"]);
        assert_eq!(output.status.code(), Some(1), "{kind:?}");
        assert_eq!(stdout(&output), "");
        assert!(stderr(&output).contains("-32601"), "{kind:?}: {}", stderr(&output));
    }
    let server = TestServer::start();
    let output = mi_on(&server, Kind::Datagram, &["--json", "call", "uptime", "x"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim_end(),
        r#"{"code":-32602,"message":"Invalid params","data":"Too few or too many parameters"}"#
    );
}

#[test]
fn helpers_run_from_the_command_line() {
    let server = TestServer::start();
    let phone = "sip:alice@127.0.0.1:5070";
    for rest in [
        vec!["event-notify", phone, "polycom_check_cfg"],
        vec!["mwi-update", phone, "sip:*97@127.0.0.1", "5"],
        vec![
            "uac-dlg",
            "NOTIFY",
            phone,
            "-H",
            "To: <sip:alice@127.0.0.1:5070>",
            "-H",
            "From: <sip:alice@127.0.0.1:5070>;tag=1",
        ],
    ] {
        let output = mi_on(&server, Kind::Http, &rest);
        assert_eq!(output.status.code(), Some(0), "{rest:?}: {}", stderr(&output));
        assert!(stdout(&output).contains("\"Status\": \"200 OK\""));
    }
    assert_eq!(server.uac_requests().len(), 3);
}

#[test]
fn injection_is_refused_with_status_2_and_nothing_sent() {
    let server = TestServer::start();
    let output = mi_on(
        &server,
        Kind::Datagram,
        &["event-notify", "sip:alice@127.0.0.1\r\nX-Evil: 1", "check-sync"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("invalid input"), "{}", stderr(&output));
    assert_eq!(server.request_count(), 0);
}

#[test]
fn transport_errors_and_timeouts_are_status_2() {
    let server = TestServer::start();
    server.inject(Kind::Datagram, Injection::Silence);
    let timeout = mi_on(&server, Kind::Datagram, &["--timeout", "0.2", "call", "uptime"]);
    assert_eq!(timeout.status.code(), Some(2));
    assert!(stderr(&timeout).contains("no reply within"), "{}", stderr(&timeout));

    server.inject(Kind::Datagram, Injection::Reply(b"400 Parse_error".to_vec()));
    let malformed = mi_on(&server, Kind::Datagram, &["call", "uptime"]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(stderr(&malformed).contains("malformed reply"));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let refused = mi(&["--http", &format!("http://{closed}/mi"), "call", "uptime"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("transport failure"), "{}", stderr(&refused));
}

#[test]
fn usage_errors_are_status_2() {
    for args in [
        vec!["call", "uptime"],
        vec!["--datagram", "127.0.0.1:1", "--http", "http://127.0.0.1:1/mi", "call", "uptime"],
        vec!["--datagram", "127.0.0.1:1"],
        vec!["--datagram", "127.0.0.1:1", "call", "log_level", "level=3", "4"],
        vec!["--datagram", "127.0.0.1:1", "--timeout", "soon", "call", "uptime"],
    ] {
        let output = mi(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
    }
}

#[test]
fn help_lists_every_subcommand_with_examples() {
    let output = mi(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = stdout(&output);
    for word in [
        "call",
        "event-notify",
        "mwi-update",
        "uac-dlg",
        "--reply-dir",
        "--timeout",
        "--json",
        "Examples:",
    ] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
}

#[test]
fn a_huge_timeout_is_a_usage_error_not_a_panic() {
    for timeout in ["1e19", "86401", "inf"] {
        let output = mi(&["--datagram", "127.0.0.1:1", "--timeout", timeout, "call", "uptime"]);
        assert_eq!(output.status.code(), Some(2), "{timeout}: {}", stderr(&output));
        assert!(stderr(&output).contains("at most 86400 seconds"), "{}", stderr(&output));
    }
}

#[test]
fn bad_ports_are_refused_before_connecting() {
    for target in [
        ["--http", "http://127.0.0.1:abc/mi"],
        ["--http", "http://127.0.0.1:99999/mi"],
        ["--xmlrpc", "http://127.0.0.1:0/RPC2"],
        ["--datagram", "127.0.0.1:99999"],
        ["--datagram", "127.0.0.1:+80"],
    ] {
        let output = mi(&[target[0], target[1], "call", "uptime"]);
        assert_eq!(output.status.code(), Some(2), "{target:?}");
        let stderr = stderr(&output);
        assert!(
            stderr.contains("invalid input") && stderr.contains("65535"),
            "{target:?}: {stderr}"
        );
    }
}

#[test]
fn a_fifo_timeout_says_the_command_may_have_run_and_is_not_retried() {
    let server = TestServer::start();
    let elsewhere = tempfile::tempdir().unwrap();
    let fifo = server.fifo_path().display().to_string();
    let reply_dir = elsewhere.path().display().to_string();
    let output = mi(&[
        "--fifo",
        &fifo,
        "--reply-dir",
        &reply_dir,
        "--timeout",
        "1",
        "event-notify",
        "sip:alice@127.0.0.1:5070",
        "check-sync",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    for words in ["no reply within", "may have run", "--reply-dir", &reply_dir, "not retried"] {
        assert!(stderr.contains(words), "{words:?} missing from {stderr}");
    }
    assert_eq!(server.uac_requests().len(), 1, "OpenSIPS ran the command once");
    assert_eq!(server.requests(Kind::Fifo).len(), 1, "and got it once");
}

fn json_error(output: &Output) -> serde_json::Value {
    let text = stderr(output);
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn json_covers_transport_timeout_and_malformed_errors() {
    let server = TestServer::start();
    server.inject(Kind::Datagram, Injection::Silence);
    let timeout = mi_on(&server, Kind::Datagram, &["--json", "--timeout", "0.2", "call", "uptime"]);
    assert_eq!(timeout.status.code(), Some(2));
    let error = json_error(&timeout);
    assert_eq!(error["kind"], "timeout");
    assert!(error["message"].as_str().unwrap().starts_with("no reply within"), "{error}");

    server.inject(
        Kind::Http,
        Injection::Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n[[[".to_vec()),
    );
    let malformed = mi_on(&server, Kind::Http, &["call", "uptime", "--json"]);
    assert_eq!(
        (malformed.status.code(), &json_error(&malformed)["kind"]),
        (Some(2), &"malformed_reply".into())
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let refused = mi(&["--json", "--http", &format!("http://{closed}/mi"), "call", "uptime"]);
    assert_eq!(
        (refused.status.code(), &json_error(&refused)["kind"]),
        (Some(2), &"transport".into())
    );

    let invalid = mi(&["--json", "--datagram", "127.0.0.1:99999", "call", "uptime"]);
    assert_eq!(
        (invalid.status.code(), &json_error(&invalid)["kind"]),
        (Some(2), &"invalid_input".into())
    );
}

#[test]
fn options_are_accepted_after_the_subcommand() {
    let server = TestServer::start();
    let output =
        mi_on(&server, Kind::Datagram, &["call", "log_level", "3", "--json", "--timeout", "5"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "{\"New global log level\":3}\n");
    let sent = String::from_utf8_lossy(&server.requests(Kind::Datagram)[0]).into_owned();
    assert!(sent.ends_with(r#""params":[3]}"#), "{sent}");

    let fifo = server.fifo_path().display().to_string();
    let reply_dir = server.reply_dir().display().to_string();
    let output = mi(&["--fifo", &fifo, "call", "uptime", "--reply-dir", &reply_dir]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn an_option_like_param_is_refused_unless_after_double_dash() {
    let server = TestServer::start();
    for rest in [&["call", "uptime", "--jsn"][..], &["call", "log_level", "3", "--bogus"]] {
        let output = mi_on(&server, Kind::Datagram, rest);
        assert_eq!(output.status.code(), Some(2), "{rest:?}");
        assert!(stderr(&output).contains("unexpected argument"), "{}", stderr(&output));
    }
    assert_eq!(server.request_count(), 0, "nothing sent");

    let output = mi_on(&server, Kind::Datagram, &["call", "echo", "-5", "--", "--bogus"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let sent = String::from_utf8_lossy(&server.requests(Kind::Datagram)[0]).into_owned();
    assert!(sent.ends_with(r#""params":[-5,"--bogus"]}"#), "{sent}");
}

#[test]
fn verbose_shows_the_request_and_the_reply_on_stderr() {
    for (kind, sent, received) in [
        (Kind::Datagram, r#""method":"uptime""#, r#""Up time":"92 [sec]""#),
        (Kind::Http, "POST /mi HTTP/1.1\\r", "HTTP/1.1 200 OK\\r"),
        (Kind::XmlRpc, "<methodName>uptime</methodName>", "<name>Up time</name>"),
        (Kind::Fifo, r#""method":"uptime""#, r#""Up time":"92 [sec]""#),
    ] {
        let server = TestServer::start();
        let output = mi_on(&server, kind, &["call", "uptime", "-v"]);
        assert_eq!(output.status.code(), Some(0), "{kind:?}: {}", stderr(&output));
        assert!(stdout(&output).contains("\"Up time\": \"92 [sec]\""), "{kind:?}");
        let stderr = stderr(&output);
        let sent_at = stderr.find("ctiproxy mi: sent ").expect("the request is shown");
        let received_at = stderr.find("ctiproxy mi: received ").expect("the reply is shown");
        assert!(sent_at < received_at, "{kind:?}: {stderr}");
        assert!(stderr[sent_at..received_at].contains(sent), "{kind:?}: {stderr}");
        assert!(stderr[received_at..].contains(received), "{kind:?}: {stderr}");
    }
    let server = TestServer::start();
    let quiet = mi_on(&server, Kind::Datagram, &["call", "uptime"]);
    assert_eq!(stderr(&quiet), "");
}

#[test]
fn a_sip_request_that_fails_is_status_3_with_the_status_printed() {
    let server = TestServer::start();
    server.set_uac_delay(std::time::Duration::from_millis(50));
    let dead = "sip:dead@127.0.0.1:5070";
    for rest in [
        vec!["event-notify", dead, "polycom_check_cfg"],
        vec!["mwi-update", dead, "sip:*97@127.0.0.1", "1"],
        vec!["uac-dlg", "NOTIFY", dead, "-H", "To: <sip:dead@x>", "-H", "From: <sip:a@x>;tag=1"],
        vec![
            "call",
            "t_uac_dlg",
            "method=NOTIFY",
            &format!("ruri={dead}"),
            "headers=To: <sip:dead@x>\r\nFrom: <sip:a@x>;tag=1\r\nEvent: check-sync\r\n",
        ],
    ] {
        let output = mi_on(&server, Kind::Datagram, &rest);
        assert_eq!(output.status.code(), Some(3), "{rest:?}: {}", stderr(&output));
        assert!(stdout(&output).contains("\"Status\": \"408 Request Timeout\""), "{rest:?}");
        assert!(stderr(&output).contains("the SIP request failed: 408 Request Timeout"));
    }
    let mut json = vec!["--json", "event-notify", dead, "snom_reboot"];
    let output = mi_on(&server, Kind::Http, &json);
    assert_eq!(output.status.code(), Some(3));
    let error: serde_json::Value = serde_json::from_str(stderr(&output).trim()).unwrap();
    assert_eq!(
        (error["kind"].as_str(), error["status"].as_str()),
        (Some("sip_status"), Some("408 Request Timeout"))
    );
    // --timeout shortens t_uac_dlg too: a phone slower than it is a timeout, status 2.
    server.set_uac_delay(std::time::Duration::from_secs(5));
    json.splice(0..1, ["--timeout", "0.3"]);
    let output = mi_on(&server, Kind::Datagram, &json);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}
