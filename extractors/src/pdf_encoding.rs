//! Simple fonts' encodings beside what lopdf reads: a font's `/Differences` over its base
//! encoding, code by code, and an embedded Type1 program's built-in encoding, with glyph
//! names turned into text (the Adobe Glyph List, `uniXXXX`, ligatures named by parts).

use std::collections::HashMap;

use lopdf::{Dictionary, Document, Encoding, Object};
use pdf_encoding::ForwardMap;

use crate::pdf::{deref, dict_entry};

/// A simple font's code → text table from its `/Differences` and, for an embedded Type1
/// program, the encoding built into it (TeX's fonts put `/fi` at code 12 there), over
/// what lopdf decodes each code to without them. `None` when there is neither.
pub(crate) fn differences(
    doc: &Document,
    font: &Dictionary,
    lopdf: Option<&Encoding<'_>>,
    max_content: usize,
) -> Option<Box<[String; 256]>> {
    if font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type0".as_slice()) {
        return None;
    }
    let encoding = font
        .get(b"Encoding")
        .ok()
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_dict().ok());
    let list = encoding
        .and_then(|e| e.get(b"Differences").ok())
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_array().ok());
    // The program's own encoding applies when the font names no base encoding.
    let names_base = font
        .get(b"Encoding")
        .ok()
        .and_then(|o| deref(doc, o))
        .is_some_and(|o| o.as_name().is_ok() || encoding.is_some_and(|e| e.has(b"BaseEncoding")));
    let builtin = if names_base {
        Vec::new()
    } else {
        builtin_encoding(doc, font, max_content)
    };
    let symbolic = (!names_base && builtin.is_empty())
        .then(|| standard_symbolic(doc, font))
        .flatten();
    if list.is_none() && builtin.is_empty() && symbolic.is_none() {
        return None;
    }
    // The base: the font without its differences, as lopdf reads it.
    let mut plain = font.clone();
    match encoding.map(|e| e.get(b"BaseEncoding")) {
        Some(Ok(base)) => plain.set("Encoding", base.clone()),
        Some(Err(_)) => {
            plain.remove(b"Encoding");
        }
        None => {}
    }
    let base = plain.get_font_encoding(doc).ok();
    let mut table: Box<[String; 256]> = Box::new(std::array::from_fn(|code| match symbolic {
        Some(map) => map.get(code as u8).map(String::from).unwrap_or_default(),
        None => base
            .as_ref()
            .or(lopdf)
            .and_then(|e| e.bytes_to_string(&[code as u8]).ok())
            .unwrap_or_default(),
    }));
    // A Type3 font's glyphs are procedures the producer named as it liked (`/square`,
    // IBM's `/LA010000`); a name that is no character reads as its code, which such
    // producers mostly keep to ASCII (poppler reads them so too).
    let type3 = font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type3".as_slice());
    let mut names: HashMap<Vec<u8>, String> = HashMap::new();
    let mut set = |table: &mut [String; 256], code: i64, name: &[u8]| {
        if let Ok(code) = u8::try_from(code) {
            let text = names
                .entry(name.to_vec())
                .or_insert_with(|| glyph_text(doc, name).unwrap_or_default());
            if text.is_empty() && type3 && name != b".notdef" {
                table[code as usize] = latin1_text(code);
            } else {
                table[code as usize].clone_from(text);
            }
        }
    };
    for (code, name) in &builtin {
        set(&mut table, i64::from(*code), name);
    }
    let mut code: i64 = 0;
    for item in list.into_iter().flatten().take(4096) {
        match deref(doc, item) {
            Some(Object::Integer(n)) => code = *n,
            Some(Object::Name(name)) => {
                set(&mut table, code, name);
                code += 1;
            }
            _ => {}
        }
    }
    // Code 32 is the word space of every simple font (word spacing applies to it whatever
    // glyph it names, ISO 32000 9.3.3); where its glyph reads as nothing (`/.notdef`, a
    // name that is no character) it still advances the pen between words, as viewers and
    // pdftotext read it.
    if table[32].is_empty() {
        table[32] = " ".to_string();
    }
    Some(table)
}

/// A code as the Latin-1 character it would be, where that is a printable one.
fn latin1_text(code: u8) -> String {
    match code {
        0x20..=0x7E | 0xA0..=0xFF => char::from(code).to_string(),
        _ => String::new(),
    }
}

/// The built-in encoding of the standard 14 fonts that are not Latin text, Symbol and
/// ZapfDingbats (Greek letters and math; check marks and bullets), which applies when the
/// font names no encoding of its own (ISO 32000 9.6.6.1). lopdf reads such a font with
/// the standard Latin encoding, so a check mark read as `4` and an alpha as `a`.
fn standard_symbolic(doc: &Document, font: &Dictionary) -> Option<&'static ForwardMap> {
    let name = font
        .get(b"BaseFont")
        .ok()
        .and_then(|o| deref(doc, o))?
        .as_name()
        .ok()?;
    let name = crate::pdf_std14::without_subset_tag(name);
    if name.starts_with(b"Symbol") {
        Some(&pdf_encoding::SYMBOL)
    } else if name.starts_with(b"ZapfDingbats") || name.starts_with(b"Dingbats") {
        Some(&pdf_encoding::ZDINGBAT)
    } else {
        None
    }
}

/// The encoding built into an embedded font program: a Type1 program's encoding vector, or
/// a compact (CFF, `/FontFile3 /Type1C`) program's encoding; empty for none or a Type1
/// program's `StandardEncoding`.
fn builtin_encoding(doc: &Document, font: &Dictionary, max_content: usize) -> Vec<(u8, Vec<u8>)> {
    let program = |key: &[u8]| {
        dict_entry(doc, font, b"FontDescriptor")
            .and_then(|d| d.get(key).ok())
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_stream().ok())
    };
    if let Some(program) =
        program(b"FontFile").and_then(|s| s.decompressed_content_with_limit(max_content).ok())
    {
        return type1_encoding(&program);
    }
    program(b"FontFile3")
        .filter(|s| s.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type1C"))
        .and_then(|s| s.decompressed_content_with_limit(max_content).ok())
        .map(|program| cff_encoding(&program))
        .unwrap_or_default()
}

/// A compact font program's code → glyph name table (its encoding through its charset):
/// TeX's fonts as Ghostscript and others embed them keep `ff` at code 174, where the
/// standard encoding has `fi`, and poppler reads them by it.
fn cff_encoding(program: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let Some(table) = ttf_parser::cff::Table::parse(program) else {
        return Vec::new();
    };
    (0..=u8::MAX)
        .filter_map(|code| {
            let glyph = table.glyph_index(code).filter(|g| g.0 != 0)?;
            Some((code, table.glyph_name(glyph)?.as_bytes().to_vec()))
        })
        .collect()
}

/// The encoding vector in a Type1 program's cleartext part (`dup 12 /fi put` lines after
/// `/Encoding 256 array`); empty for `StandardEncoding`.
fn type1_encoding(program: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let head = &program[..program.len().min(64 * 1024)];
    let Some(at) = head.windows(9).position(|w| w == b"/Encoding") else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&head[at + 9..]);
    let mut words = text.split_ascii_whitespace();
    let mut out = Vec::new();
    while let Some(word) = words.next() {
        match word {
            "StandardEncoding" if out.is_empty() => return Vec::new(),
            "def" | "readonly" if !out.is_empty() => break,
            "dup" => {
                let (Some(code), Some(name)) = (words.next(), words.next()) else {
                    break;
                };
                if let (Ok(code), Some(name)) = (code.parse::<u8>(), name.strip_prefix('/')) {
                    out.push((code, name.as_bytes().to_vec()));
                }
            }
            _ if out.len() > 256 => break,
            _ => {}
        }
    }
    out
}

/// The text of a glyph name: the Adobe Glyph List (lopdf's, asked through a one-entry
/// table), `uniXXXX` / `uXXXX[XX]` names, and ligatures named by their parts (`f_f_i`).
fn glyph_text(doc: &Document, name: &[u8]) -> Option<String> {
    let mut encoding = Dictionary::new();
    encoding.set(
        "Differences",
        vec![Object::Integer(65), Object::Name(name.to_vec())],
    );
    let mut font = Dictionary::new();
    font.set("Type", "Font");
    font.set("Subtype", "Type1");
    font.set("Encoding", encoding);
    if let Ok(e @ Encoding::Differences(_)) = font.get_font_encoding(doc)
        && let Ok(text) = e.bytes_to_string(&[65])
        && !text.is_empty()
    {
        return Some(text);
    }
    let name = std::str::from_utf8(name).ok()?;
    // A suffix (`a.sc`, `one.oldstyle`) names a variant of the same character.
    let base = name.split('.').next().filter(|b| !b.is_empty())?;
    if base != name {
        return glyph_text(doc, base.as_bytes());
    }
    if let Some(hex) = base
        .strip_prefix("uni")
        .filter(|h| h.len() % 4 == 0 && !h.is_empty())
    {
        return (0..hex.len())
            .step_by(4)
            .map(|i| {
                u32::from_str_radix(&hex[i..i + 4], 16)
                    .ok()
                    .and_then(char::from_u32)
            })
            .collect();
    }
    if let Some(hex) = base
        .strip_prefix('u')
        .filter(|h| (4..=6).contains(&h.len()))
    {
        return u32::from_str_radix(hex, 16)
            .ok()
            .and_then(char::from_u32)
            .map(String::from);
    }
    if base.contains('_') {
        return base
            .split('_')
            .map(|part| glyph_text(doc, part.as_bytes()))
            .collect();
    }
    None
}

#[cfg(test)]
mod tests {
    use lopdf::Document;

    use crate::pdf_font::decoder;

    #[test]
    fn an_embedded_type1_programs_own_encoding_decodes_its_codes() {
        use lopdf::{Stream, dictionary};
        let mut doc = Document::new();
        let program = doc.add_object(Stream::new(
            dictionary! {},
            b"%!PS-AdobeFont-1.0: CMR10\n/Encoding 256 array\n0 1 255 {1 index exch /.notdef put} for\n\
              dup 12 /fi put\ndup 65 /B put\nreadonly def\ncurrentfile eexec\n"
                .to_vec(),
        ));
        let descriptor =
            doc.add_object(dictionary! { "Type" => "FontDescriptor", "FontFile" => program });
        let font = dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => "CMR10",
            "FontDescriptor" => descriptor,
        };
        let decoder = decoder(&doc, &font, 1 << 20).expect("a decoder");
        assert_eq!(decoder.decode(b"\x0cle A").as_deref(), Some("\u{FB01}le B"));
    }

    #[test]
    fn an_embedded_compact_programs_own_encoding_decodes_its_codes() {
        use lopdf::{Stream, dictionary};
        // A CFF program (made with fontTools) whose encoding puts `ff` at 174 (the
        // standard encoding's `fi`) and `A` at 66.
        const CFF: &str = "010004010001010108546573744346460001010112f81b028b8befef05bf0fc4108b\
            ed12c811000101010854657374434646000000010a00220002ae42000301010b151ff8888b16ef06\
            27ef050ef8888b16ef0627ef050ef8888b16ef0627ef050e";
        let bytes = (0..CFF.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&CFF[i..i + 2], 16).expect("hex"))
            .collect::<Vec<u8>>();
        let mut doc = Document::new();
        let program = doc.add_object(Stream::new(dictionary! { "Subtype" => "Type1C" }, bytes));
        let descriptor =
            doc.add_object(dictionary! { "Type" => "FontDescriptor", "FontFile3" => program });
        let font = dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => "ABCDEF+CMR9",
            "FontDescriptor" => descriptor,
        };
        let decoder = decoder(&doc, &font, 1 << 20).expect("a decoder");
        assert_eq!(
            decoder.decode(b"di\xaeerent B").as_deref(),
            Some("di\u{FB00}erent A")
        );
    }
}
