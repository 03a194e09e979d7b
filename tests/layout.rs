//! The module layout of ARCHITECTURE.md: dependencies between the top-level modules of
//! `src/` point one way. A module names another with `crate::NAME`; no chain of such names
//! may come back to where it started (`cli`, `main.rs` and `lib.rs` aside, which sit on top).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules each top-level module names.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("src/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        if ["lib", "main", "cli"].contains(&name.as_str()) {
            continue;
        }
        let mut files = Vec::new();
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            files.push(path.clone());
        }
        let deps = graph.entry(name.clone()).or_default();
        for f in files {
            let text = std::fs::read_to_string(&f).expect("source file");
            for (i, _) in text.match_indices("crate::") {
                let rest = &text[i + "crate::".len()..];
                let target: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !target.is_empty() && target != name {
                    deps.insert(target);
                }
            }
        }
    }
    graph
}

#[test]
fn top_level_modules_import_each_other_one_way() {
    let graph = edges();
    assert!(graph.contains_key("cluster") && graph.contains_key("serving"));
    // Depth-first search for a path from each module back to itself.
    for start in graph.keys() {
        let mut stack: Vec<Vec<&str>> = vec![vec![start.as_str()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = *path.last().expect("non-empty path");
            for next in graph.get(last).into_iter().flatten() {
                assert!(
                    next != start,
                    "import cycle: {} -> {next}",
                    path.join(" -> ")
                );
                if seen.insert(next.as_str()) {
                    let mut p = path.clone();
                    p.push(next);
                    stack.push(p);
                }
            }
        }
    }
}

#[test]
fn units_and_the_kernel_stand_alone() {
    let graph = edges();
    assert_eq!(
        graph["units"],
        BTreeSet::new(),
        "units names nothing of ours"
    );
    let kernel: Vec<&String> = graph["engine"].iter().collect();
    assert_eq!(kernel, ["units"], "the kernel names only units");
    // The cluster knows nothing of what runs in its pods.
    for above in [
        "serving", "control", "training", "sim", "scenario", "report", "sweep",
    ] {
        assert!(!graph["cluster"].contains(above), "cluster -> {above}");
    }
}
