//! Tidy checks over the sources: the layering rule of ARCHITECTURE.md, checked on every
//! `make test` so that a forbidden import fails the build instead of waiting for a review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name → the source text without its unit tests. A module in a folder is named by its
/// path (`export::query` for `src/export/query.rs`); `src/x/mod.rs` is `x`.
fn modules() -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    collect(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        "",
        &mut modules,
    );
    modules
}

fn collect(dir: &Path, prefix: &str, modules: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            collect(&path, &format!("{prefix}{stem}::"), modules);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]\nmod tests") {
                Some(at) => text[..at].to_string(),
                None => text,
            };
            let name = match stem.as_str() {
                "mod" => prefix.trim_end_matches("::").to_string(),
                _ => format!("{prefix}{stem}"),
            };
            modules.insert(name, code);
        }
    }
}

/// The module paths `code` names after `crate::`, a grouped import (`use crate::{a, b::c}`)
/// naming each of its members.
fn crate_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let (mut depth, mut member) = (0, String::new());
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => paths.push(std::mem::take(&mut member)),
                        _ => member.push(c),
                    }
                }
                paths.push(member);
            }
            None => paths.push(rest.to_string()),
        }
    }
    paths
        .iter()
        .map(|p| {
            let p = p.trim_start();
            let end = p
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(p.len());
            p[..end].trim_end_matches(':').to_string()
        })
        .collect()
}

/// The crate modules each module refers to: every path it names after `crate::` names the
/// longest module path it starts with (so a folder's modules are named by their paths, never
/// through a re-export).
fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    modules
        .iter()
        .map(|(name, code)| {
            let used: BTreeSet<String> = crate_paths(code)
                .into_iter()
                .filter_map(|path| {
                    let mut target = path.as_str();
                    while !modules.contains_key(target) {
                        target = &target[..target.rfind("::")?];
                    }
                    (target != name).then(|| target.to_string())
                })
                .collect();
            (name.clone(), used)
        })
        .collect()
}

#[test]
fn grouped_imports_name_each_module() {
    let code = "use crate::{a::B, c, d::{e, f}};\nlet x = crate::g::h();";
    assert_eq!(crate_paths(code), ["a::B", "c", "d::e", "g::h"]);
}

/// The top-level modules (a folder counts as one) that use `word` in their non-test code.
fn users_of(modules: &BTreeMap<String, String>, word: &str) -> Vec<String> {
    let users: BTreeSet<String> = modules
        .iter()
        .filter(|(_, code)| code.contains(word))
        .map(|(name, _)| top(name).to_string())
        .collect();
    users.into_iter().collect()
}

/// The top-level module a module belongs to: `export` for `export::query`.
fn top(name: &str) -> &str {
    name.split("::").next().unwrap_or(name)
}

/// Whether `module` is `name` or one of the modules in its folder.
fn within(module: &str, name: &str) -> bool {
    module == name
        || module
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// The shell: the modules that touch the network, files, the process or the command line.
/// `pending::file` is the ledger's file; the rest of `pending` is pure.
const SHELL: [&str; 9] = [
    "http",
    "genesys",
    "state",
    "target",
    "cli",
    "main",
    "lock",
    "own_files",
    "pending::file",
];

/// The modules `name` stands for in a layering rule: itself and its folder's modules, less
/// those of the shell.
fn members<'a>(modules: impl Iterator<Item = &'a String>, name: &str) -> Vec<String> {
    modules
        .filter(|m| within(m, name) && (SHELL.contains(&name) || !SHELL.contains(&m.as_str())))
        .cloned()
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
        // The modules of one folder may refer to each other: the folder is one unit.
        for next in graph[node].iter().filter(|next| top(next) != top(node)) {
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
    let check = |name: &str, forbidden: &[&str]| {
        for module in members(graph.keys(), name) {
            for used in &graph[&module] {
                assert!(
                    !forbidden.iter().any(|f| within(used, f)),
                    "{module} imports {used}, which the layering rule forbids"
                );
            }
        }
    };
    check("export", &SHELL);
    for pure in [
        "api", "columns", "rows", "window", "retry", "auth", "times", "urls", "sink", "exit",
        "proxy", "check", "filters", "pending", "tz", "record", "query", "results", "formula",
    ] {
        check(pure, &SHELL);
        check(pure, &["export", "report", "signal"]);
    }
    for leaf in ["window", "times", "urls", "exit", "crash", "tz", "formula"] {
        assert!(
            graph[leaf]
                .iter()
                .all(|m| ["times", "exit", "tz"].contains(&m.as_str())),
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
    // target.rs and state.rs write the export's files, lock.rs its locks; http/ only spools
    // reply bodies to temporary files it unlinks at once.
    assert_eq!(
        writers,
        BTreeSet::from(["http", "lock", "state", "target"].map(String::from))
    );
    // The pure core reads no clock and no environment.
    for pure in [
        "api", "columns", "rows", "window", "retry", "auth", "times", "urls", "export", "proxy",
        "check", "filters", "pending", "tz", "record", "query", "results", "formula",
    ] {
        let code: String = members(modules.keys(), pure)
            .iter()
            .map(|m| modules[m].as_str())
            .collect();
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
