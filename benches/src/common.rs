//! What the end-to-end benches share: their one argument, the engine they sync into and the
//! peak RSS they report.
//! Included by each bench with `#[path = "common.rs"] mod common;`.

/// The value after `--{name}` on the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a.strip_prefix("--") == Some(name))
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// The peak resident set of this process, in MB (VmHWM).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb / 1024.0)
        })
        .unwrap_or(f64::NAN)
}

/// A fresh engine in a temporary folder (kept alive by the returned guard), and the sync
/// options the SaaS benches use: 16 documents in flight, as their connectors' concurrency.
pub fn engine() -> (tempfile::TempDir, sync_core::Engine, sync_core::SyncOptions) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = sync_core::Engine::open(dir.path()).expect("engine");
    let options = sync_core::SyncOptions {
        concurrency: 16,
        ..sync_core::SyncOptions::default()
    };
    (dir, engine, options)
}
