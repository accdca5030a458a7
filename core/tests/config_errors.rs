//! Configuration errors through the real `ctiproxy check` and `run`: every message shows file,
//! line and key, and nothing starts.
mod support;

use support::{ctiproxy, write_config};

fn check(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), text);
    let out = ctiproxy().arg("check").arg("-c").arg(&config).output().unwrap();
    let path = config.display().to_string();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).replace(&path, "config.toml"), path)
}

#[test]
fn unknown_key() {
    let (code, stderr, _) = check("[proxy]\nserver = \"x\"\nqueue_size = 10\n");
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("config.toml:3:1: proxy.queue_size: unknown field `queue_size`"),
        "{stderr}"
    );
}

#[test]
fn wrong_type() {
    let (code, stderr, _) = check("[proxy]\nserver = \"x\"\nqueue = \"big\"\n");
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(
            "config.toml:3:9: proxy.queue: invalid type: string \"big\", expected usize"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("    3 | queue = \"big\""), "the line is shown: {stderr}");
}

#[test]
fn bad_enum_value() {
    let (code, stderr, _) = check("[proxy]\noverflow = \"discard\"\n");
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("config.toml:2:12: proxy.overflow: unknown variant `discard`"),
        "{stderr}"
    );
}

#[test]
fn unknown_plugin_lists_what_exists() {
    let (code, stderr, _) =
        check("[[pipeline]]\nplugin = \"spy\"\n\n[[pipeline]]\nplugin = \"spyy\"\n");
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(
            "config.toml:5:1: pipeline[1] (spyy).plugin: unknown plugin \"spyy\" (available: "
        ),
        "{stderr}"
    );
    assert!(stderr.contains("spy,"), "{stderr}");
}

#[test]
fn a_plugin_setting_of_the_wrong_type_is_located_at_its_line() {
    let (code, stderr, _) = check("[[pipeline]]\nplugin = \"spy\"\n\npretty = \"yes\"\n");
    assert_eq!(code, Some(1));
    assert!(stderr.starts_with("config.toml:4:1: pipeline[0] (spy).pretty: invalid type: string \"yes\", expected a boolean"), "{stderr}");
}

#[test]
fn an_unknown_plugin_setting_is_an_error() {
    let (code, stderr, _) = check("[[pipeline]]\nplugin = \"spy\"\nprety = true\n");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("pipeline[0] (spy)"), "{stderr}");
    assert!(stderr.contains("unknown field `prety`"), "{stderr}");
}

#[test]
fn every_error_is_reported_at_once() {
    let (code, stderr, _) =
        check("[[pipeline]]\nplugin = \"nope1\"\n\n[[pipeline]]\nplugin = \"nope2\"\n");
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("unknown plugin \"nope1\"") && stderr.contains("unknown plugin \"nope2\""),
        "{stderr}"
    );
}

#[test]
fn run_refuses_a_bad_config_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[proxy]\nlisten = \"127.0.0.1:0\"\nserver = \"127.0.0.1:9\"\n[[pipeline]]\nplugin = \"nope\"\n");
    let out = ctiproxy().arg("run").arg("-c").arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("unknown plugin \"nope\""), "{stderr}");
    assert!(!stderr.contains("Listening on"), "{stderr}");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = ctiproxy().arg("check").arg("-c").arg("/nonexistent/ctiproxy.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read /nonexistent/ctiproxy.toml: No such file"));
}

#[test]
fn a_plugin_enum_of_the_wrong_type_says_what_it_accepts() {
    let (code, stderr, _) = check("[[pipeline]]\nplugin = \"stats\"\nshow = 5\n");
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(
            "config.toml:3:1: pipeline[0] (stats).show: invalid type: integer 5, expected one of \"all\", \"msg\", \"network\"\n"
        ),
        "{stderr}"
    );
}

#[test]
fn plugin_setting_errors_do_not_point_into_the_internal_json() {
    let (code, stderr, _) = check("[[pipeline]]\nplugin = \"stats\"\nshow = \"x\"\n");
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(
            "config.toml:3:1: pipeline[0] (stats).show: unknown variant `x`, expected one of `all`, `msg`, `network`\n"
        ),
        "{stderr}"
    );
    let (_, stderr, _) = check("[[pipeline]]\nplugin = \"spy\"\ncolor = [\"auto\"]\n");
    assert!(
        stderr.starts_with("config.toml:3:1: pipeline[0] (spy).color: invalid type: array, expected one of \"auto\", \"always\", \"never\"\n"),
        "{stderr}"
    );
}
