//! Fonts of the content-stream interpreter (`pdf_text`): how a font's string bytes become
//! text (`Decoder`: ToUnicode, predefined CJK CMaps, the embedded TrueType `cmap`, lopdf's
//! encodings) and how far its glyphs move the pen (`Widths`: `/Widths`, a composite font's
//! `/W`, a Type3 font's `/FontMatrix`, and vertical writing, where the pen moves down).

use std::collections::HashMap;

use lopdf::{Dictionary, Document, Encoding, Object};

use crate::pdf::{deref, dict_entry};
use crate::pdf_cmap::{ToUnicode, collection_map, push_cid_text, used_collection};
use crate::pdf_encoding::differences;

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

/// Glyph widths of one font, in thousandths of an em, to know where the pen is after a
/// string: the gap to the next positioned run decides whether a space separates them.
#[derive(Debug, Clone)]
pub(crate) struct Widths {
    first: u32,
    widths: Vec<f32>,
    default: f32,
    /// Composite fonts: two-byte codes (CIDs under Identity encodings) and their `/W` widths.
    pub(crate) two_byte: bool,
    cid_widths: std::collections::HashMap<u32, f32>,
    /// Text space per width unit: a thousandth, except for Type3 fonts, whose widths are
    /// in their own glyph space (`/FontMatrix`, often `[1 0 0 1 0 0]` with widths like 0.6).
    unit: f32,
    /// Vertical writing (`Identity-V`, a predefined `…-V` CMap, a CMap with `/WMode 1`):
    /// each glyph moves the pen down by `vertical_advance` units (`/DW2`, default 1000).
    pub(crate) vertical: bool,
    vertical_advance: f32,
    /// The font's em in text space at size 1: 1 but for a Type3 font, whose glyph space is
    /// its producer's own (`/FontMatrix [1 0 0 -1 0 0]` with glyphs 40–130 units wide, set
    /// at 0.12 points), taken as twice its mean glyph width, as a Latin font's is.
    em: f32,
}

/// Twice the mean of a Type3 font's glyph widths, in text space at size 1 (1 where it
/// lists none).
fn type3_em(widths: &[f32], unit: f32) -> f32 {
    let drawn: Vec<f32> = widths.iter().copied().filter(|w| *w > 0.0).collect();
    if drawn.is_empty() {
        return 1.0;
    }
    (2.0 * drawn.iter().sum::<f32>() / drawn.len() as f32 * unit).clamp(0.01, 100.0)
}

/// At most this many `/W` entries are read (a CJK font has tens of thousands at most).
const MAX_CID_WIDTHS: usize = 70_000;

impl Widths {
    pub(crate) fn of(doc: &Document, font: &Dictionary) -> Widths {
        let num = |o: &Object| deref(doc, o).and_then(|o| o.as_float().ok());
        if font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type0".as_slice()) {
            let descendant = descendant_font(doc, font);
            let default = descendant
                .and_then(|d| d.get(b"DW").ok())
                .and_then(num)
                .unwrap_or(1000.0);
            let mut cid_widths = std::collections::HashMap::new();
            let w = descendant
                .and_then(|d| d.get(b"W").ok())
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_array().ok());
            if let Some(w) = w {
                // `c [w1 w2 …]` (widths from c on) or `c_first c_last w` (one width for all).
                let mut i = 0;
                while i + 1 < w.len() && cid_widths.len() < MAX_CID_WIDTHS {
                    let Some(first) = num(&w[i]) else { break };
                    let first = first.max(0.0) as u32;
                    match deref(doc, &w[i + 1]) {
                        Some(Object::Array(list)) => {
                            for (k, width) in list.iter().enumerate().take(MAX_CID_WIDTHS) {
                                if let Some(width) = num(width) {
                                    cid_widths.insert(first.saturating_add(k as u32), width);
                                }
                            }
                            i += 2;
                        }
                        Some(other) => {
                            let (Some(last), Some(width)) =
                                (other.as_float().ok(), w.get(i + 2).and_then(num))
                            else {
                                break;
                            };
                            let last = (last.max(0.0) as u32)
                                .min(first.saturating_add(MAX_CID_WIDTHS as u32));
                            for cid in first..=last {
                                cid_widths.insert(cid, width);
                            }
                            i += 3;
                        }
                        None => break,
                    }
                }
            }
            let encoding = font.get(b"Encoding").ok().and_then(|o| deref(doc, o));
            let vertical = match encoding {
                Some(Object::Name(name)) => name.ends_with(b"-V") || name.as_slice() == b"V",
                Some(Object::Stream(cmap)) => {
                    cmap.dict.get(b"WMode").and_then(Object::as_i64).ok() == Some(1)
                }
                _ => false,
            };
            let vertical_advance = descendant
                .and_then(|d| d.get(b"DW2").ok())
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_array().ok())
                .and_then(|a| a.get(1))
                .and_then(num)
                .map(f32::abs)
                .filter(|v| *v > 0.0)
                .unwrap_or(1000.0);
            return Widths {
                first: 0,
                widths: Vec::new(),
                default,
                two_byte: true,
                cid_widths,
                unit: 0.001,
                vertical,
                vertical_advance,
                em: 1.0,
            };
        }
        let first = font.get(b"FirstChar").ok().and_then(num).unwrap_or(0.0) as u32;
        let widths: Vec<f32> = font
            .get(b"Widths")
            .ok()
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_array().ok())
            .map(|a| a.iter().map(|w| num(w).unwrap_or(500.0)).collect())
            .unwrap_or_default();
        let type3 =
            font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type3".as_slice());
        let unit = font
            .get(b"FontMatrix")
            .ok()
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_array().ok())
            .and_then(|m| m.first())
            .and_then(num)
            .map(f32::abs)
            .filter(|u| type3 && u.is_finite() && *u > 0.0 && *u <= 10.0)
            .unwrap_or(0.001);
        let em = if type3 { type3_em(&widths, unit) } else { 1.0 };
        Widths {
            first,
            widths,
            // Half an em, in whatever units the font's widths use.
            default: 0.5 / unit,
            two_byte: false,
            cid_widths: std::collections::HashMap::new(),
            unit,
            vertical: false,
            vertical_advance: 1000.0,
            em,
        }
    }

    /// Advance of a string in text space units at font size 1, and its number of codes.
    pub(crate) fn advance(&self, bytes: &[u8]) -> f32 {
        if self.two_byte {
            return bytes
                .chunks(2)
                .map(|pair| {
                    let cid = pair.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b));
                    self.cid_widths.get(&cid).copied().unwrap_or(self.default)
                })
                .sum::<f32>()
                * self.unit;
        }
        bytes
            .iter()
            .map(|&b| {
                let i = (b as u32).wrapping_sub(self.first) as usize;
                self.widths
                    .get(i)
                    .copied()
                    .filter(|w| *w > 0.0)
                    .unwrap_or(self.default)
            })
            .sum::<f32>()
            * self.unit
    }

    /// The font's em in text space at font size 1 (see the field).
    pub(crate) fn em(&self) -> f32 {
        self.em
    }

    /// A simple font that lists no widths but names one of the standard 14 fonts takes
    /// that font's built-in widths, each code the width of the character it reads as.
    pub(crate) fn or_standard(mut self, font: &Dictionary, decoder: &Decoder<'_>) -> Widths {
        if self.two_byte || !self.widths.is_empty() {
            return self;
        }
        let Some(table) = font
            .get(b"BaseFont")
            .and_then(Object::as_name)
            .ok()
            .and_then(crate::pdf_std14::widths)
        else {
            return self;
        };
        self.first = 0;
        self.widths = (0..=255u8)
            .map(|code| {
                decoder
                    .decode(&[code])
                    .and_then(|t| t.chars().next())
                    .and_then(|c| table.get(&c).copied())
                    .unwrap_or(0.0)
            })
            .collect();
        self
    }

    /// A one-byte code's width as the font lists it (a listed 0 is 0, where `advance`
    /// takes it for a missing width), at font size 1.
    pub(crate) fn listed(&self, code: u8) -> f32 {
        let i = u32::from(code).wrapping_sub(self.first) as usize;
        self.widths.get(i).copied().unwrap_or(self.default) * self.unit
    }

    /// How far a string moves the pen down in vertical writing, at font size 1.
    pub(crate) fn vertical_advance(&self, bytes: &[u8]) -> f32 {
        bytes.len().div_ceil(2) as f32 * self.vertical_advance * 0.001
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
    fn composite_fonts_take_glyph_widths_from_their_w_array() {
        use lopdf::dictionary;
        let doc = Document::new();
        let font = dictionary! {
            "Type" => "Font",
            "Subtype" => "Type0",
            "DescendantFonts" => vec![Object::Dictionary(dictionary! {
                "DW" => 1000,
                "W" => vec![
                    1.into(), vec![500.into(), 600.into()].into(),
                    10.into(), 12.into(), 250.into(),
                ],
            })],
        };
        let widths = Widths::of(&doc, &font);
        // CIDs 1, 2 (listed), 11 (in the 10..12 range) and 50 (the default width).
        let advance = widths.advance(&[0, 1, 0, 2, 0, 11, 0, 50]);
        assert!((advance - 2.35).abs() < 1e-4, "{advance}");
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

    #[test]
    fn type3_widths_are_in_the_font_matrix_units() {
        use lopdf::dictionary;
        let doc = Document::new();
        let font = dictionary! {
            "Type" => "Font",
            "Subtype" => "Type3",
            "FontMatrix" => vec![0.01.into(), 0.into(), 0.into(), 0.01.into(), 0.into(), 0.into()],
            "FirstChar" => 65,
            "Widths" => vec![50.into(), 50.into()],
        };
        let advance = Widths::of(&doc, &font).advance(b"AB");
        assert!((advance - 1.0).abs() < 1e-4, "{advance}");
    }

    #[test]
    fn vertical_cmaps_make_vertical_fonts() {
        use lopdf::dictionary;
        let doc = Document::new();
        let font = |encoding: &str| {
            dictionary! {
                "Type" => "Font",
                "Subtype" => "Type0",
                "Encoding" => encoding,
                "DescendantFonts" => vec![Object::Dictionary(dictionary! { "DW2" => vec![880.into(), (-500).into()] })],
            }
        };
        let vertical = Widths::of(&doc, &font("Identity-V"));
        assert!(vertical.vertical);
        assert!((vertical.vertical_advance(&[0, 1, 0, 2]) - 1.0).abs() < 1e-4);
        assert!(!Widths::of(&doc, &font("UniJIS-UCS2-H")).vertical);
        assert!(Widths::of(&doc, &font("90ms-RKSJ-V")).vertical);
    }
}
