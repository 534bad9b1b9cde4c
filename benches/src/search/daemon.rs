//! The real `tributary` binary: built by cargo next to this bench (its profile), run once as
//! `tributary sync` to build the corpus's index and then as `tributary daemon`, whose API
//! address is read from its "daemon started" log line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `tributary` binary of this bench's target folder and profile (release under `cargo
/// bench`; the dev build under `cargo bench --profile dev`), built (or found up to date) by
/// cargo; `TRIBUTARY_BENCH_BIN` names another one.
pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("TRIBUTARY_BENCH_BIN") {
        return bin.into();
    }
    // This bench runs as <target>/<profile folder>/deps/<bench>-<hash>.
    let exe = std::env::current_exe().expect("current exe");
    let out = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench runs from <target>/<profile>/deps");
    let target = out.parent().expect("target folder");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "tributary", "--bin", "tributary"]);
    // The dev profile's folder is `debug`; every other profile's is its name.
    match out.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some(profile) => {
            build.args(["--profile", profile]);
        }
        None => panic!("no profile folder in {}", out.display()),
    }
    let status = build
        .arg("--target-dir")
        .arg(target)
        .current_dir(workspace)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build of tributary failed");
    out.join("tributary")
}

/// `tributary sync --source <source>`; returns its wall time.
pub fn sync(bin: &Path, config: &Path, source: &str) -> Duration {
    let started = Instant::now();
    let out = Command::new(bin)
        .arg("-c")
        .arg(config)
        .args(["sync", "--source", source])
        .stdin(Stdio::null())
        .output()
        .expect("run tributary sync");
    assert!(
        out.status.success(),
        "tributary sync failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// A running `tributary daemon`; SIGTERM on drop.
pub struct Daemon {
    child: Child,
    pub base: String,
}

impl Daemon {
    pub fn start(bin: &Path, config: &Path) -> Daemon {
        let mut child = Command::new(bin)
            .arg("-c")
            .arg(config)
            .args(["-v", "daemon"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tributary daemon");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        // Reads the log for the address, then keeps draining it (a full pipe would block
        // the daemon), passing on warnings and errors.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("daemon started")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(line);
                } else if line.contains("WARN") || line.contains("ERROR") {
                    eprintln!("daemon: {line}");
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the daemon logs \"daemon started\" within a minute");
        let address = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("api="))
            .expect("api=ADDR in the daemon's start line")
            .to_string();
        Daemon {
            child,
            base: format!("http://{address}"),
        }
    }

    /// The daemon's process id (for its CPU time and RSS).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let termed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while termed && Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
