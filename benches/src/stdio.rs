//! The stdio protocol's cost: a full sync of N generated files through the filesystem
//! connector in process, then through the same connector served by `serve_stdio` in a
//! child process (`src/bin/stdio_filesystem.rs`) and run by `connector-process`, in the
//! same run, each into a fresh index. Prints documents/s of both and their ratio.
//!
//! ```sh
//! cargo bench -p tributary-benches --bench stdio -- --docs 5000
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use connector_filesystem::{FilesystemConfig, FilesystemConnector};
use connector_process::{ProcessConfig, ProcessConnector};
use connector_sdk::Connector;
use sync_core::{Engine, Progress, RunState, Source, SyncOptions};

#[global_allocator]
static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;

fn generate(root: &Path, n: usize) {
    let words = [
        "quarterly",
        "revenue",
        "pipeline",
        "incident",
        "roadmap",
        "budget",
    ];
    for i in 0..n {
        let dir = root.join(format!("d{}", i % 50));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let text: String = (0..120)
            .map(|w| words[(i * 7 + w) % words.len()])
            .collect::<Vec<_>>()
            .join(" ");
        std::fs::write(
            dir.join(format!("doc{i}.txt")),
            format!("document {i}\n{text}\n"),
        )
        .expect("write");
    }
}

async fn run(name: &str, connector: Arc<dyn Connector>, n: usize) -> f64 {
    let data = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(data.path()).expect("engine");
    let source = Source::new("bench", connector);
    let options = SyncOptions {
        full: true,
        ..SyncOptions::default()
    };
    let start = Instant::now();
    let report = engine
        .sync(&source, &options, Arc::new(Progress::default()))
        .await
        .expect("run starts");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.state, RunState::Succeeded, "{report:?}");
    assert_eq!(report.counts.added as usize, n, "{report:?}");
    let rate = n as f64 / secs;
    println!("{name:<12} {n} documents in {secs:.2} s: {rate:.0} documents/s");
    rate
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = args
        .iter()
        .position(|a| a == "--docs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000usize);
    let docs = tempfile::tempdir().expect("tempdir");
    generate(docs.path(), n);

    let in_process = FilesystemConnector::new(FilesystemConfig::new(docs.path())).expect("valid");
    let local = run("in-process", Arc::new(in_process), n).await;

    let mut config = ProcessConfig::new([env!("CARGO_BIN_EXE_stdio-filesystem-plugin")]);
    config.config = Some(serde_json::json!({ "root": docs.path() }));
    let stdio = run("stdio", Arc::new(ProcessConnector::new(config)), n).await;
    println!(
        "stdio / in-process: {:.2} (each document crosses the pipe as JSON, its content as base64)",
        stdio / local
    );
}
