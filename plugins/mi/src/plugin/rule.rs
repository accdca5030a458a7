//! One compiled rule: which messages it looks at (`match`, `direction`), whether it fires
//! (`when`), how many commands (`each`), what it sends (its [`Action`]) and how often (`cooldown`).

use std::sync::Arc;

use ctiproxy_plugin_api::index;
use ctiproxy_plugin_api::matcher::Matcher;
use ctiproxy_plugin_api::{ConfigError, Direction};
use minijinja::Value as Context;

use super::action::Action;
use super::settings::{seconds, DirectionFilter, RuleSettings};
use super::tally::Refusal;
use super::templates::Templates;

/// A rule ready to run.
#[derive(Debug)]
pub struct Rule {
    /// Its name.
    pub name: Arc<str>,
    matcher: Option<Matcher>,
    direction: DirectionFilter,
    when: Option<String>,
    each: Option<String>,
    /// What it sends.
    pub action: Action,
    /// Its cooldown in microseconds (0: none).
    pub cooldown_us: i64,
}

impl Rule {
    /// Compiles rule number `index`; errors name the key (`rules[1].when`).
    pub fn compile(
        index: usize,
        settings: &RuleSettings,
        templates: &mut Templates,
    ) -> Result<Rule, ConfigError> {
        let key = |name: &str| format!("rules[{index}].{name}");
        if settings.name.trim().is_empty() || settings.name.chars().any(char::is_control) {
            return Err(ConfigError::at(
                key("name"),
                "a rule needs a name (no control characters)",
            ));
        }
        let matcher = settings
            .conditions
            .as_ref()
            .map(|c| Matcher::from_setting(c).map_err(|e| ConfigError::at(key(&e.path), e.message)))
            .transpose()?;
        let mut expression = |name: &str, source: &Option<String>| {
            source
                .as_deref()
                .map(|s| {
                    templates
                        .add_expression(&key(name), s)
                        .map_err(|e| ConfigError::at(key(name), e))?;
                    Ok::<_, ConfigError>(key(name))
                })
                .transpose()
        };
        let when = expression("when", &settings.when)?;
        let each = expression("each", &settings.each)?;
        let cooldown = seconds(settings.cooldown, &key("cooldown"), true)?;
        Ok(Rule {
            name: settings.name.as_str().into(),
            matcher,
            direction: settings.direction,
            when,
            each,
            action: Action::compile(index, settings, templates)?,
            cooldown_us: i64::try_from(cooldown.as_micros()).unwrap_or(i64::MAX),
        })
    }

    /// Whether the rule looks at this message at all (cheap: no template is evaluated).
    pub fn looks_at(&self, message: index::Value<'_>, direction: Direction) -> bool {
        let direction_ok = match self.direction {
            DirectionFilter::Any => true,
            DirectionFilter::Client => direction == Direction::ClientToServer,
            DirectionFilter::Server => direction == Direction::ServerToClient,
        };
        direction_ok && self.matcher.iter().all(|m| m.matches_all_root(message))
    }

    /// Whether `when` holds (true without one).
    pub fn holds(&self, templates: &Templates, context: &Context) -> Result<bool, Refusal> {
        match &self.when {
            Some(name) => Ok(templates.eval(name, context)?.is_true()),
            None => Ok(true),
        }
    }

    /// The items of `each`, or `None` for a single command without `item`.
    pub fn items(
        &self,
        templates: &Templates,
        context: &Context,
    ) -> Result<Option<Vec<Context>>, Refusal> {
        let Some(name) = &self.each else {
            return Ok(None);
        };
        let value = templates.eval(name, context)?;
        let items = value
            .try_iter()
            .map_err(|e| Refusal::new("error", format!("{name}: not a list ({e})")))?;
        Ok(Some(items.collect()))
    }
}
