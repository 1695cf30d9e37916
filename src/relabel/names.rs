//! Label and metric name validity with Prometheus' legacy character set
//! (`[a-zA-Z_][a-zA-Z0-9_]*` for labels, `[a-zA-Z_:][a-zA-Z0-9_:]*` for
//! metric names), as `model.LabelName.IsValid` and
//! `model.IsValidMetricName` check them.

/// True when `s` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// True when `s` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// True when `s` is a valid `target_label` template for `replace` or a
/// valid `replacement` for `labelmap`: Prometheus' pattern
/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$` with ASCII `\w`. In words:
/// a non-empty sequence of letters, `_`, digits and `$name` / `${name}`
/// references, where a digit may not come first.
pub(crate) fn is_valid_label_template(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    let mut started = false;
    while i < b.len() {
        let c = b[i];
        if c == b'$' {
            if b.get(i + 1) == Some(&b'{') {
                let start = i + 2;
                let mut j = start;
                while j < b.len() && word(b[j]) {
                    j += 1;
                }
                if j == start || b.get(j) != Some(&b'}') {
                    return false;
                }
                i = j + 1;
            } else {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && word(b[j]) {
                    j += 1;
                }
                if j == start {
                    return false;
                }
                i = j;
            }
            started = true;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            started = true;
            i += 1;
        } else if c.is_ascii_digit() && started {
            i += 1;
        } else {
            return false;
        }
    }
    started
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names() {
        for ok in ["a", "_", "__name__", "A9_z", "_1"] {
            assert!(is_valid_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a:b", "é", "a b", "a.b"] {
            assert!(!is_valid_label_name(bad), "{bad}");
        }
    }

    #[test]
    fn metric_names() {
        for ok in ["up", ":a", "a:b_c", "_x9"] {
            assert!(is_valid_metric_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a.b", "ü"] {
            assert!(!is_valid_metric_name(bad), "{bad}");
        }
    }

    #[test]
    fn label_templates() {
        for ok in ["a", "${1}abc", "$1", "a$1", "$name_x", "x${a}y$b", "_9"] {
            assert!(is_valid_label_template(ok), "{ok}");
        }
        for bad in ["", "1abc", "a-$1", "$", "${}", "${1", "a$", "$-", "${a-b}"] {
            assert!(!is_valid_label_template(bad), "{bad}");
        }
    }
}
