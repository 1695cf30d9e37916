//! Config errors: each problem names the key path and the line and column
//! it was written at; a file with several problems reports them all (as far
//! as decoding got).

use std::fmt;
use std::path::PathBuf;

use super::de::DecodeError;
use super::yaml::{Node, Origin, Pos, SyntaxError};

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid YAML.
    #[error("YAML syntax error: {message}{}", at(pos))]
    Syntax {
        /// The parser's message.
        message: String,
        /// Where, when known.
        pos: Option<Pos>,
    },
    /// Valid YAML, but not a valid or supported levee config.
    #[error("{}", ProblemList(problems))]
    Invalid {
        /// Every problem found, in file order of discovery.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems, for `Invalid`; empty for other kinds.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems } => problems,
            _ => &[],
        }
    }
}

impl From<SyntaxError> for ConfigError {
    fn from(e: SyntaxError) -> Self {
        ConfigError::Syntax {
            message: e.message,
            pos: e.pos,
        }
    }
}

fn at(pos: &Option<Pos>) -> String {
    pos.map(|p| format!(" ({p})")).unwrap_or_default()
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems in config:", many.len())?;
                for p in many {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// What a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A key levee does not know (a typo, or not a Prometheus key).
    UnknownKey,
    /// A Prometheus key or section levee does not implement yet.
    NotSupported,
    /// A value of the wrong type or form, or a missing required key.
    Invalid,
    /// A file named in the config (secret, certificate) could not be read.
    File,
}

/// One problem in a config: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The key path, e.g. `scrape_configs[0].static_configs[0].targets`.
    pub path: String,
    /// Where it was written (and defined, when through an alias or merge).
    pub origin: Option<Origin>,
    /// What is wrong.
    pub message: String,
    /// A suggestion.
    pub hint: Option<String>,
}

impl Problem {
    /// A problem at `path`, located in `root`.
    pub fn at(
        kind: ProblemKind,
        path: &ConfigPath,
        root: &Node,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            kind,
            path: path.to_string(),
            origin: path.locate(root),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a suggestion.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }

    /// The line, when known.
    pub fn line(&self) -> Option<u64> {
        self.origin.and_then(|o| o.at).map(|p| p.line)
    }
}

impl From<DecodeError> for Problem {
    fn from(e: DecodeError) -> Self {
        let kind = if e.message == "unknown key" {
            ProblemKind::UnknownKey
        } else {
            ProblemKind::Invalid
        };
        Problem {
            kind,
            path: e.path.unwrap_or_default(),
            origin: e.origin,
            message: e.message,
            hint: e.hint,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(origin) = self.origin
            && let Some(at) = origin.at
        {
            write!(f, " ({at}")?;
            if let Some(defined) = origin.defined {
                write!(f, ", defined at line {}", defined.line)?;
            }
            f.write_str(")")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

/// A key path built during validation; it can find its node in the tree.
#[derive(Debug, Clone, Default)]
pub struct ConfigPath(Vec<Seg>);

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

impl ConfigPath {
    /// The document root.
    pub fn root() -> ConfigPath {
        ConfigPath(Vec::new())
    }

    /// This path extended by a mapping key.
    pub fn key(&self, key: &str) -> ConfigPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_owned()));
        p
    }

    /// This path extended by a sequence index.
    pub fn index(&self, index: usize) -> ConfigPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(index));
        p
    }

    /// Where the deepest existing node on this path was written; a final
    /// key points at the key itself.
    pub fn locate(&self, root: &Node) -> Option<Origin> {
        let mut node = root;
        let mut found = node.origin;
        for seg in &self.0 {
            let next = match seg {
                Seg::Key(k) => {
                    if let Some(key) = node.key(k) {
                        found = key.origin;
                    }
                    node.get(k)
                }
                Seg::Index(i) => match &node.value {
                    super::yaml::Value::Seq(items) => items.get(*i),
                    _ => None,
                },
            };
            match next {
                Some(n) => {
                    node = n;
                    if matches!(seg, Seg::Index(_)) {
                        found = n.origin;
                    }
                }
                None => break,
            }
        }
        found.at.map(|_| found)
    }
}

impl fmt::Display for ConfigPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}
