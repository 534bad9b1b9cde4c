//! Calling a SaaS API politely (feature `saas`).
//!
//! SaaS APIs throttle, fail over, reset connections and expire tokens; a connector that
//! hammers them gets its tenant's app blocked. Everything a connector needs to behave is
//! here, in two layers:
//!
//! - [`Politeness`] is the policy, and knows nothing about HTTP clients. A call is a closure
//!   that makes *one attempt* with any client — reqwest, a generated client such as
//!   `google-drive3` on hyper, a vendor SDK — and reports an [`Outcome`]: a success with the
//!   [`Reply`] it came from, a failed reply (status, headers, a capped prefix of the body),
//!   a [`TransportError`], or a fatal error. The policy does the rest, shared by every call
//!   through clones of one instance: the source's request rate (governor) and concurrency
//!   (a semaphore), a deadline per attempt, retries of 5xx, timeouts and resets with
//!   exponential backoff and *full* jitter (a wait drawn uniformly between zero and a
//!   doubling ceiling, capped attempts and total time), `Retry-After` (seconds or an
//!   HTTP-date) on 429/503, quota headers (`RateLimit-Remaining`/`-Reset` and the `X-`
//!   ones: what is left of a window is spread over it, before the source throttles), vendor throttling signals through [`Classifier`]s
//!   ([`GoogleThrottling`], [`SlackThrottling`]), and with a
//!   [`TokenSource`](crate::auth::TokenSource), one token refresh and retry on a 401.
//! - [`HttpClient`] is a reqwest client on that policy: JSON pages decoded from bodies read
//!   under a cap (32 MiB by default), form posts, any request a builder closure makes, and
//!   downloads as a capped [`ByteStream`](crate::ByteStream), never buffered whole.
//!
//! Throttling with a known delay is not waited out inside the call: it fails at once with
//! [`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited), so that the engine pauses the
//! whole run (listing and fetches) and shows it. The engine then polls the listing stream
//! again or calls `fetch` again, so a connector must be able to repeat the refused request:
//! keep the page token in the stream's state until a page has succeeded (an `unfold` that
//! keeps its state on error, not a `try_unfold` that ends).
//!
//! Error messages name the call as `METHOD scheme://host/path`: never a query string
//! (which may carry keys or tokens: [`redact_url`]), a header, a token or a body.
//!
//! ```no_run
//! # async fn demo() -> Result<(), connector_sdk::ConnectorError> {
//! use std::sync::Arc;
//! use connector_sdk::Secret;
//! use connector_sdk::auth::StaticToken;
//! use connector_sdk::http::{HttpClient, Politeness, PolitenessConfig, SlackThrottling};
//!
//! let config = PolitenessConfig { requests_per_second: Some(1.0), ..Default::default() };
//! let policy = Politeness::new(config)?.with_classifier(SlackThrottling);
//! let slack = HttpClient::new(policy)?
//!     .with_auth(Arc::new(StaticToken::new(Secret::from_env("SLACK_TOKEN")?)));
//! let channels: serde_json::Value =
//!     slack.get_json("https://slack.com/api/conversations.list?limit=200").await?;
//! # Ok(()) }
//! ```

mod attempt;
mod classify;
mod client;
mod policy;
mod quota;

pub use attempt::{Attempt, Outcome, Permit, TransportError, TransportKind};
pub use classify::{
    Classifier, GoogleThrottling, Reply, SlackThrottling, Verdict, parse_retry_after,
};
pub(crate) use client::describe_json_error;
pub use client::{DEFAULT_MAX_JSON_BYTES, HttpClient};
pub use policy::{Politeness, PolitenessConfig};

/// A URL as error messages may show it: scheme, host, port and path, without user
/// information, query string or fragment (API keys, SAS signatures and tokens live there).
///
/// ```
/// use connector_sdk::http::redact_url;
///
/// assert_eq!(
///     redact_url("https://user:pw@api.example.com:8443/v1/files?key=AIza&x=1#top"),
///     "https://api.example.com:8443/v1/files"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}{host}{path}")
}

/// The target of the `rel` link in `Link` headers (RFC 8288): `<url>; rel="next"`, with
/// any number of links per header, several headers, quoted or bare relation types, and
/// commas inside the URL (which a split on `,` would break). ServiceNow's Table API and
/// GitHub page with it.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert(
///     "link",
///     r#"<https://x/a?f=a,b&o=0>;rel="first",<https://x/a?f=a,b&o=10>; rel=next"#.parse().unwrap(),
/// );
/// assert_eq!(
///     connector_sdk::http::link_rel(&headers, "next").as_deref(),
///     Some("https://x/a?f=a,b&o=10")
/// );
/// assert_eq!(connector_sdk::http::link_rel(&headers, "prev"), None);
/// ```
pub fn link_rel(headers: &http::HeaderMap, rel: &str) -> Option<String> {
    for value in headers.get_all(http::header::LINK) {
        let mut rest = value.to_str().ok()?;
        while let Some(open) = rest.find('<') {
            let close = open + rest[open..].find('>')?;
            let target = &rest[open + 1..close];
            let params_end = rest[close..].find('<').map_or(rest.len(), |i| close + i);
            let params = &rest[close + 1..params_end];
            let names = params.split(';').filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                (k.trim().eq_ignore_ascii_case("rel"))
                    .then(|| v.trim().trim_end_matches(',').trim().trim_matches('"'))
            });
            if names
                .flat_map(str::split_whitespace)
                .any(|r| r.eq_ignore_ascii_case(rel))
            {
                return Some(target.to_string());
            }
            rest = &rest[params_end..];
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn link_rel_reads_every_header_and_shape() {
        let mut headers = http::HeaderMap::new();
        headers.append(
            "link",
            r#"<https://a/1>; rel="first""#.parse().expect("value"),
        );
        headers.append(
            "link",
            r#"<https://a/2?q=x,y>;rel="prev next",<https://a/9>;rel=last"#
                .parse()
                .expect("value"),
        );
        assert_eq!(
            super::link_rel(&headers, "first").as_deref(),
            Some("https://a/1")
        );
        assert_eq!(
            super::link_rel(&headers, "NEXT").as_deref(),
            Some("https://a/2?q=x,y")
        );
        assert_eq!(
            super::link_rel(&headers, "last").as_deref(),
            Some("https://a/9")
        );
        assert_eq!(super::link_rel(&headers, "self"), None);
        assert_eq!(super::link_rel(&http::HeaderMap::new(), "next"), None);
    }

    #[test]
    fn redact_url_drops_credentials_query_and_fragment() {
        let cases = [
            (
                "https://api.example.com/v1/x",
                "https://api.example.com/v1/x",
            ),
            (
                "https://api.example.com/v1/x?token=abc",
                "https://api.example.com/v1/x",
            ),
            ("https://a:b@host/p#frag", "https://host/p"),
            ("https://host?sig=1", "https://host"),
            ("http://127.0.0.1:8080/a/b?c", "http://127.0.0.1:8080/a/b"),
            ("not a url?secret", "not a url"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected, "{url}");
        }
    }
}
