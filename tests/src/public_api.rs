//! The public API of `connector-sdk`, pinned: third parties build on it, so a change to it
//! must be deliberate. The test renders every `pub` item of the crate's sources — types with
//! their public fields and variants, functions and methods without bodies, traits, constants,
//! re-exports, the `cfg(feature)` each needs — and compares the listing with
//! `connectors/sdk/public-api.txt`. Run with `UPDATE_EXPECT=1` to rewrite it, then review the
//! diff as an API change (a removal or a changed signature breaks authors' code: semver).
//!
//! The listing is read from the source with `syn` rather than from rustdoc's JSON (which
//! needs a nightly toolchain): it lists `pub` items of private modules too, a superset of
//! what is reachable, so it errs towards flagging a change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use syn::visit_mut::VisitMut;
use syn::{Attribute, Block, Fields, ImplItem, Item, TraitItem, Visibility};

fn sdk() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../connectors/sdk")
}

fn is_pub(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

/// Whether attributes keep an item out of the API: tests.
fn test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().contains("test"))
            && !a
                .meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().contains("testkit"))
    })
}

/// Keeps the attributes that are API: `cfg`, `derive`, `non_exhaustive`, `must_use`.
fn api_attrs(attrs: &mut Vec<Attribute>) {
    attrs.retain(|a| {
        ["cfg", "derive", "non_exhaustive", "must_use"]
            .iter()
            .any(|k| a.path().is_ident(k))
    });
}

/// Strips bodies and docs out of what is kept.
struct Strip;

impl VisitMut for Strip {
    fn visit_block_mut(&mut self, block: &mut Block) {
        block.stmts.clear();
    }

    fn visit_attributes_mut(&mut self, attrs: &mut Vec<Attribute>) {
        api_attrs(attrs);
    }
}

/// The public part of `item`, or `None`.
fn public(item: &Item) -> Option<Item> {
    let mut item = item.clone();
    let keep = match &mut item {
        Item::Fn(f) => is_pub(&f.vis) && !test_only(&f.attrs),
        Item::Const(c) => is_pub(&c.vis),
        Item::Static(s) => is_pub(&s.vis),
        Item::Type(t) => is_pub(&t.vis),
        Item::Use(u) => is_pub(&u.vis),
        Item::Trait(t) => is_pub(&t.vis),
        Item::Enum(e) => is_pub(&e.vis),
        Item::Macro(m) => m.attrs.iter().any(|a| a.path().is_ident("macro_export")),
        Item::Struct(s) => {
            if let Fields::Named(named) = &mut s.fields {
                named.named = named
                    .named
                    .clone()
                    .into_iter()
                    .filter(|f| is_pub(&f.vis))
                    .collect();
            }
            is_pub(&s.vis)
        }
        Item::Impl(i) => {
            if test_only(&i.attrs) {
                false
            } else if i.trait_.is_some() {
                // A trait implemented for a type is API; how is not.
                i.items.clear();
                true
            } else {
                i.items.retain(|it| {
                    matches!(it, ImplItem::Fn(f) if is_pub(&f.vis))
                        || matches!(it, ImplItem::Const(c) if is_pub(&c.vis))
                });
                !i.items.is_empty()
            }
        }
        _ => false,
    };
    if !keep {
        return None;
    }
    if let Item::Trait(t) = &mut item {
        for it in &mut t.items {
            if let TraitItem::Fn(f) = it {
                f.default = None;
                f.semi_token = Some(Default::default());
            }
        }
    }
    Strip.visit_item_mut(&mut item);
    Some(item)
}

/// The module path of a source file: `src/http/policy.rs` → `http::policy`.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .iter()
        .skip(1)
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("lib" | "mod")) {
        parts.pop();
    }
    if parts.is_empty() {
        "connector_sdk".into()
    } else {
        format!("connector_sdk::{}", parts.join("::"))
    }
}

/// Public items of `items` (inline modules recursed into, as `path::name`).
fn collect(path: &str, items: &[Item], out: &mut String) {
    let mut kept = Vec::new();
    let mut inline = Vec::new();
    for item in items {
        match item {
            Item::Mod(m) if test_only(&m.attrs) => {}
            Item::Mod(m) => {
                if let Some((_, inner)) = &m.content {
                    inline.push((format!("{path}::{}", m.ident), inner.clone()));
                } else if is_pub(&m.vis) {
                    let mut m = m.clone();
                    api_attrs(&mut m.attrs);
                    kept.push(Item::Mod(m));
                }
            }
            other => kept.extend(public(other)),
        }
    }
    if !kept.is_empty() {
        let file = syn::File {
            shebang: None,
            attrs: Vec::new(),
            items: kept,
        };
        let _ = writeln!(out, "// {path}\n{}", prettyplease::unparse(&file));
    }
    for (path, items) in inline {
        collect(&path, &items, out);
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The listing of the crate at `root` (its `src/`).
fn listing(root: &Path) -> String {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut out = String::from(
        "# The public API of connector-sdk (tests/src/public_api.rs; UPDATE_EXPECT=1 rewrites it)\n\n",
    );
    for file in files {
        let rel = file.strip_prefix(root).expect("under the crate");
        // Test modules in files of their own (`mod tests;` under `#[cfg(test)]`).
        if rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        let parsed = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        collect(&module_of(rel), &parsed.items, &mut out);
    }
    out
}

#[test]
fn the_sdk_public_api_changes_only_on_purpose() {
    let actual = listing(&sdk());
    let path = sdk().join("public-api.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &actual).expect("write the listing");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run with UPDATE_EXPECT=1", path.display()));
    if actual != expected {
        let changed: Vec<String> = diff_lines(&expected, &actual);
        panic!(
            "the public API of connector-sdk changed ({} lines differ, first ones below). If \
             that is meant, run with UPDATE_EXPECT=1 and review the diff of {} as an API \
             change (semver for connector authors).\n{}",
            changed.len(),
            path.display(),
            changed
                .iter()
                .take(40)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Lines only in one of the two, marked `-` (expected) and `+` (actual).
fn diff_lines(expected: &str, actual: &str) -> Vec<String> {
    let old: std::collections::BTreeSet<&str> = expected.lines().collect();
    let new: std::collections::BTreeSet<&str> = actual.lines().collect();
    old.difference(&new)
        .map(|l| format!("- {l}"))
        .chain(new.difference(&old).map(|l| format!("+ {l}")))
        .collect()
}

#[test]
fn the_listing_sees_a_changed_signature() {
    // The listing of a small crate, then of the same crate with one signature changed.
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    let write = |lib: &str| std::fs::write(src.join("lib.rs"), lib).expect("lib.rs");
    write(
        "/// Docs are not API.\npub fn add(a: u32) -> u32 { a + 1 }\nfn hidden() {}\n\
         pub struct S { pub a: u8, b: u8 }\n#[cfg(test)]\nmod tests { pub fn t() {} }\n",
    );
    let before = listing(dir.path());
    assert!(before.contains("pub fn add(a: u32) -> u32 {}"), "{before}");
    assert!(
        before.contains("pub a: u8") && !before.contains("b: u8"),
        "{before}"
    );
    assert!(!before.contains("hidden") && !before.contains("Docs") && !before.contains("fn t()"));
    write(
        "/// Other docs.\npub fn add(a: u64) -> u32 { a as u32 }\nfn hidden() {}\n\
         pub struct S { pub a: u8, b: u8 }\n",
    );
    let after = listing(dir.path());
    assert_ne!(before, after);
    assert_eq!(diff_lines(&before, &after).len(), 2, "{before}\n{after}");
}
