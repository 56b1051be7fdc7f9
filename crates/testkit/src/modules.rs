//! The module dependency graph of a crate, read from its sources, and its cycles (issue 28:
//! no import cycle between the modules of a crate).
//!
//! Module `A` depends on module `B` when code of `A` names an item that `B` defines: a `use`
//! that imports it, or a path in the code (`b::f()`, `crate::b::T`, `super::T`, also inside
//! macro arguments). Paths are resolved through re-exports to the module that defines the item
//! (`crate::Document` is `document`'s when the root re-exports it), so a re-export
//! (`pub use`, `pub(crate) use`, ...) is no dependency of the module that re-exports: it is
//! that module's public face. `mod` declarations (ownership) are no dependency either. Code
//! under `#[cfg(test)]` is left out, and so are comments and doc links.
//!
//! A syntactic reading: a method call (`self.f()`, where `f` is defined in an `impl` of another
//! file) names no module and is not seen; a crate whose one type has `impl` blocks in several
//! files must keep those files layered by itself.
//!
//! ```no_run
//! let graph = testkit::modules::ModuleGraph::of_crate(env!("CARGO_MANIFEST_DIR")).unwrap();
//! assert!(graph.cycles().is_empty(), "{}", graph.render());
//! ```
//!
//! `cargo run -p testkit --example module_graph -- crates/<name>` prints a crate's graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// The modules of one crate and which of them each depends on. Module names are paths from
/// the crate root: `crate`, `framing`, `framing::scan`, ...
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleGraph {
    /// Every module, with the modules it depends on (never itself).
    pub edges: BTreeMap<String, BTreeSet<String>>,
}

/// A module being read: what it declares and imports, and the paths its code names.
#[derive(Debug, Default)]
struct Module {
    children: BTreeSet<String>,
    /// Name in scope -> (path as written, whether it is a re-export).
    imports: BTreeMap<String, (Vec<String>, bool)>,
    /// Paths named by private imports and by code (each resolved later).
    named: Vec<Vec<String>>,
}

impl ModuleGraph {
    /// The graph of the crate in `crate_dir` (the folder holding its `Cargo.toml`): the library
    /// `src/lib.rs` and the binary `src/main.rs`, whichever exist (one graph; their root is
    /// `crate`).
    pub fn of_crate(crate_dir: impl AsRef<Path>) -> Result<ModuleGraph, String> {
        let src = crate_dir.as_ref().join("src");
        let mut modules = BTreeMap::new();
        let mut found = false;
        for root in ["lib.rs", "main.rs"] {
            let file = src.join(root);
            if file.exists() {
                found = true;
                read_file(&file, "crate", true, &mut modules)?;
            }
        }
        if !found {
            return Err(format!("{}: no src/lib.rs or src/main.rs", src.display()));
        }
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, module) in &modules {
            let deps = edges.entry(name.clone()).or_default();
            for path in &module.named {
                if let Some(target) = resolve(&modules, name, path, 0)
                    && target != *name
                {
                    deps.insert(target);
                }
            }
        }
        Ok(ModuleGraph { edges })
    }

    /// Each module replaced by its ancestor at `depth` (1: the root's children), edges inside
    /// one of them dropped: the graph of the crate's top-level modules, for instance.
    pub fn collapsed(&self, depth: usize) -> ModuleGraph {
        let at = |m: &str| -> String {
            if m == "crate" {
                return m.to_owned();
            }
            m.split("::")
                .take(depth.max(1))
                .collect::<Vec<_>>()
                .join("::")
        };
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, tos) in &self.edges {
            let from = at(from);
            let deps = edges.entry(from.clone()).or_default();
            for to in tos {
                let to = at(to);
                if to != from {
                    deps.insert(to);
                }
            }
        }
        ModuleGraph { edges }
    }

    /// The groups of modules that depend on each other in a cycle (strongly connected
    /// components of more than one module), each sorted; empty when the graph is acyclic.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        // Tarjan's algorithm, iterative.
        let names: Vec<&String> = self.edges.keys().collect();
        let index_of: BTreeMap<&String, usize> =
            names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let succ: Vec<Vec<usize>> = names
            .iter()
            .map(|n| {
                self.edges[*n]
                    .iter()
                    .filter_map(|t| index_of.get(t).copied())
                    .collect()
            })
            .collect();
        let n = names.len();
        let (mut index, mut low, mut on_stack) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
        let (mut next, mut stack, mut out) = (0, Vec::new(), Vec::new());
        for start in 0..n {
            if index[start] != usize::MAX {
                continue;
            }
            let mut work = vec![(start, 0usize)];
            while let Some(&mut (v, ref mut i)) = work.last_mut() {
                if *i == 0 {
                    index[v] = next;
                    low[v] = next;
                    next += 1;
                    stack.push(v);
                    on_stack[v] = true;
                }
                if let Some(&w) = succ[v].get(*i) {
                    *i += 1;
                    if index[w] == usize::MAX {
                        work.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut group = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        group.push(names[w].clone());
                        if w == v {
                            break;
                        }
                    }
                    if group.len() > 1 {
                        group.sort();
                        out.push(group);
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// One line per module: `module -> dep, dep`, and the cycles, if any.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (from, tos) in &self.edges {
            let tos: Vec<&str> = tos.iter().map(String::as_str).collect();
            s.push_str(&format!("{from} -> {}\n", tos.join(", ")));
        }
        for cycle in self.cycles() {
            s.push_str(&format!("cycle: {}\n", cycle.join(" <-> ")));
        }
        s
    }
}

/// Panics, naming the cycles and printing the graph, when modules of the crate in `crate_dir`
/// depend on each other in a cycle.
pub fn assert_no_module_cycles(crate_dir: impl AsRef<Path>) {
    let graph = match ModuleGraph::of_crate(crate_dir.as_ref()) {
        Ok(graph) => graph,
        Err(e) => panic!("reading the modules: {e}"),
    };
    let cycles = graph.cycles();
    assert!(
        cycles.is_empty(),
        "modules of {} depend on each other in a cycle: {cycles:?}\n{}",
        crate_dir.as_ref().display(),
        graph.render()
    );
}

fn read_file(
    file: &Path,
    name: &str,
    owns_dir: bool,
    modules: &mut BTreeMap<String, Module>,
) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let parsed = syn::parse_file(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    // Where the files of this module's children are: beside `lib.rs` / `mod.rs`, else in the
    // folder named after the file.
    let dir = match (file.parent(), file.file_stem()) {
        (Some(parent), _) if owns_dir => parent.to_path_buf(),
        (Some(parent), Some(stem)) => parent.join(stem),
        _ => PathBuf::from("."),
    };
    read_items(&parsed.items, name, &dir, modules)
}

fn read_items(
    items: &[syn::Item],
    name: &str,
    dir: &Path,
    modules: &mut BTreeMap<String, Module>,
) -> Result<(), String> {
    modules.entry(name.to_owned()).or_default();
    let mut reader = Reader::default();
    for item in items {
        if is_test_only(item_attrs(item)) {
            continue;
        }
        if let syn::Item::Mod(m) = item {
            let child = m.ident.to_string();
            let child_name = if name == "crate" {
                child.clone()
            } else {
                format!("{name}::{child}")
            };
            if let Some(entry) = modules.get_mut(name) {
                entry.children.insert(child.clone());
            }
            match &m.content {
                Some((_, inner)) => read_items(inner, &child_name, &dir.join(&child), modules)?,
                None => {
                    let flat = dir.join(format!("{child}.rs"));
                    let nested = dir.join(&child).join("mod.rs");
                    if flat.exists() {
                        read_file(&flat, &child_name, false, modules)?;
                    } else if nested.exists() {
                        read_file(&nested, &child_name, true, modules)?;
                    } else {
                        return Err(format!("{name}: no file for `mod {child}` in {dir:?}"));
                    }
                }
            }
            continue;
        }
        reader.visit_item(item);
    }
    if let Some(entry) = modules.get_mut(name) {
        entry.imports.extend(reader.imports);
        entry.named.extend(reader.named);
    }
    Ok(())
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// `#[cfg(test)]` (also inside `all(...)`, not inside `not(...)`).
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta.require_list().is_ok_and(|list| {
                let tokens = list.tokens.to_string();
                tokens == "test" || (tokens.starts_with("all") && tokens.contains("test"))
            })
    })
}

/// Collects a module's imports and the paths its code names (nested modules are read apart).
#[derive(Default)]
struct Reader {
    imports: BTreeMap<String, (Vec<String>, bool)>,
    named: Vec<Vec<String>>,
}

impl Reader {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, reexport: bool) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, reexport);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.import(prefix, &n.ident, &n.ident, reexport),
            syn::UseTree::Rename(r) => self.import(prefix, &r.ident, &r.rename, reexport),
            syn::UseTree::Glob(_) => {
                if !reexport {
                    self.named.push(prefix.clone());
                }
            }
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree, reexport);
                }
            }
        }
    }

    fn import(
        &mut self,
        prefix: &[String],
        ident: &syn::Ident,
        alias: &syn::Ident,
        reexport: bool,
    ) {
        let mut path = prefix.to_vec();
        // `use a::b::{self}` imports `b`.
        if ident != "self" {
            path.push(ident.to_string());
        }
        let Some(last) = path.last().cloned() else {
            return;
        };
        let alias = if alias == "self" {
            last
        } else {
            alias.to_string()
        };
        if !reexport {
            self.named.push(path.clone());
        }
        self.imports.insert(alias, (path, reexport));
    }

    fn tokens(&mut self, tokens: TokenStream) {
        // Paths inside macro arguments: `ident (:: ident)*` runs of the token stream.
        let mut path: Vec<String> = Vec::new();
        let mut colons = 0;
        let flush = |path: &mut Vec<String>, named: &mut Vec<Vec<String>>| {
            if path.len() > 1 {
                named.push(std::mem::take(path));
            }
            path.clear();
        };
        for tt in tokens {
            match tt {
                TokenTree::Ident(i) => {
                    if !path.is_empty() && colons != 2 {
                        flush(&mut path, &mut self.named);
                    }
                    path.push(i.to_string());
                    colons = 0;
                }
                TokenTree::Punct(p) if p.as_char() == ':' && !path.is_empty() && colons < 2 => {
                    colons += 1;
                }
                TokenTree::Group(g) => {
                    flush(&mut path, &mut self.named);
                    colons = 0;
                    self.tokens(g.stream());
                }
                _ => {
                    flush(&mut path, &mut self.named);
                    colons = 0;
                }
            }
        }
        flush(&mut path, &mut self.named);
    }
}

impl<'ast> Visit<'ast> for Reader {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let reexport = !matches!(u.vis, syn::Visibility::Inherited);
        let mut prefix = Vec::new();
        if u.leading_colon.is_some() {
            // `::name`: an external crate.
            return;
        }
        self.use_tree(&mut prefix, &u.tree, reexport);
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // A module inside a function: rare; read as part of this one would be wrong, skip it.
    }

    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_test_only(item_attrs(item)) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() && path.segments.len() > 1 {
            self.named
                .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        self.tokens(mac.tokens.clone());
    }
}

fn parent_of(module: &str) -> Option<String> {
    match module.rsplit_once("::") {
        Some((parent, _)) => Some(parent.to_owned()),
        None if module == "crate" => None,
        None => Some("crate".to_owned()),
    }
}

fn child_of(module: &str, child: &str) -> String {
    if module == "crate" {
        child.to_owned()
    } else {
        format!("{module}::{child}")
    }
}

/// The module that defines what `path`, named in module `from`, names (or the module it names);
/// `None` for anything outside the crate (std, dependencies) or defined in `from` itself.
fn resolve(
    modules: &BTreeMap<String, Module>,
    from: &str,
    path: &[String],
    depth: usize,
) -> Option<String> {
    if depth > 32 {
        return None;
    }
    let (first, rest) = path.split_first()?;
    let mut at = match first.as_str() {
        "crate" => "crate".to_owned(),
        "self" => from.to_owned(),
        "super" => parent_of(from)?,
        name if modules.get(from)?.children.contains(name) => child_of(from, name),
        name => {
            let (target, _) = modules.get(from)?.imports.get(name)?;
            if target.first() == Some(first) && target.len() == 1 {
                return None;
            }
            let mut full = target.clone();
            full.extend(rest.iter().cloned());
            return resolve(modules, from, &full, depth + 1);
        }
    };
    for (i, segment) in rest.iter().enumerate() {
        let module = modules.get(&at)?;
        if segment == "super" {
            at = parent_of(&at)?;
        } else if segment == "self" {
            continue;
        } else if module.children.contains(segment) {
            at = child_of(&at, segment);
        } else if let Some((target, _)) = module.imports.get(segment) {
            let mut full = target.clone();
            full.extend(rest[i + 1..].iter().cloned());
            return resolve(modules, &at.clone(), &full, depth + 1).or(Some(at));
        } else {
            // An item of `at` (a type, a function, an enum's variant after it, ...).
            return Some(at);
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crate in a temporary folder: `(path under src/, text)`.
    fn crate_of(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary folder");
        for (path, text) in files {
            let file = dir.path().join("src").join(path);
            std::fs::create_dir_all(file.parent().expect("a parent")).expect("folders");
            std::fs::write(file, text).expect("a file");
        }
        dir
    }

    fn graph(files: &[(&str, &str)]) -> ModuleGraph {
        let dir = crate_of(files);
        ModuleGraph::of_crate(dir.path()).expect("the crate reads")
    }

    fn deps(graph: &ModuleGraph, module: &str) -> Vec<String> {
        graph.edges[module].iter().cloned().collect()
    }

    #[test]
    fn a_cycle_through_use_and_paths_is_found() {
        let g = graph(&[
            ("lib.rs", "pub mod a;\npub mod b;\nmod c;\n"),
            ("a.rs", "use crate::b::B;\npub struct A(B);\n"),
            ("b.rs", "pub struct B;\npub fn f() { crate::c::g(); }\n"),
            ("c.rs", "pub fn g() { let _ = super::a::A(crate::b::B); }\n"),
        ]);
        assert_eq!(deps(&g, "a"), ["b"]);
        assert_eq!(deps(&g, "b"), ["c"]);
        assert_eq!(deps(&g, "c"), ["a", "b"]);
        assert_eq!(g.cycles(), [vec!["a", "b", "c"]]);
    }

    #[test]
    fn re_exports_are_followed_not_counted() {
        // `a` re-exports `b::B` and `b` uses `a::A`: no cycle, and `c` naming `crate::a::B`
        // depends on `b`, which defines it.
        let g = graph(&[
            ("lib.rs", "pub mod a;\nmod c;\npub use a::B;\n"),
            ("a.rs", "mod b;\npub use b::B;\npub struct A;\n"),
            ("a/b.rs", "use super::A;\npub struct B(A);\n"),
            ("c.rs", "fn f(_: crate::a::B, _: crate::B) {}\n"),
        ]);
        assert!(g.cycles().is_empty(), "{}", g.render());
        assert_eq!(deps(&g, "a"), Vec::<String>::new());
        assert_eq!(deps(&g, "a::b"), ["a"]);
        assert_eq!(deps(&g, "c"), ["a::b"]);
        assert_eq!(deps(&g, "crate"), Vec::<String>::new());
    }

    #[test]
    fn test_code_comments_and_macros() {
        let g = graph(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            (
                "a.rs",
                "//! [`crate::b::B`]\n#[cfg(test)]\nmod tests { use crate::b::B; }\n\
                 pub fn f() { tracing::warn!(\"{}\", crate::b::name()); }\n",
            ),
            (
                "b.rs",
                "pub fn name() -> &'static str { \"crate::a::f\" }\n",
            ),
        ]);
        // The macro's argument counts; the doc link, the test module and the string do not.
        assert_eq!(deps(&g, "a"), ["b"]);
        assert_eq!(deps(&g, "b"), Vec::<String>::new());
    }

    #[test]
    fn collapsed_shows_cycles_between_top_level_modules() {
        let g = graph(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "mod low;\nmod high;\n"),
            ("a/low.rs", "pub struct L;\n"),
            ("a/high.rs", "pub fn f(_: crate::b::B) {}\n"),
            ("b.rs", "pub struct B(pub crate::a::low::L);\n"),
        ]);
        assert!(g.cycles().is_empty(), "{}", g.render());
        assert_eq!(g.collapsed(1).cycles(), [vec!["a", "b"]]);
    }
}
