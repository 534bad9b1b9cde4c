//! `tributary extract`: the extractors on local files, without a sync.
//!
//! Prints the text of each file, or with `--out DIR` writes `DIR/<file name>.txt` (the text)
//! or `DIR/<file name>.err` (first line: the error kind) for each. Files are extracted in
//! parallel on all cores. The exit status is 0 unless the command itself failed: refusing a
//! file is a result, not a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use extractors::{ExtractError, Extracted, Hints, Limits, Registry};
use rayon::prelude::*;

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// Files to extract; a folder means every file in it (recursively)
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Write <name>.txt or <name>.err per file into this folder instead of printing
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Per-file time limit in seconds
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Largest input file in bytes
    #[arg(long, default_value_t = 50 * 1024 * 1024)]
    max_bytes: usize,
    /// Worker threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

struct Outcome {
    path: PathBuf,
    bytes: u64,
    elapsed: Duration,
    result: Result<Extracted, ExtractError>,
}

fn expand(files: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = files.iter().rev().cloned().collect();
    while let Some(path) = stack.pop() {
        let meta = std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?;
        if meta.is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&path)
                .with_context(|| format!("list {}", path.display()))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            children.sort();
            stack.extend(children.into_iter().rev());
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

fn extract_one(registry: &Registry, limits: &Limits, path: &Path) -> Outcome {
    let started = Instant::now();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (bytes, result) = match std::fs::metadata(path) {
        Ok(m) if m.len() > limits.max_input_bytes as u64 => (
            m.len(),
            Err(ExtractError::new(
                extractors::ErrorKind::TooLarge,
                format!(
                    "{} bytes is over the limit of {}",
                    m.len(),
                    limits.max_input_bytes
                ),
            )),
        ),
        _ => match std::fs::read(path) {
            Ok(data) => (
                data.len() as u64,
                registry.extract(&data, &Hints::file_name(&name), limits),
            ),
            Err(e) => (
                0,
                Err(ExtractError::new(
                    extractors::ErrorKind::Corrupt,
                    format!("read: {e}"),
                )),
            ),
        },
    };
    Outcome {
        path: path.to_path_buf(),
        bytes,
        elapsed: started.elapsed(),
        result,
    }
}

#[derive(Default)]
struct Tally {
    files: u64,
    refused: u64,
    pages: u64,
    bytes: u64,
    seconds: f64,
}

pub fn run(args: ExtractArgs) -> anyhow::Result<ExitCode> {
    let files = expand(&args.files)?;
    let limits = Limits {
        max_input_bytes: args.max_bytes,
        timeout: Duration::from_secs(args.timeout),
        ..Limits::default()
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("start worker threads")?;
    let registry = Registry::default();
    let started = Instant::now();
    let outcomes: Vec<Outcome> = pool.install(|| {
        files
            .par_iter()
            .map(|path| {
                let outcome = extract_one(&registry, &limits, path);
                if let Some(dir) = &args.out {
                    // Written as results arrive, so a crash midway keeps what was done.
                    write_outcome(dir, &outcome)?;
                }
                Ok(outcome)
            })
            .collect::<anyhow::Result<_>>()
    })?;
    let wall = started.elapsed();

    let mut by_format: BTreeMap<String, Tally> = BTreeMap::new();
    for o in &outcomes {
        let format = match &o.result {
            Ok(doc) => doc.format.name().to_string(),
            Err(_) => o
                .path
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .unwrap_or_else(|| "unknown".into()),
        };
        let t = by_format.entry(format).or_default();
        t.files += 1;
        t.bytes += o.bytes;
        t.seconds += o.elapsed.as_secs_f64();
        match &o.result {
            Ok(doc) => {
                let pages = doc
                    .sections
                    .iter()
                    .filter_map(|s| s.page)
                    .max()
                    .unwrap_or(1);
                t.pages += u64::from(pages);
            }
            Err(_) => t.refused += 1,
        }
        if args.out.is_none() {
            match &o.result {
                Ok(doc) => {
                    if outcomes.len() > 1 {
                        out!("==> {} <==", o.path.display());
                    }
                    out!("{}", doc.text());
                }
                Err(e) => eprintln!("{}: {} ({})", o.path.display(), e.message, e.kind.as_str()),
            }
        }
    }
    let total_mb = outcomes.iter().map(|o| o.bytes).sum::<u64>() as f64 / 1e6;
    eprintln!(
        "{} file(s), {:.1} MB in {:.2} s ({} refused)",
        outcomes.len(),
        total_mb,
        wall.as_secs_f64(),
        outcomes.iter().filter(|o| o.result.is_err()).count()
    );
    for (format, t) in &by_format {
        eprintln!(
            "  {format:<9} {:>4} files {:>5} pages {:>8.2} MB {:>7.2} s cpu  {:>3} refused",
            t.files,
            t.pages,
            t.bytes as f64 / 1e6,
            t.seconds,
            t.refused
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn write_outcome(dir: &Path, o: &Outcome) -> anyhow::Result<()> {
    let name = o
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (path, contents) = match &o.result {
        Ok(doc) => (dir.join(format!("{name}.txt")), doc.text()),
        Err(e) => (
            dir.join(format!("{name}.err")),
            format!("{}\n{}\n", e.kind.as_str(), e.message),
        ),
    };
    std::fs::write(&path, contents).with_context(|| format!("write {}", path.display()))
}
