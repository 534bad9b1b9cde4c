//! `tributary daemon` as a process: SIGTERM in the middle of a large sync stops it within
//! the grace period and the next start resumes to the same index as a clean sync; SIGHUP
//! with a broken config keeps the old one (and a good one takes effect); a second daemon
//! on the same data folder is refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sync_core::{Engine, RunMode, RunReport, RunState};

use crate::crash::{dump, populate};
use crate::support::{World, tributary_bin};

/// A config for `docs/` into `data`, with `extra` appended; one document at a time and
/// small commits, so a large sync is long enough to be interrupted.
fn write_config(w: &World, name: &str, data: &str, extra: &str) -> PathBuf {
    let path = w.dir.path().join(name);
    std::fs::write(
        &path,
        format!(
            "[index]\npath = \"{data}\"\n[sync]\ncommit_docs = 150\nconcurrency = 1\n\
             [daemon]\nshutdown_grace_secs = 20\nlisten = \"127.0.0.1:0\"\n\
             [[sources]]\nid = \"docs\"\ntype = \"filesystem\"\nroot = \"docs\"\n\
             acl_file = \"acl.json\"\nschedule = {{ content = \"1h\", jitter = \"off\" }}\n{extra}"
        ),
    )
    .expect("config");
    path
}

pub(crate) struct Daemon {
    pub(crate) child: Child,
    log: PathBuf,
}

impl Daemon {
    pub(crate) fn start(config: &Path, log: PathBuf) -> Daemon {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(tributary_bin())
            .arg("--config")
            .arg(config)
            .arg("-v")
            .arg("daemon")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn daemon");
        Daemon { child, log }
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to exit, at most `limit`.
    pub(crate) fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `ready` holds of the log, at most `limit`.
    pub(crate) fn wait_log(&mut self, limit: Duration, what: &str, ready: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + limit;
        while !ready(&self.log()) {
            assert!(
                self.child.try_wait().expect("try_wait").is_none(),
                "the daemon exited waiting for {what}; log:\n{}",
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "no {what} within {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Daemon {
    /// The API's address, from the start line of the log.
    pub(crate) fn api(&self) -> String {
        let log = self.log();
        let line = log
            .lines()
            .find(|l| l.contains("daemon started"))
            .expect("started");
        let at = line.find("api=").expect("api address") + 4;
        line[at..]
            .split_whitespace()
            .next()
            .expect("address")
            .to_string()
    }

    /// The status line of `GET path` on the API.
    fn get(&self, path: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.api()).expect("connect to the API");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .expect("request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        answer.lines().next().unwrap_or_default().to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runs(data: &Path) -> Vec<RunReport> {
    Engine::open_read_only(data)
        .expect("open")
        .store()
        .runs()
        .expect("runs")
}

#[test]
fn sigterm_mid_sync_exits_in_the_grace_period_and_the_next_start_resumes_to_a_clean_index() {
    let w = World::new();
    populate(&w);
    let clean = write_config(&w, "clean.toml", "clean", "");
    let out = Command::new(tributary_bin())
        .arg("--config")
        .arg(&clean)
        .arg("sync")
        .output()
        .expect("one-off sync");
    assert!(out.status.success(), "{out:?}");

    let config = write_config(&w, "daemon.toml", "data", "");
    let data = w.dir.path().join("data");
    let meta = data.join("index/meta.json");
    let mut daemon = Daemon::start(&config, w.dir.path().join("first.log"));
    // The run at start is a full sync of 3,000 documents, one at a time: stop it after
    // its first commit.
    daemon.wait_log(Duration::from_secs(120), "the run's start", |log| {
        log.contains("sync started")
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let before = std::fs::read(&meta).expect("meta");
    while std::fs::read(&meta).expect("meta") == before {
        assert!(Instant::now() < deadline, "no commit; {}", daemon.log());
        std::thread::sleep(Duration::from_millis(5));
    }
    let signalled = Instant::now();
    daemon.signal("TERM");
    let status = daemon.wait(Duration::from_secs(25));
    assert!(status.success(), "{status:?}; log:\n{}", daemon.log());
    assert!(
        signalled.elapsed() < Duration::from_secs(20),
        "exited after the grace period"
    );
    let first = runs(&data);
    assert_eq!(
        first.iter().map(|r| r.state).collect::<Vec<_>>(),
        [RunState::Stopped],
        "the run was stopped, not failed or finished: {first:?}"
    );
    assert_eq!(first[0].counts.deleted, 0);
    assert!(first[0].counts.added > 0, "{first:?}");

    // The next start resumes the listing where its checkpoint is, and ends exact.
    let mut again = Daemon::start(&config, w.dir.path().join("second.log"));
    again.wait_log(Duration::from_secs(180), "the resumed run's end", |log| {
        log.contains("run finished")
    });
    again.signal("TERM");
    assert!(again.wait(Duration::from_secs(25)).success());
    let all = runs(&data);
    let resumed = all.last().expect("a second run");
    assert_eq!(
        (resumed.mode, resumed.state),
        (RunMode::FullResumed, RunState::Succeeded),
        "{resumed:?}"
    );
    assert!(
        resumed.counts.added < 3_000,
        "the resumed run indexed again what the stopped one had committed: {resumed:?}"
    );
    assert!(
        dump(&data) == dump(&w.dir.path().join("clean")),
        "the resumed index differs from a clean sync's"
    );
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_one_and_a_good_one_takes_effect() {
    let w = World::new();
    w.write("a.txt", "alpha document");
    w.write("more/b.txt", "bravo document");
    w.acl(&[("", &[("all", "GROUP", "ALLOW")])]);
    let config = write_config(&w, "daemon.toml", "data", "");
    let data = w.dir.path().join("data");
    let mut daemon = Daemon::start(&config, w.dir.path().join("daemon.log"));
    daemon.wait_log(Duration::from_secs(60), "the first run", |log| {
        log.contains("run finished")
    });

    // A second daemon on the same folder is refused, with the first one's pid.
    let second = Command::new(tributary_bin())
        .arg("--config")
        .arg(&config)
        .arg("daemon")
        .output()
        .expect("second daemon");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(
        stderr.contains("another tributary daemon already runs"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("pid {}", daemon.child.id())),
        "{stderr}"
    );

    // Broken: every problem is logged, the daemon goes on with the old config.
    std::fs::write(
        &config,
        "[daemon]\nmax_concurrent_runs = 0\n[[sources]]\nid = \"docs\"\ntype = \"nope\"\n",
    )
    .expect("break the config");
    daemon.signal("HUP");
    daemon.wait_log(Duration::from_secs(30), "the refused reload", |log| {
        log.contains("config not reloaded")
    });
    let log = daemon.log();
    assert!(log.contains("daemon.max_concurrent_runs"), "{log}");
    assert!(log.contains("sources[0].type"), "{log}");
    assert!(daemon.child.try_wait().expect("try_wait").is_none());
    assert_eq!(daemon.get("/readyz"), "HTTP/1.1 200 OK", "still serving");

    // Good again, with a second source: it is scheduled and runs at once.
    let extra = "[[sources]]\nid = \"more\"\ntype = \"filesystem\"\nroot = \"docs/more\"\n\
                 default_access = \"everyone\"\n";
    write_config(&w, "daemon.toml", "data", extra);
    daemon.signal("HUP");
    daemon.wait_log(Duration::from_secs(60), "the new source's run", |log| {
        log.contains("config reloaded") && log.contains("source=\"more\"")
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !runs(&data)
        .iter()
        .any(|r| r.source == "more" && r.state == RunState::Succeeded)
    {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.signal("TERM");
    assert!(daemon.wait(Duration::from_secs(25)).success());
}
