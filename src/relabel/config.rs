//! The relabel rule as written in YAML (`relabel_configs`,
//! `metric_relabel_configs`, `write_relabel_configs`): the raw serde form,
//! before validation and compilation.

use serde::Deserialize;

/// One relabel rule as written in a Prometheus config file. Every field is
/// optional in YAML; defaults are applied when the rule is compiled
/// (separator `;`, regex `(.*)`, replacement `$1`, action `replace`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` to form the input.
    #[serde(default)]
    pub source_labels: Option<Vec<String>>,
    /// Separator between joined source label values.
    #[serde(default)]
    pub separator: Option<String>,
    /// Label written by `replace`, `hashmod`, `lowercase`, `uppercase`, ….
    #[serde(default)]
    pub target_label: Option<String>,
    /// RE2-style regular expression, fully anchored when compiled.
    #[serde(default)]
    pub regex: Option<String>,
    /// Modulus for `hashmod`.
    #[serde(default)]
    pub modulus: Option<u64>,
    /// Replacement with `$1`/`${name}` references for `replace` and `labelmap`.
    #[serde(default)]
    pub replacement: Option<String>,
    /// The action name, e.g. `replace`, `keep`, `labeldrop`.
    #[serde(default)]
    pub action: Option<String>,
}
