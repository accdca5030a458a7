//! Reading a plugin's settings from the JSON the host hands over, with messages a person can act
//! on.
//!
//! The host turns the plugin's TOML table into JSON. Reading that text with serde_json's own
//! reader spoke about the internal copy, not the file: "at line 1 column 15" (of a JSON line the
//! user never saw; the host already locates the key in the TOML file), and for an enum given a
//! value of the wrong type only "expected value", because serde_json's reader rejects anything
//! but a string or an object before the enum can say what it accepts. Settings are read instead
//! from the parsed [`Value`] by the deserializer below, whose errors
//! - carry no position,
//! - name the value as TOML writes it: `integer 5`, `float 1.5`, `array`, `table`,
//! - list an enum's accepted values: `invalid type: integer 5, expected one of "all", "msg"`.
//!
//! One limit stays: a `#[serde(untagged)]` enum only says "data did not match any variant",
//! because serde tries each variant on a buffered copy and drops their errors. A setting with
//! several shapes is better kept as a [`Value`] and checked by hand, as [`crate::matcher`] does.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, Expected, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde::forward_to_deserialize_any;
use serde_json::Value;

use crate::error::ConfigError;

/// Reads settings from the host's JSON; errors name the key path inside the plugin's table.
pub fn from_json<T: DeserializeOwned>(json: &[u8]) -> Result<T, ConfigError> {
    let value: Value = serde_json::from_slice(json)
        .map_err(|e| ConfigError::from(format!("the host sent settings that are not JSON: {e}")))?;
    serde_path_to_error::deserialize(ValueDeserializer(&value)).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ConfigError::at(path, e.into_inner().to_string())
    })
}

/// Why a setting was refused, worded for the TOML file it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingError(String);

impl de::Error for SettingError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        SettingError(message.to_string())
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        SettingError(format!("invalid type: {}, expected {expected}", AsToml(unexpected)))
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        SettingError(format!("invalid value: {}, expected {expected}", AsToml(unexpected)))
    }
}

/// A value as the user wrote it in TOML, not in serde's Rust-flavoured words ("map",
/// "sequence", "integer `5`").
struct AsToml<'a>(Unexpected<'a>);

impl fmt::Display for AsToml<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Unexpected::Bool(b) => write!(f, "boolean {b}"),
            Unexpected::Unsigned(n) => write!(f, "integer {n}"),
            Unexpected::Signed(n) => write!(f, "integer {n}"),
            Unexpected::Float(x) => write!(f, "float {x:?}"),
            Unexpected::Seq => f.write_str("array"),
            Unexpected::Map => f.write_str("table"),
            other => write!(f, "{other}"),
        }
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            (None, None) => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// An enum's accepted values, spelled as they are written in TOML.
struct OneOf(&'static [&'static str]);

impl Expected for OneOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self.0.iter().map(|v| format!("{v:?}")).collect();
        match quoted.as_slice() {
            [one] => f.write_str(one),
            _ => write!(f, "one of {}", quoted.join(", ")),
        }
    }
}

type StrDeserializer<'de> = de::value::BorrowedStrDeserializer<'de, SettingError>;

/// Deserializes one JSON value of the settings.
struct ValueDeserializer<'de>(&'de Value);

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = SettingError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SettingError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => visitor.visit_u64(u),
                (None, Some(i)) => visitor.visit_i64(i),
                (None, None) => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = Items(items.iter());
                let read = visitor.visit_seq(&mut seq)?;
                match seq.0.len() {
                    0 => Ok(read),
                    _ => Err(de::Error::invalid_length(items.len(), &"fewer items in the array")),
                }
            }
            Value::Object(table) => {
                let mut map = Entries { entries: table.iter(), value: None };
                let read = visitor.visit_map(&mut map)?;
                match map.entries.len() {
                    0 => Ok(read),
                    _ => Err(de::Error::invalid_length(table.len(), &"fewer keys in the table")),
                }
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SettingError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, SettingError> {
        visitor.visit_newtype_struct(self)
    }

    /// The point of this deserializer: a value that cannot be a variant says which ones exist.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, SettingError> {
        match self.0 {
            Value::String(name) => visitor.visit_enum(StrDeserializer::new(name)),
            Value::Object(table) if table.len() == 1 => {
                let (name, value) = table.iter().next().expect("one entry");
                visitor.visit_enum(Variant { name, value })
            }
            other => Err(de::Error::invalid_type(unexpected(other), &OneOf(variants))),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// The items of an array.
struct Items<'de>(std::slice::Iter<'de, Value>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = SettingError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, SettingError> {
        self.0.next().map(|item| seed.deserialize(ValueDeserializer(item))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The entries of a table.
struct Entries<'de> {
    entries: serde_json::map::Iter<'de>,
    value: Option<&'de Value>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = SettingError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, SettingError> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(StrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, SettingError> {
        let value =
            self.value.take().ok_or_else(|| de::Error::custom("a value without its key"))?;
        seed.deserialize(ValueDeserializer(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// An enum variant written as a one-key table: `{ name = value }`.
struct Variant<'de> {
    name: &'de str,
    value: &'de Value,
}

impl<'de> EnumAccess<'de> for Variant<'de> {
    type Error = SettingError;
    type Variant = ValueDeserializer<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, ValueDeserializer<'de>), SettingError> {
        let variant = seed.deserialize(StrDeserializer::new(self.name))?;
        Ok((variant, ValueDeserializer(self.value)))
    }
}

impl<'de> VariantAccess<'de> for ValueDeserializer<'de> {
    type Error = SettingError;

    fn unit_variant(self) -> Result<(), SettingError> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, SettingError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, SettingError> {
        de::Deserializer::deserialize_any(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, SettingError> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

#[cfg(test)]
mod tests;
