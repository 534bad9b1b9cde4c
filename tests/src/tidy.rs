//! Tidy checks over the repository itself (rust-analyzer's `xtask/src/tidy.rs` habit): the
//! tree tracks no symlink and no build output, and the Cargo manifests keep the dependency
//! rules of ARCHITECTURE.md.
//!
//! Each check is a pure function over text (`git ls-files -s` output, manifest contents)
//! that returns every problem it finds; the tests below show each one failing on bad input,
//! and one test per check runs it over the real tree.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// Tracked files.

/// The one folder whose code may opt out of the workspace's `unsafe_code = "deny"` (ADR 0008,
/// ADR 0015): the global allocator, reviewed against an exactly pinned mimalloc.
const UNSAFE_ALLOWED_IN: &str = "allocator/";

/// Problems in (path, contents) of tracked Rust files: an `allow`/`expect` of `unsafe_code`
/// outside [`UNSAFE_ALLOWED_IN`]. The lint is `deny`, not `forbid`, so that the allocator can
/// allow it; this keeps every other crate as if it were `forbid`.
fn unsafe_code_problems<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, text) in files {
        if path.starts_with(UNSAFE_ALLOWED_IN) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            // Attributes only (rustfmt starts each on its own line), not strings or comments
            // that mention the lint, as this file's own test does.
            let squeezed: String = line.split_whitespace().collect();
            let is_attribute = squeezed.starts_with("#[") || squeezed.starts_with("#![");
            if is_attribute
                && ["allow(", "expect("].iter().any(|attr| {
                    squeezed.split(attr).skip(1).any(|args| {
                        args.split(')')
                            .next()
                            .is_some_and(|a| a.contains("unsafe_code"))
                    })
                })
            {
                problems.push(format!(
                    "{path}:{}: allows `unsafe_code`, which only {UNSAFE_ALLOWED_IN} may",
                    n + 1
                ));
            }
        }
    }
    problems
}

/// Folders that only builds and runs create: the cargo target dir (also a file or symlink of
/// that name, as `target` once was) and the CLI's default index folder.
const BUILD_DIRS: &[&str] = &["target", ".tributary", "__pycache__"];

/// Extensions of compiled artifacts and downloaded packages.
const BUILD_EXTENSIONS: &[&str] = &[
    "rlib", "rmeta", "o", "a", "so", "dylib", "dll", "whl", "pyc",
];

fn is_build_output(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path.split('/').any(|part| BUILD_DIRS.contains(&part))
        || name
            .rsplit_once('.')
            .is_some_and(|(stem, ext)| !stem.is_empty() && BUILD_EXTENSIONS.contains(&ext))
}

/// Problems in the output of `git ls-files -s -z` (records `<mode> <object> <stage>\t<path>`,
/// each ended by a NUL): symlinks (mode 120000) and build output. A tracked symlink breaks a
/// fresh clone wherever it points outside the tree (or on a system without symlinks); build
/// output does not belong in the repository at all.
fn tracked_file_problems(ls_files: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for record in ls_files.split('\0').filter(|r| !r.is_empty()) {
        let Some((meta, path)) = record.split_once('\t') else {
            problems.push(format!("unreadable `git ls-files -s` record {record:?}"));
            continue;
        };
        if meta.split(' ').next() == Some("120000") {
            problems.push(format!("{path}: a tracked symlink"));
        }
        if is_build_output(path) {
            problems.push(format!("{path}: tracked build output"));
        }
    }
    problems
}

#[test]
fn tree_tracks_no_symlink_and_no_build_output() {
    let out = Command::new("git")
        .args(["ls-files", "-s", "-z"])
        .current_dir(repo_root())
        .output()
        .expect("run git (tidy reads the index of the checkout)");
    assert!(
        out.status.success(),
        "git ls-files failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8(out.stdout).expect("utf-8 paths");
    assert!(
        listing.contains("\tCargo.toml\0"),
        "not the repository's index"
    );
    let problems = tracked_file_problems(&listing);
    assert!(
        problems.is_empty(),
        "untrack these (`git rm --cached`), and add build output to .gitignore:\n{}",
        problems.join("\n")
    );
}

#[test]
fn unsafe_code_only_in_the_allocator() {
    let root = repo_root();
    let out = Command::new("git")
        .args(["ls-files", "-z", "--", "*.rs"])
        .current_dir(&root)
        .output()
        .expect("run git (tidy reads the index of the checkout)");
    assert!(out.status.success(), "git ls-files failed");
    let listing = String::from_utf8(out.stdout).expect("utf-8 paths");
    let files: Vec<(String, String)> = listing
        .split('\0')
        .filter(|p| !p.is_empty())
        // A file deleted but not yet staged is still listed.
        .filter_map(|p| Some((p.to_owned(), std::fs::read_to_string(root.join(p)).ok()?)))
        .collect();
    assert!(files.iter().any(|(p, _)| p.starts_with(UNSAFE_ALLOWED_IN)));
    let problems = unsafe_code_problems(files.iter().map(|(p, t)| (p.as_str(), t.as_str())));
    assert!(
        problems.is_empty(),
        "move unsafe code into {UNSAFE_ALLOWED_IN} (reviewed, ADR 0008) or do without:\n{}",
        problems.join("\n")
    );
}

#[test]
fn unsafe_code_check_finds_allows_outside_the_allocator() {
    let files = [
        (
            "allocator/src/lib.rs",
            "#[allow(unsafe_code)]\nunsafe { f() }",
        ),
        (
            "sync-core/src/index.rs",
            "#[allow(dead_code, unsafe_code)]\nfn f() {}",
        ),
        ("cli/src/main.rs", "fn f() {}\n  #![expect( unsafe_code )]"),
        (
            "extractors/src/pdf.rs",
            "#[allow(dead_code)] // not unsafe_code\nfn f() {}",
        ),
    ];
    assert_eq!(
        unsafe_code_problems(files),
        [
            "sync-core/src/index.rs:1: allows `unsafe_code`, which only allocator/ may",
            "cli/src/main.rs:2: allows `unsafe_code`, which only allocator/ may",
        ]
    );
}

#[test]
fn tracked_file_check_finds_symlinks_and_build_output() {
    let listing = [
        "100644 8c2a0760000000000000000000000000000000ab 0\tCargo.toml",
        "100755 8c2a0760000000000000000000000000000000ab 0\tscripts/test.sh",
        "100644 8c2a0760000000000000000000000000000000ab 0\tfuzz/fuzz_targets/pdf.rs",
        "120000 8c2a0760000000000000000000000000000000ab 0\ttarget",
        "120000 8c2a0760000000000000000000000000000000ab 0\tfixtures/sample-docs/link",
        "100644 8c2a0760000000000000000000000000000000ab 0\tfuzz/target/debug/pdf",
        "100644 8c2a0760000000000000000000000000000000ab 0\tlibextractors.rlib",
        "100644 8c2a0760000000000000000000000000000000ab 0\tcli/main.o",
        "100644 8c2a0760000000000000000000000000000000ab 0\tmoto-5.0.0-py3-none-any.whl",
        "100644 8c2a0760000000000000000000000000000000ab 0\t.tributary/manifest.redb",
    ]
    .map(|r| format!("{r}\0"))
    .concat();
    assert_eq!(
        tracked_file_problems(&listing),
        [
            "target: a tracked symlink",
            "target: tracked build output",
            "fixtures/sample-docs/link: a tracked symlink",
            "fuzz/target/debug/pdf: tracked build output",
            "libextractors.rlib: tracked build output",
            "cli/main.o: tracked build output",
            "moto-5.0.0-py3-none-any.whl: tracked build output",
            ".tributary/manifest.redb: tracked build output",
        ]
    );
}

// Dependency rules.

/// The workspace crates a crate may depend on, in any dependency table
/// (`[dependencies]`, `[dev-dependencies]`, `[build-dependencies]`, also under `[target.…]`).
/// Crates from crates.io are always allowed; crates not listed here are not restricted.
enum May {
    /// Only these workspace crates.
    Only(&'static [&'static str]),
    /// Only the first workspace crates, and in `[dev-dependencies]` (also under `[target.…]`)
    /// the second too.
    OnlyAndInTests(&'static [&'static str], &'static [&'static str]),
    /// Any workspace crate but these.
    Not(&'static [&'static str]),
}

/// Stands for every connector crate: those under `connectors/` except the SDK.
const CONNECTORS: &str = "<connectors>";

/// Stands for every test fixture crate: those under `fixtures/` (`fault-proxy`, `fake-kit`,
/// `fake-drive`, `fake-graph`, `fake-slack`).
const FIXTURES: &str = "<fixtures>";

/// ARCHITECTURE.md: connectors see the SDK only (and, in their tests, the test fixtures under
/// `fixtures/`), never the engine or each other; extractors see no connector and no engine;
/// the SDK, a public API, sees no workspace crate; the engine sees no connector, not even in
/// tests or benches (the end-to-end benches live in `benches/`); the allocator, the
/// workspace's unsafe code, sees no workspace crate.
const RULES: &[(&str, May)] = &[
    (
        CONNECTORS,
        May::OnlyAndInTests(&["connector-sdk"], &[FIXTURES]),
    ),
    ("connector-sdk", May::Only(&[])),
    ("tributary-allocator", May::Only(&[])),
    // The scheduler is generic over what a run is: the daemon in the CLI wires it to the engine.
    ("schedules", May::Only(&[])),
    ("extractors", May::Not(&[CONNECTORS, "sync-core"])),
    ("sync-core", May::Not(&[CONNECTORS])),
];

/// A workspace member, as far as the rules care.
#[derive(Debug)]
struct Crate {
    /// The member's folder, relative to the root (`connectors/s3`).
    dir: String,
    /// The package name.
    name: String,
    /// (table, package name) for every dependency.
    deps: Vec<(String, String)>,
}

impl Crate {
    fn is_connector(&self) -> bool {
        self.dir.starts_with("connectors/") && self.name != "connector-sdk"
    }

    /// Whether `pattern` (a crate name, `CONNECTORS` or `FIXTURES`) names this crate.
    fn is(&self, pattern: &str) -> bool {
        match pattern {
            CONNECTORS => self.is_connector(),
            FIXTURES => self.dir.starts_with("fixtures/"),
            name => self.name == name,
        }
    }
}

/// Reads a member's manifest. `root` is the workspace manifest: a `dep.workspace = true`
/// takes its package name from `[workspace.dependencies]`, which may rename it.
fn parse_crate(dir: &str, manifest: &str, root: &toml::Table) -> Crate {
    let manifest: toml::Table =
        toml::from_str(manifest).unwrap_or_else(|e| panic!("{dir}/Cargo.toml: {e}"));
    let name = manifest["package"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{dir}/Cargo.toml: no package name"))
        .to_owned();
    let inherited = root
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(toml::Value::as_table);
    // The package a dependency entry names: its `package` key if renamed, else its key.
    let package = |key: &str, value: &toml::Value| -> String {
        fn renamed(v: &toml::Value) -> Option<&str> {
            v.get("package").and_then(toml::Value::as_str)
        }
        let from_workspace = value
            .get("workspace")
            .and_then(toml::Value::as_bool)
            .unwrap_or(false)
            .then(|| inherited.and_then(|w| w.get(key)))
            .flatten();
        renamed(value)
            .or_else(|| from_workspace.and_then(renamed))
            .unwrap_or(key)
            .to_owned()
    };
    let mut tables = vec![(String::new(), &manifest)];
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        for (cfg, table) in targets {
            if let Some(table) = table.as_table() {
                tables.push((format!("target.'{cfg}'."), table));
            }
        }
    }
    let mut deps = Vec::new();
    for (prefix, table) in tables {
        // Edition 2024 refuses the old `dev_dependencies` spellings, so these are all.
        for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(entries) = table.get(kind).and_then(toml::Value::as_table) else {
                continue;
            };
            for (key, value) in entries {
                deps.push((format!("[{prefix}{kind}]"), package(key, value)));
            }
        }
    }
    Crate {
        dir: dir.to_owned(),
        name,
        deps,
    }
}

/// Every dependency of a workspace crate on another that `RULES` forbids, each naming the
/// crate, the table and the dependency.
fn dependency_problems(crates: &[Crate]) -> Vec<String> {
    let mut problems = Vec::new();
    for krate in crates {
        for (who, may) in RULES.iter().filter(|(who, _)| krate.is(who)) {
            for (table, dep) in &krate.deps {
                let Some(target) = crates.iter().find(|c| &c.name == dep) else {
                    continue; // not a workspace crate
                };
                let in_tests = table.ends_with("dev-dependencies]");
                let allowed = match may {
                    May::Only(ok) => ok.iter().any(|p| target.is(p)),
                    May::OnlyAndInTests(ok, tests) => {
                        ok.iter().any(|p| target.is(p))
                            || (in_tests && tests.iter().any(|p| target.is(p)))
                    }
                    May::Not(bad) => !bad.iter().any(|p| target.is(p)),
                };
                if !allowed {
                    let rule = match may {
                        May::Only([]) => "may depend on no workspace crate".to_owned(),
                        May::Only(ok) => {
                            format!("may depend on no workspace crate but {}", describe(ok))
                        }
                        May::OnlyAndInTests(ok, tests) => format!(
                            "may depend on no workspace crate but {} (and, in \
                             [dev-dependencies], {})",
                            describe(ok),
                            describe(tests)
                        ),
                        May::Not(bad) => format!("must not depend on {}", describe(bad)),
                    };
                    problems.push(format!(
                        "{}: {table} has `{dep}`, but {} {rule} (ARCHITECTURE.md)",
                        krate.name,
                        describe(&[who])
                    ));
                }
            }
        }
    }
    problems
}

fn describe(names: &[&str]) -> String {
    let names: Vec<&str> = names
        .iter()
        .map(|&n| match n {
            CONNECTORS => "connector crates",
            FIXTURES => "the test fixtures under fixtures/",
            n => n,
        })
        .collect();
    names.join(", ")
}

/// Every workspace member, from the root manifest's `members` list.
fn workspace_crates() -> Vec<Crate> {
    let root_dir = repo_root();
    let root: toml::Table = toml::from_str(&read(&root_dir.join("Cargo.toml"))).expect("root");
    let members = root["workspace"]["members"]
        .as_array()
        .expect("workspace.members");
    members
        .iter()
        .map(|m| {
            let dir = m.as_str().expect("member path");
            assert!(
                !dir.contains('*'),
                "tidy reads explicit members only: {dir}"
            );
            parse_crate(dir, &read(&root_dir.join(dir).join("Cargo.toml")), &root)
        })
        .collect()
}

#[test]
fn manifests_keep_the_dependency_rules() {
    let crates = workspace_crates();
    // A renamed crate must not make a rule silently match nothing.
    for (who, may) in RULES {
        let named: Vec<&&str> = match may {
            May::Only(names) | May::Not(names) => names.iter().chain([who]).collect(),
            May::OnlyAndInTests(names, tests) => {
                names.iter().chain(tests.iter()).chain([who]).collect()
            }
        };
        for name in named {
            assert!(
                crates.iter().any(|c| c.is(name)),
                "RULES names {name}, which matches no workspace crate"
            );
        }
    }
    let problems = dependency_problems(&crates);
    assert!(
        problems.is_empty(),
        "dependency rules (ARCHITECTURE.md) broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn dependency_check_names_crate_table_and_dependency() {
    let root: toml::Table = toml::from_str(
        "[workspace.dependencies]\n\
         engine = { path = \"sync-core\", package = \"sync-core\" }\n\
         sync-core = { path = \"sync-core\" }\n",
    )
    .expect("root");
    let manifest = |name: &str, body: &str| format!("[package]\nname = \"{name}\"\n{body}");
    let crates = [
        (
            "connectors/sdk",
            manifest("connector-sdk", "[dependencies]\nextractors = \"*\"\n"),
        ),
        (
            "connectors/s3",
            manifest(
                "connector-s3",
                "[dependencies]\nconnector-sdk.workspace = true\ntokio = \"1\"\n\
                 fault-proxy = \"*\"\n\
                 [dev-dependencies]\nfault-proxy = { path = \"../../fixtures/fault-proxy\" }\n\
                 engine.workspace = true\nfake-drive = \"*\"\n\
                 [target.'cfg(unix)'.build-dependencies]\nfake-drive = \"*\"\n\
                 fs = { package = \"connector-filesystem\", path = \"../filesystem\" }\n\
                 [target.'cfg(unix)'.dev-dependencies]\nfake-drive = \"*\"\n",
            ),
        ),
        (
            "connectors/filesystem",
            manifest("connector-filesystem", ""),
        ),
        ("fixtures/fault-proxy", manifest("fault-proxy", "")),
        ("fixtures/fake-drive", manifest("fake-drive", "")),
        (
            "extractors",
            manifest("extractors", "[dependencies]\nsync-core = \"*\"\n"),
        ),
        (
            "sync-core",
            manifest(
                "sync-core",
                "[dependencies]\nconnector-sdk = \"*\"\nextractors = \"*\"\n\
                 [dev-dependencies]\nconnector-filesystem = \"*\"\n",
            ),
        ),
        (
            "cli",
            manifest(
                "tributary",
                "[dependencies]\nconnector-s3 = \"*\"\nsync-core = \"*\"\n",
            ),
        ),
    ]
    .map(|(dir, text)| parse_crate(dir, &text, &root));
    assert_eq!(
        dependency_problems(&crates),
        [
            "connector-sdk: [dependencies] has `extractors`, but connector-sdk may depend on \
             no workspace crate (ARCHITECTURE.md)",
            "connector-s3: [dependencies] has `fault-proxy`, but connector crates may depend \
             on no workspace crate but connector-sdk (and, in [dev-dependencies], the test \
             fixtures under fixtures/) (ARCHITECTURE.md)",
            "connector-s3: [dev-dependencies] has `sync-core`, but connector crates may depend \
             on no workspace crate but connector-sdk (and, in [dev-dependencies], the test \
             fixtures under fixtures/) (ARCHITECTURE.md)",
            "connector-s3: [target.'cfg(unix)'.build-dependencies] has `fake-drive`, but \
             connector crates may depend on no workspace crate but connector-sdk (and, in \
             [dev-dependencies], the test fixtures under fixtures/) (ARCHITECTURE.md)",
            "connector-s3: [target.'cfg(unix)'.build-dependencies] has `connector-filesystem`, \
             but connector crates may depend on no workspace crate but connector-sdk (and, in \
             [dev-dependencies], the test fixtures under fixtures/) (ARCHITECTURE.md)",
            "extractors: [dependencies] has `sync-core`, but extractors must not depend on \
             connector crates, sync-core (ARCHITECTURE.md)",
            "sync-core: [dev-dependencies] has `connector-filesystem`, but sync-core must not \
             depend on connector crates (ARCHITECTURE.md)",
        ]
    );

    // The same crates without the forbidden lines pass.
    let clean = [
        (
            "connectors/sdk",
            manifest("connector-sdk", "[dependencies]\nserde = \"1\"\n"),
        ),
        (
            "connectors/s3",
            manifest(
                "connector-s3",
                "[dependencies]\nconnector-sdk = \"*\"\n[dev-dependencies]\nfault-proxy = \"*\"\n\
                 fake-drive = \"*\"\n[target.'cfg(unix)'.dev-dependencies]\nfake-drive = \"*\"\n",
            ),
        ),
        ("fixtures/fault-proxy", manifest("fault-proxy", "")),
        ("fixtures/fake-drive", manifest("fake-drive", "")),
        (
            "sync-core",
            manifest("sync-core", "[dependencies]\nconnector-sdk = \"*\"\n"),
        ),
    ]
    .map(|(dir, text)| parse_crate(dir, &text, &root));
    assert_eq!(dependency_problems(&clean), Vec::<String>::new());
}
