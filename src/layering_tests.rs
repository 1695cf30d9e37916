//! Checks that dependencies between levee's top-level modules point one way,
//! as `docs/architecture.md` draws them: every module may use only modules
//! of a lower layer. It reads the `crate::…` paths in the non-test code of
//! each module (comments, `#[cfg(test)]` tails and `*tests.rs` files are
//! skipped) and names every path that points up or sideways.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, top first. A module may use the modules of the layers below
/// its own and nothing of its own layer but itself. Keep this table and the
/// picture in `docs/architecture.md` the same.
const LAYERS: &[&[&str]] = &[
    // Wiring of `levee run`.
    &["agent"],
    // The HTTP server: reads what the layers below expose.
    &["web"],
    // Producers and consumers of samples, independent of each other; the
    // benchmark load generator beside them.
    &["scrape", "remote", "receiver", "loadgen"],
    // Service discovery: target groups for the scrape manager.
    &["discovery"],
    // Every outgoing HTTP client: TLS, auth, proxies.
    &["http_client"],
    // Prometheus YAML, compiled.
    &["config"],
    // Series budgets.
    &["guard"],
    // The pipeline's vocabulary, relabeling, storage, synthetic bodies.
    &["pipeline", "relabel", "tsdb", "synth"],
    // Series keys (over label sets).
    &["series_key"],
    // Encoders, parsers and the smallest shared types.
    &["exposition", "labels", "selfmon", "value", "proto"],
    // LEB128 varints (label sets and the WAL are written with them).
    &["varint"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules named by `crate::` paths in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        // `$crate::` and identifiers ending in `crate` are not paths of ours.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::X, b}`: the first segment of every item.
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// The non-test code of one file, without comments.
fn production_code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("read src dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.file_name().is_some_and(|n| n == "tests") {
                continue;
            }
            rust_files(&p, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs")
        && !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with("tests.rs"))
    {
        out.push(path.to_path_buf());
    }
}

#[test]
fn module_dependencies_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&src).expect("read src") {
        let path = entry.expect("dir entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if matches!(stem, "lib" | "main" | "bin" | "layering_tests") {
            continue;
        }
        if path.is_file() && path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let Some(own) = layer_of(stem) else {
            violations.push(format!(
                "module `{stem}` is in no layer: add it to LAYERS and docs/architecture.md"
            ));
            continue;
        };
        seen.insert(stem.to_string());
        let mut files = Vec::new();
        rust_files(&path, &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source file");
            for used in crate_paths(&production_code(&text)) {
                if used == stem {
                    continue;
                }
                match layer_of(&used) {
                    Some(l) if l > own => {}
                    Some(_) => violations.push(format!(
                        "{}: `{stem}` uses `crate::{used}`, which is not below it",
                        file.strip_prefix(&src).unwrap_or(&file).display()
                    )),
                    None => {}
                }
            }
        }
    }
    for layer in LAYERS {
        for m in *layer {
            if *m != "proto" && !seen.contains(*m) {
                violations.push(format!("LAYERS names `{m}`, which src/ does not have"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "dependencies against the layers:\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn crate_paths_are_read_from_use_lines_and_groups() {
    let code = "use crate::labels::Labels;\nuse crate::{guard::X, tsdb};\nlet a = $crate::x; mycrate::y;\n";
    let got: Vec<String> = crate_paths(code).into_iter().collect();
    assert_eq!(got, ["guard", "labels", "tsdb"]);
    assert_eq!(
        production_code("a // crate::web\n#[cfg(test)]\nuse crate::web;\n"),
        "a \n"
    );
}
