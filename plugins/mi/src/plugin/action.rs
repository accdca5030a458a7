//! A rule's action: which MI command it sends and the templates of its parameters, compiled from
//! the rule's settings and rendered per event into a checked MI request.
//!
//! Rendering goes through the library's own builders (`event_notify`, `mwi_update`, `UacDlg`)
//! and their checks, so a value that would put a CR, LF or other control character into a SIP
//! header, URI or MI parameter is refused here, before anything is queued.

use ctiproxy_plugin_api::ConfigError;
use minijinja::Value as Context;
use serde_json::{Map, Value};

use super::settings::{ActionKind, RuleSettings};
use super::tally::Refusal;
use super::templates::Templates;
use crate::cli::parse_headers;
use crate::error::Error;
use crate::mwi::MessageCounts;
use crate::request::Params;
use crate::uac::{check_text, UacDlg};
use crate::{event, mwi};

/// A rendered, checked MI request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The MI command (`t_uac_dlg` for the SIP actions).
    pub method: String,
    /// Its parameters.
    pub params: Params,
    /// Who it is for (the request URI, or the command and its parameters): the cooldown key.
    pub target: String,
}

/// The optional `next_hop` and `socket` of the t_uac_dlg actions.
#[derive(Debug)]
struct Routing {
    next_hop: Option<String>,
    socket: Option<String>,
}

/// The compiled action of one rule.
#[derive(Debug)]
pub struct Action(Kind);

/// Each variant's fields hold template names.
#[derive(Debug)]
enum Kind {
    /// A NOTIFY with a vendor or literal event.
    EventNotify { uri: String, event: String, headers: Vec<String>, routing: Routing },
    /// A message-summary NOTIFY.
    MwiUpdate { uri: String, account: String, counts: [Option<String>; 4], routing: Routing },
    /// Any SIP request.
    UacDlg {
        method: String,
        ruri: String,
        headers: Vec<String>,
        body: Option<String>,
        routing: Routing,
    },
    /// Any MI command.
    Command { command: String, params: ParamTemplates },
}

/// `params` of a raw command: strings are templates, other values are sent as written.
#[derive(Debug)]
enum ParamTemplates {
    /// No parameters.
    None,
    /// Positional.
    Positional(Vec<Param>),
    /// Named, in the order written.
    Named(Vec<(String, Param)>),
}

/// One parameter.
#[derive(Debug)]
enum Param {
    /// A template's name.
    Template(String),
    /// A literal JSON value.
    Literal(Value),
}

/// Compiles templates of one rule, each named after its key (`rules[0].uri`).
struct Compiler<'a> {
    prefix: String,
    templates: &'a mut Templates,
}

impl Compiler<'_> {
    fn template(&mut self, key: &str, source: &str) -> Result<String, ConfigError> {
        let name = format!("{}.{key}", self.prefix);
        self.templates.add_template(&name, source).map_err(|e| ConfigError::at(&name, e))?;
        Ok(name)
    }

    fn optional(
        &mut self,
        key: &str,
        source: &Option<String>,
    ) -> Result<Option<String>, ConfigError> {
        source.as_deref().map(|s| self.template(key, s)).transpose()
    }

    fn required(
        &mut self,
        key: &str,
        source: &Option<String>,
        kind: &str,
    ) -> Result<String, ConfigError> {
        let source = source.as_deref().ok_or_else(|| {
            ConfigError::at(format!("{}.{key}", self.prefix), format!("required by action {kind}"))
        })?;
        self.template(key, source)
    }

    fn headers(&mut self, headers: &[String]) -> Result<Vec<String>, ConfigError> {
        headers
            .iter()
            .enumerate()
            .map(|(i, h)| self.template(&format!("headers[{i}]"), h))
            .collect()
    }

    fn routing(&mut self, rule: &RuleSettings) -> Result<Routing, ConfigError> {
        Ok(Routing {
            next_hop: self.optional("next_hop", &rule.next_hop)?,
            socket: self.optional("socket", &rule.socket)?,
        })
    }

    fn params(&mut self, params: &Option<Value>) -> Result<ParamTemplates, ConfigError> {
        let mut param = |key: String, value: &Value| match value {
            Value::String(source) => Ok(Param::Template(self.template(&key, source)?)),
            other => Ok(Param::Literal(other.clone())),
        };
        Ok(match params {
            None => ParamTemplates::None,
            Some(Value::Array(values)) => ParamTemplates::Positional(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| param(format!("params[{i}]"), v))
                    .collect::<Result<_, ConfigError>>()?,
            ),
            Some(Value::Object(members)) => ParamTemplates::Named(
                members
                    .iter()
                    .map(|(name, v)| Ok((name.clone(), param(format!("params.{name}"), v)?)))
                    .collect::<Result<_, ConfigError>>()?,
            ),
            Some(_) => {
                return Err(ConfigError::at(
                    format!("{}.params", self.prefix),
                    "expected an array (positional) or a table (named)",
                ))
            }
        })
    }
}

impl ActionKind {
    fn name(self) -> &'static str {
        match self {
            ActionKind::EventNotify => "event_notify",
            ActionKind::MwiUpdate => "mwi_update",
            ActionKind::UacDlg => "uac_dlg",
            ActionKind::Command => "command",
        }
    }

    fn allows(self, key: &str) -> bool {
        let sip = ["next_hop", "socket"];
        let own: &[&str] = match self {
            ActionKind::EventNotify => &["uri", "event", "headers"],
            ActionKind::MwiUpdate => &["uri", "account", "new", "old", "urgent_new", "urgent_old"],
            ActionKind::UacDlg => &["method", "ruri", "headers", "body"],
            ActionKind::Command => &["command", "params"],
        };
        own.contains(&key) || (self != ActionKind::Command && sip.contains(&key))
    }
}

/// The action keys a rule set, to refuse those its action does not use.
fn keys_set(rule: &RuleSettings) -> Vec<&'static str> {
    let set = [
        ("uri", rule.uri.is_some()),
        ("event", rule.event.is_some()),
        ("account", rule.account.is_some()),
        ("new", rule.new.is_some()),
        ("old", rule.old.is_some()),
        ("urgent_new", rule.urgent_new.is_some()),
        ("urgent_old", rule.urgent_old.is_some()),
        ("method", rule.method.is_some()),
        ("ruri", rule.ruri.is_some()),
        ("headers", !rule.headers.is_empty()),
        ("body", rule.body.is_some()),
        ("next_hop", rule.next_hop.is_some()),
        ("socket", rule.socket.is_some()),
        ("command", rule.command.is_some()),
        ("params", rule.params.is_some()),
    ];
    set.into_iter().filter(|(_, is_set)| *is_set).map(|(key, _)| key).collect()
}

impl Action {
    /// Compiles the action of rule number `index`.
    pub fn compile(
        index: usize,
        rule: &RuleSettings,
        templates: &mut Templates,
    ) -> Result<Action, ConfigError> {
        let prefix = format!("rules[{index}]");
        let kind = rule.action;
        if let Some(key) = keys_set(rule).into_iter().find(|key| !kind.allows(key)) {
            let message = format!("not used by action {}", kind.name());
            return Err(ConfigError::at(format!("{prefix}.{key}"), message));
        }
        let mut c = Compiler { prefix, templates };
        let k = kind.name();
        Ok(Action(match kind {
            ActionKind::EventNotify => Kind::EventNotify {
                uri: c.required("uri", &rule.uri, k)?,
                event: c.required("event", &rule.event, k)?,
                headers: c.headers(&rule.headers)?,
                routing: c.routing(rule)?,
            },
            ActionKind::MwiUpdate => Kind::MwiUpdate {
                uri: c.required("uri", &rule.uri, k)?,
                account: c.required("account", &rule.account, k)?,
                counts: [
                    Some(c.required("new", &rule.new, k)?),
                    c.optional("old", &rule.old)?,
                    c.optional("urgent_new", &rule.urgent_new)?,
                    c.optional("urgent_old", &rule.urgent_old)?,
                ],
                routing: c.routing(rule)?,
            },
            ActionKind::UacDlg => Kind::UacDlg {
                method: c.required("method", &rule.method, k)?,
                ruri: c.required("ruri", &rule.ruri, k)?,
                headers: c.headers(&rule.headers)?,
                body: c.optional("body", &rule.body)?,
                routing: c.routing(rule)?,
            },
            ActionKind::Command => Kind::Command {
                command: c.required("command", &rule.command, k)?,
                params: c.params(&rule.params)?,
            },
        }))
    }

    /// Renders and checks the request for one event.
    pub fn render(&self, t: &Templates, ctx: &Context) -> Result<Request, Refusal> {
        let dlg = match &self.0 {
            Kind::EventNotify { uri, event, headers, routing } => {
                let uri = t.render(uri, ctx)?;
                let headers = parse_headers(&render_all(t, headers, ctx)?).map_err(invalid)?;
                let dlg = event::event_notify(&uri, &t.render(event, ctx)?, &headers);
                routing.apply(t, ctx, dlg.map_err(invalid)?)?
            }
            Kind::MwiUpdate { uri, account, counts, routing } => {
                let uri = t.render(uri, ctx)?;
                let counts = render_counts(t, counts, ctx)?;
                let dlg = mwi::mwi_update(&uri, &t.render(account, ctx)?, &counts);
                routing.apply(t, ctx, dlg.map_err(invalid)?)?
            }
            Kind::UacDlg { method, ruri, headers, body, routing } => {
                let headers = parse_headers(&render_all(t, headers, ctx)?).map_err(invalid)?;
                let mut dlg = UacDlg::new(t.render(method, ctx)?, t.render(ruri, ctx)?);
                dlg = dlg.headers(headers);
                if let Some(body) = body {
                    dlg = dlg.body(t.render(body, ctx)?);
                }
                routing.apply(t, ctx, dlg)?
            }
            Kind::Command { command, params } => return render_command(t, command, params, ctx),
        };
        let params = dlg.to_params().map_err(invalid)?;
        Ok(Request { method: crate::T_UAC_DLG.into(), params, target: dlg.ruri().to_owned() })
    }
}

impl Routing {
    fn apply(&self, t: &Templates, ctx: &Context, mut dlg: UacDlg) -> Result<UacDlg, Refusal> {
        if let Some(next_hop) = &self.next_hop {
            dlg = dlg.next_hop(t.render(next_hop, ctx)?);
        }
        if let Some(socket) = &self.socket {
            dlg = dlg.socket(t.render(socket, ctx)?);
        }
        Ok(dlg)
    }
}

fn invalid(error: Error) -> Refusal {
    match error {
        Error::InvalidInput(detail) => Refusal::new("invalid", detail),
        other => Refusal::new("invalid", other.to_string()),
    }
}

fn render_all(t: &Templates, names: &[String], ctx: &Context) -> Result<Vec<String>, Refusal> {
    names.iter().map(|name| t.render(name, ctx)).collect()
}

fn render_counts(
    t: &Templates,
    names: &[Option<String>; 4],
    ctx: &Context,
) -> Result<MessageCounts, Refusal> {
    let mut counts = [0u32; 4];
    for (count, name) in counts.iter_mut().zip(names) {
        if let Some(name) = name {
            let text = t.render(name, ctx)?;
            *count = text.trim().parse().map_err(|_| {
                Refusal::new("invalid", format!("{name}: {text:?} is not a message count"))
            })?;
        }
    }
    let [new, old, urgent_new, urgent_old] = counts;
    Ok(MessageCounts { new, old, urgent_new, urgent_old })
}

fn render_command(
    t: &Templates,
    command: &str,
    params: &ParamTemplates,
    ctx: &Context,
) -> Result<Request, Refusal> {
    let method = t.render(command, ctx)?;
    check_text(command, &method).map_err(invalid)?;
    let mut param = |p: &Param| -> Result<Value, Refusal> {
        match p {
            Param::Literal(value) => Ok(value.clone()),
            Param::Template(name) => {
                let text = t.render(name, ctx)?;
                check_text(name, &text).map_err(invalid)?;
                Ok(Value::String(text))
            }
        }
    };
    let params = match params {
        ParamTemplates::None => Params::None,
        ParamTemplates::Positional(list) => {
            Params::Positional(list.iter().map(&mut param).collect::<Result<_, _>>()?)
        }
        ParamTemplates::Named(members) => Params::Named(
            members
                .iter()
                .map(|(name, p)| Ok((name.clone(), param(p)?)))
                .collect::<Result<Map<_, _>, Refusal>>()?,
        ),
    };
    let target = format!("{method} {}", serde_json::to_string(&params).unwrap_or_default());
    Ok(Request { method, params, target })
}
