//! One daemon per data folder: an exclusive advisory lock on `<data>/daemon.lock`, held
//! for the life of the process (the OS drops it if the process dies), with the holder's
//! pid written in it for the message a second daemon gives.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// The lock file's name in the data folder.
pub const LOCK_FILE: &str = "daemon.lock";

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
}

impl DaemonLock {
    /// Takes the lock, or says who holds it.
    pub fn acquire(data_dir: &Path) -> anyhow::Result<DaemonLock> {
        let path = data_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("open {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                anyhow::bail!(
                    "another tributary daemon already runs on {}{}: one daemon per data folder \
                     (stop it first, or give this one another index.path)",
                    data_dir.display(),
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    }
                );
            }
            Err(TryLockError::Error(e)) => {
                anyhow::bail!("lock {}: {e}", path.display())
            }
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(DaemonLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DaemonLock::acquire(dir.path()).expect("first");
        let second = DaemonLock::acquire(dir.path()).expect_err("second");
        let message = second.to_string();
        assert!(message.contains("another tributary daemon"), "{message}");
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        DaemonLock::acquire(dir.path()).expect("free again once released");
    }
}
