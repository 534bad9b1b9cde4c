//! Search benchmark: `GET /v1/search` of a running `tributary daemon` (the real binary, its
//! real API path: auth, identities cache, ACL filter, snippets, JSON) under concurrent load,
//! against raw tantivy queries on the same index with the same queries, users' principals,
//! ACL filter and limit, in the same run — idle, and while the daemon's own sync writes to
//! the index.
//!
//! ```sh
//! cargo bench -p tributary-benches --bench search                       # 20k chunks
//! TRIBUTARY_BENCH_CHUNKS=100000 cargo bench -p tributary-benches --bench search
//! cargo bench -p tributary-benches --bench search -- --chunks 1000000 --clients 8,32
//! ```
//!
//! Settings (argument, else environment variable, else default): `--chunks`
//! (`TRIBUTARY_BENCH_CHUNKS`, 20000) chunks in the index before measuring; `--sync-chunks`
//! (`TRIBUTARY_BENCH_SYNC_CHUNKS`, a fifth of that) what the daemon syncs while searches run;
//! `--clients` (`TRIBUTARY_BENCH_CLIENTS`, `1,8,32`) concurrency levels, each closed loop
//! (`8`: every client sends its next request once the last one answered) or paced (`8@1000`:
//! 8 clients sending 1,000 requests a second in all, latency counted from when each request
//! was due, as wrk2 does); `--round-secs`
//! (`TRIBUTARY_BENCH_ROUND_SECS`, 2) and `--rounds` (`TRIBUTARY_BENCH_ROUNDS`, 3): each level
//! runs that many rounds of each mode, alternating, so that a noisy neighbour hurts every
//! mode alike; `--sync-clients` (`TRIBUTARY_BENCH_SYNC_CLIENTS`, 8; `8@1000` paced) the load while the
//! daemon syncs, in rounds of `--sync-round-ms` (`TRIBUTARY_BENCH_SYNC_ROUND_MS`, 50, at
//! least 50): a sync's commits, merges and reader reloads stall every search on the machine
//! for tens of milliseconds, and with longer rounds a stall lands in one mode's round and
//! decides that mode's p99 (at 600 searches a second, 250 ms rounds gave a mode's p99 of
//! 1.6 ms in one run and 9.6 ms in another, same build and settings); with rounds
//! shorter than a stall, each stall falls on every mode alike;
//! `--limit` (`TRIBUTARY_BENCH_LIMIT`, 10); `--modes` (`TRIBUTARY_BENCH_MODES`, all) the modes
//! to run, comma-separated (`raw` always runs). `TRIBUTARY_BENCH_DIR` keeps the
//! world in that folder and reuses its corpus on the next run (each run adds new files to
//! `incoming/`, so the index grows a fifth per run); `--prepare` stops once the corpus is
//! indexed, which gives a world to copy for runs that must start from the same index
//! (comparing two binaries); `TRIBUTARY_BENCH_BIN` uses that `tributary` binary instead of
//! building one.
//!
//! The corpus is indexed by `tributary sync` (the engine and the filesystem connector, as a
//! user would), not written around the engine. Requests are numbered and every mode sends the
//! same sequence: query `i` of the mix (frequent words, rare words, two-word OR, phrases), as
//! one of 2,000 users (two teams each, teams nested in divisions and `all-staff`; each folder
//! of documents is open to two teams, maybe a division or everyone, one user, and denies one
//! user in five), so a user may see ~5% of the chunks. Before measuring, every query's hits
//! over HTTP are checked against the raw query's, for several users.

#[path = "search/corpus.rs"]
mod corpus;
#[path = "search/daemon.rs"]
mod daemon;
#[path = "search/load.rs"]
mod load;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use corpus::{CHUNKS_PER_FILE, World};
use load::{Http, Load, Mode, RawIndex, Sample, Searchers, Work};
use sync_core::TantivyIndex;
use sync_core::identities::{Identities, IdentitiesFile};

#[global_allocator]
static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;

/// `--name VALUE`, else the environment variable, else nothing.
fn setting(args: &[String], name: &str, env: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var(env).ok())
}

fn number(args: &[String], name: &str, env: &str, default: usize) -> usize {
    setting(args, name, env).map_or(default, |v| {
        v.replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {v:?} is not a number"))
    })
}

/// `(source, chunk_id)` of every hit of a `/v1/search` answer.
fn hits_of(body: &[u8]) -> Vec<(String, String)> {
    let rows: Vec<serde_json::Value> = serde_json::from_slice(body).expect("search JSON");
    rows.iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("source"), s("chunk_id"))
        })
        .collect()
}

/// Every query as several users: HTTP (with and, where `bare`, without snippets), raw and
/// library searches find the same chunks. Returns the hits per search (on average) and the
/// searches that found none.
fn check_same_hits(s: &Searchers, bare: bool) -> (f64, usize) {
    let (mut hits, mut empty, mut searches) = (0, 0, 0);
    for (q, query) in s.work.queries.iter().enumerate() {
        for u in [0, 1, 2, 3, 500, 1999].map(|u| (u + q) % s.work.users.len()) {
            let principals = &s.work.principals[u];
            let raw = s.raw.search(query, principals, s.work.limit);
            let http = hits_of(&s.runtime.block_on(s.http.search(
                query,
                &s.work.users[u],
                s.work.limit,
                true,
            )));
            if bare {
                let body =
                    s.runtime
                        .block_on(s.http.search(query, &s.work.users[u], s.work.limit, false));
                assert_eq!(hits_of(&body), http, "{query:?} without snippets");
            }
            let lib: Vec<_> = s
                .lib
                .search(query, principals, s.work.limit)
                .expect("library search")
                .into_iter()
                .map(|h| (h.source, h.chunk_id))
                .collect();
            // Equal scores may come in either order: compare as sets.
            let set = |v: &[(String, String)]| v.iter().cloned().collect::<BTreeSet<_>>();
            assert_eq!(set(&http), set(&raw), "{query:?} as {}", s.work.users[u]);
            assert_eq!(set(&lib), set(&raw), "{query:?} as {}", s.work.users[u]);
            hits += raw.len();
            empty += usize::from(raw.is_empty());
            searches += 1;
        }
    }
    (hits as f64 / searches as f64, empty)
}

/// How this machine's idle cores wait, where the kernel tells: a guest whose idle vCPU halts
/// at once (`guest_halt_poll_ns = 0`) pays a VM exit on every wake-up across processes, which
/// a round trip over the loopback makes twice and an in-process search never.
fn idle_cores() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let driver = read("/sys/devices/system/cpu/cpuidle/current_driver");
    let poll = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns");
    match (driver, poll) {
        (Some(d), Some(p)) => format!("cpuidle {d}, guest_halt_poll_ns {p}"),
        (Some(d), None) => format!("cpuidle {d}"),
        _ => "cpuidle unknown".into(),
    }
}

/// One row per mode: requests, throughput, p50, p99, and both against raw.
fn print_table(label: &str, samples: &[(Mode, Sample)]) {
    let raw = &samples
        .iter()
        .find(|(m, _)| *m == Mode::Raw)
        .expect("raw")
        .1;
    let (raw50, raw99) = (raw.percentile(50.0), raw.percentile(99.0));
    let like = |a: Mode, b: Mode| {
        let of = |m: Mode| samples.iter().find(|(x, _)| *x == m).map(|(_, s)| s);
        if let (Some(a_s), Some(b_s)) = (of(a), of(b)) {
            println!(
                "{label:<30} {} / {}: p50 {:.2}×, p99 {:.2}×",
                a.name(),
                b.name(),
                a_s.percentile(50.0) / b_s.percentile(50.0),
                a_s.percentile(99.0) / b_s.percentile(99.0)
            );
        }
    };
    for (mode, s) in samples {
        let (p50, p99) = (s.percentile(50.0), s.percentile(99.0));
        println!(
            "{label:<30} {:<9} {:>8} {:>9.0} {:>8.2} {:>8.2} {:>8.2}× {:>8.2}×",
            mode.name(),
            s.micros.len(),
            s.per_second(),
            p50,
            p99,
            p50 / raw50,
            p99 / raw99
        );
    }
    // Like for like: the same answer from the daemon and from plain tantivy.
    like(Mode::Http, Mode::RawSnippets);
    like(Mode::HttpBare, Mode::Raw);
}

fn header() {
    println!(
        "{:<30} {:<9} {:>8} {:>9} {:>8} {:>8} {:>9} {:>9}",
        "load", "mode", "requests", "req/s", "p50 ms", "p99 ms", "p50/raw", "p99/raw"
    );
}

/// The newest run of `incoming` (`None` before its first run wrote a report).
fn newest_incoming_run(s: &Searchers) -> Option<serde_json::Value> {
    let body = s.runtime.block_on(async {
        let r = s
            .http
            .get("/v1/runs?source=incoming&last=1")
            .send()
            .await
            .expect("runs");
        assert!(r.status().is_success(), "runs: {}", r.status());
        r.bytes().await.expect("runs body")
    });
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("runs JSON");
    runs.into_iter().next()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let chunks = number(&args, "--chunks", "TRIBUTARY_BENCH_CHUNKS", 20_000);
    let sync_chunks = number(
        &args,
        "--sync-chunks",
        "TRIBUTARY_BENCH_SYNC_CHUNKS",
        chunks / 5,
    );
    let round =
        Duration::from_secs(number(&args, "--round-secs", "TRIBUTARY_BENCH_ROUND_SECS", 2) as u64);
    let rounds = number(&args, "--rounds", "TRIBUTARY_BENCH_ROUNDS", 3).max(1);
    let sync_round = Duration::from_millis(
        number(
            &args,
            "--sync-round-ms",
            "TRIBUTARY_BENCH_SYNC_ROUND_MS",
            50,
        )
        .max(50) as u64,
    );
    let limit = number(&args, "--limit", "TRIBUTARY_BENCH_LIMIT", 10);
    let levels: Vec<Load> = setting(&args, "--clients", "TRIBUTARY_BENCH_CLIENTS")
        .unwrap_or_else(|| "1,8,32".into())
        .split(',')
        .map(Load::parse)
        .collect();

    let (_tmp, dir) = match std::env::var_os("TRIBUTARY_BENCH_DIR") {
        Some(d) => (None, std::path::PathBuf::from(d)),
        None => {
            let t = tempfile::tempdir().expect("tempdir");
            let d = t.path().to_path_buf();
            (Some(t), d)
        }
    };
    std::fs::create_dir_all(&dir).expect("bench folder");
    let world = World::create(&dir);
    let bin = daemon::binary();
    if world.index_dir().join("meta.json").exists() {
        println!("reusing the corpus in {}", dir.display());
    } else {
        let started = Instant::now();
        let bytes = corpus::write_files(&dir.join("corpus"), chunks.div_ceil(CHUNKS_PER_FILE), 1);
        println!(
            "corpus: {} files, {:.0} MB written in {:.1} s",
            chunks.div_ceil(CHUNKS_PER_FILE),
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        let took = daemon::sync(&bin, &world.config, "corpus");
        println!("tributary sync (corpus): {:.1} s", took.as_secs_f64());
    }
    if args.iter().any(|a| a == "--prepare") {
        return;
    }
    // New files (a new name per run) for the daemon to sync while searches run.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    corpus::write_files(
        &dir.join("incoming").join(format!("run{nonce}")),
        sync_chunks.div_ceil(CHUNKS_PER_FILE),
        nonce,
    );

    let identities = Identities::from_file(
        &IdentitiesFile::parse(&std::fs::read(&world.identities).expect("identities"))
            .expect("identities file"),
        ["corpus", "incoming"],
    );
    let users: Vec<String> = (0..corpus::USERS).map(corpus::user).collect();
    let daemon = daemon::Daemon::start(&bin, &world.config);
    let searchers = Searchers {
        work: Arc::new(Work {
            queries: corpus::queries(),
            principals: users.iter().map(|u| identities.principals(u)).collect(),
            users,
            limit,
        }),
        next: Arc::new(AtomicU64::new(0)),
        raw: RawIndex::open(&world.index_dir()),
        lib: TantivyIndex::open_read_only(&world.index_dir())
            .expect("open the index")
            .expect("an index"),
        http: Http::new(&daemon.base),
        runtime: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    };
    let indexed = searchers.raw.chunks();
    // A daemon built before `snippets=false` (TRIBUTARY_BENCH_BIN) answers 400: no bare mode.
    let (status, _) = searchers.runtime.block_on(searchers.http.try_search(
        &searchers.work.queries[0],
        &searchers.work.users[0],
        1,
        false,
    ));
    let bare = status.is_success();
    // `--modes http,raw-snip`: fewer modes take turns, so each gets more requests while the
    // daemon syncs (with all seven, a p99 rests on about 2,100). `raw` always runs: the
    // table's ratios are to it.
    let wanted = setting(&args, "--modes", "TRIBUTARY_BENCH_MODES");
    let modes: Vec<Mode> = Mode::ALL
        .into_iter()
        .filter(|&m| bare || m != Mode::HttpBare)
        .filter(|&m| {
            m == Mode::Raw
                || wanted
                    .as_deref()
                    .is_none_or(|w| w.split(',').any(|n| n.trim() == m.name()))
        })
        .collect();
    if let Some(w) = &wanted {
        for name in w.split(',').map(str::trim) {
            assert!(
                Mode::ALL.iter().any(|m| m.name() == name),
                "--modes: {name:?} is none of {:?}",
                Mode::ALL.map(Mode::name)
            );
        }
    }
    let (hits, empty) = check_same_hits(&searchers, bare);
    println!(
        "index: {indexed} chunks; {} queries × 6 users: the same hits over HTTP, raw and library ({hits:.1} a search, {empty} empty); daemon pid {}, API {}; {}",
        searchers.work.queries.len(),
        daemon.pid(),
        daemon.base,
        idle_cores()
    );

    // Warm the page cache and both processes' allocators.
    for &mode in &modes {
        searchers.round(mode, levels[0], Duration::from_secs(1));
    }
    header();
    for &load in &levels {
        let mut samples: Vec<(Mode, Sample)> =
            modes.iter().map(|&m| (m, Sample::default())).collect();
        for _ in 0..rounds {
            for (mode, sample) in &mut samples {
                sample.add(searchers.round(*mode, load, round));
            }
        }
        print_table(&format!("{}, idle", load.label()), &samples);
    }

    // The same while the daemon syncs `incoming` (its one index writer, ADR 0013/0014).
    let load = Load::parse(
        &setting(&args, "--sync-clients", "TRIBUTARY_BENCH_SYNC_CLIENTS")
            .unwrap_or_else(|| "8".into()),
    );
    let before = newest_incoming_run(&searchers).map(|r| r["id"].clone());
    let status = searchers.runtime.block_on(async {
        searchers
            .http
            .post("/v1/sources/incoming/sync")
            .send()
            .await
            .expect("trigger")
            .status()
    });
    assert_eq!(status.as_u16(), 202, "trigger the incoming sync");
    let started = Instant::now();
    let mut samples: Vec<(Mode, Sample)> = modes.iter().map(|&m| (m, Sample::default())).collect();
    let mut turn = 0;
    let run = loop {
        // Each pass starts with the next mode, so that no mode always meets the sync's start
        // (listing, the store's opening commit) and another always its end.
        let n = samples.len();
        let first = turn % n;
        turn += 1;
        for k in 0..n {
            let (mode, sample) = &mut samples[(first + k) % n];
            sample.add(searchers.round(*mode, load, sync_round));
        }
        if let Some(run) = newest_incoming_run(&searchers)
            && Some(&run["id"]) != before.as_ref()
            && !run["finished_at"].is_null()
        {
            break run;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "the incoming sync never ended"
        );
    };
    print_table(&format!("{}, syncing", load.label()), &samples);
    // The API sees what the sync committed: the same hits as a fresh raw reader's (tantivy's
    // own reload policy lags commits by up to half a second).
    std::thread::sleep(Duration::from_secs(1));
    check_same_hits(&searchers, bare);
    println!(
        "sync while searching: {} ({} chunks now; run {}, {} added, {} s by its report)",
        run["state"],
        searchers.raw.chunks(),
        run["id"],
        run["counts"]["added"],
        started.elapsed().as_secs()
    );
}
