//! Allow and deny rules: the first rule matching a call's groups, method
//! and path decides it; the configured default decides the rest.

use crate::config::{Effect, PolicyConfig, RuleConfig};

/// What the policy says about one call, and which rule said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub effect: Effect,
    /// The deciding rule's name; `None` when the default decided.
    pub rule: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    default: Effect,
    rules: Vec<RuleConfig>,
}

impl Policy {
    pub fn new(config: &PolicyConfig) -> Policy {
        Policy {
            default: config.default,
            rules: config
                .rules
                .iter()
                .map(|rule| RuleConfig {
                    paths: rule
                        .paths
                        .iter()
                        .map(|pattern| crate::path::fold(pattern))
                        .collect(),
                    ..rule.clone()
                })
                .collect(),
        }
    }

    /// The decision for a canonical path (see [`crate::path`]); patterns
    /// and path are compared ignoring ASCII case.
    pub fn decide(&self, groups: &[String], method: &str, path: &str) -> Decision {
        let path = crate::path::fold(path);
        for rule in &self.rules {
            let group_ok =
                rule.groups.is_empty() || rule.groups.iter().any(|group| groups.contains(group));
            let method_ok = rule.methods.is_empty()
                || rule
                    .methods
                    .iter()
                    .any(|wanted| wanted == "*" || wanted.eq_ignore_ascii_case(method));
            let path_ok =
                rule.paths.is_empty() || rule.paths.iter().any(|pattern| wildcard(pattern, &path));
            if group_ok && method_ok && path_ok {
                return Decision {
                    effect: rule.effect,
                    rule: Some(rule.name.clone()),
                };
            }
        }
        Decision {
            effect: self.default,
            rule: None,
        }
    }
}

/// `*` matches any run of characters (`/` included), everything else
/// itself. Iterative with one backtrack point, so no pattern is slow.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&byte| byte == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        name: &str,
        effect: Effect,
        groups: &[&str],
        methods: &[&str],
        paths: &[&str],
    ) -> RuleConfig {
        let owned = |items: &[&str]| items.iter().map(|item| (*item).to_owned()).collect();
        RuleConfig {
            name: name.to_owned(),
            effect,
            groups: owned(groups),
            methods: owned(methods),
            paths: owned(paths),
        }
    }

    #[test]
    fn agents_are_read_only() {
        let policy = Policy::new(&PolicyConfig {
            default: Effect::Deny,
            rules: vec![
                rule(
                    "agents-no-delete",
                    Effect::Deny,
                    &["agents"],
                    &["DELETE"],
                    &["*"],
                ),
                rule("agents-read", Effect::Allow, &["agents"], &["GET"], &[]),
                rule(
                    "agents-search",
                    Effect::Allow,
                    &["agents"],
                    &["POST"],
                    &["*/search"],
                ),
                rule("humans", Effect::Allow, &["sre"], &[], &[]),
            ],
        });
        let agents = ["agents".to_owned()];
        let allowed = |method, path| policy.decide(&agents, method, path).effect == Effect::Allow;
        assert!(allowed("GET", "/api/v1/monitor"));
        assert!(allowed("POST", "/api/v2/logs/events/search"));
        assert!(!allowed("POST", "/api/v2/logs"));
        assert!(!allowed("POST", "/api/v2/logs/events/search/x"));
        let denied = policy.decide(&agents, "DELETE", "/api/v1/dashboard/abc");
        assert_eq!(denied.rule.as_deref(), Some("agents-no-delete"));
        assert_eq!(
            policy.decide(&["sre".to_owned()], "DELETE", "/x").effect,
            Effect::Allow
        );
        assert_eq!(
            policy.decide(&[], "GET", "/x"),
            Decision {
                effect: Effect::Deny,
                rule: None
            }
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", ""));
        assert!(wildcard("/api/*/search", "/api/v2/logs/events/search"));
        assert!(!wildcard("/api/*/search", "/api/v2/logs/events/searches"));
        assert!(wildcard("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!wildcard("/v1", "/v1/x"));
        let long = "a".repeat(10_000);
        assert!(!wildcard("*a*a*a*a*a*b", &long));
    }
}
