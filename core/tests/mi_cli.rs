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
