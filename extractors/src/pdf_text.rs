//! A small content-stream interpreter on lopdf's objects: text operators with their
//! positioning (a vertical move starts a line, a horizontal jump or a wide `TJ` gap is a
//! space), fonts decoded through lopdf's encodings (ToUnicode, `/Differences`, standard
//! encodings), and Form XObjects followed through `Do` with their own resources, a depth
//! limit and a visited set (so self-referencing XObjects cannot loop).

use std::collections::{BTreeMap, HashSet};

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

use crate::pdf_cmap::ToUnicode;
use crate::{Deadline, ExtractError};

/// How a font's string bytes become text.
enum Decoder<'d> {
    /// lopdf's own (a parsed ToUnicode, `/Differences`, or a standard encoding).
    Lopdf(Encoding<'d>),
    /// Our reading of a ToUnicode CMap lopdf refused.
    Cmap(ToUnicode),
    /// A composite font without ToUnicode whose `/Encoding` is one of the predefined CJK
    /// CMaps: its codes are a legacy character encoding, decoded as such.
    Predefined(Legacy),
}

/// The character encodings behind Adobe's predefined CJK CMaps (PDF 32000 9.7.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Legacy {
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
    fn decode(&self, bytes: &[u8]) -> Option<String> {
        match self {
            Decoder::Lopdf(e) => e.bytes_to_string(bytes).ok(),
            Decoder::Cmap(c) => Some(c.decode(bytes)),
            Decoder::Predefined(legacy) => Some(legacy.decode(bytes)),
        }
    }
}

/// Form XObjects nested deeper than this are not followed.
const MAX_FORM_DEPTH: usize = 8;
/// A `TJ` adjustment below this (thousandths of an em) separates words.
const TJ_SPACE: f32 = -180.0;
/// A horizontal gap wider than this share of the font size between two positioned runs is a
/// word space; narrower ones are kerning or per-glyph placement.
const GAP_SPACE: f32 = 0.15;

/// Glyph widths of one font, in thousandths of an em, to know where the pen is after a
/// string: the gap to the next positioned run decides whether a space separates them.
#[derive(Debug, Clone)]
struct Widths {
    first: u32,
    widths: Vec<f32>,
    default: f32,
    two_byte: bool,
}

impl Widths {
    fn of(doc: &Document, font: &Dictionary) -> Widths {
        let num = |o: &Object| deref(doc, o).and_then(|o| o.as_float().ok());
        if font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type0".as_slice()) {
            let default = font
                .get(b"DescendantFonts")
                .ok()
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_array().ok())
                .and_then(|a| a.first())
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_dict().ok())
                .and_then(|d| d.get(b"DW").ok())
                .and_then(num)
                .unwrap_or(1000.0);
            return Widths {
                first: 0,
                widths: Vec::new(),
                default,
                two_byte: true,
            };
        }
        let first = font.get(b"FirstChar").ok().and_then(num).unwrap_or(0.0) as u32;
        let widths = font
            .get(b"Widths")
            .ok()
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_array().ok())
            .map(|a| a.iter().map(|w| num(w).unwrap_or(500.0)).collect())
            .unwrap_or_default();
        Widths {
            first,
            widths,
            default: 500.0,
            two_byte: false,
        }
    }

    /// Advance of a string in text space units at font size 1.
    fn advance(&self, bytes: &[u8]) -> f32 {
        if self.two_byte {
            return (bytes.len() / 2) as f32 * self.default / 1000.0;
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
            / 1000.0
    }
}

pub(crate) struct Interpreter<'d> {
    doc: &'d Document,
    deadline: Deadline,
    max_content: usize,
    visited: HashSet<ObjectId>,
    pub(crate) out: String,
}

fn deref<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Object> {
    doc.dereference(obj).ok().map(|(_, o)| o)
}

fn dict_entry<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Dictionary> {
    deref(doc, dict.get(key).ok()?)?.as_dict().ok()
}

impl<'d> Interpreter<'d> {
    pub(crate) fn new(doc: &'d Document, deadline: Deadline, max_content: usize) -> Self {
        Interpreter {
            doc,
            deadline,
            max_content,
            visited: HashSet::new(),
            out: String::new(),
        }
    }

    fn space(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with(char::is_whitespace) {
            self.out.push(' ');
        }
    }

    fn newline(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    /// A font's decoder, in the PDF spec's order: its ToUnicode CMap first (our tolerant
    /// reader; lopdf's parser when ours finds nothing), then a predefined CJK CMap, else
    /// lopdf's encoding handling. Ours goes first because lopdf applies codespace ranges
    /// strictly byte by byte, and producers write them as plain numeric ranges
    /// (`<0003> <0372>`): lopdf then garbles every code whose low byte is outside.
    fn decoder(&self, font: &'d Dictionary) -> Option<Decoder<'d>> {
        let lopdf = font
            .get_font_encoding_with_limit(self.doc, self.max_content)
            .ok();
        let ours = font
            .get(b"ToUnicode")
            .ok()
            .and_then(|o| deref(self.doc, o))
            .and_then(|o| o.as_stream().ok())
            .and_then(|s| {
                s.decompressed_content_with_limit(self.max_content)
                    .ok()
                    .or_else(|| Some(s.content.clone()))
            })
            .and_then(|data| ToUnicode::parse(&data))
            .map(|cmap| {
                let composite = font.get(b"Subtype").and_then(Object::as_name).ok()
                    == Some(b"Type0".as_slice());
                if composite { cmap } else { cmap.single_byte() }
            });
        if let Some(cmap) = ours {
            return Some(Decoder::Cmap(cmap));
        }
        if matches!(lopdf, Some(Encoding::UnicodeMapEncoding(_))) {
            return lopdf.map(Decoder::Lopdf);
        }
        let predefined = (font.get(b"Subtype").and_then(Object::as_name).ok()
            == Some(b"Type0".as_slice()))
        .then(|| font.get(b"Encoding").and_then(Object::as_name).ok())
        .flatten()
        .and_then(Legacy::of);
        match predefined {
            Some(legacy) => Some(Decoder::Predefined(legacy)),
            None => lopdf.map(Decoder::Lopdf),
        }
    }

    /// Font name → (decoder, widths), nearest resources first.
    fn encodings(&self, resources: &[&'d Dictionary]) -> BTreeMap<Vec<u8>, (Decoder<'d>, Widths)> {
        let mut out = BTreeMap::new();
        for res in resources {
            let Some(fonts) = dict_entry(self.doc, res, b"Font") else {
                continue;
            };
            for (name, font) in fonts.iter() {
                if out.contains_key(name) {
                    continue;
                }
                if let Some(font) = deref(self.doc, font).and_then(|f| f.as_dict().ok())
                    && let Some(decoder) = self.decoder(font)
                {
                    out.insert(name.clone(), (decoder, Widths::of(self.doc, font)));
                }
            }
        }
        out
    }

    fn xobject(&self, resources: &[&'d Dictionary], name: &[u8]) -> Option<ObjectId> {
        resources.iter().find_map(|res| {
            dict_entry(self.doc, res, b"XObject")?
                .get(name)
                .ok()?
                .as_reference()
                .ok()
        })
    }

    /// Interprets one content stream with the given resources (nearest first).
    pub(crate) fn run(
        &mut self,
        content: &[u8],
        resources: Vec<&'d Dictionary>,
        depth: usize,
    ) -> Result<(), ExtractError> {
        let Ok(content) = Content::decode(content) else {
            return Ok(()); // an unparsable stream contributes nothing; the page goes on
        };
        let encodings = self.encodings(&resources);
        let mut font: Option<&(Decoder<'d>, Widths)> = None;
        let mut size = 1.0f32;
        // The text line matrix's origin and horizontal scale, and how far the pen has moved
        // from that origin since (text space units).
        let mut line: Option<(f32, f32, f32)> = None;
        let mut pen = 0.0f32;
        let mut rise = 0.0f32;
        for (i, op) in content.operations.iter().enumerate() {
            if i % 1024 == 0 {
                self.deadline.check()?;
            }
            let num = |k: usize| {
                op.operands
                    .get(k)
                    .and_then(|o| o.as_float().ok())
                    .unwrap_or(0.0)
            };
            match op.operator.as_str() {
                "BT" => {
                    line = Some((0.0, 0.0, 1.0));
                    pen = 0.0;
                }
                "ET" => self.newline(),
                "Tf" => {
                    font = op
                        .operands
                        .first()
                        .and_then(|o| o.as_name().ok())
                        .and_then(|n| encodings.get(n));
                    size = num(1).abs().max(0.1);
                }
                "Td" | "TD" => {
                    let (tx, ty) = (num(0), num(1));
                    if ty.abs() > 0.01 {
                        self.newline();
                    } else if tx - pen * size > GAP_SPACE * size {
                        self.space();
                    }
                    if let Some((x, y, scale)) = line.as_mut() {
                        *x += tx * *scale;
                        *y += ty * *scale;
                    }
                    pen = 0.0;
                }
                "Tm" => {
                    let (scale, x, y) = (num(0).abs().max(0.01), num(4), num(5));
                    match line {
                        Some((_, py, _)) if (py - y).abs() > 0.3 * size * scale => self.newline(),
                        Some((px, _, pscale))
                            if x - (px + pen * size * pscale) > GAP_SPACE * size * scale =>
                        {
                            self.space();
                        }
                        _ => {}
                    }
                    line = Some((x, y, scale));
                    pen = 0.0;
                }
                "T*" => {
                    self.newline();
                    pen = 0.0;
                }
                // A rise moves the baseline (superscripts, footnote marks): what is raised
                // is not part of the word before it.
                "Ts" => {
                    if (num(0) - rise).abs() > 0.01 {
                        self.space();
                    }
                    rise = num(0);
                }
                "Tj" => pen += self.show(font, op.operands.first()),
                "'" => {
                    self.newline();
                    pen = self.show(font, op.operands.first());
                }
                "\"" => {
                    self.newline();
                    pen = self.show(font, op.operands.get(2));
                }
                "TJ" => {
                    if let Some(Ok(items)) = op.operands.first().map(Object::as_array) {
                        for item in items {
                            match item {
                                Object::String(..) => pen += self.show(font, Some(item)),
                                other => {
                                    if let Ok(n) = other.as_float() {
                                        pen -= n / 1000.0;
                                        if n < TJ_SPACE {
                                            self.space();
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                "Do" if depth < MAX_FORM_DEPTH => {
                    let Some(name) = op.operands.first().and_then(|o| o.as_name().ok()) else {
                        continue;
                    };
                    let Some(id) = self.xobject(&resources, name) else {
                        continue;
                    };
                    if !self.visited.insert(id) {
                        continue; // already drawn on this page, or a cycle
                    }
                    let Ok(stream) = self.doc.get_object(id).and_then(Object::as_stream) else {
                        continue;
                    };
                    if stream.dict.get(b"Subtype").and_then(Object::as_name).ok()
                        != Some(b"Form".as_slice())
                    {
                        continue;
                    }
                    let Ok(data) = stream
                        .decompressed_content_with_limit(self.max_content)
                        .or_else(|_| Ok::<_, lopdf::Error>(stream.content.clone()))
                    else {
                        continue;
                    };
                    let mut nested = Vec::with_capacity(resources.len() + 1);
                    if let Some(own) = dict_entry(self.doc, &stream.dict, b"Resources") {
                        nested.push(own);
                    }
                    nested.extend(resources.iter().copied());
                    self.newline();
                    self.run(&data, nested, depth + 1)?;
                    self.newline();
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Appends a string's text; returns its advance at font size 1.
    fn show(&mut self, font: Option<&(Decoder<'d>, Widths)>, operand: Option<&Object>) -> f32 {
        let (Some((encoding, widths)), Some(Object::String(bytes, _))) = (font, operand) else {
            return 0.0;
        };
        if let Some(text) = encoding.decode(bytes) {
            self.out.push_str(&text.replace('\0', ""));
        }
        widths.advance(bytes)
    }
}

/// The text of one page.
pub(crate) fn page_text(
    doc: &Document,
    page_id: ObjectId,
    deadline: Deadline,
    max_content: usize,
) -> Result<String, ExtractError> {
    let content = doc
        .get_page_content_with_limit(page_id, max_content)
        .map_err(|e| ExtractError::new(crate::ErrorKind::Corrupt, format!("page content: {e}")))?;
    let mut resources = Vec::new();
    if let Ok((dict, ids)) = doc.get_page_resources(page_id) {
        resources.extend(dict);
        resources.extend(ids.into_iter().filter_map(|id| doc.get_dictionary(id).ok()));
    }
    let mut interp = Interpreter::new(doc, deadline, max_content);
    interp.run(&content, resources, 0)?;
    Ok(interp.out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
