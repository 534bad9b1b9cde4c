//! A small content-stream interpreter on lopdf's objects. It tracks the graphics state's
//! transformation matrix (`q`/`Q`/`cm`, a Form's `/Matrix`) and the text state (`Tm`, `Td`,
//! `TL`, `Tc`, `Tw`, `Tz`, glyph widths from `/Widths` or a composite font's `/W`), so each
//! string lands where it does on the page: text further along the same baseline continues
//! the line (a gap wider than `GAP_SPACE` is a space), text on another baseline or turned
//! another way starts a new one — whatever text objects, forms or moves produced it. Text
//! comes out in drawing order. Fonts decode through ToUnicode, predefined CJK CMaps or
//! lopdf's encodings; Form XObjects are followed through `Do` with their own resources, a
//! depth limit and a visited set (so self-referencing XObjects cannot loop).

use std::collections::{BTreeMap, HashMap, HashSet};

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
    /// An Identity-encoded TrueType font without ToUnicode: two-byte codes are CIDs, CIDs map
    /// to glyphs (`/CIDToGIDMap`), glyphs back to characters through the embedded font's
    /// own `cmap` table.
    Glyphs(HashMap<u16, char>),
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
            Decoder::Glyphs(chars) => Some(
                bytes
                    .chunks_exact(2)
                    .filter_map(|p| chars.get(&u16::from_be_bytes([p[0], p[1]])))
                    .collect(),
            ),
        }
    }
}

/// Form XObjects nested deeper than this are not followed.
const MAX_FORM_DEPTH: usize = 8;
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
    /// Composite fonts: two-byte codes (CIDs under Identity encodings) and their `/W` widths.
    two_byte: bool,
    cid_widths: std::collections::HashMap<u32, f32>,
}

/// At most this many `/W` entries are read (a CJK font has tens of thousands at most).
const MAX_CID_WIDTHS: usize = 70_000;

impl Widths {
    fn of(doc: &Document, font: &Dictionary) -> Widths {
        let num = |o: &Object| deref(doc, o).and_then(|o| o.as_float().ok());
        if font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type0".as_slice()) {
            let descendant = font
                .get(b"DescendantFonts")
                .ok()
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_array().ok())
                .and_then(|a| a.first())
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_dict().ok());
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
            return Widths {
                first: 0,
                widths: Vec::new(),
                default,
                two_byte: true,
                cid_widths,
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
            cid_widths: std::collections::HashMap::new(),
        }
    }

    /// Advance of a string in text space units at font size 1, and its number of codes.
    fn advance(&self, bytes: &[u8]) -> f32 {
        if self.two_byte {
            return bytes
                .chunks(2)
                .map(|pair| {
                    let cid = pair.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b));
                    self.cid_widths.get(&cid).copied().unwrap_or(self.default)
                })
                .sum::<f32>()
                / 1000.0;
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

/// An affine matrix `[a b c d e f]` as PDF writes them (row vector times matrix).
type Matrix = [f32; 6];

const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `m` then `n`: a point goes through `m` first.
fn mul(m: &Matrix, n: &Matrix) -> Matrix {
    [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]
}

fn translate(tx: f32, ty: f32) -> Matrix {
    [1.0, 0.0, 0.0, 1.0, tx, ty]
}

/// Where the previous text run ended on the page, to place the next one.
#[derive(Debug, Clone, Copy)]
struct Pen {
    /// End point in device space.
    x: f32,
    y: f32,
    /// Unit vector of the text direction, and the font size, in device space.
    dir: (f32, f32),
    size: f32,
}

pub(crate) struct Interpreter<'d> {
    doc: &'d Document,
    deadline: Deadline,
    max_content: usize,
    visited: HashSet<ObjectId>,
    pub(crate) out: String,
    /// The end of the last text shown on this page (across text objects and forms).
    pen: Option<Pen>,
    /// Text already shown on this page, with its device position (2-unit cells).
    drawn: HashSet<(String, i64, i64)>,
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
            pen: None,
            drawn: HashSet::new(),
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

    /// A word hyphenated across a line break ("adminis-" then "trator") is joined when the
    /// next line goes on in lower case: the hyphen was the typesetter's, not the word's.
    /// (A compound that happens to break at its own hyphen loses it: "well-known" at a line
    /// end becomes "wellknown" — rarer, and the price every extractor pays.)
    fn join_hyphenated(&mut self, next: &str) {
        if !next.chars().next().is_some_and(char::is_lowercase) {
            return;
        }
        let Some(body) = self.out.strip_suffix('\n') else {
            return;
        };
        let Some(word) = body
            .strip_suffix('-')
            .or_else(|| body.strip_suffix('\u{AD}'))
        else {
            return;
        };
        if word.chars().last().is_some_and(char::is_alphabetic) {
            let keep = word.len();
            self.out.truncate(keep);
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
        if let Some(legacy) = predefined {
            return Some(Decoder::Predefined(legacy));
        }
        if let Some(chars) = self.embedded_cmap(font) {
            return Some(Decoder::Glyphs(chars));
        }
        lopdf.map(Decoder::Lopdf)
    }

    /// CID → character for an Identity-encoded composite font with an embedded TrueType
    /// program (`FontFile2`) whose `cmap` table survived subsetting.
    fn embedded_cmap(&self, font: &'d Dictionary) -> Option<HashMap<u16, char>> {
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
        let cid_font = font
            .get(b"DescendantFonts")
            .ok()
            .and_then(|o| deref(self.doc, o))
            .and_then(|o| o.as_array().ok())
            .and_then(|a| a.first())
            .and_then(|o| deref(self.doc, o))
            .and_then(|o| o.as_dict().ok())?;
        let program = dict_entry(self.doc, cid_font, b"FontDescriptor")?
            .get(b"FontFile2")
            .ok()
            .and_then(|o| deref(self.doc, o))
            .and_then(|o| o.as_stream().ok())?
            .decompressed_content_with_limit(self.max_content)
            .ok()?;
        // CID → glyph id: identity unless a /CIDToGIDMap stream says otherwise.
        let cid_to_gid = cid_font
            .get(b"CIDToGIDMap")
            .ok()
            .and_then(|o| deref(self.doc, o))
            .and_then(|o| o.as_stream().ok())
            .and_then(|s| s.decompressed_content_with_limit(self.max_content).ok());
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

    /// Interprets one content stream with the given resources (nearest first), drawn with
    /// the current transformation matrix `ctm`.
    pub(crate) fn run(
        &mut self,
        content: &[u8],
        resources: Vec<&'d Dictionary>,
        ctm: Matrix,
        depth: usize,
    ) -> Result<(), ExtractError> {
        let Ok(content) = Content::decode(content) else {
            return Ok(()); // an unparsable stream contributes nothing; the page goes on
        };
        let encodings = self.encodings(&resources);
        let mut ctm = ctm;
        let mut saved: Vec<Matrix> = Vec::new();
        let mut text = TextState::default();
        for (i, op) in content.operations.iter().enumerate() {
            if i % 1024 == 0 {
                self.deadline.check()?;
            }
            let num = |k: usize| {
                op.operands
                    .get(k)
                    .and_then(|o| o.as_float().ok())
                    .filter(|v| v.is_finite())
                    .unwrap_or(0.0)
            };
            match op.operator.as_str() {
                "q" if saved.len() < 256 => saved.push(ctm),
                "Q" => ctm = saved.pop().unwrap_or(ctm),
                "cm" => {
                    let m = [num(0), num(1), num(2), num(3), num(4), num(5)];
                    ctm = mul(&m, &ctm);
                }
                "BT" => {
                    text.tm = IDENTITY;
                    text.tlm = IDENTITY;
                }
                "Tf" => {
                    text.font = op
                        .operands
                        .first()
                        .and_then(|o| o.as_name().ok())
                        .and_then(|n| encodings.get(n));
                    text.size = num(1);
                }
                "Tc" => text.char_spacing = num(0),
                "Tw" => text.word_spacing = num(0),
                "Tz" => text.scale = num(0) / 100.0,
                "TL" => text.leading = num(0),
                // A rise moves the baseline (superscripts, footnote marks): what is raised
                // is not part of the word before it.
                "Ts" => {
                    if (num(0) - text.rise).abs() > 0.01 {
                        self.space();
                    }
                    text.rise = num(0);
                }
                "Td" => text.next_line(num(0), num(1)),
                "TD" => {
                    text.leading = -num(1);
                    text.next_line(num(0), num(1));
                }
                "Tm" => {
                    text.tlm = [num(0), num(1), num(2), num(3), num(4), num(5)];
                    text.tm = text.tlm;
                }
                "T*" => text.next_line(0.0, -text.leading),
                "Tj" => self.show(&mut text, &ctm, op.operands.first()),
                "'" => {
                    text.next_line(0.0, -text.leading);
                    self.show(&mut text, &ctm, op.operands.first());
                }
                "\"" => {
                    text.word_spacing = num(0);
                    text.char_spacing = num(1);
                    text.next_line(0.0, -text.leading);
                    self.show(&mut text, &ctm, op.operands.get(2));
                }
                "TJ" => {
                    if let Some(Ok(items)) = op.operands.first().map(Object::as_array) {
                        for item in items {
                            match item {
                                Object::String(..) => self.show(&mut text, &ctm, Some(item)),
                                other => {
                                    if let Ok(n) = other.as_float() {
                                        let tx = -n / 1000.0 * text.size * text.scale;
                                        text.tm = mul(&translate(tx, 0.0), &text.tm);
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
                    let matrix = stream
                        .dict
                        .get(b"Matrix")
                        .ok()
                        .and_then(|o| deref(self.doc, o))
                        .and_then(|o| o.as_array().ok())
                        .filter(|a| a.len() == 6)
                        .map(|a| {
                            let v: Vec<f32> = a
                                .iter()
                                .map(|x| x.as_float().ok().filter(|v| v.is_finite()).unwrap_or(0.0))
                                .collect();
                            [v[0], v[1], v[2], v[3], v[4], v[5]]
                        })
                        .unwrap_or(IDENTITY);
                    self.run(&data, nested, mul(&matrix, &ctm), depth + 1)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Shows one string: a line break or a space first when its position says so (compared
    /// with where the previous text ended, in device space and along the text direction),
    /// then its text; moves the text matrix past it.
    fn show(&mut self, text: &mut TextState<'_, 'd>, ctm: &Matrix, operand: Option<&Object>) {
        let (Some((encoding, widths)), Some(Object::String(bytes, _))) = (text.font, operand)
        else {
            return;
        };
        let trm = mul(&text.tm, ctm);
        let size = text.size.abs()
            * (trm[2] * trm[2] + trm[3] * trm[3])
                .sqrt()
                .max(f32::MIN_POSITIVE);
        let len = (trm[0] * trm[0] + trm[1] * trm[1]).sqrt();
        let dir = if len > 1e-6 {
            (trm[0] / len, trm[1] / len)
        } else {
            (1.0, 0.0)
        };
        let (x, y) = (trm[4], trm[5]);
        let decoded = encoding.decode(bytes).map(|t| t.replace('\0', ""));
        // The same text drawn again where it already is (a stamp applied twice, text
        // overprinted to look bold) is one text: shown once, like PDF viewers' copy.
        let duplicate = decoded.as_ref().is_some_and(|t| {
            !t.trim().is_empty()
                && !self.drawn.insert((
                    t.clone(),
                    (x / 2.0).round() as i64,
                    (y / 2.0).round() as i64,
                ))
        });
        if duplicate {
            text.tm = mul(&translate(self.advance(text, widths, bytes), 0.0), &text.tm);
            return;
        }
        if let Some(pen) = self.pen {
            let (dx, dy) = (x - pen.x, y - pen.y);
            // Along and across the previous text's direction.
            let along = dx * pen.dir.0 + dy * pen.dir.1;
            let across = dy * pen.dir.0 - dx * pen.dir.1;
            let em = pen.size.max(size).max(0.1);
            let turned = (dir.0 * pen.dir.0 + dir.1 * pen.dir.1) < 0.9;
            if turned || across.abs() > 0.5 * em || along < -3.0 * em {
                self.newline();
            } else if along > GAP_SPACE * em || along < -0.5 * em {
                self.space();
            }
        }
        if let Some(decoded) = decoded {
            self.join_hyphenated(&decoded);
            self.out.push_str(&decoded);
        }
        text.tm = mul(&translate(self.advance(text, widths, bytes), 0.0), &text.tm);
        let end = mul(&text.tm, ctm);
        self.pen = Some(Pen {
            x: end[4],
            y: end[5],
            dir,
            size,
        });
    }
}

impl Interpreter<'_> {
    /// How far a string moves the pen, in text space (PDF 32000 9.4.4).
    fn advance(&self, text: &TextState<'_, '_>, widths: &Widths, bytes: &[u8]) -> f32 {
        let spaces = if widths.two_byte {
            0
        } else {
            bytes.iter().filter(|&&b| b == b' ').count()
        };
        let codes = if widths.two_byte {
            bytes.len().div_ceil(2)
        } else {
            bytes.len()
        };
        (widths.advance(bytes) * text.size
            + text.char_spacing * codes as f32
            + text.word_spacing * spaces as f32)
            * text.scale
    }
}

/// The text state of one content stream (PDF 32000 9.3).
struct TextState<'f, 'd> {
    tm: Matrix,
    tlm: Matrix,
    font: Option<&'f (Decoder<'d>, Widths)>,
    size: f32,
    char_spacing: f32,
    word_spacing: f32,
    scale: f32,
    leading: f32,
    rise: f32,
}

impl Default for TextState<'_, '_> {
    fn default() -> Self {
        TextState {
            tm: IDENTITY,
            tlm: IDENTITY,
            font: None,
            size: 1.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            scale: 1.0,
            leading: 0.0,
            rise: 0.0,
        }
    }
}

impl TextState<'_, '_> {
    /// `Td`: a new line offset from the start of the current one.
    fn next_line(&mut self, tx: f32, ty: f32) {
        self.tlm = mul(&translate(tx, ty), &self.tlm);
        self.tm = self.tlm;
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
    interp.run(&content, resources, IDENTITY, 0)?;
    Ok(interp.out)
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
        let interp = Interpreter::new(
            &doc,
            Deadline::after(std::time::Duration::from_secs(5)),
            1 << 20,
        );
        let decoder = interp.decoder(&font).expect("a decoder");
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
    fn matrices_compose_in_pdf_order() {
        // Scale by 2, then move by (10, 0): the point (1, 0) lands on (12, 0).
        let m = mul(&[2.0, 0.0, 0.0, 2.0, 0.0, 0.0], &translate(10.0, 0.0));
        assert_eq!((m[4] + m[0], m[5] + m[1]), (12.0, 0.0));
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
