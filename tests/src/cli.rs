//! The `tributary` binary: configuration errors, and the JSON contracts of search and runs.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{World, tributary_bin};

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(tributary_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run tributary")
}

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json on stdout")
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

#[test]
fn invalid_config_lists_every_problem_and_exits_non_zero() {
    let w = World::new();
    let config = w.dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        "[index]\npath = 1\n[[sources]]\nid = \"ok\"\ntype = \"filesystem\"\nroots = \"typo\"\n",
    )
    .expect("write config");
    let out = run(&config, &["sync"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "index.path: expected a string",
        "sources[0].root: missing",
        "sources[0].roots: unknown key",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
}

/// A source `notes` of two documents readable by group `staff`, the private one denied to
/// eve, with `identities` as the identities file; returns the world and its config.
fn notes_world(identities: &str) -> (World, std::path::PathBuf) {
    let w = World::new();
    w.write(
        "notes/plan.md",
        "# Plan\nThe rollout plan for the new billing system.",
    );
    w.write(
        "notes/private.md",
        "# Private\nThe billing system has a private roadmap.",
    );
    w.acl(&[
        ("notes/", &[("staff", "GROUP", "ALLOW")]),
        (
            "notes/private",
            &[
                ("staff", "GROUP", "ALLOW"),
                ("eve@example.com", "USER", "DENY"),
            ],
        ),
    ]);
    std::fs::write(w.dir.path().join("identities.json"), identities).expect("identities");
    let config = w.dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        "[index]\npath = \"data\"\n[identities]\nfile = \"identities.json\"\n\
         [[sources]]\nid = \"notes\"\ntype = \"filesystem\"\nroot = \"docs\"\nacl_file = \"acl.json\"\n",
    )
    .expect("config");
    (w, config)
}

#[test]
fn sync_search_and_runs_speak_json() {
    let (w, config) =
        notes_world(r#"{"users": {"eve@example.com": ["staff"], "sam@example.com": ["staff"]}}"#);

    let out = run(&config, &["sync"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("added 2"));

    let hits = stdout_json(&run(
        &config,
        &["search", "billing", "--as", "eve@example.com", "--json"],
    ));
    let hits = hits.as_array().expect("array");
    assert_eq!(hits.len(), 1, "{hits:?}");
    for key in [
        "source", "doc_id", "chunk_id", "title", "uri", "score", "snippet",
    ] {
        assert!(keys(&hits[0]).contains(&key.to_string()), "missing {key}");
    }
    assert_eq!(hits[0]["doc_id"], "notes/plan.md");
    assert_eq!(hits[0]["chunk_id"], "notes/plan.md#0");

    let all = stdout_json(&run(
        &config,
        &["search", "--all", "--as", "SAM@example.com", "--json"],
    ));
    assert_eq!(all.as_array().expect("array").len(), 2);

    let runs = stdout_json(&run(&config, &["runs", "--json"]));
    let runs = runs.as_array().expect("array");
    assert_eq!(runs.len(), 1);
    for key in [
        "id",
        "source",
        "mode",
        "state",
        "started_at",
        "finished_at",
        "counts",
        "failed_documents",
    ] {
        assert!(keys(&runs[0]).contains(&key.to_string()), "missing {key}");
    }
    let counts = keys(&runs[0]["counts"]);
    for key in [
        "scanned",
        "added",
        "modified",
        "acl_updated",
        "deleted",
        "unchanged",
        "skipped",
        "failed",
    ] {
        assert!(counts.contains(&key.to_string()), "missing counts.{key}");
    }
    assert_eq!(
        (
            runs[0]["state"].as_str(),
            runs[0]["counts"]["added"].as_u64()
        ),
        (Some("succeeded"), Some(2))
    );

    let status = run(&config, &["status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("notes (filesystem): 2 document(s)"));
    assert!(keys(&runs[0]).contains(&"reason".to_string()));
    assert!(keys(&runs[0]).contains(&"rate_limited".to_string()));

    // A document that fails waits for a retry; status counts it, `runs --retries` lists it.
    w.write("notes/broken.json", b"{\"name\": \"\xff\xfe broken\"}");
    let out = run(&config, &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a failed document is not a failed run"
    );
    let waiting = stdout_json(&run(&config, &["runs", "--retries", "--json"]));
    let waiting = waiting.as_array().expect("array");
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(
        (
            waiting[0]["doc_id"].as_str(),
            waiting[0]["kind"].as_str(),
            waiting[0]["attempts"].as_u64()
        ),
        (Some("notes/broken.json"), Some("corrupt"), Some(1))
    );
    for key in ["source", "stage", "message", "failed_at", "next_attempt"] {
        assert!(
            keys(&waiting[0]).contains(&key.to_string()),
            "missing {key}"
        );
    }
    let status = run(&config, &["status"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("1 document(s) wait for a retry"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
}

#[test]
fn every_command_has_help() {
    for cmd in ["sync", "search", "runs", "status", "check", "acl"] {
        let out = Command::new(tributary_bin())
            .args([cmd, "--help"])
            .output()
            .expect("help");
        assert!(out.status.success(), "{cmd} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: tributary"),
            "{cmd}"
        );
    }
}

#[test]
fn extract_writes_text_or_a_typed_refusal_per_file() {
    let w = World::new();
    w.write(
        "in/page.html",
        "<html><head><title>T</title></head><body><p>Hello page</p></body></html>",
    );
    w.write("in/data.json", r#"{"name": "widget", "tags": ["a", "b"]}"#);
    w.write("in/blob.pdf", b"%PDF-1.7 not really");
    w.write(
        "in/nested/deep.json",
        format!("{}{}", "[".repeat(500), "]".repeat(500)),
    );
    let out_dir = w.dir.path().join("out");
    let out = Command::new(tributary_bin())
        .arg("extract")
        .arg(w.docs().join("in"))
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("run extract");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |name: &str| std::fs::read_to_string(out_dir.join(name)).expect(name);
    assert_eq!(read("page.html.txt"), "Hello page");
    assert_eq!(read("data.json.txt"), "name: widget\ntags:\n  - a\n  - b");
    assert_eq!(read("blob.pdf.err").lines().next(), Some("corrupt"));
    assert_eq!(read("deep.json.err").lines().next(), Some("corrupt"));
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("4 file(s)"), "{summary}");
}

#[test]
fn looking_before_any_sync_creates_nothing() {
    let w = World::new();
    let config = w.dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        "[index]\npath = \"data\"\n[[sources]]\nid = \"d\"\ntype = \"filesystem\"\nroot = \"docs\"\n",
    )
    .expect("config");
    let status = run(&config, &["status"]);
    assert!(
        String::from_utf8_lossy(&status.stdout)
            .contains("d (filesystem): 0 document(s); never synced")
    );
    assert_eq!(
        stdout_json(&run(&config, &["runs", "--json"])),
        serde_json::json!([])
    );
    assert!(
        !w.dir.path().join("data").exists(),
        "status/runs created the data directory"
    );
}

/// `status` and `runs` answer while a sync writes the store in another process, and show the
/// running run as of its last commit.
#[test]
fn status_and_runs_look_into_a_sync_in_progress() {
    let w = World::new();
    crate::crash::populate(&w);
    let config = crate::crash::write_config(&w, "live.toml", "data");
    let mut sync = Command::new(tributary_bin())
        .arg("--config")
        .arg(&config)
        .arg("sync")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start sync");
    // Looks until one `runs` shows a running run with committed documents while the sync
    // is still going (proved by `try_wait` after the look).
    let mut seen = None;
    while sync.try_wait().expect("poll sync").is_none() {
        let out = run(&config, &["runs", "--json"]);
        // A look never fails, whatever point the sync is at (creating the store or the
        // index, committing), and never keeps the sync from going on.
        assert!(
            out.status.success(),
            "runs failed during a sync: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let runs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let running = runs.as_array().and_then(|r| r.last()).cloned();
        let status = run(&config, &["status"]);
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        if let Some(r) = running.filter(|r| r["state"] == "running" && r["counts"]["added"] != 0)
            && sync.try_wait().expect("poll sync").is_none()
        {
            let status_text = String::from_utf8_lossy(&status.stdout).into_owned();
            seen = Some((r, status_text));
            break;
        }
    }
    let (running, status) = seen.expect("a look while the sync ran");
    assert!(
        running["counts"]["added"].as_u64().expect("added") >= 150,
        "{running}"
    );
    assert!(status.contains("running"), "{status}");
    assert!(sync.wait().expect("sync exits").success());
    let runs = stdout_json(&run(&config, &["runs", "--json"]));
    let last = runs.as_array().and_then(|r| r.last()).expect("a run");
    assert_eq!(last["state"], "succeeded");
    assert_eq!(last["counts"]["added"], crate::crash::DOCS as u64);
}

#[test]
fn acl_explain_says_why_in_text_and_json_and_identity_syncs_are_runs() {
    let (w, config) =
        notes_world(r#"{"users": {"Eve@Example.com": ["team"]}, "groups": {"team": ["staff"]}}"#);
    w.write("drafts/idea.md", "# Idea\nNobody may read this yet.");
    assert!(run(&config, &["sync"]).status.success());

    let explain = |doc: &str| {
        stdout_json(&run(
            &config,
            &[
                "acl",
                "explain",
                "--as",
                "eve@example.com",
                "--doc",
                doc,
                "--json",
            ],
        ))
    };
    let denied = explain("notes:notes/private.md");
    assert_eq!(denied["visible"], false);
    assert_eq!(denied["decided_by"], "user:eve@example.com");
    assert_eq!(denied["allow"], serde_json::json!(["group:notes:staff"]));
    assert_eq!(denied["deny"], serde_json::json!(["user:eve@example.com"]));
    let staff = denied["principals"]
        .as_array()
        .expect("principals")
        .iter()
        .find(|p| p["principal"] == "group:notes:staff")
        .expect("staff is one of eve's principals");
    assert_eq!(
        staff["path"],
        serde_json::json!([
            "user:eve@example.com",
            "group:notes:team",
            "group:notes:staff"
        ])
    );
    assert_eq!(staff["provider"], "identities file");
    let allowed = explain("notes:notes/plan.md");
    assert_eq!(
        (&allowed["visible"], &allowed["decided_by"]),
        (
            &serde_json::json!(true),
            &serde_json::json!("group:notes:staff")
        )
    );
    let closed = explain("notes:drafts/idea.md");
    assert_eq!(
        (&closed["visible"], &closed["decided_by"], &closed["allow"]),
        (
            &serde_json::json!(false),
            &serde_json::json!("no allow entry"),
            &serde_json::json!([])
        )
    );

    let text = run(
        &config,
        &[
            "acl",
            "explain",
            "--as",
            "eve@example.com",
            "--doc",
            "notes:notes/plan.md",
        ],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    for needle in [
        "allow: group:notes:staff",
        "deny:  (none)",
        "group:notes:staff  via user:eve@example.com → group:notes:team → group:notes:staff  [identities file]",
        "decision: visible: allowed by group:notes:staff",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
    let unknown = run(
        &config,
        &[
            "acl",
            "explain",
            "--as",
            "eve@example.com",
            "--doc",
            "notes:nope.md",
        ],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no document \"nope.md\""));

    // A folder has no directory: its identity sync stores an empty one, as a run.
    let out = run(&config, &["sync", "--identities"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("identities") && stdout.contains("users 0 · groups 0"),
        "{stdout}"
    );
    let runs = stdout_json(&run(&config, &["runs", "--json"]));
    let last = runs
        .as_array()
        .expect("array")
        .last()
        .cloned()
        .expect("a run");
    assert_eq!(
        (last["mode"].as_str(), last["state"].as_str()),
        (Some("identities"), Some("succeeded"))
    );
    assert_eq!(last["counts"]["memberships"], 0);
    // The file still gives eve her groups.
    assert_eq!(explain("notes:notes/plan.md")["visible"], true);
}
