//! Connector errors, with kinds the engine acts on.

use std::error::Error as StdError;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

/// What went wrong, in terms the engine can act on. What the engine does with each kind is
/// written on it (and in `docs/connector-spec.md`); per-document failures never fail a run,
/// and go on the engine's retry list unless retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Worth retrying soon: a reset connection, a 5xx. A document failing so is retried
    /// on a later run; in a stream, the listing is incomplete (nothing is swept).
    Transient,
    /// The source asked us to slow down. The engine pauses the whole run (listing and
    /// fetches) for `retry_after` (5 s when `None`, capped by its configuration) and then
    /// goes on: a stream is polled again and must continue where it was; a `fetch` or
    /// `resolve` is called again (up to 10 times for one document). Never fails a run.
    RateLimited {
        /// How long the source asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Credentials are missing, wrong or expired. In a stream it stops the listing and
    /// fails the run: nothing is swept, the checkpoint does not move past it.
    Unauthorized,
    /// The document (or container) does not exist (any more).
    NotFound,
    /// A stored change-feed cursor is no longer accepted. In an incremental stream, the
    /// engine goes on in the same run with `full(None)`, swept at its end (the run report
    /// says `mode: full`, `reason: cursor_expired`).
    CursorExpired,
    /// The source answered something we cannot parse.
    InvalidResponse,
    /// The document is larger than the configured limit: skipped (not retried until it
    /// changes), its newly listed ACL still applied to what was indexed before.
    TooLarge,
    /// No complete answer in time (the engine's fetch deadline, or a connector's own).
    /// Treated like `Transient`: the document is tried again on a later run.
    Timeout,
    /// Retrying will not help (bad configuration, permission denied on one item).
    Permanent,
}

impl ErrorKind {
    /// The short, stable name used in run reports and `.err` files.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::NotFound => "not_found",
            ErrorKind::CursorExpired => "cursor_expired",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Permanent => "permanent",
        }
    }

    /// Whether a listing that hit this error must stop (as opposed to skipping one item).
    pub fn is_fatal_for_listing(&self) -> bool {
        matches!(self, ErrorKind::Unauthorized | ErrorKind::CursorExpired)
    }
}

/// An error from a connector: a kind, a lowercase message, and an optional cause.
#[derive(Debug)]
pub struct ConnectorError {
    /// What the engine should do about it.
    pub kind: ErrorKind,
    /// A lowercase message without a trailing period, naming what failed.
    pub message: String,
    /// The underlying error, if any.
    pub source: Option<Box<dyn StdError + Send + Sync>>,
}

impl ConnectorError {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ConnectorError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Maps an I/O error to a kind: missing files are `NotFound`, denied access is
    /// `Permanent` (retrying will not grant it), everything else `Transient`.
    pub fn from_io(context: impl fmt::Display, err: std::io::Error) -> Self {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorKind::Permanent,
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                ErrorKind::Permanent
            }
            _ => ErrorKind::Transient,
        };
        ConnectorError::new(kind, format!("{context}: {err}")).with_source(err)
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.as_str())
    }
}

impl StdError for ConnectorError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// One problem with a connector's configuration, with the key it concerns. Connectors
/// validate their whole configuration and return every problem at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, relative to the source table (`root`, `include[2]`).
    pub key: String,
    /// What is wrong, lowercase.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl ConfigProblem {
    /// Every problem of a configuration as the one `Permanent` error a connector's
    /// constructor refuses it with (`key: message; key: message`).
    pub fn refusal(problems: &[ConfigProblem]) -> ConnectorError {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        ConnectorError::new(ErrorKind::Permanent, list.join("; "))
    }

    /// `Ok` when `problems` is empty, else their [`ConfigProblem::refusal`].
    pub fn check(problems: &[ConfigProblem]) -> Result<(), ConnectorError> {
        match problems {
            [] => Ok(()),
            _ => Err(ConfigProblem::refusal(problems)),
        }
    }

    /// A problem with `key` (relative to the source table).
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem {
            key: key.into(),
            message: message.into(),
        }
    }

    /// `value` outside `range`: `0 is out of range (1..=1024)`; `None` inside it.
    pub fn out_of_range<N: PartialOrd + fmt::Display>(
        key: &str,
        value: N,
        range: RangeInclusive<N>,
    ) -> Option<Self> {
        (!range.contains(&value)).then(|| {
            ConfigProblem::new(
                key,
                format!(
                    "{value} is out of range ({}..={})",
                    range.start(),
                    range.end()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_named_in_one_permanent_refusal() {
        assert!(ConfigProblem::check(&[]).is_ok());
        let problems = [
            ConfigProblem::new("token", "is missing"),
            ConfigProblem::new("page_size", "0 is out of range (1..=100)"),
        ];
        let e = ConfigProblem::check(&problems).expect_err("refused");
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert_eq!(
            e.message,
            "token: is missing; page_size: 0 is out of range (1..=100)"
        );
    }
}
