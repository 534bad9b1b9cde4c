//! Pipeline benchmark: a full sync of N generated documents, the same text indexed straight
//! into tantivy as the reference, and a no-op incremental re-sync.
//!
//! ```sh
//! cargo bench -p tributary-benches --bench sync -- --docs 10000
//! cargo bench -p tributary-benches --bench sync -- --docs 50000   # peak RSS should stay flat
//! cargo bench -p tributary-benches --bench sync -- --paragraphs 48  # ~5 KB documents instead of ~0.8 KB
//! cargo bench -p tributary-benches --bench sync -- --docs 50000 --skip-reference --rss-trace
//! ```
//!
//! `--rss-trace` prints resident heap, mapped-file memory and the peak so far (VmHWM) against
//! documents done while the full sync runs (to stderr, every 5 ms), to see where memory goes
//! up: at each commit, or steadily.
//!
//! Peak RSS (VmHWM) is read right after the full sync, before the reference run, so it is
//! the pipeline's own peak.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use connector_filesystem::{FilesystemConfig, FilesystemConnector};
use sync_core::{Engine, Progress, Source, SyncOptions};
use tantivy::schema::{STORED, STRING, Schema, TEXT};
use tantivy::{Index, TantivyDocument};

// The same allocator as the `tributary` binary, so the numbers match what users run.
#[cfg(not(feature = "plain-mimalloc"))]
#[global_allocator]
static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;

// `--features plain-mimalloc`: mimalloc alone, tuned only through its `MIMALLOC_*` environment
// variables, to measure against the allocator above (ADR 0015).
#[cfg(feature = "plain-mimalloc")]
#[global_allocator]
static ALLOC: tributary_allocator::MiMalloc = tributary_allocator::MiMalloc;

/// A `/proc/self/status` memory line (`VmHWM`, `RssAnon`, `RssFile`) in MB.
fn status_mb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|kb| kb.parse::<f64>().ok())
                })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM")
}

/// User + system CPU seconds of this process so far (from /proc/self/stat, in clock ticks
/// of 1/100 s on Linux).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// Writes `n` small documents of mixed formats; returns their total size in bytes.
fn generate(root: &Path, n: usize, paragraphs: usize) -> u64 {
    let words = [
        "quarterly",
        "revenue",
        "pipeline",
        "customer",
        "incident",
        "rollout",
        "budget",
        "policy",
        "review",
        "latency",
        "contract",
        "roadmap",
        "hiring",
        "security",
        "audit",
    ];
    let mut total = 0u64;
    for i in 0..n {
        let sentence = |k: usize| -> String {
            (0..12)
                .map(|j| words[(i * 7 + k * 3 + j * 5) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        };
        let body: Vec<String> = (0..paragraphs.max(2)).map(sentence).collect();
        let dir = root.join(format!("d{:03}", i % 200));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let (name, text) = match i % 5 {
            0 => (format!("{i}.txt"), body.join(".\n\n")),
            1 => (
                format!("{i}.md"),
                format!(
                    "# Doc {i}\n\n{}\n\n## More\n\n{}",
                    body[..body.len() / 2].join(". "),
                    body[body.len() / 2..].join(". ")
                ),
            ),
            2 => (
                format!("{i}.html"),
                format!(
                    "<html><head><title>Doc {i}</title></head><body><h1>Doc {i}</h1><p>{}</p><p>{}</p></body></html>",
                    body[..body.len() / 2].join(". "),
                    body[body.len() / 2..].join(". ")
                ),
            ),
            3 => (
                format!("{i}.csv"),
                format!(
                    "id,text\n{}",
                    body.iter()
                        .enumerate()
                        .map(|(k, b)| format!("{k},{b}\n"))
                        .collect::<String>()
                ),
            ),
            _ => (
                format!("{i}.json"),
                serde_json::json!({"id": i, "paragraphs": body}).to_string(),
            ),
        };
        total += text.len() as u64;
        std::fs::write(dir.join(name), text).expect("write");
    }
    total
}

/// The reference: the same files read and their text indexed straight into tantivy, with
/// the same writer settings and no pipeline (no extraction, manifest, ACLs or chunking).
/// Returns (seconds including file reads, seconds of indexing alone, documents).
fn raw_tantivy(root: &Path, dir: &Path) -> (f64, f64, usize) {
    let mut b = Schema::builder();
    let id = b.add_text_field("id", STRING | STORED);
    let body = b.add_text_field("text", TEXT | STORED);
    let index = Index::create_in_dir(dir, b.build()).expect("index");
    let started = Instant::now();
    let mut texts = Vec::new();
    for path in walk(root) {
        let bytes = std::fs::read(&path).expect("read");
        texts.push((
            path.to_string_lossy().into_owned(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    let indexing = Instant::now();
    let mut writer = index
        .writer_with_num_threads::<TantivyDocument>(2, 96 * 1024 * 1024)
        .expect("writer");
    for (name, text) in &texts {
        let mut d = TantivyDocument::new();
        d.add_text(id, name);
        d.add_text(body, text);
        writer.add_document(d).expect("add");
    }
    writer.commit().expect("commit");
    (
        started.elapsed().as_secs_f64(),
        indexing.elapsed().as_secs_f64(),
        texts.len(),
    )
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| -> Option<usize> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|n| n.parse().ok())
    };
    let docs = arg("--docs").unwrap_or(10_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("docs");
    let bytes = generate(&root, docs, arg("--paragraphs").unwrap_or(8));
    let acl = tmp.path().join("acl.json");
    std::fs::write(&acl, r#"[{"keyPrefix": "", "aclEntries": [{"Name": "all", "Type": "GROUP", "Access": "ALLOW"}]}]"#)
        .expect("acl");
    let mut config = FilesystemConfig::new(&root);
    config.acl_file = Some(acl);
    let source = Source::new(
        "bench",
        Arc::new(FilesystemConnector::new(config.clone()).expect("config")),
    );
    // The same folder with the change journal: what a long-lived process (the daemon)
    // re-syncs with. The plain source stands for a one-off `tributary sync`, which walks.
    config.watch = true;
    let watched = Source::new(
        "bench",
        Arc::new(FilesystemConnector::new(config).expect("config")),
    );
    let engine = Engine::open(&tmp.path().join("data")).expect("engine");
    let mut options = SyncOptions::default();
    if let Some(c) = arg("--concurrency") {
        options.concurrency = c;
    }
    if let Some(c) = arg("--commit-docs") {
        options.commit.docs = c;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let progress = Arc::new(Progress::default());
    let trace = args.iter().any(|a| a == "--rss-trace").then(|| {
        let progress = progress.clone();
        std::thread::spawn(move || {
            let mut last = u64::MAX;
            loop {
                let done = progress.done.load(std::sync::atomic::Ordering::Relaxed);
                if done != last {
                    eprintln!(
                        "trace {:.3}s done {done} heap {:.0} MB file {:.0} MB peak {:.0} MB",
                        started.elapsed().as_secs_f64(),
                        status_mb("RssAnon"),
                        status_mb("RssFile"),
                        status_mb("VmHWM")
                    );
                    last = done;
                }
                if done >= docs as u64 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    });
    let full = runtime
        .block_on(engine.sync(&source, &options, progress))
        .expect("full sync");
    if let Some(t) = trace {
        t.join().expect("trace thread");
    }
    let full_s = started.elapsed().as_secs_f64();
    let full_cpu = cpu_seconds() - cpu_before;
    let rss = peak_rss_mb();
    // Peak RSS counts mapped index pages too (tantivy reads segments through mmap; the
    // kernel reclaims those at will): the split below tells them from heap memory.
    let (anon, file) = (status_mb("RssAnon"), status_mb("RssFile"));
    assert_eq!(full.counts.added as usize, docs, "{:?}", full.counts);

    // The no-op re-sync is short enough for timer noise to matter: report the median of
    // `--noop-runs` (default 5) runs, and the CPU time of one.
    let noop_runs = arg("--noop-runs").unwrap_or(5).max(1);
    let noop = |source: &Source, scanned: usize| {
        let mut times = Vec::new();
        let cpu_before = cpu_seconds();
        for _ in 0..noop_runs {
            let started = Instant::now();
            let noop = runtime
                .block_on(engine.sync(source, &options, Arc::new(Progress::default())))
                .expect("no-op sync");
            times.push(started.elapsed().as_secs_f64());
            let c = &noop.counts;
            assert_eq!(
                (c.scanned as usize, c.unchanged as usize),
                (scanned, scanned),
                "{c:?}"
            );
            assert_eq!(
                c.added + c.modified + c.deleted + c.acl_updated + c.failed,
                0,
                "{c:?}"
            );
        }
        times.sort_by(f64::total_cmp);
        (
            times[times.len() / 2],
            (cpu_seconds() - cpu_before) / noop_runs as f64,
        )
    };
    let (noop_s, noop_cpu) = noop(&source, docs);
    // One walk starts the journal (and sets its watches); after it, a no-op looks at nothing.
    let started = Instant::now();
    let primed = runtime
        .block_on(engine.sync(&watched, &options, Arc::new(Progress::default())))
        .expect("journal's first sync");
    let primed_s = started.elapsed().as_secs_f64();
    assert_eq!(
        primed.counts.unchanged as usize, docs,
        "{:?}",
        primed.counts
    );
    let (journal_s, journal_cpu) = noop(&watched, 0);

    if args.iter().any(|a| a == "--walk-only") {
        use futures::StreamExt;
        let cx = connector_sdk::SyncContext {
            source_id: "bench".into(),
            run_id: "x".into(),
            limits: connector_sdk::Limits::default(),
        };
        let started = Instant::now();
        let n = runtime.block_on(async { source.connector.full(&cx, None).count().await });
        println!(
            "listing alone: {n} items in {:.3} s",
            started.elapsed().as_secs_f64()
        );
    }
    if args.iter().any(|a| a == "--skip-reference") {
        println!(
            "full sync:            {full_s:.3} s, no-op {noop_s:.3} s (CPU {noop_cpu:.3} s), with the journal {journal_s:.4} s (CPU {journal_cpu:.4} s), peak RSS {rss:.0} MB (after: heap {anon:.0} MB, mapped files {file:.0} MB)"
        );
        return;
    }
    let raw_dir = tmp.path().join("raw");
    std::fs::create_dir_all(&raw_dir).expect("raw dir");
    let (raw_s, raw_index_s, raw_docs) = raw_tantivy(&root, &raw_dir);
    assert_eq!(raw_docs, docs);

    let mb = bytes as f64 / 1e6;
    println!("documents:            {docs} ({mb:.1} MB)");
    println!(
        "full sync:            {full_s:.3} s  {:.0} docs/s  {:.2} MB/s  (CPU {full_cpu:.2} s)",
        docs as f64 / full_s,
        mb / full_s
    );
    println!(
        "raw tantivy (ref.):   {raw_s:.3} s  {:.0} docs/s  {:.2} MB/s  (read files + index their text; indexing alone {raw_index_s:.3} s)",
        docs as f64 / raw_s,
        mb / raw_s
    );
    println!(
        "pipeline / raw:       {:.0}% of raw tantivy throughput",
        raw_s / full_s * 100.0
    );
    println!(
        "no-op incremental:    {noop_s:.3} s  ({:.1}% of the full sync; CPU {noop_cpu:.3} s a run) walking the folder, as a one-off `tributary sync` does",
        noop_s / full_s * 100.0
    );
    println!(
        "  with the journal:   {journal_s:.4} s  ({:.1}% of the full sync; CPU {journal_cpu:.4} s a run) in a long-lived process (watch = true; its first run walks and sets the watches: {primed_s:.3} s)",
        journal_s / full_s * 100.0
    );
    println!(
        "peak RSS after sync:  {rss:.0} MB (at that point: heap {anon:.0} MB, mapped files {file:.0} MB)"
    );
}
