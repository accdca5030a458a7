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

/// Runs `ctiproxy check -c PATH` with at most 1 GiB of address space: a reader without a bound
/// fails there quickly instead of taking the machine's memory.
fn check_path(path: &std::path::Path) -> support::Finished {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 1048576; exec \"$0\" check -c \"$1\"")
        .arg(env!("CARGO_BIN_EXE_ctiproxy"))
        .arg(path);
    support::Running::spawn(cmd).finish()
}

#[test]
fn a_control_character_in_a_comment_is_named_and_never_echoed() {
    let (code, stderr, _) = check("[proxy]\n# see \x1b[31mred\n");
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("config.toml:2:7: control character \\x1b is not allowed"),
        "{stderr}"
    );
    assert!(stderr.contains("    2 | # see \\x1b[31mred\n"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
}

#[test]
fn invalid_utf8_is_located_at_its_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, b"[proxy]\nlisten = \"caf\xe9\"\n").unwrap();
    let finished = check_path(&config);
    let stderr = finished.stderr.replace(&config.display().to_string(), "config.toml");
    assert_eq!(finished.status.code(), Some(1));
    assert!(
        stderr.starts_with("config.toml:2:14: invalid UTF-8 (byte \\xe9): a configuration is UTF-8 text\n    2 | listen = \"caf\\xe9\"\n"),
        "{stderr}"
    );
}

#[test]
fn a_device_is_refused_without_reading_it() {
    let finished = check_path(std::path::Path::new("/dev/zero"));
    assert_eq!(finished.status.code(), Some(1), "{}", finished.stderr);
    assert_eq!(finished.stderr, "cannot read /dev/zero: not a regular file (a character device)\n");
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("config.toml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let finished = check_path(&fifo);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.stderr);
    assert!(finished.stderr.ends_with(": not a regular file (a FIFO)\n"), "{}", finished.stderr);
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let file = std::fs::File::create(&config).unwrap();
    file.set_len(ctiproxy::config::MAX_CONFIG_BYTES + 1).unwrap();
    let finished = check_path(&config);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.stderr);
    assert!(
        finished.stderr.ends_with(": larger than 16 MiB, the limit for a configuration\n"),
        "{}",
        finished.stderr
    );
}
