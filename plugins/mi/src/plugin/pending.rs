//! Tells a server's `getlist` answer from a push.
//!
//! The server answers a client's `getlist updateconfig phones tid 8` with a message of the same
//! shape and no `replyid`, exactly like the push it sends when an administrator edits that line.
//! The only difference is that the client asked: so the client's requests are remembered per
//! session, and a server message about the same function, list, PBX and id consumes the oldest
//! such request (an answer) or finds none (a push).

use std::collections::{HashMap, VecDeque};

use ctiproxy_plugin_api::Direction;
use serde_json::Value;

use super::state::id_text;

/// Requests remembered per session; beyond, the oldest is forgotten (its answer will then look
/// like a push, which is the safe side for nothing: so the bound is generous).
pub const MAX_PENDING_PER_SESSION: usize = 16_384;

type Key = (String, String, String, String);

/// The client requests each session still awaits an answer to.
#[derive(Debug, Default)]
pub struct PendingRequests {
    sessions: HashMap<u64, VecDeque<Key>>,
}

impl PendingRequests {
    /// Observes a message; returns whether it is a server push (a server message that answers
    /// no request: a `getlist` update nobody asked for, or any other message without `replyid`).
    pub fn observe(
        &mut self,
        session: u64,
        direction: Direction,
        message: &Value,
        default_pbx: &str,
    ) -> bool {
        let key = request_key(message, default_pbx);
        match direction {
            Direction::ClientToServer => {
                if let Some(key) = key {
                    let queue = self.sessions.entry(session).or_default();
                    if queue.len() >= MAX_PENDING_PER_SESSION {
                        queue.pop_front();
                    }
                    queue.push_back(key);
                }
                false
            }
            Direction::ServerToClient => match key {
                Some(key) => !self.take(session, &key),
                None => is_unsolicited(message),
            },
        }
    }

    fn take(&mut self, session: u64, key: &Key) -> bool {
        let Some(queue) = self.sessions.get_mut(&session) else {
            return false;
        };
        match queue.iter().position(|k| k == key) {
            Some(at) => {
                queue.remove(at);
                true
            }
            None => false,
        }
    }

    /// Forgets a session that ended.
    pub fn end(&mut self, session: u64) {
        self.sessions.remove(&session);
    }
}

/// `getlist` `updateconfig`/`updatestatus` about one object: the shape shared by a request,
/// its answer and a push.
fn request_key(message: &Value, default_pbx: &str) -> Option<Key> {
    let text = |name: &str| message.get(name).and_then(Value::as_str);
    if text("class") != Some("getlist") {
        return None;
    }
    let function = text("function").filter(|f| matches!(*f, "updateconfig" | "updatestatus"))?;
    let id = message.get("tid").and_then(id_text)?;
    let pbx = text("tipbxid").unwrap_or(default_pbx);
    Some((function.into(), text("listname")?.into(), pbx.into(), id))
}

// Other getlist functions: listid answers a request, addconfig/delconfig are always pushed.
fn is_unsolicited(message: &Value) -> bool {
    match message.get("class").and_then(Value::as_str) {
        Some("getlist") => message.get("function").and_then(Value::as_str) != Some("listid"),
        _ => message.get("replyid").is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn phones(tid: Value) -> Value {
        json!({"class": "getlist", "function": "updateconfig", "listname": "phones",
               "tipbxid": "xivo", "tid": tid})
    }

    #[test]
    fn an_answer_consumes_the_request_and_a_repeat_is_a_push() {
        let mut p = PendingRequests::default();
        assert!(!p.observe(1, Direction::ClientToServer, &phones(json!("8")), "xivo"));
        assert!(
            p.observe(2, Direction::ServerToClient, &phones(json!("8")), "xivo"),
            "other session"
        );
        assert!(!p.observe(1, Direction::ServerToClient, &phones(json!(8)), "xivo"), "answer");
        assert!(p.observe(1, Direction::ServerToClient, &phones(json!("8")), "xivo"), "push");
    }

    #[test]
    fn other_messages() {
        let mut p = PendingRequests::default();
        let s = Direction::ServerToClient;
        assert!(!p.observe(1, s, &json!({"class": "keepalive", "replyid": 4}), "xivo"));
        assert!(p.observe(1, s, &json!({"class": "sheet"}), "xivo"));
        let listid = json!({"class": "getlist", "function": "listid", "listname": "phones"});
        assert!(!p.observe(1, s, &listid, "xivo"));
        let del = json!({"class": "getlist", "function": "delconfig", "listname": "phones"});
        assert!(p.observe(1, s, &del, "xivo"));
        p.end(1);
    }
}
