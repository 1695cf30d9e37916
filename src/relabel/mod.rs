//! The Prometheus relabeling engine (semantics of Prometheus 2.42's
//! `model/relabel`): raw rule configs, validation, compilation, and
//! application to label sets.
//!
//! ```
//! use levee::labels::Labels;
//! use levee::relabel::{RelabelConfig, Rules};
//!
//! let rules = Rules::compile(&[RelabelConfig {
//!     source_labels: Some(vec!["__address__".into()]),
//!     regex: Some("([^:]+):\\d+".into()),
//!     target_label: Some("host".into()),
//!     ..Default::default()
//! }])
//! .unwrap();
//! let mut lb = Labels::from_pairs([("__address__", "web-1:9100")]).to_builder();
//! assert!(rules.process(&mut lb));
//! assert_eq!(lb.get("host"), "web-1");
//! ```
//!
//! See `docs/relabeling.md` for actions, defaults and validation rules.

mod action;
mod case;
mod config;
mod error;
mod finite;
mod names;
mod pattern;
mod process;
mod rule;
mod syntax;
mod template;

use std::sync::Arc;

pub use action::Action;
pub use config::RelabelConfig;
pub use error::RelabelError;
pub use names::{is_valid_label_name, is_valid_metric_name};
pub use rule::{DEFAULT_REGEX, DEFAULT_REPLACEMENT, DEFAULT_SEPARATOR};

use crate::labels::{Labels, LabelsBuilder};
use rule::Rule;

/// A compiled, validated list of relabel rules. Cheap to clone (shared).
/// The default (empty) list keeps every label set unchanged.
#[derive(Clone, Debug)]
pub struct Rules {
    rules: Arc<[Rule]>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            rules: Arc::from(Vec::new()),
        }
    }
}

impl Rules {
    /// Validates and compiles `configs` in order. The first invalid rule is
    /// reported with its position (0-based) and the offending field.
    pub fn compile(configs: &[RelabelConfig]) -> Result<Rules, RelabelError> {
        let rules = configs
            .iter()
            .enumerate()
            .map(|(i, c)| Rule::compile(i, c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rules {
            rules: rules.into(),
        })
    }

    /// True when there are no rules (processing is a no-op).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The action of each rule, in order.
    pub fn actions(&self) -> impl Iterator<Item = Action> + '_ {
        self.rules.iter().map(|r| r.action)
    }

    /// Applies the rules in order to `labels`. Returns false when a rule
    /// drops the label set (the target or series must be dropped); the
    /// builder then holds whatever the rules before it made.
    pub fn process(&self, labels: &mut LabelsBuilder) -> bool {
        if self.rules.is_empty() {
            return true;
        }
        process::process(&self.rules, labels)
    }

    /// Convenience form of [`Rules::process`]: the relabeled set, or `None`
    /// when dropped.
    pub fn apply(&self, labels: &Labels) -> Option<Labels> {
        let mut lb = labels.to_builder();
        self.process(&mut lb).then(|| lb.into_labels())
    }
}
