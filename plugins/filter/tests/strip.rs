//! The strip plugin, tested in-process with the plugin-api harness.
use ctiproxy_filter::Strip;
use ctiproxy_plugin_api::abi::{MSG_OVERSIZE, MSG_RAW};
use ctiproxy_plugin_api::harness::Harness;
use ctiproxy_plugin_api::{CreateError, Direction, Outcome};

fn strip(fields: &str) -> Harness<Strip> {
    Harness::<Strip>::new(&format!("fields = {fields}")).unwrap()
}

fn replaced(text: &str) -> Outcome {
    Outcome::Replace(text.as_bytes().to_vec())
}

#[test]
fn removes_top_level_fields_keeping_the_order_of_the_others() {
    let mut h = strip(r#"["timenow", "commandid"]"#);
    assert_eq!(
        h.server(
            r#"{"class": "login_id", "timenow": 1550844512.22, "z": 1, "commandid": 7, "a": 2}"#
        ),
        replaced(r#"{"class":"login_id","z":1,"a":2}"#)
    );
}

#[test]
fn removes_dotted_paths_in_nested_objects() {
    let mut h = strip(r#"["status.new"]"#);
    assert_eq!(
        h.client(r#"{"status": {"old": 1, "new": 2, "x": 3}, "class": "c"}"#),
        replaced(r#"{"status":{"old":1,"x":3},"class":"c"}"#)
    );
    // A path whose parent is not an object leaves the message alone.
    assert_eq!(h.client(r#"{"status": "new"}"#), Outcome::Pass);
}

#[test]
fn a_literal_top_level_key_with_a_dot_wins_over_the_path() {
    let mut h = strip(r#"["status.new"]"#);
    assert_eq!(
        h.client(r#"{"status.new": 1, "status": {"new": 2}}"#),
        replaced(r#"{"status":{"new":2}}"#)
    );
}

#[test]
fn unchanged_and_undecodable_messages_pass_untouched() {
    let mut h = strip(r#"["timenow"]"#);
    assert_eq!(h.client(r#"{"class": "getlist"}"#), Outcome::Pass);
    assert_eq!(h.client("not json, timenow"), Outcome::Pass);
    assert_eq!(h.client(r#"["timenow"]"#), Outcome::Pass);
    let line = br#"{"timenow": 1}"#;
    assert_eq!(h.send(Direction::ServerToClient, line, MSG_OVERSIZE), Outcome::Pass);
    assert_eq!(h.send(Direction::ServerToClient, line, MSG_RAW), Outcome::Pass);
}

#[test]
fn bad_field_lists_are_config_errors_naming_the_key() {
    let Err(CreateError::Config(err)) = Harness::<Strip>::new("fields = []") else {
        panic!("expected a config error");
    };
    assert_eq!(err.to_string(), "fields: expected at least one field");
    let Err(CreateError::Config(err)) = Harness::<Strip>::new(r#"fields = ["a", ""]"#) else {
        panic!("expected a config error");
    };
    assert_eq!(err.to_string(), "fields[1]: empty field name");
    let Err(CreateError::Config(err)) = Harness::<Strip>::new("") else {
        panic!("expected a config error");
    };
    assert!(err.message.contains("missing field `fields`"), "{err}");
}
