use super::*;

#[test]
fn defaults_apply() {
    let c = Config::parse("c.toml", "").unwrap();
    assert_eq!(c.proxy.listen, DEFAULT_LISTEN);
    assert_eq!(c.proxy.queue, DEFAULT_QUEUE);
    assert_eq!(c.proxy.overflow, Overflow::Block);
    assert!(!c.proxy.keep_serving);
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let err =
        Config::parse("c.toml", "[proxy]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n").unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("c.toml:3:1: proxy.lisen: unknown field `lisen`"), "{text}");
}

#[test]
fn wrong_type_names_file_line_and_key() {
    let err = Config::parse("c.toml", "[proxy]\n\nqueue = \"big\"\n").unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("c.toml:3:9: proxy.queue: invalid type: string \"big\""), "{text}");
    assert!(text.contains("queue = \"big\""), "{text}");
}

#[test]
fn invalid_listen_address_is_located() {
    let err = Config::parse("c.toml", "[proxy]\nlisten = \"nowhere\"\n").unwrap_err();
    assert!(err.to_string().starts_with("c.toml:2:1: proxy.listen: \"nowhere\""), "{err}");
}

#[test]
fn server_gets_the_default_port() {
    assert_eq!(server_address("xivo").unwrap(), "xivo:5003");
    assert_eq!(server_address("xivo:5013").unwrap(), "xivo:5013");
    assert_eq!(server_address("::1").unwrap(), "[::1]:5003");
    assert_eq!(server_address("[::1]:7").unwrap(), "[::1]:7");
    assert_eq!(server_address("10.0.0.1").unwrap(), "10.0.0.1:5003");
    assert!(server_address(" ").is_err());
    assert!(server_address("a:b").unwrap_err().contains("not a port number"));
    assert!(server_address("a b:5003").is_err());
    assert!(server_address("[::1:7").is_err());
}

#[test]
fn pipeline_errors_point_at_the_key_inside_the_entry() {
    let text = "[[pipeline]]\nplugin = \"spy\"\n\n[[pipeline]]\nplugin = \"include\"\nmatch = 3\n";
    let c = Config::parse("c.toml", text).unwrap();
    let err = c.pipeline_error(1, "match", "expected a list".into());
    assert!(err
        .to_string()
        .starts_with("c.toml:6:1: pipeline[1] (include).match: expected a list"));
}

#[test]
fn indexed_key_paths_point_at_their_key() {
    let text = "[[pipeline]]\nplugin = \"include\"\n\nmatch = [\"x\"]\n";
    let c = Config::parse("c.toml", text).unwrap();
    let err = c.pipeline_error(0, "match[0]", "expected key=value".into());
    assert!(err.to_string().starts_with("c.toml:4:1: pipeline[0] (include).match[0]"), "{err}");
}

#[test]
fn values_that_would_fail_at_run_time_fail_the_check() {
    let err = Config::parse("c.toml", "[proxy]\nconnect_timeout_secs = 1e20\n").unwrap_err();
    assert!(err.to_string().contains("proxy.connect_timeout_secs: must be a positive"), "{err}");
    let err = Config::parse("c.toml", "[proxy]\nqueue = 4611686018427387904\n").unwrap_err();
    assert!(err.to_string().contains("proxy.queue: must be between 1 and"), "{err}");
}

#[test]
fn a_control_character_in_a_comment_is_the_reason_shown_escaped() {
    let err = Config::parse("c.toml", "[proxy]\n# see \x1b[31mred\n").unwrap_err().to_string();
    assert!(
        err.starts_with("c.toml:2:7: control character \\x1b is not allowed (TOML allows only tab"),
        "{err}"
    );
    assert!(err.ends_with("    2 | # see \\x1b[31mred"), "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
}

#[test]
fn a_reason_toml_gives_on_several_lines_is_kept_on_one() {
    let err = Config::parse("c.toml", "[proxy]\nqueue = \n").unwrap_err().to_string();
    assert!(err.starts_with("c.toml:2:9: invalid string; expected `\"`, `'`\n"), "{err}");
}

#[test]
fn values_quoted_from_the_file_are_shown_escaped() {
    let err = Config::parse("c.toml", "[proxy]\noverflow = \"\\u001b[2J\\u009b\"\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("unknown variant `\\x1b[2J\\u{9b}`"), "{text}");
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
}

#[test]
fn a_crlf_line_ending_is_not_part_of_the_snippet() {
    let err = Config::parse("c.toml", "[proxy]\r\nqueue = \"big\"\r\n").unwrap_err().to_string();
    assert!(err.ends_with("    2 | queue = \"big\""), "{err:?}");
}

#[test]
fn tls_is_off_by_default_and_its_keys_go_together() {
    let c = Config::parse("c.toml", "").unwrap();
    assert_eq!(c.proxy.tls, TlsMode::Off);
    let c = Config::parse("c.toml", "[proxy]\ntls = \"intercept\"\n").unwrap();
    assert_eq!(c.proxy.tls, TlsMode::Intercept);
    let err = Config::parse("c.toml", "[proxy]\ntls = \"on\"\n").unwrap_err().to_string();
    assert!(err.starts_with("c.toml:2:7: proxy.tls: unknown variant `on`"), "{err}");
    let err = Config::parse("c.toml", "[proxy]\ntls = \"always\"\ntls_cert = \"c.pem\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("c.toml:3:1: proxy.tls_cert: needs tls_key"), "{err}");
    let err = Config::parse("c.toml", "[proxy]\ntls_server_ca = \"ca.pem\"\n").unwrap_err();
    assert!(err.to_string().contains("proxy.tls_server_ca: is only used with tls"), "{err}");
    let err = Config::parse("c.toml", "[proxy]\ntls_handshake_timeout_secs = 0\n").unwrap_err();
    assert!(err.to_string().contains("must be a positive number"), "{err}");
}

#[test]
fn the_metrics_section_is_optional() {
    assert!(Config::parse("c.toml", "[proxy]\n").unwrap().metrics.is_none());
    let c = Config::parse("c.toml", "[metrics]\nlisten = \"127.0.0.1:9091\"\n").unwrap();
    assert_eq!(c.metrics.unwrap().listen.get_ref(), "127.0.0.1:9091");
}

#[test]
fn a_bad_metrics_address_points_at_the_metrics_key_not_the_proxy_one() {
    let text = "[proxy]\nlisten = \"127.0.0.1:1\"\n\n[metrics]\nlisten = \"localhost:x\"\n";
    let err = Config::parse("c.toml", text).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("c.toml:5:10: metrics.listen: \"localhost:x\" is not an ip:port"),
        "{err}"
    );
    let err = Config::parse("c.toml", "[metrics]\nlisen = \"127.0.0.1:1\"\n").unwrap_err();
    assert!(
        err.to_string().starts_with("c.toml:2:1: metrics.lisen: unknown field `lisen`"),
        "{err}"
    );
    let err = Config::parse("c.toml", "[metrics]\n").unwrap_err();
    assert!(err.to_string().contains("missing field `listen`"), "{err}");
}
