//! The subcommands.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use connector_sdk::{Limits, SyncContext};
use indicatif::{ProgressBar, ProgressStyle};
use sync_core::identities::{Identities, IdentitiesFile};
use sync_core::{Engine, LocalStore, Progress, RunMode, RunReport, RunState, TantivyIndex};

use crate::config::Config;
use crate::rows;

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Only this source (by id)
    #[arg(long, value_name = "ID")]
    source: Option<String>,
    /// List everything from the start, even if an earlier run completed
    #[arg(long)]
    full: bool,
    /// Let this run delete more than the configured share (default 50%) of a source
    #[arg(long)]
    allow_mass_delete: bool,
    /// Sync the sources' users and groups (their directories) instead of their documents
    #[arg(long, conflicts_with_all = ["full", "allow_mass_delete"])]
    identities: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query (tantivy syntax: words, "phrases", +must, -not, title:word)
    query: Option<String>,
    /// Search as this user (an email address as in the ACLs and identities file)
    #[arg(long = "as", value_name = "USER")]
    user: String,
    /// List every document the user may see, instead of searching (for audits)
    #[arg(long, conflicts_with = "query")]
    all: bool,
    /// At most this many hits
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// Print hits as a JSON array
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs of this source
    #[arg(long, value_name = "ID")]
    source: Option<String>,
    /// Only the last N runs
    #[arg(long, value_name = "N")]
    last: Option<usize>,
    /// Print runs as a JSON array
    #[arg(long)]
    json: bool,
    /// Instead of runs, list the documents waiting for a retry (id, attempts, last error,
    /// next attempt)
    #[arg(long)]
    retries: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The source to check (default: all)
    #[arg(long, value_name = "ID")]
    source: Option<String>,
}

fn selected<'c>(
    config: &'c Config,
    id: Option<&str>,
) -> anyhow::Result<Vec<&'c crate::sources::SourceConfig>> {
    match id {
        None => Ok(config.sources.iter().collect()),
        Some(id) => match config.sources.iter().find(|s| s.id == id) {
            Some(s) => Ok(vec![s]),
            None => {
                let known: Vec<&str> = config.sources.iter().map(|s| s.id.as_str()).collect();
                bail!(
                    "no source {id:?} in {} (sources: {})",
                    config.origin,
                    known.join(", ")
                )
            }
        },
    }
}

fn print_report(report: &RunReport, kind: &str) {
    let c = &report.counts;
    let secs = report
        .finished_at
        .map(|f| (f - report.started_at).as_seconds_f64())
        .unwrap_or_default();
    let reason = report
        .reason
        .map(|r| format!(" ({})", r.as_str()))
        .unwrap_or_default();
    out!(
        "{} ({kind}): {} — {}{reason} run {} in {secs:.2}s",
        report.source,
        report.state.as_str(),
        serde_json::to_value(report.mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        report.id
    );
    if report.mode == RunMode::Identities {
        out!(
            "  users {} · groups {} · memberships {}",
            c.users,
            c.groups,
            c.memberships
        );
    } else {
        print_counts(c);
    }
    print_details(report);
}

fn print_counts(c: &sync_core::Counts) {
    out!(
        "  scanned {} · added {} · modified {} · acl updated {} · deleted {} · unchanged {} · skipped {} · failed {}",
        c.scanned,
        c.added,
        c.modified,
        c.acl_updated,
        c.deleted,
        c.unchanged,
        c.skipped,
        c.failed
    );
}

fn print_details(report: &RunReport) {
    let c = &report.counts;
    for f in report.failed_documents.iter().take(20) {
        out!(
            "  {} {} [{}/{}]: {}",
            if f.stage == "rules" {
                "skipped"
            } else {
                "failed"
            },
            f.doc_id,
            f.stage,
            f.kind,
            f.message
        );
    }
    if report.failed_documents.len() > 20 {
        out!(
            "  … and {} more (tributary runs --json)",
            report.failed_documents.len() - 20
        );
    }
    if c.retried > 0 {
        out!("  retried {} document(s) that failed before", c.retried);
    }
    let paused = &report.rate_limited;
    if paused.pauses > 0 {
        out!(
            "  rate limited {} time(s), paused {:.1}s in all",
            paused.pauses,
            paused.waited_ms as f64 / 1000.0
        );
    }
    for e in &report.errors {
        out!("  error: {e}");
    }
}

/// `12:34:56 UTC`, for pauses and retries.
fn clock(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.format(&f).unwrap_or_default()
}

pub async fn sync(config: &Config, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let sources = selected(config, args.source.as_deref())?;
    if config.origin.starts_with("the bundled sample") {
        eprintln!("using {}", config.origin);
    }
    let engine = Engine::open(&config.data_dir)?;
    let mut options = config.sync.options();
    options.full = args.full;
    options.allow_mass_delete = args.allow_mass_delete;
    let mut failed = false;
    if args.identities {
        for source_config in sources {
            let source = source_config.source()?;
            let report = engine.sync_identities(&source, &options).await?;
            print_report(&report, source_config.type_name());
            failed |= report.state == RunState::Failed;
        }
        return Ok(exit_code(failed));
    }
    for source_config in sources {
        if source_config.type_name() == crate::push::KIND {
            // Named: say where its documents come from; among all sources: pass it by.
            if args.source.is_some() {
                anyhow::bail!("source {}: {}", source_config.id, crate::push::NOT_LISTED);
            }
            eprintln!(
                "{}: skipped (a push source: its documents arrive through the daemon's API)",
                source_config.id
            );
            continue;
        }
        let source = source_config.source()?;
        let mut options = options.clone();
        if let Some(n) = source_config.documents_in_flight() {
            // Network sources wait on latency, not CPU: keep as many documents in flight
            // as the source allows downloads.
            options.concurrency = options.concurrency.max(n);
        }
        let progress = Arc::new(Progress::default());
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(source.id.clone());
        let ticker = {
            let bar = bar.clone();
            let progress = Arc::clone(&progress);
            tokio::spawn(async move {
                loop {
                    let paused = progress
                        .rate_limited_until()
                        .map(|until| format!(" · rate_limited until {}", clock(until)))
                        .unwrap_or_default();
                    bar.set_message(format!(
                        "{} listed, {} done, {} failed{paused}",
                        progress.scanned.load(Ordering::Relaxed),
                        progress.done.load(Ordering::Relaxed),
                        progress.failed.load(Ordering::Relaxed)
                    ));
                    bar.tick();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let result = engine.sync(&source, &options, progress).await;
        ticker.abort();
        bar.finish_and_clear();
        let report = result?;
        print_report(&report, source_config.type_name());
        failed |= report.state == RunState::Failed;
    }
    Ok(exit_code(failed))
}

fn exit_code(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Every provider of memberships: what identity syncs stored, the identities file for the
/// namespaces it covers, and each source's configured aliases.
pub(crate) fn load_identities(config: &Config) -> anyhow::Result<Identities> {
    load_identities_noting(config, |note| eprintln!("note: {note}"))
}

/// [`load_identities`], telling `note` what it had to do without (the CLI prints it, the API
/// logs it).
pub(crate) fn load_identities_noting(
    config: &Config,
    note: impl FnOnce(String),
) -> anyhow::Result<Identities> {
    let mut ids = Identities::new();
    if config.data_dir.join(sync_core::store::STORE_FILE).exists() {
        // Read-only, so searching works while a sync writes the store. A store that cannot
        // be read (an older layout, not yet upgraded by a sync) holds no identity syncs:
        // searches then use the other providers (fewer groups: never more access).
        match LocalStore::open_read_only(&config.data_dir) {
            Ok(store) => ids.add_stored(&store)?,
            Err(e) => note(format!(
                "the state store is unavailable ({e}); groups from identity syncs are not used"
            )),
        }
    }
    if let Some(path) = &config.identities_file {
        let bytes = std::fs::read(path)
            .with_context(|| format!("read identities file {}", path.display()))?;
        ids.add_file(&IdentitiesFile::parse(&bytes)?, config.file_namespaces());
    }
    for s in &config.sources {
        if !s.aliases.is_empty() {
            ids.add_aliases(s.namespace(), &s.aliases);
        }
    }
    Ok(ids)
}

/// The index, opened to read it (also while a sync writes it: a look never creates,
/// migrates or locks it).
pub(crate) fn open_index(config: &Config) -> anyhow::Result<TantivyIndex> {
    let index_dir = config.data_dir.join("index");
    match TantivyIndex::open_read_only(&index_dir)? {
        Some(index) => Ok(index),
        None => bail!(
            "no index at {} yet: run `tributary sync` first",
            index_dir.display()
        ),
    }
}

pub fn search(config: &Config, args: SearchArgs) -> anyhow::Result<ExitCode> {
    if args.query.is_none() && !args.all {
        bail!("give a QUERY, or --all to list every document the user may see");
    }
    let index = open_index(config)?;
    let identities = load_identities(config)?;
    if identities.namespaces().next().is_some() && !identities.knows(&args.user) {
        eprintln!(
            "note: {} is in no directory (identity syncs, identities file); searching with the user's own id and domain only",
            args.user
        );
    }
    if args.all {
        let docs = rows::visible_rows(&index, &identities, &args.user)?;
        if args.json {
            out!("{}", serde_json::to_string_pretty(&docs)?);
        } else {
            for d in &docs {
                out!("{}:{}\t{}", d.source, d.doc_id, d.title);
            }
            eprintln!("{} document(s) visible to {}", docs.len(), args.user);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let query = args.query.unwrap_or_default();
    let hits = rows::search_rows(&index, &identities, &args.user, &query, args.limit)?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&hits)?);
    } else if hits.is_empty() {
        out!("no results for {query:?} visible to {}", args.user);
    } else {
        for (i, h) in hits.iter().enumerate() {
            out!(
                "{}. {} ({}:{}) score {:.2}",
                i + 1,
                h.title,
                h.source,
                h.chunk_id,
                h.score
            );
            if let Some(section) = &h.section {
                out!("   § {section}");
            }
            out!("   {}", h.snippet);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn runs(config: &Config, args: RunsArgs) -> anyhow::Result<ExitCode> {
    if !config.data_dir.exists() {
        if args.json {
            out!("[]");
        } else {
            out!("no runs yet ({} does not exist)", config.data_dir.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.retries {
        let engine = Engine::open_read_only(&config.data_dir)?;
        return retries(config, &engine, &args);
    }
    let runs = rows::run_rows(config, args.source.as_deref(), args.last)?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        out!("no runs yet");
    }
    for r in &runs {
        let kind = config
            .sources
            .iter()
            .find(|s| s.id == r.source)
            .map_or("?", |s| s.type_name());
        print_report(r, kind);
    }
    Ok(ExitCode::SUCCESS)
}

/// `runs --retries`: the documents of each source waiting to be tried again.
fn retries(config: &Config, engine: &Engine, args: &RunsArgs) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for s in selected(config, args.source.as_deref())? {
        for (id, e) in engine.store().retries(&s.id)? {
            rows.push(serde_json::json!({
                "source": s.id, "doc_id": id, "attempts": e.attempts, "stage": e.stage,
                "kind": e.kind, "message": e.message,
                "failed_at": e.failed_at.format(&time::format_description::well_known::Rfc3339)?,
                "next_attempt": e.next_attempt.format(&time::format_description::well_known::Rfc3339)?,
            }));
            if !args.json {
                out!(
                    "{}:{id}  attempt {} failed [{}/{}]: {}; next try after {}",
                    s.id,
                    e.attempts,
                    e.stage,
                    e.kind,
                    e.message,
                    clock(e.next_attempt)
                );
            }
        }
    }
    if args.json {
        out!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        out!("no document waits for a retry");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(config: &Config) -> anyhow::Result<ExitCode> {
    // Looking must not create a data directory where nothing was ever synced.
    let engine = match config.data_dir.exists() {
        true => Some(Engine::open_read_only(&config.data_dir)?),
        false => None,
    };
    let counts = match &engine {
        Some(engine) => engine.index().document_counts()?,
        None => BTreeMap::new(),
    };
    let rows = rows::source_rows(config, &counts, engine.as_ref().map(Engine::store))?;
    out!("config: {}", config.origin);
    out!("data:   {}", config.data_dir.display());
    for row in rows {
        let last_text = match &row.last_run {
            Some(r) => format!(
                "last run {} {} at {}",
                r.id,
                r.state.as_str(),
                r.started_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
            None => "never synced".to_string(),
        };
        let waiting = match row.pending_retries {
            0 => String::new(),
            n => format!("; {n} document(s) wait for a retry (tributary runs --retries)"),
        };
        let paused = row
            .rate_limited_until
            .map(|until| format!("; rate_limited until {}", clock(until)))
            .unwrap_or_default();
        out!(
            "{} ({}): {} document(s); {last_text}{waiting}{paused}",
            row.id,
            row.type_name,
            row.documents
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn check(config: &Config, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    for s in selected(config, args.source.as_deref())? {
        let connector = s.build()?;
        let cx = SyncContext {
            source_id: s.id.clone(),
            run_id: "check".into(),
            limits: Limits::default(),
        };
        match connector.check(&cx).await {
            Ok(()) => out!("{} ({}): ok", s.id, s.type_name()),
            Err(e) => {
                ok = false;
                out!("{} ({}): {e}", s.id, s.type_name());
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
