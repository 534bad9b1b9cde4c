//! A small binary that embeds Tributary's engine with one connector of its own: it syncs a
//! notes file into an index and, when asked, searches it as a user.
//!
//! ```sh
//! notes-connector <notes.json> <data dir> [--identities <file>] [--search <query> --as <email>]
//! ```
//!
//! The engine does the rest: manifest, incremental diff, fetch limits, extraction, chunking,
//! the ACL filter on every search.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use notes_connector::NotesConnector;
use sync_core::{Engine, Identities, IdentitiesFile, Progress, RunState, Source, SyncOptions};

/// The source's id: the namespace of its groups too.
const SOURCE: &str = "notes";

struct Args {
    notes: PathBuf,
    data: PathBuf,
    identities: Option<PathBuf>,
    search: Option<(String, String)>,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let usage = "usage: notes-connector <notes.json> <data dir> [--identities <file>] [--search <query> --as <email>]";
    let notes = it.next().ok_or(usage)?.into();
    let data = it.next().ok_or(usage)?.into();
    let (mut identities, mut query, mut user) = (None, None, None);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {usage}"))?;
        match flag.as_str() {
            "--identities" => identities = Some(value.into()),
            "--search" => query = Some(value),
            "--as" => user = Some(value),
            _ => return Err(format!("unknown flag {flag}; {usage}")),
        }
    }
    let search = match (query, user) {
        (Some(q), Some(u)) => Some((q, u)),
        (None, None) => None,
        _ => return Err(format!("--search and --as go together; {usage}")),
    };
    Ok(Args {
        notes,
        data,
        identities,
        search,
    })
}

async fn run(args: Args) -> Result<(), String> {
    let engine = Engine::open(&args.data).map_err(|e| format!("cannot open the index: {e}"))?;
    let connector = NotesConnector::new(&args.notes);
    let source = Source::new(SOURCE, Arc::new(connector));
    let report = engine
        .sync(
            &source,
            &SyncOptions::default(),
            Arc::new(Progress::default()),
        )
        .await
        .map_err(|e| format!("the sync did not run: {e}"))?;
    let c = &report.counts;
    println!(
        "sync {}: {} added, {} modified, {} ACL-only, {} deleted, {} unchanged, {} failed",
        report.state.as_str(),
        c.added,
        c.modified,
        c.acl_updated,
        c.deleted,
        c.unchanged,
        c.failed
    );
    if report.state != RunState::Succeeded {
        return Err(format!("the sync ended {}", report.state.as_str()));
    }
    if let Some((query, user)) = args.search {
        let identities = match &args.identities {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let file = IdentitiesFile::parse(&bytes).map_err(|e| e.to_string())?;
                Identities::from_file(&file, [SOURCE])
            }
            None => Identities::new(),
        };
        let hits = engine
            .index()
            .search(&query, &identities.principals(&user), 10)
            .map_err(|e| format!("search failed: {e}"))?;
        println!("{} hit(s) for {query:?} as {user}", hits.len());
        for hit in hits {
            println!("  {} ({}): {}", hit.title, hit.doc_id, hit.snippet);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
