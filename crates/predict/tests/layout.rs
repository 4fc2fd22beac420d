//! The layout rules of the workspace's library crates, checked on their source:
//!
//! - no import circle between the modules of memcal-predict, memcal-formats,
//!   memcal-runtime or memcal-remote (a module that names an item of another imports it; re-exports are
//!   followed to the module that defines the item; test modules are left out);
//! - no file in memcal-predict over [`MAX_FILE_LINES`] lines and no function there over
//!   [`MAX_FN_LINES`] lines (from its `fn` line to its closing brace, tests included).
//!
//! The source is read as text: comments, strings and character literals are blanked out
//! first, `use` trees are expanded, and every `crate::`, `super::` and `self::` path is
//! resolved to the file of the module that holds it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest file memcal-predict may have.
const MAX_FILE_LINES: usize = 600;
/// The longest function memcal-predict may have.
const MAX_FN_LINES: usize = 80;

/// One crate's modules: module path (`a::b`, empty for the root) -> its source.
struct Crate {
    modules: BTreeMap<String, Module>,
}

/// One module file.
struct Module {
    file: PathBuf,
    /// Source with comments, strings and characters blanked (lines kept).
    code: String,
    /// The same, with test modules removed too.
    code_no_tests: String,
    /// Raw line count.
    lines: usize,
}

/// Blanks comments, string and character literals (keeping newlines and length).
fn blank(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let blank_range = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in out.iter_mut().take(to).skip(from) {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p);
                blank_range(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                let mut j = i;
                while j < b.len() {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        j += 1;
                    }
                }
                blank_range(&mut out, i, j);
                i = j;
            }
            b'r' if matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                j += 1;
                loop {
                    if j >= b.len() {
                        break;
                    }
                    if b[j] == b'"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&b'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                blank_range(&mut out, i, j);
                i = j;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                blank_range(&mut out, i, (j + 1).min(b.len()));
                i = j + 1;
            }
            b'\'' => {
                // A character literal ('x', '\n', '\u{..}'), not a lifetime ('a).
                let end = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map(|p| i + 2 + p)
                } else if b.get(i + 2) == Some(&b'\'') {
                    Some(i + 2)
                } else {
                    // A multi-byte character: up to 4 bytes then a quote.
                    (i + 2..(i + 6).min(b.len())).find(|&k| b[k] == b'\'' && !b[i + 1].is_ascii())
                };
                match end {
                    Some(e) => {
                        blank_range(&mut out, i, e + 1);
                        i = e + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The index of the brace closing the one at `open`.
fn matching_brace(b: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    b.len().saturating_sub(1)
}

/// `code` with every `#[cfg(test)]` module blanked.
fn without_tests(code: &str) -> String {
    let mut out = code.as_bytes().to_vec();
    let mut from = 0;
    while let Some(p) = code[from..].find("#[cfg(test)]") {
        let at = from + p;
        let rest = &code[at + 12..];
        let trimmed = rest.trim_start();
        let skip = rest.len() - trimmed.len();
        let is_mod = trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ");
        if is_mod {
            if let Some(open) = code[at..].find('{') {
                let close = matching_brace(code.as_bytes(), at + open);
                for c in out.iter_mut().take(close + 1).skip(at) {
                    if *c != b'\n' {
                        *c = b' ';
                    }
                }
                from = close + 1;
                continue;
            }
        }
        from = at + 12 + skip;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The inline modules of `code` (`mod name { ... }`, one level), and the code without
/// them: each is a module of its own, whose `super` is the file's module.
fn split_inline_modules(code: &str) -> (String, Vec<(String, String)>) {
    let mut outer = code.as_bytes().to_vec();
    let mut inline = Vec::new();
    let b = code.as_bytes();
    let mut i = 0;
    while let Some(p) = code[i..].find("mod ") {
        let at = i + p;
        i = at + 4;
        if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
            continue;
        }
        let name: String = code[at + 4..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let after = code[at + 4 + name.len()..].trim_start();
        if name.is_empty() || !after.starts_with('{') {
            continue;
        }
        let open = at + 4 + name.len() + (code[at + 4 + name.len()..].len() - after.len());
        let close = matching_brace(b, open);
        inline.push((name, code[open + 1..close].to_string()));
        for c in outer.iter_mut().take(close + 1).skip(at) {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        i = close + 1;
    }
    (String::from_utf8_lossy(&outer).into_owned(), inline)
}

/// Reads a crate's modules from its `src` folder.
fn read_crate(src: &Path) -> Crate {
    let mut modules = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for e in entries {
            let path = e.expect("a folder entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("inside src");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let code = blank(&text);
            let (outer, inline) = split_inline_modules(&without_tests(&code));
            for (name, inner) in inline {
                modules.insert(
                    [parts.join("::"), name]
                        .iter()
                        .filter(|s| !s.is_empty())
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("::"),
                    Module {
                        file: path.clone(),
                        code: String::new(),
                        code_no_tests: inner,
                        lines: 0,
                    },
                );
            }
            modules.insert(
                parts.join("::"),
                Module {
                    file: path.clone(),
                    code_no_tests: outer,
                    code,
                    lines: text.lines().count(),
                },
            );
        }
    }
    Crate { modules }
}

/// Expands a `use` tree (`a::{b, c::{d, e as f}}`) into full paths (`as` renames dropped).
fn expand_use(tree: &str) -> Vec<String> {
    fn go(prefix: &str, t: &str, out: &mut Vec<String>) {
        let t = t.trim();
        if let Some(open) = t.find('{') {
            let head: String = t[..open].chars().filter(|c| !c.is_whitespace()).collect();
            let inner = &t[open + 1..t.rfind('}').unwrap_or(t.len())];
            let mut depth = 0;
            let mut start = 0;
            for (k, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(&format!("{prefix}{head}"), &inner[start..k], out);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            if start < inner.len() {
                go(&format!("{prefix}{head}"), &inner[start..], out);
            }
        } else if !t.is_empty() {
            let t = t.split(" as ").next().unwrap_or(t);
            let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
            let path = format!("{prefix}{t}");
            out.push(path.trim_end_matches("::self").to_string());
        }
    }
    let mut out = Vec::new();
    go("", tree, &mut out);
    out
}

/// The `use` statements of `code`: (is `pub`, expanded paths).
fn uses(code: &str) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    let mut i = 0;
    while let Some(p) = code[i..].find("use ") {
        let at = i + p;
        i = at + 4;
        let before = code[..at].trim_end();
        let boundary = before.is_empty() || before.ends_with([';', '{', '}', ']']);
        let is_pub = before.ends_with("pub") || before.ends_with(')');
        let is_word_start = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        if !is_word_start || !(boundary || is_pub) {
            continue;
        }
        if let Some(end) = code[at..].find(';') {
            out.push((is_pub, expand_use(&code[at + 4..at + end])));
            i = at + end;
        }
    }
    out
}

/// Every `crate::`, `super::` or `self::` path written in `code` outside `use` statements.
fn inline_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut i = 0;
        while let Some(p) = code[i..].find(start) {
            let at = i + p;
            i = at + start.len();
            if at > 0
                && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_' || b[at - 1] == b':')
            {
                continue;
            }
            let mut j = at;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b':') {
                j += 1;
            }
            out.push(code[at..j].trim_end_matches(':').to_string());
        }
    }
    out
}

impl Crate {
    /// The module a path written in module `from` names, following re-exports.
    fn resolve(&self, from: &str, path: &str, depth: u32) -> Option<String> {
        let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let mut base: Vec<String> = match segs.first().copied() {
            Some("crate") => {
                segs.remove(0);
                Vec::new()
            }
            Some("super") | Some("self") => {
                let mut b: Vec<String> = if from.is_empty() {
                    Vec::new()
                } else {
                    from.split("::").map(str::to_string).collect()
                };
                while let Some(&s) = segs.first() {
                    match s {
                        "super" => {
                            b.pop();
                        }
                        "self" => {}
                        _ => break,
                    }
                    segs.remove(0);
                }
                b
            }
            // A path through a name the module declared (`mod x;` then `x::y`).
            Some(first) => {
                let mut b: Vec<String> = if from.is_empty() {
                    Vec::new()
                } else {
                    from.split("::").map(str::to_string).collect()
                };
                b.push(first.to_string());
                if !self.modules.contains_key(&b.join("::")) {
                    return None;
                }
                segs.remove(0);
                b
            }
            None => return None,
        };
        // The longest prefix that is a module.
        let mut k = 0;
        while k < segs.len() {
            let mut next = base.clone();
            next.push(segs[k].to_string());
            if self.modules.contains_key(&next.join("::")) {
                base = next;
                k += 1;
            } else {
                break;
            }
        }
        let module = base.join("::");
        if !self.modules.contains_key(&module) {
            return None;
        }
        // An item the module re-exports: follow it.
        if let (Some(item), true) = (segs.get(k), depth < 8) {
            if let Some(target) = self.reexport(&module, item) {
                // None: an item of another crate.
                return self.resolve(&module, &target, depth + 1);
            }
        }
        Some(module)
    }

    /// Where module `m` re-exports `item` from (`pub use path::item`), if it does.
    fn reexport(&self, m: &str, item: &str) -> Option<String> {
        let code = &self.modules.get(m)?.code_no_tests;
        for (is_pub, paths) in uses(code) {
            if !is_pub {
                continue;
            }
            for p in paths {
                let last = p.rsplit("::").next().unwrap_or("");
                if last == item {
                    return Some(p);
                }
                if last == "*" {
                    let module = p.trim_end_matches("::*");
                    if let Some(target) = self.resolve(m, module, 8) {
                        let code = &self.modules[&target].code_no_tests;
                        if defines(code, item) {
                            return Some(format!("{module}::{item}"));
                        }
                    }
                }
            }
        }
        None
    }

    /// The import graph: module -> modules it names.
    fn graph(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, m) in &self.modules {
            let mut paths: Vec<String> = uses(&m.code_no_tests)
                .into_iter()
                .flat_map(|(_, p)| p)
                .collect();
            paths.extend(inline_paths(&m.code_no_tests));
            let deps = g.entry(name.clone()).or_default();
            let debug = std::env::var("MEMCAL_LAYOUT_DEBUG").is_ok_and(|m| &m == name);
            for p in paths {
                let p = p.trim_end_matches("::*");
                let t = self.resolve(name, p, 0);
                if debug {
                    eprintln!("{name}: {p} -> {t:?}");
                }
                if let Some(t) = t.filter(|t| t != name) {
                    deps.insert(t);
                }
            }
        }
        g
    }
}

/// Whether `code` defines an item named `item`.
fn defines(code: &str, item: &str) -> bool {
    [
        "fn", "struct", "enum", "trait", "type", "const", "static", "mod",
    ]
    .iter()
    .any(|kw| code.contains(&format!("{kw} {item}")))
}

/// The import circles of a graph (strongly connected components of more than one module).
fn circles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm.
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        on: BTreeSet<&'a str>,
        stack: Vec<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.g.get(v) {
            for w in ws {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// Functions longer than `max` lines: (file, line, name, lines).
fn long_functions(m: &Module, max: usize) -> Vec<(usize, String, usize)> {
    let code = &m.code;
    let b = code.as_bytes();
    let line_of = |pos: usize| code[..pos].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = code[i..].find("fn ") {
        let at = i + p;
        i = at + 3;
        if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
            continue;
        }
        let name: String = code[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        // The body: the first `{` outside parentheses and brackets, unless a `;` ends
        // the declaration first.
        let mut depth = 0i32;
        let mut open = None;
        for (k, &c) in b.iter().enumerate().skip(at) {
            match c {
                b'(' | b'[' => depth += 1,
                b')' | b']' => depth -= 1,
                b'{' if depth == 0 => {
                    open = Some(k);
                    break;
                }
                b';' if depth == 0 => break,
                _ => {}
            }
        }
        let Some(open) = open else { continue };
        let close = matching_brace(b, open);
        let lines = line_of(close) - line_of(at) + 1;
        if lines > max {
            out.push((line_of(at), name, lines));
        }
    }
    out
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Each circle of a crate, with the imports inside it.
fn circles_of(krate: &str) -> Vec<String> {
    let c = read_crate(&workspace().join(krate).join("src"));
    let g = c.graph();
    circles(&g)
        .into_iter()
        .map(|m| {
            let edges: Vec<String> = m
                .iter()
                .flat_map(|a| {
                    g[a].iter()
                        .filter(|b| m.contains(b))
                        .map(move |b| format!("    {a} -> {b}"))
                })
                .collect();
            format!("{krate}: {}\n{}", m.join(" <-> "), edges.join("\n"))
        })
        .collect()
}

#[test]
fn no_import_circles_in_the_library_crates() {
    let mut found = Vec::new();
    for krate in [
        "crates/predict",
        "crates/formats",
        "crates/runtime",
        "crates/remote",
    ] {
        found.extend(circles_of(krate));
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn predict_files_and_functions_are_short() {
    let c = read_crate(&workspace().join("crates/predict/src"));
    let mut bad = Vec::new();
    for m in c.modules.values() {
        let file = m
            .file
            .strip_prefix(workspace())
            .unwrap_or(&m.file)
            .display()
            .to_string();
        if m.lines > MAX_FILE_LINES {
            bad.push(format!(
                "{file}: {} lines (at most {MAX_FILE_LINES})",
                m.lines
            ));
        }
        for (line, name, lines) in long_functions(m, MAX_FN_LINES) {
            bad.push(format!(
                "{file}:{line}: fn {name} is {lines} lines (at most {MAX_FN_LINES})"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_checker_sees_a_circle_and_a_long_function() {
    // Two modules naming each other, through a re-export too.
    let module = |code: &str| Module {
        file: PathBuf::from("x.rs"),
        code: blank(code),
        code_no_tests: split_inline_modules(&without_tests(&blank(code))).0,
        lines: code.lines().count(),
    };
    let mut modules = BTreeMap::new();
    modules.insert(
        String::new(),
        module("pub mod a; pub mod b; pub use a::Thing;"),
    );
    modules.insert(
        "a".into(),
        module("pub struct Thing; fn f() { crate::b::g(); }"),
    );
    modules.insert(
        "b".into(),
        module("use crate::Thing; // crate::c::nothing\n pub fn g() {}\n#[cfg(test)]\nmod tests { use crate::zzz; }"),
    );
    // An inline module's `super` is its file's module; `as` renames are not names.
    modules.insert(
        "c".into(),
        module("mod inner { use super::X; }\nuse crate::a::{has_alias as y};\npub struct X;"),
    );
    modules.insert(
        "c::inner".into(),
        module(&split_inline_modules("mod inner { use super::X; }").1[0].1),
    );
    let c = Crate { modules };
    let g = c.graph();
    assert_eq!(g["b"], BTreeSet::from(["a".to_string()]));
    assert_eq!(g["c"], BTreeSet::from(["a".to_string()]));
    assert!(g["c::inner"].contains("c"), "{:?}", g["c::inner"]);
    assert_eq!(circles(&g), vec![vec!["a".to_string(), "b".to_string()]]);
    let long = module(&format!(
        "fn long() {{\n{}}}\nfn short() {{ }}",
        "let x = '}';\n".repeat(90)
    ));
    let found = long_functions(&long, 80);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].0, found[0].1.as_str(), found[0].2),
        (1, "long", 92)
    );
}
