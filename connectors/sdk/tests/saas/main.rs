//! The SaaS toolkit (feature `saas`) against an in-process fake server: retries, throttling,
//! rate and concurrency limits, caps, token refresh, and what error messages may show.

mod auth;
mod client;
mod leaks;
mod policy;
mod server;

use std::time::Duration;

use connector_sdk::http::PolitenessConfig;

/// A policy fast enough for tests: millisecond backoffs, generous attempts.
fn fast() -> PolitenessConfig {
    PolitenessConfig {
        max_attempts: 5,
        max_elapsed: Duration::from_secs(20),
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(10),
        throttle_retries: 3,
        request_timeout: Duration::from_secs(10),
        requests_per_second: None,
        burst: 1,
        max_concurrency: Some(8),
    }
}
