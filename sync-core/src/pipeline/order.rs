//! Listing order across the stages.
//!
//! The planner reads the manifest while the writer is up to a commit window behind it, so a
//! document listed again before the writer committed its earlier change would be planned
//! against a stale row: an `Upsert` after a `Delete` judged unchanged (and the document
//! lost), a `Permissions` change right after a new document's `Upsert` judged "not indexed"
//! (and the change lost). The [`Sequencer`] numbers every change; when one names a document
//! whose earlier change may not be committed yet, it puts a barrier before it — the writer
//! commits there — and the repeat is planned only once that commit is durable. Change feeds
//! repeat documents rarely (an edit, then a share), so a barrier costs one early commit now
//! and then; listings that never repeat pay a hash lookup per document.
//!
//! It also remembers, in a Bloom filter, every document this listing named, so the writer
//! can tell a listing that named each document once (the sweep may trust its count) from
//! one that may have repeated some (the sweep counts on disk instead).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use connector_sdk::{Change, ConnectorError};
use fastbloom::BloomFilter;
use tokio::sync::watch;

/// What a connector's stream yields.
pub(super) type Item = std::result::Result<Change, ConnectorError>;

/// One listed change with its place in the listing.
pub(super) enum Listed {
    Change {
        seq: u64,
        item: Box<Item>,
        /// Plan it only once every change up to this one is durable (it repeats one).
        after: Option<u64>,
        /// The listing may have named this document before (a Bloom filter says so: false
        /// positives happen, false negatives do not).
        maybe_repeat: bool,
    },
    /// The writer commits here.
    Barrier { seq: u64 },
}

/// Numbers changes, puts barriers before repeats, remembers what was listed.
pub(super) struct Sequencer {
    next: u64,
    hasher: RandomState,
    /// Document key → sequence number of its latest change not known to be durable.
    recent: HashMap<u64, u64, BuildHasherDefault<KeyHasher>>,
    /// The same, in listing order, to forget what became durable.
    order: VecDeque<(u64, u64)>,
    /// The highest sequence number the writer has made durable.
    durable: watch::Receiver<u64>,
    listed: BloomFilter,
}

/// Filter bits per expected document, and bit probes per document. At 48 and 10 the
/// false-positive rate at the expected load is ~6·10⁻⁸, so a listing of a million documents
/// expects one spurious "maybe repeated" (a slower sweep, nothing else) in ~30 runs; 6 MB a
/// million documents. Fewer probes than the optimum for the size (10 instead of ~33): each
/// probe of a filter larger than the cache is a miss, and they were most of the
/// sequencer's cost in a 200k-document no-op.
const BITS_PER_DOCUMENT: usize = 48;
const PROBES: u32 = 10;

impl Sequencer {
    /// A sequencer for a listing expected to name about `expected` documents (more only
    /// raises the false-positive rate).
    pub(super) fn new(durable: watch::Receiver<u64>, expected: u64) -> Self {
        Sequencer {
            next: 1,
            hasher: RandomState::new(),
            recent: HashMap::default(),
            order: VecDeque::new(),
            durable,
            listed: BloomFilter::with_num_bits((expected as usize).max(1024) * BITS_PER_DOCUMENT)
                .hashes(PROBES),
        }
    }

    /// Whether this listing named `id` (maybe: see [`Listed::Change::maybe_repeat`]).
    pub(super) fn maybe_listed(&self, id: &str) -> bool {
        self.listed.contains_hash(self.hasher.hash_one(id))
    }

    /// The change, numbered, and a barrier to put before it if it repeats one that may not
    /// be durable yet.
    pub(super) fn sequence(&mut self, item: Box<Item>) -> (Option<Listed>, Listed) {
        let id = match &*item {
            Ok(Change::Upsert(doc)) => Some(doc.id.as_str()),
            Ok(Change::Delete(id) | Change::Permissions { id, .. }) => Some(id.as_str()),
            _ => None,
        };
        let Some(id) = id else {
            let seq = self.take_seq();
            let change = Listed::Change {
                seq,
                item,
                after: None,
                maybe_repeat: false,
            };
            return (None, change);
        };
        // One hash a document serves the filter and the map (whose hasher passes it on).
        let key = self.hasher.hash_one(id);
        let maybe_repeat = self.listed.insert_hash(key);
        self.forget_durable();
        let durable = *self.durable.borrow();
        let mut barrier = None;
        let mut after = None;
        if let Some(&earlier) = self.recent.get(&key)
            && earlier > durable
        {
            let seq = self.take_seq();
            barrier = Some(Listed::Barrier { seq });
            after = Some(seq);
        }
        let seq = self.take_seq();
        self.recent.insert(key, seq);
        self.order.push_back((seq, key));
        let change = Listed::Change {
            seq,
            item,
            after,
            maybe_repeat,
        };
        (barrier, change)
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next;
        self.next += 1;
        seq
    }

    /// Drops what the writer made durable, oldest first (amortised O(1) a change).
    fn forget_durable(&mut self) {
        let durable = *self.durable.borrow();
        while let Some(&(seq, key)) = self.order.front() {
            if seq > durable {
                break;
            }
            self.order.pop_front();
            if self.recent.get(&key) == Some(&seq) {
                self.recent.remove(&key);
            }
        }
    }
}

/// Passes on a key that is already a hash.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; mix anything else in rather than ignore it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::{Acl, DocumentId, RemoteDocument};

    fn upsert(id: &str) -> std::result::Result<Change, ConnectorError> {
        Ok(Change::Upsert(RemoteDocument::new(id, "1", Acl::default())))
    }

    fn push(
        s: &mut Sequencer,
        item: std::result::Result<Change, ConnectorError>,
        out: &mut Vec<Listed>,
    ) {
        let (barrier, change) = s.sequence(Box::new(item));
        out.extend(barrier);
        out.push(change);
    }

    /// (seq, is_barrier, after, maybe_repeat) for each item.
    fn shape(out: &[Listed]) -> Vec<(u64, bool, Option<u64>, bool)> {
        out.iter()
            .map(|l| match l {
                Listed::Change {
                    seq,
                    after,
                    maybe_repeat,
                    ..
                } => (*seq, false, *after, *maybe_repeat),
                Listed::Barrier { seq } => (*seq, true, None, false),
            })
            .collect()
    }

    #[test]
    fn a_repeat_waits_behind_a_barrier_until_its_earlier_change_is_durable() {
        let (tx, rx) = watch::channel(0);
        let mut s = Sequencer::new(rx, 10);
        let mut out = Vec::new();
        push(&mut s, upsert("a"), &mut out);
        push(&mut s, upsert("b"), &mut out);
        push(&mut s, Ok(Change::Delete(DocumentId::new("a"))), &mut out);
        assert_eq!(
            shape(&out),
            [
                (1, false, None, false),
                (2, false, None, false),
                (3, true, None, false),
                (4, false, Some(3), true)
            ]
        );
        // Once the writer made 4 durable, "a" and "b" repeat without a barrier (the filter
        // still knows they were listed).
        tx.send_replace(4);
        out.clear();
        push(&mut s, upsert("a"), &mut out);
        push(&mut s, upsert("b"), &mut out);
        push(&mut s, upsert("c"), &mut out);
        assert_eq!(
            shape(&out),
            [
                (5, false, None, true),
                (6, false, None, true),
                (7, false, None, false)
            ]
        );
        assert_eq!(s.recent.len(), 3, "only what is not durable is remembered");
        assert!(s.maybe_listed("c") && !s.maybe_listed("d"));
    }

    #[test]
    fn markers_are_numbered_but_never_repeat() {
        let (_tx, rx) = watch::channel(0);
        let mut s = Sequencer::new(rx, 10);
        let mut out = Vec::new();
        for _ in 0..2 {
            push(&mut s, Ok(Change::ListingComplete), &mut out);
        }
        assert_eq!(
            shape(&out),
            [(1, false, None, false), (2, false, None, false)]
        );
    }
}
