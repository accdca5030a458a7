//! The export plugin's settings: the keys of its `[[pipeline]]` table, checked without
//! connecting anywhere (so `ctiproxy check` judges them offline).

use std::path::PathBuf;
use std::time::Duration;

use async_nats::ServerAddr;
use ctiproxy_plugin_api::redact::Redact;
use ctiproxy_plugin_api::ConfigError;
use serde::Deserialize;

use crate::subject::Template;

/// `[[pipeline]] plugin = "export"` and its keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// One server or several of one cluster: `nats://host:4222`, `tls://host:4222`, with
    /// `user:password@` if need be.
    #[serde(default = "default_url")]
    pub url: Urls,
    /// A NATS credentials file (`.creds`: a user JWT and its NKey seed).
    pub credentials: Option<PathBuf>,
    /// User name, with `password`.
    pub user: Option<String>,
    /// Password, with `user`.
    pub password: Option<String>,
    /// Token authentication.
    pub token: Option<String>,
    /// The CA certificates (PEM) that sign the servers' certificates; implies TLS.
    pub tls_ca: Option<PathBuf>,
    /// A client certificate (PEM), with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's key (PEM), with `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Refuse to talk to a server in clear.
    #[serde(default)]
    pub require_tls: bool,
    /// Where each record is published: `{pbx}`, `{proxy}`, `{direction}` and `{class}` are
    /// replaced by the record's values, made safe for a subject.
    #[serde(default = "default_subject")]
    pub subject: String,
    /// The `{pbx}` of every record; default: the CTI server's address of each session.
    pub pbx: Option<String>,
    /// The proxy's identity in records and `{proxy}`; default: the host name.
    pub proxy: Option<String>,
    /// Only `"jsonl"`: the save plugin's capture record plus `proxy` and `pbx`.
    #[serde(default)]
    pub format: Format,
    /// Fields whose values are published as `"***"` (default `["password"]`).
    #[serde(default)]
    pub redact: Redact,
    /// The JetStream stream that stores the subjects.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Create the stream when it does not exist (else it must exist).
    #[serde(default = "yes")]
    pub create_stream: bool,
    /// A created stream's retention: `limits`, `interest` or `workqueue`.
    #[serde(default)]
    pub retention: Retention,
    /// A created stream's storage: `file` or `memory`.
    #[serde(default)]
    pub storage: Storage,
    /// A created stream's replicas (1 to 5).
    #[serde(default = "one")]
    pub replicas: usize,
    /// A created stream keeps records this many seconds (0: no limit).
    #[serde(default)]
    pub max_age: f64,
    /// A created stream keeps this many bytes at most, the oldest going first (0: no limit).
    #[serde(default)]
    pub max_bytes: u64,
    /// Seconds during which the server recognises a record sent twice (`Nats-Msg-Id`).
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window: f64,
    /// Bytes of records the plugin holds while the server is slow or away.
    #[serde(default = "default_buffer_bytes")]
    pub buffer_bytes: u64,
    /// When the buffer is full: `drop_oldest` or `drop_newest`.
    #[serde(default)]
    pub on_full: OnFull,
    /// Seconds to wait for the server's acknowledgement of a record before sending it again.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout: f64,
    /// Seconds the start waits for the server to say whether the settings work.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: f64,
    /// Seconds shutdown waits for the buffer to drain.
    #[serde(default = "default_flush_timeout")]
    pub flush_timeout: f64,
}

/// `url = "nats://…"` or `url = ["nats://a", "nats://b"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Urls {
    /// One server.
    One(String),
    /// Several servers of one cluster.
    Many(Vec<String>),
}

/// The record format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per event, as in the save plugin's capture.
    #[default]
    Jsonl,
}

/// What a full buffer gives up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFull {
    /// The oldest records waiting: the freshest data survives an outage.
    #[default]
    DropOldest,
    /// The record that does not fit: the beginning of the outage survives.
    DropNewest,
}

impl OnFull {
    /// The setting's value, for messages.
    pub fn name(self) -> &'static str {
        match self {
            OnFull::DropOldest => "drop_oldest",
            OnFull::DropNewest => "drop_newest",
        }
    }
}

/// JetStream retention of a created stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retention {
    /// Kept up to `max_age` / `max_bytes`.
    #[default]
    Limits,
    /// Kept while a consumer has not acknowledged it.
    Interest,
    /// Removed once one consumer acknowledged it.
    Workqueue,
}

/// JetStream storage of a created stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// On disk.
    #[default]
    File,
    /// In memory (lost when the server restarts).
    Memory,
}

fn default_url() -> Urls {
    Urls::One("nats://127.0.0.1:4222".into())
}
fn default_subject() -> String {
    "cti.{pbx}.{direction}.{class}".into()
}
fn default_stream() -> String {
    "CTI".into()
}
fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn default_duplicate_window() -> f64 {
    120.0
}
fn default_buffer_bytes() -> u64 {
    16 * 1024 * 1024
}
fn default_ack_timeout() -> f64 {
    5.0
}
fn default_connect_timeout() -> f64 {
    2.0
}
fn default_flush_timeout() -> f64 {
    5.0
}

/// The settings, checked and ready to use.
#[derive(Debug)]
pub struct Settings {
    /// The servers.
    pub servers: Vec<ServerAddr>,
    /// How to authenticate and encrypt.
    pub auth: Auth,
    /// The subject template.
    pub subject: Template,
    /// The fixed `{pbx}`, if any.
    pub pbx: Option<String>,
    /// The proxy's identity.
    pub proxy: String,
    /// Secret fields.
    pub redact: Redact,
    /// The stream.
    pub stream: StreamSpec,
    /// Buffer size in bytes.
    pub buffer_bytes: usize,
    /// What a full buffer drops.
    pub on_full: OnFull,
    /// Wait for one acknowledgement.
    pub ack_timeout: Duration,
    /// Wait at start for the server's verdict.
    pub connect_timeout: Duration,
    /// Wait at shutdown for the buffer to drain.
    pub flush_timeout: Duration,
}

/// Credentials and TLS, as async-nats takes them.
#[derive(Debug, Default)]
pub struct Auth {
    /// The credentials file's text.
    pub credentials: Option<String>,
    /// User and password.
    pub user_password: Option<(String, String)>,
    /// A token.
    pub token: Option<String>,
    /// CA certificates.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// Refuse clear text.
    pub require_tls: bool,
}

/// The stream, and what to do when it is missing.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// Its name.
    pub name: String,
    /// Create it when missing (else require it).
    pub create: bool,
    /// The subjects a created stream listens to (the template with `*` for each placeholder).
    pub subjects: String,
    /// Retention of a created stream.
    pub retention: Retention,
    /// Storage of a created stream.
    pub storage: Storage,
    /// Replicas of a created stream.
    pub replicas: usize,
    /// Age limit (zero: none).
    pub max_age: Duration,
    /// Size limit (zero: none).
    pub max_bytes: u64,
    /// Deduplication window.
    pub duplicate_window: Duration,
}

impl Auth {
    /// No credentials of any kind.
    fn is_none(&self) -> bool {
        self.credentials.is_none() && self.user_password.is_none() && self.token.is_none()
    }
}

impl Config {
    /// Checks every key; reads the credentials file; opens no connection.
    pub fn settings(self) -> Result<Settings, ConfigError> {
        let subject = Template::parse(&self.subject).map_err(|e| ConfigError::at("subject", e))?;
        let stream = StreamSpec {
            name: stream_name(&self.stream)?,
            create: self.create_stream,
            subjects: subject.wildcard(),
            retention: self.retention,
            storage: self.storage,
            replicas: self.check_replicas()?,
            max_age: seconds(self.max_age, "max_age", true)?,
            max_bytes: self.max_bytes,
            duplicate_window: seconds(self.duplicate_window, "duplicate_window", false)?,
        };
        if self.buffer_bytes < 1024 {
            return Err(ConfigError::at("buffer_bytes", "must be at least 1024"));
        }
        let servers = servers(&self.url)?;
        let mut auth = self.auth()?;
        if auth.is_none() {
            // async-nats ignores the `user:password@` of a URL: passed on explicitly.
            auth.user_password = url_login(&servers);
        }
        Ok(Settings {
            servers,
            auth,
            subject,
            pbx: identity(self.pbx.as_ref(), "pbx")?,
            proxy: identity(self.proxy.as_ref(), "proxy")?.unwrap_or_else(host_name),
            redact: self.redact.clone(),
            stream,
            buffer_bytes: usize::try_from(self.buffer_bytes).unwrap_or(usize::MAX),
            on_full: self.on_full,
            ack_timeout: timeout(self.ack_timeout, "ack_timeout", false)?,
            connect_timeout: timeout(self.connect_timeout, "connect_timeout", false)?,
            flush_timeout: timeout(self.flush_timeout, "flush_timeout", true)?,
        })
    }

    fn check_replicas(&self) -> Result<usize, ConfigError> {
        match self.replicas {
            1..=5 => Ok(self.replicas),
            _ => Err(ConfigError::at("replicas", "must be between 1 and 5")),
        }
    }

    fn auth(&self) -> Result<Auth, ConfigError> {
        let user_password = match (&self.user, &self.password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::at("password", "required with user")),
            (None, Some(_)) => return Err(ConfigError::at("user", "required with password")),
        };
        let given = [self.credentials.is_some(), user_password.is_some(), self.token.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(ConfigError::from(
                "set only one way to authenticate: credentials, user and password, or token",
            ));
        }
        let tls_client = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                Some((readable(cert, "tls_cert")?, readable(key, "tls_key")?))
            }
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::at("tls_key", "required with tls_cert")),
            (None, Some(_)) => return Err(ConfigError::at("tls_cert", "required with tls_key")),
        };
        Ok(Auth {
            credentials: self.credentials.as_deref().map(credentials).transpose()?,
            user_password,
            token: self.token.clone(),
            tls_ca: self.tls_ca.as_deref().map(|ca| readable(ca, "tls_ca")).transpose()?,
            tls_client,
            require_tls: self.require_tls,
        })
    }
}

/// Parses every URL the way async-nats will; only the schemes this build speaks.
fn servers(urls: &Urls) -> Result<Vec<ServerAddr>, ConfigError> {
    let list = match urls {
        Urls::One(url) => vec![url.clone()],
        Urls::Many(urls) => urls.clone(),
    };
    if list.is_empty() {
        return Err(ConfigError::at("url", "give at least one server"));
    }
    list.iter()
        .map(|url| {
            let addr: ServerAddr = url
                .parse()
                .map_err(|e| ConfigError::at("url", format!("{url:?} is not a NATS URL: {e}")))?;
            match addr.scheme() {
                "nats" | "tls" => Ok(addr),
                other => Err(ConfigError::at(
                    "url",
                    format!("{url:?}: scheme {other}:// is not supported (use nats:// or tls://)"),
                )),
            }
        })
        .collect()
}

/// The first `user:password@` the URLs hold.
fn url_login(servers: &[ServerAddr]) -> Option<(String, String)> {
    servers.iter().find_map(|server| {
        let user = server.username()?;
        Some((user.to_owned(), server.password().unwrap_or_default().to_owned()))
    })
}

/// Stream names may not hold spaces, dots, wildcards or path separators.
fn stream_name(name: &str) -> Result<String, ConfigError> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || ".*>/\\".contains(c);
    if name.is_empty() || name.chars().any(bad) {
        return Err(ConfigError::at(
            "stream",
            format!("{name:?} is not a stream name (no spaces, '.', '*', '>', '/' or '\\')"),
        ));
    }
    Ok(name.to_owned())
}

/// Reads a credentials file and checks that async-nats accepts it.
fn credentials(path: &std::path::Path) -> Result<String, ConfigError> {
    let fail = |e: &dyn std::fmt::Display| {
        ConfigError::at("credentials", format!("{}: {e}", path.display()))
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
    async_nats::ConnectOptions::with_credentials(&text).map_err(|e| fail(&e))?;
    Ok(text)
}

/// A file that exists and can be opened for reading.
fn readable(path: &std::path::Path, key: &str) -> Result<PathBuf, ConfigError> {
    std::fs::File::open(path)
        .map(|_| path.to_owned())
        .map_err(|e| ConfigError::at(key, format!("{}: {e}", path.display())))
}

/// The longest timeout: an hour is already far more than any wait worth having, and the
/// bound keeps every sum of timeouts and deadline far from overflowing.
const MAX_TIMEOUT: f64 = 3600.0;

/// Reads a timeout in seconds, at most [`MAX_TIMEOUT`]; `key` names it in the error.
fn timeout(value: f64, key: &str, allow_zero: bool) -> Result<Duration, ConfigError> {
    if value > MAX_TIMEOUT {
        return Err(ConfigError::at(key, format!("{value} s is too long (at most {MAX_TIMEOUT})")));
    }
    seconds(value, key, allow_zero)
}

/// Reads a number of seconds; `key` names it in the error.
fn seconds(value: f64, key: &str, allow_zero: bool) -> Result<Duration, ConfigError> {
    let ok = if allow_zero { value >= 0.0 } else { value > 0.0 };
    match Duration::try_from_secs_f64(value) {
        Ok(duration) if ok => Ok(duration),
        _ => Err(ConfigError::at(key, format!("{value} is not a positive number of seconds"))),
    }
}

/// `proxy` and `pbx` go into records and the message id header, which cannot hold line
/// breaks (nor should a name hold any control character).
fn identity(value: Option<&String>, key: &str) -> Result<Option<String>, ConfigError> {
    match value {
        Some(name) if name.is_empty() || name.chars().any(char::is_control) => Err(
            ConfigError::at(key, format!("{name:?} must be non-empty, without control characters")),
        ),
        _ => Ok(value.cloned()),
    }
}

/// The machine's name, or `ctiproxy` when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "ctiproxy".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        toml::from_str(extra).expect("valid TOML")
    }

    fn error(extra: &str) -> String {
        config(extra).settings().expect_err(extra).to_string()
    }

    #[test]
    fn timeouts_beyond_an_hour_are_refused_by_name() {
        for key in ["ack_timeout", "connect_timeout", "flush_timeout"] {
            let message = error(&format!("{key} = 1e19"));
            assert!(message.contains(key) && message.contains("too long"), "{message}");
            assert!(config(&format!("{key} = 3600.0")).settings().is_ok(), "{key}");
        }
    }

    #[test]
    fn line_breaks_in_proxy_or_pbx_are_refused_by_name() {
        for key in ["pbx", "proxy"] {
            let message = error(&format!("{key} = \"edge\\r\\n1\""));
            assert!(message.starts_with(key) && message.contains("control"), "{message}");
        }
        assert!(config("pbx = \"pbx-paris 2\"").settings().is_ok());
    }
}
