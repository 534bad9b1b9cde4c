//! Folder paths inside a library, for path context and the path globs.
//!
//! Delta answers never carry `parentReference.path` (api/driveitem-delta), only the parent's
//! id; a first enumeration lists parents before children, so most paths come from folders
//! already seen. A parent not seen (a resumed walk, an incremental page) is read once with a
//! GET of the item, whose `parentReference.path` (`/drives/{id}/root:/A/B`) gives its place.

use std::collections::HashMap;

use connector_sdk::ConnectorError;
use connector_sdk::feed::{Out, retrying};

use crate::Inner;
use crate::listing::Library;
use crate::wire::DriveItem;

/// Paths of one library's folders, relative to its root (`""` for the root).
#[derive(Debug, Default)]
pub(crate) struct Paths {
    folders: HashMap<String, String>,
}

impl Paths {
    /// Remembers a listed folder (or the root) whose parent is known.
    pub(crate) fn learn(&mut self, folder: &DriveItem) {
        if folder.root.is_some() {
            self.folders.insert(folder.id.clone(), String::new());
            return;
        }
        let Some(name) = folder.name.as_deref() else {
            return;
        };
        if let Some(parent) = folder.parent_id().and_then(|p| self.folders.get(p)) {
            let path = join(parent, name);
            self.folders.insert(folder.id.clone(), path);
        } else {
            // A moved or renamed folder whose parent is not known yet: forget what this
            // run thought it was, it is read again when needed.
            self.folders.remove(&folder.id);
        }
    }

    /// The path of a listed item (`Folder/Sub/file.docx`), reading unknown parents.
    pub(crate) async fn path_of(
        &mut self,
        inner: &Inner,
        library: &Library,
        item: &DriveItem,
        out: &Out,
    ) -> Result<String, ConnectorError> {
        let name = item.name.as_deref().unwrap_or(&item.id);
        let Some(parent) = item.parent_id() else {
            return Ok(name.to_string());
        };
        if let Some(known) = self.folders.get(parent) {
            return Ok(join(known, name));
        }
        let folder = retrying(out, || inner.api.item(&library.drive.id, parent)).await?;
        let path = if folder.root.is_some() {
            String::new()
        } else {
            let above = folder
                .parent_reference
                .as_ref()
                .and_then(|r| r.path.as_deref())
                .map(relative)
                .unwrap_or_default();
            join(&above, folder.name.as_deref().unwrap_or(&folder.id))
        };
        self.folders.insert(parent.to_string(), path.clone());
        Ok(join(&path, name))
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// `/drives/{id}/root:/A/B` → `A/B` (percent-decoding what Graph encodes).
fn relative(path: &str) -> String {
    let after = path.split_once("root:").map_or("", |(_, rest)| rest);
    decode(after.trim_matches('/'))
}

/// Percent-decoding, leaving malformed escapes as they are.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ItemReference;

    fn folder(id: &str, name: &str, parent: Option<&str>) -> DriveItem {
        DriveItem {
            id: id.into(),
            name: Some(name.into()),
            folder: Some(serde_json::json!({})),
            parent_reference: parent.map(|p| ItemReference {
                id: Some(p.into()),
                path: None,
            }),
            ..DriveItem::default()
        }
    }

    #[test]
    fn folders_learned_in_order_give_their_children_paths() {
        let mut paths = Paths::default();
        let mut root = folder("r", "root", None);
        root.root = Some(serde_json::json!({}));
        paths.learn(&root);
        paths.learn(&folder("a", "Plans", Some("r")));
        paths.learn(&folder("b", "2026", Some("a")));
        assert_eq!(
            paths.folders.get("b").map(String::as_str),
            Some("Plans/2026")
        );
        // Moved under an unknown parent: forgotten, read again when needed.
        paths.learn(&folder("b", "2026", Some("elsewhere")));
        assert!(!paths.folders.contains_key("b"));
    }

    #[test]
    fn item_paths_are_made_relative_and_decoded() {
        assert_eq!(relative("/drives/b!x/root:/Plans/Q%203"), "Plans/Q 3");
        assert_eq!(relative("/drives/b!x/root:"), "");
        assert_eq!(decode("a%zz%4"), "a%zz%4");
    }
}
