//! Field names as users write them: `class`, or a dotted path into nested objects such as
//! `status.new`. Shared by strip, include, exclude and the MI rules so all of them read a name the same way.

use crate::error::ConfigError;
use serde_json::{Map, Value};

/// A field of a JSON object message, parsed once at configuration time.
///
/// A top-level key that literally contains the dots (`"status.new"`) wins over the path, so
/// names that were valid before dotted paths existed keep their meaning. Paths go through
/// objects only: arrays are not indexed.
#[derive(Debug, Clone)]
pub struct FieldPath {
    literal: String,
    segments: Vec<String>,
}

impl FieldPath {
    /// Parses a field name; `at` is the config key it came from, for the error.
    pub fn parse(name: &str, at: &str) -> Result<Self, ConfigError> {
        if name.is_empty() {
            return Err(ConfigError::at(at, "empty field name"));
        }
        let segments = name.split('.').map(str::to_owned).collect();
        Ok(FieldPath { literal: name.to_owned(), segments })
    }

    /// Parses a list of field names, the setting `key`; errors name `key[i]`.
    pub fn parse_all(names: &[String], key: &str) -> Result<Vec<Self>, ConfigError> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| FieldPath::parse(name, &format!("{key}[{i}]")))
            .collect()
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.literal
    }

    /// The dot-separated segments of the name, for walking nested objects.
    pub fn segments(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments.iter().map(String::as_str)
    }

    /// The field's value, if `message` is an object that has it.
    pub fn get<'v>(&self, message: &'v Value) -> Option<&'v Value> {
        let object = message.as_object()?;
        object.get(&self.literal).or_else(|| self.walk(object))
    }

    /// Removes the field from `message`, keeping the order of the other keys. True if it was
    /// there.
    pub fn remove(&self, message: &mut Value) -> bool {
        let Some(object) = message.as_object_mut() else {
            return false;
        };
        if object.shift_remove(&self.literal).is_some() {
            return true;
        }
        let Some((last, parents)) = self.segments.split_last() else {
            return false;
        };
        let parent = parents.iter().try_fold(object, |object, segment| {
            object.get_mut(segment).and_then(Value::as_object_mut)
        });
        parent.is_some_and(|parent| parent.shift_remove(last).is_some())
    }

    fn walk<'v>(&self, object: &'v Map<String, Value>) -> Option<&'v Value> {
        // A single segment is the literal key, already tried.
        if self.segments.len() < 2 {
            return None;
        }
        let (last, parents) = self.segments.split_last()?;
        let parent = parents
            .iter()
            .try_fold(object, |object, segment| object.get(segment).and_then(Value::as_object))?;
        parent.get(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(name: &str) -> FieldPath {
        FieldPath::parse(name, "fields[0]").unwrap()
    }

    #[test]
    fn gets_top_level_nested_and_literal_dotted_keys() {
        let m = json!({"class": "x", "status": {"new": 1}, "a.b": 2, "a": {"b": 3}});
        assert_eq!(path("class").get(&m), Some(&json!("x")));
        assert_eq!(path("status.new").get(&m), Some(&json!(1)));
        assert_eq!(path("a.b").get(&m), Some(&json!(2)));
        assert_eq!(path("status.old").get(&m), None);
        assert_eq!(path("class.x").get(&m), None);
        assert_eq!(path("x").get(&json!([1])), None);
    }

    #[test]
    fn removes_keeping_the_order_of_the_other_keys() {
        let mut m = json!({"a": 1, "s": {"x": 1, "new": 2, "y": 3}, "b": 2});
        assert!(path("s.new").remove(&mut m));
        assert!(path("a").remove(&mut m));
        assert!(!path("s.new").remove(&mut m));
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"s":{"x":1,"y":3},"b":2}"#);
    }

    #[test]
    fn an_empty_name_is_a_config_error() {
        let err = FieldPath::parse("", "fields[2]").unwrap_err();
        assert_eq!(err.to_string(), "fields[2]: empty field name");
    }
}
