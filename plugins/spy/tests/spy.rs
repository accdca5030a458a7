//! The spy plugin, tested in-process with the plugin-api harness.
use chrono::{DateTime, Local};
use ctiproxy_plugin_api::abi::{MSG_OVERSIZE, MSG_RAW};
use ctiproxy_plugin_api::harness::{Harness, START_MICROS};
use ctiproxy_plugin_api::{CreateError, Direction, Outcome};
use ctiproxy_spy::Spy;

const T: i64 = START_MICROS + 123_456;

/// The classic header for a message received at `unix_micros`, derived with chrono's own
/// formatting so the plugin's fast path is checked against it.
fn header(unix_micros: i64, label: &str) -> String {
    let local = DateTime::from_timestamp_micros(unix_micros).unwrap().with_timezone(&Local);
    format!("    {} {label}\n", local.format("%H:%M:%S%.6f"))
}

fn spy(config: &str) -> Harness<Spy> {
    let mut h = Harness::<Spy>::new(config).unwrap();
    h.start_session();
    h
}

/// Feeds one client line at time `T` and returns what was printed.
fn print_client(h: &mut Harness<Spy>, line: &str) -> String {
    h.set_time(T);
    assert_eq!(h.client(line), Outcome::Pass);
    h.take_output()
}

#[test]
fn prints_the_classic_header_and_compact_json_with_sorted_keys() {
    let mut h = spy("");
    let out = print_client(&mut h, r#"{"class":"getlist","tid":3,"a":{"z":[1,2],"b":null}}"#);
    assert_eq!(
        out,
        header(T, "Client > Server")
            + r#"{"a": {"b": null, "z": [1, 2]}, "class": "getlist", "tid": 3}"#
            + "\n"
    );
}

#[test]
fn server_messages_get_the_server_header() {
    let mut h = spy("");
    h.set_time(T);
    h.server(r#"{"class":"login_id"}"#);
    assert_eq!(h.take_output(), header(T, "Server > Client") + "{\"class\": \"login_id\"}\n");
}

#[test]
fn pretty_indents_by_four_spaces_with_sorted_keys() {
    let mut h = spy("pretty = true");
    let out = print_client(&mut h, r#"{"tid":3,"class":"x","list":[true,{"b":1,"a":2}]}"#);
    let expected = r#"{
    "class": "x",
    "list": [
        true,
        {
            "a": 2,
            "b": 1
        }
    ],
    "tid": 3
}
"#;
    assert_eq!(out, header(T, "Client > Server") + expected);
}

#[test]
fn non_ascii_is_printed_as_utf8() {
    let mut h = spy("");
    let out = print_client(&mut h, r#"{"longname":"Bient\u00f4t de retour"}"#);
    assert!(out.ends_with("{\"longname\": \"Bientôt de retour\"}\n"), "{out}");
}

#[test]
fn a_line_that_is_not_json_prints_as_it_came() {
    let mut h = spy("pretty = true");
    let out = print_client(&mut h, "hello {not json");
    assert_eq!(out, header(T, "Client > Server") + "hello {not json\n");
}

#[test]
fn invalid_utf8_prints_the_exact_bytes() {
    let mut h = spy("");
    h.set_time(T);
    h.send(Direction::ServerToClient, b"caf\xe9", 0);
    let mut expected = header(T, "Server > Client").into_bytes();
    expected.extend_from_slice(b"caf\xe9\n");
    // take_output is lossy; compare the bytes through the same lossy conversion.
    assert_eq!(h.take_output(), String::from_utf8_lossy(&expected));
}

#[test]
fn raw_mode_prints_json_undecoded() {
    let mut h = spy("raw = true");
    let line = r#"{"z": 1,   "a":2}"#;
    assert_eq!(print_client(&mut h, line), header(T, "Client > Server") + line + "\n");
}

#[test]
fn a_raw_read_prints_as_it_came_then_a_newline_as_the_classic_ctispy() {
    let mut h = spy("");
    h.set_time(T);
    h.send(Direction::ClientToServer, b"{\"b\":1}\n{\"a\"", MSG_RAW);
    assert_eq!(h.take_output(), header(T, "Client > Server") + "{\"b\":1}\n{\"a\"\n");
    h.set_time(T);
    h.send(Direction::ClientToServer, b"{\"b\":1}\n", MSG_RAW);
    // `print data` after a read that ended a line: the blank line the originals' users know.
    assert_eq!(h.take_output(), header(T, "Client > Server") + "{\"b\":1}\n\n");
}

#[test]
fn an_oversize_line_is_announced_with_its_length_and_preview() {
    let mut h = spy("");
    h.set_time(T);
    h.send(Direction::ServerToClient, b"{\"class\":\"getlist\",\"list\":[", MSG_OVERSIZE);
    assert_eq!(
        h.take_output(),
        header(T, "Server > Client")
            + "[oversize line: 27 bytes, not decoded] {\"class\":\"getlist\",\"list\":[\n"
    );
}

#[test]
fn direction_switches_hide_one_side_but_always_pass() {
    let mut h = spy("client = false");
    assert_eq!(h.client("{}"), Outcome::Pass);
    assert_eq!(h.take_output(), "");
    h.server("{}");
    assert!(h.take_output().contains("Server > Client"));

    let mut h = spy("server = false");
    assert_eq!(h.server("{}"), Outcome::Pass);
    assert_eq!(h.take_output(), "");
    h.client("{}");
    assert!(h.take_output().contains("Client > Server"));
}

#[test]
fn colour_only_on_a_terminal_by_default() {
    let mut h = Harness::<Spy>::on_terminal("").unwrap();
    h.client("{}");
    h.server("{}");
    let out = h.take_output();
    assert!(out.starts_with("    \x1b[36m"), "{out:?}");
    assert!(out.contains("Client > Server\x1b[0m\n{}\n"), "{out:?}");
    assert!(out.contains("    \x1b[33m"), "{out:?}");
    assert!(out.contains("Server > Client\x1b[0m\n"), "{out:?}");

    let mut h = spy("");
    h.client("{}");
    assert!(!h.take_output().contains('\x1b'));
}

#[test]
fn colour_always_and_never_override_the_terminal_check() {
    let mut h = spy(r#"color = "always""#);
    h.client("{}");
    assert!(h.take_output().contains("\x1b[36m"));

    let mut h = Harness::<Spy>::on_terminal(r#"color = "never""#).unwrap();
    h.client("{}");
    assert!(!h.take_output().contains('\x1b'));
}

#[test]
fn a_second_session_adds_the_session_suffix_to_every_header() {
    let mut h = spy("");
    h.set_time(T);
    h.client("{}");
    assert_eq!(h.take_output(), header(T, "Client > Server") + "{}\n");

    h.start_session();
    h.set_time(T);
    h.client("{}");
    assert_eq!(h.take_output(), header(T, "Client > Server [session 2]") + "{}\n");
    h.set_time(T);
    h.send(Direction::ServerToClient, b"{}", 0);
    assert_eq!(h.take_output(), header(T, "Server > Client [session 2]") + "{}\n");
}

#[test]
fn bad_settings_are_config_errors_naming_the_key() {
    let Err(CreateError::Config(err)) = Harness::<Spy>::new(r#"color = "sometimes""#) else {
        panic!("expected a config error");
    };
    assert_eq!(err.path, "color");
    let Err(CreateError::Config(err)) = Harness::<Spy>::new("prety = true") else {
        panic!("expected a config error");
    };
    assert!(err.message.contains("unknown field `prety`"), "{err}");
}

/// Control characters of every kind a terminal could obey, in a line that is not JSON.
const HOSTILE: &[u8] = b"\x1b[2J\x1b]0;owned\x07 a\tb\rc \x7f \xc2\x9b31m \x9b \xff";

#[test]
fn on_a_terminal_control_characters_are_shown_not_obeyed() {
    let mut h = Harness::<Spy>::on_terminal(r#"color = "never""#).unwrap();
    h.set_time(T);
    h.send(Direction::ServerToClient, HOSTILE, 0);
    let out = h.take_output();
    let body = out.strip_prefix(&header(T, "Server > Client")).expect(&out);
    assert_eq!(body, "\\x1b[2J\\x1b]0;owned\\x07 a\\tb\\rc \\x7f \\u{9b}31m \\x9b \\xff\n");
}

#[test]
fn on_a_terminal_raw_reads_and_oversize_previews_are_shown_too() {
    let mut h = Harness::<Spy>::on_terminal(r#"color = "never""#).unwrap();
    h.set_time(T);
    h.send(Direction::ClientToServer, b"{\"a\":\"\x1b\"}\r\n{", MSG_RAW);
    assert_eq!(h.take_output(), header(T, "Client > Server") + "{\"a\":\"\\x1b\"}\\r\n{\n");
    h.set_time(T);
    h.send(Direction::ClientToServer, b"{\"a\":\"\x1b[", MSG_OVERSIZE);
    let out = h.take_output();
    assert!(out.ends_with("not decoded] {\"a\":\"\\x1b[\n"), "{out:?}");
}

#[test]
fn on_a_terminal_json_strings_escape_del_and_c1_too() {
    let mut h = Harness::<Spy>::on_terminal(r#"color = "never""#).unwrap();
    // serde_json escapes C0 controls itself; DEL and C1 it writes as they are.
    let out = print_client(&mut h, "{\"a\":\"\\u001b[2J\u{7f}\u{9b}31m\"}");
    assert!(out.ends_with("{\"a\": \"\\u001b[2J\\u007f\\u009b31m\"}\n"), "{out:?}");
}

#[test]
fn off_a_terminal_control_characters_are_kept_exact() {
    let mut h = spy("");
    h.set_time(T);
    h.send(Direction::ServerToClient, HOSTILE, 0);
    let mut expected = header(T, "Server > Client").into_bytes();
    expected.extend_from_slice(HOSTILE);
    expected.push(b'\n');
    assert_eq!(h.take_output(), String::from_utf8_lossy(&expected));
    let out = print_client(&mut h, "{\"a\":\"\u{7f}\u{9b}\"}");
    assert!(out.ends_with("{\"a\": \"\u{7f}\u{9b}\"}\n"), "{out:?}");
}

/// Numbers as a PBX may write them, which a parse into f64/u64 would rewrite.
const TRICKY: &str = r#"{"timenow":1550844512.3439999,"tiny":1e-07,"big":18446744073709551616,"neg":-0,"one":1.0,"int":1,"exp":2.5E+3,"list":[0.1000000000000000055511151231257827,-12.50]}"#;

#[test]
fn every_number_prints_as_it_was_written() {
    let mut h = spy("");
    h.set_time(T);
    let out = print_client(&mut h, TRICKY);
    let body = out.strip_prefix(&header(T, "Client > Server")).unwrap();
    assert_eq!(
        body,
        "{\"big\": 18446744073709551616, \"exp\": 2.5E+3, \"int\": 1, \"list\": [0.1000000000000000055511151231257827, -12.50], \"neg\": -0, \"one\": 1.0, \"timenow\": 1550844512.3439999, \"tiny\": 1e-07}\n"
    );
    let mut h = spy("pretty = true");
    h.set_time(T);
    let out = print_client(&mut h, TRICKY);
    for text in
        ["1550844512.3439999", "1e-07", "18446744073709551616", ": -0,", "1.0,", "2.5E+3", "-12.50"]
    {
        assert!(out.contains(text), "{text} in {out}");
    }
}

#[test]
fn passwords_are_printed_as_stars_unless_redact_says_otherwise() {
    let login = r#"{"class": "login_pass", "password": "secret", "commandid": 1}"#;
    let mut h = spy("");
    let out = print_client(&mut h, login);
    let masked = r#"{"class": "login_pass", "commandid": 1, "password": "***"}"#.to_owned() + "\n";
    assert!(out.ends_with(&masked), "{out}");
    let mut h = spy("raw = true");
    assert!(print_client(&mut h, login).contains(r#""password": "***""#));
    h.set_time(T);
    h.send(Direction::ClientToServer, login.as_bytes(), MSG_RAW);
    assert!(!h.take_output().contains("secret"));
    let mut h = spy(r#"redact = ["commandid"]"#);
    let out = print_client(&mut h, login);
    assert!(out.contains(r#""commandid": "***""#) && out.contains("secret"), "{out}");
    let mut h = spy("redact = []");
    assert!(print_client(&mut h, login).contains(r#""password": "secret""#));
}

#[test]
fn strip_leaves_fields_out_of_what_is_printed_only() {
    let mut h = spy(r#"strip = ["timenow", "status.new"]"#);
    let line = r#"{"timenow":1.5,"class":"getlist","status":{"new":"2","old":"1"}}"#;
    let out = print_client(&mut h, line);
    let shown = r#"{"class": "getlist", "status": {"old": "1"}}"#;
    assert_eq!(out, header(T, "Client > Server") + shown + "\n");
    // Lines that are not JSON are shown as they came, as a strip stage would leave them.
    assert!(print_client(&mut h, "timenow").ends_with("timenow\n"));
    let Err(CreateError::Config(err)) = Harness::<Spy>::new(r#"strip = ["class", ""]"#) else {
        panic!("expected a config error");
    };
    assert_eq!(err.path, "strip[1]");
    // Raw printing would show the fields anyway: refused rather than silently ignored.
    let Err(CreateError::Config(err)) = Harness::<Spy>::new("raw = true\nstrip = [\"timenow\"]")
    else {
        panic!("expected a config error");
    };
    assert_eq!(err.path, "strip");
    assert!(err.message.contains("raw = true"), "{err}");
}

#[test]
fn strip_and_redact_of_the_same_dotted_field_mask_what_a_strip_stage_would() {
    // strip removes the literal "auth.token" key; redact then finds the nested auth.token.
    let redact = r#"redact = ["auth.token"]"#;
    let mut h = spy(&format!("{redact}\nstrip = [\"auth.token\"]"));
    let out = print_client(&mut h, r#"{"auth.token":"old","auth":{"token":"SECRET"}}"#);
    assert!(out.ends_with("{\"auth\": {\"token\": \"***\"}}\n"), "{out}");
}
