//! The rows the CLI prints with `--json` and the HTTP API returns (src/api): one function
//! builds each, so the two cannot drift apart.

use std::collections::BTreeMap;

use serde::Serialize;
use sync_core::identities::Identities;
use sync_core::{
    Engine, RunMode, RunReport, RunState, SearchOptions, StateStore, TantivyIndex, VisibleDoc,
};

use crate::config::Config;

/// One hit as `tributary search --json` prints it and `GET /v1/search` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SearchRow {
    pub source: String,
    pub doc_id: String,
    pub chunk_id: String,
    pub title: String,
    pub uri: Option<String>,
    /// BM25, widened to f64: `search --json` has always printed the f64 digits of the f32
    /// score (not its shorter f32 form), and its output stays the same byte for byte.
    pub score: f64,
    pub snippet: String,
    pub page: Option<u64>,
    pub section: Option<String>,
}

/// The hits of `query` that `user` may read, best first: the rows of `search --json`.
pub(crate) fn search_rows(
    index: &TantivyIndex,
    identities: &Identities,
    user: &str,
    query: &str,
    limit: usize,
) -> anyhow::Result<Vec<SearchRow>> {
    search_rows_of(
        index,
        &identities.principals(user),
        query,
        limit,
        SearchOptions::default(),
    )
}

/// [`search_rows`] for a user's principals, already derived.
pub(crate) fn search_rows_of(
    index: &TantivyIndex,
    principals: &[String],
    query: &str,
    limit: usize,
    options: SearchOptions,
) -> anyhow::Result<Vec<SearchRow>> {
    let hits = index.search_with(query, principals, limit, options)?;
    Ok(hits
        .into_iter()
        .map(|h| SearchRow {
            source: h.source,
            doc_id: h.doc_id,
            chunk_id: h.chunk_id,
            title: h.title,
            uri: h.uri,
            score: f64::from(h.score),
            snippet: h.snippet,
            page: h.page,
            section: h.section,
        })
        .collect())
}

/// Every document `user` may see, sorted: the rows of `search --all --json`.
pub(crate) fn visible_rows(
    index: &TantivyIndex,
    identities: &Identities,
    user: &str,
) -> anyhow::Result<Vec<VisibleDoc>> {
    Ok(index.visible_documents(&identities.principals(user))?)
}

/// The run reports `tributary runs --json` prints and `GET /v1/runs` returns: oldest first,
/// only `source`'s if given, only the last `last` if given; none where nothing was synced.
pub(crate) fn run_rows(
    config: &Config,
    source: Option<&str>,
    last: Option<usize>,
) -> anyhow::Result<Vec<RunReport>> {
    // Looking must not create a data directory where nothing was ever synced.
    if !config.data_dir.exists() {
        return Ok(Vec::new());
    }
    let engine = Engine::open_read_only(&config.data_dir)?;
    let mut runs: Vec<RunReport> = engine
        .store()
        .runs()?
        .into_iter()
        .filter(|r| source.is_none_or(|s| r.source == s))
        .collect();
    if let Some(n) = last {
        let skip = runs.len().saturating_sub(n);
        runs.drain(..skip);
    }
    Ok(runs)
}

/// One configured source as `tributary status` shows it and `GET /v1/sources` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SourceRow {
    pub id: String,
    #[serde(rename = "type")]
    pub type_name: &'static str,
    /// Documents in the index.
    pub documents: u64,
    /// Documents waiting for a retry (`runs --retries`).
    pub pending_retries: usize,
    /// The newest run of any kind.
    pub last_run: Option<LastRun>,
    /// While the newest run is running and waits out a rate limit: until when.
    #[serde(with = "time::serde::rfc3339::option")]
    pub rate_limited_until: Option<time::OffsetDateTime>,
}

/// The newest run of a source, in brief (`runs` has the whole report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LastRun {
    pub id: u64,
    pub mode: RunMode,
    pub state: RunState,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<time::OffsetDateTime>,
}

/// A row per configured source, in config order. `counts` are the index's documents per
/// source; `store` is `None` where nothing was synced yet.
pub(crate) fn source_rows(
    config: &Config,
    counts: &BTreeMap<String, u64>,
    store: Option<&dyn StateStore>,
) -> anyhow::Result<Vec<SourceRow>> {
    let runs = match store {
        Some(store) => store.runs()?,
        None => Vec::new(),
    };
    let now = time::OffsetDateTime::now_utc();
    let mut rows = Vec::with_capacity(config.sources.len());
    for s in &config.sources {
        let last = runs.iter().rev().find(|r| r.source == s.id);
        rows.push(SourceRow {
            id: s.id.clone(),
            type_name: s.type_name(),
            documents: counts.get(&s.id).copied().unwrap_or(0),
            pending_retries: match store {
                Some(store) => store.retries(&s.id)?.len(),
                None => 0,
            },
            last_run: last.map(|r| LastRun {
                id: r.id,
                mode: r.mode,
                state: r.state,
                started_at: r.started_at,
                finished_at: r.finished_at,
            }),
            rate_limited_until: last
                .filter(|r| r.state == RunState::Running)
                .and_then(|r| r.rate_limited.last_until)
                .filter(|until| *until > now),
        });
    }
    Ok(rows)
}
