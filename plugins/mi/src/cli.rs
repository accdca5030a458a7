//! `ctiproxy mi`: the command line over the MI client. The `ctiproxy` binary embeds
//! [`MiArgs`] as its `mi` subcommand and hands the parsed arguments, and whether its own `-v`
//! was given, to [`run`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::Error;
use crate::mwi::MessageCounts;
use crate::request::Params;
use crate::response::Reply;
use crate::sip_status::SipStatus;
use crate::transport::{fifo::DEFAULT_REPLY_DIR, Endpoint};
use crate::uac::UacDlg;
use crate::wiretap::Direction;

/// Exit status when OpenSIPS answered with an MI error.
pub const EXIT_MI_ERROR: u8 = 1;
/// Exit status for a usage error, a transport failure, a timeout or a malformed reply.
pub const EXIT_FAILURE: u8 = 2;
/// Exit status when a `t_uac_dlg` call went through but the SIP request's final status was not
/// 2xx (`408 Request Timeout`: the phone never answered).
pub const EXIT_SIP_FAILURE: u8 = 3;

/// The longest `--timeout`, in seconds (a day): longer is surely a typo, and far longer
/// overflows the clock.
pub const MAX_TIMEOUT_SECS: u64 = 86_400;

const AFTER_HELP: &str = "\
Examples:
  ctiproxy mi --datagram 127.0.0.1:8809 call uptime
  ctiproxy mi --http http://127.0.0.1:8888/mi call get_statistics 'statistics=[\"tm:\"]'
  ctiproxy mi --xmlrpc http://127.0.0.1:8888/RPC2 call get_statistics '[\"rcv_requests\",\"used_size\"]'
  ctiproxy mi --fifo /run/opensips/opensips_fifo --reply-dir /run/opensips call log_level level=3
  ctiproxy mi --datagram 127.0.0.1:8809 event-notify sip:alice@10.0.0.5:5060 polycom_check_cfg
  ctiproxy mi --datagram 127.0.0.1:8809 mwi-update sip:alice@10.0.0.5:5060 'sip:*97@pbx' 2 5
  ctiproxy mi --datagram 127.0.0.1:8809 uac-dlg NOTIFY sip:alice@10.0.0.5:5060 \\
      -H 'To: <sip:alice@10.0.0.5:5060>' -H 'From: <sip:pbx@10.0.0.1>;tag=42' -H 'Event: check-sync'

Exit status: 0 the result is printed on stdout; 1 OpenSIPS answered an MI error (printed on
stderr with its code); 2 usage error, transport failure, timeout or malformed reply; 3 a
t_uac_dlg request (event-notify, mwi-update, uac-dlg, call t_uac_dlg) got a final SIP status
that is not 2xx, e.g. 408 Request Timeout (the result is still printed on stdout). With
--json, errors are one JSON object on stderr: an MI error {\"code\",\"message\",\"data\"?},
anything else {\"kind\",\"message\"} (kind: invalid_input, transport, http_status, timeout,
malformed_reply); argument errors stay plain text.

--reply-dir, --timeout, --json and -v may also follow the subcommand. A PARAM starting with -
(other than a negative number) is refused as an unknown option; put it after -- to send it:
call foo -- --bar. With -v, the request and the reply are shown on stderr as sent and received.

Timeouts: --timeout applies to every call, t_uac_dlg included. Without it, calls wait 5 s, except t_uac_dlg calls
(uac-dlg, event-notify, mwi-update, call t_uac_dlg), which wait 35 s: OpenSIPS answers a request
to an unreachable phone only after its own 30 s transaction timer, with \"408 Request Timeout\".";

/// `ctiproxy mi`: talk to OpenSIPS's Management Interface.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct MiArgs {
    /// Which MI transport to use (exactly one).
    #[command(flatten)]
    pub target: Target,

    /// With --fifo: the server's mi_fifo reply_dir, where the reply FIFO is created
    /// [default: /tmp, OpenSIPS's default]. Example: --reply-dir /run/opensips
    #[arg(long, value_name = "DIR", global = true)]
    pub reply_dir: Option<PathBuf>,

    /// Seconds to wait for each reply, decimals allowed, at most 86400 [default: 5; 35 for
    /// t_uac_dlg]. Example: --timeout 0.5
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, global = true)]
    pub timeout: Option<Duration>,

    /// Print the result as compact JSON on one line, and any error as a JSON object on stderr.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: MiCommand,
}

/// The MI endpoint; exactly one is required.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// mi_datagram (JSON-RPC over UDP) at HOST:PORT. Example: --datagram 127.0.0.1:8809
    #[arg(long, value_name = "HOST:PORT")]
    pub datagram: Option<String>,

    /// mi_http (JSON-RPC over HTTP) at URL. Example: --http http://127.0.0.1:8888/mi
    #[arg(long, value_name = "URL")]
    pub http: Option<String>,

    /// mi_xmlrpc_ng (XML-RPC over HTTP) at URL. Example: --xmlrpc http://127.0.0.1:8888/RPC2
    #[arg(long, value_name = "URL")]
    pub xmlrpc: Option<String>,

    /// mi_fifo: the FIFO OpenSIPS reads. Example: --fifo /run/opensips/opensips_fifo
    #[arg(long, value_name = "PATH")]
    pub fifo: Option<PathBuf>,
}

/// The `ctiproxy mi` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum MiCommand {
    /// Run any MI command. Example: call get_statistics 'statistics=["tm:"]'
    Call {
        /// The MI command. Example: uptime
        command: String,
        /// A parameter: VALUE (positional) or NAME=VALUE (named; do not mix the two). A VALUE
        /// that parses as JSON is sent as JSON (3, ["a","b"], "3"), anything else as a string.
        // Not `allow_hyphen_values`: it would send a misplaced option (`--json`) to OpenSIPS
        // as a parameter; negative numbers stay values, anything else goes after `--`.
        #[arg(value_name = "PARAM", allow_negative_numbers = true)]
        params: Vec<String>,
        /// All parameters as one JSON array (positional) or object (named), instead of PARAMs.
        /// Example: --params-json '{"statistics":["all"]}'
        #[arg(long, value_name = "JSON", conflicts_with = "params")]
        params_json: Option<String>,
    },
    /// Send a NOTIFY event to a phone: a vendor event name (polycom_check_cfg, snom_reboot, …)
    /// or a literal Event value. Example: event-notify sip:alice@10.0.0.5:5060 snom_reboot
    EventNotify {
        /// The phone's contact URI, used as R-URI, To and From. Example: sip:alice@10.0.0.5:5060
        uri: String,
        /// aastra_check_cfg, aastra_xml, digium_check_cfg, linksys_cold_restart,
        /// linksys_warm_restart, polycom_check_cfg, sipura_check_cfg, sipura_get_report,
        /// snom_check_cfg, snom_reboot, cisco_check_cfg, avaya_check_cfg, or a literal event.
        event: String,
        /// An extra header 'Name: value' (repeatable); a To or From replaces the generated one.
        /// Example: -H 'X-Reason: provisioning'
        #[arg(short = 'H', long = "header", value_name = "HEADER")]
        headers: Vec<String>,
    },
    /// Update a phone's message-waiting lamp (message-summary NOTIFY).
    /// Example: mwi-update sip:alice@10.0.0.5:5060 'sip:*97@pbx' 2 5
    MwiUpdate {
        /// The phone's contact URI. Example: sip:alice@10.0.0.5:5060
        uri: String,
        /// The voicemail account for Message-Account. Example: sip:*97@pbx
        account: String,
        /// New messages (above 0 lights the lamp).
        new: u32,
        /// Old messages [default: 0].
        old: Option<u32>,
        /// New urgent messages [default: 0].
        urgent_new: Option<u32>,
        /// Old urgent messages [default: 0].
        urgent_old: Option<u32>,
    },
    /// Send any SIP request with t_uac_dlg; To and From headers are required.
    /// Example: uac-dlg NOTIFY sip:a@10.0.0.5 -H 'To: <sip:a@10.0.0.5>' -H 'From: <sip:a@10.0.0.5>;tag=1'
    UacDlg {
        /// The SIP method. Example: NOTIFY
        method: String,
        /// The request URI. Example: sip:alice@10.0.0.5:5060
        ruri: String,
        /// A header 'Name: value' (repeatable). Example: -H 'Event: check-sync'
        #[arg(short = 'H', long = "header", value_name = "HEADER")]
        headers: Vec<String>,
        /// The outbound proxy. Example: --next-hop sip:10.0.0.1:5060
        #[arg(long, value_name = "URI")]
        next_hop: Option<String>,
        /// The local socket to send from. Example: --socket udp:10.0.0.2:5060
        #[arg(long, value_name = "SOCKET")]
        socket: Option<String>,
        /// The body, sent verbatim (requires a Content-Type header); use $'…\r\n' in bash for
        /// CR LF line ends. Example: --body $'Messages-Waiting: no\r\n'
        #[arg(long, value_name = "TEXT")]
        body: Option<String>,
    },
}

/// Runs `ctiproxy mi`: prints the result on stdout, an error on stderr (as JSON with
/// `--json`), the bytes sent and received on stderr if `verbose`, and returns the exit status
/// (0 result, 1 MI error, 2 anything else, 3 a SIP request that failed).
pub fn run(args: MiArgs, verbose: bool) -> ExitCode {
    let client = client(&args).map(|client| match verbose {
        true => client.with_observer(show_wire),
        false => client,
    });
    match client.and_then(|client| call(&client, &args)) {
        Ok(reply) => {
            println!("{}", render(&reply, args.json));
            match reply.sip_status().filter(|status| !status.is_success()) {
                Some(status) => {
                    eprintln!("{}", sip_failure_report(status, args.json));
                    ExitCode::from(EXIT_SIP_FAILURE)
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(error) => {
            eprintln!("{}", error_report(&error, &args));
            ExitCode::from(exit_status(&error))
        }
    }
}

/// What [`run`] prints on stderr when the SIP request failed: a line for people, or with `--json`
/// `{"kind":"sip_status","message","status"}`.
fn sip_failure_report(status: SipStatus<'_>, json: bool) -> String {
    let message = format!("the SIP request failed: {}", status.line);
    match json {
        true => {
            serde_json::json!({"kind": "sip_status", "message": message, "status": status.line})
                .to_string()
        }
        false => format!("ctiproxy mi: {message}"),
    }
}

/// What [`run`] prints on stderr for an error: a line for people, or with `--json` one JSON
/// object, the MI error's own fields or `{"kind","message"}`.
pub fn error_report(error: &Error, args: &MiArgs) -> String {
    let message = error_message(error, args);
    match (error, args.json) {
        (Error::Mi(mi), true) => serde_json::to_value(mi).unwrap_or_default().to_string(),
        (_, true) => serde_json::json!({"kind": error.kind(), "message": message}).to_string(),
        (_, false) => format!("ctiproxy mi: {message}"),
    }
}

// A FIFO timeout is ambiguous in a way that matters: OpenSIPS runs the command even when it
// cannot open the reply FIFO (a --reply-dir that is not its reply_dir looks exactly like a
// slow command), so running it again may run it twice.
fn error_message(error: &Error, args: &MiArgs) -> String {
    if !matches!(error, Error::Timeout(_)) || args.target.fifo.is_none() {
        return error.to_string();
    }
    let reply_dir = args.reply_dir.clone().unwrap_or_else(|| DEFAULT_REPLY_DIR.into());
    format!(
        "{error} on the reply FIFO; the command may have run anyway: OpenSIPS runs it even when \
         it cannot open the reply FIFO, as when --reply-dir ({}) is not mi_fifo's reply_dir. \
         It was not retried; check --reply-dir before running it again",
        reply_dir.display()
    )
}

// Control characters are escaped (a reply must not drive the terminal), CR shown as `\r` so
// line ends stay visible; LF and tab are kept.
fn show_wire(direction: Direction, bytes: &[u8]) {
    let what = match direction {
        Direction::Sent => "sent",
        Direction::Received => "received",
    };
    let text: String = String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect();
    eprintln!("ctiproxy mi: {what} {} bytes:\n{}", bytes.len(), text.trim_end_matches('\n'));
}

/// The exit status for an error: 1 for an MI error, 2 for everything else.
pub fn exit_status(error: &Error) -> u8 {
    match error {
        Error::Mi(_) => EXIT_MI_ERROR,
        _ => EXIT_FAILURE,
    }
}

/// Runs the subcommand and returns what [`run`] prints on success (indented JSON, or compact
/// with `--json`); usage errors found here are [`Error::InvalidInput`].
pub fn execute(args: &MiArgs) -> Result<String, Error> {
    Ok(render(&call(&client(args)?, args)?, args.json))
}

fn call(client: &Client, args: &MiArgs) -> Result<Reply, Error> {
    Ok(match &args.command {
        MiCommand::Call { command, params, params_json } => {
            let params = match params_json {
                Some(json) => json_params(json)?,
                None => parse_params(params)?,
            };
            client.command(command, params)?
        }
        MiCommand::EventNotify { uri, event, headers } => {
            client.event_notify(uri, event, &parse_headers(headers)?)?
        }
        MiCommand::MwiUpdate { uri, account, new, old, urgent_new, urgent_old } => {
            let counts = MessageCounts {
                new: *new,
                old: old.unwrap_or(0),
                urgent_new: urgent_new.unwrap_or(0),
                urgent_old: urgent_old.unwrap_or(0),
            };
            client.mwi_update(uri, account, &counts)?
        }
        MiCommand::UacDlg { method, ruri, headers, next_hop, socket, body } => {
            client.uac_dlg(&uac_dlg(method, ruri, headers, next_hop, socket, body)?)?
        }
    })
}

fn render(reply: &Reply, compact: bool) -> String {
    if compact {
        reply.to_compact_json()
    } else {
        reply.to_pretty_json()
    }
}

fn client(args: &MiArgs) -> Result<Client, Error> {
    let target = &args.target;
    if args.reply_dir.is_some() && target.fifo.is_none() {
        return Err(Error::InvalidInput("--reply-dir only applies to --fifo".into()));
    }
    let endpoint = match (&target.datagram, &target.http, &target.xmlrpc, &target.fifo) {
        (Some(addr), _, _, _) => Endpoint::Datagram(addr.clone()),
        (_, Some(url), _, _) => Endpoint::Http(url.clone()),
        (_, _, Some(url), _) => Endpoint::XmlRpc(url.clone()),
        (_, _, _, Some(path)) => Endpoint::Fifo {
            path: path.clone(),
            reply_dir: args.reply_dir.clone().unwrap_or_else(|| DEFAULT_REPLY_DIR.into()),
        },
        _ => {
            return Err(Error::InvalidInput(
                "one of --datagram, --http, --xmlrpc, --fifo is required".into(),
            ))
        }
    };
    let client = Client::new(endpoint)?;
    // An explicit --timeout is taken at its word, t_uac_dlg included.
    Ok(match args.timeout {
        Some(timeout) => client.with_timeout(timeout),
        None => client,
    })
}

fn uac_dlg(
    method: &str,
    ruri: &str,
    headers: &[String],
    next_hop: &Option<String>,
    socket: &Option<String>,
    body: &Option<String>,
) -> Result<UacDlg, Error> {
    let mut request = UacDlg::new(method, ruri).headers(parse_headers(headers)?);
    if let Some(next_hop) = next_hop {
        request = request.next_hop(next_hop);
    }
    if let Some(socket) = socket {
        request = request.socket(socket);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    Ok(request)
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= MAX_TIMEOUT_SECS as f64) {
        return Err(format!("{text} must be more than 0 and at most {MAX_TIMEOUT_SECS} seconds"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

/// `Name: value` arguments as header pairs.
pub(crate) fn parse_headers(headers: &[String]) -> Result<Vec<(String, String)>, Error> {
    headers
        .iter()
        .map(|header| {
            let (name, value) = header.split_once(':').ok_or_else(|| {
                Error::InvalidInput(format!("header {header:?} is not 'Name: value'"))
            })?;
            Ok((name.trim().to_owned(), value.trim_start().to_owned()))
        })
        .collect()
}

/// PARAM arguments: all `VALUE`s (positional) or all `NAME=VALUE`s (named).
pub fn parse_params(args: &[String]) -> Result<Params, Error> {
    let parsed: Vec<(Option<&str>, Value)> = args.iter().map(|arg| parse_param(arg)).collect();
    let named = parsed.iter().filter(|(name, _)| name.is_some()).count();
    if named == 0 {
        let values: Vec<Value> = parsed.into_iter().map(|(_, value)| value).collect();
        return Ok(if values.is_empty() { Params::None } else { Params::Positional(values) });
    }
    if named != parsed.len() {
        return Err(Error::InvalidInput(
            "parameters mix VALUE and NAME=VALUE; use one form (or --params-json)".into(),
        ));
    }
    let members: Map<String, Value> = parsed
        .into_iter()
        .map(|(name, value)| (name.unwrap_or_default().to_owned(), value))
        .collect();
    Ok(Params::Named(members))
}

// NAME must look like an MI parameter name, so values such as `sip:a@b;x=y` stay positional.
fn parse_param(arg: &str) -> (Option<&str>, Value) {
    match arg.split_once('=') {
        Some((name, value)) if is_parameter_name(name) => (Some(name), json_or_string(value)),
        _ => (None, json_or_string(arg)),
    }
}

fn is_parameter_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn json_or_string(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::from(text))
}

fn json_params(json: &str) -> Result<Params, Error> {
    match serde_json::from_str(json) {
        Ok(Value::Array(values)) => Ok(Params::Positional(values)),
        Ok(Value::Object(members)) => Ok(Params::Named(members)),
        _ => Err(Error::InvalidInput(format!(
            "--params-json {json:?} is not a JSON array or object"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn params_are_json_or_strings() {
        let params =
            parse_params(&strings(&["3", "abc", r#"["a","b"]"#, r#""3""#, "sip:a@b;x=y"])).unwrap();
        assert_eq!(
            params,
            Params::positional([
                json!(3),
                json!("abc"),
                json!(["a", "b"]),
                json!("3"),
                json!("sip:a@b;x=y")
            ])
        );
        let params = parse_params(&strings(&["level=3", r#"statistics=["tm:"]"#])).unwrap();
        assert_eq!(params, Params::named([("level", json!(3)), ("statistics", json!(["tm:"]))]));
        assert_eq!(parse_params(&[]).unwrap(), Params::None);
        assert!(matches!(parse_params(&strings(&["level=3", "x"])), Err(Error::InvalidInput(_))));
    }

    #[test]
    fn headers_and_seconds() {
        assert_eq!(
            parse_headers(&strings(&["To: <sip:a@b>"])).unwrap(),
            [("To".to_owned(), "<sip:a@b>".to_owned())]
        );
        assert!(parse_headers(&strings(&["no colon"])).is_err());
        assert_eq!(parse_seconds("0.2").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_seconds("86400").unwrap(), Duration::from_secs(MAX_TIMEOUT_SECS));
        for bad in ["0", "x", "-1", "1e19", "86400.5", "inf", "NaN"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}
