//! The include plugin, tested in-process with the plugin-api harness.
use ctiproxy_filter::Include;
use ctiproxy_plugin_api::abi::MSG_OVERSIZE;
use ctiproxy_plugin_api::harness::Harness;
use ctiproxy_plugin_api::{CreateError, Direction, Outcome};

fn include(setting: &str) -> Harness<Include> {
    Harness::<Include>::new(&format!("match = {setting}")).unwrap()
}

fn config_error(setting: &str) -> String {
    match Harness::<Include>::new(&format!("match = {setting}")) {
        Err(CreateError::Config(err)) => err.to_string(),
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(_) => panic!("expected a config error for {setting}"),
    }
}

#[test]
fn passes_matching_messages_and_drops_the_others() {
    let mut h = include(r#"["class=getlist"]"#);
    assert_eq!(h.server(r#"{"class": "getlist", "function": "updateconfig"}"#), Outcome::Pass);
    assert_eq!(h.server(r#"{"class": "keepalive"}"#), Outcome::Drop);
    assert_eq!(h.server(r#"{"function": "getlist"}"#), Outcome::Drop);
}

#[test]
fn any_of_several_conditions_is_enough() {
    let mut h = include(r#"["class=getlist", "tid=3"]"#);
    assert_eq!(h.client(r#"{"class": "getlist"}"#), Outcome::Pass);
    assert_eq!(h.client(r#"{"class": "history", "tid": 3}"#), Outcome::Pass);
    assert_eq!(h.client(r#"{"class": "history", "tid": 4}"#), Outcome::Drop);
}

#[test]
fn numbers_and_booleans_match_their_text() {
    let mut h = include(r#"["tid=3", "enabled=true", "ratio=0.5"]"#);
    assert_eq!(h.client(r#"{"tid": 3}"#), Outcome::Pass);
    assert_eq!(h.client(r#"{"tid": "3"}"#), Outcome::Pass);
    assert_eq!(h.client(r#"{"tid": 30}"#), Outcome::Drop);
    assert_eq!(h.client(r#"{"enabled": true}"#), Outcome::Pass);
    assert_eq!(h.client(r#"{"enabled": false}"#), Outcome::Drop);
    assert_eq!(h.client(r#"{"ratio": 0.5}"#), Outcome::Pass);
    assert_eq!(h.client(r#"{"tid": [3]}"#), Outcome::Drop);
}

#[test]
fn dotted_paths_reach_nested_fields_and_a_literal_dotted_key_is_tried_first() {
    let mut h = include(r#"["status.new=1"]"#);
    assert_eq!(h.server(r#"{"status": {"new": 1}}"#), Outcome::Pass);
    assert_eq!(h.server(r#"{"status": {"new": 2}}"#), Outcome::Drop);
    assert_eq!(h.server(r#"{"status.new": "1", "status": {"new": 2}}"#), Outcome::Pass);
    assert_eq!(h.server(r#"{"status.new": "2", "status": {"new": 1}}"#), Outcome::Drop);
}

#[test]
fn the_table_form_takes_scalars_and_arrays_of_alternatives() {
    let mut h = include(r#"{ class = "getlist", "status.new" = ["1", "2"], tid = 3 }"#);
    assert_eq!(h.server(r#"{"class": "getlist"}"#), Outcome::Pass);
    assert_eq!(h.server(r#"{"status": {"new": 2}}"#), Outcome::Pass);
    assert_eq!(h.server(r#"{"status": {"new": 3}}"#), Outcome::Drop);
    assert_eq!(h.server(r#"{"tid": "3"}"#), Outcome::Pass);
}

#[test]
fn lines_that_are_not_json_are_dropped() {
    let mut h = include(r#"["class=getlist"]"#);
    assert_eq!(h.client("class=getlist"), Outcome::Drop);
    assert_eq!(h.client(""), Outcome::Drop);
    let preview = br#"{"class": "getlist", "list": ["#;
    assert_eq!(h.send(Direction::ServerToClient, preview, MSG_OVERSIZE), Outcome::Drop);
}

#[test]
fn values_may_contain_equals_signs_and_be_empty() {
    let mut h = include(r#"["q=a=b", "empty="]"#);
    assert_eq!(h.client(r#"{"q": "a=b"}"#), Outcome::Pass);
    assert_eq!(h.client(r#"{"empty": ""}"#), Outcome::Pass);
    assert_eq!(h.client(r#"{"q": "a"}"#), Outcome::Drop);
}

#[test]
fn bad_match_settings_are_config_errors_naming_the_entry() {
    assert_eq!(
        config_error(r#"["class=getlist", "getlist"]"#),
        r#"match[1]: expected key=value, got "getlist""#
    );
    assert_eq!(config_error("[]"), "match: expected at least one condition");
    assert_eq!(config_error("{}"), "match: expected at least one condition");
    assert_eq!(config_error(r#"["=x"]"#), "match[0]: empty field name");
    assert_eq!(config_error("[3]"), r#"match[0]: expected a "key=value" string"#);
    assert_eq!(config_error("{ class = [] }"), "match.class: expected at least one value");
    assert!(config_error("{ class = { a = 1 } }").starts_with("match.class: expected a string"));
    assert!(config_error(r#""class=getlist""#).starts_with("match: expected a list"));
    let Err(CreateError::Config(err)) = Harness::<Include>::new("") else {
        panic!("expected a config error");
    };
    assert!(err.message.contains("missing field `match`"), "{err}");
}
