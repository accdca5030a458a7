//! `ctispy` through the real binary, the recorded session replayed by a test CTI server and
//! client: every option, its printed output compared with what the fixture says it must be.
mod classic_support;
mod support;

use classic_support::{
    as_shown, bodies, classic, compact, field_is, fixture, parse_spy, pretty, replay,
    start_servers, stripped,
};
use ctiproxy_plugin_api::Direction;
use serde_json::Value;
use support::{session_steps, start_client, start_server, Running};

const SPY: &str = env!("CARGO_BIN_EXE_ctispy");

/// The fixture's messages that `keep` accepts, rendered by `render`.
fn expected(
    keep: impl Fn(&Value) -> bool,
    render: impl Fn(&Value) -> String,
) -> Vec<(Direction, String)> {
    fixture().into_iter().filter(|(_, m)| keep(m)).map(|(d, m)| (d, render(&m))).collect()
}

#[test]
fn prints_every_message_compact_with_sorted_keys_under_timed_direction_headers() {
    let finished = replay(SPY, &[]);
    let printed = parse_spy(&finished.stdout);
    assert!(printed.iter().all(|p| p.session.is_none()), "one session needs no session tag");
    assert_eq!(bodies(&finished.stdout), expected(|_| true, compact));
    // Diagnostics stay on stderr, out of the way of the messages.
    assert!(finished.stderr.contains("Session ended"), "{}", finished.stderr);
}

#[test]
fn pretty_print_indents_by_four_spaces() {
    let finished = replay(SPY, &["--pretty-print"]);
    assert_eq!(bodies(&finished.stdout), expected(|_| true, pretty));
}

#[test]
fn strip_removes_top_level_fields_and_dotted_paths() {
    let finished = replay(SPY, &["-s", "timenow", "--strip", "status.availstate"]);
    let strip = |m: &Value| compact(&stripped(m, &["timenow", "status.availstate"]));
    assert_eq!(bodies(&finished.stdout), expected(|_| true, strip));
    assert!(finished.stdout.contains("\"status\": {}"), "a dotted path strips inside only");
}

#[test]
fn include_keeps_the_messages_matching_any_condition_values_compared_as_text() {
    // status.new is "0" in one message and 0 in another; commandid is a number.
    let args = ["-i", "class=login_id", "--include", "status.new=0", "-i", "commandid=846930886"];
    let finished = replay(SPY, &args);
    let keep = |m: &Value| {
        field_is(m, "class", "login_id")
            || field_is(m, "status.new", "0")
            || field_is(m, "commandid", "846930886")
    };
    let want = expected(keep, compact);
    // The fixture has status.new both as text and as a number: both must be shown.
    let new_values: Vec<Value> = fixture()
        .into_iter()
        .filter_map(|(_, m)| m.pointer("/status/new").cloned())
        .filter(|v| field_is(&serde_json::json!({ "v": v }), "v", "0"))
        .collect();
    assert!(new_values.contains(&Value::from(0)) && new_values.contains(&Value::from("0")));
    assert!(new_values
        .iter()
        .all(|v| want.iter().any(|(_, body)| body.contains(&format!("\"new\": {v}")))));
    assert_eq!(bodies(&finished.stdout), want);
}

#[test]
fn exclude_hides_the_messages_matching_any_condition() {
    let finished = replay(SPY, &["-e", "class=getlist", "--exclude", "tid=7"]);
    let keep = |m: &Value| !field_is(m, "class", "getlist") && !field_is(m, "tid", "7");
    let want = expected(keep, compact);
    assert!(want.len() < fixture().len());
    assert_eq!(bodies(&finished.stdout), want);
}

#[test]
fn stripped_fields_are_left_out_of_the_messages_include_keeps() {
    // No filter reads a stripped field, so the spy leaves them out itself after include: the
    // output must be what stripping first would show.
    let args = ["-s", "timenow", "-s", "status.availstate", "-i", "class=getlist", "--pretty"];
    let finished = replay(SPY, &args);
    let render = |m: &Value| pretty(&stripped(m, &["timenow", "status.availstate"]));
    let want = expected(|m| field_is(m, "class", "getlist"), render);
    assert!(!want.is_empty() && want.len() < fixture().len());
    assert_eq!(bodies(&finished.stdout), want);
}

#[test]
fn filters_apply_in_order_strip_then_include_then_exclude() {
    // Stripping `tid` first means `--exclude tid=7` finds nothing to hide.
    let args = ["-s", "timenow", "-s", "tid", "-i", "class=getlist", "-e", "tid=7"];
    let finished = replay(SPY, &args);
    let render = |m: &Value| compact(&stripped(m, &["timenow", "tid"]));
    let want = expected(|m| field_is(m, "class", "getlist"), render);
    assert_eq!(bodies(&finished.stdout), want);
}

#[test]
fn no_client_and_no_server_hide_one_direction() {
    for (flag, hidden) in
        [("--no-client", Direction::ClientToServer), ("--no-server", Direction::ServerToClient)]
    {
        let finished = replay(SPY, &[flag]);
        let mut want = expected(|_| true, compact);
        want.retain(|(d, _)| *d != hidden);
        assert_eq!(bodies(&finished.stdout), want, "{flag}");
    }
}

#[test]
fn raw_prints_each_read_as_it_came_and_warns_that_filters_do_not_apply() {
    let finished = replay(SPY, &["--raw", "-s", "timenow", "-i", "class=nothing", "-e", "x=y"]);
    let warning = "ctispy: warning: --raw prints each read undecoded; \
                   --strip/--include/--exclude do not apply\n";
    assert!(finished.stderr.contains(warning), "{}", finished.stderr);
    let printed = parse_spy(&finished.stdout);
    for direction in [Direction::ClientToServer, Direction::ServerToClient] {
        // Reads may hold several lines, so compare the text without line breaks.
        let shown: String = printed
            .iter()
            .filter(|p| p.direction == direction)
            .flat_map(|p| p.body.lines())
            .collect();
        let sent: String = session_steps()
            .into_iter()
            .filter(|s| s.direction == direction)
            .map(|s| as_shown(&s.line))
            .collect();
        assert_eq!(shown, sent, "{direction:?}: not the bytes as they came");
    }
    // Undecoded: the sender's key order and spacing, not the sorted rendering.
    assert!(!finished.stdout.contains("timenow\": "), "nothing was re-serialized");

    let quiet = replay(SPY, &["--raw"]);
    assert!(!quiet.stderr.contains("warning"), "{}", quiet.stderr);
}

#[test]
fn raw_prints_a_blank_line_after_every_read_as_the_original_and_wins_over_pretty() {
    // Abbreviated, as argparse allowed: --pretty is --pretty-print.
    let finished = replay(SPY, &["--raw", "--pretty"]);
    let warning =
        "ctispy: warning: --raw prints each read undecoded; --pretty-print does not apply\n";
    assert!(finished.stderr.contains(warning), "{}", finished.stderr);
    let printed = parse_spy(&finished.stdout);
    for direction in [Direction::ClientToServer, Direction::ServerToClient] {
        // The original printed each read then a newline. Read back line by line, a read that
        // ended a line comes back with its `\n` only thanks to that blank line, so the bodies
        // put together are exactly the bytes sent, line ends included.
        let shown: String =
            printed.iter().filter(|p| p.direction == direction).map(|p| p.body.as_str()).collect();
        let sent: String = session_steps()
            .into_iter()
            .filter(|s| s.direction == direction)
            .map(|s| as_shown(&s.line) + "\n")
            .collect();
        assert_eq!(shown, sent, "{direction:?}");
    }
    assert!(finished.stdout.ends_with("\n\n"), "the last read ended a line");
}

#[test]
fn unambiguous_prefixes_of_long_options_work_as_with_argparse() {
    let finished = replay(SPY, &["--no-c", "--incl", "class=getlist", "--pretty", "--str", "tid"]);
    let keep = |m: &Value| field_is(m, "class", "getlist");
    let mut want = expected(keep, |m| pretty(&stripped(m, &["tid"])));
    want.retain(|(d, _)| *d == Direction::ServerToClient);
    assert!(!want.is_empty(), "the fixture has getlist replies");
    assert_eq!(bodies(&finished.stdout), want);

    let out = support::command(SPY).args(["xivo", "--no"]).output().expect("run ctispy");
    assert_eq!(out.status.code(), Some(2), "--no could be --no-client or --no-server");
}

#[test]
fn exclusive_options_are_usage_errors() {
    let out = support::command(SPY)
        .args(["xivo", "--no-client", "--no-server"])
        .output()
        .expect("run ctispy");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[test]
fn a_host_name_is_resolved_and_verbose_logs_without_rust_log() {
    let steps = session_steps();
    let (server, server_thread) = start_server(steps.clone()).expect("test server");
    let mut cmd = support::command(SPY);
    cmd.env_remove("RUST_LOG").arg("localhost").args(["--port", &server.port().to_string()]);
    cmd.args(["--listen-addr", "127.0.0.1", "--listen-port", "0", "-v"]);
    // Running::start waits for "Listening on", which only -v shows at the default level.
    let running = Running::start(cmd);
    assert_eq!(running.addr().ip().to_string(), "127.0.0.1");
    start_client(running.addr(), steps).join().unwrap().expect("client");
    server_thread.join().unwrap().expect("server");
    let finished = running.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert_eq!(parse_spy(&finished.stdout).len(), session_steps().len());
    assert!(finished.stderr.contains("connected; forwarding to"), "{}", finished.stderr);
}

#[test]
fn loop_serves_one_client_after_another_then_stops_on_ctrl_c() {
    let steps = session_steps();
    let (server, server_thread) = start_servers(steps.clone(), 2);
    let running = Running::start(classic(SPY, server, &["--loop"]));
    for _ in 0..2 {
        start_client(running.addr(), steps.clone()).join().unwrap().expect("client");
    }
    assert_eq!(server_thread.join().unwrap().len(), 2);
    let printed = wait_for_messages(&running, 2 * steps.len());
    running.signal("INT");
    let finished = running.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    // The second session's headers carry its id, since two sessions now share the output.
    let first: Vec<_> = printed.iter().take(steps.len()).collect();
    let second: Vec<_> = printed.iter().skip(steps.len()).collect();
    assert!(first.iter().all(|p| p.session.is_none()));
    assert!(second.iter().all(|p| p.session.is_some()));
    let want = expected(|_| true, compact);
    for half in [first, second] {
        let got: Vec<_> = half.iter().map(|p| (p.direction, p.body.clone())).collect();
        assert_eq!(got, want);
    }
}

/// Waits (up to the process timeout) until the spy printed `count` messages.
fn wait_for_messages(running: &Running, count: usize) -> Vec<classic_support::Printed> {
    let deadline = std::time::Instant::now() + support::PROCESS_TIMEOUT;
    loop {
        let printed = parse_spy(&running.stdout());
        if printed.len() >= count || std::time::Instant::now() > deadline {
            return printed;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn help_explains_every_option_with_examples() {
    let out = support::command(SPY).arg("--help").output().expect("run ctispy --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for option in [
        "<HOST>",
        "--port",
        "--listen-port",
        "--listen-addr",
        "--pretty-print",
        "--raw",
        "-s, --strip",
        "-i, --include",
        "-e, --exclude",
        "--no-client",
        "--no-server",
        "--loop",
        "-v, --verbose",
        "[default: 5003]",
        "[default: 50030]",
        "[default: 0.0.0.0]",
        "Examples:\n  ctispy xivo.example.com",
    ] {
        assert!(help.contains(option), "--help lacks {option:?}:\n{help}");
    }
}
