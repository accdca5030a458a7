//! The `match` setting shared by include, exclude and the MI rules: conditions on field values.
//!
//! Two spellings, both meaning "any one of these conditions":
//! - a list of `"key=value"` strings, what the command line builds from `--include class=getlist`;
//! - a table `{ class = "getlist", "status.new" = ["1", "2"] }`, where an array means any of its
//!   values.
//!
//! Values compare as text, like the original Python tool but without its blind spot for numbers:
//! the field's value written as JSON text (a string without its quotes) must equal the given text,
//! so `tid=3` matches both `"3"` and `3`, and `enabled=true` matches `true`. Objects and arrays
//! never match.

use crate::error::ConfigError;
use serde::Deserialize;
use serde_json::Value;

use crate::field_path::FieldPath;
use crate::index;

/// The settings of include and exclude: `match = [...]` or `match = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// Kept as JSON and read by [`Matcher::from_setting`], whose errors name the exact entry
    /// (serde's untagged enums would only say that nothing matched).
    #[serde(rename = "match")]
    pub conditions: Value,
}

/// One condition: the field holds one of these values.
#[derive(Debug, Clone)]
struct Condition {
    field: FieldPath,
    values: Vec<String>,
}

/// A parsed `match` setting.
#[derive(Debug, Clone)]
pub struct Matcher {
    conditions: Vec<Condition>,
}

impl Matcher {
    /// Reads the `match` setting (its JSON form); errors name the offending entry.
    pub fn from_setting(setting: &Value) -> Result<Self, ConfigError> {
        let conditions = match setting {
            Value::Array(entries) => entries
                .iter()
                .enumerate()
                .map(|(i, entry)| parse_entry(entry, &format!("match[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
            Value::Object(table) => table
                .iter()
                .map(|(key, values)| parse_table_entry(key, values))
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(ConfigError::at(
                    "match",
                    "expected a list of \"key=value\" strings or a table of key = value",
                ))
            }
        };
        if conditions.is_empty() {
            return Err(ConfigError::at("match", "expected at least one condition"));
        }
        Ok(Matcher { conditions })
    }

    /// True if any condition holds for a message read through its index (include, exclude):
    /// nothing is built, values compare as the text they were written with.
    pub fn matches_root(&self, message: index::Value<'_>) -> bool {
        self.conditions.iter().any(|c| c.holds_root(message))
    }

    /// True if any condition holds for `message` (include and exclude).
    pub fn matches(&self, message: &Value) -> bool {
        self.conditions.iter().any(|c| c.holds(message))
    }

    /// True if every condition holds for a message read through its index (a rule's `match`,
    /// where each key narrows).
    pub fn matches_all_root(&self, message: index::Value<'_>) -> bool {
        self.conditions.iter().all(|c| c.holds_root(message))
    }
}

impl Condition {
    fn holds_root(&self, message: index::Value<'_>) -> bool {
        message
            .field(&self.field)
            .is_some_and(|value| self.values.iter().any(|expected| value.text_equals(expected)))
    }

    fn holds(&self, message: &Value) -> bool {
        self.field
            .get(message)
            .is_some_and(|value| self.values.iter().any(|expected| text_equals(value, expected)))
    }
}

/// `"key=value"`, split at the first `=` so values may contain `=`.
fn parse_entry(entry: &Value, at: &str) -> Result<Condition, ConfigError> {
    let text =
        entry.as_str().ok_or_else(|| ConfigError::at(at, "expected a \"key=value\" string"))?;
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| ConfigError::at(at, format!("expected key=value, got {text:?}")))?;
    Ok(Condition { field: FieldPath::parse(key, at)?, values: vec![value.to_owned()] })
}

fn parse_table_entry(key: &str, values: &Value) -> Result<Condition, ConfigError> {
    let at = format!("match.{key}");
    let values = match values {
        Value::Array(items) => {
            items.iter().map(|item| scalar_text(item, &at)).collect::<Result<Vec<_>, _>>()?
        }
        scalar => vec![scalar_text(scalar, &at)?],
    };
    if values.is_empty() {
        return Err(ConfigError::at(at, "expected at least one value"));
    }
    Ok(Condition { field: FieldPath::parse(key, &at)?, values })
}

/// A TOML value given in a table (`tid = 3`) stands for its text, as on the command line.
fn scalar_text(value: &Value, at: &str) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(_) | Value::Bool(_) => Ok(value.to_string()),
        _ => Err(ConfigError::at(at, "expected a string, number or boolean, or an array of them")),
    }
}

/// Does the field's value, as text, equal `expected`? (`3` and `"3"` both equal `3`.)
pub fn text_equals(value: &Value, expected: &str) -> bool {
    match value {
        Value::String(s) => s == expected,
        Value::Bool(b) => expected == if *b { "true" } else { "false" },
        Value::Null => expected == "null",
        Value::Number(n) => n.to_string() == expected,
        Value::Array(_) | Value::Object(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_compare_as_text() {
        assert!(text_equals(&json!("3"), "3"));
        assert!(text_equals(&json!(3), "3"));
        assert!(text_equals(&json!(2.5), "2.5"));
        assert!(text_equals(&json!(true), "true"));
        assert!(text_equals(&json!(null), "null"));
        assert!(!text_equals(&json!(3), "03"));
        assert!(!text_equals(&json!([3]), "[3]"));
    }

    #[test]
    fn any_or_all() {
        let m = Matcher::from_setting(&json!({"class": "getlist", "tid": ["3", "4"]})).unwrap();
        assert!(m.matches(&json!({"class": "getlist", "tid": 5})));
        let all = |text: &str| {
            let mut nodes = Vec::new();
            let index = index::Index::parse(text.as_bytes(), &mut nodes).unwrap();
            m.matches_all_root(index.root())
        };
        assert!(!all(r#"{"class": "getlist", "tid": 5}"#));
        assert!(all(r#"{"class": "getlist", "tid": 4}"#));
    }

    #[test]
    fn splits_at_the_first_equals_sign() {
        let m = Matcher::from_setting(&json!(["q=a=b"])).unwrap();
        assert!(m.matches(&json!({"q": "a=b"})));
    }
}
