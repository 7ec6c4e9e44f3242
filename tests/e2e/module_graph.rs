//! No import circles (issue 15): no two modules of a crate that lie side by side, at any
//! depth, import each other, directly or round a longer loop. Read from the sources: every
//! `crate::`, `super::` and `self::` path outside test modules (`use` groups expanded) is
//! resolved to the deepest module it names; a path from module A into module B, neither
//! inside the other, is an edge between the two children of their common parent that hold
//! them. A module's own children and parent are not a circle (a parent declares them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

type Module = Vec<String>;

/// Module path -> its source file, test-only modules (`#[cfg(test)] mod name;`) left out.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut mods = BTreeMap::new();
    for e in walkdir::WalkDir::new(src) {
        let e = e.unwrap();
        if e.path().extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let rel = e.path().strip_prefix(src).unwrap().with_extension("");
        let mut parts: Module = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        if parts == ["lib"] || parts == ["main"] {
            parts.clear();
        }
        mods.insert(parts, e.path().to_path_buf());
    }
    let decl =
        Regex::new(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_0-9]+)\s*;").unwrap();
    let mut test_only = BTreeSet::new();
    for (m, f) in &mods {
        let text = std::fs::read_to_string(f).unwrap();
        for c in decl.captures_iter(&text) {
            let mut t = m.clone();
            t.push(c[1].to_string());
            test_only.insert(t);
        }
    }
    mods.retain(|m, _| !(1..=m.len()).any(|i| test_only.contains(&m[..i])));
    mods
}

/// The code of a file without comments and without its inline test module.
fn code(text: &str) -> String {
    let no_comments = Regex::new(r"//[^\n]*").unwrap().replace_all(text, "");
    let tests = Regex::new(r"#\[cfg\(test\)\]\s*mod\s+[a-z_0-9]+\s*\{").unwrap();
    match tests.find(&no_comments) {
        Some(m) => no_comments[..m.start()].to_string(),
        None => no_comments.into_owned(),
    }
}

/// `a::{b::{self, C}, d as e}` -> `a::b`, `a::b::self`, `a::b::C`, `a::d`.
fn expand(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut items = Vec::new();
    let (mut depth, mut cur) = (0, String::new());
    for ch in tree.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if ch == ',' && depth == 0 {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.push(ch);
        }
    }
    items.push(cur);
    for item in items.iter().filter(|i| !i.is_empty()) {
        match item.split_once('{') {
            Some((head, rest)) => {
                let mut p = prefix.to_vec();
                p.extend(head.split("::").filter(|x| !x.is_empty()).map(String::from));
                expand(rest.strip_suffix('}').unwrap_or(rest), &p, out);
            }
            None => {
                let mut p = prefix.to_vec();
                p.extend(item.split("::").filter(|x| !x.is_empty()).map(String::from));
                out.push(p);
            }
        }
    }
}

/// Every path a file's code names.
fn paths(code: &str) -> Vec<Vec<String>> {
    let uses = Regex::new(r"\buse\s+([^;]+);").unwrap();
    let alias = Regex::new(r"\s+as\s+[A-Za-z_0-9]+").unwrap();
    let space = Regex::new(r"\s+").unwrap();
    let mut out = Vec::new();
    for c in uses.captures_iter(code) {
        let tree = alias.replace_all(&c[1], "");
        expand(&space.replace_all(&tree, ""), &[], &mut out);
    }
    let rest = uses.replace_all(code, "");
    let inline = Regex::new(
        r"\b(?:(?:crate|super|self)::)+(?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*",
    )
    .unwrap();
    for m in inline.find_iter(&rest) {
        out.push(m.as_str().split("::").map(String::from).collect());
    }
    out
}

/// The deepest known module a path from `from` names, if it is a crate path.
fn resolve(from: &Module, path: &[String], mods: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    let (mut cur, mut rest) = match path.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &path[1..]),
        Some("super") | Some("self") => (from.clone(), path),
        _ => return None,
    };
    while let Some(first) = rest.first() {
        match first.as_str() {
            "super" => {
                cur.pop();
            }
            "self" => {}
            _ => break,
        }
        rest = &rest[1..];
    }
    for name in rest {
        let mut next = cur.clone();
        next.push(name.clone());
        if !mods.contains_key(&next) {
            break;
        }
        cur = next;
    }
    Some(cur)
}

/// Every set of sibling modules that import each other (strongly connected, two or more).
fn circles(src: &Path) -> Vec<Vec<String>> {
    let mods = modules(src);
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, f) in &mods {
        let text = std::fs::read_to_string(f).unwrap();
        for p in paths(&code(&text)) {
            let Some(t) = resolve(m, &p, &mods) else {
                continue;
            };
            let n = m.iter().zip(&t).take_while(|(a, b)| a == b).count();
            if n == m.len() || n == t.len() {
                continue; // itself, an ancestor or a descendant
            }
            edges
                .entry(m[..=n].to_vec())
                .or_default()
                .insert(t[..=n].to_vec());
        }
    }
    // Strongly connected sets: those reachable from each other.
    let reach = |from: &Module| -> BTreeSet<Module> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(x) = todo.pop() {
            for y in edges.get(&x).into_iter().flatten() {
                if seen.insert(y.clone()) {
                    todo.push(y.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<Module, BTreeSet<Module>> =
        edges.keys().map(|m| (m.clone(), reach(m))).collect();
    let mut out: BTreeSet<Vec<String>> = BTreeSet::new();
    for (a, ra) in &reaches {
        let comp: Vec<String> = reaches
            .iter()
            .filter(|(b, rb)| b == &a || (ra.contains(*b) && rb.contains(a)))
            .map(|(b, _)| b.join("::"))
            .collect();
        if comp.len() > 1 {
            out.insert(comp);
        }
    }
    out.into_iter().collect()
}

#[test]
fn no_two_sibling_modules_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for src in ["crates/migx/src", "crates/cli", "crates/gen/src"] {
        let dir = root.join(src);
        if !dir.is_dir() {
            continue;
        }
        let found = circles(&dir);
        assert!(
            found.is_empty(),
            "{src}: modules that import each other: {found:?}"
        );
    }
    assert!(
        modules(&root.join("crates/migx/src")).len() > 50,
        "the library's modules were not found"
    );
}

/// The checker itself, on a crate written here: each kind of path makes an edge, a loop
/// of three is found, a parent and its child are not a circle, test modules do not count.
#[test]
fn the_checker_finds_circles_in_every_form_of_path() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let forms = [
        "use super::b::Thing;",
        "use super::{c, b::{self, Thing as Other}};",
        "use crate::top::b;",
        "fn f() { crate::top::b::go(); }",
        "fn f() { super::super::top::b::inner::go(); }",
        "use self::super::b;",
    ];
    for form in forms {
        std::fs::remove_dir_all(dir.path()).ok();
        write("lib.rs", "pub mod top;");
        write("top/mod.rs", "pub mod a; pub mod b; pub mod c;");
        write("top/a.rs", form);
        write("top/b/mod.rs", "pub mod inner; use super::a::X;");
        write("top/b/inner.rs", "");
        write("top/c.rs", "");
        assert_eq!(
            circles(dir.path()),
            vec![vec!["top::a".to_string(), "top::b".to_string()]],
            "{form}"
        );
    }
    std::fs::remove_dir_all(dir.path()).ok();
    write("lib.rs", "pub mod a; pub mod b; pub mod c;");
    write("a.rs", "use crate::b::X;");
    write("b.rs", "use crate::c::X;");
    write("c.rs", "// use crate::b::Y;\nuse crate::a::X;");
    assert_eq!(circles(dir.path()), vec![vec!["a", "b", "c"]]);
    write("c.rs", "// use crate::a::X;\n");
    assert!(circles(dir.path()).is_empty());
    write("c.rs", "#[cfg(test)]\nmod tests {\n use crate::a::X;\n}\n");
    assert!(circles(dir.path()).is_empty(), "an inline test module");
    write("c.rs", "#[cfg(test)]\nmod checks;\n");
    write("c/checks.rs", "use crate::a::X;");
    assert!(
        circles(dir.path()).is_empty(),
        "a test module in its own file"
    );
    write("c/checks.rs", "");
    write("a.rs", "pub mod inner; use self::inner::Y;");
    write("a/inner.rs", "use super::X; use crate::a::Z;");
    assert!(circles(dir.path()).is_empty(), "a parent and its child");
}
