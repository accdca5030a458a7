//! XML-RPC values as mi_xmlrpc_ng writes and reads them: a small element tree parsed with
//! quick-xml, the `<value>` model (typed or untyped, struct members in order, duplicates kept),
//! and the escaping OpenSIPS needs (CR as `&#13;`, or libxml2 turns CR LF into LF).

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::depth::{too_deep, MAX_XML_DEPTH};
use crate::error::Error;

/// One XML element with its child elements and text, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) children: Vec<Node>,
}

/// A child of an [`Element`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    /// The child elements, skipping text (the whitespace between structural tags).
    pub(crate) fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|node| match node {
            Node::Element(element) => Some(element),
            Node::Text(_) => None,
        })
    }

    /// The first child element named `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// All the text directly inside this element, entities resolved.
    pub(crate) fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|node| match node {
                Node::Text(text) => Some(text.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }
}

/// Parses a document into its root element. `normalize_line_ends` applies XML's end-of-line
/// rule (CR LF and lone CR become LF before entities are resolved), as libxml2 does inside
/// OpenSIPS; the client leaves it off so strings keep the CR LF that OpenSIPS writes raw.
///
/// Elements nested deeper than [`MAX_XML_DEPTH`] are refused while parsing, so the recursive
/// walks of the tree ([`XmlValue::from_element`], serializing, dropping) stay within the stack.
pub(crate) fn parse_document(xml: &[u8], normalize_line_ends: bool) -> Result<Element, String> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(too_deep(MAX_XML_DEPTH));
                }
                stack.push(Element {
                    name: String::from_utf8_lossy(start.name().as_ref()).into_owned(),
                    children: Vec::new(),
                })
            }
            Event::Empty(empty) => {
                let element = Element {
                    name: String::from_utf8_lossy(empty.name().as_ref()).into_owned(),
                    children: Vec::new(),
                };
                if let Some(done) = attach(&mut stack, Node::Element(element)) {
                    return Ok(done);
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or("unbalanced end tag")?;
                if let Some(done) = attach(&mut stack, Node::Element(element)) {
                    return Ok(done);
                }
            }
            Event::Text(text) if !stack.is_empty() => {
                let raw = std::str::from_utf8(&text).map_err(|e| e.to_string())?;
                let raw = if normalize_line_ends {
                    Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
                } else {
                    Cow::Borrowed(raw)
                };
                let unescaped = quick_xml::escape::unescape(&raw).map_err(|e| e.to_string())?;
                attach(&mut stack, Node::Text(unescaped.into_owned()));
            }
            Event::CData(data) if !stack.is_empty() => {
                let text = String::from_utf8_lossy(&data).into_owned();
                attach(&mut stack, Node::Text(text));
            }
            Event::Eof => return Err("document ends before its root element is closed".into()),
            _ => {}
        }
    }
}

// Adds a node to the open element; returns the root once it is complete.
fn attach(stack: &mut [Element], node: Node) -> Option<Element> {
    match (stack.last_mut(), node) {
        (Some(parent), node) => {
            parent.children.push(node);
            None
        }
        (None, Node::Element(root)) => Some(root),
        (None, Node::Text(_)) => None,
    }
}

/// An XML-RPC `<value>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum XmlValue {
    /// `<string>`, or a base64/dateTime kept as text.
    Str(String),
    /// `<value>text</value>` without a type: a string by the spec, refused by mi_xmlrpc_ng.
    Untyped(String),
    Int(i64),
    Bool(bool),
    Double(f64),
    Nil,
    Array(Vec<XmlValue>),
    /// Members in order; names may repeat.
    Struct(Vec<(String, XmlValue)>),
}

impl XmlValue {
    /// Reads a `<value>` element.
    pub(crate) fn from_element(value: &Element) -> Result<XmlValue, String> {
        let Some(typed) = value.elements().next() else {
            return Ok(XmlValue::Untyped(value.text()));
        };
        let text = typed.text();
        Ok(match typed.name.as_str() {
            "string" | "base64" | "dateTime.iso8601" => XmlValue::Str(text),
            "int" | "i4" | "i8" => {
                XmlValue::Int(text.trim().parse().map_err(|_| format!("bad integer {text:?}"))?)
            }
            "boolean" => XmlValue::Bool(text.trim() == "1"),
            "double" => {
                XmlValue::Double(text.trim().parse().map_err(|_| format!("bad double {text:?}"))?)
            }
            "nil" => XmlValue::Nil,
            "array" => XmlValue::Array(array_items(typed)?),
            "struct" => XmlValue::Struct(struct_members(typed)?),
            other => return Err(format!("unknown value type <{other}>")),
        })
    }

    /// The JSON text of this value, struct members in order and duplicates kept. Serializing
    /// cannot fail: names are strings, non-finite doubles become `null`.
    pub(crate) fn to_json_text(&self) -> String {
        serde_json::to_string(self).expect("XML-RPC values always serialize")
    }
}

fn array_items(array: &Element) -> Result<Vec<XmlValue>, String> {
    let data = array.child("data").ok_or("<array> without <data>")?;
    data.elements().map(XmlValue::from_element).collect()
}

fn struct_members(structure: &Element) -> Result<Vec<(String, XmlValue)>, String> {
    structure
        .elements()
        .map(|member| {
            let name = member.child("name").ok_or("<member> without <name>")?.text();
            let value = member.child("value").ok_or("<member> without <value>")?;
            Ok((name, XmlValue::from_element(value)?))
        })
        .collect()
}

impl Serialize for XmlValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            XmlValue::Str(text) | XmlValue::Untyped(text) => serializer.serialize_str(text),
            XmlValue::Int(n) => serializer.serialize_i64(*n),
            XmlValue::Bool(b) => serializer.serialize_bool(*b),
            XmlValue::Double(d) => serializer.serialize_f64(*d),
            XmlValue::Nil => serializer.serialize_unit(),
            XmlValue::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                items.iter().try_for_each(|item| seq.serialize_element(item))?;
                seq.end()
            }
            XmlValue::Struct(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                members.iter().try_for_each(|(name, value)| map.serialize_entry(name, value))?;
                map.end()
            }
        }
    }
}

/// Escapes text for element content: `& < >`, and CR as `&#13;` because a raw CR LF reaches
/// OpenSIPS as a bare LF (its XML parser normalizes line ends), breaking SIP headers. Characters
/// XML 1.0 cannot carry at all (other C0 controls) are refused.
pub(crate) fn escape_text(text: &str) -> Result<String, Error> {
    if let Some(bad) = text.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(Error::InvalidInput(format!(
            "XML-RPC cannot carry the control character {bad:?}"
        )));
    }
    Ok(quick_xml::escape::partial_escape(text).replace('\r', "&#13;"))
}

/// Writes a JSON parameter value as a typed `<value>` child: mi_xmlrpc_ng accepts only
/// non-empty `<string>`s, `<int>`s and `<array>`s of them (anything else is fault -32600).
pub(crate) fn encode_param(value: &Value, out: &mut String) -> Result<(), Error> {
    match value {
        Value::String(text) if !text.is_empty() => {
            out.push_str("<string>");
            out.push_str(&escape_text(text)?);
            out.push_str("</string>");
        }
        Value::Number(number) => {
            let int = number.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| {
                Error::InvalidInput(format!("XML-RPC integers are 32-bit; {number} cannot be sent"))
            })?;
            out.push_str(&format!("<int>{int}</int>"));
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                out.push_str("<value>");
                encode_param(item, out)?;
                out.push_str("</value>");
            }
            out.push_str("</data></array>");
        }
        other => {
            return Err(Error::InvalidInput(format!(
                "mi_xmlrpc_ng accepts only non-empty strings, integers and arrays as parameters, not {other}"
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cr_becomes_a_character_reference() {
        assert_eq!(escape_text("To: <sip:a@b>\r\n").unwrap(), "To: &lt;sip:a@b&gt;&#13;\n");
        assert!(escape_text("a\u{1}b").is_err());
    }

    #[test]
    fn params_are_typed() {
        let mut out = String::new();
        encode_param(&json!(["a", 3]), &mut out).unwrap();
        assert_eq!(out, "<array><data><value><string>a</string></value><value><int>3</int></value></data></array>");
        for bad in
            [json!(""), json!(true), json!(1.5), json!(null), json!({"a": 1}), json!(1u64 << 40)]
        {
            assert!(encode_param(&bad, &mut String::new()).is_err(), "{bad}");
        }
    }

    fn nested_elements(levels: usize) -> String {
        format!("{}{}", "<a>".repeat(levels), "</a>".repeat(levels))
    }

    #[test]
    fn nesting_is_bounded_while_parsing() {
        assert!(parse_document(nested_elements(MAX_XML_DEPTH).as_bytes(), false).is_ok());
        let deep = parse_document(nested_elements(MAX_XML_DEPTH + 1).as_bytes(), false);
        assert_eq!(deep, Err(too_deep(MAX_XML_DEPTH)));
        let unclosed = "<a>".repeat(100_000);
        assert_eq!(parse_document(unclosed.as_bytes(), false), Err(too_deep(MAX_XML_DEPTH)));
    }

    #[test]
    fn values_keep_duplicate_members_and_raw_cr() {
        let xml = b"<value><struct><member><name>a</name><value><int>1</int></value></member><member><name>a</name><value><string>x\r\ny &amp;&#13;</string></value></member></struct></value>";
        let root = parse_document(xml, false).unwrap();
        let value = XmlValue::from_element(&root).unwrap();
        assert_eq!(value.to_json_text(), r#"{"a":1,"a":"x\r\ny &\r"}"#);
        let normalized = XmlValue::from_element(&parse_document(xml, true).unwrap()).unwrap();
        assert_eq!(normalized.to_json_text(), r#"{"a":1,"a":"x\ny &\r"}"#);
    }
}
