//! `${VAR}` in config strings, expanded from the environment: a levee
//! extension so that one config serves every node of a DaemonSet (the
//! kubelet URL `https://${NODE_IP}:10250/pods`, a selector
//! `spec.nodeName=${NODE_NAME}` with the downward API). Used only where the
//! docs say a key expands (docs/configuration.md).
//!
//! `${NAME}` is replaced by the variable's value, NAME being
//! `[A-Za-z_][A-Za-z0-9_]*`; `$$` is a literal `$`; any other `$` stays as
//! written. A variable that is unset or empty is an error naming it: an
//! empty node name would select the wrong pods rather than none.

use thiserror::Error;

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvError {
    /// `${NAME}` names a variable that is not set.
    #[error("environment variable {name} is not set")]
    Unset {
        /// The variable.
        name: String,
    },
    /// `${NAME}` names a variable set to the empty string.
    #[error("environment variable {name} is empty")]
    Empty {
        /// The variable.
        name: String,
    },
    /// `${` without its `}`.
    #[error("`${{` at byte {at} has no closing `}}`")]
    Unclosed {
        /// Byte offset of the `$`.
        at: usize,
    },
    /// `${…}` holding something that is not a variable name.
    #[error("{name:?} in `${{…}}` is not a variable name")]
    BadName {
        /// What was written between the braces.
        name: String,
    },
}

/// Expands `${NAME}` in `text` from the process environment.
pub fn expand_env(text: &str) -> Result<String, EnvError> {
    expand_with(text, |name| std::env::var(name).ok())
}

/// Expands `${NAME}` in `text` with `lookup` giving each variable's value.
pub fn expand_with(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, EnvError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let at = text.len() - rest.len() + i;
            let end = tail.find('}').ok_or(EnvError::Unclosed { at })?;
            let name = &tail[..end];
            if !is_name(name) {
                return Err(EnvError::BadName { name: name.into() });
            }
            match lookup(name) {
                None => return Err(EnvError::Unset { name: name.into() }),
                Some(v) if v.is_empty() => return Err(EnvError::Empty { name: name.into() }),
                Some(v) => out.push_str(&v),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "NODE_IP" => Some("127.0.0.2".into()),
            "NODE_NAME" => Some("node-a".into()),
            "BLANK" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_braced_names_and_leaves_the_rest() {
        let cases = [
            (
                "https://${NODE_IP}:10250/pods",
                "https://127.0.0.2:10250/pods",
            ),
            ("spec.nodeName=${NODE_NAME}", "spec.nodeName=node-a"),
            ("${NODE_NAME}${NODE_IP}", "node-a127.0.0.2"),
            ("no variables", "no variables"),
            ("cost $5 and $$NODE_IP", "cost $5 and $NODE_IP"),
            ("trailing $", "trailing $"),
            ("$NODE_IP unbraced", "$NODE_IP unbraced"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(expand_with(text, env).as_deref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let cases = [
            (
                "https://${MISSING}:1",
                EnvError::Unset {
                    name: "MISSING".into(),
                },
            ),
            (
                "${BLANK}",
                EnvError::Empty {
                    name: "BLANK".into(),
                },
            ),
            ("ab${NODE_IP", EnvError::Unclosed { at: 2 }),
            (
                "${}",
                EnvError::BadName {
                    name: String::new(),
                },
            ),
            ("${9X}", EnvError::BadName { name: "9X".into() }),
            ("${A-B}", EnvError::BadName { name: "A-B".into() }),
        ];
        for (text, want) in cases {
            assert_eq!(expand_with(text, env), Err(want), "{text}");
        }
        assert_eq!(
            expand_with("${MISSING}", env).unwrap_err().to_string(),
            "environment variable MISSING is not set"
        );
    }

    #[test]
    fn the_process_environment_is_read() {
        // PATH is set wherever the tests run.
        assert_eq!(expand_env("${PATH}"), Ok(std::env::var("PATH").unwrap()));
    }
}
