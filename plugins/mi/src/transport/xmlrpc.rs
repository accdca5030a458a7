//! mi_xmlrpc_ng: an XML-RPC `methodCall` POSTed as `text/xml`. Positional parameters are one
//! `<param>` each; named parameters travel as ONE `<param>` holding a `<struct>` (the Ruby gem
//! sends a hash's values as positional params instead, so named-only commands like `t_uac_dlg`
//! fail through it). A fault is an MI error; HTTP stays `200` for faults too.

use super::http::HttpTarget;
use super::Deadline;
use crate::error::{Error, MiError};
use crate::request::{Params, Request};
use crate::response::Reply;
use crate::wiretap::Wiretap;
use crate::xml_value::{encode_param, escape_text, parse_document, Element, XmlValue};

/// The mi_xmlrpc_ng transport.
#[derive(Debug)]
pub(crate) struct XmlRpc {
    target: HttpTarget,
}

impl XmlRpc {
    pub(crate) fn new(url: &str) -> Result<XmlRpc, Error> {
        Ok(XmlRpc { target: HttpTarget::parse(url)? })
    }

    pub(crate) fn call(
        &self,
        request: &Request,
        deadline: &Deadline,
        wiretap: &Wiretap,
    ) -> Result<Reply, Error> {
        let body = method_call(&request.method, &request.params)?;
        let reply = self.target.post("text/xml", body.as_bytes(), deadline, wiretap)?;
        method_response(&reply)
    }
}

/// The `methodCall` document for a command, exactly as the captures show it.
pub fn method_call(method: &str, params: &Params) -> Result<String, Error> {
    let mut xml = format!(
        "<?xml version=\"1.0\"?>\n<methodCall><methodName>{}</methodName>",
        escape_text(method)?
    );
    if !params.is_empty() {
        xml.push_str("<params>");
        match params {
            Params::Positional(values) => {
                for value in values {
                    xml.push_str("<param><value>");
                    encode_param(value, &mut xml)?;
                    xml.push_str("</value></param>");
                }
            }
            Params::Named(members) => {
                xml.push_str("<param><value><struct>");
                for (name, value) in members {
                    xml.push_str(&format!("<member><name>{}</name><value>", escape_text(name)?));
                    encode_param(value, &mut xml)?;
                    xml.push_str("</value></member>");
                }
                xml.push_str("</struct></value></param>");
            }
            Params::None => {}
        }
        xml.push_str("</params>");
    }
    xml.push_str("</methodCall>\n");
    Ok(xml)
}

/// Decodes a `methodResponse`: its one `<param>` as the result, or its fault as an MI error.
pub(crate) fn method_response(xml: &[u8]) -> Result<Reply, Error> {
    let malformed = |why: String| Error::malformed(format!("XML-RPC: {why}"), xml);
    let root = parse_document(xml, false).map_err(&malformed)?;
    if root.name != "methodResponse" {
        return Err(malformed(format!("root element is <{}>, not <methodResponse>", root.name)));
    }
    if let Some(fault) = root.child("fault") {
        return Err(Error::Mi(fault_error(fault).map_err(&malformed)?));
    }
    let value = root
        .child("params")
        .and_then(|params| params.child("param"))
        .and_then(|param| param.child("value"))
        .ok_or_else(|| malformed("no <params><param><value>".into()))?;
    let value = XmlValue::from_element(value).map_err(&malformed)?;
    Reply::from_raw_json(value.to_json_text())
}

fn fault_error(fault: &Element) -> Result<MiError, String> {
    let value = fault.child("value").ok_or("<fault> without <value>")?;
    let XmlValue::Struct(members) = XmlValue::from_element(value)? else {
        return Err("fault is not a <struct>".into());
    };
    let member = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let Some(XmlValue::Int(code)) = member("faultCode") else {
        return Err("fault without an integer faultCode".into());
    };
    let message = match member("faultString") {
        Some(XmlValue::Str(text) | XmlValue::Untyped(text)) => text.clone(),
        _ => String::new(),
    };
    Ok(MiError { code: *code, message, data: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn method_calls_match_the_captures() {
        assert_eq!(
            method_call("which", &Params::None).unwrap(),
            "<?xml version=\"1.0\"?>\n<methodCall><methodName>which</methodName></methodCall>\n"
        );
        let named = Params::named([("level", json!(3))]);
        assert!(method_call("log_level", &named)
            .unwrap()
            .contains("<params><param><value><struct><member><name>level</name><value><int>3</int></value></member></struct></value></param></params>"));
    }

    #[test]
    fn faults_become_mi_errors() {
        let xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<fault><value>\r\n<struct>\r\n<member>\r\n<name>faultCode</name>\r\n<value><int>32700</int></value>\r\n</member>\r\n<member>\r\n<name>faultString</name>\r\n<value><string>parse error. not well formed</string></value>\r\n</member>\r\n</struct>\r\n</value>\r\n</fault>\r\n</methodResponse>\r\n";
        let Err(Error::Mi(error)) = method_response(xml) else { panic!() };
        assert_eq!((error.code, error.message.as_str()), (32700, "parse error. not well formed"));
    }

    #[test]
    fn non_xml_is_malformed() {
        assert!(matches!(
            method_response(b"{\"jsonrpc\":\"2.0\"}"),
            Err(Error::MalformedReply { .. })
        ));
        assert!(matches!(
            method_response(b"<methodResponse><params>"),
            Err(Error::MalformedReply { .. })
        ));
    }
}
