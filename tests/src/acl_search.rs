//! Full sync, then search as several users: exactly the permitted documents come back.

use sync_core::{Engine, Identities, SyncOptions};

use crate::support::{World, fs_source, set, sync, visible};

const IDENTITIES: &str = r#"{
  "users": {
    "alice@example.com": ["backend"],
    "Mallory@Example.com": ["security"],
    "carol@example.com": ["security"],
    "bob@example.com": ["hr"]
  },
  "groups": {
    "backend": ["engineering"],
    "security": ["engineering"],
    "engineering": ["all-staff"],
    "hr": ["all-staff"]
  }
}"#;

fn world() -> World {
    let w = World::new();
    for (path, text) in [
        ("public/a.md", "# Public\nThe travel budget is public."),
        ("eng/b.md", "# Eng\nThe engineering budget for servers."),
        (
            "eng/secret/c.md",
            "# Secret\nThe security budget for audits.",
        ),
        (
            "eng/secretive.md",
            "# Not secret\nA prefix is a plain string: budget notes.",
        ),
        ("eng/case/g.txt", "group names compare exactly: budget"),
        ("hr/d.md", "# HR\nThe salary budget."),
        (
            "hr/open/e.md",
            "# Handbook\nThe handbook mentions no budget at all.",
        ),
        ("stray.md", "Nobody's prefix covers this budget."),
    ] {
        w.write(path, text);
    }
    w.acl(&[
        ("public/", &[("all-staff", "GROUP", "ALLOW")]),
        ("eng/", &[("engineering", "GROUP", "ALLOW")]),
        (
            "eng/secret/",
            &[
                ("security", "GROUP", "ALLOW"),
                ("mallory@EXAMPLE.com", "USER", "DENY"),
            ],
        ),
        ("eng/case/", &[("Engineering", "GROUP", "ALLOW")]),
        ("hr/", &[("hr", "GROUP", "ALLOW")]),
        ("hr/open/", &[("all-staff", "GROUP", "ALLOW")]),
    ]);
    w
}

/// Both the audit listing and a real search agree on what `user` sees.
fn check(engine: &Engine, ids: &Identities, user: &str, expected: &[&str]) {
    assert_eq!(
        visible(engine, ids, user),
        set(expected),
        "visible to {user}"
    );
    let hits: std::collections::BTreeSet<String> = engine
        .index()
        .search("budget", &ids.principals(user), 100)
        .expect("search")
        .into_iter()
        .map(|h| h.doc_id)
        .collect();
    assert_eq!(hits, set(expected), "search hits for {user}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_sees_exactly_what_the_acl_allows() {
    let w = world();
    let engine = w.engine();
    let report = sync(
        &engine,
        &fs_source(w.config(), None),
        &SyncOptions::default(),
    )
    .await;
    assert_eq!(report.counts.added, 8, "{report:?}");
    let ids = crate::support::file_identities(IDENTITIES.as_bytes(), &["docs"]);

    // Nested groups: backend → engineering → all-staff.
    check(
        &engine,
        &ids,
        "alice@example.com",
        &[
            "public/a.md",
            "eng/b.md",
            "eng/secretive.md",
            "hr/open/e.md",
        ],
    );
    // Deny wins over an allowed group, and user names compare case-insensitively.
    check(
        &engine,
        &ids,
        "mallory@example.com",
        &[
            "public/a.md",
            "eng/b.md",
            "eng/secretive.md",
            "hr/open/e.md",
        ],
    );
    check(
        &engine,
        &ids,
        "carol@example.com",
        &[
            "public/a.md",
            "eng/b.md",
            "eng/secret/c.md",
            "eng/secretive.md",
            "hr/open/e.md",
        ],
    );
    // The longest prefix decides alone: hr/open/ replaces hr/ for e.md.
    check(
        &engine,
        &ids,
        "bob@example.com",
        &["public/a.md", "hr/d.md", "hr/open/e.md"],
    );
    // Unknown users and uncovered paths: nothing.
    check(&engine, &ids, "nobody@example.com", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_access_everyone_opens_only_uncovered_paths() {
    let w = world();
    let engine = w.engine();
    let mut config = w.config();
    config.default_access = connector_filesystem::DefaultAccess::Everyone;
    sync(&engine, &fs_source(config, None), &SyncOptions::default()).await;
    let ids = crate::support::file_identities(IDENTITIES.as_bytes(), &["docs"]);
    check(&engine, &ids, "nobody@example.com", &["stray.md"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_acl_file_everything_is_invisible() {
    let w = world();
    let engine = w.engine();
    let mut config = w.config();
    config.acl_file = None;
    let report = sync(&engine, &fs_source(config, None), &SyncOptions::default()).await;
    assert_eq!(report.counts.added, 8);
    let ids = crate::support::file_identities(IDENTITIES.as_bytes(), &["docs"]);
    check(&engine, &ids, "alice@example.com", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_carry_citation_fields() {
    let w = World::new();
    w.write(
        "guide.html",
        "<html><head><title>Guide</title></head><body><h1>Setup</h1><p>Install the agent.</p></body></html>",
    );
    w.acl(&[("", &[("everyone-group", "GROUP", "ALLOW")])]);
    let engine = w.engine();
    sync(
        &engine,
        &fs_source(w.config(), None),
        &SyncOptions::default(),
    )
    .await;
    let ids =
        crate::support::file_identities(br#"{"users": {"u@x.io": ["everyone-group"]}}"#, &["docs"]);
    let hits = engine
        .index()
        .search("agent", &ids.principals("u@x.io"), 5)
        .expect("search");
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(
        (
            hit.source.as_str(),
            hit.doc_id.as_str(),
            hit.chunk_id.as_str(),
            hit.title.as_str()
        ),
        ("docs", "guide.html", "guide.html#0", "Guide")
    );
    assert_eq!(hit.section.as_deref(), Some("Setup"));
    assert!(hit.snippet.contains("agent"), "{}", hit.snippet);
    assert!(hit.uri.as_deref().is_some_and(|u| u.starts_with("file://")));
}
