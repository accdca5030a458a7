//! The `mi` pipeline plugin: rules that turn CTI events into OpenSIPS MI commands (a voicemail
//! lamp when a mailbox count changes, a check-sync NOTIFY when an administrator edits a line,
//! any MI command on any pattern).
//!
//! For each message, in order: the CTI state learns from it ([`state`]), a server message is
//! told apart as an answer or a push ([`pending`]), then every rule whose `match` holds
//! evaluates `when`, renders its action's templates ([`templates`], [`action`]) and, past the
//! cooldown and the rate limit ([`throttle`]), hands the request to the workers
//! ([`dispatcher`]) — or prints it, with `dry_run`. The pipeline never waits on the network and
//! the message always passes unchanged.

pub mod action;
pub mod dispatcher;
pub mod outcome;
pub mod pending;
mod repeats;
pub mod rule;
pub mod settings;
pub mod state;
pub mod tally;
pub mod templates;
pub mod throttle;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ctiproxy_plugin_api::index;
use ctiproxy_plugin_api::{ConfigError, Host, Level, Message, Plugin, SessionEnd, Verdict};
use minijinja::{context, Value as Context};
use serde_json::Value;

use crate::client::{Client, UAC_DLG_MIN_TIMEOUT};
use crate::transport::Endpoint;
use action::Request;
use dispatcher::{Dispatcher, Job};
use pending::PendingRequests;
use repeats::Repeats;
use rule::Rule;
use settings::{seconds, Settings};
use state::CtiState;
use tally::{Event, Refusal, Tally};
use templates::Templates;
use throttle::{Cooldowns, RateLimit};

/// The longest excerpt of a CTI message quoted in logs and dry-run output.
pub const CAUSE_EXCERPT: usize = 300;

/// Where commands go: to OpenSIPS, or printed.
enum Sink {
    Send(Dispatcher),
    Print {
        endpoint: String,
    },
    /// `ctiproxy check`: nothing runs.
    Nowhere,
}

/// The MI rules plugin.
pub struct MiRules {
    host: Host,
    rules: Vec<Rule>,
    templates: Templates,
    state: Arc<Mutex<CtiState>>,
    pending: PendingRequests,
    cooldowns: Cooldowns,
    rate: Option<RateLimit>,
    sink: Sink,
    tally: Arc<Tally>,
    repeats: Arc<Repeats>,
    vars: Context,
    default_pbx: String,
    shutdown_timeout: Duration,
    state_full_warned: bool,
}

impl Plugin for MiRules {
    const NAME: &'static str = "mi";
    const DESCRIPTION: &'static str =
        "Rules that send OpenSIPS MI commands (MWI, check-sync NOTIFY, any command) on CTI events.";
    type Config = Settings;

    fn new(settings: Settings, host: Host) -> Result<Self, ConfigError> {
        settings.check_limits()?;
        let endpoint = settings.endpoint()?;
        let client = client(&settings, &endpoint)?;
        let state = Arc::new(Mutex::new(CtiState::new(settings.max_objects)));
        let mut templates = Templates::new(state.clone());
        let rules = compile_rules(&settings, &mut templates)?;
        let tally = Arc::new(Tally::new(rules.iter().map(|r| r.name.to_string()), host.clone()));
        let repeats = Arc::new(Repeats::default());
        let sink = if host.is_check_only() {
            Sink::Nowhere
        } else if settings.dry_run {
            Sink::Print { endpoint: describe(&endpoint) }
        } else {
            let (queue, in_flight) = (settings.queue, settings.in_flight);
            Dispatcher::start(
                client,
                queue,
                in_flight,
                tally.clone(),
                host.clone(),
                repeats.clone(),
            )
            .map(Sink::Send)
            .map_err(|e| ConfigError::from(format!("cannot start the MI workers: {e}")))?
        };
        Ok(MiRules {
            host,
            rules,
            templates,
            state,
            pending: PendingRequests::default(),
            cooldowns: Cooldowns::default(),
            rate: settings.rate_limit.map(RateLimit::new),
            sink,
            tally,
            repeats,
            vars: Context::from_serialize(&settings.vars),
            default_pbx: settings.default_pbx,
            shutdown_timeout: seconds(settings.shutdown_timeout, "shutdown_timeout", true)?,
            state_full_warned: false,
        })
    }

    fn on_message(&mut self, message: &Message<'_>) -> Verdict {
        let (session, direction) = (message.session_id(), message.direction());
        // The host's index decides, without a parse, whether this message matters at all: only
        // getlist messages teach the state, only matched ones need a context.
        let Some(root) = message.root().filter(|r| r.kind() == index::Kind::Object) else {
            return Verdict::Pass;
        };
        let interested: Vec<usize> =
            (0..self.rules.len()).filter(|&i| self.rules[i].looks_at(root, direction)).collect();
        if interested.is_empty() && message.class() != Some("getlist") {
            return Verdict::Pass;
        }
        let Some(json) = message.json() else {
            return Verdict::Pass;
        };
        let push = self.pending.observe(session, direction, json, &self.default_pbx);
        let context = self.learn(json, push, message, !interested.is_empty());
        if !interested.is_empty() {
            let trigger = Trigger::of(message);
            for rule in interested {
                self.apply(rule, &context, &trigger);
            }
        }
        Verdict::Pass
    }

    fn on_session_end(&mut self, session: &SessionEnd<'_>) {
        self.pending.end(session.session_id);
    }

    fn on_tick(&mut self, now_micros: i64) {
        self.cooldowns.expire(now_micros);
        self.warn_if_state_full();
    }

    fn on_shutdown(&mut self) {
        if let Sink::Send(dispatcher) = &mut self.sink {
            let given_up = dispatcher.finish(self.shutdown_timeout);
            if given_up > 0 {
                let message = format!(
                    "{given_up} MI commands were not sent: still queued or awaiting a reply after shutdown_timeout ({:?}).",
                    self.shutdown_timeout
                );
                self.host.log(Level::Warn, &message);
            }
        }
        if !matches!(self.sink, Sink::Nowhere) {
            self.host.log(Level::Info, &tally::summary(&self.tally.snapshot()));
        }
    }
}

impl MiRules {
    /// Learns from the message and, when a rule is interested, builds the context its templates
    /// see: `msg`, `direction`, `session`, `pbx`, `push`, `obj`, `prev`, `vars`.
    fn learn(&mut self, json: &Value, push: bool, message: &Message<'_>, wanted: bool) -> Context {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let learned = state.learn(json, &self.default_pbx, wanted);
        if !wanted {
            return Context::UNDEFINED;
        }
        let object = learned.key.as_ref().and_then(|key| {
            state
                .get(key)
                .map(|object| Context::from_serialize(object.to_value(&key.list, &key.id)))
        });
        drop(state);
        let pbx = json.get("tipbxid").and_then(Value::as_str).unwrap_or(&self.default_pbx);
        context! {
            msg => Context::from_serialize(json),
            direction => message.direction().sender(),
            session => message.session_id(),
            pbx => pbx,
            push => push,
            obj => object.unwrap_or(Context::UNDEFINED),
            prev => learned.before.map_or(Context::UNDEFINED, Context::from_serialize),
            vars => self.vars.clone(),
        }
    }

    fn apply(&mut self, index: usize, context: &Context, trigger: &Trigger) {
        let rule = &self.rules[index];
        let items = match rule.holds(&self.templates, context) {
            Ok(false) => return,
            Ok(true) => {
                self.tally.record(index, Event::Matched);
                rule.items(&self.templates, context)
            }
            Err(refusal) => Err(refusal),
        };
        let contexts = match items {
            Ok(None) => vec![context.clone()],
            Ok(Some(items)) => {
                items.into_iter().map(|item| context! { item, ..context.clone() }).collect()
            }
            Err(refusal) => return self.refuse(index, &refusal, trigger),
        };
        for context in contexts {
            match self.rules[index].action.render(&self.templates, &context) {
                Ok(request) => self.fire(index, request, trigger),
                Err(refusal) => self.refuse(index, &refusal, trigger),
            }
        }
    }

    fn fire(&mut self, index: usize, request: Request, trigger: &Trigger) {
        let rule = &self.rules[index];
        let now = trigger.at_us;
        if !self.cooldowns.allow(index, &request.target, now, rule.cooldown_us) {
            self.tally.record(index, Event::Suppressed);
            let text = format!("rule {}: {} suppressed by cooldown", rule.name, request.target);
            return self.host.log(Level::Debug, &text);
        }
        if let Some(rate) = &mut self.rate {
            if !rate.take(now) {
                let refusal = Refusal::new("rate limit", format!("{} not sent", request.target));
                return self.refuse(index, &refusal, trigger);
            }
        }
        let job = Job {
            rule: index,
            rule_name: rule.name.clone(),
            request,
            cause: trigger.cause.clone(),
        };
        let sent = match &self.sink {
            Sink::Send(dispatcher) => {
                let text = format!(
                    "rule {}: sending {} {} (cause: {})",
                    job.rule_name, job.request.method, job.request.target, job.cause
                );
                self.host.log(Level::Debug, &text);
                dispatcher.submit(job)
            }
            Sink::Print { endpoint } => {
                self.host.print(dry_run_text(&job, endpoint).as_bytes());
                Ok(())
            }
            Sink::Nowhere => Ok(()),
        };
        match sent {
            Ok(()) => self.tally.record(index, Event::Fired),
            Err(refusal) => self.refuse(index, &refusal, trigger),
        }
    }

    fn refuse(&self, index: usize, refusal: &Refusal, trigger: &Trigger) {
        self.tally.record(index, Event::Refused(refusal.reason));
        let text = format!(
            "rule {}: nothing sent ({}): {} (cause: {})",
            self.rules[index].name, refusal.reason, refusal.detail, trigger.cause
        );
        self.repeats.log(&self.host, index, refusal.reason, &text);
    }

    fn warn_if_state_full(&mut self) {
        let not_learnt = self.state.lock().unwrap_or_else(PoisonError::into_inner).not_learnt;
        if not_learnt > 0 && !self.state_full_warned {
            self.state_full_warned = true;
            let text =
                "the CTI state reached max_objects: new objects are not learnt (raise max_objects)";
            self.host.log(Level::Warn, text);
        }
    }
}

fn client(settings: &Settings, endpoint: &Endpoint) -> Result<Client, ConfigError> {
    let mut client = Client::new(endpoint.clone()).map_err(|e| ConfigError::from(e.to_string()))?;
    let timeout = settings.timeout.map(|t| seconds(t, "timeout", false)).transpose()?;
    if let Some(timeout) = timeout {
        client = client.with_timeout(timeout);
    }
    // A rule that notifies a dead phone should still see OpenSIPS's 408 (its transaction timer
    // is 30 s), so a short `timeout` for ordinary commands does not cut t_uac_dlg short: it
    // waits at least UAC_DLG_MIN_TIMEOUT unless `uac_dlg_timeout` says otherwise.
    let uac_dlg_timeout = match settings.uac_dlg_timeout {
        Some(t) => Some(seconds(t, "uac_dlg_timeout", false)?),
        None => timeout.map(|t| t.max(UAC_DLG_MIN_TIMEOUT)),
    };
    if let Some(timeout) = uac_dlg_timeout {
        client = client.with_uac_dlg_timeout(timeout);
    }
    Ok(client)
}

fn compile_rules(settings: &Settings, templates: &mut Templates) -> Result<Vec<Rule>, ConfigError> {
    let mut rules: Vec<Rule> = Vec::with_capacity(settings.rules.len());
    for (index, rule) in settings.rules.iter().enumerate() {
        if rules.iter().any(|r| *r.name == *rule.name) {
            let message = format!("another rule is already named {:?}", rule.name);
            return Err(ConfigError::at(format!("rules[{index}].name"), message));
        }
        rules.push(Rule::compile(index, rule, templates)?);
    }
    Ok(rules)
}

fn describe(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Datagram(addr) => format!("datagram {addr}"),
        Endpoint::Http(url) => format!("http {url}"),
        Endpoint::XmlRpc(url) => format!("xmlrpc {url}"),
        Endpoint::Fifo { path, .. } => format!("fifo {}", path.display()),
    }
}

/// The message that caused a command: when, and for logs its direction, session and start.
struct Trigger {
    cause: String,
    at_us: i64,
}

impl Trigger {
    /// Computed once per message, however many commands it causes; only the start of the line
    /// is decoded, so a huge message costs no more than a small one.
    fn of(message: &Message<'_>) -> Trigger {
        let bytes = message.bytes();
        let head = &bytes[..bytes.len().min(CAUSE_EXCERPT * 4)];
        let text = String::from_utf8_lossy(head);
        let excerpt: String = text.chars().take(CAUSE_EXCERPT).collect();
        let more = if excerpt.len() < bytes.len() { "…" } else { "" };
        let (direction, session) = (message.direction().label(), message.session_id());
        Trigger {
            cause: format!("{direction} session {session}: {excerpt}{more}"),
            at_us: message.timestamp_micros(),
        }
    }
}

/// What dry-run prints for a command: rule, transport and target, the MI method and params in
/// full, then the message that caused it.
fn dry_run_text(job: &Job, endpoint: &str) -> String {
    let request = &job.request;
    let params = serde_json::to_string(&request.params).unwrap_or_default();
    format!(
        "mi dry-run: rule {} would send over {endpoint}: {} {}\n    params: {params}\n    cause:  {}\n",
        job.rule_name, request.method, request.target, job.cause
    )
}
