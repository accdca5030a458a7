//! Replays a classic ctisave pair as one session. The pair keeps each direction's order but no
//! times and no interleaving, so both are rebuilt:
//!
//! - Order: walk the server messages; before server message S, if a client message not yet
//!   delivered is a request S answers, deliver every client message up to and including it;
//!   at the end, deliver the client messages left. A request thus always precedes its answer,
//!   which is what plugins that tell answers from server pushes rely on (the stats plugin's
//!   latency, MI rules reacting to replies); a server push never pulls client messages forward.
//! - Time: a server message with a numeric `timenow` takes that time; every other message takes
//!   the time of the message before it (the first: the first `timenow` in the server file).
//!
//! Client messages are looked ahead within a bounded window, so memory stays bounded however
//! large the files are; a request further ahead than the window is not seen as answered.

use std::collections::VecDeque;
use std::io::BufRead;

use ctiproxy_plugin_api::Direction;
use serde_json::Value;

use super::classic::{ClassicReader, Item};
use super::error::ReplayError;
use crate::framer::Frame;

/// Client messages looked ahead at most…
pub const LOOKAHEAD_MESSAGES: usize = 4096;
/// …and at most this many bytes of them (at least one message).
pub const LOOKAHEAD_BYTES: usize = 64 * 1024 * 1024;

/// What matching a reply to its request needs of a message. Ids compare as text, so `3` and
/// `"3"` are alike, as the include filter compares them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    class: Option<String>,
    commandid: Option<String>,
    replyid: Option<String>,
    function: Option<String>,
    listname: Option<String>,
    tid: Option<String>,
    tipbxid: Option<String>,
    timenow: Option<f64>,
}

fn text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) | Value::Array(_) | Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl Fields {
    /// The fields of a decoded message (none, when it is not an object).
    pub fn of(value: &Value) -> Fields {
        Fields {
            class: text(value, "class"),
            commandid: text(value, "commandid"),
            replyid: text(value, "replyid"),
            function: text(value, "function"),
            listname: text(value, "listname"),
            tid: text(value, "tid"),
            tipbxid: text(value, "tipbxid"),
            timenow: value.get("timenow").and_then(Value::as_f64),
        }
    }

    /// Whether this server message answers the client message `request`: its `replyid` is the
    /// request's `commandid`; or both are `getlist` with the same `function` and `listname`, the
    /// request's `tid` (if any) and `tipbxid` (if both have one); or, not `getlist`, the same
    /// class as a request that carries a `commandid`.
    pub fn answers(&self, request: &Fields) -> bool {
        if self.replyid.is_some() && self.replyid == request.commandid {
            return true;
        }
        match (self.class.as_deref(), request.class.as_deref()) {
            (Some("getlist"), Some("getlist")) => self.same_list(request),
            (Some(answer), Some(asked)) => answer == asked && request.commandid.is_some(),
            _ => false,
        }
    }

    fn same_list(&self, request: &Fields) -> bool {
        let tipbxid_agrees = match (&self.tipbxid, &request.tipbxid) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.function == request.function
            && self.listname == request.listname
            && (request.tid.is_none() || self.tid == request.tid)
            && tipbxid_agrees
    }

    /// `timenow` in microseconds since the Unix epoch.
    pub fn time_micros(&self) -> Option<i64> {
        self.timenow.filter(|t| t.is_finite()).map(|t| (t * 1e6).round() as i64)
    }
}

/// The first `timenow` of a server file, the session's start time (read ahead separately, so
/// the replay itself holds no more than its window).
pub fn first_time<R: BufRead>(mut server: ClassicReader<R>) -> Result<Option<i64>, ReplayError> {
    while let Some(item) = server.next_item()? {
        if let Some(time) = item.fields.as_ref().and_then(Fields::time_micros) {
            return Ok(Some(time));
        }
    }
    Ok(None)
}

/// The pair's messages in replay order, with their times.
pub struct Pair<R> {
    client: ClassicReader<R>,
    server: ClassicReader<R>,
    window: VecDeque<Item>,
    window_bytes: usize,
    client_done: bool,
    ready: VecDeque<(Direction, Item)>,
    clock: i64,
}

impl<R: BufRead> Pair<R> {
    /// The pair, starting at `start` (microseconds since the Unix epoch).
    pub fn new(client: ClassicReader<R>, server: ClassicReader<R>, start: i64) -> Self {
        Pair {
            client,
            server,
            window: VecDeque::new(),
            window_bytes: 0,
            client_done: false,
            ready: VecDeque::new(),
            clock: start,
        }
    }

    /// The next message to deliver: direction, time, frame.
    pub fn next_message(&mut self) -> Result<Option<(Direction, i64, Frame)>, ReplayError> {
        if self.ready.is_empty() {
            self.schedule()?;
        }
        let Some((direction, item)) = self.ready.pop_front() else { return Ok(None) };
        if direction == Direction::ServerToClient {
            if let Some(time) = item.fields.as_ref().and_then(Fields::time_micros) {
                self.clock = time;
            }
        }
        Ok(Some((direction, self.clock, item.frame)))
    }

    /// Queues the next server message with the requests it answers, or, once the server file
    /// is done, the remaining client messages.
    fn schedule(&mut self) -> Result<(), ReplayError> {
        self.fill_window()?;
        let Some(answer) = self.server.next_item()? else {
            return self.drain_client();
        };
        let asked = answer.fields.as_ref().and_then(|a| {
            self.window.iter().position(|c| c.fields.as_ref().is_some_and(|c| a.answers(c)))
        });
        if let Some(last) = asked {
            for _ in 0..=last {
                let item = self.pop_window();
                self.ready.push_back((Direction::ClientToServer, item));
            }
        }
        self.ready.push_back((Direction::ServerToClient, answer));
        Ok(())
    }

    fn fill_window(&mut self) -> Result<(), ReplayError> {
        while !self.client_done
            && (self.window.is_empty()
                || (self.window.len() < LOOKAHEAD_MESSAGES && self.window_bytes < LOOKAHEAD_BYTES))
        {
            match self.client.next_item()? {
                Some(item) => {
                    self.window_bytes += item.frame.line.len();
                    self.window.push_back(item);
                }
                None => self.client_done = true,
            }
        }
        Ok(())
    }

    fn pop_window(&mut self) -> Item {
        let item = self.window.pop_front().expect("positions come from the window");
        self.window_bytes -= item.frame.line.len();
        item
    }

    /// The server file is done: the client messages left go in order, a window at a time.
    fn drain_client(&mut self) -> Result<(), ReplayError> {
        self.fill_window()?;
        while !self.window.is_empty() {
            let item = self.pop_window();
            self.ready.push_back((Direction::ClientToServer, item));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn fields(value: Value) -> Fields {
        Fields::of(&value)
    }

    #[test]
    fn what_answers_what() {
        let listid = fields(
            json!({"class": "getlist", "function": "listid", "listname": "users", "tipbxid": "xivo", "commandid": 7}),
        );
        let answer = fields(
            json!({"class": "getlist", "function": "listid", "listname": "users", "tipbxid": "xivo"}),
        );
        let other_list =
            fields(json!({"class": "getlist", "function": "listid", "listname": "phones"}));
        assert!(answer.answers(&listid));
        assert!(!other_list.answers(&listid));
        let config = fields(
            json!({"class": "getlist", "function": "updateconfig", "listname": "users", "tid": 3}),
        );
        let config_reply = fields(
            json!({"class": "getlist", "function": "updateconfig", "listname": "users", "tid": "3"}),
        );
        let other_tid = fields(
            json!({"class": "getlist", "function": "updateconfig", "listname": "users", "tid": "4"}),
        );
        assert!(config_reply.answers(&config));
        assert!(!other_tid.answers(&config));
        let login = fields(json!({"class": "login_id", "commandid": 1}));
        assert!(fields(json!({"class": "login_id"})).answers(&login));
        assert!(
            !fields(json!({"class": "login_id"})).answers(&fields(json!({"class": "login_id"})))
        );
        assert!(fields(json!({"class": "x", "replyid": "1"})).answers(&login));
    }

    fn reader(text: &str) -> ClassicReader<&[u8]> {
        ClassicReader::new(text.as_bytes(), Path::new("f"), 1 << 20)
    }

    fn pretty(values: &[Value]) -> String {
        values.iter().map(|v| serde_json::to_string_pretty(v).unwrap() + "\n").collect()
    }

    #[test]
    fn requests_precede_their_answers_and_pushes_pull_nothing() {
        let client = pretty(&[
            json!({"class": "login_id", "commandid": 1}),
            json!({"class": "getlist", "function": "listid", "listname": "users"}),
            json!({"class": "keepalive"}),
        ]);
        let server = pretty(&[
            json!({"class": "starttls", "timenow": 100.5}),
            json!({"class": "login_id", "timenow": 101}),
            json!({"class": "getlist", "function": "updatestatus", "listname": "users"}),
            json!({"class": "getlist", "function": "listid", "listname": "users", "timenow": 102}),
        ]);
        let start = first_time(reader(&server)).unwrap().unwrap();
        let mut pair = Pair::new(reader(&client), reader(&server), start);
        let mut order = Vec::new();
        while let Some((direction, ts, frame)) = pair.next_message().unwrap() {
            let message = serde_json::from_slice::<Value>(&frame.line).unwrap();
            let name = format!("{}{}", message["class"], message["function"]);
            order.push((direction == Direction::ClientToServer, ts, name));
        }
        let expected = [
            (false, 100_500_000, r#""starttls"null"#),
            (true, 100_500_000, r#""login_id"null"#),
            (false, 101_000_000, r#""login_id"null"#),
            (false, 101_000_000, r#""getlist""updatestatus""#),
            (true, 101_000_000, r#""getlist""listid""#),
            (false, 102_000_000, r#""getlist""listid""#),
            (true, 102_000_000, r#""keepalive"null"#),
        ];
        let expected: Vec<_> = expected.iter().map(|(c, t, s)| (*c, *t, s.to_string())).collect();
        assert_eq!(order, expected);
    }
}
