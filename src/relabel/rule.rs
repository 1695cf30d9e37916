//! Validation of one raw [`RelabelConfig`] with Prometheus 2.42's rules and
//! its compilation into a [`Rule`]: defaults applied, regex anchored and
//! analysed, templates parsed.

use super::action::Action;
use super::config::RelabelConfig;
use super::error::RelabelError;
use super::names::{is_valid_label_name, is_valid_label_template};
use super::pattern::Pattern;
use super::template::Template;

/// Default `separator`.
pub const DEFAULT_SEPARATOR: &str = ";";
/// Default `regex`.
pub const DEFAULT_REGEX: &str = "(.*)";
/// Default `replacement`.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// A validated rule with defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub action: Action,
    pub source_labels: Box<[Box<str>]>,
    pub separator: Box<str>,
    pub pattern: Pattern,
    /// `target_label` as written (`""` when absent).
    pub target_label: Box<str>,
    /// `target_label` parsed as a template (`replace` only).
    pub target: Template,
    /// `replacement` parsed as a template (`replace`, `labelmap`).
    pub replacement: Template,
    /// `modulus` (`hashmod` only; non-zero there).
    pub modulus: u64,
}

const ONLY_EQUAL: &str = "it takes only source_labels and target_label";
const ONLY_REGEX: &str = "it takes only regex";
const NO_REPLACEMENT: &str = "it does not use replacement";

impl Rule {
    /// Validates and compiles the rule at position `index`.
    pub(crate) fn compile(index: usize, c: &RelabelConfig) -> Result<Rule, RelabelError> {
        use Action::*;
        let action = match c.action.as_deref() {
            None => Replace,
            Some(a) => Action::parse(a).ok_or_else(|| RelabelError::UnknownAction {
                index,
                action: a.to_string(),
            })?,
        };
        let name = action.name();
        let source_labels = c.source_labels.as_deref().unwrap_or_default();
        if let Some((position, bad)) = source_labels
            .iter()
            .enumerate()
            .find(|(_, n)| !is_valid_label_name(n))
        {
            return Err(RelabelError::InvalidSourceLabel {
                index,
                position,
                name: bad.clone(),
            });
        }
        let regex = c.regex.as_deref().unwrap_or(DEFAULT_REGEX);
        let pattern = Pattern::new(regex).map_err(|message| RelabelError::InvalidRegex {
            index,
            regex: regex.to_string(),
            message,
        })?;
        let separator = c.separator.as_deref().unwrap_or(DEFAULT_SEPARATOR);
        let replacement = c.replacement.as_deref().unwrap_or(DEFAULT_REPLACEMENT);
        let target_label = c.target_label.as_deref().unwrap_or_default();
        let modulus = c.modulus.unwrap_or(0);

        if action == HashMod {
            match c.modulus {
                None => return Err(RelabelError::MissingModulus { index }),
                Some(0) => return Err(RelabelError::ZeroModulus { index }),
                Some(_) => {}
            }
        }
        let writes = matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if writes && target_label.is_empty() {
            return Err(RelabelError::MissingTargetLabel {
                index,
                action: name,
            });
        }
        // Prometheus 2.42 accepts `$` templates in target_label for every
        // action but hashmod, though only replace expands them.
        let target_ok = match action {
            Replace | Lowercase | Uppercase | KeepEqual | DropEqual => {
                is_valid_label_template(target_label)
            }
            HashMod => is_valid_label_name(target_label),
            _ => true,
        };
        if !target_ok {
            return Err(RelabelError::InvalidTargetLabel {
                index,
                action: name,
                target_label: target_label.to_string(),
            });
        }
        let not_allowed = |field, reason| RelabelError::FieldNotAllowed {
            index,
            action: name,
            field,
            reason,
        };
        let replacement_set = replacement != DEFAULT_REPLACEMENT;
        if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual) && replacement_set {
            let reason = if matches!(action, KeepEqual | DropEqual) {
                ONLY_EQUAL
            } else {
                NO_REPLACEMENT
            };
            return Err(not_allowed("replacement", reason));
        }
        if action == LabelMap && !is_valid_label_template(replacement) {
            return Err(RelabelError::InvalidReplacement {
                index,
                replacement: replacement.to_string(),
            });
        }
        if matches!(action, KeepEqual | DropEqual) {
            if c.regex.is_some() {
                return Err(not_allowed("regex", ONLY_EQUAL));
            }
            if modulus != 0 {
                return Err(not_allowed("modulus", ONLY_EQUAL));
            }
            if separator != DEFAULT_SEPARATOR {
                return Err(not_allowed("separator", ONLY_EQUAL));
            }
        }
        if matches!(action, LabelDrop | LabelKeep) {
            let field = if c.source_labels.is_some() {
                Some("source_labels")
            } else if !target_label.is_empty() {
                Some("target_label")
            } else if modulus != 0 {
                Some("modulus")
            } else if separator != DEFAULT_SEPARATOR {
                Some("separator")
            } else if replacement_set {
                Some("replacement")
            } else {
                None
            };
            if let Some(field) = field {
                return Err(not_allowed(field, ONLY_REGEX));
            }
        }

        let target = if action == Replace {
            Template::parse(target_label, &pattern)
        } else {
            Template::parse("", &pattern)
        };
        Ok(Rule {
            action,
            source_labels: source_labels
                .iter()
                .map(|s| Box::from(s.as_str()))
                .collect(),
            separator: separator.into(),
            target,
            replacement: Template::parse(replacement, &pattern),
            pattern,
            target_label: target_label.into(),
            modulus,
        })
    }
}
