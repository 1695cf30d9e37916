//! Errors from compiling relabel rules. Each names the rule's position in
//! its list (0-based, like a YAML sequence index) and the offending field.

/// A relabel rule that Prometheus 2.42 would reject, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    /// `action` is not one of the known actions.
    #[error("relabel rule {index}: unknown action {action:?}")]
    UnknownAction {
        /// Rule position.
        index: usize,
        /// The action as written.
        action: String,
    },
    /// A `source_labels` entry is not a valid label name.
    #[error("relabel rule {index}: source_labels[{position}] {name:?} is not a valid label name")]
    InvalidSourceLabel {
        /// Rule position.
        index: usize,
        /// Position inside `source_labels`.
        position: usize,
        /// The name as written.
        name: String,
    },
    /// `regex` does not compile.
    #[error("relabel rule {index}: invalid regex {regex:?}: {message}")]
    InvalidRegex {
        /// Rule position.
        index: usize,
        /// The regex as written.
        regex: String,
        /// What is wrong with it.
        message: String,
    },
    /// `hashmod` without a modulus.
    #[error("relabel rule {index}: action \"hashmod\" requires modulus")]
    MissingModulus {
        /// Rule position.
        index: usize,
    },
    /// `hashmod` with `modulus: 0`.
    #[error("relabel rule {index}: action \"hashmod\" requires a non-zero modulus, got 0")]
    ZeroModulus {
        /// Rule position.
        index: usize,
    },
    /// An action that writes a label has no `target_label`.
    #[error("relabel rule {index}: action {action:?} requires target_label")]
    MissingTargetLabel {
        /// Rule position.
        index: usize,
        /// Canonical action name.
        action: &'static str,
    },
    /// `target_label` is not a valid label name (or, for `replace`, not a
    /// valid label name template with `$` references).
    #[error(
        "relabel rule {index}: target_label {target_label:?} is not a valid label name for action {action:?}"
    )]
    InvalidTargetLabel {
        /// Rule position.
        index: usize,
        /// Canonical action name.
        action: &'static str,
        /// The target label as written.
        target_label: String,
    },
    /// `labelmap`'s `replacement` is not a valid label name template.
    #[error(
        "relabel rule {index}: replacement {replacement:?} is not a valid label name template for action \"labelmap\""
    )]
    InvalidReplacement {
        /// Rule position.
        index: usize,
        /// The replacement as written.
        replacement: String,
    },
    /// A field the action does not take is set.
    #[error("relabel rule {index}: field {field} must not be set for action {action:?} ({reason})")]
    FieldNotAllowed {
        /// Rule position.
        index: usize,
        /// Canonical action name.
        action: &'static str,
        /// The offending field.
        field: &'static str,
        /// Which fields the action takes instead.
        reason: &'static str,
    },
}

impl RelabelError {
    /// The 0-based position of the rule at fault in its list.
    pub fn index(&self) -> usize {
        match self {
            RelabelError::UnknownAction { index, .. }
            | RelabelError::InvalidSourceLabel { index, .. }
            | RelabelError::InvalidRegex { index, .. }
            | RelabelError::MissingModulus { index }
            | RelabelError::ZeroModulus { index }
            | RelabelError::MissingTargetLabel { index, .. }
            | RelabelError::InvalidTargetLabel { index, .. }
            | RelabelError::InvalidReplacement { index, .. }
            | RelabelError::FieldNotAllowed { index, .. } => *index,
        }
    }

    /// The config field at fault (`action`, `regex`, `target_label` …).
    pub fn field(&self) -> &'static str {
        match self {
            RelabelError::UnknownAction { .. } => "action",
            RelabelError::InvalidSourceLabel { .. } => "source_labels",
            RelabelError::InvalidRegex { .. } => "regex",
            RelabelError::MissingModulus { .. } | RelabelError::ZeroModulus { .. } => "modulus",
            RelabelError::MissingTargetLabel { .. } | RelabelError::InvalidTargetLabel { .. } => {
                "target_label"
            }
            RelabelError::InvalidReplacement { .. } => "replacement",
            RelabelError::FieldNotAllowed { field, .. } => field,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{RelabelConfig, Rules};

    #[test]
    fn index_and_field_point_at_the_fault() {
        let configs = [
            RelabelConfig {
                source_labels: Some(vec!["a".into()]),
                target_label: Some("b".into()),
                ..Default::default()
            },
            RelabelConfig {
                action: Some("hashmod".into()),
                target_label: Some("s".into()),
                ..Default::default()
            },
        ];
        let err = Rules::compile(&configs).unwrap_err();
        assert_eq!((err.index(), err.field()), (1, "modulus"));
        assert_eq!(
            err.to_string(),
            "relabel rule 1: action \"hashmod\" requires modulus"
        );
    }
}
