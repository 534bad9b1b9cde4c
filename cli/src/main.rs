//! `tributary`: sync sources into a permission-aware search index, and search it as a user.

// mimalloc, with large zeroed blocks from the OS (why: tributary_allocator; the benches use
// the same).
#[cfg(not(feature = "plain-mimalloc"))]
#[global_allocator]
static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;

// `--features plain-mimalloc`: mimalloc alone, tuned only through its `MIMALLOC_*` environment
// variables, to measure PDF extraction against the allocator above (ADR 0015).
#[cfg(feature = "plain-mimalloc")]
#[global_allocator]
static ALLOC: tributary_allocator::MiMalloc = tributary_allocator::MiMalloc;

/// `println!` that ends the process quietly when stdout is closed (`tributary ... | head`),
/// instead of panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

mod acl;
mod api;
mod commands;
mod config;
mod daemon;
mod extract;
mod push;
mod reader;
mod rows;
mod sources;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Tributary syncs enterprise sources into one local, permission-aware search index.
///
/// Without a config file (./tributary.toml), commands use the bundled sample:
/// fixtures/sample-docs synced into ./.tributary.
#[derive(Debug, Parser)]
#[command(name = "tributary", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// Configuration file [default: ./tributary.toml, else the bundled sample]
    #[arg(
        long,
        short = 'c',
        global = true,
        value_name = "FILE",
        env = "TRIBUTARY_CONFIG"
    )]
    config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sync every source (or one) into the index: incremental when a previous run
    /// completed, full otherwise, resuming an interrupted full sync where it stopped.
    Sync(commands::SyncArgs),
    /// Search as a user: only documents the user may read are returned.
    Search(commands::SearchArgs),
    /// Show run history, newest last.
    Runs(commands::RunsArgs),
    /// Show sources, document counts and each source's last run.
    Status,
    /// Check that a source is reachable and readable, without syncing.
    Check(commands::CheckArgs),
    /// Permissions: `acl explain` says why a user can or cannot see a document.
    #[command(subcommand)]
    Acl(acl::AclCommand),
    /// Extract the text of local files (no sync, no config needed).
    Extract(extract::ExtractArgs),
    /// Keep every source fresh on its schedules and serve the HTTP API, until SIGTERM
    /// (one daemon per data folder; SIGHUP reloads the config).
    Daemon,
}

fn init_logging(verbose: u8) {
    // html5ever and lopdf log every input defect they tolerate ("foster parenting not
    // implemented", "using standard encoding as a fallback") at warn: noise about the input,
    // which the run report already covers.
    let default = match verbose {
        0 => "warn,html5ever=error,markup5ever=error,lopdf=error",
        1 => "info,html5ever=error,markup5ever=error,lopdf=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in a log file or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Daemon = cli.command {
        builder.worker_threads(daemon::api_worker_threads());
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Extract(args) = cli.command {
        return match extract::run(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Daemon = cli.command {
        let result = runtime.block_on(daemon::run(cli.global.config.as_deref()));
        return match result {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let result = runtime.block_on(async {
        let config = config::Config::load(cli.global.config.as_deref())?;
        match cli.command {
            Command::Sync(args) => commands::sync(&config, args).await,
            Command::Search(args) => commands::search(&config, args),
            Command::Runs(args) => commands::runs(&config, args),
            Command::Status => commands::status(&config),
            Command::Check(args) => commands::check(&config, args).await,
            Command::Acl(command) => acl::run(&config, command),
            Command::Extract(_) | Command::Daemon => {
                unreachable!("handled before the runtime starts")
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
