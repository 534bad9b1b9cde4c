//! The out-of-process connector protocol (docs/protocol.md, ADR 0025): JSON lines over a
//! plugin's stdin and stdout. Both sides use these types — `serve_stdio` in a Rust plugin,
//! `connector-process` in the engine — so that there is one definition of the wire.
//!
//! Every line is one JSON object with a `type`. The plugin speaks first ([`Hello`]); the
//! engine then sends [`Request`]s, each with an `id`, and the plugin answers with
//! [`Reply`]s naming that id, so that fetches can run while a listing streams. Unknown
//! fields are ignored on both sides (a minor addition); a different `protocol` major is
//! refused.

mod serve;
mod wire;

pub use serve::{Build, serve, serve_stdio, serve_stdio_configured};
pub use wire::{WireChange, WireDocument, WireError};

use serde::{Deserialize, Serialize};

use crate::{ConfigProblem, Membership, SourceCheckpoint};

/// The protocol's major version. A plugin that says another one is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// The most content bytes in one `content` frame (before base64), so that a frame is a
/// bounded line.
pub const MAX_FRAME_BYTES: usize = 48 * 1024;

/// What a plugin can do, said in its [`Hello`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Capabilities {
    /// `incremental` lists only what changed; without it the engine's incremental runs
    /// ask for a full listing (and diff it against what is indexed).
    pub incremental: bool,
    /// The listing emits `permissions` changes (ACL-only updates).
    pub permissions: bool,
    /// The plugin answers `identities` (a directory of users and groups).
    pub identities: bool,
    /// The plugin answers `resolve`.
    pub resolve: bool,
}

/// The plugin's first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol major version the plugin speaks.
    pub protocol: u32,
    /// The plugin's name, for logs.
    #[serde(default)]
    pub name: String,
    /// What it can do.
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// What the engine sends: one line per request, each with an id unique in the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// The first request: the plugin's configuration and the run's context. Answered by
    /// `ok`, or `error` with `problems` when the configuration is invalid.
    Init {
        /// Request id.
        id: u64,
        /// The source id.
        source_id: String,
        /// The run id, for log lines.
        run_id: String,
        /// The largest document the engine fetches.
        max_document_bytes: u64,
        /// How often the plugin must send a `heartbeat` when it has nothing else to say.
        heartbeat_secs: u64,
        /// The `[sources.config]` table, as JSON.
        config: serde_json::Value,
    },
    /// Verify credentials and access: `ok` or `error`.
    Check {
        /// Request id.
        id: u64,
    },
    /// List everything, resuming after `resume`: `change` lines, then `end`.
    Full {
        /// Request id.
        id: u64,
        /// The checkpoint to resume from.
        resume: Option<SourceCheckpoint>,
        /// How many `change` lines the plugin may send before the engine `ack`s them.
        window: u32,
    },
    /// List what changed since `since`: `change` lines, then `end`.
    Incremental {
        /// Request id.
        id: u64,
        /// Where the last listing stopped.
        since: SourceCheckpoint,
        /// As in `full`.
        window: u32,
    },
    /// The engine consumed `count` more items of stream `id`: the plugin may send that
    /// many more.
    Ack {
        /// The stream's request id.
        id: u64,
        /// Items consumed since the last ack.
        count: u32,
    },
    /// The engine no longer wants stream (or fetch) `id`: the plugin stops it and ends
    /// it with `end` (or says nothing more of it).
    Cancel {
        /// The request id.
        id: u64,
    },
    /// A document's content: `content` frames then `end`, or one `content_file`, or `error`.
    Fetch {
        /// Request id.
        id: u64,
        /// The document as listed.
        document: WireDocument,
    },
    /// Complete a listed document: `resolved` or `error`.
    Resolve {
        /// Request id.
        id: u64,
        /// The document as listed.
        document: WireDocument,
    },
    /// Crawl users and groups: `membership` lines, then `end`.
    Identities {
        /// Request id.
        id: u64,
        /// As in `full`.
        window: u32,
    },
}

impl Request {
    /// The request's id.
    pub fn id(&self) -> u64 {
        match self {
            Request::Init { id, .. }
            | Request::Check { id }
            | Request::Full { id, .. }
            | Request::Incremental { id, .. }
            | Request::Ack { id, .. }
            | Request::Cancel { id }
            | Request::Fetch { id, .. }
            | Request::Resolve { id, .. }
            | Request::Identities { id, .. } => *id,
        }
    }
}

/// What the plugin sends after its hello.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// The plugin's first line (see [`Hello`]).
    Hello(Hello),
    /// Nothing to say, still alive: sent at least every `heartbeat_secs`.
    Heartbeat,
    /// `init` or `check` succeeded.
    Ok {
        /// The request id.
        id: u64,
    },
    /// A request failed; in a stream, one item failed (the listing is then incomplete)
    /// and the stream goes on until `end`.
    Error {
        /// The request id.
        id: u64,
        /// What went wrong.
        error: WireError,
        /// For an `init`: every problem of the configuration.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        problems: Vec<WireProblem>,
    },
    /// One item of a `full` or `incremental` stream.
    Change {
        /// The stream's request id.
        id: u64,
        /// The change.
        change: WireChange,
    },
    /// One item of an `identities` stream.
    Membership {
        /// The stream's request id.
        id: u64,
        /// The fact.
        membership: Membership,
    },
    /// A stream, or a fetch's frames, ended.
    End {
        /// The request id.
        id: u64,
    },
    /// Some content of a fetch, base64 (standard alphabet, padded), at most
    /// [`MAX_FRAME_BYTES`] bytes once decoded.
    Content {
        /// The fetch's request id.
        id: u64,
        /// The bytes, base64.
        data: String,
    },
    /// A fetch's content is this file, which the engine reads (bounded) and leaves alone.
    ContentFile {
        /// The fetch's request id.
        id: u64,
        /// An absolute path, or one relative to the plugin's working directory.
        path: String,
    },
    /// The answer to `resolve`.
    Resolved {
        /// The request id.
        id: u64,
        /// Whether anything changed.
        applied: bool,
        /// The completed document.
        document: WireDocument,
    },
}

/// A configuration problem, as `init` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireProblem {
    /// The key, relative to the `config` table.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl From<&ConfigProblem> for WireProblem {
    fn from(p: &ConfigProblem) -> Self {
        WireProblem {
            key: p.key.clone(),
            message: p.message.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
