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
const SHELL: [&str; 12] = [
    "dataset",
    "disk",
    "partial",
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
        "proxy", "check", "filters", "pending", "tz", "record", "query", "results", "tables",
        "formula",
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
    // disk.rs opens, writes and removes the export's files for target.rs, state.rs and
    // partial.rs, dataset.rs a dataset's directory, lock.rs the locks; http/ only spools reply
    // bodies to temporary files it unlinks at once.
    let files = [
        "dataset", "disk", "http", "lock", "partial", "state", "target",
    ];
    assert_eq!(writers, BTreeSet::from(files.map(String::from)));
    // The pure core reads no clock and no environment.
    for pure in [
        "api", "columns", "rows", "window", "retry", "auth", "times", "urls", "export", "proxy",
        "check", "filters", "pending", "tz", "record", "query", "results", "tables", "formula",
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

/// Whether a file is compiled into test builds only (`#[cfg(test)] mod tests;` and the
/// driver's in-memory fake): it is not production code.
fn is_test_only(path: &Path) -> bool {
    let parent = path.parent().unwrap();
    let declared = |name: &str| {
        let module = path.file_stem().unwrap().to_string_lossy();
        ["mod.rs", "main.rs"].iter().any(|owner| {
            std::fs::read_to_string(parent.join(owner))
                .is_ok_and(|text| text.contains(&format!("#[cfg(test)]\n{name}mod {module};")))
        })
    };
    declared("") || declared("pub ") || declared("pub(crate) ")
}

/// Every production source file with its path and its code without unit tests.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") && !is_test_only(&path) {
                let text = std::fs::read_to_string(&path).unwrap();
                let tests = [
                    "#[cfg(test)]\nmod tests",
                    "#[cfg(test)]\npub(crate) mod tests",
                ];
                let code = match tests.iter().find_map(|t| text.find(t)) {
                    Some(at) => text[..at].to_string(),
                    None => text,
                };
                out.push((path.display().to_string(), code));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out.sort();
    out
}

/// A line's braces, opened minus closed, outside strings, characters and comments.
fn brace_balance(line: &str) -> i64 {
    let mut balance = 0;
    let mut chars = line.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => in_string = false,
            (true, _) => {}
            (false, '"') => in_string = true,
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, '\'') => {
                // A character literal ('{', '\'') or a lifetime ('a): skip a literal whole.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.nth(2);
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            (false, '{') => balance += 1,
            (false, '}') => balance -= 1,
            _ => {}
        }
    }
    balance
}

/// The functions of `code` longer than `max` lines: (name, first line, length).
fn long_functions(code: &str, max: usize) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut long = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(fn_at) = words.iter().position(|w| *w == "fn") else {
            continue;
        };
        let qualifiers = [
            "pub",
            "pub(crate)",
            "pub(super)",
            "const",
            "unsafe",
            "extern",
            "\"C\"",
            "\"system\"",
        ];
        if !words[..fn_at].iter().all(|w| qualifiers.contains(w)) || words.len() <= fn_at + 1 {
            continue;
        }
        let name: String = words[fn_at + 1]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened) = (0, false);
        for (n, body) in lines[at..].iter().enumerate() {
            let balance = brace_balance(body);
            opened |= body.contains('{');
            depth += balance;
            if !opened && body.trim_end().ends_with(';') {
                break;
            }
            if opened && depth <= 0 {
                if n + 1 > max {
                    long.push((name.clone(), at + 1, n + 1));
                }
                break;
            }
        }
    }
    long
}

#[test]
fn no_production_file_over_700_lines_and_no_function_over_60() {
    let mut problems = Vec::new();
    for (path, code) in sources() {
        let lines = code.lines().count();
        if lines > 700 {
            problems.push(format!(
                "{path}: {lines} lines of production code (at most 700)"
            ));
        }
        for (name, at, len) in long_functions(&code, 60) {
            problems.push(format!(
                "{path}:{at}: fn {name} is {len} lines (at most 60)"
            ));
        }
    }
    assert!(problems.is_empty(), "split these:\n{}", problems.join("\n"));
}

#[test]
fn the_length_rule_measures_functions_as_written() {
    let code =
        "fn a() {\n    let s = \"}\";\n    let c = '{';\n}\npub fn b(x: u8) -> u8 {\n    x\n}\n";
    assert_eq!(long_functions(code, 3), [("a".to_string(), 1, 4)]);
    assert!(long_functions(code, 4).is_empty());
    assert_eq!(brace_balance("let s = \"{\\\"}\"; // {"), 0);
    assert_eq!(brace_balance("fn f<'a>(x: &'a str) {"), 1);
}
