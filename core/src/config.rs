//! The TOML configuration: parsed and validated before anything runs, every error located by
//! file, line, column and key.
//!
//! One parse path serves `run`, `check` and the classic commands (which build the same
//! [`Config`] from their flags), so a configuration that `check` accepts is one `run` accepts.
//!
//! Errors quote the file (its line, keys, values); its control characters are shown written out
//! (`\x1b`) so that a stray escape sequence in a configuration cannot drive the terminal.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ctiproxy_plugin_api::visible::{self, Newlines};
use serde::Deserialize;

mod read;
mod relative;

pub use read::MAX_CONFIG_BYTES;

/// Default address the proxy listens on (the documented classic port).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:50030";
/// Default CTI server port.
pub const DEFAULT_SERVER_PORT: u16 = 5003;
/// Default maximum line length: longer lines are forwarded but not analysed.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
/// Largest queue accepted (the channel's limit is far above; this keeps typos from reserving
/// absurd memory).
pub const MAX_QUEUE: usize = 1 << 24;
/// Default number of events between the proxy and the pipeline (an event is one read's lines).
pub const DEFAULT_QUEUE: usize = 8_192;
/// Default bytes the queued events may pin, what they really weigh (lines and bookkeeping).
pub const DEFAULT_QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// Default bytes all sessions together may hold in unfinished lines.
pub const DEFAULT_MAX_PARTIAL_BYTES: usize = 256 * 1024 * 1024;
/// Default seconds shutdown waits for the pipeline to finish analysing what is queued.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: f64 = 5.0;
/// Default seconds each leg's TLS handshake may take.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT_SECS: f64 = 10.0;

/// A whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[proxy]`: where to listen and where to forward.
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// `[plugins]`: where to find plugins.
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// `[[pipeline]]`: the plugin chain, in order.
    #[serde(default)]
    pub pipeline: Vec<toml::Spanned<toml::Table>>,
    /// `[metrics]`: the Prometheus endpoint; none without the section.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    /// Where this configuration came from, for error messages.
    #[serde(skip)]
    pub source: Source,
}

/// What happens when the pipeline falls behind and its queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overflow {
    /// Wait for room: the proxy reads more slowly, nothing is lost.
    #[default]
    Block,
    /// Never slow the traffic: drop the event, count it, report it.
    Drop,
}

/// What the proxy does with TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Relay a STARTTLS switch untouched: the rest of that session is ciphertext, forwarded but
    /// not analysed (said once per session).
    #[default]
    Off,
    /// Relay the STARTTLS offer and answer, then terminate TLS on both legs so the pipeline
    /// sees the decrypted messages.
    Intercept,
    /// A TLS listener (the legacy CTIS port 5013): TLS from the first byte on both legs.
    Always,
}

/// `[proxy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Listen address, `ip:port`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The CTI server, `host` or `host:port` (port 5003 when omitted). Required by `run`.
    #[serde(default)]
    pub server: Option<String>,
    /// Keep serving after a client leaves; sessions may run concurrently.
    #[serde(default, rename = "loop")]
    pub keep_serving: bool,
    /// Events between the proxy and the pipeline; an event carries the lines of one read.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Bytes the queued events may pin; an event waits (block) or is dropped (drop) beyond it.
    #[serde(default = "default_queue_bytes")]
    pub queue_bytes: usize,
    /// What to do when the queue is full.
    #[serde(default)]
    pub overflow: Overflow,
    /// Bytes all sessions together may hold in unfinished lines; beyond, a line is analysed as
    /// oversize (forwarded all the same).
    #[serde(default = "default_max_partial_bytes")]
    pub max_partial_bytes: usize,
    /// Sessions served at once; a client beyond is closed at once (none: no limit).
    #[serde(default)]
    pub max_sessions: Option<usize>,
    /// Seconds without a byte in either direction after which a session is closed (none: never).
    #[serde(default)]
    pub idle_timeout_secs: Option<f64>,
    /// Seconds shutdown waits for the pipeline to analyse what is queued before giving up.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: f64,
    /// Longest line analysed; longer ones are forwarded and reported as oversize.
    #[serde(default = "default_max_line")]
    pub max_line_bytes: usize,
    /// Hand the pipeline one message per TCP read instead of one per line.
    #[serde(default)]
    pub raw: bool,
    /// How long to wait for the server to accept a connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: f64,
    /// STARTTLS interception, a TLS listener, or neither.
    #[serde(default)]
    pub tls: TlsMode,
    /// The certificate chain (PEM) the proxy shows clients; none: a self-signed one made at start.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) the server's certificate must chain to; none: not verified.
    #[serde(default)]
    pub tls_server_ca: Option<PathBuf>,
    /// How long each leg's TLS handshake may take.
    #[serde(default = "default_tls_handshake_timeout")]
    pub tls_handshake_timeout_secs: f64,
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}
fn default_queue() -> usize {
    DEFAULT_QUEUE
}
fn default_queue_bytes() -> usize {
    DEFAULT_QUEUE_BYTES
}
fn default_max_partial_bytes() -> usize {
    DEFAULT_MAX_PARTIAL_BYTES
}
fn default_shutdown_timeout() -> f64 {
    DEFAULT_SHUTDOWN_TIMEOUT_SECS
}
fn default_max_line() -> usize {
    DEFAULT_MAX_LINE_BYTES
}
fn default_connect_timeout() -> f64 {
    10.0
}
fn default_tls_handshake_timeout() -> f64 {
    DEFAULT_TLS_HANDSHAKE_TIMEOUT_SECS
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: default_listen(),
            server: None,
            keep_serving: false,
            queue: default_queue(),
            queue_bytes: default_queue_bytes(),
            overflow: Overflow::default(),
            max_partial_bytes: default_max_partial_bytes(),
            max_sessions: None,
            idle_timeout_secs: None,
            shutdown_timeout_secs: default_shutdown_timeout(),
            max_line_bytes: default_max_line(),
            raw: false,
            connect_timeout_secs: default_connect_timeout(),
            tls: TlsMode::default(),
            tls_cert: None,
            tls_key: None,
            tls_server_ca: None,
            tls_handshake_timeout_secs: default_tls_handshake_timeout(),
        }
    }
}

/// `[plugins]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// Extra directories searched for plugin libraries (relative to the config file).
    #[serde(default)]
    pub path: Vec<PathBuf>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `/metrics` is served, `ip:port` (port 0: any free port, logged). Spanned, because
    /// `listen` is also a key of `[proxy]` and an error must point at this one.
    pub listen: toml::Spanned<String>,
}

/// The text a configuration was read from, kept to locate errors.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// File name as the user gave it (or a label such as `<command line>`).
    pub name: String,
    /// The whole text.
    pub text: String,
}

/// Where in a configuration something is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The source line, for display: control characters and invalid UTF-8 written out.
    pub snippet: String,
}

impl Location {
    /// Locates byte `offset` of `bytes`, the content of file `file` (UTF-8 up to `offset`).
    pub fn in_bytes(file: &str, bytes: &[u8], offset: usize) -> Location {
        let offset = offset.min(bytes.len());
        let line_start = bytes[..offset].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line_end =
            bytes[offset..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| offset + i);
        // A CRLF file's `\r` ends the line; it is not part of what the user wrote on it.
        let line = &bytes[line_start..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Location {
            file: file.to_owned(),
            line: bytes[..line_start].iter().filter(|&&b| b == b'\n').count() + 1,
            column: String::from_utf8_lossy(&bytes[line_start..offset]).chars().count() + 1,
            snippet: visible::bytes(line, Newlines::Escape).into_owned(),
        }
    }
}

impl Source {
    /// Locates a byte offset.
    pub fn locate(&self, offset: usize) -> Location {
        Location::in_bytes(&self.name, self.text.as_bytes(), offset)
    }

    /// Locates the line defining `key` inside a byte range (a `[[pipeline]]` table), falling back
    /// to the range's start.
    pub fn locate_key(&self, range: Range<usize>, key: &str) -> Location {
        let range = range.start.min(self.text.len())..range.end.min(self.text.len());
        let mut offset = range.start;
        for line in self.text[range.clone()].split_inclusive('\n') {
            let trimmed = line.trim_start();
            let name = trimmed.split(['=', '.', ' ', '\t']).next().unwrap_or("").trim_matches('"');
            if !key.is_empty() && name == key && trimmed.contains('=') {
                return self.locate(offset + (line.len() - trimmed.len()));
            }
            offset += line.len();
        }
        self.locate(range.start)
    }
}

impl Source {
    /// Locates `NAME[N].key` inside the N-th `[[pipeline.NAME]]` table that follows the entry
    /// starting in `entry` (a rule of the mi plugin: `rules[1].event`), if there is one.
    fn locate_in_subtable(&self, entry: Range<usize>, key: &str) -> Option<Location> {
        let (table, rest) = key.split_once('[')?;
        let (index, rest) = rest.split_once(']')?;
        let index: usize = index.parse().ok()?;
        let inner = rest.strip_prefix('.').unwrap_or(rest);
        let inner = inner.split(['.', '[']).next().unwrap_or("");
        let header = format!("[[pipeline.{table}]]");
        let mut offset = entry.start.min(self.text.len());
        let mut seen = 0;
        for line in self.text[offset..].split_inclusive('\n') {
            let trimmed = line.trim();
            if trimmed == "[[pipeline]]" && offset > entry.start {
                return None;
            }
            if trimmed == header {
                if seen == index {
                    let start = offset + line.len();
                    let end =
                        self.text[start..].find("\n[").map_or(self.text.len(), |i| start + i + 1);
                    return Some(self.locate_key(start..end, inner));
                }
                seen += 1;
            }
            offset += line.len();
        }
        None
    }
}

/// A configuration error, located.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// Where.
    pub location: Option<Location>,
    /// Which key (dotted path), if known.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys and messages may quote the file's values (`unknown variant `...``).
        let key = if self.key.is_empty() { String::new() } else { format!("{}: ", self.key) };
        let said = visible::text(&format!("{key}{}", self.message)).into_owned();
        match &self.location {
            Some(loc) => write!(
                f,
                "{}:{}:{}: {said}\n{:>5} | {}",
                visible::text(&loc.file),
                loc.line,
                loc.column,
                loc.line,
                loc.snippet
            ),
            None => f.write_str(&said),
        }
    }
}

impl Config {
    /// Reads and parses a configuration file; relative paths in it are resolved against its
    /// directory (see [`relative`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read::read(path)?;
        let mut config = Config::parse(&path.display().to_string(), &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let proxy = &mut config.proxy;
        let tls_files = [&mut proxy.tls_cert, &mut proxy.tls_key, &mut proxy.tls_server_ca];
        for file in config.plugins.path.iter_mut().chain(tls_files.into_iter().flatten()) {
            relative::resolve(base, file);
        }
        for entry in &mut config.pipeline {
            relative::resolve_entry(base, entry.get_mut());
        }
        Ok(config)
    }

    /// Parses configuration text; `name` labels it in errors.
    pub fn parse(name: &str, text: &str) -> Result<Config, ConfigError> {
        let source = Source { name: name.to_owned(), text: text.to_owned() };
        let de = toml::Deserializer::new(text);
        let mut config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let offset = inner.span().map(|s| s.start);
            ConfigError {
                location: offset.map(|at| source.locate(at)),
                key: if key == "." { String::new() } else { key },
                message: reason(inner.message(), text, offset),
            }
        })?;
        config.source = source;
        config.validate()?;
        Ok(config)
    }

    /// An error about `[proxy] key`, located at the key when the file has it.
    pub fn error_at_proxy_key(&self, key: &str, message: String) -> ConfigError {
        let range = 0..self.source.text.len();
        let location = self.source.text.contains(key).then(|| self.source.locate_key(range, key));
        ConfigError { location, key: format!("proxy.{key}"), message }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.proxy;
        if p.listen.parse::<std::net::SocketAddr>().is_err() {
            let msg = format!("{:?} is not an ip:port address", p.listen);
            return Err(self.error_at_proxy_key("listen", msg));
        }
        if p.queue == 0 || p.queue > MAX_QUEUE {
            let msg = format!("must be between 1 and {MAX_QUEUE}");
            return Err(self.error_at_proxy_key("queue", msg));
        }
        if p.max_line_bytes == 0 {
            return Err(self.error_at_proxy_key("max_line_bytes", "must be at least 1".into()));
        }
        if p.queue_bytes < MIN_QUEUE_BYTES || p.queue_bytes > MAX_QUEUE_BYTES {
            let msg = format!("must be between {MIN_QUEUE_BYTES} and {MAX_QUEUE_BYTES}");
            return Err(self.error_at_proxy_key("queue_bytes", msg));
        }
        if p.max_sessions == Some(0) {
            return Err(self.error_at_proxy_key("max_sessions", "must be at least 1".into()));
        }
        let timeouts = [
            ("connect_timeout_secs", Some(p.connect_timeout_secs)),
            ("idle_timeout_secs", p.idle_timeout_secs),
            ("shutdown_timeout_secs", Some(p.shutdown_timeout_secs)),
            ("tls_handshake_timeout_secs", Some(p.tls_handshake_timeout_secs)),
        ];
        for (key, seconds) in timeouts {
            if let Some(seconds) = seconds {
                seconds_setting(seconds).map_err(|m| self.error_at_proxy_key(key, m))?;
            }
        }
        if let Some(server) = &p.server {
            server_address(server).map_err(|m| self.error_at_proxy_key("server", m))?;
        }
        self.validate_tls_keys()?;
        self.validate_metrics()
    }

    fn validate_metrics(&self) -> Result<(), ConfigError> {
        let Some(metrics) = &self.metrics else { return Ok(()) };
        let listen = &metrics.listen;
        if listen.get_ref().parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError {
                location: Some(self.source.locate(listen.span().start)),
                key: "metrics.listen".into(),
                message: format!("{:?} is not an ip:port address", listen.get_ref()),
            });
        }
        Ok(())
    }

    /// The TLS keys that go together: the files themselves are read by [`crate::tls`], at
    /// `check` and at start.
    fn validate_tls_keys(&self) -> Result<(), ConfigError> {
        let p = &self.proxy;
        let files = [
            ("tls_cert", &p.tls_cert),
            ("tls_key", &p.tls_key),
            ("tls_server_ca", &p.tls_server_ca),
        ];
        if p.tls == TlsMode::Off {
            if let Some((key, _)) = files.iter().find(|(_, file)| file.is_some()) {
                let msg = "is only used with tls = \"intercept\" or \"always\" (tls is \"off\")";
                return Err(self.error_at_proxy_key(key, msg.into()));
            }
        }
        match (&p.tls_cert, &p.tls_key) {
            (Some(_), None) => Err(self.error_at_proxy_key(
                "tls_cert",
                "needs tls_key, the certificate's private key".into(),
            )),
            (None, Some(_)) => Err(self.error_at_proxy_key(
                "tls_key",
                "needs tls_cert, the certificate it is the key of".into(),
            )),
            _ => Ok(()),
        }
    }

    /// An error about key `key` of the `index`-th `[[pipeline]]` entry.
    pub fn pipeline_error(&self, index: usize, key: &str, message: String) -> ConfigError {
        let entry = &self.pipeline[index];
        let named = |key: &str| entry.get_ref().get(key).and_then(|v| v.as_str());
        let plugin = named("plugin").or_else(|| named("library")).unwrap_or("?");
        // An error about the whole entry points at the line naming its plugin.
        let first =
            if key.is_empty() { "plugin" } else { key.split(['.', '[']).next().unwrap_or("") };
        let location = Some(
            self.source
                .locate_in_subtable(entry.span(), key)
                .unwrap_or_else(|| self.source.locate_key(entry.span(), first)),
        );
        let key = if key.is_empty() {
            format!("pipeline[{index}] ({plugin})")
        } else {
            format!("pipeline[{index}] ({plugin}).{key}")
        };
        ConfigError { location, key, message }
    }
}

/// Smallest `queue_bytes`: room for one read's lines at least.
pub const MIN_QUEUE_BYTES: usize = 1024 * 1024;
/// Largest `queue_bytes` (the budget counts in 64-byte units of a u32).
pub const MAX_QUEUE_BYTES: usize = 64 * (u32::MAX as usize);

/// A number of seconds from the config: positive and representable.
pub fn seconds_setting(seconds: f64) -> Result<std::time::Duration, String> {
    match std::time::Duration::try_from_secs_f64(seconds) {
        Ok(duration) if seconds > 0.0 => Ok(duration),
        _ => Err("must be a positive number of seconds".into()),
    }
}

/// toml's reason on one line: its parser says "invalid string\nexpected `"`, `'`". For a
/// character it rejects without a word (a control character, even in a comment), the reason
/// is that character.
fn reason(message: &str, text: &str, offset: Option<usize>) -> String {
    let message = message.trim().replace('\n', "; ");
    if !message.is_empty() {
        return message;
    }
    match offset.and_then(|at| text.get(at..)).and_then(|rest| rest.chars().next()) {
        Some(c) if c.is_control() => format!(
            "control character {} is not allowed (TOML allows only tab, even in comments; \
             in a string, write it as \\u{:04x})",
            visible::text(c.encode_utf8(&mut [0; 4])),
            u32::from(c)
        ),
        Some(c) => format!("unexpected {:?}", c),
        None => "unexpected end of file".to_owned(),
    }
}

/// Normalises a server address: `host`, `host:port`, `ip`, `[ipv6]:port`; a bare `host` gets the
/// default port 5003. Catches what would only fail later, at connect time.
pub fn server_address(server: &str) -> Result<String, String> {
    if server.is_empty() || server.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{server:?} is not a host name or address"));
    }
    if let Ok(ip) = server.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, DEFAULT_SERVER_PORT).to_string());
    }
    if server.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(server.to_owned());
    }
    match server.rsplit_once(':') {
        None => Ok(format!("{server}:{DEFAULT_SERVER_PORT}")),
        Some((host, port)) if !host.is_empty() && !host.contains([':', '[', ']']) => {
            port.parse::<u16>()
                .map_err(|_| format!("{port:?} in {server:?} is not a port number"))?;
            Ok(server.to_owned())
        }
        Some(_) => {
            Err(format!("{server:?} is not host[:port] (write an IPv6 address as [addr]:port)"))
        }
    }
}

#[cfg(test)]
mod tests;
