//! Legacy Word (Word 6.0 to 2003 `.doc`): the text through the FIB and the piece table.
//!
//! Word 6/95 files (FIB signature 0xA5DC) keep everything in the `WordDocument` stream:
//! 8-bit text in the ANSI code page of the document's language, as one run or, when
//! fast-saved, through a piece table in the same stream. Word 97 and later: the
//! `WordDocument` stream starts with the FIB, which says which table stream (`0Table` or
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

/// The raw text of all pieces, in character-position order. Word 6/95 pieces are all 8-bit,
/// in the code page `word6` gives, at their plain byte offset; Word 97+ flags its 8-bit
/// (windows-1252) pieces in `fc`.
fn piece_text(
    word: &[u8],
    table: &[u8],
    fc_clx: usize,
    lcb_clx: usize,
    word6: Option<&'static encoding_rs::Encoding>,
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
        let compressed = word6.is_some() || fc_raw & 0x4000_0000 != 0;
        let fc = (fc_raw & 0x3FFF_FFFF) as usize;
        if compressed {
            let start = if word6.is_some() { fc } else { fc / 2 };
            let bytes = word
                .get(start..start + chars)
                .ok_or_else(|| corrupt("a piece lies outside the document"))?;
            let encoding = word6.unwrap_or(encoding_rs::WINDOWS_1252);
            text.push_str(&encoding.decode_without_bom_handling(bytes).0);
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
            // An auto-numbered note's reference mark: a raised number between words.
            '\u{02}' => out.push(' '),
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
    let signature = u16_at(&word, 0);
    if signature != Some(WORD97) && signature != Some(WORD6) {
        return Err(ExtractError::new(
            ErrorKind::Unsupported,
            "doc: not a Word 6 or later document (unknown FIB signature)",
        ));
    }
    let flags = u16_at(&word, 0x0A).ok_or_else(|| corrupt("truncated FIB"))?;
    if flags & 0x0100 != 0 {
        return Err(ExtractError::new(
            ErrorKind::Encrypted,
            "the document is protected with a password",
        ));
    }
    let raw = if signature == Some(WORD6) {
        word6_text(&word, flags, deadline)?
    } else {
        word97_text(ole, base, &word, flags, max, deadline)?
    };
    let mut b = DocBuilder::new(Format::Doc, limits.max_output_bytes);
    for paragraph in clean(&raw).split("\n\n") {
        if !b.paragraph(paragraph) {
            break;
        }
    }
    Ok(b.finish())
}

/// The FIB signature (`wIdent`) of Word 97 and later.
const WORD97: u16 = 0xA5EC;
/// The FIB signature of Word 6.0 and Word 95.
const WORD6: u16 = 0xA5DC;

/// Word 6/95: there is no table stream; the FIB's fixed fields say where the text is. A
/// document saved in full is one run of windows-1252 bytes from `fcMin` to `fcMac`; a
/// fast-saved one (`fComplex`) has a piece table in the `WordDocument` stream itself.
fn word6_text(word: &[u8], flags: u16, deadline: Deadline) -> Result<String, ExtractError> {
    let field = |at: usize| {
        u32_at(word, at)
            .ok_or_else(|| corrupt("truncated FIB"))
            .map(|v| v as usize)
    };
    // ccpText, ccpFtn, ccpHdd follow one another from 0x34.
    let (text, footnotes, headers) = (field(0x34)?, field(0x38)?, field(0x3C)?);
    let mut encoding = ansi_encoding(u16_at(word, 0x06).unwrap_or(0));
    if encoding == encoding_rs::WINDOWS_1252
        && let Some(from_fonts) = font_table_encoding(word, field(0xD0)?, field(0xD4)?)
    {
        encoding = from_fonts;
    }
    let raw = if flags & 0x0004 != 0 {
        // The Word 6 FIB's fc/lcb pairs run 4-byte aligned from 0x58 (fcStshfOrig); the
        // 34th, fcClx, is at 0x160.
        piece_text(
            word,
            word,
            field(0x160)?,
            field(0x164)?,
            Some(encoding),
            deadline,
        )?
    } else {
        let (min, mac) = (field(0x18)?, field(0x1C)?);
        let bytes = word
            .get(min..mac.max(min))
            .ok_or_else(|| corrupt("the text lies outside the document"))?;
        encoding.decode_without_bom_handling(bytes).0.into_owned()
    };
    Ok(without_header_stories(&raw, text, footnotes, headers))
}

/// The code page a Word 6/95 document's fonts name, when its language id says Western but
/// its fonts do not: a Russian document typed on an English Word 95 has an English `lid`,
/// and Cyrillic fonts (charset 204). The first font with a charset other than ANSI,
/// default, symbol, Mac or OEM decides, as POI guesses it. The font table (`SttbfFfn` at
/// `fc`, `lcb` bytes) is a 2-byte total length, then one entry per font: its length less
/// one, a flags byte, the weight (2 bytes), the charset, ...
fn font_table_encoding(
    word: &[u8],
    fc: usize,
    lcb: usize,
) -> Option<&'static encoding_rs::Encoding> {
    use encoding_rs::*;
    let table = word.get(fc..fc.checked_add(lcb)?)?;
    let mut pos = 2;
    while let Some(&len) = table.get(pos) {
        let charset = *table.get(pos + 4)?;
        let found = match charset {
            128 => Some(SHIFT_JIS),
            129 => Some(EUC_KR),
            134 => Some(GBK),
            136 => Some(BIG5),
            161 => Some(WINDOWS_1253),
            162 => Some(WINDOWS_1254),
            163 => Some(WINDOWS_1258),
            177 => Some(WINDOWS_1255),
            178 => Some(WINDOWS_1256),
            186 => Some(WINDOWS_1257),
            204 => Some(WINDOWS_1251),
            222 => Some(WINDOWS_874),
            238 => Some(WINDOWS_1250),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
        pos += usize::from(len) + 1;
    }
    None
}

/// The Windows ANSI code page a Word 6/95 document's text is in, from its language id
/// (`lid`): Word before 97 stored 8-bit text in the code page of the system it ran on.
fn ansi_encoding(lid: u16) -> &'static encoding_rs::Encoding {
    use encoding_rs::*;
    match lid {
        0x0411 => SHIFT_JIS,
        0x0412 => EUC_KR,
        0x0404 | 0x0C04 | 0x1404 => BIG5,
        0x0804 | 0x1004 => GBK,
        _ => match lid & 0x03FF {
            // Czech, Croatian/Serbian (Latin), Hungarian, Polish, Romanian, Slovak, Slovenian, Albanian
            0x05 | 0x1A | 0x0E | 0x15 | 0x18 | 0x1B | 0x24 | 0x1C => WINDOWS_1250,
            // Bulgarian, Russian, Ukrainian, Belarusian, Macedonian
            0x02 | 0x19 | 0x22 | 0x23 | 0x2F => WINDOWS_1251,
            0x08 => WINDOWS_1253,
            0x1F => WINDOWS_1254,
            0x0D => WINDOWS_1255,
            0x01 | 0x20 | 0x29 => WINDOWS_1256,
            0x25..=0x27 => WINDOWS_1257,
            0x2A => WINDOWS_1258,
            0x1E => WINDOWS_874,
            _ => WINDOWS_1252,
        },
    }
}

/// Word 97 and later: the piece table sits in the table stream (`0Table` or `1Table`) the
/// FIB names, at the `fcClx` its variable part gives.
fn word97_text(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    base: &str,
    word: &[u8],
    flags: u16,
    max: u64,
    deadline: Deadline,
) -> Result<String, ExtractError> {
    let table_name = if flags & 0x0200 != 0 {
        format!("{base}/1Table")
    } else {
        format!("{base}/0Table")
    };
    // FibBase (32 bytes), then csw u16 words, cslw u32 longs, cbRgFcLcb pairs.
    let csw = u16_at(word, 32).ok_or_else(|| corrupt("truncated FIB"))? as usize;
    let lw_at = 34 + csw * 2;
    let cslw = u16_at(word, lw_at).ok_or_else(|| corrupt("truncated FIB"))? as usize;
    let fc_at = lw_at + 2 + cslw * 4 + 2;
    // fcClx/lcbClx is the 34th pair of FibRgFcLcb97.
    let fc_clx = u32_at(word, fc_at + 33 * 8).ok_or_else(|| corrupt("truncated FIB"))? as usize;
    let lcb_clx =
        u32_at(word, fc_at + 33 * 8 + 4).ok_or_else(|| corrupt("truncated FIB"))? as usize;
    let table = read_stream(ole, &table_name, max)?;
    let raw = piece_text(word, &table, fc_clx, lcb_clx, None, deadline)?;
    // FibRgLw97: cbMac, lProductCreated, lProductRevised, ccpText, ccpFtn, ccpHdd, ...
    let ccp = |i: usize| u32_at(word, lw_at + 2 + i * 4).unwrap_or(0) as usize;
    Ok(without_header_stories(&raw, ccp(3), ccp(4), ccp(5)))
}

/// The text without the header/footer stories. Character positions run through the
/// stories in a fixed order (main text, footnotes, headers, ...) whose lengths are the FIB's
/// `ccpText`, `ccpFtn`, `ccpHdd`. Word keeps every section's header and footer variants
/// there (first page, odd, even), including ones the document never shows, and separators;
/// the reference extractions of the corpus leave them out too (5 files closer, none worse).
fn without_header_stories(raw: &str, text: usize, footnotes: usize, headers: usize) -> String {
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
        assert_eq!(
            without_header_stories("main\rfn\rHDR\rannotation", 5, 3, 4),
            "main\rfn\rannotation"
        );
        assert_eq!(without_header_stories("abc", 5, 3, 0), "abc");
    }

    /// A Word 6 FIB: signature, flags, `fcMin`/`fcMac` and the story lengths, with `body`
    /// at offset 0x200.
    fn word6(flags: u16, body: &[u8], ccp: [u32; 3]) -> Vec<u8> {
        let mut word = vec![0u8; 0x200];
        word[0..2].copy_from_slice(&WORD6.to_le_bytes());
        word[0x06..0x08].copy_from_slice(&0x0409u16.to_le_bytes()); // lid: English (US)
        word[0x0A..0x0C].copy_from_slice(&flags.to_le_bytes());
        word[0x18..0x1C].copy_from_slice(&0x200u32.to_le_bytes());
        word[0x1C..0x20].copy_from_slice(&(0x200 + body.len() as u32).to_le_bytes());
        for (i, n) in ccp.into_iter().enumerate() {
            word[0x34 + i * 4..0x38 + i * 4].copy_from_slice(&n.to_le_bytes());
        }
        word.extend_from_slice(body);
        word
    }

    #[test]
    fn a_word6_document_is_one_run_of_ansi_text() {
        let body = b"Caf\xe9 menu\rHeader\r";
        let word = word6(0, body, [10, 0, 7]);
        let deadline = Deadline::after(std::time::Duration::from_secs(5));
        assert_eq!(
            word6_text(&word, 0, deadline).expect("text"),
            "Caf\u{e9} menu\r"
        );
    }

    #[test]
    fn a_word6_document_is_read_in_the_code_page_of_its_language() {
        let mut word = word6(0, b"\xcf\xf0\xe8\xe2\xe5\xf2\r", [7, 0, 0]);
        word[0x06..0x08].copy_from_slice(&0x0419u16.to_le_bytes()); // Russian
        let deadline = Deadline::after(std::time::Duration::from_secs(5));
        assert_eq!(word6_text(&word, 0, deadline).expect("text"), "Привет\r");
    }

    #[test]
    fn a_word6_document_in_a_western_language_with_cyrillic_fonts_is_read_as_cyrillic() {
        // English lid, text typed in a Cyrillic font: the font table's charset decides.
        let mut word = word6(0, b"\xcf\xf0\xe8\xe2\xe5\xf2\r", [7, 0, 0]);
        let fonts_at = word.len();
        let font = |charset: u8, name: &[u8]| {
            let mut ffn = vec![0u8, 0, 0x90, 0x01, charset, 0];
            ffn.extend_from_slice(name);
            ffn.push(0);
            ffn[0] = (ffn.len() - 1) as u8;
            ffn
        };
        let entries = [
            font(0, b"Times New Roman"),
            font(2, b"Symbol"),
            font(204, b"Arial Cyr"),
        ]
        .concat();
        word.extend_from_slice(&((entries.len() + 2) as u16).to_le_bytes());
        word.extend_from_slice(&entries);
        word[0xD0..0xD4].copy_from_slice(&(fonts_at as u32).to_le_bytes());
        word[0xD4..0xD8].copy_from_slice(&((entries.len() + 2) as u32).to_le_bytes());
        let deadline = Deadline::after(std::time::Duration::from_secs(5));
        assert_eq!(word6_text(&word, 0, deadline).expect("text"), "Привет\r");
        // A font table pointing past the stream leaves the language's code page.
        word[0xD0..0xD4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            word6_text(&word, 0, deadline).expect("text"),
            "\u{cf}\u{f0}\u{e8}\u{e2}\u{e5}\u{f2}\r"
        );
    }

    #[test]
    fn a_fast_saved_word95_document_follows_its_piece_table() {
        // Two pieces stored out of order: "world\r" at 0x200, "Hello " at 0x206.
        let mut word = word6(0x0004, b"world\rHello ", [12, 0, 0]);
        let clx = word.len();
        let mut plc = Vec::new();
        for cp in [0u32, 6, 12] {
            plc.extend_from_slice(&cp.to_le_bytes());
        }
        for fc in [0x206u32, 0x200] {
            plc.extend_from_slice(&[0, 0]);
            plc.extend_from_slice(&fc.to_le_bytes());
            plc.extend_from_slice(&[0, 0]);
        }
        word.push(0x02);
        word.extend_from_slice(&(plc.len() as u32).to_le_bytes());
        word.extend_from_slice(&plc);
        let lcb = (word.len() - clx) as u32;
        word[0x160..0x164].copy_from_slice(&(clx as u32).to_le_bytes());
        word[0x164..0x168].copy_from_slice(&lcb.to_le_bytes());
        let deadline = Deadline::after(std::time::Duration::from_secs(5));
        assert_eq!(
            word6_text(&word, 0x0004, deadline).expect("text"),
            "Hello world\r"
        );
        // A piece table pointing past the stream is corrupt, not a panic.
        word[0x160..0x164].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = word6_text(&word, 0x0004, deadline).expect_err("out of bounds");
        assert_eq!(e.kind, ErrorKind::Corrupt);
    }

    #[test]
    fn field_codes_go_and_results_stay() {
        let raw =
            "Page \u{13} PAGE \\* MERGEFORMAT \u{14}3\u{15} of\u{0B}two\rcell\u{07}cell\u{07}\r";
        assert_eq!(clean(raw), "Page 3 of\ntwo\n\ncell\tcell\t\n\n");
        // A note's reference mark separates the words around it.
        assert_eq!(clean("Smith\u{02}2019"), "Smith 2019");
    }
}
