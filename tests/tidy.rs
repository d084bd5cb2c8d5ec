//! Tidy checks over the sources: the layering rule of ARCHITECTURE.md, checked on every
//! `make test` so that a forbidden import fails the build instead of waiting for a review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name → the source text without its unit tests; a module that is a folder
/// (`src/export/`) is the text of all its files.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let files: Vec<_> = if path.is_dir() {
            let inner = std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path());
            inner
                .filter(|p| p.extension().is_some_and(|e| e == "rs"))
                .collect()
        } else if path.extension().is_some_and(|e| e == "rs") {
            vec![path.clone()]
        } else {
            continue;
        };
        let mut code = String::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            code.push_str(match text.find("#[cfg(test)]\nmod tests") {
                Some(at) => &text[..at],
                None => &text,
            });
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        modules.insert(name, code);
    }
    modules
}

/// The crate modules each module refers to (`crate::x` anywhere in its code).
fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    modules
        .iter()
        .map(|(name, code)| {
            let used = code
                .match_indices("crate::")
                .filter_map(|(at, _)| {
                    let rest = &code[at + "crate::".len()..];
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    let target = &rest[..end];
                    (modules.contains_key(target) && target != name).then(|| target.to_string())
                })
                .collect();
            (name.clone(), used)
        })
        .collect()
}

/// The modules that use `word` in their non-test code.
fn users_of(modules: &BTreeMap<String, String>, word: &str) -> Vec<String> {
    modules
        .iter()
        .filter(|(_, code)| code.contains(word))
        .map(|(name, _)| name.clone())
        .collect()
}

#[test]
fn imports_point_one_way() {
    let graph = imports(&modules());
    // Depth-first search for a cycle, reporting its path.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            panic!("import cycle: {} -> {node}", path[at..].join(" -> "));
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in &graph[node] {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_driver_imports_no_adapter_and_the_core_no_shell() {
    let graph = imports(&modules());
    let check = |module: &str, forbidden: &[&str]| {
        for f in forbidden {
            assert!(
                !graph[module].contains(*f),
                "{module}.rs imports {f}.rs, which the layering rule forbids"
            );
        }
    };
    let shell = [
        "http", "genesys", "state", "target", "dataset", "cli", "main",
    ];
    check("export", &shell);
    for pure in [
        "api", "columns", "rows", "window", "retry", "auth", "times", "urls", "sink", "exit",
        "proxy", "check", "filters", "pending", "record", "query", "results", "tables",
    ] {
        check(pure, &shell);
        check(pure, &["export", "report", "signal"]);
    }
    for leaf in ["window", "times", "urls", "exit", "crash"] {
        assert!(
            graph[leaf].iter().all(|m| m == "times" || m == "exit"),
            "{leaf}.rs is a leaf but imports {:?}",
            graph[leaf]
        );
    }
}

#[test]
fn one_module_owns_ureq_and_three_write_files() {
    let modules = modules();
    assert_eq!(users_of(&modules, "ureq::"), ["http"]);
    let writers: BTreeSet<String> = [
        "OpenOptions",
        "File::create",
        "fs::write",
        "fs::rename",
        "fs::remove_file",
        "fs::hard_link",
    ]
    .iter()
    .flat_map(|w| users_of(&modules, w))
    .collect();
    // target.rs, state.rs and partial.rs write the export's files, dataset.rs a dataset's
    // directory; http.rs only spools reply bodies to temporary files it unlinks at once.
    assert_eq!(
        writers,
        BTreeSet::from([
            "dataset".to_string(),
            "http".to_string(),
            "partial".to_string(),
            "state".to_string(),
            "target".to_string()
        ])
    );
    // The pure core reads no clock and no environment.
    for pure in [
        "api", "columns", "rows", "window", "retry", "auth", "times", "urls", "export", "proxy",
        "check", "filters", "pending", "record", "query", "results", "tables",
    ] {
        let code = &modules[pure];
        for impure in [
            "now_utc()",
            "Instant::now()",
            "std::env::",
            "SystemTime::now()",
            "current_dir",
            "path::absolute",
        ] {
            assert!(!code.contains(impure), "{pure}.rs uses {impure}");
        }
    }
}
