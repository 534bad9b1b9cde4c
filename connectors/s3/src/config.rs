//! Configuration of an S3 source (`type = "s3"`).

use std::time::Duration;

pub use connector_sdk::ConfigProblem;
pub use connector_sdk::acl_file::DefaultAccess;

/// `[[sources]]` keys of `type = "s3"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The bucket to sync.
    pub bucket: String,
    /// Key prefixes to list (`prefix` or `prefixes`); empty means the whole bucket. A prefix
    /// inside another configured prefix is dropped, so no key is listed twice.
    pub prefixes: Vec<String>,
    /// The region; when `None`, the AWS default chain decides (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// A custom endpoint for S3-compatible stores (MinIO, moto, Ceph).
    pub endpoint_url: Option<String>,
    /// Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`.
    pub force_path_style: bool,
    /// Globs over keys; when non-empty, only matching keys are synced.
    pub include: Vec<String>,
    /// Globs over keys; matching keys are never synced.
    pub exclude: Vec<String>,
    /// Objects larger than this are recorded as skipped, never downloaded.
    pub max_object_bytes: u64,
    /// The key of an Amazon Q style ACL file in the bucket (`keyPrefix` = `s3://BUCKET/...`).
    pub acl_file_key: Option<String>,
    /// `KEY` + this suffix is `KEY`'s metadata sidecar.
    pub metadata_suffix: String,
    /// Access for keys no ACL-file prefix covers (and that have no sidecar ACL).
    pub default_access: DefaultAccess,
    /// Downloads in flight at once.
    pub concurrency: usize,
    /// Attempts per request (the first one included) for throttling, 5xx and timeouts.
    pub max_attempts: u32,
    /// The first retry's backoff; it doubles (with jitter) up to 20 s.
    pub initial_backoff: Duration,
    /// How long one attempt of one request may take before it is retried.
    pub attempt_timeout: Duration,
    /// Keys per ListObjectsV2 page (S3's maximum, 1000, unless a store needs fewer).
    pub page_size: i32,
}

impl S3Config {
    /// A configuration for `bucket` with defaults for everything else.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Config {
            bucket: bucket.into(),
            prefixes: Vec::new(),
            region: None,
            endpoint_url: None,
            force_path_style: false,
            include: Vec::new(),
            exclude: Vec::new(),
            max_object_bytes: 50 * 1024 * 1024,
            acl_file_key: None,
            metadata_suffix: ".metadata.json".into(),
            default_access: DefaultAccess::None,
            concurrency: 16,
            max_attempts: 10,
            initial_backoff: Duration::from_millis(500),
            attempt_timeout: Duration::from_secs(60),
            page_size: 1000,
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
        if self.metadata_suffix.is_empty() {
            problem("metadata_suffix", "must not be empty".into());
        }
        if self.max_object_bytes == 0 {
            problem("max_object_bytes", "must be at least 1".into());
        }
        if self.concurrency == 0 {
            problem("concurrency", "must be at least 1".into());
        }
        if !(1..=1000).contains(&self.page_size) {
            problem("page_size", "must be between 1 and 1000".into());
        }
        if self.max_attempts == 0 {
            problem("max_attempts", "must be at least 1".into());
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
        let mut all: Vec<String> = self.prefixes.clone();
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
}
