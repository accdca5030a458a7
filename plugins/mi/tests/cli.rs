//! The `ctiproxy mi` arguments parsed by clap and run against the test server, on every
//! transport (the real binary is exercised by core's `mi_cli` tests).

mod support;

use clap::Parser;
use ctiproxy_mi::cli::{execute, exit_status, MiArgs};
use ctiproxy_mi::test_server::{Kind, TestServer};
use ctiproxy_mi::Error;
use support::KINDS;

#[derive(Parser)]
struct Mi {
    #[command(flatten)]
    args: MiArgs,
}

fn run(server: &TestServer, kind: Kind, rest: &[&str]) -> Result<String, Error> {
    let mut argv = vec!["mi".to_owned()];
    argv.extend(server.cli_args(kind));
    argv.extend(rest.iter().map(|s| s.to_string()));
    execute(&Mi::try_parse_from(argv).expect("valid arguments").args)
}

#[test]
fn call_prints_indented_or_compact_json() {
    for kind in KINDS {
        let server = TestServer::start();
        let pretty = run(
            &server,
            kind,
            &["call", "get_statistics", r#"statistics=["rcv_requests","used_size"]"#],
        )
        .unwrap();
        assert_eq!(
            pretty, "{\n  \"core:rcv_requests\": 0,\n  \"shmem:used_size\": 3503120\n}",
            "{kind:?}"
        );
        let compact = run(
            &server,
            kind,
            &["--json", "call", "get_statistics", r#"["rcv_requests","used_size"]"#],
        )
        .unwrap();
        assert_eq!(compact, r#"{"core:rcv_requests":0,"shmem:used_size":3503120}"#, "{kind:?}");
    }
}

#[test]
fn call_values_parse_as_json_or_strings() {
    let server = TestServer::start();
    let output = run(&server, Kind::Datagram, &["--json", "call", "log_level", "3"]).unwrap();
    assert_eq!(output, r#"{"New global log level":3}"#);
    run(&server, Kind::Datagram, &["call", "log_level", "level=abc"]).unwrap_err();
    let sent = server.requests(Kind::Datagram);
    assert!(String::from_utf8_lossy(&sent[0]).ends_with(r#""params":[3]}"#));
    assert!(String::from_utf8_lossy(&sent[1]).ends_with(r#""params":{"level":"abc"}}"#));
}

#[test]
fn mi_errors_are_status_1_and_the_rest_status_2() {
    let server = TestServer::start();
    let unknown = run(&server, Kind::Http, &["call", "foo_bar"]).unwrap_err();
    assert_eq!(exit_status(&unknown), 1, "{unknown}");
    assert!(unknown.to_string().contains("-32601"));
    let mixed = run(&server, Kind::Http, &["call", "log_level", "level=3", "4"]).unwrap_err();
    assert_eq!(exit_status(&mixed), 2);
    server.inject(Kind::Fifo, ctiproxy_mi::test_server::Injection::Silence);
    let timeout = run(&server, Kind::Fifo, &["--timeout", "0.2", "call", "uptime"]).unwrap_err();
    assert!(matches!(timeout, Error::Timeout(_)));
    assert_eq!(exit_status(&timeout), 2);
}

#[test]
fn helpers_from_the_command_line() {
    for kind in KINDS {
        let server = TestServer::start();
        let phone = "sip:alice@127.0.0.1:5070";
        run(&server, kind, &["event-notify", phone, "sipura_get_report", "-H", "X-Why: test"])
            .unwrap();
        run(&server, kind, &["mwi-update", phone, "sip:*97@127.0.0.1", "0", "3", "0", "1"])
            .unwrap();
        let output = run(
            &server,
            kind,
            &[
                "uac-dlg",
                "NOTIFY",
                phone,
                "-H",
                "To: <sip:alice@127.0.0.1:5070>",
                "-H",
                "From: <sip:pbx@127.0.0.1>;tag=9",
                "-H",
                "Content-Type: text/plain",
                "--body",
                "hi\r\n",
            ],
        )
        .unwrap();
        assert!(output.contains("\"Status\": \"200 OK\""), "{kind:?}: {output}");
        let sent = server.uac_requests();
        assert_eq!(sent[0].header("Event", "o"), Some("report"), "{kind:?}");
        assert_eq!(sent[0].header("X-Why", "X-Why"), Some("test"));
        assert!(sent[1].body.as_deref().unwrap().starts_with("Messages-Waiting: no\r\n"));
        assert!(sent[1].body.as_deref().unwrap().contains("Voice-Message: 0/3 (0/1)\r\n"));
        assert_eq!(sent[2].body.as_deref(), Some("hi\r\n"));
    }
}

#[test]
fn usage_errors() {
    for argv in [
        vec!["mi", "call", "uptime"],
        vec!["mi", "--datagram", "a:1", "--http", "http://h/mi", "call", "uptime"],
        vec!["mi", "--datagram", "a:1", "--timeout", "0", "call", "uptime"],
        vec!["mi", "--datagram", "a:1", "mwi-update", "sip:a@b", "sip:*97@b", "many"],
    ] {
        let error = Mi::try_parse_from(&argv).err().unwrap_or_else(|| panic!("{argv:?} parsed"));
        assert_eq!(error.exit_code(), 2, "{argv:?}");
    }
    let server = TestServer::start();
    let bad_header =
        run(&server, Kind::Datagram, &["uac-dlg", "NOTIFY", "sip:a@b", "-H", "no colon"])
            .unwrap_err();
    assert_eq!(exit_status(&bad_header), 2);
    let stray_reply_dir =
        run(&server, Kind::Datagram, &["--reply-dir", "/tmp", "call", "uptime"]).unwrap_err();
    assert_eq!(exit_status(&stray_reply_dir), 2);
    assert_eq!(server.request_count(), 0);
}
