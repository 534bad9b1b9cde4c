//! Text in a Windows Metafile (WMF, MS-WMF): the picture format of diagrams, equations
//! (MathType) and charts pasted into Office documents before EMF, still found in decks and
//! reports converted from the binary formats. What a reader sees in such a picture (a
//! diagram's labels) is text Tika reads, and so do we.
//!
//! A WMF is an optional 22-byte placeable header, an 18-byte header, then records
//! `(size in 16-bit words: u32, function: u16, parameters)`. Text is drawn by `META_TEXTOUT`
//! and `META_EXTTEXTOUT` in the byte encoding of the selected font's character set, so the
//! walk keeps the object table (`META_CREATE*` fill the lowest free slot, `META_SELECTOBJECT`
//! and `META_DELETEOBJECT` name slots) to know which font is selected. Bounded: every record
//! must fit in the input; a record smaller than its header ends the walk.

use encoding_rs::Encoding;

const PLACEABLE_KEY: u32 = 0x9AC6_CDD7;
const META_EOF: u16 = 0x0000;
const META_TEXTOUT: u16 = 0x0521;
const META_EXTTEXTOUT: u16 = 0x0A32;
const META_SELECTOBJECT: u16 = 0x012D;
const META_DELETEOBJECT: u16 = 0x01F0;
const META_CREATEFONTINDIRECT: u16 = 0x02FB;
/// The other records that create an object, each in the lowest free slot of the table.
const CREATES_OBJECT: [u16; 6] = [0x00F7, 0x01F9, 0x0142, 0x02FA, 0x02FC, 0x06FF];
/// `META_EXTTEXTOUT` options that put a clipping or opaquing rectangle before the string.
const ETO_OPAQUE_OR_CLIPPED: u16 = 0x0006;
/// Slots of the object table kept at most (a header says how many the picture uses).
const MAX_OBJECTS: usize = 4096;
/// `SYMBOL_CHARSET`: codes are glyphs of a symbol font (bullets, arrows), not text.
const SYMBOL_CHARSET: u8 = 2;

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    data.get(at..at.checked_add(2)?)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at.checked_add(4)?)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// What a slot of the object table holds, as far as text cares.
#[derive(Clone, Copy, PartialEq)]
enum Object {
    Font { charset: u8 },
    Other,
}

/// The lines a WMF draws, one per text record, in drawing order, without blank ones and
/// without runs in a symbol font. Empty when `data` is not a WMF.
pub(crate) fn text(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let start = if u32_at(data, 0) == Some(PLACEABLE_KEY) {
        22
    } else {
        0
    };
    // The header: type 1 (memory) or 2 (disk), a header size of 9 words.
    if !matches!(u16_at(data, start), Some(1 | 2)) || u16_at(data, start + 2) != Some(9) {
        return out;
    }
    let mut objects: Vec<Option<Object>> = Vec::new();
    let mut charset = 0u8;
    let mut pos = start + 18;
    while let (Some(words), Some(function)) = (u32_at(data, pos), u16_at(data, pos + 4)) {
        let Some(end) = (words as usize)
            .checked_mul(2)
            .filter(|&size| size >= 6)
            .and_then(|size| pos.checked_add(size))
            .filter(|&e| e <= data.len())
        else {
            break;
        };
        let params = &data[pos + 6..end];
        match function {
            META_EOF => break,
            META_CREATEFONTINDIRECT => create(
                &mut objects,
                Object::Font {
                    charset: params.get(14).copied().unwrap_or(0),
                },
            ),
            f if CREATES_OBJECT.contains(&f) => create(&mut objects, Object::Other),
            META_SELECTOBJECT => {
                let slot = u16_at(params, 0).map(usize::from);
                if let Some(Some(Object::Font { charset: c })) = slot.and_then(|i| objects.get(i)) {
                    charset = *c;
                }
            }
            META_DELETEOBJECT => {
                if let Some(slot) = u16_at(params, 0).and_then(|i| objects.get_mut(usize::from(i)))
                {
                    *slot = None;
                }
            }
            META_TEXTOUT => {
                let len = usize::from(u16_at(params, 0).unwrap_or(0));
                push_text(&mut out, params.get(2..2 + len), charset);
            }
            META_EXTTEXTOUT => {
                let len = usize::from(u16_at(params, 4).unwrap_or(0));
                let options = u16_at(params, 6).unwrap_or(0);
                let at = if options & ETO_OPAQUE_OR_CLIPPED != 0 {
                    16
                } else {
                    8
                };
                push_text(&mut out, params.get(at..at + len), charset);
            }
            _ => {}
        }
        pos = end;
    }
    out
}

/// Puts `object` in the lowest free slot, as a player does.
fn create(objects: &mut Vec<Option<Object>>, object: Object) {
    match objects.iter().position(Option::is_none) {
        Some(free) => objects[free] = Some(object),
        None if objects.len() < MAX_OBJECTS => objects.push(Some(object)),
        None => {}
    }
}

fn push_text(out: &mut Vec<String>, bytes: Option<&[u8]>, charset: u8) {
    let Some(bytes) = bytes else { return };
    if charset == SYMBOL_CHARSET {
        return;
    }
    let (text, _, _) = encoding(charset).decode(bytes);
    let line = text
        .trim_end_matches('\0')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if !line.is_empty() {
        out.push(line);
    }
}

/// The byte encoding of a font character set (MS-WMF 2.1.1.5); Windows-1252 for the
/// Latin ones and any other.
fn encoding(charset: u8) -> &'static Encoding {
    match charset {
        77 => encoding_rs::MACINTOSH,
        128 => encoding_rs::SHIFT_JIS,
        129 | 130 => encoding_rs::EUC_KR,
        134 => encoding_rs::GBK,
        136 => encoding_rs::BIG5,
        161 => encoding_rs::WINDOWS_1253,
        162 => encoding_rs::WINDOWS_1254,
        163 => encoding_rs::WINDOWS_1258,
        177 => encoding_rs::WINDOWS_1255,
        178 => encoding_rs::WINDOWS_1256,
        186 => encoding_rs::WINDOWS_1257,
        204 => encoding_rs::WINDOWS_1251,
        222 => encoding_rs::WINDOWS_874,
        238 => encoding_rs::WINDOWS_1250,
        _ => encoding_rs::WINDOWS_1252,
    }
}

/// A WMF drawing these records (function, parameters), for tests.
#[cfg(test)]
pub(crate) fn sample(records: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&PLACEABLE_KEY.to_le_bytes());
    out.extend_from_slice(&[0u8; 18]);
    for v in [1u16, 9, 0x0300, 0, 0, 4, 0, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (function, params) in records.iter().chain([&(META_EOF, Vec::new())]) {
        let mut params = params.clone();
        if params.len() % 2 == 1 {
            params.push(0);
        }
        out.extend_from_slice(&((params.len() as u32 + 6) / 2).to_le_bytes());
        out.extend_from_slice(&function.to_le_bytes());
        out.extend_from_slice(&params);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font(charset: u8) -> (u16, Vec<u8>) {
        let mut p = vec![0u8; 18 + 32];
        p[14] = charset;
        (META_CREATEFONTINDIRECT, p)
    }

    fn select(slot: u16) -> (u16, Vec<u8>) {
        (META_SELECTOBJECT, slot.to_le_bytes().to_vec())
    }

    fn textout(bytes: &[u8]) -> (u16, Vec<u8>) {
        let mut p = (bytes.len() as u16).to_le_bytes().to_vec();
        p.extend_from_slice(bytes);
        if bytes.len() % 2 == 1 {
            p.push(0);
        }
        p.extend_from_slice(&[0, 0, 0, 0]);
        (META_TEXTOUT, p)
    }

    fn exttextout(bytes: &[u8], clipped: bool) -> (u16, Vec<u8>) {
        let mut p = vec![0, 0, 0, 0];
        p.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        p.extend_from_slice(&(if clipped { 4u16 } else { 0 }).to_le_bytes());
        if clipped {
            p.extend_from_slice(&[9u8; 8]);
        }
        p.extend_from_slice(bytes);
        (META_EXTTEXTOUT, p)
    }

    #[test]
    fn text_records_decode_in_the_selected_fonts_character_set() {
        let wmf = sample(&[
            font(0),
            (0x02FA, vec![0u8; 10]), // a pen, in slot 1
            select(0),
            textout(b"Fully public"),
            exttextout(b"Caf\xe9  au lait", true),
            font(204), // slot 2
            select(2),
            exttextout(b"\xcf\xf0\xe8\xe2\xe5\xf2", false),
            font(SYMBOL_CHARSET), // slot 3
            select(3),
            textout(b"\xb7"),
            (META_DELETEOBJECT, 1u16.to_le_bytes().to_vec()),
            font(128), // the freed slot 1
            select(1),
            textout(b"\x93\xfa\x96\x7b"),
        ]);
        assert_eq!(
            text(&wmf),
            ["Fully public", "Café au lait", "Привет", "日本"]
        );
    }

    #[test]
    fn anything_but_a_whole_wmf_gives_what_fits_and_no_panic() {
        assert!(text(b"not a metafile, not even close to one").is_empty());
        let wmf = sample(&[textout(b"first"), textout(b"second")]);
        let mut cut = wmf.clone();
        cut.truncate(wmf.len() - 14); // inside the second record
        assert_eq!(text(&cut), ["first"]);
        // A record claiming less than its own header ends the walk.
        let mut bad = sample(&[textout(b"kept"), textout(b"never")]);
        let second = 22 + 18 + 16;
        bad[second..second + 4].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(text(&bad), ["kept"]);
    }
}
