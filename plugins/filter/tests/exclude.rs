//! The exclude plugin, tested in-process with the plugin-api harness.
use ctiproxy_filter::Exclude;
use ctiproxy_plugin_api::abi::MSG_RAW;
use ctiproxy_plugin_api::harness::Harness;
use ctiproxy_plugin_api::{CreateError, Direction, Outcome};

fn exclude(setting: &str) -> Harness<Exclude> {
    Harness::<Exclude>::new(&format!("match = {setting}")).unwrap()
}

#[test]
fn drops_matching_messages_and_passes_the_others() {
    let mut h = exclude(r#"["class=keepalive", "tid=3"]"#);
    assert_eq!(h.client(r#"{"class": "keepalive"}"#), Outcome::Drop);
    assert_eq!(h.client(r#"{"class": "getlist", "tid": 3}"#), Outcome::Drop);
    assert_eq!(h.client(r#"{"class": "getlist", "tid": 4}"#), Outcome::Pass);
}

#[test]
fn the_table_form_and_dotted_paths_work_as_for_include() {
    let mut h = exclude(r#"{ "status.new" = [1, 2] }"#);
    assert_eq!(h.server(r#"{"status": {"new": "2"}}"#), Outcome::Drop);
    assert_eq!(h.server(r#"{"status": {"new": 3}}"#), Outcome::Pass);
    assert_eq!(h.server(r#"{"status": 1}"#), Outcome::Pass);
}

#[test]
fn lines_that_are_not_json_pass() {
    let mut h = exclude(r#"["class=keepalive"]"#);
    assert_eq!(h.client("class=keepalive"), Outcome::Pass);
    let read = br#"{"class": "keepalive"}"#;
    assert_eq!(h.send(Direction::ClientToServer, read, MSG_RAW), Outcome::Pass);
}

#[test]
fn an_entry_without_equals_is_a_config_error() {
    let Err(CreateError::Config(err)) = Harness::<Exclude>::new(r#"match = ["keepalive"]"#) else {
        panic!("expected a config error");
    };
    assert_eq!(err.to_string(), r#"match[0]: expected key=value, got "keepalive""#);
}
