//! Fonts of the content-stream interpreter (`pdf_text`): how a font's string bytes become
//! text (`Decoder`: ToUnicode, predefined CJK CMaps, the embedded TrueType `cmap`, lopdf's
//! encodings). How far its glyphs move the pen is `pdf_widths`.

use std::collections::HashMap;

use lopdf::{Dictionary, Document, Encoding, Object};

use crate::pdf::{deref, dict_entry};
use crate::pdf_cmap::{ToUnicode, collection_map, push_cid_text, used_collection};
use crate::pdf_encoding::differences;
pub(crate) use crate::pdf_widths::Widths;

/// A composite (`Type0`) font's CIDFont: the first of its `/DescendantFonts`.
pub(crate) fn descendant_font<'a>(
    doc: &'a Document,
    font: &'a Dictionary,
) -> Option<&'a Dictionary> {
    font.get(b"DescendantFonts")
        .ok()
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_array().ok())
        .and_then(|a| a.first())
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_dict().ok())
}

/// How a font's string bytes become text.
pub(crate) enum Decoder<'d> {
    /// lopdf's own (a parsed ToUnicode, `/Differences`, or a standard encoding).
    Lopdf(Encoding<'d>),
    /// Our reading of a ToUnicode CMap; for a simple font, the codes it leaves out are
    /// decoded by the font's encoding (as poppler merges the two: TeX's `xdvipdfmx` writes
    /// a ToUnicode that maps its ligatures only).
    Cmap(ToUnicode, Option<Box<Decoder<'d>>>),
    /// A composite font without ToUnicode whose `/Encoding` is one of the predefined CJK
    /// CMaps: its codes are a legacy character encoding, decoded as such.
    Predefined(Legacy),
    /// An Identity-encoded TrueType font without ToUnicode: two-byte codes are CIDs, CIDs map
    /// to glyphs (`/CIDToGIDMap`), glyphs back to characters through the embedded font's
    /// own `cmap` table.
    Glyphs(HashMap<u16, char>),
    /// A simple font's `/Differences` over its base encoding, code by code. lopdf drops the
    /// whole table (and falls back to the standard encoding) at the first glyph name it
    /// does not know — `/.notdef`, TeX's `/circlecopyrt` — losing ligatures (`/fi` at
    /// code 2) and every other difference with them.
    Table(Box<[String; 256]>),
    /// Two-byte codes that are CIDs of one of Adobe's CJK collections, read through that
    /// collection's CID → Unicode map (`pdf_cmap::collection_map`).
    Collection(&'static hayro_cmap::CMap),
}

/// The character encodings behind Adobe's predefined CJK CMaps (PDF 32000 9.7.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Legacy {
    /// Two bytes per code, UCS-2 / UTF-16 big-endian (`Uni*-UCS2-*`, `Uni*-UTF16-*`).
    Utf16Be,
    /// `Uni*-UTF8-*`.
    Utf8,
    /// Codes in an `encoding_rs` encoding (Shift-JIS, EUC-JP, GBK, Big5, EUC-KR).
    Bytes(&'static encoding_rs::Encoding),
    /// `H` / `V`: JIS X 0208 row/cell codes (ISO-2022-JP without escapes), read as EUC-JP
    /// once each byte has its high bit set.
    Jis,
}

impl Legacy {
    /// The encoding of a predefined CMap name (`-H` / `-V` is the writing direction).
    fn of(cmap: &[u8]) -> Option<Legacy> {
        let name = std::str::from_utf8(cmap).ok()?;
        let base = name
            .strip_suffix("-H")
            .or_else(|| name.strip_suffix("-V"))
            .unwrap_or(name);
        if name == "H" || name == "V" {
            return Some(Legacy::Jis);
        }
        if !base.starts_with("Uni") {
            return Some(Legacy::Bytes(match base {
                "83pv-RKSJ" | "90ms-RKSJ" | "90msp-RKSJ" | "90pv-RKSJ" | "Add-RKSJ"
                | "Ext-RKSJ" => encoding_rs::SHIFT_JIS,
                "EUC" => encoding_rs::EUC_JP,
                "GB-EUC" | "GBpc-EUC" | "GBK-EUC" | "GBKp-EUC" | "GBK2K" | "GBT-EUC" => {
                    encoding_rs::GBK
                }
                "B5pc" | "ETen-B5" | "ETenms-B5" | "HKscs-B5" | "CNS-EUC" => encoding_rs::BIG5,
                "KSC-EUC" | "KSCms-UHC" | "KSCms-UHC-HW" | "KSCpc-EUC" => encoding_rs::EUC_KR,
                _ => return None,
            }));
        }
        if base.contains("-UCS2") || base.contains("-UTF16") {
            Some(Legacy::Utf16Be)
        } else if base.contains("-UTF8") {
            Some(Legacy::Utf8)
        } else {
            None
        }
    }

    fn decode(self, bytes: &[u8]) -> String {
        match self {
            Legacy::Utf16Be => encoding_rs::UTF_16BE
                .decode_without_bom_handling(bytes)
                .0
                .into_owned(),
            Legacy::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Legacy::Bytes(encoding) => encoding.decode_without_bom_handling(bytes).0.into_owned(),
            Legacy::Jis => {
                let high: Vec<u8> = bytes.iter().map(|b| b | 0x80).collect();
                encoding_rs::EUC_JP
                    .decode_without_bom_handling(&high)
                    .0
                    .into_owned()
            }
        }
    }
}

impl Decoder<'_> {
    pub(crate) fn decode(&self, bytes: &[u8]) -> Option<String> {
        match self {
            Decoder::Lopdf(e) => e.bytes_to_string(bytes).ok(),
            Decoder::Cmap(c, None) => Some(c.decode(bytes)),
            Decoder::Cmap(c, Some(encoding)) => {
                Some(c.decode_or(bytes, |code| encoding.decode(code).unwrap_or_default()))
            }
            Decoder::Predefined(legacy) => Some(legacy.decode(bytes)),
            Decoder::Table(table) => {
                Some(bytes.iter().map(|&b| table[b as usize].as_str()).collect())
            }
            Decoder::Collection(map) => {
                let mut out = String::new();
                for pair in bytes.chunks_exact(2) {
                    push_cid_text(map, u16::from_be_bytes([pair[0], pair[1]]), &mut out);
                }
                Some(out)
            }
            Decoder::Glyphs(chars) => Some(
                bytes
                    .chunks_exact(2)
                    .filter_map(|p| chars.get(&u16::from_be_bytes([p[0], p[1]])))
                    .collect(),
            ),
        }
    }
}

/// A font's decoder, in the PDF spec's order: its ToUnicode CMap first (our tolerant
/// reader; lopdf's parser when ours finds nothing), then a predefined CJK CMap, else
/// lopdf's encoding handling. Ours goes first because lopdf applies codespace ranges
/// strictly byte by byte, and producers write them as plain numeric ranges
/// (`<0003> <0372>`): lopdf then garbles every code whose low byte is outside.
pub(crate) fn decoder<'d>(
    doc: &'d Document,
    font: &'d Dictionary,
    max_content: usize,
) -> Option<Decoder<'d>> {
    let lopdf = font.get_font_encoding_with_limit(doc, max_content).ok();
    let to_unicode = font
        .get(b"ToUnicode")
        .ok()
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_stream().ok())
        .and_then(|s| {
            s.decompressed_content_with_limit(max_content)
                .ok()
                .or_else(|| Some(s.content.clone()))
        });
    let ours = to_unicode.as_deref().and_then(ToUnicode::parse);
    let composite =
        font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type0".as_slice());
    // A CJK collection's map reads the codes a composite font's ToUnicode leaves out (as
    // poppler merges the two), or all of them when it has none.
    let collection = to_unicode.as_deref().and_then(used_collection).or_else(|| {
        composite
            .then(|| font_collection(doc, font, false))
            .flatten()
    });
    if let Some(cmap) = ours {
        if composite {
            let rest = collection.map(|c| Box::new(Decoder::Collection(c)));
            let identity = font
                .get(b"Encoding")
                .and_then(Object::as_name)
                .is_ok_and(|n| n == b"Identity-H" || n == b"Identity-V");
            let cmap = if identity { cmap.double_byte() } else { cmap };
            return Some(Decoder::Cmap(cmap, rest));
        }
        // The encoding the font would have without its ToUnicode.
        let encoding = plain_table(doc, font, max_content).map(|t| Box::new(Decoder::Table(t)));
        return Some(Decoder::Cmap(cmap.single_byte(), encoding));
    }
    if !composite && unknown_encoding_name(font) {
        return plain_table(doc, font, max_content).map(Decoder::Table);
    }
    // A ToUnicode that maps no code at all (a bare codespace) says nothing: the font's own
    // tables decide, as poppler lets them.
    if matches!(&lopdf, Some(Encoding::UnicodeMapEncoding(m))
        if m.bf_ranges.iter().any(|r| r.iter().next().is_some()))
    {
        return lopdf.map(Decoder::Lopdf);
    }
    let predefined = (font.get(b"Subtype").and_then(Object::as_name).ok()
        == Some(b"Type0".as_slice()))
    .then(|| font.get(b"Encoding").and_then(Object::as_name).ok())
    .flatten()
    .and_then(Legacy::of);
    if let Some(legacy) = predefined {
        return Some(Decoder::Predefined(legacy));
    }
    if let Some(chars) = embedded_cmap(doc, font, max_content) {
        return Some(Decoder::Glyphs(chars));
    }
    // An embedded TrueType program with no `cmap` to read its glyphs back by: its CIDs are
    // all there is, read as the collection it names (poppler does the same).
    let collection = collection.or_else(|| {
        composite
            .then(|| font_collection(doc, font, true))
            .flatten()
    });
    if let Some(map) = collection.filter(|_| composite) {
        return Some(Decoder::Collection(map));
    }
    if let Some(table) = differences(doc, font, lopdf.as_ref(), max_content) {
        return Some(Decoder::Table(table));
    }
    lopdf.map(Decoder::Lopdf)
}

/// A simple font's code → text table as its encoding alone decodes them: without its
/// ToUnicode, and without an `/Encoding` name that is none of the standard ones (a writer's
/// `/NULL`), which poppler ignores and lopdf decodes nothing with.
fn plain_table(
    doc: &Document,
    font: &Dictionary,
    max_content: usize,
) -> Option<Box<[String; 256]>> {
    let mut plain = font.clone();
    plain.remove(b"ToUnicode");
    if unknown_encoding_name(font) {
        plain.remove(b"Encoding");
    }
    let plain_lopdf = plain.get_font_encoding_with_limit(doc, max_content).ok();
    differences(doc, &plain, plain_lopdf.as_ref(), max_content).or_else(|| {
        let e = plain_lopdf.as_ref()?;
        Some(Box::new(std::array::from_fn(|code| {
            e.bytes_to_string(&[code as u8]).unwrap_or_default()
        })))
    })
}

/// Whether a simple font's `/Encoding` is a name that is none of the standard encodings.
fn unknown_encoding_name(font: &Dictionary) -> bool {
    font.get(b"Encoding")
        .and_then(Object::as_name)
        .is_ok_and(|name| {
            !matches!(
                name,
                b"StandardEncoding"
                    | b"WinAnsiEncoding"
                    | b"MacRomanEncoding"
                    | b"MacExpertEncoding"
                    | b"PDFDocEncoding"
            )
        })
}

/// The Adobe CJK collection whose CIDs an Identity-encoded composite font shows, by its
/// CIDFont's `/CIDSystemInfo`: for a CID-keyed font (`CIDFontType0`), or a TrueType one
/// with no embedded program (a viewer substitutes a font of that collection). An embedded
/// TrueType program's CIDs are its glyph numbers, whatever the font claims, so it counts
/// only when `embedded` (the program had no `cmap` to read them by).
fn font_collection(
    doc: &Document,
    font: &Dictionary,
    embedded: bool,
) -> Option<&'static hayro_cmap::CMap> {
    let encoding = font.get(b"Encoding").and_then(Object::as_name).ok()?;
    if encoding != b"Identity-H" && encoding != b"Identity-V" {
        return None;
    }
    let cid_font = descendant_font(doc, font)?;
    let kind = cid_font.get(b"Subtype").and_then(Object::as_name).ok()?;
    let embedded_truetype =
        dict_entry(doc, cid_font, b"FontDescriptor").is_some_and(|d| d.has(b"FontFile2"));
    if kind != b"CIDFontType0" && (kind != b"CIDFontType2" || (embedded_truetype && !embedded)) {
        return None;
    }
    let info = dict_entry(doc, cid_font, b"CIDSystemInfo")?;
    let text = |key: &[u8]| match info.get(key).ok().and_then(|o| deref(doc, o)) {
        Some(Object::String(s, _)) => Some(s.clone()),
        Some(Object::Name(n)) => Some(n.clone()),
        _ => None,
    };
    if text(b"Registry")? != b"Adobe" {
        return None;
    }
    collection_map(&text(b"Ordering")?)
}

/// CID → character for an Identity-encoded composite font with an embedded TrueType
/// program (`FontFile2`) whose `cmap` table survived subsetting.
fn embedded_cmap(
    doc: &Document,
    font: &Dictionary,
    max_content: usize,
) -> Option<HashMap<u16, char>> {
    let is = |d: &Dictionary, key: &[u8], name: &[u8]| {
        d.get(key).and_then(Object::as_name).ok() == Some(name)
    };
    if !is(font, b"Subtype", b"Type0")
        || !matches!(
            font.get(b"Encoding").and_then(Object::as_name).ok(),
            Some(b"Identity-H" | b"Identity-V")
        )
    {
        return None;
    }
    let cid_font = descendant_font(doc, font)?;
    let program = dict_entry(doc, cid_font, b"FontDescriptor")?
        .get(b"FontFile2")
        .ok()
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_stream().ok())?
        .decompressed_content_with_limit(max_content)
        .ok()?;
    // CID → glyph id: identity unless a /CIDToGIDMap stream says otherwise.
    let cid_to_gid = cid_font
        .get(b"CIDToGIDMap")
        .ok()
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_stream().ok())
        .and_then(|s| s.decompressed_content_with_limit(max_content).ok());
    let face = ttf_parser::Face::parse(&program, 0).ok()?;
    let mut glyph_chars: HashMap<u16, char> = HashMap::new();
    for subtable in face.tables().cmap?.subtables {
        if !subtable.is_unicode() {
            continue;
        }
        subtable.codepoints(|cp| {
            if let (Some(c), Some(gid)) = (char::from_u32(cp), subtable.glyph_index(cp)) {
                glyph_chars.entry(gid.0).or_insert(c);
            }
        });
    }
    if glyph_chars.is_empty() {
        return None;
    }
    Some(match cid_to_gid {
        None => glyph_chars,
        Some(map) => map
            .chunks_exact(2)
            .enumerate()
            .take(usize::from(u16::MAX) + 1)
            .filter_map(|(cid, gid)| {
                let gid = u16::from_be_bytes([gid[0], gid[1]]);
                glyph_chars.get(&gid).map(|c| (cid as u16, *c))
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal TrueType program: `head`, `hhea`, `maxp` and a format-12 `cmap` mapping
    /// each `(char, glyph)` pair.
    fn truetype(pairs: &[(char, u16)]) -> Vec<u8> {
        let mut cmap = vec![0, 0, 0, 1, 0, 3, 0, 10, 0, 0, 0, 12]; // one (3, 10) subtable
        let length = 16 + 12 * pairs.len() as u32;
        cmap.extend_from_slice(&[0, 12, 0, 0]);
        cmap.extend_from_slice(&length.to_be_bytes());
        cmap.extend_from_slice(&0u32.to_be_bytes());
        cmap.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
        let mut pairs = pairs.to_vec();
        pairs.sort(); // groups are searched by code point
        for &(c, gid) in &pairs {
            cmap.extend_from_slice(&(c as u32).to_be_bytes());
            cmap.extend_from_slice(&(c as u32).to_be_bytes());
            cmap.extend_from_slice(&u32::from(gid).to_be_bytes());
        }
        let mut head = vec![0u8; 54];
        head[..4].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        head[12..16].copy_from_slice(&0x5F0F_3CF5u32.to_be_bytes());
        head[18..20].copy_from_slice(&1000u16.to_be_bytes()); // units per em
        let mut hhea = vec![0u8; 36];
        hhea[..4].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        hhea[34..36].copy_from_slice(&1u16.to_be_bytes());
        let mut maxp = 0x0000_5000u32.to_be_bytes().to_vec();
        maxp.extend_from_slice(&100u16.to_be_bytes());
        let tables: [(&[u8; 4], Vec<u8>); 4] = [
            (b"cmap", cmap),
            (b"head", head),
            (b"hhea", hhea),
            (b"maxp", maxp),
        ];
        let mut out = 0x0001_0000u32.to_be_bytes().to_vec();
        out.extend_from_slice(&(tables.len() as u16).to_be_bytes());
        out.extend_from_slice(&[0, 64, 0, 2, 0, 0]);
        let mut offset = 12 + 16 * tables.len() as u32;
        for (tag, data) in &tables {
            out.extend_from_slice(*tag);
            out.extend_from_slice(&0u32.to_be_bytes());
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            offset += data.len().next_multiple_of(4) as u32;
        }
        for (_, data) in &tables {
            out.extend_from_slice(data);
            out.resize(out.len().next_multiple_of(4), 0);
        }
        out
    }

    #[test]
    fn identity_fonts_without_to_unicode_read_their_embedded_cmap() {
        use lopdf::{Stream, dictionary};
        let mut doc = Document::new();
        let program = doc.add_object(Stream::new(
            dictionary! {},
            truetype(&[('黎', 5), ('荣', 9)]),
        ));
        let descriptor =
            doc.add_object(dictionary! { "Type" => "FontDescriptor", "FontFile2" => program });
        let font = dictionary! {
            "Type" => "Font",
            "Subtype" => "Type0",
            "Encoding" => "Identity-H",
            "DescendantFonts" => vec![Object::Dictionary(dictionary! {
                "Type" => "Font",
                "Subtype" => "CIDFontType2",
                "FontDescriptor" => descriptor,
            })],
        };
        let decoder = decoder(&doc, &font, 1 << 20).expect("a decoder");
        assert!(matches!(decoder, Decoder::Glyphs(_)));
        assert_eq!(decoder.decode(&[0, 5, 0, 9, 0, 7]).as_deref(), Some("黎荣"));
    }

    #[test]
    fn identity_fonts_read_their_to_unicode_two_bytes_a_code_whatever_its_codespace() {
        use lopdf::{Stream, dictionary};
        let mut doc = Document::new();
        // Acrobat's: a one-byte range first, beside the two-byte one.
        let to_unicode = doc.add_object(Stream::new(
            dictionary! {},
            b"2 begincodespacerange <00> <FF> <0100> <FFFF> endcodespacerange
              3 beginbfchar <0000> <FFFD> <0029> <0048> <0046> <0069> endbfchar"
                .to_vec(),
        ));
        let font = dictionary! {
            "Type" => "Font",
            "Subtype" => "Type0",
            "Encoding" => "Identity-H",
            "ToUnicode" => to_unicode,
        };
        let decoder = decoder(&doc, &font, 1 << 20).expect("a decoder");
        assert_eq!(decoder.decode(&[0, 0x29, 0, 0x46]).as_deref(), Some("Hi"));
    }

    #[test]
    fn predefined_cjk_cmaps_decode_their_legacy_encodings() {
        let check = |cmap: &str, bytes: &[u8], want: &str| {
            let legacy = Legacy::of(cmap.as_bytes()).unwrap_or_else(|| panic!("{cmap}"));
            assert_eq!(legacy.decode(bytes), want, "{cmap}");
        };
        check("V", b"$\"$$", "あい"); // JIS X 0208 row/cell codes
        check("H", b"F|K\\", "日本");
        check("90ms-RKSJ-H", b"\x93\xfa\x96\x7b", "日本");
        check("EUC-V", b"\xc6\xfc\xcb\xdc", "日本");
        check("UniJIS-UCS2-H", &[0x65, 0xe5, 0x67, 0x2c], "日本");
        check("UniGB-UTF16-V", &[0xd8, 0x40, 0xdc, 0x0b], "\u{2000b}");
        check("UniKS-UTF8-H", "한국".as_bytes(), "한국");
        check("GBK-EUC-H", b"\xd6\xd0\xce\xc4", "中文");
        check("ETen-B5-H", b"\xa4\xa4\xa4\xe5", "中文");
        check("KSCms-UHC-H", b"\xc7\xd1\xb1\xb9", "한국");
        // Identity and unknown CMaps are not legacy encodings: the font's own tables decide.
        assert_eq!(Legacy::of(b"Identity-H"), None);
        assert_eq!(Legacy::of(b"Adobe-Japan1-6"), None);
    }
}
