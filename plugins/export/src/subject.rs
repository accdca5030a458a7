//! The subject template (`cti.{pbx}.{direction}.{class}`): parsed once, its fixed part
//! (literal text, `{pbx}`, `{proxy}`) rendered once per session, the rest per record.
//!
//! A value put into a subject is sanitised so that it stays one token: anything but ASCII
//! letters, digits, `-` and `_` becomes `_` (a server address `10.0.0.5:5003` becomes
//! `10_0_0_5_5003`), since `.` would split the token, `*` and `>` are wildcards and spaces end
//! the subject.

use async_nats::Subject;

/// A placeholder of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The PBX: the `pbx` setting or the session's server address.
    Pbx,
    /// The proxy's identity.
    Proxy,
    /// `client`, `server`, or `session` for start and end records.
    Direction,
    /// The message's class, `none` without one, `start` or `end` for session records.
    Class,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        match name {
            "pbx" => Some(Field::Pbx),
            "proxy" => Some(Field::Proxy),
            "direction" => Some(Field::Direction),
            "class" => Some(Field::Class),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Field(Field),
}

/// A parsed subject template.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
    source: String,
}

/// The values of one record's placeholders (not yet sanitised).
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// `{pbx}`.
    pub pbx: &'a str,
    /// `{proxy}`.
    pub proxy: &'a str,
    /// `{direction}`.
    pub direction: &'a str,
    /// `{class}`.
    pub class: &'a str,
}

/// A template with one session's `{pbx}` and `{proxy}` filled in: literal text runs, and the
/// per-record fields.
#[derive(Debug, Clone)]
pub struct SessionTemplate {
    parts: Vec<Part>,
}

impl SessionTemplate {
    /// The subject of one record of the session.
    pub fn render(&self, direction: &str, class: &str) -> Subject {
        let mut out = String::with_capacity(64);
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(Field::Class) => push_token(&mut out, class),
                Part::Field(_) => push_token(&mut out, direction),
            }
        }
        Subject::from(out)
    }
}

impl Template {
    /// The template for one session: `{pbx}` and `{proxy}` rendered once.
    pub fn for_session(&self, pbx: &str, proxy: &str) -> SessionTemplate {
        let mut parts: Vec<Part> = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            let fixed = match part {
                Part::Text(text) => Some(text.clone()),
                Part::Field(Field::Pbx | Field::Proxy) => {
                    let mut token = String::new();
                    let value = if let Part::Field(Field::Pbx) = part { pbx } else { proxy };
                    push_token(&mut token, value);
                    Some(token)
                }
                Part::Field(_) => None,
            };
            match (fixed, parts.last_mut()) {
                (Some(text), Some(Part::Text(last))) => last.push_str(&text),
                (Some(text), _) => parts.push(Part::Text(text)),
                (None, _) => parts.push(part.clone()),
            }
        }
        SessionTemplate { parts }
    }

    /// Parses `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .ok_or_else(|| format!("{text:?}: '{{' without '}}'"))?;
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let name = &rest[open + 1..close];
            let field = Field::parse(name).ok_or_else(|| {
                format!(
                    "{text:?}: unknown placeholder {{{name}}} (use pbx, proxy, direction, class)"
                )
            })?;
            parts.push(Part::Field(field));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        let template = Template { parts, source: text.to_owned() };
        template.check_literal_text()?;
        Ok(template)
    }

    /// The literal text must make a valid subject with placeholders standing for one token each.
    fn check_literal_text(&self) -> Result<(), String> {
        let sample = self.render(&Values { pbx: "p", proxy: "p", direction: "d", class: "c" });
        let bad = |c: char| c.is_whitespace() || c.is_control() || c == '*' || c == '>';
        if sample.is_empty()
            || sample.split('.').any(|token| token.is_empty() || token.contains(bad))
        {
            return Err(format!(
                "{:?} is not a subject: tokens separated by '.', none empty, without spaces or \
                 the wildcards '*' and '>'",
                self.source
            ));
        }
        Ok(())
    }

    /// The subject of a record.
    pub fn render(&self, values: &Values<'_>) -> String {
        let mut out = String::with_capacity(64);
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(field) => push_token(&mut out, values.get(*field)),
            }
        }
        out
    }

    /// The subjects every rendering matches: each token holding a placeholder becomes `*`
    /// (for a stream created by the plugin).
    pub fn wildcard(&self) -> String {
        // Tokens as (literal text, holds a placeholder), split on the literal dots.
        let mut tokens = vec![(String::new(), false)];
        for part in &self.parts {
            match part {
                Part::Field(_) => tokens.last_mut().expect("never empty").1 = true,
                Part::Text(text) => {
                    let mut pieces = text.split('.');
                    tokens.last_mut().expect("never empty").0.push_str(pieces.next().unwrap_or(""));
                    tokens.extend(pieces.map(|piece| (piece.to_owned(), false)));
                }
            }
        }
        let tokens: Vec<&str> =
            tokens.iter().map(|(text, field)| if *field { "*" } else { text.as_str() }).collect();
        tokens.join(".")
    }
}

impl Values<'_> {
    fn get(&self, field: Field) -> &str {
        match field {
            Field::Pbx => self.pbx,
            Field::Proxy => self.proxy,
            Field::Direction => self.direction,
            Field::Class => self.class,
        }
    }
}

/// Appends `value` as a safe subject token (`_` for an empty value).
pub fn push_token(out: &mut String, value: &str) {
    if value.is_empty() {
        out.push('_');
    }
    for c in value.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: Values<'static> =
        Values { pbx: "10.0.0.5:5003", proxy: "edge 1", direction: "client", class: "getlist" };

    #[test]
    fn the_default_template_renders_one_token_per_value() {
        let template = Template::parse("cti.{pbx}.{direction}.{class}").unwrap();
        assert_eq!(template.render(&VALUES), "cti.10_0_0_5_5003.client.getlist");
        assert_eq!(template.wildcard(), "cti.*.*.*");
    }

    #[test]
    fn a_session_template_renders_as_the_template() {
        for text in ["cti.{pbx}.{direction}.{class}", "a.{proxy}-{pbx}.{class}.x{direction}y", "z"]
        {
            let template = Template::parse(text).unwrap();
            let session = template.for_session(VALUES.pbx, VALUES.proxy);
            let subject = session.render(VALUES.direction, VALUES.class);
            assert_eq!(&*subject, template.render(&VALUES), "{text}");
        }
    }

    #[test]
    fn wildcards_and_empty_values_cannot_escape_their_token() {
        let template = Template::parse("x.{class}").unwrap();
        let values = Values { class: "a.*>b c", ..VALUES };
        assert_eq!(template.render(&values), "x.a___b_c");
        assert_eq!(template.render(&Values { class: "", ..VALUES }), "x._");
    }

    #[test]
    fn a_placeholder_inside_a_token_makes_the_whole_token_a_wildcard() {
        let template = Template::parse("cti.pbx-{pbx}.{proxy}.all").unwrap();
        assert_eq!(template.render(&VALUES), "cti.pbx-10_0_0_5_5003.edge_1.all");
        assert_eq!(template.wildcard(), "cti.*.*.all");
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        for (text, reason) in [
            ("cti.{nope}", "unknown placeholder {nope}"),
            ("cti.{pbx", "without"),
            ("cti..{pbx}", "is not a subject"),
            ("cti.*.{pbx}", "is not a subject"),
            ("cti.>", "is not a subject"),
            ("cti {pbx}", "is not a subject"),
            ("", "is not a subject"),
            (".{pbx}", "is not a subject"),
        ] {
            let error = Template::parse(text).unwrap_err();
            assert!(error.contains(reason), "{text:?}: {error}");
        }
    }
}
