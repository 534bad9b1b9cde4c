//! What a response means: [`Reply`], [`Verdict`], the default reading of status codes, and
//! [`Classifier`]s for throttling signals vendors send outside the status line.

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};

use crate::ErrorKind;

/// What an attempt got back: the status, the headers, and as much of the body as the caller
/// read (empty for a download whose body is still to be streamed).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, or a capped prefix of it; empty when it was not read.
    pub body: Bytes,
}

impl Reply {
    /// A reply with its body.
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A reply whose body was not read.
    pub fn head(status: StatusCode, headers: HeaderMap) -> Self {
        Reply::new(status, headers, Bytes::new())
    }

    /// The `Retry-After` header, as a delay from now (see [`parse_retry_after`]).
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get(header::RETRY_AFTER)?.to_str().ok()?;
        parse_retry_after(value, SystemTime::now())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// What the politeness policy does with a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// A success: the call returns its value.
    Accept,
    /// Worth retrying after a backoff (a 5xx, a vendor's "try again"). `kind` is what the
    /// call fails with once retries are spent: `Transient` or `Timeout`.
    Retry {
        /// The error kind once retries are spent.
        kind: ErrorKind,
        /// What happened, lowercase, without secrets (e.g. `status 502 Bad Gateway`).
        message: String,
    },
    /// The source asks us to slow down. With a delay, the call fails at once with
    /// `RateLimited { retry_after }` so that the engine pauses the whole run; without one,
    /// the policy retries with backoff a few times first (`PolitenessConfig::throttle_retries`).
    RateLimited {
        /// The delay the source asked for.
        retry_after: Option<Duration>,
        /// What happened, lowercase, without secrets.
        message: String,
    },
    /// The credentials were refused: the policy refreshes the token once and retries once.
    Unauthorized {
        /// What happened, lowercase, without secrets.
        message: String,
    },
    /// Fail now with this kind (`NotFound`, `Permanent`, `InvalidResponse`, ...).
    Fail {
        /// The error kind.
        kind: ErrorKind,
        /// What happened, lowercase, without secrets.
        message: String,
    },
}

impl Verdict {
    /// The default reading of a reply, from its status line and `Retry-After` only:
    ///
    /// | status | verdict |
    /// |---|---|
    /// | 2xx | `Accept` |
    /// | 401 | `Unauthorized` |
    /// | 429, 503 | `RateLimited`, with `Retry-After` (delta-seconds or HTTP-date) when sent |
    /// | 408, 500, 502, 504 and other 5xx | `Retry` (`Timeout` for 408 and 504) |
    /// | 404, 410 | `Fail(NotFound)` |
    /// | other 4xx (403 included) | `Fail(Permanent)` |
    /// | anything else (3xx left unfollowed, 1xx) | `Fail(InvalidResponse)` |
    pub fn from_status(reply: &Reply) -> Verdict {
        let status = reply.status;
        let message = status_message(status);
        match status.as_u16() {
            200..=299 => Verdict::Accept,
            401 => Verdict::Unauthorized { message },
            429 | 503 => Verdict::RateLimited {
                retry_after: reply.retry_after(),
                message,
            },
            408 | 504 => Verdict::Retry {
                kind: ErrorKind::Timeout,
                message,
            },
            500..=599 => Verdict::Retry {
                kind: ErrorKind::Transient,
                message,
            },
            404 | 410 => Verdict::Fail {
                kind: ErrorKind::NotFound,
                message,
            },
            400..=499 => Verdict::Fail {
                kind: ErrorKind::Permanent,
                message,
            },
            _ => Verdict::Fail {
                kind: ErrorKind::InvalidResponse,
                message: format!("unexpected {message}"),
            },
        }
    }
}

/// `status 503 Service Unavailable`.
pub(crate) fn status_message(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("status {} {reason}", status.as_u16()),
        None => format!("status {}", status.as_u16()),
    }
}

/// Parses a `Retry-After` value: delta-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), as a delay from `now` (zero for a date in the past).
/// Anything else is `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A vendor's reading of replies, consulted before [`Verdict::from_status`]: return `Some`
/// to decide, `None` to leave the reply to the next classifier and finally to the default.
/// It sees every reply, successes included (Slack reports throttling in an HTTP 200).
///
/// Closures `Fn(&Reply) -> Option<Verdict>` are classifiers too.
pub trait Classifier: Send + Sync {
    /// Decides what `reply` means, or passes.
    fn classify(&self, reply: &Reply) -> Option<Verdict>;
}

impl<F> Classifier for F
where
    F: Fn(&Reply) -> Option<Verdict> + Send + Sync,
{
    fn classify(&self, reply: &Reply) -> Option<Verdict> {
        self(reply)
    }
}

/// Google APIs (Drive, Admin SDK, ...): per-user and per-project rate limits come back as a
/// `403` (or `429`) whose body says `{"error": {"errors": [{"reason": "userRateLimitExceeded"}]}}`
/// (or `rateLimitExceeded`), or in the newer format, an `ErrorInfo` detail with reason
/// `RATE_LIMIT_EXCEEDED`. Those become `RateLimited` (retried with backoff, then surfaced),
/// not `Permanent` like other 403s. Daily quotas (`dailyLimitExceeded`) stay `Permanent`:
/// pausing a run for a day is a decision for a person.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoogleThrottling;

impl Classifier for GoogleThrottling {
    fn classify(&self, reply: &Reply) -> Option<Verdict> {
        if !matches!(reply.status.as_u16(), 403 | 429) {
            return None;
        }
        let body = reply.json()?;
        let error = body.get("error")?;
        let legacy = error
            .get("errors")
            .and_then(|e| e.as_array())
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("reason").and_then(|r| r.as_str()));
        let detailed = error
            .get("details")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("reason").and_then(|r| r.as_str()));
        let reason = legacy.chain(detailed).find(|r| {
            matches!(
                *r,
                "userRateLimitExceeded" | "rateLimitExceeded" | "RATE_LIMIT_EXCEEDED"
            )
        })?;
        Some(Verdict::RateLimited {
            retry_after: reply.retry_after(),
            message: format!("{} ({reason})", status_message(reply.status)),
        })
    }
}

/// Slack's Web API answers most failures with HTTP 200 and `{"ok": false, "error": "..."}`.
/// `ratelimited` becomes `RateLimited` (with `Retry-After` when sent); revoked or invalid
/// tokens `Unauthorized`; Slack's own transient errors `Retry`; any other `ok: false`
/// `Permanent`, with Slack's error code (never the body) in the message. Slack's real
/// HTTP 429s are left to the default reading, which honours their `Retry-After`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlackThrottling;

impl Classifier for SlackThrottling {
    fn classify(&self, reply: &Reply) -> Option<Verdict> {
        if !reply.status.is_success() {
            return None;
        }
        let body = reply.json()?;
        if body.get("ok").and_then(|ok| ok.as_bool()) != Some(false) {
            return None;
        }
        let code = body
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("unknown_error");
        // Slack's codes are short snake_case words; anything else is not echoed.
        let shown = if code.len() <= 64 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            code
        } else {
            "unrecognized_error"
        };
        let message = format!("slack error {shown}");
        Some(match code {
            "ratelimited" | "rate_limited" => Verdict::RateLimited {
                retry_after: reply.retry_after(),
                message,
            },
            "invalid_auth" | "not_authed" | "token_expired" | "token_revoked"
            | "account_inactive" => Verdict::Unauthorized { message },
            "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                Verdict::Retry {
                    kind: ErrorKind::Transient,
                    message,
                }
            }
            _ => Verdict::Fail {
                kind: ErrorKind::Permanent,
                message,
            },
        })
    }
}

/// The classifiers of a policy, in order.
#[derive(Clone, Default)]
pub(crate) struct Classifiers(pub(crate) Vec<std::sync::Arc<dyn Classifier>>);

impl Classifiers {
    /// The first classifier's verdict, or the default one.
    pub(crate) fn classify(&self, reply: &Reply) -> Verdict {
        self.0
            .iter()
            .find_map(|c| c.classify(reply))
            .unwrap_or_else(|| Verdict::from_status(reply))
    }
}

impl fmt::Debug for Classifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Classifiers({})", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().expect("header value"));
        }
        let status = StatusCode::from_u16(status).expect("status");
        Reply::new(status, map, Bytes::from(body.to_string()))
    }

    /// The verdict of `classifier` (or the default) for a reply, without its message.
    fn check(classifier: Option<&dyn Classifier>, reply: &Reply) -> String {
        let verdict = classifier
            .and_then(|c| c.classify(reply))
            .unwrap_or_else(|| Verdict::from_status(reply));
        match verdict {
            Verdict::Accept => "accept".into(),
            Verdict::Retry { kind, .. } => format!("retry {}", kind.as_str()),
            Verdict::RateLimited { retry_after, .. } => format!("rate_limited {retry_after:?}"),
            Verdict::Unauthorized { .. } => "unauthorized".into(),
            Verdict::Fail { kind, .. } => format!("fail {}", kind.as_str()),
        }
    }

    #[test]
    fn default_reading_of_statuses() {
        let cases = [
            (200, "accept"),
            (204, "accept"),
            (401, "unauthorized"),
            (429, "rate_limited None"),
            (503, "rate_limited None"),
            (500, "retry transient"),
            (502, "retry transient"),
            (504, "retry timeout"),
            (408, "retry timeout"),
            (404, "fail not_found"),
            (410, "fail not_found"),
            (403, "fail permanent"),
            (400, "fail permanent"),
            (302, "fail invalid_response"),
        ];
        for (status, expected) in cases {
            assert_eq!(check(None, &reply(status, &[], "")), expected, "{status}");
        }
        let limited = reply(429, &[("retry-after", "7")], "");
        assert_eq!(check(None, &limited), "rate_limited Some(7s)");
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 07:28:00
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let date = "Wed, 21 Oct 2015 07:28:30 GMT";
        assert_eq!(parse_retry_after(date, now), Some(Duration::from_secs(30)));
        let past = "Wed, 21 Oct 2015 07:00:00 GMT";
        assert_eq!(parse_retry_after(past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn google_rate_limit_reasons() {
        let google: &dyn Classifier = &GoogleThrottling;
        let user = r#"{"error":{"code":403,"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}]}}"#;
        assert_eq!(
            check(Some(google), &reply(403, &[], user)),
            "rate_limited None"
        );
        let project = r#"{"error":{"errors":[{"reason":"rateLimitExceeded"}]}}"#;
        assert_eq!(
            check(Some(google), &reply(429, &[("retry-after", "3")], project)),
            "rate_limited Some(3s)"
        );
        let detailed = r#"{"error":{"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"}]}}"#;
        assert_eq!(
            check(Some(google), &reply(403, &[], detailed)),
            "rate_limited None"
        );
        let denied = r#"{"error":{"errors":[{"reason":"insufficientFilePermissions"}]}}"#;
        assert_eq!(
            check(Some(google), &reply(403, &[], denied)),
            "fail permanent"
        );
        let daily = r#"{"error":{"errors":[{"reason":"dailyLimitExceeded"}]}}"#;
        assert_eq!(
            check(Some(google), &reply(403, &[], daily)),
            "fail permanent"
        );
        assert_eq!(
            check(Some(google), &reply(403, &[], "<html>")),
            "fail permanent"
        );
        assert_eq!(check(Some(google), &reply(200, &[], user)), "accept");
    }

    #[test]
    fn slack_errors_in_http_200() {
        let slack: &dyn Classifier = &SlackThrottling;
        let limited = r#"{"ok":false,"error":"ratelimited"}"#;
        assert_eq!(
            check(Some(slack), &reply(200, &[], limited)),
            "rate_limited None"
        );
        assert_eq!(
            check(Some(slack), &reply(200, &[("retry-after", "30")], limited)),
            "rate_limited Some(30s)"
        );
        let revoked = r#"{"ok":false,"error":"token_revoked"}"#;
        assert_eq!(
            check(Some(slack), &reply(200, &[], revoked)),
            "unauthorized"
        );
        let internal = r#"{"ok":false,"error":"internal_error"}"#;
        assert_eq!(
            check(Some(slack), &reply(200, &[], internal)),
            "retry transient"
        );
        let missing = r#"{"ok":false,"error":"channel_not_found"}"#;
        assert_eq!(
            check(Some(slack), &reply(200, &[], missing)),
            "fail permanent"
        );
        let fine = r#"{"ok":true,"channels":[]}"#;
        assert_eq!(check(Some(slack), &reply(200, &[], fine)), "accept");
        assert_eq!(check(Some(slack), &reply(200, &[], "")), "accept");
        assert_eq!(
            check(Some(slack), &reply(429, &[("retry-after", "5")], "")),
            "rate_limited Some(5s)"
        );
    }

    #[test]
    fn slack_never_echoes_an_odd_error_code() {
        let odd = r#"{"ok":false,"error":"xoxb-123-SECRET token leaked"}"#;
        let verdict = SlackThrottling
            .classify(&reply(200, &[], odd))
            .expect("classified");
        let Verdict::Fail { message, .. } = verdict else {
            panic!("expected a failure, got {verdict:?}");
        };
        assert_eq!(message, "slack error unrecognized_error");
    }
}
