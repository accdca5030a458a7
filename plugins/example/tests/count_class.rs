//! The example plugin, tested in-process with the plugin-api harness.
use ctiproxy_example::CountClass;
use ctiproxy_plugin_api::harness::Harness;
use ctiproxy_plugin_api::{CreateError, Outcome};

#[test]
fn counts_one_class_per_session_and_prints_at_session_end() {
    let mut h = Harness::<CountClass>::new(r#"class = "getlist""#).unwrap();
    h.start_session();
    assert_eq!(h.server(r#"{"class":"getlist","function":"listid"}"#), Outcome::Pass);
    assert_eq!(h.client(r#"{"class":"getlist"}"#), Outcome::Pass);
    assert_eq!(h.client(r#"{"class":"keepalive"}"#), Outcome::Pass);
    assert_eq!(h.client("not json"), Outcome::Pass);
    h.end_session("client closed");
    assert_eq!(h.take_output(), "session 1: 2 x getlist\n");
    h.start_session();
    h.end_session("client closed");
    assert_eq!(h.take_output(), "session 2: 0 x getlist\n");
}

#[test]
fn interleaved_sessions_are_counted_apart() {
    let mut h = Harness::<CountClass>::new(r#"class = "getlist""#).unwrap();
    let (one, two) = (h.start_session(), h.start_session());
    for _ in 0..3 {
        h.server_in(one, r#"{"class":"getlist"}"#);
    }
    h.server_in(two, r#"{"class":"getlist"}"#);
    h.client_in(one, r#"{"class":"keepalive"}"#);
    h.end_session_in(two, "client closed");
    assert_eq!(h.take_output(), format!("session {two}: 1 x getlist\n"));
    h.server_in(one, r#"{"class":"getlist"}"#);
    h.end_session_in(one, "client closed");
    assert_eq!(h.take_output(), format!("session {one}: 4 x getlist\n"));
}

#[test]
fn unknown_key_is_a_config_error_naming_the_key() {
    let Err(CreateError::Config(err)) = Harness::<CountClass>::new("class = \"x\"\nklass = 1")
    else {
        panic!("expected a config error");
    };
    assert!(err.message.contains("unknown field `klass`"), "{err}");
}

#[test]
fn wrong_type_names_the_key_path() {
    let Err(CreateError::Config(err)) = Harness::<CountClass>::new("class = 3") else {
        panic!("expected a config error");
    };
    assert_eq!(err.path, "class");
    assert!(err.message.contains("expected a string"), "{err}");
}
