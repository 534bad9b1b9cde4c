//! Sources, runs, search and ACL explanations: the same JSON as the CLI's, read from a real
//! data folder.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use schedules::{Health, RunningStatus, SyncKind};

use super::{Fixture, at, check, sync_sample};
use crate::acl::Explanation;
use crate::{commands, rows};

/// Replaces the values of keys that hold times of the sync (which differ per run) so that
/// the rest snapshots.
fn mask_times(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                if matches!(k.as_str(), "started_at" | "finished_at") && v.is_string() {
                    *v = "<time>".into();
                } else {
                    mask_times(v);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(mask_times),
        _ => {}
    }
}

#[tokio::test]
async fn sources_join_the_config_the_index_the_store_and_the_scheduler() {
    let f = Fixture::synced().await;
    {
        let mut statuses = f.control.statuses.lock().expect("lock");
        statuses[0].health = Health::Unhealthy;
        statuses[0].consecutive_failures = 3;
        statuses[0].running = Some(RunningStatus {
            kind: SyncKind::Full,
            since: at("2026-05-01T04:00:00Z"),
            last_progress: at("2026-05-01T04:01:00Z"),
            rate_limited: false,
            stalled: true,
        });
        // A source the scheduler has not picked up yet shows `schedule: null`.
        statuses.pop();
    }
    let (status, mut body) = f.get("/v1/sources").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = f.report.as_ref().expect("synced");
    assert_eq!(body[0]["documents"], 31);
    assert_eq!(body[0]["last_run"]["id"], report.id);
    mask_times(&mut body);
    check("sources", &body);
}

#[tokio::test]
async fn runs_are_the_rows_of_runs_json() {
    let f = Fixture::synced().await;
    // A second run, so that `last` and `source` have something to choose from.
    let second = sync_sample(&f.config()).await;
    let config = f.config();
    for (query, source, last) in [
        ("", None, None),
        ("?last=1", None, Some(1)),
        ("?source=sample&last=5", Some("sample"), Some(5)),
        ("?source=notes", Some("notes"), None),
        ("?last=0", None, Some(0)),
    ] {
        let (status, body) = f.get(&format!("/v1/runs{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let cli = rows::run_rows(&config, source, last).expect("cli rows");
        assert_eq!(body, serde_json::to_value(&cli).expect("json"), "{query}");
    }
    let (_, last) = f.get("/v1/runs?last=1").await;
    assert_eq!(last[0]["id"], second.id);
    assert_eq!(last.as_array().map(Vec::len), Some(1));
    let (_, none) = f.get("/v1/runs?source=notes").await;
    assert_eq!(none, serde_json::json!([]));
}

#[tokio::test]
async fn nothing_synced_yet_is_empty_or_unavailable_never_created() {
    let f = Fixture::empty().await;
    let config = f.config();
    let (status, runs) = f.get("/v1/runs").await;
    assert_eq!((status, runs), (StatusCode::OK, serde_json::json!([])));
    let (status, sources) = f.get("/v1/sources").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sources[0]["documents"], 0);
    assert_eq!(sources[0]["last_run"], serde_json::Value::Null);
    let (status, body) = f.get("/v1/search?q=policy&as=bob@example.com").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let (status, text) = f.get_text("/metrics").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains("tributary_index_documents{source=\"sample\"} 0"),
        "{text}"
    );
    assert!(
        !config.data_dir.exists(),
        "looking created {}",
        config.data_dir.display()
    );
}

#[tokio::test]
async fn search_returns_what_the_cli_function_returns() {
    let f = Fixture::synced().await;
    let config = f.config();
    let index = commands::open_index(&config).expect("index");
    let identities = commands::load_identities(&config).expect("identities");
    let mut nonempty = 0;
    // Compared as bytes: scores are floats, which a parse of the JSON could round.
    for user in [
        "bob@example.com",
        "intern@example.com",
        "CEO@example.com",
        "nobody@else.org",
    ] {
        for (query, limit) in [
            ("policy", 10),
            ("security keys", 3),
            ("\"code of conduct\"", 10),
        ] {
            let path = format!("/v1/search?q={}&as={user}&limit={limit}", urlencode(query));
            let (status, body) = f.get_text(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            let cli = rows::search_rows(&index, &identities, user, query, limit).expect("cli");
            nonempty += usize::from(!cli.is_empty());
            assert_eq!(body, json(&cli), "{path}");
        }
        let (status, body) = f.get_text(&format!("/v1/search?as={user}&all=true")).await;
        assert_eq!(status, StatusCode::OK);
        let cli = rows::visible_rows(&index, &identities, user).expect("cli");
        assert_eq!(body, json(&cli), "{user} all");
    }
    assert!(
        nonempty >= 4,
        "the queries must find something for the comparison to mean much"
    );
    let (_, mut hr) = f.get("/v1/search?as=bob@example.com&all=true").await;
    // Links hold the checkout's path: the snapshot keeps what follows it.
    for doc in hr.as_array_mut().expect("array") {
        let uri = doc["uri"].as_str().expect("uri");
        let (_, rest) = uri.rsplit_once("/fixtures/").expect("a fixtures path");
        doc["uri"] = format!("file://<checkout>/fixtures/{rest}").into();
    }
    check("search_all_bob", &hr);
}

/// Serialized as the API does it (`axum::Json` writes `serde_json::to_vec`).
fn json(value: &impl serde::Serialize) -> String {
    String::from_utf8(serde_json::to_vec(value).expect("json")).expect("utf-8")
}

/// Percent-encodes what the queries above use.
fn urlencode(s: &str) -> String {
    s.replace('%', "%25")
        .replace(' ', "%20")
        .replace('"', "%22")
}

#[tokio::test]
async fn acl_explain_is_the_json_of_acl_explain() {
    let f = Fixture::synced().await;
    let config = f.config();
    let (status, body) = f
        .get(
            "/v1/acl/explain?as=intern@example.com&doc=sample:engineering/security/threat-model.md",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let index = commands::open_index(&config).expect("index");
    let acl = index
        .document_acl("sample", "engineering/security/threat-model.md")
        .expect("read")
        .expect("indexed");
    let identities = commands::load_identities(&config).expect("identities");
    let cli = Explanation::new(
        &identities,
        "intern@example.com",
        "sample",
        "engineering/security/threat-model.md",
        acl,
    );
    assert_eq!(body, cli.to_json());
    assert_eq!(body["visible"], false);
    check("explain_intern_threat_model", &body);

    let (status, body) = f
        .get("/v1/acl/explain?as=bob@example.com&doc=sample:no/such.md")
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &"not_found".into())
    );
    let (status, _) = f
        .get("/v1/acl/explain?as=bob@example.com&doc=nosource:public/welcome.md")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Sets a file's modification time `ago` in the past, as if it had been written then.
fn backdate(path: &std::path::Path, ago: Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open to backdate");
    file.set_modified(SystemTime::now() - ago)
        .expect("set modified time");
}

#[tokio::test]
async fn identities_are_cached_until_an_input_changes() {
    let f = Fixture::synced().await;
    let config = f.config();
    let ids = f.dir.path().join("identities.json");
    let store = config.data_dir.join(sync_core::store::STORE_FILE);
    // Settled files: written longer ago than the racy window.
    backdate(&ids, Duration::from_secs(60));
    backdate(&store, Duration::from_secs(60));
    let visible = |body: &serde_json::Value| body.as_array().map_or(0, Vec::len);
    let (_, before) = f.get("/v1/search?as=zoe@example.com&all=true").await;
    let (_, again) = f.get("/v1/search?as=zoe@example.com&all=true").await;
    assert_eq!(before, again);
    // Her principals are kept with the identities (a search with `q` uses them).
    let budget = "/v1/search?q=budget&as=zoe@example.com";
    let (_, budget_before) = f.get(budget).await;
    let loads = f.state.reads().identity_loads();
    assert_eq!(
        loads, 1,
        "a second search with nothing changed must not reload"
    );

    // Zoe joins finance in the identities file: the next search sees it.
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ids).expect("read")).expect("json");
    file["users"]["zoe@example.com"] = serde_json::json!(["finance"]);
    std::fs::write(&ids, serde_json::to_vec(&file).expect("json")).expect("write");
    backdate(&ids, Duration::from_secs(30));
    let (_, after) = f.get("/v1/search?as=zoe@example.com&all=true").await;
    assert!(visible(&after) > visible(&before), "{before} → {after}");
    assert_eq!(f.state.reads().identity_loads(), 2);
    // Her kept principals went with the old identities: a search finds finance's budget.
    let (_, budget_after) = f.get(budget).await;
    assert!(
        visible(&budget_after) > visible(&budget_before),
        "{budget_before} → {budget_after}"
    );

    // Another run's commits to the store, with no stored memberships, reload nothing
    // (`identities_reload_on_a_memberships_write_not_on_a_content_commit`).
    sync_sample(&config).await;
    let (_, _) = f.get("/v1/search?as=zoe@example.com&all=true").await;
    assert_eq!(f.state.reads().identity_loads(), 2);

    // A reloaded config (a new `Arc`) reloads, even with every file unchanged.
    backdate(&store, Duration::from_secs(10));
    let (_, _) = f.get("/v1/search?as=zoe@example.com&all=true").await;
    let settled = f.state.reads().identity_loads();
    let fresh = Arc::new(super::config_in(f.dir.path()));
    *f.control.config.lock().expect("lock") = fresh;
    let (_, _) = f.get("/v1/search?as=zoe@example.com&all=true").await;
    assert_eq!(f.state.reads().identity_loads(), settled + 1);
}

/// Once the store counts its memberships writes, a content run's commits leave the
/// identities cached (within a second of a commit its stamp is trusted by no one), and a
/// memberships write reloads them on the next request, however recent.
#[tokio::test]
async fn identities_reload_on_a_memberships_write_not_on_a_content_commit() {
    let f = Fixture::synced().await;
    let config = f.config();
    backdate(
        &f.dir.path().join("identities.json"),
        Duration::from_secs(60),
    );
    let put = |users: &[(&str, &str)]| {
        let mut m = sync_core::Memberships::default();
        for (user, group) in users {
            m.users
                .entry((*user).to_string())
                .or_default()
                .insert((*group).to_string());
        }
        let store = sync_core::LocalStore::open(&config.data_dir).expect("the writer");
        sync_core::StateStore::put_memberships(&store, "sample", &m).expect("put");
    };
    let visible = |body: &serde_json::Value| body.as_array().map_or(0, Vec::len);
    let zoe = "/v1/search?as=zoe@example.com&all=true";
    put(&[]);
    let (_, before) = f.get(zoe).await;
    let loads = f.state.reads().identity_loads();

    sync_sample(&config).await;
    let (_, again) = f.get(zoe).await;
    assert_eq!(again, before);
    assert_eq!(
        f.state.reads().identity_loads(),
        loads,
        "a content run's commit must not reload the identities"
    );

    // An identity sync puts Zoe in finance: the next search sees it.
    put(&[("zoe@example.com", "finance")]);
    let (_, after) = f.get(zoe).await;
    assert!(visible(&after) > visible(&before), "{before} → {after}");
    assert_eq!(f.state.reads().identity_loads(), loads + 1);
    // And the next one takes her out again, at once.
    put(&[]);
    let (_, revoked) = f.get(zoe).await;
    assert_eq!(revoked, before);
    assert_eq!(f.state.reads().identity_loads(), loads + 2);
}

/// On the daemon's multi-threaded runtime a search runs on the worker, or in place
/// (`block_in_place`) when another one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snippets_false_returns_the_same_hits_with_empty_snippets() {
    let f = Fixture::synced().await;
    let mut found = 0;
    for query in ["policy", "security keys", "\"code of conduct\""] {
        let path = format!("/v1/search?q={}&as=ceo@example.com", urlencode(query));
        let (status, with) = f.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {with}");
        let (status, without) = f.get(&format!("{path}&snippets=false")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {without}");
        let hits = without.as_array().expect("hits");
        assert!(hits.iter().all(|h| h["snippet"] == ""), "{path}: {without}");
        found += hits.len();
        let strip = |v: &serde_json::Value| {
            v.as_array()
                .expect("hits")
                .iter()
                .map(|h| (h["chunk_id"].clone(), h["score"].clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&with), strip(&without), "{path}");
    }
    assert!(found > 0, "the queries find something");
}

/// Searches in flight at once (one runs on a worker, the others hand theirs over first)
/// answer as one alone does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_searches_answer_as_one_alone() {
    let f = Arc::new(Fixture::synced().await);
    let path = "/v1/search?q=policy&as=ceo@example.com";
    let (status, alone) = f.get(path).await;
    assert_eq!(status, StatusCode::OK, "{alone}");
    assert!(!alone.as_array().expect("hits").is_empty(), "{alone}");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let f = Arc::clone(&f);
            tokio::spawn(async move { f.get(path).await })
        })
        .collect();
    for task in tasks {
        let (status, body) = task.await.expect("search task");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, alone);
    }
}

#[tokio::test]
async fn a_load_right_after_a_write_is_not_cached() {
    let f = Fixture::synced().await;
    // An identities file written "just now" however slow this machine is: within the racy
    // window a later write in the same timestamp tick could go unseen, so each search loads
    // again.
    let ids = f.dir.path().join("identities.json");
    let file = std::fs::File::options()
        .write(true)
        .open(&ids)
        .expect("open");
    file.set_modified(SystemTime::now() + Duration::from_secs(3600))
        .expect("set modified time");
    let (_, _) = f.get("/v1/search?as=bob@example.com&all=true").await;
    let (_, _) = f.get("/v1/search?as=bob@example.com&all=true").await;
    assert_eq!(f.state.reads().identity_loads(), 2);
}

#[tokio::test]
async fn reads_work_while_this_process_holds_the_writer() {
    // The daemon keeps the engine open for writing in the same process as the API.
    let f = Fixture::synced().await;
    let writer = sync_core::Engine::open(&f.config().data_dir).expect("the daemon's engine");
    for path in [
        "/v1/runs",
        "/v1/sources",
        "/v1/search?q=policy&as=bob@example.com",
        "/v1/acl/explain?as=bob@example.com&doc=sample:public/welcome.md",
    ] {
        let (status, body) = f.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, text) = f.get_text("/metrics").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    drop(writer);
}
