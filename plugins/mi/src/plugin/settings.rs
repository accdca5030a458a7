//! The `mi` plugin's settings, as written in its `[[pipeline]]` entry: where OpenSIPS's MI is,
//! how commands leave (workers, queue, rate, deadlines), the user's `vars`, and the rules.
//!
//! Serde reads the shape; [`Settings::endpoint`] and the rule compiler check what serde cannot
//! (exactly one transport, positive durations), each error naming its key so the host can point
//! at the file and line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ctiproxy_plugin_api::ConfigError;
use serde::Deserialize;
use serde_json::Value;

use crate::transport::{fifo::DEFAULT_REPLY_DIR, Endpoint};

/// Commands waiting for a worker, by default.
pub const DEFAULT_QUEUE: usize = 1024;
/// Commands in flight at once, by default: a phone that never answers holds one worker for
/// about 30 s, so several are needed for the others to go on.
pub const DEFAULT_IN_FLIGHT: usize = 8;
/// How long shutdown waits for queued and in-flight commands, by default.
pub const DEFAULT_SHUTDOWN_SECS: f64 = 10.0;
/// CTI objects remembered across every list and PBX, by default.
pub const DEFAULT_MAX_OBJECTS: usize = 200_000;

/// The `[[pipeline]]` table of `plugin = "mi"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// mi_datagram at HOST:PORT.
    pub datagram: Option<String>,
    /// mi_http JSON-RPC URL.
    pub http: Option<String>,
    /// mi_xmlrpc_ng URL.
    pub xmlrpc: Option<String>,
    /// mi_fifo: the FIFO OpenSIPS reads.
    pub fifo: Option<PathBuf>,
    /// mi_fifo: the server's reply_dir.
    pub reply_dir: Option<PathBuf>,
    /// Seconds to wait for each MI reply (t_uac_dlg: at least 35 unless `uac_dlg_timeout`).
    pub timeout: Option<f64>,
    /// Seconds to wait for a t_uac_dlg reply.
    pub uac_dlg_timeout: Option<f64>,
    /// Print the commands instead of sending them.
    #[serde(default)]
    pub dry_run: bool,
    /// Commands waiting for a worker; beyond, new commands are refused.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Commands in flight at once (worker threads).
    #[serde(default = "default_in_flight")]
    pub in_flight: usize,
    /// Commands per second, all rules together (a burst of that many is allowed).
    pub rate_limit: Option<f64>,
    /// Seconds shutdown waits for queued and in-flight commands.
    #[serde(default = "default_shutdown")]
    pub shutdown_timeout: f64,
    /// CTI objects remembered (users, phones, voicemails…); new ones beyond are not learnt.
    #[serde(default = "default_max_objects")]
    pub max_objects: usize,
    /// The PBX name for messages without a `tipbxid`.
    #[serde(default = "default_pbx")]
    pub default_pbx: String,
    /// Values templates read as `vars.NAME` (domain, next hop…).
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<RuleSettings>,
}

fn default_queue() -> usize {
    DEFAULT_QUEUE
}
fn default_in_flight() -> usize {
    DEFAULT_IN_FLIGHT
}
fn default_shutdown() -> f64 {
    DEFAULT_SHUTDOWN_SECS
}
fn default_max_objects() -> usize {
    DEFAULT_MAX_OBJECTS
}
fn default_pbx() -> String {
    "xivo".into()
}

/// One `[[pipeline.rules]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// Names the rule in logs, counters and the report.
    pub name: String,
    /// Field conditions, as in include/exclude (all of a table's keys must hold here).
    #[serde(rename = "match")]
    pub conditions: Option<Value>,
    /// `client`, `server` or `any` (the default).
    #[serde(default)]
    pub direction: DirectionFilter,
    /// An expression that must be true for the rule to fire.
    pub when: Option<String>,
    /// An expression giving a list: one command per item, the item as `item`.
    pub each: Option<String>,
    /// What to send.
    pub action: ActionKind,
    /// Seconds during which the same rule does not fire again for the same target.
    #[serde(default)]
    pub cooldown: f64,
    /// event_notify, mwi_update: the phone's URI.
    pub uri: Option<String>,
    /// event_notify: a vendor event name or a literal Event value.
    pub event: Option<String>,
    /// mwi_update: the voicemail account (Message-Account).
    pub account: Option<String>,
    /// mwi_update: counts.
    pub new: Option<String>,
    /// mwi_update: old messages (default 0).
    pub old: Option<String>,
    /// mwi_update: urgent new messages (default 0).
    pub urgent_new: Option<String>,
    /// mwi_update: urgent old messages (default 0).
    pub urgent_old: Option<String>,
    /// uac_dlg: the SIP method.
    pub method: Option<String>,
    /// uac_dlg: the request URI.
    pub ruri: Option<String>,
    /// event_notify, uac_dlg: `Name: value` headers.
    #[serde(default)]
    pub headers: Vec<String>,
    /// uac_dlg: the body (needs a Content-Type header).
    pub body: Option<String>,
    /// t_uac_dlg actions: the outbound proxy.
    pub next_hop: Option<String>,
    /// t_uac_dlg actions: the local socket.
    pub socket: Option<String>,
    /// command: the MI command name.
    pub command: Option<String>,
    /// command: positional (array) or named (table) parameters; strings are templates.
    pub params: Option<Value>,
}

/// Which direction a rule looks at.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectionFilter {
    /// Both.
    #[default]
    Any,
    /// Client → server.
    Client,
    /// Server → client.
    Server,
}

/// The command a rule sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// A NOTIFY with a vendor or literal event (re-sync, reboot).
    EventNotify,
    /// A message-summary NOTIFY (voicemail lamp).
    MwiUpdate,
    /// Any SIP request through t_uac_dlg.
    UacDlg,
    /// Any MI command.
    Command,
}

/// Reads a number of seconds; `key` names it in the error.
pub fn seconds(value: f64, key: &str, allow_zero: bool) -> Result<Duration, ConfigError> {
    let ok = if allow_zero { value >= 0.0 } else { value > 0.0 };
    match Duration::try_from_secs_f64(value) {
        Ok(duration) if ok => Ok(duration),
        _ => Err(ConfigError::at(key, format!("{value} is not a positive number of seconds"))),
    }
}

impl Settings {
    /// The one transport configured.
    pub fn endpoint(&self) -> Result<Endpoint, ConfigError> {
        let given = [
            self.datagram.as_ref().map(|a| Endpoint::Datagram(a.clone())),
            self.http.as_ref().map(|u| Endpoint::Http(u.clone())),
            self.xmlrpc.as_ref().map(|u| Endpoint::XmlRpc(u.clone())),
            self.fifo.as_ref().map(|path| Endpoint::Fifo {
                path: path.clone(),
                reply_dir: self.reply_dir.clone().unwrap_or_else(|| DEFAULT_REPLY_DIR.into()),
            }),
        ];
        let mut given = given.into_iter().flatten();
        let endpoint = given.next().ok_or_else(|| {
            ConfigError::from("set one MI transport: datagram, http, xmlrpc or fifo")
        })?;
        if given.next().is_some() {
            return Err(ConfigError::from(
                "set only one MI transport among datagram, http, xmlrpc and fifo",
            ));
        }
        if self.reply_dir.is_some() && self.fifo.is_none() {
            return Err(ConfigError::at("reply_dir", "only applies with fifo"));
        }
        Ok(endpoint)
    }

    /// Checks the numbers serde accepted.
    pub fn check_limits(&self) -> Result<(), ConfigError> {
        if self.queue == 0 {
            return Err(ConfigError::at("queue", "must be at least 1"));
        }
        if !(1..=256).contains(&self.in_flight) {
            return Err(ConfigError::at("in_flight", "must be between 1 and 256"));
        }
        if let Some(rate) = self.rate_limit {
            if !(rate > 0.0 && rate.is_finite()) {
                return Err(ConfigError::at("rate_limit", "must be a positive number per second"));
            }
        }
        seconds(self.shutdown_timeout, "shutdown_timeout", true)?;
        if self.rules.is_empty() {
            return Err(ConfigError::at("rules", "add at least one [[pipeline.rules]]"));
        }
        Ok(())
    }
}
