//! The MI core of the test server: what OpenSIPS 3.5.9 answers to a JSON-RPC request (the
//! request checks, id echoing, each error shape) and the commands it emulates: `which`,
//! `uptime`, `version`, `ps`, `get_statistics`, `list_statistics`, `log_level`, `t_uac_dlg`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use super::stats;
use super::UacRequest;

/// The 43 commands of the captured server, in its order.
pub(crate) const COMMANDS: &[&str] = &[
    "get_statistics",
    "list_statistics",
    "reset_statistics",
    "reset_all_statistics",
    "uptime",
    "version",
    "pwd",
    "arg",
    "which",
    "ps",
    "kill",
    "log_level",
    "xlog_level",
    "log_level_filter",
    "log_mute_state",
    "shm_check",
    "cache_store",
    "cache_fetch",
    "cache_remove",
    "event_subscribe",
    "events_list",
    "subscribers_list",
    "raise_event",
    "list_tcp_conns",
    "mem_pkg_dump",
    "mem_shm_dump",
    "mem_rpm_dump",
    "reload_routes",
    "sr_get_status",
    "sr_list_status",
    "sr_list_reports",
    "sr_list_identifiers",
    "help",
    "list_blacklists",
    "check_blacklists",
    "check_blacklist",
    "add_blacklist_rule",
    "del_blacklist_rule",
    "t_uac_dlg",
    "t_uac_cancel",
    "t_hash",
    "t_reply",
    "httpd_list_root_path",
];

/// A command's result; `Members` keeps repeated keys, as OpenSIPS prints them.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Json(Value),
    Members(Vec<(String, Value)>),
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Outcome::Json(value) => value.serialize(serializer),
            Outcome::Members(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                members.iter().try_for_each(|(k, v)| map.serialize_entry(k, v))?;
                map.end()
            }
        }
    }
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Failure {
    pub(crate) code: i64,
    pub(crate) message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<String>,
}

impl Failure {
    fn new(code: i64, message: &str, data: Option<&str>) -> Failure {
        Failure { code, message: message.into(), data: data.map(Into::into) }
    }
    fn invalid_request() -> Failure {
        Failure::new(-32600, "Invalid Request", None)
    }
    fn invalid_params(data: &str) -> Failure {
        Failure::new(-32602, "Invalid params", Some(data))
    }
    fn count() -> Failure {
        Failure::invalid_params("Too few or too many parameters")
    }
    fn names() -> Failure {
        Failure::invalid_params("Named parameters do not match")
    }
}

/// What a command run produced, and how long the server takes to answer (a `t_uac_dlg` to a
/// dead phone waits for tm's timer).
pub(crate) struct Run {
    pub(crate) result: Result<Outcome, Failure>,
    pub(crate) delay: Duration,
}

/// What the MI core makes of one request, before a transport prints it.
pub(crate) enum Answer {
    /// The JSON did not parse (datagram: `400 Parse_error`, HTTP: -32700, FIFO: silence).
    ParseError,
    /// A JSON reply, after `delay`.
    Reply { json: String, delay: Duration },
    /// No id: nothing is sent back.
    Notification,
    /// The id cannot be printed back (an object or an array).
    Unprintable,
}

/// The command emulator, shared by all transports.
#[derive(Clone)]
pub(crate) struct Engine {
    pub(crate) uac_requests: Arc<Mutex<Vec<UacRequest>>>,
    pub(crate) uac_delay: Arc<Mutex<Duration>>,
}

impl Engine {
    /// Answers a JSON-RPC request as mi_datagram, mi_http and mi_fifo do.
    pub(crate) fn answer(&self, bytes: &[u8]) -> Answer {
        // Like OpenSIPS, stop at the end of the first value: trailing bytes are ignored.
        let Some(Ok(request)) =
            serde_json::Deserializer::from_slice(bytes).into_iter::<Value>().next()
        else {
            return Answer::ParseError;
        };
        let Value::Object(request) = request else {
            return reply(&Value::Null, Err(Failure::invalid_request()), Duration::ZERO);
        };
        let id = match request.get("id") {
            None => None,
            Some(Value::Object(_) | Value::Array(_)) => return Answer::Unprintable,
            Some(id) => Some(echoed_id(id)),
        };
        let run = match checked(&request) {
            Ok((method, params)) => self.run(method, params),
            Err(failure) => Run { result: Err(failure), delay: Duration::ZERO },
        };
        match id {
            Some(id) => reply(&id, run.result, run.delay),
            None if run.result.as_ref().is_err_and(|f| f.code == -32600) => {
                reply(&Value::Null, run.result, run.delay)
            }
            None => Answer::Notification,
        }
    }

    /// Runs one command; `params` is `Value::Null`, an array or an object.
    pub(crate) fn run(&self, method: &str, params: &Value) -> Run {
        let result = match method {
            "which" => no_params(params).map(|_| Outcome::Json(json!(COMMANDS))),
            "uptime" => no_params(params).map(|_| Outcome::Json(json!({"Now": "Sun Nov 22 21:21:50 2026", "Up since": "Sun Nov 22 21:20:18 2026", "Up time": "92 [sec]"}))),
            "version" => no_params(params).map(|_| Outcome::Json(json!({"Server": "OpenSIPS (3.5.9 (x86_64/linux))"}))),
            "ps" => no_params(params).map(|_| processes()),
            "get_statistics" => statistics(params, false),
            "list_statistics" if is_empty(params) => Ok(list(&["all".to_owned()])),
            "list_statistics" => statistics(params, true),
            "log_level" => log_level(params),
            "t_uac_dlg" => return self.uac_dlg(params),
            _ => Err(Failure::new(-32601, "Method not found", None)),
        };
        Run { result, delay: Duration::ZERO }
    }

    fn uac_dlg(&self, params: &Value) -> Run {
        let now = |result| Run { result, delay: Duration::ZERO };
        let request = match UacRequest::from_params(params) {
            Ok(request) => request,
            Err(failure) => return now(Err(failure)),
        };
        if let Err(failure) = request.check() {
            return now(Err(failure));
        }
        self.uac_requests.lock().unwrap().push(request.clone());
        if request.ruri.starts_with("sip:dead@") {
            let delay = *self.uac_delay.lock().unwrap();
            return Run {
                result: Ok(Outcome::Json(json!({"Status": "408 Request Timeout"}))),
                delay,
            };
        }
        now(Ok(Outcome::Json(json!({"Status": "200 OK", "Message": request.sip_reply()}))))
    }
}

fn reply(id: &Value, result: Result<Outcome, Failure>, delay: Duration) -> Answer {
    let id = serde_json::to_string(id).expect("ids serialize");
    let json = match result {
        Ok(outcome) => format!(
            r#"{{"jsonrpc":"2.0","result":{},"id":{id}}}"#,
            serde_json::to_string(&outcome).expect("results serialize")
        ),
        Err(failure) => format!(
            r#"{{"jsonrpc":"2.0","error":{},"id":{id}}}"#,
            serde_json::to_string(&failure).expect("errors serialize")
        ),
    };
    Answer::Reply { json, delay }
}

// Numbers are echoed as a C int: saturated to int32, fractions truncated.
fn echoed_id(id: &Value) -> Value {
    match id {
        Value::Number(n) => {
            let wide = n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).unwrap_or(i64::MAX);
            Value::from(wide.clamp(i32::MIN.into(), i32::MAX.into()))
        }
        other => other.clone(),
    }
}

fn checked(request: &Map<String, Value>) -> Result<(&str, &Value), Failure> {
    if request.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(Failure::invalid_request());
    }
    let Some(Value::String(method)) = request.get("method") else {
        return Err(Failure::invalid_request());
    };
    match request.get("params") {
        None => Ok((method, &Value::Null)),
        Some(params @ (Value::Array(_) | Value::Object(_))) => Ok((method, params)),
        Some(_) => Err(Failure::invalid_request()),
    }
}

fn is_empty(params: &Value) -> bool {
    match params {
        Value::Array(items) => items.is_empty(),
        Value::Object(members) => members.is_empty(),
        _ => true,
    }
}

fn no_params(params: &Value) -> Result<(), Failure> {
    match params {
        _ if is_empty(params) => Ok(()),
        Value::Object(_) => Err(Failure::names()),
        _ => Err(Failure::count()),
    }
}

/// The one parameter of a single-parameter command, positional or named.
fn single<'a>(params: &'a Value, name: &str) -> Result<&'a Value, Failure> {
    match params {
        Value::Array(items) if items.len() == 1 => Ok(&items[0]),
        Value::Object(members) if members.len() == 1 => {
            members.get(name).ok_or_else(Failure::names)
        }
        Value::Object(members) if !members.is_empty() => Err(Failure::names()),
        _ => Err(Failure::count()),
    }
}

fn statistics(params: &Value, listing: bool) -> Result<Outcome, Failure> {
    let Value::Array(entries) = single(params, "statistics")? else {
        return Err(Failure::invalid_params("Bad type for parameter 'statistics'"));
    };
    let names: Vec<String> = entries.iter().filter_map(|e| e.as_str().map(str::to_owned)).collect();
    if listing {
        return Ok(list(&names));
    }
    Ok(Outcome::Members(stats::select(&names, |stat| json!(stat.2))))
}

fn list(names: &[String]) -> Outcome {
    let kind =
        |incremental: bool| json!(if incremental { "incremental" } else { "non-incremental" });
    Outcome::Members(stats::select(names, |stat| kind(stat.3)))
}

fn log_level(params: &Value) -> Result<Outcome, Failure> {
    if is_empty(params) {
        return Ok(Outcome::Json(json!({"Processes": []})));
    }
    let level = single(params, "level")?;
    let parsed = match level {
        Value::Number(n) => n.as_i64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    };
    let level = parsed.ok_or_else(|| Failure::invalid_params("Bad type for parameter 'level'"))?;
    Ok(Outcome::Json(json!({"New global log level": level})))
}

fn processes() -> Outcome {
    let types =
        ["attendant", "HTTPD 127.0.0.1:8888", "MI Datagram", "MI FIFO", "time_keeper", "timer"];
    let list: Vec<Value> = types
        .iter()
        .enumerate()
        .map(|(id, kind)| json!({"ID": id, "PID": 24405 + id, "Type": kind}))
        .collect();
    Outcome::Json(json!({"Processes": list}))
}

impl UacRequest {
    fn from_params(params: &Value) -> Result<UacRequest, Failure> {
        let members = match params {
            Value::Object(members) => members,
            Value::Array(items) if !items.is_empty() => {
                return Err(Failure::invalid_params("Command only supports named parameters"))
            }
            _ => return Err(Failure::count()),
        };
        const KNOWN: [&str; 6] = ["method", "ruri", "headers", "next_hop", "socket", "body"];
        if members.keys().any(|k| !KNOWN.contains(&k.as_str()))
            || KNOWN[..3].iter().any(|k| !members.contains_key(*k))
        {
            return Err(Failure::names());
        }
        let text = |name: &str| -> Result<Option<String>, Failure> {
            match members.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => {
                    Err(Failure::invalid_params(&format!("Bad type for parameter '{name}'")))
                }
            }
        };
        Ok(UacRequest {
            method: text("method")?.unwrap_or_default(),
            ruri: text("ruri")?.unwrap_or_default(),
            headers: text("headers")?.unwrap_or_default(),
            next_hop: text("next_hop")?,
            socket: text("socket")?,
            body: text("body")?,
        })
    }

    fn check(&self) -> Result<(), Failure> {
        let uri_ok = ["sip:", "sips:", "tel:"]
            .iter()
            .any(|s| self.ruri.len() > s.len() && self.ruri.starts_with(s));
        if !uri_ok {
            return Err(Failure::new(400, "Invalid ruri", None));
        }
        if self.socket.as_deref().is_some_and(|s| s != "udp:127.0.0.1:5060") {
            return Err(Failure::new(404, "Local socket not found", None));
        }
        for (name, compact) in [("To", "t"), ("From", "f")] {
            if self.header(name, compact).is_none() {
                return Err(Failure::new(400, &format!("{name} missing"), None));
            }
        }
        if self.body.is_some() && self.header("Content-Type", "c").is_none() {
            return Err(Failure::new(400, "Content-Type missing", None));
        }
        Ok(())
    }

    /// The value of a header in the `headers` block, by name or compact form, in any case and
    /// with any line end.
    pub fn header(&self, name: &str, compact: &str) -> Option<&str> {
        self.headers.split('\n').find_map(|line| {
            let (n, v) = line.trim_end_matches('\r').split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(compact)).then(|| v.trim())
        })
    }

    fn sip_reply(&self) -> String {
        format!(
            "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK71d6.01ccad83.0\r\nTo: {};tag=ua965759052\r\nFrom: {}\r\nCSeq: 10 {}\r\nCall-ID: 51496a9427edf24a-22303@127.0.0.1\r\nContent-Length: 0\r\n\r\n",
            self.header("To", "t").unwrap_or_default(),
            self.header("From", "f").unwrap_or_default(),
            self.method
        )
    }
}
