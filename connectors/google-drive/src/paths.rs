//! Paths of files, for the `include_paths` / `exclude_paths` globs: the feed's name, the
//! folders from the top down, the file's name (`Legal/Contracts/2024/lease.pdf`,
//! `My Drive of ann@example.com/notes.txt`). Drive gives a file its parent folder ids only,
//! so folders are read with `files.get` once each and kept for the listing.

use std::collections::HashMap;

use connector_sdk::ConnectorError;

use crate::Inner;
use connector_sdk::feed::{Out, retrying};

use crate::listing::Feed;
use crate::wire::File;

/// Folder paths are at most this deep; a deeper (or cyclic) chain is cut there.
const MAX_DEPTH: usize = 64;

/// The folders of one feed seen so far.
pub(crate) struct Paths {
    root: String,
    /// The user the folders are read as.
    reader: String,
    /// Folder id → its path below the feed's root (empty for the root itself).
    folders: HashMap<String, String>,
}

impl Paths {
    pub(crate) fn new(feed: &Feed) -> Self {
        let mut folders = HashMap::new();
        // A shared drive's id is its top folder's id ("also the ID of the top level
        // folder", Drive resource): known without asking.
        if let Some(drive) = feed.drive_id() {
            folders.insert(drive.to_string(), String::new());
        }
        Paths {
            root: feed.root_name(),
            reader: feed.reader().to_string(),
            folders,
        }
    }

    /// The path of `file`, reading the folders above it that are not known yet.
    pub(crate) async fn path_of(
        &mut self,
        inner: &Inner,
        file: &File,
        out: &Out,
    ) -> Result<String, ConnectorError> {
        let folder = match file.parents.first() {
            Some(parent) => self.folder_path(inner, parent, out).await?,
            None => String::new(),
        };
        let mut path = self.root.clone();
        for part in [folder.as_str(), file.name.as_str()] {
            if !part.is_empty() {
                path.push('/');
                path.push_str(part);
            }
        }
        Ok(path)
    }

    /// The path of folder `id` below the feed's root.
    async fn folder_path(
        &mut self,
        inner: &Inner,
        id: &str,
        out: &Out,
    ) -> Result<String, ConnectorError> {
        // Climb until a known folder or the top, then fill in the way back down.
        let mut chain: Vec<(String, String)> = Vec::new();
        let mut at = id.to_string();
        let mut base = String::new();
        while chain.len() < MAX_DEPTH {
            if let Some(known) = self.folders.get(&at) {
                base = known.clone();
                break;
            }
            let folder = retrying(out, || inner.api.folder(&self.reader, &at)).await?;
            match folder.parents.first() {
                Some(parent) => {
                    chain.push((at.clone(), folder.name.clone()));
                    at = parent.clone();
                }
                None => {
                    // The top folder (My Drive, or the shared drive's root): the feed's
                    // name stands for it.
                    self.folders.insert(at.clone(), String::new());
                    break;
                }
            }
        }
        let mut path = base;
        for (folder_id, name) in chain.into_iter().rev() {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(&name);
            self.folders.insert(folder_id, path.clone());
        }
        Ok(self.folders.get(id).cloned().unwrap_or(path))
    }
}
