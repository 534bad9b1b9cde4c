//! Push sources through the real `tributary daemon` (ADR 0026): a full job over HTTP, its
//! documents searchable by exactly whom their ACLs name; a job left open when the daemon
//! stops keeps what it put and deletes nothing; `tributary sync` passes push sources by, or
//! says where their documents come from when asked for one.

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sync_core::{Engine, RunState};

use crate::daemon::Daemon;
use crate::support::{World, tributary_bin};

const TOKEN: &str = "push-test-token-0123456789";

/// `method path` with the token and a JSON body; the status code and the JSON answer.
fn call(daemon: &Daemon, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut stream = std::net::TcpStream::connect(daemon.api()).expect("connect to the API");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let (_, json) = answer.split_once("\r\n\r\n").expect("a body");
    let json = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {answer}"));
    (status, json)
}

fn config(w: &World) -> std::path::PathBuf {
    std::fs::write(
        w.dir.path().join("identities.json"),
        r#"{"users": {"ann@example.com": ["sales"], "bob@example.com": ["support"]}}"#,
    )
    .expect("identities");
    let path = w.dir.path().join("tributary.toml");
    std::fs::write(
        &path,
        format!(
            "[index]\npath = \"data\"\n[identities]\nfile = \"identities.json\"\n\
             [daemon]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\nshutdown_grace_secs = 20\n\
             [[sources]]\nid = \"crm\"\ntype = \"push\"\n"
        ),
    )
    .expect("config");
    path
}

fn visible(daemon: &Daemon, user: &str) -> Vec<String> {
    let (status, rows) = call(
        daemon,
        "GET",
        &format!("/v1/search?all=true&as={user}"),
        &Value::Null,
    );
    assert_eq!(status, 200, "{rows}");
    let mut ids: Vec<String> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["doc_id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_push_job_through_the_daemon_is_searched_by_its_acls_and_an_open_one_survives_a_stop() {
    let w = World::new();
    let config = config(&w);
    let mut daemon = Daemon::start(&config, w.dir.path().join("daemon.log"));
    daemon.wait_log(Duration::from_secs(60), "the start", |log| {
        log.contains("daemon started")
    });
    // No schedule: the daemon starts no run of a push source by itself.
    let (status, trigger) = call(&daemon, "POST", "/v1/sources/crm/sync", &Value::Null);
    assert_eq!(status, 409, "{trigger}");

    let (status, job) = call(
        &daemon,
        "POST",
        "/v1/sources/crm/jobs",
        &json!({"mode": "full"}),
    );
    assert_eq!(status, 201, "{job}");
    let id = job["job"].as_str().expect("job id").to_string();
    let docs = json!({"documents": [
        {"id": "deal-1", "title": "Deal one", "content_type": "text/html",
         "text": "<p>renewal for <b>Acme</b></p>", "acl": {"allow": ["group:sales"]}},
        {"id": "ticket-2", "text": "Acme cannot log in", "acl": {"allow": ["group:support"], "deny": ["user:ann@example.com"]}},
    ]});
    let (status, put) = call(
        &daemon,
        "POST",
        &format!("/v1/sources/crm/jobs/{id}/documents"),
        &docs,
    );
    assert_eq!((status, &put["accepted"]), (200, &json!(2)), "{put}");
    let (status, _) = call(
        &daemon,
        "POST",
        &format!("/v1/sources/crm/jobs/{id}/finish"),
        &Value::Null,
    );
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let (_, view) = call(
            &daemon,
            "GET",
            &format!("/v1/sources/crm/jobs/{id}"),
            &Value::Null,
        );
        if view["state"] == "finished" {
            break view;
        }
        assert!(Instant::now() < deadline, "{view}\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(view["report"]["counts"]["added"], 2, "{view}");
    assert_eq!(visible(&daemon, "ann@example.com"), ["deal-1"]);
    assert_eq!(visible(&daemon, "bob@example.com"), ["ticket-2"]);
    assert!(visible(&daemon, "eve@example.com").is_empty());
    // The daemon logs the job's end with its state.
    assert!(daemon.log().contains("push job ended"), "{}", daemon.log());

    // A job left open when the daemon stops: its run stops, what it put is kept, and the
    // full job's sweep never happens.
    let (_, job) = call(
        &daemon,
        "POST",
        "/v1/sources/crm/jobs",
        &json!({"mode": "full"}),
    );
    let open = job["job"].as_str().expect("job id").to_string();
    let one = json!({"documents": [{"id": "deal-3", "text": "Globex order", "acl": {"allow": ["everyone"]}}]});
    let (status, _) = call(
        &daemon,
        "POST",
        &format!("/v1/sources/crm/jobs/{open}/documents"),
        &one,
    );
    assert_eq!(status, 200);
    daemon.signal("TERM");
    let exit = daemon.wait(Duration::from_secs(25));
    assert!(exit.success(), "{exit:?}; log:\n{}", daemon.log());
    let engine = Engine::open_read_only(&w.dir.path().join("data")).expect("open");
    let runs = engine.store().runs().expect("runs");
    let last = runs.last().expect("the open job's run");
    assert_eq!(last.id.to_string(), open);
    assert_eq!(last.state, RunState::Stopped, "{last:?}");
    assert_eq!(last.counts.deleted, 0, "{last:?}");
    assert_eq!(engine.store().manifest_count("crm").expect("count"), 3);
    drop(engine);

    // `tributary sync` passes a push source by, and says why when asked for it.
    let all = Command::new(tributary_bin())
        .arg("--config")
        .arg(&config)
        .arg("sync")
        .output()
        .expect("sync");
    assert!(all.status.success(), "{all:?}");
    assert!(
        String::from_utf8_lossy(&all.stderr).contains("crm: skipped"),
        "{all:?}"
    );
    let named = Command::new(tributary_bin())
        .arg("--config")
        .arg(&config)
        .args(["sync", "--source", "crm"])
        .output()
        .expect("sync");
    assert!(!named.status.success());
    let stderr = String::from_utf8_lossy(&named.stderr);
    assert!(
        stderr.contains("push sources receive documents through the daemon's API"),
        "{stderr}"
    );
}
