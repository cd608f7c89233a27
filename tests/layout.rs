//! The shape of the code: no two sibling modules of `src/` use each other, directly or through
//! others (each module's job and boundary stay readable, and a module can be understood from
//! those below it). References are `use crate::..`, `use super::..` and inline `crate::a::b`
//! paths outside test modules.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module path of a source file, e.g. `src/wal/scan.rs` -> ["wal", "scan"].
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Edges between sibling modules, by their parent: (parent, from, to).
fn sibling_edges(root: &Path) -> BTreeMap<Vec<String>, BTreeSet<(String, String)>> {
    let path_re = regex::Regex::new(r"\b(crate|super)((?:::\w+)+)").unwrap();
    // An inline test module ends a file's code; `mod tests;` (a file of its own) does not.
    let tests_re = regex::Regex::new(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod tests\s*\{").unwrap();
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut edges: BTreeMap<Vec<String>, BTreeSet<(String, String)>> = BTreeMap::new();
    for file in files {
        let me = module_of(root, &file);
        let text = std::fs::read_to_string(&file).unwrap();
        let code = tests_re.split(&text).next().unwrap_or_default();
        for m in path_re.captures_iter(code) {
            let segs: Vec<String> = m[2].split("::").skip(1).map(String::from).collect();
            // `super` in a/b.rs and in a/b/mod.rs is a.
            let target: Vec<String> = if &m[1] == "crate" {
                segs
            } else {
                me[..me.len().saturating_sub(1)].iter().cloned().chain(segs).collect()
            };
            let common = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common < me.len() && common < target.len() {
                edges.entry(me[..common].to_vec()).or_default().insert((me[common].clone(), target[common].clone()));
            }
        }
    }
    edges
}

/// A cycle through `from`, if the graph has one.
fn cycle_from(graph: &BTreeMap<&str, Vec<&str>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from, vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(node).into_iter().flatten() {
            if *next == from {
                return Some(path.iter().cloned().chain([from.to_string()]).collect());
            }
            if seen.insert(*next) {
                stack.push((next, path.iter().cloned().chain([next.to_string()]).collect()));
            }
        }
    }
    None
}

#[test]
fn no_two_modules_of_src_use_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = sibling_edges(&root);
    assert!(edges.get(&Vec::new()).is_some_and(|e| e.contains(&("server".into(), "recorder".into()))), "edges found");
    let mut cycles = Vec::new();
    for (parent, pairs) in &edges {
        let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (a, b) in pairs {
            graph.entry(a).or_default().push(b);
        }
        for node in graph.keys() {
            if let Some(c) = cycle_from(&graph, node) {
                cycles.push(format!(
                    "crate{}: {}",
                    parent.iter().map(|p| format!("::{p}")).collect::<String>(),
                    c.join(" -> ")
                ));
            }
        }
    }
    assert!(cycles.is_empty(), "modules that use each other:\n{}", cycles.join("\n"));
}
