//! How the classic command lines turn into configurations: the same pipeline a file would give,
//! every user string escaped, the options' conflicts enforced by the parser.

use clap::{CommandFactory, Parser};

use super::save::Save;
use super::spy::Spy;
use super::stat::Stat;
use super::*;

fn parse<C: ClassicCommand>(args: &[&str]) -> C {
    C::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The plugin names of the generated pipeline, in order.
fn plugins(config: &Config) -> Vec<String> {
    let name = |e: &toml::Spanned<toml::Table>| e.get_ref()["plugin"].as_str().unwrap().to_owned();
    config.pipeline.iter().map(name).collect()
}

fn setting<'a>(config: &'a Config, index: usize, key: &str) -> &'a toml::Value {
    &config.pipeline[index].get_ref()[key]
}

#[test]
fn defaults_are_the_documented_ones() {
    let config = config(&parse::<Spy>(&["ctispy", "xivo"])).unwrap();
    assert_eq!(config.proxy.listen, "0.0.0.0:50030");
    assert_eq!(config.proxy.server.as_deref(), Some("xivo:5003"));
    assert!(!config.proxy.keep_serving);
    assert!(!config.proxy.raw);
    assert_eq!(plugins(&config), ["spy"]);
    let spy = config.pipeline[0].get_ref();
    for (key, value) in [("pretty", false), ("raw", false), ("client", true), ("server", true)] {
        assert_eq!(spy[key].as_bool(), Some(value), "{key}");
    }
}

#[test]
fn addresses_and_loop_reach_the_proxy_section() {
    let args = [
        "ctispy",
        "::1",
        "--port",
        "5013",
        "--listen-addr",
        "127.0.0.1",
        "--listen-port",
        "0",
        "--loop",
    ];
    let config = config(&parse::<Spy>(&args)).unwrap();
    assert_eq!(config.proxy.server.as_deref(), Some("[::1]:5013"));
    assert_eq!(config.proxy.listen, "127.0.0.1:0");
    assert!(config.proxy.keep_serving);
}

#[test]
fn filters_come_in_order_strip_include_exclude_before_the_spy() {
    // `-e tid=7` reads a stripped field: stripping first matters, so strip is its own stage.
    let args = ["ctispy", "h", "-e", "tid=7", "-i", "a=1", "-s", "f", "-i", "b.c=2", "-s", "tid"];
    let config = config(&parse::<Spy>(&args)).unwrap();
    assert_eq!(plugins(&config), ["strip", "include", "exclude", "spy"]);
    assert_eq!(setting(&config, 0, "fields"), &toml::Value::from(vec!["f", "tid"]));
    assert_eq!(setting(&config, 1, "match"), &toml::Value::from(vec!["a=1", "b.c=2"]));
    assert_eq!(setting(&config, 2, "match"), &toml::Value::from(vec!["tid=7"]));
    assert!(config.pipeline[3].get_ref().get("strip").is_none());
}

#[test]
fn the_spy_leaves_stripped_fields_out_itself_when_no_filter_reads_them() {
    for (args, filters) in [
        (&["ctispy", "h", "-s", "timenow", "-i", "class=getlist"][..], &["include"][..]),
        (&["ctispy", "h", "-s", "timenow", "-s", "status.new", "-e", "class=x"], &["exclude"]),
        (&["ctispy", "h", "-s", "timenow"], &[]),
    ] {
        let config = config(&parse::<Spy>(args)).unwrap();
        let mut want: Vec<&str> = filters.to_vec();
        want.push("spy");
        assert_eq!(plugins(&config), want, "{args:?}");
        let stripped: Vec<&str> = args.windows(2).filter(|w| w[0] == "-s").map(|w| w[1]).collect();
        assert_eq!(setting(&config, filters.len(), "strip"), &toml::Value::from(stripped));
    }
    // A filter key in, around or beside a stripped field keeps strip first.
    for (strip, key) in [("status", "status.new=1"), ("status.new", "status=1"), ("a", "a=1")] {
        let args = ["ctispy", "h", "-s", strip, "-i", key];
        let config = config(&parse::<Spy>(&args)).unwrap();
        assert_eq!(plugins(&config), ["strip", "include", "spy"], "{args:?}");
    }
    // An empty field name is a usage error, not a setting of a plugin the user never named.
    let spy = Spy::try_parse_from(["ctispy", "h", "-s", ""]);
    assert_eq!(spy.map(drop).unwrap_err().exit_code(), 2);
    let save = Save::try_parse_from(["ctisave", "h", "c", "s", "--strip="]);
    assert_eq!(save.map(drop).unwrap_err().exit_code(), 2);
    assert!(Save::try_parse_from(["ctisave", "h", "c", "s", "--strip=f"]).is_ok());
    // ctisave has no printer of its own to leave fields out: strip stays a stage.
    let save = parse::<Save>(&["ctisave", "h", "c", "s", "-s", "timenow", "-i", "class=x"]);
    assert_eq!(plugins(&config(&save).unwrap()), ["strip", "include", "save"]);
}

#[test]
fn raw_skips_the_filters_and_says_so() {
    let spy = parse::<Spy>(&["ctispy", "h", "--raw", "-s", "timenow"]);
    let config = config(&spy).unwrap();
    assert!(config.proxy.raw);
    assert_eq!(plugins(&config), ["spy"]);
    assert_eq!(setting(&config, 0, "raw").as_bool(), Some(true));
    assert_eq!(spy.warnings(), [spy::RAW_IGNORES_FILTERS]);
    assert!(parse::<Spy>(&["ctispy", "h", "--raw"]).warnings().is_empty());
}

#[test]
fn user_strings_are_escaped_not_pasted() {
    let nasty = "a\"b\\c\nd]]\n[proxy]\nlisten = 'x'";
    let save = parse::<Save>(&["ctisave", "h", nasty, "s.txt", "-i", &format!("k={nasty}")]);
    let config = config(&save).unwrap();
    assert_eq!(config.proxy.listen, "0.0.0.0:50030");
    assert_eq!(plugins(&config), ["include", "save"]);
    assert_eq!(setting(&config, 0, "match"), &toml::Value::from(vec![format!("k={nasty}")]));
    assert_eq!(setting(&config, 1, "client_file").as_str(), Some(nasty));
    assert_eq!(setting(&config, 1, "server_file").as_str(), Some("s.txt"));
    assert_eq!(setting(&config, 1, "format").as_str(), Some("classic"));
}

#[test]
fn ctistat_shows_all_in_the_classic_layout_unless_told_otherwise() {
    for (args, show, format) in [
        (&["ctistat", "h"][..], "all", "classic"),
        (&["ctistat", "h", "-m"], "msg", "classic"),
        (&["ctistat", "h", "--msg"], "msg", "classic"),
        (&["ctistat", "h", "-n"], "network", "classic"),
        (&["ctistat", "h", "--network", "--format", "table"], "network", "text"),
        (&["ctistat", "h", "--format=json"], "all", "json"),
        (&["ctistat", "h", "--format", "classic"], "all", "classic"),
    ] {
        let config = config(&parse::<Stat>(args)).unwrap();
        assert_eq!(plugins(&config), ["stats"]);
        assert_eq!(setting(&config, 0, "show").as_str(), Some(show), "{args:?}");
        assert_eq!(setting(&config, 0, "format").as_str(), Some(format), "{args:?}");
    }
}

#[test]
fn raw_wins_over_pretty_print_and_says_so() {
    for args in [["ctispy", "h", "--raw", "--pretty-print"], ["ctispy", "h", "--pretty", "--raw"]] {
        let spy = parse::<Spy>(&args);
        let config = config(&spy).unwrap();
        assert!(config.proxy.raw, "{args:?}");
        assert_eq!(setting(&config, 0, "raw").as_bool(), Some(true));
        assert_eq!(setting(&config, 0, "pretty").as_bool(), Some(false));
        assert_eq!(spy.warnings(), [spy::RAW_IGNORES_PRETTY]);
    }
}

#[test]
fn unambiguous_prefixes_of_long_options_work_as_with_argparse() {
    let spy =
        parse::<Spy>(&["ctispy", "h", "--pretty", "--no-c", "--incl", "class=x", "--str", "f"]);
    assert!(spy.pretty_print && spy.no_client && !spy.no_server);
    assert_eq!(
        (spy.filters.include.as_slice(), spy.filters.strip.as_slice()),
        (&["class=x".to_owned()][..], &["f".to_owned()][..])
    );
    let spy = parse::<Spy>(&["ctispy", "h", "--listen-p", "0", "--lo", "--excl=a=b"]);
    assert_eq!((spy.common.listen_port, spy.common.keep_serving), (0, true));
    assert_eq!(spy.filters.exclude, ["a=b"]);
    let stat = parse::<Stat>(&["ctistat", "h", "--net", "--form", "json"]);
    assert!(stat.network && stat.format == stat::StatFormat::Json);
    let save = parse::<Save>(&["ctisave", "h", "c.txt", "s.txt", "--incl", "class=x"]);
    assert_eq!(save.filters.include, ["class=x"]);
    // Like argparse, a prefix of two options is an error, not a guess.
    for args in [["ctispy", "h", "--no"], ["ctispy", "h", "--p"], ["ctispy", "h", "--l"]] {
        assert_eq!(Spy::try_parse_from(args).unwrap_err().exit_code(), 2, "{args:?}");
    }
}

#[test]
fn exclusive_options_are_usage_errors() {
    let usage = |result: Result<(), clap::Error>| result.unwrap_err().exit_code();
    assert_eq!(
        usage(Spy::try_parse_from(["ctispy", "h", "--no-client", "--no-server"]).map(drop)),
        2
    );
    assert_eq!(usage(Stat::try_parse_from(["ctistat", "h", "-m", "-n"]).map(drop)), 2);
    assert_eq!(usage(Save::try_parse_from(["ctisave", "h", "c.txt"]).map(drop)), 2);
    assert_eq!(usage(Spy::try_parse_from(["ctispy", ""]).map(drop)), 2);
}

#[test]
fn every_command_line_definition_is_consistent() {
    Spy::command().debug_assert();
    Save::command().debug_assert();
    Stat::command().debug_assert();
}
