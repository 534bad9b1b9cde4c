//! The seen log: which documents a listing saw, kept on disk as an append-only file.
//!
//! A complete listing must tell which indexed documents it did *not* see. Rewriting every
//! unchanged document's manifest row just to mark it seen made a no-op sync write as much
//! as a full one. Instead, unchanged documents are appended to this log (a sequential
//! write), and the engine counts what it saw: when the count equals the manifest size,
//! nothing was deleted and the log is simply dropped. Only when the counts differ is the
//! log replayed into `seen` marks, followed by the usual sweep. Either way the set of ids
//! lives on disk, never in memory.
//!
//! Format: records of a little-endian `u32` length and that many bytes of UTF-8 id. A torn
//! record at the end (a crash mid-write) is ignored: its document comes after the last
//! checkpoint, so the resumed listing yields it again.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use crate::{EngineError, Result};

fn io_err(path: &Path, e: std::io::Error) -> EngineError {
    EngineError::Store(format!("seen log {}: {e}", path.display()))
}

/// An open seen log for one listing generation of one source.
#[derive(Debug)]
pub(crate) struct SeenLog {
    path: PathBuf,
    out: BufWriter<File>,
    dirty: bool,
}

impl SeenLog {
    fn path(dir: &Path, source: &str, generation: u64) -> PathBuf {
        dir.join(format!("{source}.{generation}.log"))
    }

    /// Starts a fresh log, removing this source's logs of earlier listings.
    pub(crate) fn create(dir: &Path, source: &str, generation: u64) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let prefix = format!("{source}.");
        for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
            let entry = entry.map_err(|e| io_err(dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&prefix) && name.ends_with(".log") {
                std::fs::remove_file(entry.path()).map_err(|e| io_err(&entry.path(), e))?;
            }
        }
        Self::open(Self::path(dir, source, generation), true)
    }

    /// Reopens the log of a resumed listing; `None` if it is gone (then the listing cannot
    /// know what it saw before the interruption, and must not sweep).
    pub(crate) fn resume(dir: &Path, source: &str, generation: u64) -> Result<Option<Self>> {
        let path = Self::path(dir, source, generation);
        if !path.exists() {
            return Ok(None);
        }
        Self::open(path, false).map(Some)
    }

    fn open(path: PathBuf, truncate: bool) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(!truncate)
            .write(true)
            .truncate(truncate)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        Ok(SeenLog {
            path,
            out: BufWriter::with_capacity(64 * 1024, file),
            dirty: false,
        })
    }

    /// Appends one document id.
    pub(crate) fn record(&mut self, id: &str) -> Result<()> {
        let len = u32::try_from(id.len())
            .map_err(|_| EngineError::Store(format!("document id of {} bytes", id.len())))?;
        self.out
            .write_all(&len.to_le_bytes())
            .and_then(|()| self.out.write_all(id.as_bytes()))
            .map_err(|e| io_err(&self.path, e))?;
        self.dirty = true;
        Ok(())
    }

    /// Makes everything recorded so far durable (before the checkpoint that covers it).
    pub(crate) fn sync(&mut self) -> Result<()> {
        if self.dirty {
            self.out.flush().map_err(|e| io_err(&self.path, e))?;
            self.out
                .get_ref()
                .sync_data()
                .map_err(|e| io_err(&self.path, e))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Reads every recorded id, in order, calling `f` for each.
    pub(crate) fn replay(&mut self, mut f: impl FnMut(String) -> Result<()>) -> Result<()> {
        self.sync()?;
        let file = File::open(&self.path).map_err(|e| io_err(&self.path, e))?;
        let mut input = BufReader::with_capacity(64 * 1024, file);
        let mut len = [0u8; 4];
        loop {
            match input.read_exact(&mut len) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(io_err(&self.path, e)),
            }
            let mut id = vec![0u8; u32::from_le_bytes(len) as usize];
            match input.read_exact(&mut id) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(io_err(&self.path, e)),
            }
            f(String::from_utf8_lossy(&id).into_owned())?;
        }
    }

    /// Deletes the log once its listing is settled.
    pub(crate) fn remove(self) -> Result<()> {
        drop(self.out);
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io_err(&self.path, e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = SeenLog::create(dir.path(), "s", 7).expect("create");
        log.record("a/b.txt").expect("record");
        log.record("é\nnewline").expect("record");
        log.sync().expect("sync");
        drop(log);
        // A crash mid-record leaves a torn tail.
        let path = SeenLog::path(dir.path(), "s", 7);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(&[9, 0, 0, 0, b'x']).expect("torn");
        drop(f);
        let mut log = SeenLog::resume(dir.path(), "s", 7)
            .expect("resume")
            .expect("exists");
        let mut ids = Vec::new();
        log.replay(|id| {
            ids.push(id);
            Ok(())
        })
        .expect("replay");
        assert_eq!(ids, ["a/b.txt", "é\nnewline"]);
        // A new listing removes the old log.
        SeenLog::create(dir.path(), "s", 8).expect("create");
        assert!(
            SeenLog::resume(dir.path(), "s", 7)
                .expect("resume")
                .is_none()
        );
    }
}
