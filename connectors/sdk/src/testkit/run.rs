//! What one run of the reference sync did: its mode, how it ended, and every call and
//! change it made, for the scenarios to check.

use crate::{DocumentId, ErrorKind};

/// Which listing a run made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `full(None)`.
    Full,
    /// `full(Some(checkpoint))`, continuing an unfinished full listing.
    FullResumed,
    /// `incremental(checkpoint)`.
    Incremental,
}

/// When a run is killed: its stream dropped, as by a crash, after what was applied so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kill {
    /// Never.
    #[default]
    Never,
    /// After this many stream items (of any kind).
    AfterItems(usize),
    /// After the first checkpoint marker that follows a listed document, then `then` more
    /// listed documents.
    AfterCheckpoint {
        /// Documents listed after the marker before the kill.
        then: usize,
    },
}

/// An error item of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// Its kind.
    pub kind: ErrorKind,
    /// Its message.
    pub message: String,
}

/// What one run of the reference sync did.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The listing it started with.
    pub mode: Option<Mode>,
    /// Its incremental cursor expired and it went on with `full(None)`.
    pub cursor_expired: bool,
    /// The (last) listing said `ListingComplete`.
    pub listing_complete: bool,
    /// The stream was dropped by [`Kill`].
    pub killed: bool,
    /// Error items (`RateLimited` ones excluded), in order.
    pub errors: Vec<StreamError>,
    /// `RateLimited` items and answers, each followed by a pause.
    pub rate_limited: usize,
    /// Every document upserted by the stream, in order (repeats included).
    pub listed: Vec<DocumentId>,
    /// Every `fetch` call, in order (calls again after `RateLimited` included).
    pub fetched: Vec<DocumentId>,
    /// Every `resolve` call, in order.
    pub resolved: Vec<DocumentId>,
    /// Documents that failed: (id, kind, message).
    pub failed: Vec<(DocumentId, ErrorKind, String)>,
    /// Documents whose ACL was rewritten without a fetch.
    pub acl_updated: Vec<DocumentId>,
    /// Documents removed by `Change::Delete`.
    pub deleted: Vec<DocumentId>,
    /// Documents removed by the sweep after a complete listing.
    pub swept: Vec<DocumentId>,
    /// Checkpoint markers seen.
    pub checkpoints: usize,
    /// Documents listed before the last checkpoint marker of the run.
    pub listed_at_checkpoint: usize,
    /// Breaches of the contract seen in the stream (MUST rules).
    pub violations: Vec<String>,
}

impl Run {
    /// Whether the run ended as a clean sync: not killed, no error, and a full listing (if
    /// it made one) complete.
    pub fn clean(&self) -> bool {
        !self.killed
            && self.errors.is_empty()
            && self.failed.is_empty()
            && (self.listing_complete || self.mode == Some(Mode::Incremental))
    }

    /// Whether `id` was fetched in this run.
    pub fn fetched_doc(&self, id: &DocumentId) -> bool {
        self.fetched.contains(id)
    }
}
