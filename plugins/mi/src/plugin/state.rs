//! What the CTI traffic has taught about the PBX: users, phones (lines), voicemails, agents,
//! queues… per `tipbxid`, learnt from `getlist` messages.
//!
//! `updateconfig` and `updatestatus` carry deltas (only the keys that changed), merged into what
//! is known; `addconfig` makes an object known, `delconfig` forgets it. Ids arrive as strings or
//! integers (`"3"` and `3` are the same voicemail), so they are kept as text. Every session learns
//! into this one state: the server sends the same update to each client, so the first copy
//! changes the state and later copies change nothing (which is what lets a rule fire on a
//! change, once, however many clients watch). When two sessions disagree, the last message
//! delivered wins, key by key.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

/// One object of a list: its configuration and status, as merged so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object {
    config: Map<String, Value>,
    status: Map<String, Value>,
}

impl Object {
    /// The object as templates see it: `{"id": …, "list": …, "config": {…}, "status": {…}}`.
    pub fn to_value(&self, list: &str, id: &str) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), Value::from(id));
        out.insert("list".into(), Value::from(list));
        out.insert("config".into(), Value::Object(self.config.clone()));
        out.insert("status".into(), Value::Object(self.status.clone()));
        Value::Object(out)
    }
}

/// Which object a message was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    /// The PBX (`tipbxid`).
    pub pbx: String,
    /// The list (`listname`).
    pub list: String,
    /// The id (`tid`), as text.
    pub id: String,
}

/// What learning one message did.
#[derive(Debug, Default)]
pub struct Learned {
    /// The object the message updated, if it was about one.
    pub key: Option<ObjectKey>,
    /// That object before the message (as templates see it), when asked for and known.
    pub before: Option<Value>,
}

/// The learnt state.
#[derive(Debug)]
pub struct CtiState {
    lists: HashMap<(String, String), BTreeMap<String, Object>>,
    objects: usize,
    max_objects: usize,
    /// New objects not learnt because `max_objects` was reached.
    pub not_learnt: u64,
}

/// An id as text: `"3"` and `3` are the same object; anything else is no id.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl CtiState {
    /// An empty state remembering at most `max_objects` objects.
    pub fn new(max_objects: usize) -> CtiState {
        CtiState { lists: HashMap::new(), objects: 0, max_objects, not_learnt: 0 }
    }

    /// Learns from one message (anything but a `getlist` teaching something is ignored).
    /// With `snapshot`, the updated object's previous value is returned too.
    pub fn learn(&mut self, message: &Value, default_pbx: &str, snapshot: bool) -> Learned {
        if message.get("class").and_then(Value::as_str) != Some("getlist") {
            return Learned::default();
        }
        let Some(list) = message.get("listname").and_then(Value::as_str) else {
            return Learned::default();
        };
        let pbx = message.get("tipbxid").and_then(Value::as_str).unwrap_or(default_pbx);
        match message.get("function").and_then(Value::as_str) {
            Some("updateconfig") => self.merge(message, pbx, list, "config", snapshot),
            Some("updatestatus") => self.merge(message, pbx, list, "status", snapshot),
            Some("addconfig") => {
                for id in ids(message) {
                    self.entry(pbx, list, &id);
                }
                Learned::default()
            }
            Some("delconfig") => {
                for id in ids(message) {
                    self.forget(pbx, list, &id);
                }
                Learned::default()
            }
            _ => Learned::default(),
        }
    }

    fn merge(
        &mut self,
        message: &Value,
        pbx: &str,
        list: &str,
        part: &str,
        snapshot: bool,
    ) -> Learned {
        let (Some(id), Some(Value::Object(delta))) =
            (message.get("tid").and_then(id_text), message.get(part))
        else {
            return Learned::default();
        };
        let key = ObjectKey { pbx: pbx.into(), list: list.into(), id };
        let before =
            if snapshot { self.get(&key).map(|o| o.to_value(list, &key.id)) } else { None };
        if let Some(object) = self.entry(pbx, list, &key.id) {
            let target = if part == "config" { &mut object.config } else { &mut object.status };
            for (name, value) in delta {
                target.insert(name.clone(), value.clone());
            }
        }
        Learned { key: Some(key), before }
    }

    /// The object, created if new and there is room.
    fn entry(&mut self, pbx: &str, list: &str, id: &str) -> Option<&mut Object> {
        let full = self.objects >= self.max_objects;
        let objects = self.lists.entry((pbx.to_owned(), list.to_owned())).or_default();
        if !objects.contains_key(id) {
            if full {
                self.not_learnt += 1;
                return None;
            }
            self.objects += 1;
            objects.insert(id.to_owned(), Object::default());
        }
        objects.get_mut(id)
    }

    fn forget(&mut self, pbx: &str, list: &str, id: &str) {
        let key = (pbx.to_owned(), list.to_owned());
        if let Some(objects) = self.lists.get_mut(&key) {
            if objects.remove(id).is_some() {
                self.objects -= 1;
            }
        }
    }

    /// A known object.
    pub fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.lists.get(&(key.pbx.clone(), key.list.clone()))?.get(&key.id)
    }

    /// A known object as templates see it.
    pub fn lookup(&self, pbx: &str, list: &str, id: &str) -> Option<Value> {
        let objects = self.lists.get(&(pbx.to_owned(), list.to_owned()))?;
        objects.get(id).map(|object| object.to_value(list, id))
    }

    /// The first object (in id order) whose configuration's `field` equals `value` as text.
    pub fn find(&self, pbx: &str, list: &str, field: &str, value: &str) -> Option<Value> {
        let objects = self.lists.get(&(pbx.to_owned(), list.to_owned()))?;
        objects
            .iter()
            .find(|(_, object)| {
                object.config.get(field).and_then(id_text).is_some_and(|text| text == value)
            })
            .map(|(id, object)| object.to_value(list, id))
    }

    /// How many objects are known.
    pub fn len(&self) -> usize {
        self.objects
    }

    /// True when nothing is known.
    pub fn is_empty(&self) -> bool {
        self.objects == 0
    }
}

fn ids(message: &Value) -> Vec<String> {
    match message.get("list") {
        Some(Value::Array(items)) => items.iter().filter_map(id_text).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(list: &str, tid: Value, config: Value) -> Value {
        json!({"class": "getlist", "function": "updateconfig", "listname": list,
               "tipbxid": "xivo", "tid": tid, "config": config})
    }

    #[test]
    fn deltas_merge_and_ids_match_as_text() {
        let mut state = CtiState::new(100);
        state.learn(&config("phones", json!("8"), json!({"number": "1002"})), "xivo", false);
        state.learn(&config("phones", json!(8), json!({"identity": "SIP/x"})), "xivo", false);
        let phone = state.lookup("xivo", "phones", "8").unwrap();
        assert_eq!(phone["config"], json!({"number": "1002", "identity": "SIP/x"}));
        assert_eq!(state.len(), 1);
    }

    #[test]
    fn snapshots_show_the_previous_value() {
        let mut state = CtiState::new(100);
        let status = |new: Value| {
            json!({"class": "getlist", "function": "updatestatus", "listname": "voicemails",
                   "tid": "3", "status": {"new": new}})
        };
        let first = state.learn(&status(json!("1")), "xivo", true);
        assert_eq!(first.before, None);
        let second = state.learn(&status(json!("2")), "xivo", true);
        assert_eq!(second.before.unwrap()["status"]["new"], json!("1"));
        assert_eq!(second.key.unwrap().pbx, "xivo", "no tipbxid: the default PBX");
    }

    #[test]
    fn pbxs_are_separate_and_delconfig_forgets() {
        let mut state = CtiState::new(100);
        let mut other = config("phones", json!("8"), json!({"number": "2002"}));
        other["tipbxid"] = json!("other");
        state.learn(&config("phones", json!("8"), json!({"number": "1002"})), "xivo", false);
        state.learn(&other, "xivo", false);
        assert_eq!(state.lookup("other", "phones", "8").unwrap()["config"]["number"], "2002");
        assert_eq!(state.lookup("xivo", "phones", "8").unwrap()["config"]["number"], "1002");
        let del = json!({"class": "getlist", "function": "delconfig", "listname": "phones",
                         "tipbxid": "xivo", "list": ["8"]});
        state.learn(&del, "xivo", false);
        assert!(state.lookup("xivo", "phones", "8").is_none());
        assert_eq!(state.len(), 1);
    }

    #[test]
    fn find_compares_as_text_and_the_size_is_bounded() {
        let mut state = CtiState::new(2);
        state.learn(&config("users", json!("4"), json!({"voicemailid": 3})), "xivo", false);
        assert_eq!(state.find("xivo", "users", "voicemailid", "3").unwrap()["id"], "4");
        state.learn(&config("users", json!("5"), json!({})), "xivo", false);
        state.learn(&config("users", json!("6"), json!({})), "xivo", false);
        assert_eq!((state.len(), state.not_learnt), (2, 1));
        assert!(state.lookup("xivo", "users", "6").is_none());
    }
}
