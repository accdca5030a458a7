//! The rules' templates and expressions, on minijinja with strict undefined: a template that
//! names something the message or the state does not have fails instead of rendering a hole.
//!
//! Everything is compiled when the plugin is built (so `ctiproxy check` reports a syntax error
//! with its rule and key) and evaluated per event. Templates reach the learnt CTI state through
//! functions, so a rule can walk from a voicemail to its owner and the owner's lines:
//!
//! - `lookup(list, id[, pbx])`: the object `{id, list, config, status}` or undefined;
//! - `find(list, field, value[, pbx])`: the first object (in id order) whose configuration's
//!   `field` equals `value` as text (`find('users', 'voicemailid', msg.tid)`), or undefined;
//! - `lines(user)`: the phone objects of a user's `linelist` (an unknown line is an error);
//! - `changed(path)`: whether the message changed `path` (`'status.new'`) of its object: true
//!   when the value differs from the one before, as text, or was not known before;
//! - `previous(path)`: that value before the message, or undefined.
//!
//! `pbx` defaults to the message's `tipbxid`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};

use super::state::CtiState;
use super::tally::Refusal;

/// The compiled templates and expressions of every rule.
pub struct Templates {
    env: Environment<'static>,
    expressions: HashMap<String, String>,
}

type Shared = Arc<Mutex<CtiState>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, CtiState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Templates {
    /// An environment whose functions read `state`.
    pub fn new(state: Shared) -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Rendered values go into SIP and MI text, never into HTML.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let s = state.clone();
        env.add_function(
            "lookup",
            move |st: &State, list: String, id: Value, pbx: Option<String>| {
                let id = id_of(&id, "lookup")?;
                let pbx = pbx.unwrap_or_else(|| current_pbx(st));
                Ok::<_, Error>(to_value(lock(&s).lookup(&pbx, &list, &id)))
            },
        );
        let s = state.clone();
        env.add_function(
            "find",
            move |st: &State, list: String, field: String, value: Value, pbx: Option<String>| {
                let value = id_of(&value, "find")?;
                let pbx = pbx.unwrap_or_else(|| current_pbx(st));
                Ok::<_, Error>(to_value(lock(&s).find(&pbx, &list, &field, &value)))
            },
        );
        env.add_function("lines", move |st: &State, user: Value| lines(&state, st, &user));
        env.add_function("changed", |st: &State, path: String| {
            let now = at_path(&st.lookup("obj").unwrap_or_default(), &path);
            let before = at_path(&st.lookup("prev").unwrap_or_default(), &path);
            let differs = before.is_undefined() || before.to_string() != now.to_string();
            Ok::<_, Error>(!now.is_undefined() && differs)
        });
        env.add_function("previous", |st: &State, path: String| {
            at_path(&st.lookup("prev").unwrap_or_default(), &path)
        });
        Templates { env, expressions: HashMap::new() }
    }

    /// Compiles a template under `name` (the config key it came from).
    pub fn add_template(&mut self, name: &str, source: &str) -> Result<(), String> {
        self.env.add_template_owned(name.to_owned(), source.to_owned()).map_err(|e| syntax(&e))
    }

    /// Checks an expression and keeps it under `name`.
    pub fn add_expression(&mut self, name: &str, source: &str) -> Result<(), String> {
        self.env.compile_expression(source).map_err(|e| syntax(&e))?;
        self.expressions.insert(name.to_owned(), source.to_owned());
        Ok(())
    }

    /// Renders a template; undefined values, errors and an empty result are refusals.
    pub fn render(&self, name: &str, context: &Value) -> Result<String, Refusal> {
        let template = self.env.get_template(name).expect("templates are added before use");
        let text = template.render(context).map_err(|e| refusal(name, template.source(), &e))?;
        if text.trim().is_empty() {
            return Err(Refusal::new("empty", format!("{name} renders empty")));
        }
        Ok(text)
    }

    /// Evaluates an expression; an undefined result is a refusal.
    pub fn eval(&self, name: &str, context: &Value) -> Result<Value, Refusal> {
        let source = &self.expressions[name];
        let expression = self.env.compile_expression(source.as_str()).expect("checked when added");
        let value = expression.eval(context).map_err(|e| refusal(name, source, &e))?;
        if value.is_undefined() {
            return Err(Refusal::new("undefined", format!("{name}: `{source}` is undefined")));
        }
        Ok(value)
    }
}

fn syntax(error: &Error) -> String {
    let detail = error.detail().map_or_else(|| error.kind().to_string(), str::to_owned);
    match error.line() {
        Some(line) if line > 1 => format!("template error on its line {line}: {detail}"),
        _ => format!("template error: {detail}"),
    }
}

/// Says which part of which template failed, e.g. `uri: undefined value at `item.config.x``.
fn refusal(name: &str, source: &str, error: &Error) -> Refusal {
    let detail = error.detail().map_or_else(|| error.kind().to_string(), str::to_owned);
    let at = error
        .range()
        .and_then(|range| enclosing(source, range))
        .map(|snippet| format!(" in `{snippet}`"))
        .unwrap_or_default();
    let reason = if error.kind() == ErrorKind::UndefinedError { "undefined" } else { "error" };
    Refusal::new(reason, format!("{name}: {detail}{at}"))
}

/// The whole `{{ … }}` or `{% … %}` around a failing span (minijinja points at the failing
/// attribute only, e.g. `.number`, which says little), or the span's expression itself.
fn enclosing(source: &str, range: std::ops::Range<usize>) -> Option<&str> {
    let before = source.get(..range.start)?;
    let after = source.get(range.end..)?;
    let open = ["{{", "{%"].iter().filter_map(|t| before.rfind(t).map(|i| i + 2)).max();
    let close = ["}}", "%}"].iter().filter_map(|t| after.find(t)).min();
    match (open, close) {
        (Some(start), Some(end)) => source.get(start..range.end + end).map(str::trim),
        _ => Some(source.trim()),
    }
}

fn to_value(object: Option<serde_json::Value>) -> Value {
    object.map_or(Value::UNDEFINED, Value::from_serialize)
}

fn current_pbx(state: &State) -> String {
    state.lookup("pbx").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// An id or value as text: `3` and `"3"` alike.
fn id_of(value: &Value, function: &str) -> Result<String, Error> {
    match value.kind() {
        ValueKind::String | ValueKind::Number => Ok(value.to_string()),
        ValueKind::Undefined => Err(Error::new(
            ErrorKind::UndefinedError,
            format!("{function}() was given an undefined value"),
        )),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{function}() needs a string or number, not {}", value.kind()),
        )),
    }
}

fn lines(state: &Shared, st: &State, user: &Value) -> Result<Value, Error> {
    let undefined = |what: String| Error::new(ErrorKind::UndefinedError, what);
    if user.is_undefined() {
        return Err(undefined("lines() was given an undefined user".into()));
    }
    let user_id = user.get_attr("id")?;
    let list = user.get_attr("config")?.get_attr("linelist")?;
    if list.is_undefined() || list.is_none() {
        return Err(undefined(format!("user {user_id} has no linelist")));
    }
    let pbx = current_pbx(st);
    let state = lock(state);
    let mut phones = Vec::new();
    for id in list.try_iter()? {
        let id = id_of(&id, "lines")?;
        let phone = state
            .lookup(&pbx, "phones", &id)
            .ok_or_else(|| undefined(format!("line {id} of user {user_id} is not known")))?;
        phones.push(Value::from_serialize(phone));
    }
    Ok(Value::from(phones))
}

/// The value at a dotted path, or undefined.
fn at_path(value: &Value, path: &str) -> Value {
    path.split('.')
        .try_fold(value.clone(), |v, segment| match v.get_attr(segment) {
            Ok(next) if !next.is_undefined() => Ok(next),
            _ => Err(()),
        })
        .unwrap_or(Value::UNDEFINED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;
    use serde_json::json;

    fn templates() -> Templates {
        let mut state = CtiState::new(100);
        for (list, tid, config) in [
            ("users", "4", json!({"voicemailid": 3, "linelist": ["8"]})),
            ("phones", "8", json!({"number": "1002"})),
            ("voicemails", "3", json!({"mailbox": "1002"})),
            ("users", "5", json!({"linelist": ["99"]})),
        ] {
            let m = json!({"class": "getlist", "function": "updateconfig", "listname": list,
                           "tipbxid": "xivo", "tid": tid, "config": config});
            state.learn(&m, "xivo", false);
        }
        Templates::new(Arc::new(Mutex::new(state)))
    }

    #[test]
    fn functions_walk_from_a_voicemail_to_the_line() {
        let mut t = templates();
        let src = "{% for l in lines(find('users', 'voicemailid', msg.tid)) %}{{ l.config.number }}{% endfor %}";
        t.add_template("uri", src).unwrap();
        let ctx = context!(pbx => "xivo", msg => context!(tid => 3));
        assert_eq!(t.render("uri", &ctx).unwrap(), "1002");
        let ctx = context!(pbx => "xivo", msg => context!(tid => "9"));
        let refused = t.render("uri", &ctx).unwrap_err();
        assert_eq!(refused.reason, "undefined", "{refused:?}");
    }

    #[test]
    fn undefined_and_empty_are_refused_with_what_was_missing() {
        let mut t = templates();
        t.add_template("uri", "sip:{{ msg.nope }}@x").unwrap();
        t.add_template("blank", "{{ msg.tid | default('') }} ").unwrap();
        let ctx = context!(pbx => "xivo", msg => context!(tid => "3"));
        let refused = t.render("uri", &ctx).unwrap_err();
        assert!(refused.detail.contains("msg.nope"), "{refused:?}");
        let ctx = context!(pbx => "xivo", msg => context!(x => 1));
        assert_eq!(t.render("blank", &ctx).unwrap_err().reason, "empty");
        t.add_template("lines", "{{ lines(lookup('users', '5')) }}").unwrap();
        let refused = t.render("lines", &ctx).unwrap_err();
        assert!(refused.detail.contains("line 99 of user 5 is not known"), "{refused:?}");
    }

    #[test]
    fn changed_compares_as_text() {
        let mut t = templates();
        t.add_expression("when", "changed('status.new')").unwrap();
        let obj = |new: serde_json::Value| Value::from_serialize(json!({"status": {"new": new}}));
        let eval = |now, prev: Value| t.eval("when", &context!(obj => obj(now), prev => prev));
        assert!(eval(json!("2"), Value::UNDEFINED).unwrap().is_true());
        assert!(eval(json!("2"), obj(json!("1"))).unwrap().is_true());
        assert!(!eval(json!("2"), obj(json!(2))).unwrap().is_true());
    }

    #[test]
    fn syntax_errors_are_found_when_compiling() {
        let mut t = templates();
        assert!(t.add_template("uri", "{{ msg.tid ").unwrap_err().contains("template error"));
        assert!(t.add_expression("when", "msg.tid ==").is_err());
    }
}
