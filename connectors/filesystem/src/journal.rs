//! A change journal on inotify: what changed in the folder since a cursor, without a walk.
//!
//! A re-sync that walks stats every file; for a folder of small files that is most of the
//! run (ADR 0009). A process that syncs the same folder again and again (the daemon, a
//! program embedding `sync-core`) can instead keep inotify watches on every folder between
//! runs and stat only the files that had events.
//!
//! The kernel's inotify queue is the journal's buffer: nothing runs between syncs, and each
//! run drains the queue first. Every event gets a sequence number; the cursor a run leaves
//! in the checkpoint (`<session>:<seq>:<walked_at>`) says "every event up to `seq` is
//! indexed". Events after it stay here until a later cursor is *committed* (the engine
//! passes the committed one back), so a run that fails replays them.
//!
//! Correctness comes from falling back to a walk whenever the journal cannot be sure:
//! - another process's cursor (a new session: every one-off `tributary sync`);
//! - a queue overflow, or more changed paths than [`MAX_DIRTY`];
//! - a folder created, deleted, renamed or re-permissioned, the root moved or unmounted,
//!   the ACL file changed, a name that is not UTF-8 (the engine cannot tell which documents
//!   lay below, or the walk must report it);
//! - a folder that could not be watched (the `max_user_watches` limit);
//! - `rescan_minutes` since the cursor's walk, for what inotify cannot see.
//!
//! Watches are added by the walk itself, on each folder *before* it is read, so a change
//! after the read is queued and one before it is seen by the walk.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

/// More distinct changed paths than this between committed cursors: walk instead (bounds
/// the journal's memory when runs keep failing).
pub(crate) const MAX_DIRTY: usize = 100_000;

/// What a folder's watch reports. No OPEN/ACCESS/CLOSE_NOWRITE: reading a file (our own
/// fetches) must not fill the queue.
fn folder_mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE // writes through `mmap` report no MODIFY
        | WatchMask::ATTRIB
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::DONT_FOLLOW
        | WatchMask::EXCL_UNLINK
}

/// Where a journal's changes start: its session, the last event the index covers, and when
/// the walk this cursor descends from started (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) session: String,
    pub(crate) seq: u64,
    pub(crate) walked_at: i64,
}

impl Cursor {
    pub(crate) fn parse(s: &str) -> Option<Cursor> {
        let mut parts = s.rsplitn(3, ':');
        let walked_at = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let session = parts.next()?.to_string();
        Some(Cursor {
            session,
            seq,
            walked_at,
        })
    }

    pub(crate) fn format(&self) -> String {
        format!("{}:{}:{}", self.session, self.seq, self.walked_at)
    }
}

/// A journal's view of one folder tree. Not thread-safe: the walker keeps it in a mutex.
#[derive(Debug)]
pub(crate) struct Journal {
    inotify: Inotify,
    /// Unique to this journal: a cursor from another process, or from a journal that was
    /// dropped, never matches.
    session: String,
    /// Watched folders: watch descriptor → relative prefix (`""` for the root, `"a/b/"`).
    dirs: HashMap<WatchDescriptor, String>,
    /// Folders the current walk watched (replaces `dirs` when it completes).
    walking: HashMap<WatchDescriptor, String>,
    /// The ACL file, when it lies outside the root: its folder's watch and its name.
    acl: Option<(WatchDescriptor, OsString)>,
    /// Events drained so far.
    seq: u64,
    /// Changed paths → the sequence number of their last event.
    dirty: BTreeMap<String, u64>,
    /// The sequence number of the last event only a walk can handle.
    structural: u64,
    /// Every folder of the last walk got a watch.
    watching_all: bool,
    /// A folder could not be watched: the journal gives up (see [`Journal::gave_up`]).
    watch_error: bool,
    /// Symlinked documents: their target's changes are reported under the target's name, so
    /// each journal run describes them again.
    links: BTreeSet<String>,
}

static SESSIONS: AtomicU64 = AtomicU64::new(0);

impl Journal {
    pub(crate) fn open() -> io::Result<Journal> {
        let inotify = Inotify::init()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let session = format!(
            "{}.{nanos}.{}",
            std::process::id(),
            SESSIONS.fetch_add(1, Ordering::Relaxed)
        );
        Ok(Journal {
            inotify,
            session,
            dirs: HashMap::new(),
            walking: HashMap::new(),
            acl: None,
            seq: 0,
            dirty: BTreeMap::new(),
            structural: 0,
            watching_all: false,
            watch_error: false,
            links: BTreeSet::new(),
        })
    }

    /// Moves every queued event into the journal.
    pub(crate) fn drain(&mut self) {
        let mut buffer = [0u8; 64 * 1024];
        loop {
            let events = match self.inotify.read_events(&mut buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the change journal failed; the next sync walks the folder");
                    self.seq += 1;
                    return self.needs_walk();
                }
            };
            let mut any = false;
            for event in events {
                any = true;
                self.record(&event.wd, event.mask, event.name);
            }
            if !any {
                return;
            }
        }
    }

    /// Files one event at the next sequence number.
    fn record(&mut self, wd: &WatchDescriptor, mask: EventMask, name: Option<&OsStr>) {
        self.seq += 1;
        if mask.contains(EventMask::Q_OVERFLOW) {
            tracing::info!("the change journal overflowed; the next sync walks the folder");
            return self.needs_walk();
        }
        if mask.contains(EventMask::IGNORED) {
            // The watch is gone: its folder was deleted or moved (the parent's event says
            // so) or we removed it.
            self.dirs.remove(wd);
            return;
        }
        if let Some((acl_wd, acl_name)) = &self.acl
            && acl_wd == wd
            && (name.is_none() || name == Some(acl_name.as_os_str()))
        {
            return self.needs_walk();
        }
        let Some(prefix) = self.dirs.get(wd) else {
            // A folder the last complete walk did not see (moved out of the root).
            return;
        };
        if mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::UNMOUNT)
            || mask.contains(EventMask::ISDIR)
        {
            return self.needs_walk();
        }
        let Some(name) = name.and_then(OsStr::to_str) else {
            // An event on the folder itself (its permissions), or a name that is not UTF-8.
            return self.needs_walk();
        };
        let path = format!("{prefix}{name}");
        self.dirty.insert(path, self.seq);
        if self.dirty.len() > MAX_DIRTY {
            self.needs_walk();
        }
    }

    fn needs_walk(&mut self) {
        self.structural = self.seq;
        self.dirty.clear();
    }

    /// Starts a walk of the whole tree: drains the queue and returns the cursor position the
    /// walk covers. Watches the ACL file's folder when the file (a canonical path) lies
    /// outside the root.
    pub(crate) fn begin_walk(&mut self, acl_outside_root: Option<&Path>) -> u64 {
        self.drain();
        self.walking.clear();
        self.watching_all = true;
        self.acl = None;
        if let Some(path) = acl_outside_root
            && let (Some(folder), Some(name)) = (path.parent(), path.file_name())
        {
            match self.inotify.watches().add(folder, folder_mask()) {
                Ok(wd) => self.acl = Some((wd, name.to_owned())),
                Err(e) => self.watch_failed(folder, &e),
            }
        }
        self.seq
    }

    /// Watches a folder the walk is about to read; `prefix` is its relative path with a
    /// trailing `/` (empty for the root).
    pub(crate) fn watch_folder(&mut self, path: &Path, prefix: &str) {
        match self.inotify.watches().add(path, folder_mask()) {
            Ok(wd) => {
                self.walking.insert(wd, prefix.to_string());
            }
            Err(e) => self.watch_failed(path, &e),
        }
    }

    fn watch_failed(&mut self, path: &Path, e: &io::Error) {
        if !self.watch_error {
            let hint = if e.raw_os_error() == Some(28) {
                " (the inotify watch limit: raise fs.inotify.max_user_watches)"
            } else {
                ""
            };
            tracing::warn!(path = %path.display(), error = %e, "cannot watch a folder{hint}; this source's syncs walk the folder until the process restarts");
        }
        self.watching_all = false;
        self.watch_error = true;
    }

    /// A folder could not be watched. The owner should drop the journal: its watches count
    /// against the user's inotify limit, which other programs (editors, build tools) share.
    pub(crate) fn gave_up(&self) -> bool {
        self.watch_error
    }

    /// Ends a walk. A complete one replaces the watched folders (and drops the watches of
    /// folders it no longer saw); an incomplete one only adds to them.
    pub(crate) fn end_walk(&mut self, complete: bool, links: BTreeSet<String>) {
        let walked = std::mem::take(&mut self.walking);
        if complete {
            // Folders the walk no longer saw were moved out of the root (the kernel drops
            // the watches of deleted ones by itself, so removing may fail harmlessly).
            let mut watches = self.inotify.watches();
            for wd in self.dirs.keys().filter(|wd| !walked.contains_key(*wd)) {
                let _ = watches.remove(wd.clone());
            }
            self.dirs = walked;
            self.links = links;
        } else {
            self.dirs.extend(walked);
            self.links.extend(links);
            self.watching_all = false;
        }
    }

    /// A cursor for this journal at `seq`.
    pub(crate) fn cursor(&self, seq: u64, walked_at: i64) -> Cursor {
        Cursor {
            session: self.session.clone(),
            seq,
            walked_at,
        }
    }

    /// Every folder of the last walk has a watch.
    pub(crate) fn watching_all(&self) -> bool {
        self.watching_all
    }

    /// The current position (after a [`drain`](Self::drain)).
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The paths to describe again for a sync from `cursor`, sorted; `None` when only a walk
    /// can tell what changed. Forgets what the cursor already covers.
    pub(crate) fn changes_since(
        &mut self,
        cursor: &Cursor,
        now: i64,
        rescan_seconds: i64,
    ) -> Option<Vec<String>> {
        if cursor.session != self.session
            || cursor.seq > self.seq
            || self.structural > cursor.seq
            || !self.watching_all
            || now.saturating_sub(cursor.walked_at) >= rescan_seconds
        {
            return None;
        }
        self.dirty.retain(|_, seq| *seq > cursor.seq);
        let mut paths: BTreeSet<&String> = self.dirty.keys().collect();
        paths.extend(self.links.iter());
        Some(paths.into_iter().cloned().collect())
    }

    /// Notes that `path` is (or is no longer) a symlinked document.
    pub(crate) fn set_link(&mut self, path: &str, is_link: bool) {
        if is_link {
            self.links.insert(path.to_string());
        } else {
            self.links.remove(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder with `sub/`, and a journal that watched both in a complete walk; returns
    /// the walk's cursor.
    fn watched() -> (tempfile::TempDir, Journal, Cursor) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/old.txt"), "old").expect("write");
        let mut journal = Journal::open().expect("inotify");
        let seq = journal.begin_walk(None);
        journal.watch_folder(dir.path(), "");
        journal.watch_folder(&dir.path().join("sub"), "sub/");
        journal.end_walk(true, BTreeSet::new());
        let cursor = journal.cursor(seq, 1_000);
        (dir, journal, cursor)
    }

    fn since(journal: &mut Journal, cursor: &Cursor) -> Option<Vec<String>> {
        journal.drain();
        journal.changes_since(cursor, 1_000, 3_600)
    }

    #[test]
    fn file_events_become_sorted_paths_and_a_committed_cursor_forgets_them() {
        let (dir, mut journal, cursor) = watched();
        assert_eq!(since(&mut journal, &cursor), Some(vec![]));
        std::fs::write(dir.path().join("b.txt"), "new").expect("write");
        std::fs::write(dir.path().join("sub/old.txt"), "edited").expect("write");
        std::fs::rename(dir.path().join("b.txt"), dir.path().join("sub/c.txt")).expect("mv");
        std::fs::remove_file(dir.path().join("sub/c.txt")).expect("rm");
        let expected = ["b.txt", "sub/c.txt", "sub/old.txt"]
            .map(String::from)
            .to_vec();
        assert_eq!(since(&mut journal, &cursor), Some(expected.clone()));
        // Asked again from the same (uncommitted) cursor: the same paths.
        assert_eq!(since(&mut journal, &cursor), Some(expected));
        let next = journal.cursor(journal.seq(), cursor.walked_at);
        assert_eq!(since(&mut journal, &next), Some(vec![]));
        // Reading a file is not a change.
        std::fs::read(dir.path().join("sub/old.txt")).expect("read");
        assert_eq!(since(&mut journal, &next), Some(vec![]));
    }

    #[test]
    fn folder_changes_overflow_other_sessions_and_old_walks_need_a_walk() {
        let (dir, mut journal, cursor) = watched();
        std::fs::create_dir(dir.path().join("new")).expect("mkdir");
        assert_eq!(since(&mut journal, &cursor), None, "a new folder");
        let after = journal.cursor(journal.seq(), cursor.walked_at);
        assert_eq!(since(&mut journal, &after), Some(vec![]));
        std::fs::rename(dir.path().join("sub"), dir.path().join("moved")).expect("mv");
        assert_eq!(since(&mut journal, &after), None, "a renamed folder");

        let (_dir, mut journal, cursor) = watched();
        let mut other = cursor.clone();
        other.session.push('x');
        assert_eq!(since(&mut journal, &other), None, "another session");
        assert_eq!(
            journal.changes_since(&cursor, 1_000 + 3_600, 3_600),
            None,
            "rescan due"
        );
        assert_eq!(Cursor::parse(&cursor.format()), Some(cursor.clone()));
        assert_eq!(Cursor::parse("garbage"), None);

        // More events than the kernel queues: an overflow. Alternate two files so that
        // the kernel cannot merge consecutive identical events.
        let (dir, mut journal, cursor) = watched();
        let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(16_384);
        let files = [dir.path().join("x"), dir.path().join("y")];
        for i in 0..limit / 2 + 100 {
            for f in &files {
                std::fs::write(f, i.to_string()).expect("write");
            }
        }
        assert_eq!(since(&mut journal, &cursor), None, "an overflow");
    }

    #[test]
    fn a_folder_that_cannot_be_watched_gives_the_journal_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut journal = Journal::open().expect("inotify");
        let seq = journal.begin_walk(None);
        journal.watch_folder(dir.path(), "");
        journal.watch_folder(&dir.path().join("vanished"), "vanished/");
        journal.end_walk(true, BTreeSet::new());
        assert!(journal.gave_up() && !journal.watching_all());
        let cursor = journal.cursor(seq, 1_000);
        assert_eq!(since(&mut journal, &cursor), None);
    }

    #[test]
    fn the_acl_file_outside_the_root_is_watched_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("mkdir");
        let acl = dir.path().join("acl.json");
        std::fs::write(&acl, "[]").expect("acl");
        let mut journal = Journal::open().expect("inotify");
        let seq = journal.begin_walk(Some(&acl));
        journal.watch_folder(&root, "");
        journal.end_walk(true, BTreeSet::new());
        let cursor = journal.cursor(seq, 1_000);
        std::fs::write(dir.path().join("unrelated.txt"), "x").expect("write");
        assert_eq!(since(&mut journal, &cursor), Some(vec![]));
        std::fs::write(&acl, "[ ]").expect("acl");
        assert_eq!(since(&mut journal, &cursor), None);
    }
}
