//! The classic commands `ctispy`, `ctisave` and `ctistat`, as users of the original Python tools
//! know them, built on the plugin pipeline.
//!
//! Each command ([`spy`], [`save`], [`stat`]) only says which `[[pipeline]]` entries its flags
//! stand for. Everything else is shared here: the options every command has ([`CommonArgs`]),
//! the filter options of `ctispy` and `ctisave` ([`FilterArgs`]), and [`run`], which turns the
//! flags into the TOML text a configuration file would hold, parses it with [`Config::parse`]
//! (so the command line is validated exactly like a file) and runs it through [`app`].
//!
//! Every command sets `infer_long_args`: the originals parsed with argparse, which takes any
//! unambiguous prefix of a long option (`--pretty`, `--no-c`, `--incl`), and scripts use them.

pub mod save;
pub mod spy;
pub mod stat;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use clap::builder::NonEmptyStringValueParser;
use clap::{ArgAction, Args, Parser};
use serde::Serialize;

use crate::app::{self, AppError};
use crate::config::{Config, ConfigError, DEFAULT_SERVER_PORT};
use crate::host::ProxyHost;
use crate::logging;

/// What configuration errors name as their file: the generated TOML came from the flags.
pub const SOURCE_NAME: &str = "<command line>";

/// Where the classic commands listen by default: the port the published documentation gives.
pub const DEFAULT_LISTEN_PORT: u16 = 50030;

/// The options every classic command has.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// The CTI server to forward to (host name or IP address), e.g. xivo.example.com.
    #[arg(value_name = "HOST", value_parser = NonEmptyStringValueParser::new())]
    pub host: String,
    /// The CTI server's port.
    #[arg(long, value_name = "P", default_value_t = DEFAULT_SERVER_PORT)]
    pub port: u16,
    /// The port to listen on for the CTI client (point the client at it). 0 lets the system
    /// pick one (run with -v to see which).
    #[arg(long, value_name = "P", default_value_t = DEFAULT_LISTEN_PORT)]
    pub listen_port: u16,
    /// The address to listen on, e.g. 127.0.0.1 to accept local clients only.
    #[arg(long, value_name = "A", default_value = "0.0.0.0")]
    pub listen_addr: IpAddr,
    /// Keep serving after the client leaves; several clients may be connected at once.
    /// Stop with Ctrl-C: files are flushed and statistics printed first.
    #[arg(long = "loop")]
    pub keep_serving: bool,
    /// Intercept STARTTLS: when the client accepts the server's offer, terminate TLS on both
    /// legs (the client is shown a self-signed certificate, its fingerprint logged with -v) so
    /// the encrypted part of the session is analysed too.
    #[arg(long)]
    pub tls: bool,
    /// More diagnostics on stderr (-v: listening address and sessions, -vv: debug).
    /// RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

impl CommonArgs {
    /// `[proxy] server`: `HOST:P`, with brackets around an IPv6 address.
    pub fn server(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, self.port).to_string(),
            Err(_) => format!("{}:{}", self.host, self.port),
        }
    }

    /// `[proxy] listen`.
    pub fn listen(&self) -> String {
        SocketAddr::new(self.listen_addr, self.listen_port).to_string()
    }
}

/// The message filters of `ctispy` and `ctisave`, applied in this order: strip, include, exclude.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Remove field F from every message (repeatable). F is a top-level name or a dotted
    /// path into nested objects: -s timenow -s status.new
    #[arg(short, long, value_name = "F", value_parser = NonEmptyStringValueParser::new())]
    pub strip: Vec<String>,
    /// Keep only the messages whose field K has the value V (repeatable: a message is kept
    /// when any of them matches). K may be a dotted path; V compares as text, so tid=3 matches
    /// both "3" and 3. Lines that are not JSON are dropped.
    #[arg(short, long, value_name = "K=V")]
    pub include: Vec<String>,
    /// Drop the messages whose field K has the value V (repeatable: a message is dropped when
    /// any of them matches). Same rules as --include; lines that are not JSON are kept.
    #[arg(short, long, value_name = "K=V")]
    pub exclude: Vec<String>,
}

impl FilterArgs {
    /// True when no filter was given.
    pub fn is_empty(&self) -> bool {
        self.strip.is_empty() && self.include.is_empty() && self.exclude.is_empty()
    }

    /// The `strip`, `include` and `exclude` entries for the filters given, in that order.
    pub fn entries(&self) -> Vec<toml::Table> {
        [
            ("strip", "fields", &self.strip),
            ("include", "match", &self.include),
            ("exclude", "match", &self.exclude),
        ]
        .into_iter()
        .filter(|(_, _, values)| !values.is_empty())
        .map(|(plugin, key, values)| entry(plugin, [(key, toml::Value::from(values.clone()))]))
        .collect()
    }

    /// The entries for a command whose printer leaves fields out itself (the spy's `strip`),
    /// and the fields it should leave out. Stripping after include/exclude instead of before
    /// changes nothing they decide when no key they read lies in or around a stripped field,
    /// and a printer that leaves a field out shows what strip would have left: the same output
    /// without rewriting and indexing each message again, or at all for those filtered out.
    /// Otherwise the plain [`FilterArgs::entries`], and no fields.
    pub fn entries_printer_strips(&self) -> (Vec<toml::Table>, Vec<String>) {
        let keys = self.include.iter().chain(&self.exclude).map(|m| match m.split_once('=') {
            Some((key, _)) => key,
            None => m.as_str(),
        });
        // Joined with dots, a field's path in the message is its name, whether it names a
        // nested path or a key with dots in it: nodes inside one another have names that
        // start with one another.
        let overlap = keys.into_iter().any(|key| {
            self.strip.iter().any(|f| f.starts_with(key) || key.starts_with(f.as_str()))
        });
        if overlap || self.strip.is_empty() {
            return (self.entries(), Vec::new());
        }
        let filters = FilterArgs { strip: Vec::new(), ..self.clone() };
        (filters.entries(), self.strip.clone())
    }
}

/// One `[[pipeline]]` entry: `plugin = NAME` and its settings.
pub fn entry<'a>(
    plugin: &str,
    settings: impl IntoIterator<Item = (&'a str, toml::Value)>,
) -> toml::Table {
    let mut table = toml::Table::new();
    table.insert("plugin".into(), plugin.into());
    table.extend(settings.into_iter().map(|(key, value)| (key.to_owned(), value)));
    table
}

/// A classic command: its name, its options, and the pipeline they stand for.
pub trait ClassicCommand: Parser {
    /// The command's name, for messages.
    const NAME: &'static str;

    /// The options every command has.
    fn common(&self) -> &CommonArgs;

    /// The `[[pipeline]]` entries, in order.
    fn pipeline(&self) -> Vec<toml::Table>;

    /// Whether the pipeline gets one message per TCP read instead of one per line.
    fn raw(&self) -> bool {
        false
    }

    /// Options that were given but have no effect, said on stderr rather than ignored silently.
    fn warnings(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// Why a classic command could not run.
#[derive(Debug, thiserror::Error)]
pub enum ClassicError {
    /// The options do not make a valid configuration (e.g. `--include` without `=`).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The generated configuration cannot be written as TOML.
    #[error("cannot express the options as a configuration: {0}")]
    Toml(#[from] toml::ser::Error),
    /// Building the pipeline or running the proxy failed.
    #[error("{0}")]
    App(#[from] AppError),
}

/// The whole generated configuration file.
#[derive(Serialize)]
struct Document {
    proxy: toml::Table,
    pipeline: Vec<toml::Table>,
}

/// The TOML text of the configuration file the options stand for.
pub fn config_text<C: ClassicCommand>(command: &C) -> Result<String, ClassicError> {
    let common = command.common();
    let tls = if common.tls { "intercept" } else { "off" };
    let proxy = toml::Table::from_iter([
        ("listen".to_owned(), common.listen().into()),
        ("server".to_owned(), common.server().into()),
        ("loop".to_owned(), common.keep_serving.into()),
        ("raw".to_owned(), command.raw().into()),
        ("tls".to_owned(), tls.into()),
    ]);
    // Serialized, not formatted: host names, paths and filter values may hold quotes,
    // backslashes or newlines, which only a TOML writer escapes correctly.
    Ok(toml::to_string(&Document { proxy, pipeline: command.pipeline() })?)
}

/// The validated configuration the options stand for, exactly as if read from a file.
pub fn config<C: ClassicCommand>(command: &C) -> Result<Config, ClassicError> {
    let text = config_text(command)?;
    tracing::debug!("The options stand for this configuration:\n{text}");
    Config::parse(SOURCE_NAME, &text).map_err(|e| unlocated(e).into())
}

/// Drops an error's location: it points into generated text the user never saw, while the key
/// (`pipeline[0] (include).match[0]`) and the message name the option's value well enough.
fn unlocated(error: ConfigError) -> ConfigError {
    ConfigError { location: None, ..error }
}

/// Parses the command line and runs the command: what each classic binary's `main` does.
pub fn main<C: ClassicCommand>() -> ExitCode {
    run(&C::parse())
}

/// Runs a command until its client leaves (or, with `--loop`, until Ctrl-C or SIGTERM).
///
/// Exit code 0 when it ran; 1 when the options make an invalid configuration, the proxy
/// cannot start, or (without `--loop`) the CTI server could not be reached. Usage errors
/// exit with 2 before this runs (clap).
pub fn run<C: ClassicCommand>(command: &C) -> ExitCode {
    // No --log-format here: `--lo` must stay the abbreviation of --loop, as with argparse.
    logging::init("warn", command.common().verbose, logging::LogFormat::Text);
    // Usage-level remarks go out like clap's, as plain text, whatever the log level.
    for warning in command.warnings() {
        eprintln!("{}: warning: {warning}", C::NAME);
    }
    match serve(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}: {e}", C::NAME);
            ExitCode::FAILURE
        }
    }
}

fn serve<C: ClassicCommand>(command: &C) -> Result<ExitCode, ClassicError> {
    let config = config(command)?;
    let served = app::serve(&config, Arc::new(ProxyHost::stdout())).map_err(|e| match e {
        AppError::Config(errors) => AppError::Config(errors.into_iter().map(unlocated).collect()),
        other => other,
    })?;
    Ok(served)
}

#[cfg(test)]
mod tests;
