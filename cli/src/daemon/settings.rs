//! The `[daemon]` table: where the API listens, its token, how many runs at once, and how
//! long a shutdown waits. Read with the rest of the config (every problem at once).

use std::net::SocketAddr;
use std::time::Duration;

use connector_sdk::Secret;
use toml::Table;

use crate::reader::{Problem, Reader};

/// The environment variable the API token may come from instead of the config file.
pub const TOKEN_ENV: &str = "TRIBUTARY_API_TOKEN";

/// `[daemon]`, with its defaults.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// `listen`: the API's address (default 127.0.0.1:7700).
    pub listen: SocketAddr,
    /// `api_token`, else `$TRIBUTARY_API_TOKEN`: the bearer token every endpoint but the
    /// health checks requires.
    pub api_token: Option<Secret>,
    /// `max_concurrent_runs`: runs at once across sources (default 2).
    pub max_concurrent_runs: usize,
    /// `shutdown_grace_secs`: how long SIGTERM waits for runs to commit (default 30).
    pub shutdown_grace: Duration,
    /// `stall_after_secs`: a run with no progress for this long, while not rate-limited, is
    /// reported stalled (default 900).
    pub stall_after: Duration,
    /// `unhealthy_after`: failures in a row that make a source unhealthy (default 3).
    pub unhealthy_after: u32,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
            api_token: None,
            max_concurrent_runs: 2,
            shutdown_grace: Duration::from_secs(30),
            stall_after: Duration::from_secs(900),
            unhealthy_after: 3,
        }
    }
}

impl DaemonSettings {
    /// Reads `[daemon]` (absent: the defaults), with the token from the environment when
    /// the table has none.
    pub fn parse(table: Option<&Table>, problems: &mut Vec<Problem>) -> DaemonSettings {
        let mut s = DaemonSettings::default();
        if let Some(t) = table {
            let mut r = Reader::new(t, "daemon", problems);
            if let Some(listen) = r.string("listen") {
                match listen.parse() {
                    Ok(addr) => s.listen = addr,
                    Err(_) => r.problem(
                        "listen",
                        format!("{listen:?} is not an address and port (e.g. 127.0.0.1:7700)"),
                    ),
                }
            }
            if let Some(token) = r.string("api_token") {
                if token.trim().is_empty() {
                    r.problem("api_token", "is empty");
                } else {
                    s.api_token = Some(Secret::new(token));
                }
            }
            if let Some(n) = r.integer("max_concurrent_runs", 1, 64) {
                s.max_concurrent_runs = n as usize;
            }
            if let Some(n) = r.integer("shutdown_grace_secs", 0, 86_400) {
                s.shutdown_grace = Duration::from_secs(n as u64);
            }
            if let Some(n) = r.integer("stall_after_secs", 10, 7 * 86_400) {
                s.stall_after = Duration::from_secs(n as u64);
            }
            if let Some(n) = r.integer("unhealthy_after", 1, 1000) {
                s.unhealthy_after = n as u32;
            }
            r.finish();
        }
        if s.api_token.is_none()
            && let Ok(token) = std::env::var(TOKEN_ENV)
            && !token.trim().is_empty()
        {
            s.api_token = Some(Secret::new(token));
        }
        s
    }
}
