//! The import rules of ARCHITECTURE.md, checked against the sources: every `crate::…` path
//! in `src/**/*.rs` (outside comments and the test modules at the end of a file) names the
//! top-level module it depends on. The graph written in ARCHITECTURE.md must list every edge
//! the code has, and the written rules must hold.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The pipeline core, in stage order: a stage imports only earlier ones.
const CORE: &[&str] = &["domain", "aftersales", "quality", "knowledge", "understand", "retrieve", "decide", "engine"];

/// The top-level module a file belongs to (`src/store/tickets.rs` → `store`); none for the
/// crate root and the binary.
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// The code of a file without comments and without its trailing test module.
fn code_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().trim_start_matches("pub(crate) ").starts_with("mod "))
        .unwrap_or(lines.len());
    lines[..end].iter().copied().filter(|l| !l.trim_start().starts_with("//")).collect()
}

/// The modules named by `crate::name` paths in `line`, `use crate::{a, b}` included.
fn named_modules(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let before = rest[..at].chars().last();
        // `smartreply_crate::x` or a longer identifier ending in `crate` is not this crate.
        if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
            if let Some(group) = after.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                out.extend(inner.split(',').filter_map(|p| p.trim().split("::").next()).filter(|s| !s.is_empty()).map(String::from));
            } else {
                let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                out.push(name);
            }
        }
        rest = after;
    }
    out
}

fn collect(dir: &Path, root: &Path, graph: &mut Graph) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, root, graph);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let Some(module) = module_of(path.strip_prefix(root).expect("below src")) else { continue };
        let text = std::fs::read_to_string(&path).expect("a readable source file");
        let edges = graph.entry(module.clone()).or_default();
        for line in code_lines(&text) {
            for name in named_modules(line) {
                if name != module && !name.is_empty() && name != "self" {
                    edges.insert(name);
                }
            }
        }
    }
}

/// The import graph of the sources.
fn actual() -> Graph {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = Graph::new();
    collect(&root, &root, &mut graph);
    graph
}

/// The graph written in ARCHITECTURE.md: the lines `module -> a, b` (or `-> (nothing)`).
fn written() -> Graph {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut graph = Graph::new();
    for line in doc.lines() {
        let Some((module, targets)) = line.split_once("->") else { continue };
        let module = module.trim();
        if module.is_empty() || !module.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        let edges = graph.entry(module.to_string()).or_default();
        for target in targets.split(',').map(str::trim).filter(|t| !t.is_empty() && *t != "(nothing)") {
            edges.insert(target.to_string());
        }
    }
    graph
}

fn importers_of<'a>(graph: &'a Graph, target: &str) -> BTreeSet<&'a str> {
    graph.iter().filter(|(_, edges)| edges.contains(target)).map(|(m, _)| m.as_str()).collect()
}

#[test]
fn every_import_between_modules_is_written_in_architecture_md() {
    let (actual, written) = (actual(), written());
    let mut unwritten = Vec::new();
    for (module, edges) in &actual {
        for target in edges {
            if !written.get(module).is_some_and(|w| w.contains(target)) {
                unwritten.push(format!("{module} -> {target}"));
            }
        }
    }
    assert!(unwritten.is_empty(), "imports missing from ARCHITECTURE.md's graph: {unwritten:?}");
}

#[test]
fn the_pipeline_core_imports_only_earlier_stages() {
    let graph = actual();
    for (stage, module) in CORE.iter().enumerate() {
        for target in graph.get(*module).into_iter().flatten() {
            let earlier = CORE[..stage].contains(&target.as_str());
            assert!(earlier, "{module} imports {target}: the core imports only earlier stages");
        }
    }
}

#[test]
fn only_the_application_layer_joins_storage_and_delivery_to_the_rest() {
    let graph = actual();
    // `server` starts the store; `deliver` builds payloads from stored rows.
    let store: BTreeSet<&str> = ["app", "deliver", "server"].into();
    assert!(importers_of(&graph, "store").is_subset(&store), "store imported by {:?}", importers_of(&graph, "store"));
    for lower in ["store", "deliver", "chatwoot", "learn", "config"] {
        let edges = graph.get(lower).cloned().unwrap_or_default();
        for upper in ["app", "http"] {
            assert!(!edges.contains(upper), "{lower} imports {upper}");
        }
    }
}

#[test]
fn http_reaches_storage_only_through_the_use_cases() {
    let graph = actual();
    let allowed: BTreeSet<&str> = ["aftersales", "app", "console", "domain", "ingest", "quality"].into();
    for target in graph.get("http").into_iter().flatten() {
        assert!(allowed.contains(target.as_str()), "http imports {target}");
    }
}

#[test]
fn no_circle_joins_the_top_level_modules() {
    let graph = actual();
    // Depth-first search; a module met again while still on the path closes a circle.
    fn visit<'a>(graph: &'a Graph, module: &'a str, path: &mut Vec<&'a str>, done: &mut BTreeSet<&'a str>) {
        if let Some(at) = path.iter().position(|m| *m == module) {
            panic!("import circle: {}", path[at..].join(" -> ") + " -> " + module);
        }
        if !done.insert(module) {
            return;
        }
        path.push(module);
        for next in graph.get(module).into_iter().flatten() {
            visit(graph, next, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(&graph, module, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_reader_sees_what_it_should() {
    // The checks above read what they claim to: the files that import the store are found.
    assert_eq!(named_modules("use crate::store::{Store, StoreError};"), ["store"]);
    assert_eq!(named_modules("use crate::{domain::Lang, engine::Engine};"), ["domain", "engine"]);
    assert_eq!(code_lines("use crate::a;\n// crate::b\n#[cfg(test)]\nmod tests {\nuse crate::c;\n}"), ["use crate::a;"]);
    assert!(importers_of(&actual(), "store").contains("app"));
}

/// The store's files by layer (ARCHITECTURE.md, "The store"): the core every file may use, the
/// aggregates (one table family each) that use only the core, and the jobs that combine
/// aggregates in one transaction. `mod.rs` is the core's façade and re-exports from all.
const STORE_CORE: &[&str] = &["mod", "writer", "batch", "committer", "lanes", "horizon", "migrate", "events", "queue"];
const STORE_AGGREGATES: &[&str] = &["messages", "rescore", "tickets", "cases", "quality", "outbox", "chatwoot", "gaps"];
const STORE_JOBS: &[&str] = &["inbound", "agent"];

/// The store files named by `super::file` and `crate::store::file` paths in `line` (a group
/// `super::{a, b}` names the files among its members).
fn store_files_named(line: &str) -> Vec<String> {
    let known = |name: &str| STORE_CORE.iter().chain(STORE_AGGREGATES).chain(STORE_JOBS).any(|f| *f == name);
    let mut out = Vec::new();
    for prefix in ["super::", "crate::store::"] {
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let names: Vec<&str> = match after.strip_prefix('{') {
                Some(group) => {
                    group.split('}').next().unwrap_or("").split(',').map(|p| p.trim().split("::").next().unwrap_or("")).collect()
                }
                None => vec![after.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")],
            };
            out.extend(names.into_iter().filter(|n| known(n)).map(String::from));
            rest = after;
        }
    }
    out
}

/// Each store file (by stem; `batch/grouped.rs` belongs to `batch`) and the store files it uses.
fn store_graph() -> Graph {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut graph = Graph::new();
    let mut files = vec![(dir.join("batch/grouped.rs"), "batch".to_string())];
    for entry in std::fs::read_dir(&dir).expect("src/store is readable") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("a file name").to_string();
            files.push((path, stem));
        }
    }
    for (path, stem) in files {
        let text = std::fs::read_to_string(&path).expect("a readable source file");
        let edges = graph.entry(stem.clone()).or_default();
        for name in code_lines(&text).into_iter().flat_map(store_files_named) {
            if name != stem {
                edges.insert(name);
            }
        }
    }
    graph
}

#[test]
fn store_aggregates_use_only_the_core_and_jobs_combine_them() {
    let graph = store_graph();
    for (file, uses) in &graph {
        let layer = |f: &str| {
            if STORE_CORE.contains(&f) {
                0
            } else if STORE_AGGREGATES.contains(&f) {
                1
            } else if STORE_JOBS.contains(&f) {
                2
            } else {
                panic!("src/store/{f}.rs is in no layer of ARCHITECTURE.md's store section")
            }
        };
        for used in uses {
            // The core uses only the core, an aggregate only the core, a job the two below it.
            let allowed = match layer(file) {
                0 | 1 => layer(used) == 0,
                _ => layer(used) < 2,
            };
            assert!(allowed, "src/store/{file}.rs uses {used}, against the store's layers");
        }
    }
    assert!(graph["inbound"].contains("messages") && graph["quality"].contains("queue"), "the reader finds the store's edges");
    assert_eq!(store_files_named("use super::{queue::ReplyOf, Store, tickets};"), ["queue", "tickets"]);
    assert_eq!(store_files_named("crate::store::outbox::Delivery"), ["outbox"]);
}
