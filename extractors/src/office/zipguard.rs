//! Opening ZIP containers without trusting them: entry count and declared inflated size
//! are checked before anything is decompressed, and every entry is read through a cap, so
//! a zip bomb ends as `too_large` instead of exhausting memory.

use std::io::{Cursor, Read};

use zip::ZipArchive;

use crate::{ErrorKind, ExtractError, Limits};

/// At most this many entries in one container.
const MAX_ENTRIES: usize = 20_000;

/// An opened, checked archive.
pub(crate) struct ZipGuard<'a> {
    archive: ZipArchive<Cursor<&'a [u8]>>,
    max_entry_bytes: u64,
}

fn corrupt(e: impl std::fmt::Display) -> ExtractError {
    ExtractError::new(ErrorKind::Corrupt, format!("broken zip container: {e}"))
}

impl<'a> ZipGuard<'a> {
    pub(crate) fn open(input: &'a [u8], limits: &Limits) -> Result<Self, ExtractError> {
        let mut archive = ZipArchive::new(Cursor::new(input)).map_err(corrupt)?;
        if archive.len() > MAX_ENTRIES {
            return Err(ExtractError::new(
                ErrorKind::TooLarge,
                format!(
                    "zip container has {} entries, over the limit of {MAX_ENTRIES}",
                    archive.len()
                ),
            ));
        }
        // Office files compress text about 5-20 times; far beyond that is a bomb.
        let max_total = (limits.max_input_bytes as u64)
            .saturating_mul(20)
            .max(64 << 20);
        let mut total = 0u64;
        for i in 0..archive.len() {
            let entry = archive.by_index_raw(i).map_err(corrupt)?;
            total = total.saturating_add(entry.size());
        }
        if total > max_total {
            return Err(ExtractError::new(
                ErrorKind::TooLarge,
                format!("zip container inflates to {total} bytes, over the limit of {max_total}"),
            ));
        }
        Ok(ZipGuard {
            archive,
            max_entry_bytes: max_total,
        })
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.archive.index_for_name(name).is_some()
    }

    pub(crate) fn mimetype_contains(&self, needle: &str) -> bool {
        let mut copy = ZipGuard {
            archive: self.archive.clone(),
            max_entry_bytes: 4096,
        };
        copy.read("mimetype")
            .ok()
            .flatten()
            .is_some_and(|m| String::from_utf8_lossy(&m).contains(needle))
    }

    /// Names of all entries, in archive order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.archive
            .file_names()
            .filter_map(Result::ok)
            .map(|n| n.into_owned())
            .collect()
    }

    /// The bytes of one entry, or `None` if absent. Reads at most the cap, whatever the
    /// entry claims.
    pub(crate) fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, ExtractError> {
        let Some(index) = self.archive.index_for_name(name) else {
            return Ok(None);
        };
        let entry = self.archive.by_index(index).map_err(|e| {
            if e.to_string().to_lowercase().contains("password") {
                ExtractError::new(
                    ErrorKind::Encrypted,
                    "the archive is protected with a password",
                )
            } else {
                corrupt(e)
            }
        })?;
        let mut out = Vec::new();
        entry
            .take(self.max_entry_bytes + 1)
            .read_to_end(&mut out)
            .map_err(corrupt)?;
        if out.len() as u64 > self.max_entry_bytes {
            return Err(ExtractError::new(
                ErrorKind::TooLarge,
                format!(
                    "zip entry {name} inflates past the limit of {} bytes",
                    self.max_entry_bytes
                ),
            ));
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(entries: impl IntoIterator<Item = (String, Vec<u8>)>) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for (name, body) in entries {
            zip.start_file(name, options).expect("entry");
            zip.write_all(&body).expect("write");
        }
        zip.finish().expect("finish").into_inner()
    }

    fn small_limits() -> Limits {
        Limits {
            max_input_bytes: 1024 * 1024,
            ..Limits::default()
        }
    }

    #[test]
    fn a_zip_bomb_is_refused_before_inflating() {
        // 100 MB of zeros deflates to about 100 KB.
        let bomb = zip_of([("xl/workbook.xml".to_string(), vec![0u8; 100 << 20])]);
        assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
        let err = ZipGuard::open(&bomb, &small_limits())
            .err()
            .expect("refused");
        assert_eq!(err.kind, ErrorKind::TooLarge, "{err}");
    }

    #[test]
    fn too_many_entries_are_refused() {
        let many = zip_of((0..=MAX_ENTRIES).map(|i| (format!("f{i}"), Vec::new())));
        let err = ZipGuard::open(&many, &small_limits())
            .err()
            .expect("refused");
        assert_eq!(err.kind, ErrorKind::TooLarge, "{err}");
    }

    #[test]
    fn truncated_archives_are_corrupt() {
        let ok = zip_of([("a.txt".to_string(), b"hello".to_vec())]);
        let err = ZipGuard::open(&ok[..ok.len() / 2], &small_limits())
            .err()
            .expect("refused");
        assert_eq!(err.kind, ErrorKind::Corrupt);
        let mut guard = ZipGuard::open(&ok, &small_limits()).expect("opens");
        assert_eq!(
            guard.read("a.txt").expect("read").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(guard.read("missing").expect("read"), None);
    }
}
