//! The test server's mi_xmlrpc_ng: a `methodCall` parsed the way libxml2 does (line ends
//! normalized, so a raw CR LF reaches the command as LF), typed values only, a first `<struct>`
//! param meaning named params, and replies or faults printed byte for byte like 3.5.9.

use std::time::Duration;

use serde_json::{Map, Value};

use super::engine::{Engine, Failure, Outcome};
use crate::xml_value::{parse_document, Element, XmlValue};

const NOT_CONFORMING: &str = "server error. invalid xml-rpc. not conforming to spec.";

/// The XML reply to a request body, and how long to wait before sending it.
pub(crate) fn answer(engine: &Engine, body: &[u8]) -> (String, Duration) {
    let Ok(root) = parse_document(body, true) else {
        return (fault(32700, "parse error. not well formed"), Duration::ZERO);
    };
    let Some((method, params)) = method_call(&root) else {
        return (fault(-32600, NOT_CONFORMING), Duration::ZERO);
    };
    let run = engine.run(&method, &params);
    let xml = match run.result {
        Ok(outcome) => response(&outcome),
        Err(failure) => fault_for(&failure),
    };
    (xml, run.delay)
}

fn method_call(root: &Element) -> Option<(String, Value)> {
    if root.name != "methodCall" {
        return None;
    }
    let method = root.child("methodName")?.text();
    if method.is_empty() {
        return None;
    }
    let Some(params) = root.child("params") else {
        return Some((method, Value::Null));
    };
    let values = params
        .elements()
        .map(|param| XmlValue::from_element(param.child("value")?).ok())
        .collect::<Option<Vec<_>>>()?;
    let params = match values.as_slice() {
        [XmlValue::Struct(members), ..] => Value::Object(
            members
                .iter()
                .map(|(name, value)| Some((name.clone(), param_json(value)?)))
                .collect::<Option<Map<_, _>>>()?,
        ),
        _ => Value::Array(values.iter().map(param_json).collect::<Option<_>>()?),
    };
    Some((method, params))
}

// Only non-empty strings, integers and arrays of them are accepted.
fn param_json(value: &XmlValue) -> Option<Value> {
    match value {
        XmlValue::Str(text) if !text.is_empty() => Some(Value::from(text.as_str())),
        XmlValue::Int(n) => Some(Value::from(*n)),
        XmlValue::Array(items) => {
            items.iter().map(param_json).collect::<Option<_>>().map(Value::Array)
        }
        _ => None,
    }
}

fn response(outcome: &Outcome) -> String {
    let value = match outcome {
        Outcome::Json(value) => encode(value),
        Outcome::Members(members) => encode_struct(members.iter().map(|(k, v)| (k.as_str(), v))),
    };
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<params><param>\r\n<value>{value}</value></param></params>\r\n</methodResponse>\r\n")
}

fn fault_for(failure: &Failure) -> String {
    match failure.code {
        -32601 => fault(-32601, "server error. requested method not found"),
        -32602 => fault(-32602, "server error. invalid method parameters"),
        -32600 => fault(-32600, NOT_CONFORMING),
        code => fault(code, &failure.message),
    }
}

fn fault(code: i64, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<fault><value>\r\n<struct>\r\n<member>\r\n<name>faultCode</name>\r\n<value><int>{code}</int></value>\r\n</member>\r\n<member>\r\n<name>faultString</name>\r\n<value><string>{}</string></value>\r\n</member>\r\n</struct>\r\n</value>\r\n</fault>\r\n</methodResponse>\r\n",
        escape(message)
    )
}

// libxml2 escapes markup but writes CR raw.
fn escape(text: &str) -> String {
    quick_xml::escape::partial_escape(text).into_owned()
}

fn encode(value: &Value) -> String {
    match value {
        Value::Object(members) => encode_struct(members.iter().map(|(k, v)| (k.as_str(), v))),
        Value::Array(items) => {
            let items: String =
                items.iter().map(|v| format!("<value>{}</value>", encode(v))).collect();
            format!("<array><data>{items}</data></array>")
        }
        Value::String(text) => format!("<string>{}</string>", escape(text)),
        Value::Number(n) if n.is_i64() || n.is_u64() => format!("<int>{n}</int>"),
        Value::Number(n) => format!("<double>{n}</double>"),
        Value::Bool(b) => format!("<boolean>{}</boolean>", u8::from(*b)),
        Value::Null => "<nil/>".to_owned(),
    }
}

fn encode_struct<'a>(members: impl Iterator<Item = (&'a str, &'a Value)>) -> String {
    let members: String = members
        .map(|(name, value)| {
            format!(
                "<member><name>{}</name><value>{}</value></member>",
                escape(name),
                encode(value)
            )
        })
        .collect();
    format!("<struct>{members}</struct>")
}
