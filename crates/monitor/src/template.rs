//! Monitor messages: Datadog's template variables and conditional blocks,
//! and the `@handle`s a rendered message notifies.
//!
//! - `{{value}}`, `{{threshold}}`, `{{warn_threshold}}`, `{{last_triggered_at}}`,
//!   `{{monitor.name}}`, and a group's values by their field,
//!   `{{usr.email.name}}` (or `{{@usr.email.name}}`, `{{usr.email}}`);
//! - `{{#is_alert}}…{{/is_alert}}` and its negation `{{^is_alert}}…{{/is_alert}}`
//!   for `is_alert`, `is_warning`, `is_no_data`, `is_recovery`,
//!   `is_alert_recovery`, `is_warning_recovery`, `is_renotify`;
//! - unknown variables render empty, as Datadog renders them.

use std::collections::BTreeMap;

/// What a message is rendered with.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub variables: BTreeMap<String, String>,
    pub flags: BTreeMap<&'static str, bool>,
}

/// The condition flags Datadog's messages know.
pub const FLAGS: &[&str] = &[
    "is_alert",
    "is_warning",
    "is_no_data",
    "is_recovery",
    "is_alert_recovery",
    "is_warning_recovery",
    "is_renotify",
];

/// A template that cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{{{{#{0}}}}} is not closed by {{{{/{0}}}}}")]
    Unclosed(String),
    #[error("{{{{/{0}}}}} closes nothing")]
    Unopened(String),
    #[error("unknown condition {{{{#{0}}}}}: {known}", known = FLAGS.join(", "))]
    UnknownFlag(String),
    #[error("a '{{{{' is not closed by '}}}}'")]
    Unterminated,
}

enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
    Open { name: &'a str, negated: bool },
    Close(&'a str),
}

fn pieces(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        pieces.push(Piece::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unterminated)?;
        let tag = after[..end].trim();
        pieces.push(if let Some(name) = tag.strip_prefix('#') {
            Piece::Open {
                name: name.trim(),
                negated: false,
            }
        } else if let Some(name) = tag.strip_prefix('^') {
            Piece::Open {
                name: name.trim(),
                negated: true,
            }
        } else if let Some(name) = tag.strip_prefix('/') {
            Piece::Close(name.trim())
        } else {
            Piece::Variable(tag)
        });
        rest = &after[end + 2..];
    }
    pieces.push(Piece::Text(rest));
    Ok(pieces)
}

/// Checks a template's blocks without rendering it.
pub fn check(template: &str) -> Result<(), TemplateError> {
    render(template, &Context::default()).map(|_| ())
}

/// Renders `template` with `context`.
pub fn render(template: &str, context: &Context) -> Result<String, TemplateError> {
    let mut output = String::new();
    // Open blocks: name, and whether their content shows.
    let mut open: Vec<(&str, bool)> = Vec::new();
    for piece in pieces(template)? {
        let shown = open.iter().all(|(_, shown)| *shown);
        match piece {
            Piece::Text(text) => {
                if shown {
                    output.push_str(text);
                }
            }
            Piece::Variable(name) => {
                if shown {
                    let name = name.strip_prefix('@').unwrap_or(name);
                    let value = context.variables.get(name).or_else(|| {
                        name.strip_suffix(".name")
                            .and_then(|base| context.variables.get(base))
                    });
                    if let Some(value) = value {
                        output.push_str(value);
                    }
                }
            }
            Piece::Open { name, negated } => {
                if !FLAGS.contains(&name) {
                    return Err(TemplateError::UnknownFlag(name.to_owned()));
                }
                let flag = context.flags.get(name).copied().unwrap_or(false);
                open.push((name, flag != negated));
            }
            Piece::Close(name) => match open.pop() {
                Some((opened, _)) if opened == name => {}
                Some((opened, _)) => return Err(TemplateError::Unclosed(opened.to_owned())),
                None => return Err(TemplateError::Unopened(name.to_owned())),
            },
        }
    }
    if let Some((name, _)) = open.pop() {
        return Err(TemplateError::Unclosed(name.to_owned()));
    }
    Ok(output)
}

/// The `@handle`s a rendered message names, in order, once each:
/// `@slack-secops`, `@pagerduty-oncall`, `@webhook-name`,
/// `@alice@example.com`.
pub fn handles(message: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut previous = ' ';
    for (index, c) in message.char_indices() {
        if c == '@' && (previous.is_whitespace() || "([{,;:".contains(previous)) {
            let rest = &message[index + 1..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || "-_.@+".contains(c)))
                .unwrap_or(rest.len());
            let handle = rest[..end].trim_end_matches(['.', '-']);
            if !handle.is_empty() && !found.iter().any(|known| known == handle) {
                found.push(handle.to_owned());
            }
        }
        previous = c;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(flag: &'static str) -> Context {
        let mut context = Context::default();
        context.variables.insert("value".into(), "12".into());
        context
            .variables
            .insert("usr.email".into(), "bob@example.com".into());
        context.flags.insert(flag, true);
        context
    }

    #[test]
    fn conditional_blocks_and_variables() -> Result<(), TemplateError> {
        let template = "{{#is_alert}}spike {{value}} by {{usr.email.name}} @pagerduty-oncall{{/is_alert}}{{#is_recovery}}back to normal{{/is_recovery}}{{^is_alert}} (not alert){{/is_alert}} {{unknown}}@slack-secops";
        assert_eq!(
            render(template, &context("is_alert"))?,
            "spike 12 by bob@example.com @pagerduty-oncall @slack-secops"
        );
        assert_eq!(
            render(template, &context("is_recovery"))?,
            "back to normal (not alert) @slack-secops"
        );
        assert_eq!(
            render("{{ @usr.email }}", &context("is_alert"))?,
            "bob@example.com"
        );
        Ok(())
    }

    #[test]
    fn broken_blocks_are_refused() {
        assert_eq!(
            check("{{#is_alert}}x"),
            Err(TemplateError::Unclosed("is_alert".into()))
        );
        assert_eq!(
            check("x{{/is_alert}}"),
            Err(TemplateError::Unopened("is_alert".into()))
        );
        assert_eq!(
            check("{{#is_party}}x{{/is_party}}"),
            Err(TemplateError::UnknownFlag("is_party".into()))
        );
        assert_eq!(check("{{value"), Err(TemplateError::Unterminated));
        assert_eq!(
            check("{{#is_alert}}{{#is_warning}}{{/is_alert}}{{/is_warning}}"),
            Err(TemplateError::Unclosed("is_warning".into()))
        );
    }

    #[test]
    fn handles_are_found_once_each() {
        assert_eq!(
            handles(
                "Spiking 12 @slack-secops @pagerduty-oncall, mail @alice@example.com. again @slack-secops; not a@b"
            ),
            vec!["slack-secops", "pagerduty-oncall", "alice@example.com"]
        );
    }
}
