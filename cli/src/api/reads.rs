//! What the API reads from the data folder, read-only (so it works while syncs write), with
//! the caches that keep a search from costing more than the search.
//!
//! - **The index** is opened once per data folder: before each search `TantivyIndex` compares
//!   the committed segments with its reader's and reloads when they differ, so it sees every
//!   commit without being reopened (and without reopening every segment per search).
//! - **The identities** (stored identity syncs, the identities file, the config's aliases)
//!   are loaded again only when one of their inputs changed: the key is the config in force
//!   (a reload replaces the `Arc`), the identities file's modification time and length, and
//!   the store's count of memberships writes (`LocalStore::memberships_version`), which moves
//!   in the transaction of every change to stored memberships and with nothing else; a stale
//!   key is a security bug (a revoked membership that still grants access). A store that holds
//!   memberships an older build wrote, uncounted, stands by its file's stamp until the next
//!   identity sync counts them; that stamp moves with every commit of every run. That was the key for all stores once: a content
//!   run commits many times a second, and within a second of each commit the racy rule below
//!   trusts no stamp, so every search during a sync loaded the identities again (and expanded
//!   its user's groups again), behind one lock: searches stalled for up to 0.8 s (ADR 0020).
//! - **A user's principals** (their groups expanded through nesting, in every namespace) are
//!   kept with the identities they were derived from and dropped with them: a search as a
//!   user seen before skips the expansion, and can never use groups of older identities than
//!   a fresh expansion would.
//! - **Document counts** (a scan of every document's first chunk) are cached on the index's
//!   `meta.json`, which tantivy rewrites on every commit.
//!
//! A key is trusted only once its files are older than [`RACY`] at load time (git's "racily
//! clean" rule): on a filesystem with coarse timestamps, a write in the same tick as the load
//! would leave the time unchanged, so a load that close to a write is used once and not
//! cached.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use sync_core::{Identities, LocalStore, TantivyIndex};

use super::error::ApiError;
use crate::commands::load_identities_noting;
use crate::config::Config;

/// How old a file's modification time must be for a load to be cached on it: longer than the
/// coarsest timestamp granularity of the filesystems a data folder lives on (ext4 and XFS
/// record nanoseconds, but update them on a clock tick; some record seconds).
pub(super) const RACY: Duration = Duration::from_secs(1);

/// A file's modification time and length, or nothing when it does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp(Option<(SystemTime, u64)>);

impl Stamp {
    pub(super) fn of(path: &Path) -> Self {
        Stamp(
            std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len()))),
        )
    }

    /// Whether a later write is sure to change the stamp: the file was last written more
    /// than [`RACY`] before `now` (or does not exist).
    fn settled(&self, now: SystemTime) -> bool {
        self.0.is_none_or(|(modified, _)| {
            modified
                .checked_add(RACY)
                .is_some_and(|settled_at| settled_at <= now)
        })
    }
}

/// Users whose principals are kept at most, per load of the identities: beyond that the
/// memo starts again (a search costs an expansion more, never memory without bound).
const MEMO_USERS: usize = 10_000;

/// Identities as loaded, with the principals of the users searched as since.
struct Loaded {
    identities: Arc<Identities>,
    principals: Mutex<HashMap<String, Arc<[String]>>>,
}

impl Loaded {
    fn new(identities: Identities) -> Self {
        Loaded {
            identities: Arc::new(identities),
            principals: Mutex::default(),
        }
    }

    fn principals(&self, user: &str) -> Arc<[String]> {
        if let Some(p) = lock(&self.principals).get(user) {
            return Arc::clone(p);
        }
        // Derived outside the lock: other users' searches need not wait for it.
        let derived: Arc<[String]> = self.identities.principals(user).into();
        let mut memo = lock(&self.principals);
        if memo.len() >= MEMO_USERS {
            memo.clear();
        }
        memo.insert(user.to_string(), Arc::clone(&derived));
        derived
    }
}

/// What stands for the stored memberships in the identities' key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKey {
    /// The store's count of memberships writes.
    Version(u64),
    /// The store file's stamp: the store does not count memberships writes (or is absent,
    /// or cannot be read now).
    Stamp(Stamp),
}

impl StoreKey {
    fn settled(&self, now: SystemTime) -> bool {
        match self {
            // Read in a transaction: a later change is a later count, whatever the clock.
            StoreKey::Version(_) => true,
            StoreKey::Stamp(stamp) => stamp.settled(now),
        }
    }
}

struct CachedIdentities {
    /// Held, not only compared by address, so that a new config cannot reuse the address.
    config: Arc<Config>,
    store: StoreKey,
    file: Stamp,
    loaded: Arc<Loaded>,
}

/// Documents per source, as of the index's `meta.json` stamp.
struct CachedCounts {
    index_dir: PathBuf,
    stamp: Stamp,
    counts: Arc<BTreeMap<String, u64>>,
}

/// The API's caches over one daemon's data folder.
#[derive(Default)]
pub(super) struct Reads {
    index: Mutex<Option<(PathBuf, TantivyIndex)>>,
    identities: Mutex<Option<CachedIdentities>>,
    /// The state store, open read-only, to read its memberships count.
    store: Mutex<Option<(PathBuf, Arc<LocalStore>)>>,
    /// The store file's stamp when its key was last read, and that key (kept only for a
    /// settled stamp: within the racy window the file can change under an equal stamp).
    store_keys: Mutex<Option<(PathBuf, Stamp, StoreKey)>>,
    counts: Mutex<Option<CachedCounts>>,
    /// Identity loads so far, for the tests that show the cache works.
    identity_loads: AtomicU64,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads")
            .field("identity_loads", &self.identity_loads)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while loading leaves at worst a stale or empty cache entry, which the keys
    // below catch: never a reason to fail every later request.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Reads {
    /// Searches `dir` through `index`: the daemon's engine's own, whose commits keep it
    /// current for searches (`Engine::open_searching`).
    pub(super) fn share_index(&self, dir: PathBuf, index: TantivyIndex) {
        *lock(&self.index) = Some((dir, index));
    }

    /// The index of `config`'s data folder; `unavailable` before the first sync created it.
    pub(super) fn index(&self, config: &Config) -> Result<TantivyIndex, ApiError> {
        let dir = config.data_dir.join("index");
        let mut cached = lock(&self.index);
        if let Some((path, index)) = cached.as_ref()
            && *path == dir
        {
            return Ok(index.clone());
        }
        match TantivyIndex::open_read_only(&dir) {
            Ok(Some(index)) => {
                *cached = Some((dir, index.clone()));
                Ok(index)
            }
            Ok(None) => Err(ApiError::unavailable(format!(
                "no index at {} yet: no sync has committed",
                dir.display()
            ))),
            Err(e) => Err(ApiError::internal(&e.into())),
        }
    }

    /// The identities searches and explanations use, loaded again only when an input changed.
    pub(super) fn identities(&self, config: &Arc<Config>) -> Result<Arc<Identities>, ApiError> {
        Ok(Arc::clone(&self.loaded(config)?.identities))
    }

    /// `user`'s principals ([`Identities::principals`]) under the identities in force.
    pub(super) fn principals(
        &self,
        config: &Arc<Config>,
        user: &str,
    ) -> Result<Arc<[String]>, ApiError> {
        Ok(self.loaded(config)?.principals(user))
    }

    fn loaded(&self, config: &Arc<Config>) -> Result<Arc<Loaded>, ApiError> {
        // Keyed before reading: a write between the two leaves a key older than the data,
        // which the next request sees as changed (a reload too many, never a stale answer).
        let store = self.store_key(&config.data_dir);
        let file = config
            .identities_file
            .as_deref()
            .map_or(Stamp(None), Stamp::of);
        let now = SystemTime::now();
        let mut cached = lock(&self.identities);
        if let Some(c) = cached.as_ref()
            && Arc::ptr_eq(&c.config, config)
            && c.store == store
            && c.file == file
        {
            return Ok(Arc::clone(&c.loaded));
        }
        self.identity_loads.fetch_add(1, Ordering::Relaxed);
        let loaded = load_identities_noting(config, |note| tracing::warn!("api: {note}"))
            .map(|i| Arc::new(Loaded::new(i)))
            .map_err(|e| ApiError::internal(&e))?;
        *cached = (store.settled(now) && file.settled(now)).then(|| CachedIdentities {
            config: Arc::clone(config),
            store,
            file,
            loaded: Arc::clone(&loaded),
        });
        Ok(loaded)
    }

    /// The stored memberships' part of the identities' key (see the module docs). Read
    /// from the store only when its file changed since the last read (a `stat` otherwise).
    fn store_key(&self, data_dir: &Path) -> StoreKey {
        // Stamped first, so that a fallback is never newer than what is loaded after it.
        let stamp = Stamp::of(&data_dir.join(sync_core::store::STORE_FILE));
        if stamp.0.is_none() {
            return StoreKey::Stamp(stamp);
        }
        if let Some((dir, seen, key)) = lock(&self.store_keys).as_ref()
            && dir == data_dir
            && *seen == stamp
        {
            return *key;
        }
        let now = SystemTime::now();
        let key = match self.store(data_dir).map(|s| s.memberships_version()) {
            Some(Ok(Some(version))) => StoreKey::Version(version),
            _ => StoreKey::Stamp(stamp),
        };
        *lock(&self.store_keys) = stamp
            .settled(now)
            .then(|| (data_dir.to_path_buf(), stamp, key));
        key
    }

    /// The store of `data_dir`, opened read-only once; `None` while it cannot be opened (an
    /// older layout that the next sync upgrades: tried again on the next request).
    fn store(&self, data_dir: &Path) -> Option<Arc<LocalStore>> {
        let mut cached = lock(&self.store);
        if let Some((dir, store)) = cached.as_ref()
            && dir == data_dir
        {
            return Some(Arc::clone(store));
        }
        let store = Arc::new(LocalStore::open_read_only(data_dir).ok()?);
        *cached = Some((data_dir.to_path_buf(), Arc::clone(&store)));
        Some(store)
    }

    /// How many times the identities were loaded.
    #[cfg(test)]
    pub(super) fn identity_loads(&self) -> u64 {
        self.identity_loads.load(Ordering::Relaxed)
    }

    /// Documents per source in the index (empty before the first sync).
    pub(super) fn document_counts(
        &self,
        config: &Config,
    ) -> Result<Arc<BTreeMap<String, u64>>, ApiError> {
        let dir = config.data_dir.join("index");
        let stamp = Stamp::of(&dir.join("meta.json"));
        if stamp.0.is_none() {
            return Ok(Arc::default());
        }
        let now = SystemTime::now();
        let mut cached = lock(&self.counts);
        if let Some(c) = cached.as_ref()
            && c.index_dir == dir
            && c.stamp == stamp
        {
            return Ok(Arc::clone(&c.counts));
        }
        let index = self.index(config)?;
        let counts = Arc::new(
            index
                .document_counts()
                .map_err(|e| ApiError::internal(&e.into()))?,
        );
        *cached = stamp.settled(now).then(|| CachedCounts {
            index_dir: dir,
            stamp,
            counts: Arc::clone(&counts),
        });
        Ok(counts)
    }
}

/// The bytes of the files under `dir` (the index's size on disk); 0 when it does not exist.
pub(super) fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
