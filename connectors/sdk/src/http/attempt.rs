//! One attempt of a call: what the policy hands the caller ([`Attempt`]) and what the
//! caller reports back ([`Outcome`]).

use tokio::sync::OwnedSemaphorePermit;

use super::classify::{Reply, Verdict};
use crate::{ConnectorError, ErrorKind, Secret};

/// One attempt of a call: its number (from 1) and, for an authenticated call, the current
/// credential.
#[derive(Debug)]
pub struct Attempt {
    pub(super) number: u32,
    pub(super) credential: Option<(&'static str, Secret)>,
}

impl Attempt {
    /// 1 for the first attempt.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The token of the call's [`TokenSource`](crate::auth::TokenSource), fetched (or refreshed) for this attempt.
    pub fn token(&self) -> Option<&Secret> {
        self.credential.as_ref().map(|(_, token)| token)
    }

    /// The `Authorization` header value: `Bearer <token>` (or the source's own scheme).
    pub fn authorization(&self) -> Option<Secret> {
        self.credential
            .as_ref()
            .map(|(scheme, token)| Secret::new(format!("{scheme} {}", token.expose())))
    }
}

/// What one attempt came to, as the caller reports it.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The caller has its value. The policy still reads `reply` (status, headers, and the
    /// body if it was read) with its classifiers first, so a throttling signal in a success
    /// (Slack's HTTP 200 `ratelimited`) is honoured; if they accept it, the call returns
    /// `value`.
    Success {
        /// The response the value came from.
        reply: Reply,
        /// What the call returns.
        value: T,
    },
    /// A response the caller cannot use: the policy classifies it (retry, refresh, wait,
    /// fail). Read at most a small prefix of the body into it.
    Failure(Reply),
    /// No response: the connection failed, was reset, or timed out.
    Transport(TransportError),
    /// Fail the call with this error now, without a retry (a body that does not decode).
    Fatal(ConnectorError),
}

/// Why an attempt got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection could not be made (refused, DNS): retried.
    Connect,
    /// The connection broke mid-exchange (reset, closed early): retried.
    Reset,
    /// No answer in time: retried, then `Timeout`.
    Timeout,
    /// Anything else (a TLS failure): not retried, fails the call as `Transient`.
    Other,
}

/// A failure to get a response, with a message free of URLs and secrets.
#[derive(Debug, Clone)]
pub struct TransportError {
    /// What kind of failure.
    pub kind: TransportKind,
    /// What happened, lowercase.
    pub message: String,
}

impl TransportError {
    /// A failure of `kind`.
    pub fn new(kind: TransportKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: message.into(),
        }
    }

    /// Classifies an I/O error (for clients that surface them).
    pub fn from_io(err: &std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            Io::ConnectionRefused | Io::NotConnected | Io::AddrNotAvailable => {
                TransportKind::Connect
            }
            Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::BrokenPipe
            | Io::UnexpectedEof
            | Io::Interrupted => TransportKind::Reset,
            Io::TimedOut | Io::WouldBlock => TransportKind::Timeout,
            _ => TransportKind::Other,
        };
        TransportError::new(kind, err.to_string())
    }

    pub(super) fn verdict(self) -> Verdict {
        match self.kind {
            TransportKind::Connect | TransportKind::Reset => Verdict::Retry {
                kind: ErrorKind::Transient,
                message: self.message,
            },
            TransportKind::Timeout => Verdict::Retry {
                kind: ErrorKind::Timeout,
                message: self.message,
            },
            TransportKind::Other => Verdict::Fail {
                kind: ErrorKind::Transient,
                message: self.message,
            },
        }
    }
}

/// A slot of the source's concurrency limit, held by what a call returned (a download's
/// stream) until it is dropped.
#[derive(Debug)]
pub struct Permit {
    pub(super) _permit: Option<OwnedSemaphorePermit>,
}
