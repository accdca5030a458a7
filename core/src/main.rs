//! The `ctiproxy` command: run a configured proxy, check a configuration, list plugins, play the
//! demo, replay captures through a pipeline, talk to OpenSIPS's Management Interface.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ctiproxy::app::{self, AppError};
use ctiproxy::config::{self, Config};
use ctiproxy::demo;
use ctiproxy::host::ProxyHost;
use ctiproxy::loader::{self, LoadError, Registry, Standing};
use ctiproxy::replay;

#[derive(Parser)]
#[command(
    name = "ctiproxy",
    version,
    about = "A capture-and-analysis proxy for the XiVO/Wazo CTI protocol."
)]
#[command(after_help = "Start with `ctiproxy demo`. Configuration reference: config.example.toml.")]
struct Cli {
    /// More diagnostics on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Diagnostics as text (coloured on a terminal unless NO_COLOR is set) or as one JSON
    /// object per line, for log shippers.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t, global = true)]
    log_format: ctiproxy::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy and pipeline a configuration file describes.
    #[command(after_help = "Example: ctiproxy run -c config.toml --server xivo.example.com")]
    Run {
        /// The TOML configuration.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Override [proxy] server (host or host:port; port 5003 by default).
        #[arg(long, value_name = "HOST[:PORT]")]
        server: Option<String>,
        /// Override [proxy] listen (ip:port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Keep serving after a client leaves (overrides [proxy] loop = false).
        #[arg(long = "loop")]
        keep_serving: bool,
    },
    /// Build and validate the whole pipeline of a configuration, then exit 0 (valid) or 1.
    /// Never listens and never connects.
    #[command(after_help = "Example: ctiproxy check -c config.toml")]
    Check {
        /// The TOML configuration.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// List the plugins found: name, version, description and file.
    #[command(
        after_help = "Search order: $CTIPROXY_PLUGIN_PATH, [plugins] path, the executable's directory; only libctiproxy_*.so files are searched (see the README)."
    )]
    Plugins {
        /// Also search the [plugins] path of this configuration.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Also list every library that is not a ctiproxy plugin, and open and list the libraries
        /// a run never searches (not named libctiproxy_*).
        #[arg(long)]
        all: bool,
    },
    /// Run a configuration's pipeline over captures instead of live sockets.
    ///
    /// Captures are the save plugin's JSON-lines files (format = "jsonl"; several are replayed
    /// one after the other) or one classic ctisave pair, told apart by content. [proxy] server
    /// and listen are not needed.
    #[command(after_help = "Examples:
  ctiproxy replay -c rules.toml monday.jsonl tuesday.jsonl
  ctiproxy replay -c rules.toml --realtime --max-gap 1 capture.jsonl
  ctiproxy replay -c stats.toml client.txt server.txt     # classic pair: CLIENT_FILE SERVER_FILE")]
    Replay {
        /// The TOML configuration.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Capture files: JSON-lines captures of the save plugin, or the two files of a classic
        /// ctisave pair (client > server first).
        #[arg(value_name = "CAPTURE", required = true)]
        captures: Vec<PathBuf>,
        /// Deliver events with the recorded gaps between them (default: as fast as possible).
        #[arg(long)]
        realtime: bool,
        /// With --realtime, the longest wait between two events, in seconds.
        #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_seconds)]
        max_gap: Duration,
    },
    /// Replay a recorded CTI session through the proxy, the spy and the example MI rules
    /// (dry-run), with embedded server and client on loopback. Needs nothing else.
    Demo {
        /// Indent messages by 4 spaces.
        #[arg(long)]
        pretty: bool,
    },
    /// Talk to OpenSIPS's Management Interface (datagram, HTTP, XML-RPC or FIFO).
    Mi(Box<ctiproxy_mi::cli::MiArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(cli.command, Command::Demo { .. } | Command::Mi(_));
    let default_level = if quiet { "warn" } else { "info" };
    ctiproxy::logging::init(default_level, cli.verbose, cli.log_format);
    match dispatch(cli.command, cli.verbose > 0) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ctiproxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a subcommand; `verbose` is whether `-v` was given (`mi` then shows what it sends and
/// receives).
fn dispatch(command: Command, verbose: bool) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { config, server, listen, keep_serving } => {
            let mut config = Config::load(&config)?;
            config.proxy.server = server.or(config.proxy.server);
            config.proxy.listen = listen.unwrap_or(config.proxy.listen);
            config.proxy.keep_serving |= keep_serving;
            run(&config)
        }
        Command::Check { config } => check(&config),
        Command::Replay { config, captures, realtime, max_gap } => {
            replay(&config, &captures, replay::Options { realtime, max_gap })
        }
        Command::Plugins { config, all } => plugins(config, all),
        Command::Demo { pretty } => run_demo(pretty),
        Command::Mi(args) => Ok(ctiproxy_mi::cli::run(*args, verbose)),
    }
}

fn run(config: &Config) -> anyhow::Result<ExitCode> {
    Ok(app::serve(config, Arc::new(ProxyHost::stdout()))?)
}

fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let Some(config) = load_config(path) else { return Ok(ExitCode::FAILURE) };
    let server = config.proxy.server.as_deref().and_then(|s| config::server_address(s).ok());
    let tls_ok = reported(app::tls(&config, server.as_deref()))?.is_some();
    let Some(pipeline) = reported(app::check(&config, &app::registry(&config)))? else {
        return Ok(ExitCode::FAILURE);
    };
    if !tls_ok {
        return Ok(ExitCode::FAILURE);
    }
    println!("{}: OK, pipeline: {}", path.display(), pipeline.labels().join(" > "));
    Ok(ExitCode::SUCCESS)
}

/// Loads a configuration; an invalid one is reported on stderr (`None`).
fn load_config(path: &Path) -> Option<Config> {
    Config::load(path).map_err(|e| eprintln!("{e}")).ok()
}

/// A configuration's errors reported on stderr, one problem per line (`None`); other errors
/// passed on.
fn reported<T>(result: Result<T, AppError>) -> anyhow::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(AppError::Config(errors)) => {
            errors.iter().for_each(|e| eprintln!("{e}"));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The captures are checked before the pipeline is built, so a wrong file leaves no plugin
/// side effect (a save plugin truncating its output, an MI connection).
fn replay(path: &Path, captures: &[PathBuf], options: replay::Options) -> anyhow::Result<ExitCode> {
    let Some(config) = load_config(path) else { return Ok(ExitCode::FAILURE) };
    let plan = replay::plan(captures)?;
    let host = Arc::new(ProxyHost::stdout());
    let Some(pipeline) = reported(app::build(&config, &app::registry(&config), host))? else {
        return Ok(ExitCode::FAILURE);
    };
    tracing::info!("Replaying through the pipeline: {}.", pipeline.labels().join(" > "));
    let report = replay::run(&plan, pipeline, &config, options)?;
    tracing::info!("Replayed {} messages.", report.messages);
    Ok(ExitCode::SUCCESS)
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is not a number of seconds"))
}

fn plugins(config: Option<PathBuf>, all: bool) -> anyhow::Result<ExitCode> {
    let extra = match config {
        Some(path) => Config::load(&path)?.plugins.path,
        None => Vec::new(),
    };
    let registry = Registry::scan(loader::search_path(&extra));
    let inventory = registry.inspect(all);
    for (found, standing) in &inventory.plugins {
        let v = &found.vtable;
        let note = match standing {
            Standing::Used => "",
            Standing::Shadowed => " (shadowed by an earlier one)",
            Standing::NotSearched => {
                " (never searched: not named libctiproxy_*; use library = \"...\")"
            }
        };
        println!(
            "{:<16} {:<8} {}\n{:<16} {:<8} {}{note}",
            v.name,
            v.version,
            v.description,
            "",
            "",
            found.file.display()
        );
    }
    for failure in &inventory.failures {
        if all || !matches!(failure.error, LoadError::NoEntry) {
            println!(
                "{:<16} {:<8} NOT LOADED: {}\n{:<16} {:<8} {}",
                loader::name_hint(&failure.file),
                "-",
                failure.error,
                "",
                "",
                failure.file.display()
            );
        }
    }
    if !inventory.unopened.is_empty() {
        eprintln!(
            "{} other libraries in the search path are never searched for plugins (not named libctiproxy_*): --all inspects them.",
            inventory.unopened.len()
        );
    }
    if !inventory.plugins.iter().any(|(_, s)| *s != Standing::NotSearched) {
        let dirs: Vec<String> = registry.dirs().iter().map(|d| d.display().to_string()).collect();
        eprintln!("No plugins found in: {}", dirs.join(", "));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_demo(pretty: bool) -> anyhow::Result<ExitCode> {
    let steps = demo::parse_script(demo::SESSION)?;
    let (server_addr, server) =
        demo::start_server(steps.clone()).context("cannot start the demo server")?;
    let registry = app::registry(&Config::default());
    let installed = |name: &str| registry.get(name).is_some();
    let config = Config::parse("<demo>", &demo::config_text(server_addr, installed, pretty))?;
    let labels = app::check(&config, &registry)?.labels().join(" > ");
    let mut client = None;
    app::run(&config, &registry, Arc::new(ProxyHost::stdout()), |addr| {
        println!(
            "ctiproxy demo: a recorded CTI session ({} messages, login to logout)",
            steps.len()
        );
        println!("  embedded client > proxy {addr} > embedded server {server_addr}; pipeline: {labels}\n");
        client = Some(demo::start_client(addr, steps.clone()));
    })?;
    let client = client
        .context("the proxy never started")?
        .join()
        .map_err(|_| anyhow::anyhow!("demo client panicked"))??;
    let server = server.join().map_err(|_| anyhow::anyhow!("demo server panicked"))??;
    let exact = client.sent == server.received && server.sent == client.received;
    println!(
        "\nForwarded {} bytes client > server and {} bytes server > client: {}.",
        client.sent.len(),
        server.sent.len(),
        if exact {
            "each side received exactly what the other sent"
        } else {
            "MISMATCH between sent and received bytes"
        }
    );
    if installed("mi") {
        println!("The \"mi dry-run\" lines are what the example rules of config.example.toml would send to OpenSIPS (README: \"Automating OpenSIPS from CTI events\").");
    }
    println!("Next: `ctiproxy plugins`, `ctiproxy check -c config.example.toml`, `ctiproxy replay -c FILE CAPTURE`, `ctispy HOST`.");
    Ok(if exact { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
