use serde::Deserialize;

use super::*;
use crate::harness::toml_to_json;

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Show {
    #[default]
    All,
    Msg,
    Network,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Every {
    Never,
    Seconds(u8),
    Window { from: u8, to: u8 },
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Rule {
    show: Show,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    show: Show,
    maybe: Option<Show>,
    every: Option<Every>,
    pretty: bool,
    name: String,
    small: u8,
    pair: Option<[u8; 2]>,
    rules: Vec<Rule>,
}

fn read(toml: &str) -> Result<Settings, ConfigError> {
    from_json(toml_to_json(toml).unwrap().as_bytes())
}

fn error(toml: &str) -> (String, String) {
    let err = read(toml).unwrap_err();
    (err.path, err.message)
}

#[test]
fn an_enum_given_another_type_lists_what_it_accepts() {
    let (path, message) = error("show = 5");
    assert_eq!(path, "show");
    assert_eq!(message, r#"invalid type: integer 5, expected one of "all", "msg", "network""#);
}

#[test]
fn nested_and_optional_enums_list_what_they_accept_too() {
    assert_eq!(
        error("[[rules]]\nshow = \"all\"\n[[rules]]\nshow = [1]"),
        (
            "rules[1].show".into(),
            r#"invalid type: array, expected one of "all", "msg", "network""#.into()
        )
    );
    assert_eq!(
        error("maybe = true"),
        (
            "maybe".into(),
            r#"invalid type: boolean true, expected one of "all", "msg", "network""#.into()
        )
    );
    assert_eq!(
        error("every = 1.5"),
        (
            "every".into(),
            r#"invalid type: float 1.5, expected one of "never", "seconds", "window""#.into()
        )
    );
}

#[test]
fn messages_carry_no_position_in_the_internal_json() {
    for toml in ["show = \"x\"", "pretty = \"yes\"", "nope = 1", "small = 300", "name = {}"] {
        let (_, message) = error(toml);
        assert!(!message.contains(" at line "), "{toml}: {message}");
    }
    assert_eq!(
        error("show = \"x\"").1,
        "unknown variant `x`, expected one of `all`, `msg`, `network`"
    );
}

#[test]
fn other_type_errors_name_toml_types() {
    assert_eq!(error("pretty = \"yes\"").1, r#"invalid type: string "yes", expected a boolean"#);
    assert_eq!(error("name = {}").1, "invalid type: table, expected a string");
    assert_eq!(error("small = 300").1, "invalid value: integer 300, expected u8");
    assert_eq!(error("small = -1").1, "invalid value: integer -1, expected u8");
    assert_eq!(error("pair = [1, 2, 3]").1, "invalid length 3, expected fewer items in the array");
}

#[test]
fn every_shape_still_reads() {
    let settings = read(
        "show = \"msg\"\nmaybe = \"network\"\nevery = { window = { from = 1, to = 2 } }\npretty = true\n\
         name = \"n\"\nsmall = 7\npair = [1, 2]\n[[rules]]\nshow = \"all\"",
    )
    .unwrap();
    assert_eq!(settings.show, Show::Msg);
    assert_eq!(settings.maybe, Some(Show::Network));
    assert_eq!(settings.every, Some(Every::Window { from: 1, to: 2 }));
    assert_eq!(settings.pair, Some([1, 2]));
    assert_eq!(settings.rules, vec![Rule { show: Show::All }]);
    assert_eq!(read("every = { seconds = 3 }").unwrap().every, Some(Every::Seconds(3)));
    assert_eq!(read("every = \"never\"").unwrap().every, Some(Every::Never));
    assert_eq!(read("").unwrap(), Settings::default());
    let value: Value = from_json(br#"{"a":[1,-2,1.5,"x",true,{"b":null}]}"#).unwrap();
    assert_eq!(value, serde_json::json!({"a":[1,-2,1.5,"x",true,{"b":null}]}));
}

#[test]
fn a_variant_with_data_reports_inside_it() {
    assert_eq!(
        error("every = { seconds = \"3\" }"),
        ("every.seconds".into(), r#"invalid type: string "3", expected u8"#.into())
    );
}
