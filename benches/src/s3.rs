//! S3 benchmark against a local S3-compatible server (moto): a full sync of N small
//! objects (objects/s, MB/s), then a no-op incremental re-sync (time, and every request it
//! made, counted at a proxy).
//!
//! ```sh
//! moto_server -H 127.0.0.1 -p 5077 &
//! TRIBUTARY_TEST_S3_ENDPOINT=http://127.0.0.1:5077 cargo bench -p tributary-benches --bench s3 -- --objects 10000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use connector_s3::{S3Config, S3Connector};
use fault_proxy::{FaultProxy, s3};
use futures::StreamExt;
use sync_core::{Engine, Progress, Source, SyncOptions};

// The same allocator as the `tributary` binary.
#[global_allocator]
static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;

/// User + system CPU seconds of this process (from /proc/self/stat, 1/100 s ticks): the
/// local server is usually the bottleneck, so our own CPU per object is the telling number.
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

fn credentials() -> Credentials {
    Credentials::new("bench", "bench", None, None, "bench")
}

fn source(bucket: &str, endpoint: String, concurrency: usize) -> Source {
    let mut config = S3Config::new(bucket);
    config.region = Some("us-east-1".into());
    config.endpoint_url = Some(endpoint);
    config.force_path_style = true;
    config.acl_file_key = Some("acl.json".into());
    config.concurrency = concurrency;
    let connector = S3Connector::with_credentials(config, credentials()).expect("config");
    Source::new("bench", Arc::new(connector))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| -> Option<usize> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|n| n.parse().ok())
    };
    let objects = arg("--objects").unwrap_or(10_000);
    let concurrency = arg("--concurrency").unwrap_or(16);
    let endpoint = std::env::var("TRIBUTARY_TEST_S3_ENDPOINT")
        .expect("set TRIBUTARY_TEST_S3_ENDPOINT to a running S3-compatible server (moto_server)");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let bucket = format!("bench-{}", std::process::id());
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .credentials_provider(credentials())
                .region(Region::new("us-east-1"))
                .endpoint_url(&endpoint)
                .force_path_style(true)
                .build(),
        );
        client.create_bucket().bucket(&bucket).send().await.expect("create bucket");
        let acl = format!(
            r#"[{{"keyPrefix": "s3://{bucket}/", "aclEntries": [{{"Name": "all", "Type": "GROUP", "Access": "ALLOW"}}]}}]"#
        );
        client.put_object().bucket(&bucket).key("acl.json").body(acl.into_bytes().into()).send().await.expect("acl");
        let started = Instant::now();
        let bytes: usize = futures::stream::iter(0..objects)
            .map(|i| {
                let client = client.clone();
                let bucket = bucket.clone();
                async move {
                    let body = format!(
                        "Document {i}. The quarterly review of pipeline latency and customer \
                         incidents, with the rollout plan for region {} and budget line {}.\n",
                        i % 17,
                        i * 7
                    )
                    .repeat(4);
                    let len = body.len();
                    client
                        .put_object()
                        .bucket(&bucket)
                        .key(format!("docs/{:02}/{i:06}.txt", i % 50))
                        .body(body.into_bytes().into())
                        .send()
                        .await
                        .expect("put");
                    len
                }
            })
            .buffer_unordered(32)
            .fold(0, |a, b| async move { a + b })
            .await;
        println!(
            "seeded:               {objects} objects, {:.1} MB in {:.1} s",
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path()).expect("engine");
        let options = SyncOptions {
            concurrency,
            ..SyncOptions::default()
        };

        let cpu = cpu_seconds();
        let started = Instant::now();
        let full = engine
            .sync(&source(&bucket, endpoint.clone(), concurrency), &options, Arc::new(Progress::default()))
            .await
            .expect("full sync");
        let full_s = started.elapsed().as_secs_f64();
        let full_cpu = cpu_seconds() - cpu;
        assert_eq!(full.counts.added as usize, objects, "{:?}", full.counts);
        println!(
            "full sync:            {full_s:.2} s  {:.0} objects/s  {:.2} MB/s  (concurrency {concurrency}; Tributary's CPU {full_cpu:.2} s = {:.0} µs per object)",
            objects as f64 / full_s,
            bytes as f64 / 1e6 / full_s,
            full_cpu / objects as f64 * 1e6
        );

        // The no-op goes through a counting proxy.
        let proxy = FaultProxy::start(&endpoint).await.expect("proxy");
        let started = Instant::now();
        let noop = engine
            .sync(&source(&bucket, proxy.url(), concurrency), &options, Arc::new(Progress::default()))
            .await
            .expect("no-op sync");
        let noop_s = started.elapsed().as_secs_f64();
        assert_eq!(noop.counts.unchanged as usize, objects, "{:?}", noop.counts);
        println!(
            "no-op incremental:    {noop_s:.2} s  ({:.1}% of the full sync); requests: {} total = {} ListObjectsV2 + {} HeadObject + {} GetObject",
            noop_s / full_s * 100.0,
            proxy.count(s3::any),
            proxy.count(s3::list_objects),
            proxy.count(s3::head_object),
            proxy.count(s3::get_object)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    });
}
