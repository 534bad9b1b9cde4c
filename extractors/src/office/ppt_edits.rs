//! Which records of a `.ppt` stream are live: PowerPoint saves incrementally ("fast
//! save"), appending the objects an edit changed — a slide, the document container — after
//! the old ones, which stay in the stream. The live version of each object is the one the
//! persist directory names ([MS-PPT] 2.3): the `Current User` stream points at the newest
//! `UserEditAtom`, each edit points at its `PersistDirectoryAtom` (persist id → stream
//! offset) and at the edit before it; a newer edit's entry wins.
//!
//! Reading every record instead keeps the text of every version of an edited slide, and
//! of slides that were deleted since.

use std::collections::{HashMap, HashSet};

use crate::office::escher::header;

const USER_EDIT_ATOM: u16 = 0x0FF5;
const PERSIST_DIRECTORY_ATOM: u16 = 0x1772;
const CURRENT_USER_ATOM: u16 = 0x0FF6;
const DOCUMENT_CONTAINER: u16 = 0x03E8;
/// At most this many edits are followed (a loop in the chain ends the walk anyway).
const MAX_EDITS: usize = 4096;

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The stream offsets of the live persist objects, or `None` when the chain cannot be
/// followed to a document container (a damaged or unusual file is then read whole, as
/// before).
pub(crate) fn live_records(current_user: &[u8], stream: &[u8]) -> Option<HashSet<usize>> {
    // CurrentUserAtom: header, size, header token, offsetToCurrentEdit.
    let (_, kind, _) = header(current_user, 0)?;
    if kind != CURRENT_USER_ATOM {
        return None;
    }
    let mut edit = u32_at(current_user, 16)? as usize;
    let mut objects: HashMap<u32, usize> = HashMap::new();
    let mut visited = HashSet::new();
    let mut document = None;
    while visited.insert(edit) && visited.len() <= MAX_EDITS {
        let (_, kind, len) = header(stream, edit)?;
        if kind != USER_EDIT_ATOM || len < 20 {
            return None;
        }
        let body = edit + 8;
        let last_edit = u32_at(stream, body + 8)? as usize;
        let directory = u32_at(stream, body + 12)? as usize;
        // The newest edit names the document container.
        if document.is_none() {
            document = Some(u32_at(stream, body + 16)?);
        }
        let (_, kind, len) = header(stream, directory)?;
        if kind != PERSIST_DIRECTORY_ATOM {
            return None;
        }
        let end = (directory + 8).checked_add(len)?;
        if end > stream.len() {
            return None;
        }
        // Entries: persistId (20 bits) and cPersist (12 bits), then cPersist offsets for
        // the ids persistId, persistId + 1, ….
        let mut at = directory + 8;
        while at + 4 <= end {
            let entry = u32_at(stream, at)?;
            let (first, count) = (entry & 0x000F_FFFF, (entry >> 20) as usize);
            at += 4;
            for i in 0..count {
                let offset = u32_at(stream, at)? as usize;
                at += 4;
                if at > end {
                    return None;
                }
                objects.entry(first + i as u32).or_insert(offset);
            }
        }
        if last_edit == 0 {
            break;
        }
        edit = last_edit;
    }
    // The directory must hold the document container where it says, or it is not one we
    // understand.
    let doc = *objects.get(&document?)?;
    if header(stream, doc).is_none_or(|(_, kind, _)| kind != DOCUMENT_CONTAINER) {
        return None;
    }
    Some(objects.into_values().collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(ver_inst: u16, kind: u16, body: &[u8]) -> Vec<u8> {
        let mut out = ver_inst.to_le_bytes().to_vec();
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    fn user_edit(last_edit: u32, directory: u32, doc_id: u32) -> Vec<u8> {
        let mut body = vec![0u8; 8];
        for v in [last_edit, directory, doc_id, 4] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(&[0; 4]);
        record(0, USER_EDIT_ATOM, &body)
    }

    fn directory(entries: &[(u32, &[u32])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (first, offsets) in entries {
            body.extend_from_slice(&(first | ((offsets.len() as u32) << 20)).to_le_bytes());
            for o in *offsets {
                body.extend_from_slice(&o.to_le_bytes());
            }
        }
        record(0, PERSIST_DIRECTORY_ATOM, &body)
    }

    fn current_user(edit: u32) -> Vec<u8> {
        let mut body = 0x14u32.to_le_bytes().to_vec();
        body.extend_from_slice(&0xE391_C05Fu32.to_le_bytes());
        body.extend_from_slice(&edit.to_le_bytes());
        body.extend_from_slice(&[0; 8]);
        record(0, CURRENT_USER_ATOM, &body)
    }

    /// A stream saved twice: the second save rewrote the document (id 1) and the slide
    /// (id 2); the old versions stay where they were.
    /// Returns the Current User stream, the document stream and the new versions' offsets.
    pub(crate) fn saved_twice(
        old_slide: &[u8],
        new_slide: &[u8],
    ) -> (Vec<u8>, Vec<u8>, Vec<usize>) {
        let doc = record(0x000F, DOCUMENT_CONTAINER, &record(0, 0x0FA8, b"list"));
        let mut s = Vec::new();
        let doc1 = s.len() as u32;
        s.extend(&doc);
        let slide1 = s.len() as u32;
        s.extend(old_slide);
        let dir1 = s.len() as u32;
        s.extend(directory(&[(1, &[doc1, slide1])]));
        let edit1 = s.len() as u32;
        s.extend(user_edit(0, dir1, 1));
        let slide2 = s.len() as u32;
        s.extend(new_slide);
        let doc2 = s.len() as u32;
        s.extend(&doc);
        let dir2 = s.len() as u32;
        s.extend(directory(&[(1, &[doc2, slide2])]));
        let edit2 = s.len() as u32;
        s.extend(user_edit(edit1, dir2, 1));
        (current_user(edit2), s, vec![slide2 as usize, doc2 as usize])
    }

    #[test]
    fn the_newest_edit_names_the_live_objects() {
        let old = record(0x000F, 0x03EE, &record(0, 0x0FA8, b"old"));
        let new = record(0x000F, 0x03EE, &record(0, 0x0FA8, b"new"));
        let (cu, stream, expected) = saved_twice(&old, &new);
        let live = live_records(&cu, &stream).expect("a chain of two edits");
        let mut got: Vec<usize> = live.into_iter().collect();
        got.sort();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_chain_that_does_not_reach_a_document_is_not_trusted() {
        let old = record(0x000F, 0x03EE, &record(0, 0x0FA8, b"old"));
        let (cu, stream, _) = saved_twice(&old, &old);
        // The edit's offset points at the wrong record.
        let mut bad = cu.clone();
        bad[16..20].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(live_records(&bad, &stream), None);
        // A truncated stream, a loop, an empty Current User: no panic, no set.
        assert_eq!(live_records(&cu, &stream[..stream.len() - 10]), None);
        assert_eq!(live_records(&[], &stream), None);
        let mut looped = stream.clone();
        let n = looped.len();
        let edit2 = u32::from_le_bytes(cu[16..20].try_into().expect("4 bytes"));
        looped[n - 36 + 16..n - 36 + 20].copy_from_slice(&edit2.to_le_bytes());
        let _ = live_records(&cu, &looped);
    }
}
