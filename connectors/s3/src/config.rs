//! Configuration of an S3 source (`type = "s3"`), and [`S3Type`], the entry the binary
//! registers.

use std::sync::Arc;
use std::time::Duration;

use connector_sdk::{Connector, ConnectorError, SourceProfile, SourceType};
use serde::{Deserialize, Deserializer};

pub use connector_sdk::ConfigProblem;
pub use connector_sdk::acl_file::DefaultAccess;

use crate::S3Connector;

/// `[[sources]]` keys of `type = "s3"`. The durations are written in milliseconds
/// (`initial_backoff_ms`, `attempt_timeout_ms`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The bucket to sync.
    pub bucket: String,
    /// One key prefix to list: the same as `prefixes = [prefix]` (set one or the other).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Key prefixes to list; with no `prefix` either, the whole bucket. A prefix inside
    /// another configured prefix is dropped, so no key is listed twice.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// The region; when `None`, the AWS default chain decides (`AWS_REGION`, profile, IMDS).
    #[serde(default)]
    pub region: Option<String>,
    /// A custom endpoint for S3-compatible stores (MinIO, moto, Ceph), proxies and tests.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`.
    #[serde(default)]
    pub force_path_style: bool,
    /// Globs over keys; when non-empty, only matching keys are synced.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs over keys; matching keys are never synced.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Objects larger than this are recorded as skipped, never downloaded.
    #[serde(default = "defaults::max_object_bytes")]
    pub max_object_bytes: u64,
    /// The key of an Amazon Q style ACL file in the bucket (`keyPrefix` = `s3://BUCKET/...`).
    #[serde(default)]
    pub acl_file_key: Option<String>,
    /// `KEY` + this suffix is `KEY`'s metadata sidecar.
    #[serde(default = "defaults::metadata_suffix")]
    pub metadata_suffix: String,
    /// Access for keys no ACL-file prefix covers (and that have no sidecar ACL).
    #[serde(default)]
    pub default_access: DefaultAccess,
    /// Downloads in flight at once.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// Attempts per request (the first one included) for throttling, 5xx and timeouts.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// The first retry's backoff; it doubles (with jitter) up to 20 s.
    #[serde(
        rename = "initial_backoff_ms",
        default = "defaults::initial_backoff",
        deserialize_with = "millis"
    )]
    pub initial_backoff: Duration,
    /// How long one attempt of one request may take before it is retried.
    #[serde(
        rename = "attempt_timeout_ms",
        default = "defaults::attempt_timeout",
        deserialize_with = "millis"
    )]
    pub attempt_timeout: Duration,
    /// Keys per ListObjectsV2 page (S3's maximum, 1000, unless a store needs fewer).
    #[serde(default = "defaults::page_size")]
    pub page_size: i32,
}

mod defaults {
    use std::time::Duration;

    pub(super) fn max_object_bytes() -> u64 {
        50 * 1024 * 1024
    }
    pub(super) fn metadata_suffix() -> String {
        ".metadata.json".into()
    }
    pub(super) fn concurrency() -> usize {
        16
    }
    pub(super) fn max_attempts() -> u32 {
        10
    }
    pub(super) fn initial_backoff() -> Duration {
        Duration::from_millis(500)
    }
    pub(super) fn attempt_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub(super) fn page_size() -> i32 {
        1000
    }
}

fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

impl S3Config {
    /// A configuration for `bucket` with defaults for everything else.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Config {
            bucket: bucket.into(),
            prefix: None,
            prefixes: Vec::new(),
            region: None,
            endpoint_url: None,
            force_path_style: false,
            include: Vec::new(),
            exclude: Vec::new(),
            max_object_bytes: defaults::max_object_bytes(),
            acl_file_key: None,
            metadata_suffix: defaults::metadata_suffix(),
            default_access: DefaultAccess::None,
            concurrency: defaults::concurrency(),
            max_attempts: defaults::max_attempts(),
            initial_backoff: defaults::initial_backoff(),
            attempt_timeout: defaults::attempt_timeout(),
            page_size: defaults::page_size(),
        }
    }

    /// Checks the configuration without touching the network; returns every problem.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.into(),
                message,
            })
        };
        // The rules of https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
        // that matter for addressing; S3-compatible stores may be laxer, never stricter.
        let b = &self.bucket;
        if b.len() < 3 || b.len() > 63 {
            problem("bucket", format!("{b:?} must be 3 to 63 characters long"));
        } else if !b
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.'))
        {
            problem(
                "bucket",
                format!("{b:?} may only contain lowercase letters, digits, '-' and '.'"),
            );
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            problem(
                "endpoint_url",
                format!("{url:?} must start with http:// or https://"),
            );
        }
        for (name, globs) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, glob) in globs.iter().enumerate() {
                if let Err(e) = globset::Glob::new(glob) {
                    problem(
                        &format!("{name}[{i}]"),
                        format!("invalid glob {glob:?}: {}", e.kind()),
                    );
                }
            }
        }
        if self.prefix.is_some() && !self.prefixes.is_empty() {
            problem(
                "prefixes",
                "set either `prefix` or `prefixes`, not both".into(),
            );
        }
        if self.metadata_suffix.is_empty() {
            problem("metadata_suffix", "must not be empty".into());
        }
        if self.max_object_bytes == 0 {
            problem("max_object_bytes", "must be at least 1".into());
        }
        let ranges = [
            ConfigProblem::out_of_range("concurrency", self.concurrency as i64, 1..=1024),
            ConfigProblem::out_of_range("max_attempts", i64::from(self.max_attempts), 1..=100),
            ConfigProblem::out_of_range("page_size", i64::from(self.page_size), 1..=1000),
            ConfigProblem::out_of_range(
                "initial_backoff_ms",
                self.initial_backoff.as_millis() as i64,
                1..=600_000,
            ),
            ConfigProblem::out_of_range(
                "attempt_timeout_ms",
                self.attempt_timeout.as_millis() as i64,
                1..=3_600_000,
            ),
        ];
        for p in ranges.into_iter().flatten() {
            problem(&p.key, p.message);
        }
        if let Some(key) = &self.acl_file_key
            && key.is_empty()
        {
            problem("acl_file_key", "must not be empty".into());
        }
        problems
    }

    /// The prefixes to list: sorted, without any prefix that another one already covers
    /// (`a/` covers `a/b/`), and `[""]` for the whole bucket.
    pub fn effective_prefixes(&self) -> Vec<String> {
        let mut all: Vec<String> = self.prefix.iter().chain(&self.prefixes).cloned().collect();
        if all.is_empty() || all.iter().any(String::is_empty) {
            return vec![String::new()];
        }
        all.sort();
        all.dedup();
        let mut out: Vec<String> = Vec::new();
        for p in all {
            if !out.iter().any(|kept| p.starts_with(kept.as_str())) {
                out.push(p);
            }
        }
        out
    }
}

/// The `s3` source type: [`S3Config`] read from a `[[sources]]` table.
#[derive(Debug, Clone, Copy, Default)]
pub struct S3Type;

impl SourceType for S3Type {
    const KIND: &'static str = "s3";
    type Config = S3Config;

    fn describe_key(&self, key: &str) -> Option<&'static str> {
        (key == "bucket").then_some("the bucket to sync")
    }

    fn validate(&self, config: &S3Config) -> Vec<ConfigProblem> {
        config.validate()
    }

    fn profile(&self, config: &S3Config) -> SourceProfile {
        // Downloads wait on latency, not CPU: keep as many documents in flight as the
        // source allows downloads.
        SourceProfile::default().with_documents_in_flight(config.concurrency)
    }

    fn build(&self, config: &S3Config) -> Result<Arc<dyn Connector>, ConnectorError> {
        match S3Connector::new(config.clone()) {
            Ok(connector) => Ok(Arc::new(connector)),
            Err(problems) => Err(ConfigProblem::refusal(&problems)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_reports_every_problem() {
        let mut config = S3Config::new("Bad_Bucket");
        config.endpoint_url = Some("localhost:9000".into());
        config.include = vec!["ok/**".into(), "bad/[".into()];
        config.concurrency = 0;
        let keys: Vec<String> = config.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            ["bucket", "endpoint_url", "include[1]", "concurrency"]
        );
        assert!(S3Config::new("docs-2026.archive").validate().is_empty());
    }

    #[test]
    fn nested_and_repeated_prefixes_are_listed_once() {
        let mut config = S3Config::new("docs");
        assert_eq!(config.effective_prefixes(), [""]);
        config.prefixes = vec![
            "hr/".into(),
            "eng/".into(),
            "eng/secret/".into(),
            "hr/".into(),
        ];
        assert_eq!(config.effective_prefixes(), ["eng/", "hr/"]);
        config.prefixes.push(String::new());
        assert_eq!(config.effective_prefixes(), [""]);
    }

    #[test]
    fn a_table_is_read_with_durations_in_milliseconds_and_every_problem() {
        use connector_sdk::{ConfigContext, ErasedSourceType};
        let cx = ConfigContext::new("/etc/trib").with_host_keys(&["id", "type"]);
        let table = serde_json::json!({
            "id": "b", "type": "s3", "bucket": "docs", "prefix": "hr/",
            "initial_backoff_ms": 5, "attempt_timeout_ms": 700, "concurrency": 4,
        });
        let source = S3Type.parse(&table, &cx).expect("valid");
        let config = source.config().downcast_ref::<S3Config>().expect("typed");
        assert_eq!(
            (config.initial_backoff, config.attempt_timeout),
            (Duration::from_millis(5), Duration::from_millis(700))
        );
        assert_eq!(config.effective_prefixes(), ["hr/"]);
        assert_eq!(source.profile().documents_in_flight, Some(4));

        let table = serde_json::json!({
            "prefix": "a/", "prefixes": ["b/"], "concurrency": 0, "page_size": "many",
            "initial_backoff_ms": 0, "endpoint_url": "localhost:9000",
        });
        let problems: Vec<String> = S3Type
            .parse(&table, &cx)
            .expect_err("invalid")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            problems,
            [
                "page_size: expected an integer, found string",
                "bucket: missing (the bucket to sync)",
                "endpoint_url: \"localhost:9000\" must start with http:// or https://",
                "prefixes: set either `prefix` or `prefixes`, not both",
                "concurrency: 0 is out of range (1..=1024)",
                "initial_backoff_ms: 0 is out of range (1..=600000)",
            ]
        );
    }
}
