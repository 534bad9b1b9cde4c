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
use lopdf::{Dictionary, Document, Object, ObjectId};

use crate::pdf::{deref, dict_entry};
use crate::pdf_content::{decode_content, operation_boundary};
use crate::pdf_font::{Decoder, Widths};
use crate::{Deadline, ExtractError};

/// Form XObjects nested deeper than this are not followed.
const MAX_FORM_DEPTH: usize = 8;
/// A horizontal gap wider than this share of the font size between two positioned runs is a
/// word space; narrower ones are kerning or per-glyph placement.
const GAP_SPACE: f32 = 0.15;
/// Character spacing (`Tc`) of this many ems or more places glyphs apart rather than
/// spacing out a word's letters (tracking stays well under half an em).
const PLACED_APART: f32 = 1.0;
/// A content stream longer than twice this is parsed and run in pieces of about this size
/// (512 KiB: a piece's operations take some 35 MiB).
const CONTENT_PIECE: usize = 512 << 10;
/// A change of text rise larger than this share of the font size starts a new word (a
/// superscript is raised a third of the size or more).
const RISE_SPACE: f32 = 0.2;

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
    drawn: HashMap<u64, Vec<(f32, f32)>>,
    /// The visible page (its crop box, `[x0 y0 x1 y1]` in default user space): text drawn
    /// wholly outside it is not on the page.
    bounds: Option<[f32; 4]>,
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
            drawn: HashMap::new(),
            bounds: None,
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
                    && let Some(decoder) =
                        crate::pdf_font::decoder(self.doc, font, self.max_content)
                {
                    let widths = Widths::of(self.doc, font).or_standard(font, &decoder);
                    out.insert(name.clone(), (decoder, widths));
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
        let encodings = self.encodings(&resources);
        let mut state = StreamState {
            ctm,
            saved: Vec::new(),
            text: TextState::default(),
        };
        // A large stream is parsed and run a piece at a time, cut between operations:
        // lopdf's parsed operations take up to some 70 times the bytes they came from, and
        // a stream may be 64 MiB (a hostile page's 9 MB of operators peaked at 620 MB).
        let mut start = 0;
        while start < content.len() {
            let end = if content.len() - start > 2 * CONTENT_PIECE {
                // The last cut was at the outermost level: scanning goes on from there.
                operation_boundary(&content[start..], CONTENT_PIECE)
                    .map_or(content.len(), |cut| start + cut)
            } else {
                content.len()
            };
            let piece = &content[start..end];
            start = end;
            // Nothing of this piece parses: the page goes on.
            let Some(ops) = decode_content(piece) else {
                continue;
            };
            self.run_operations(&ops, &resources, &encodings, &mut state, depth)?;
        }
        Ok(())
    }

    /// Runs parsed operations (a stream or a piece of one) on the state of the stream.
    fn run_operations<'f>(
        &mut self,
        content: &Content,
        resources: &[&'d Dictionary],
        encodings: &'f BTreeMap<Vec<u8>, (Decoder<'d>, Widths)>,
        state: &mut StreamState<'f, 'd>,
        depth: usize,
    ) -> Result<(), ExtractError> {
        let StreamState { ctm, saved, text } = state;
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
                "q" if saved.len() < 256 => saved.push(*ctm),
                "Q" => *ctm = saved.pop().unwrap_or(*ctm),
                "cm" => {
                    let m = [num(0), num(1), num(2), num(3), num(4), num(5)];
                    *ctm = mul(&m, ctm);
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
                // is not part of the word before it. A rise of a fraction of the letters'
                // height is a baseline set to wave, letter by letter, within one word.
                "Ts" => {
                    if (num(0) - text.rise).abs() > RISE_SPACE * text.size.abs() {
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
                "Tj" => self.show(text, ctm, op.operands.first()),
                "'" => {
                    text.next_line(0.0, -text.leading);
                    self.show(text, ctm, op.operands.first());
                }
                "\"" => {
                    text.word_spacing = num(0);
                    text.char_spacing = num(1);
                    text.next_line(0.0, -text.leading);
                    self.show(text, ctm, op.operands.get(2));
                }
                "TJ" => {
                    if let Some(Ok(items)) = op.operands.first().map(Object::as_array) {
                        for item in items {
                            match item {
                                Object::String(..) => self.show(text, ctm, Some(item)),
                                other => {
                                    if let Ok(n) = other.as_float() {
                                        // Subtracted from the horizontal coordinate, or in
                                        // vertical writing from the vertical one.
                                        let shift = -n / 1000.0 * text.size;
                                        let vertical = text.font.is_some_and(|f| f.1.vertical);
                                        let m = if vertical {
                                            translate(0.0, shift)
                                        } else {
                                            translate(shift * text.scale, 0.0)
                                        };
                                        text.tm = mul(&m, &text.tm);
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
                    let Some(id) = self.xobject(resources, name) else {
                        continue;
                    };
                    self.draw_form(id, resources, ctm, depth)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Draws the form XObject `id` (a `Do`, or an annotation's appearance) with the
    /// resources it was drawn with and the current matrix; anything else is skipped.
    fn draw_form(
        &mut self,
        id: ObjectId,
        resources: &[&'d Dictionary],
        ctm: &Matrix,
        depth: usize,
    ) -> Result<(), ExtractError> {
        if !self.visited.insert(id) {
            return Ok(()); // already drawn on this page, or a cycle
        }
        let Ok(stream) = self.doc.get_object(id).and_then(Object::as_stream) else {
            return Ok(());
        };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form".as_slice()) {
            return Ok(());
        }
        let Ok(data) = stream
            .decompressed_content_with_limit(self.max_content)
            .or_else(|_| Ok::<_, lopdf::Error>(stream.content.clone()))
        else {
            return Ok(());
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
        self.run(&data, nested, mul(&matrix, ctm), depth + 1)
    }

    /// Shows one string: a line break or a space first when its position says so (compared
    /// with where the previous text ended, in device space and along the text direction),
    /// then its text; moves the text matrix past it.
    fn show(&mut self, text: &mut TextState<'_, 'd>, ctm: &Matrix, operand: Option<&Object>) {
        let (Some((encoding, widths)), Some(Object::String(bytes, _))) = (text.font, operand)
        else {
            return;
        };
        // Glyphs set an em or more apart by character spacing are placed one by one, not
        // the letters of a spaced-out word: Quartz draws two table cells' digits in one
        // string so, and takes the spacing back with `TJ` offsets. Each is shown alone, and
        // the pen stops where its glyph ends: positions decide the spaces and joins, as
        // they do for pdftotext.
        let code_len = if widths.two_byte { 2 } else { 1 };
        if !widths.vertical && bytes.len() > code_len && placed_apart(text) {
            for code in bytes.chunks(code_len) {
                let one = Object::String(code.to_vec(), lopdf::StringFormat::Literal);
                self.show(text, ctm, Some(&one));
            }
            return;
        }
        let trm = mul(&text.tm, ctm);
        let size = text.size.abs()
            * widths.em()
            * (trm[2] * trm[2] + trm[3] * trm[3])
                .sqrt()
                .max(f32::MIN_POSITIVE);
        // The direction the pen moves: along the baseline, or down in vertical writing.
        let (vx, vy) = if widths.vertical {
            (-trm[2], -trm[3])
        } else {
            (trm[0], trm[1])
        };
        let len = (vx * vx + vy * vy).sqrt();
        let dir = if len > 1e-6 {
            (vx / len, vy / len)
        } else {
            (1.0, 0.0)
        };
        let (x, y) = (trm[4], trm[5]);
        // Text wholly outside the visible page (set off the page by the layout, or by a crop
        // box that hides it) is not shown, as viewers and pdftotext leave it out; the pen
        // still moves past it.
        if let Some([x0, y0, x1, y1]) = self.bounds {
            let end = mul(&mul(&self.moved(text, widths, bytes), &text.tm), ctm);
            let reach = size.min(1e6);
            let (lo_x, hi_x) = (x.min(end[4]) - reach, x.max(end[4]) + reach);
            let (lo_y, hi_y) = (y.min(end[5]) - reach, y.max(end[5]) + reach);
            if hi_x < x0 || lo_x > x1 || hi_y < y0 || lo_y > y1 {
                text.tm = mul(&self.moved(text, widths, bytes), &text.tm);
                return;
            }
        }
        let decoded = encoding
            .decode(bytes)
            .map(|t| plain_letters(&t))
            .map(|t| spaced(t, encoding, widths, bytes));
        // The same text drawn again where it already is (a stamp applied twice, text
        // overprinted to look bold) is one text: shown once, like PDF viewers' copy.
        // Fake bold and shadows draw the same text again a fraction of a point away; a
        // repeated letter of a word drawn glyph by glyph lands a whole advance away. So the
        // same text nearer than a quarter of its own advance (and a third of the font size,
        // but at least a unit) to where it was drawn is a duplicate.
        let scale_x = (trm[0] * trm[0] + trm[1] * trm[1]).sqrt();
        let reach = (self.advance(text, widths, bytes).abs() * scale_x * 0.25)
            .min(size / 3.0)
            .max(1.0);
        let duplicate = decoded.as_ref().is_some_and(|t| {
            if t.trim().is_empty() {
                return false;
            }
            let key = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                t.hash(&mut h);
                h.finish()
            };
            let places = self.drawn.entry(key).or_default();
            let near = places
                .iter()
                .any(|&(px, py)| (px - x).abs() < reach && (py - y).abs() < reach);
            if !near && places.len() < 256 {
                places.push((x, y));
            }
            near
        });
        if duplicate {
            text.tm = mul(&self.moved(text, widths, bytes), &text.tm);
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
        text.tm = mul(&self.moved(text, widths, bytes), &text.tm);
        let end = if placed_apart(text) && !widths.vertical {
            // The glyph's own end, before the spacing that sets the next one apart.
            mul(
                &mul(&translate(-text.char_spacing * text.scale, 0.0), &text.tm),
                ctm,
            )
        } else {
            mul(&text.tm, ctm)
        };
        self.pen = Some(Pen {
            x: end[4],
            y: end[5],
            dir,
            size,
        });
    }
}

impl Interpreter<'_> {
    /// The move of the text matrix after a string: right, or down in vertical writing.
    fn moved(&self, text: &TextState<'_, '_>, widths: &Widths, bytes: &[u8]) -> Matrix {
        if widths.vertical {
            let codes = bytes.len().div_ceil(2) as f32;
            translate(
                0.0,
                -(widths.vertical_advance(bytes) * text.size + text.char_spacing * codes),
            )
        } else {
            translate(self.advance(text, widths, bytes), 0.0)
        }
    }

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

/// Whether the character spacing sets glyphs an em or more apart (see `show`).
fn placed_apart(text: &TextState<'_, '_>) -> bool {
    text.char_spacing >= PLACED_APART * text.size.abs() && text.size != 0.0
}

/// What one content stream's operations change as they run: the transformation matrix,
/// the matrices `q` saved, and the text state.
struct StreamState<'f, 'd> {
    ctm: Matrix,
    saved: Vec<Matrix>,
    text: TextState<'f, 'd>,
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

/// Hebrew and Arabic letters, and their points and vowel marks.
/// `text` without NULs and with the Latin ligatures of Unicode's presentation forms
/// (U+FB00–FB06: ff, fi, fl, ffi, ffl, long st, st) spelt out, as pdftotext writes them: a
/// font's ToUnicode maps its `fi` glyph to U+FB01, and "ﬁrst" is not the word a search for
/// "first" finds.
/// A one-byte font's string whose codes did not all decode to text (fewer characters than
/// codes), decoded again code by code: a code that reads as nothing but moves the pen as
/// far as a word space leaves a gap between words, as it does on the page (a subset font's
/// space at a control code, a `/.notdef`), and so reads as a space. `text` as it is
/// otherwise.
fn spaced(text: String, encoding: &Decoder<'_>, widths: &Widths, bytes: &[u8]) -> String {
    if widths.two_byte || text.chars().count() >= bytes.len() {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 4);
    for &b in bytes {
        let piece = encoding.decode(&[b]).unwrap_or_default();
        if !piece.is_empty() {
            out.push_str(&plain_letters(&piece));
        } else if widths.listed(b) > GAP_SPACE && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out
}

fn plain_letters(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c == '\0' || ('\u{FB00}'..='\u{FB06}').contains(&c))
    {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        match c {
            '\0' => {}
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            c => out.push(c),
        }
    }
    out
}

fn is_rtl(c: char) -> bool {
    matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF)
}

fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x0591..=0x05BD | 0x05BF | 0x05C1..=0x05C2 | 0x05C4..=0x05C5 | 0x05C7
        | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06ED)
}

/// Lines are assembled from glyphs placed left to right, so right-to-left text in them is
/// in visual order: each run of Hebrew or Arabic (with the spaces inside it) is turned back
/// into reading order, a letter keeping the marks that follow it.
fn logical_order(text: &str) -> String {
    if !text.chars().any(is_rtl) {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !is_rtl(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i;
        while end < chars.len() && (is_rtl(chars[end]) || chars[end] == ' ') {
            end += 1;
        }
        while end > i && chars[end - 1] == ' ' {
            end -= 1;
        }
        let mut clusters: Vec<&[char]> = Vec::new();
        let mut start = i;
        for k in i + 1..=end {
            if k == end || !is_mark(chars[k]) {
                clusters.push(&chars[start..k]);
                start = k;
            }
        }
        for cluster in clusters.iter().rev() {
            out.extend(cluster.iter());
        }
        i = end;
    }
    out
}

/// The visible area of a page: its crop box (inherited from the page tree like the media
/// box), else its media box, normalised to `[x0 y0 x1 y1]`; `None` when neither is a
/// usable rectangle (then nothing is cut).
fn page_box(doc: &Document, page_id: ObjectId) -> Option<[f32; 4]> {
    let rect = |key: &[u8]| {
        let mut dict = doc.get_dictionary(page_id).ok()?;
        for _ in 0..32 {
            if let Some(a) = dict.get(key).ok().and_then(|o| deref(doc, o)) {
                let v: Vec<f32> = a
                    .as_array()
                    .ok()?
                    .iter()
                    .filter_map(|n| deref(doc, n)?.as_float().ok())
                    .filter(|n| n.is_finite())
                    .collect();
                let [a, b, c, d] = v[..] else { return None };
                let r = [a.min(c), b.min(d), a.max(c), b.max(d)];
                return (r[2] - r[0] > 1.0 && r[3] - r[1] > 1.0).then_some(r);
            }
            dict = dict_entry(doc, dict, b"Parent")?;
        }
        None
    };
    rect(b"CropBox").or_else(|| rect(b"MediaBox"))
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
    interp.bounds = page_box(doc, page_id);
    interp.run(&content, resources, IDENTITY, 0)?;
    Ok(in_logical_order(interp.out))
}

/// The text of an annotation's appearance (a form XObject), as a viewer draws it over the
/// page: a free-text note, a stamp, a push button's caption.
pub(crate) fn appearance_text(
    doc: &Document,
    form: ObjectId,
    deadline: Deadline,
    max_content: usize,
) -> Result<String, ExtractError> {
    let mut interp = Interpreter::new(doc, deadline, max_content);
    interp.draw_form(form, &[], &IDENTITY, 0)?;
    Ok(in_logical_order(interp.out))
}

/// `text` with each line that holds right-to-left script in logical order.
fn in_logical_order(text: String) -> String {
    if !text.chars().any(is_rtl) {
        return text;
    }
    text.split('\n')
        .map(logical_order)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_compose_in_pdf_order() {
        // Scale by 2, then move by (10, 0): the point (1, 0) lands on (12, 0).
        let m = mul(&[2.0, 0.0, 0.0, 2.0, 0.0, 0.0], &translate(10.0, 0.0));
        assert_eq!((m[4] + m[0], m[5] + m[1]), (12.0, 0.0));
    }

    #[test]
    fn right_to_left_runs_drawn_in_visual_order_read_in_logical_order() {
        assert_eq!(logical_order("גבא 12 והד"), "אבג 12 דהו");
        // A point (dagesh) stays with its letter; two words of one run swap places.
        assert_eq!(logical_order("א\u{5BC}ב גד"), "דג בא\u{5BC}");
        assert_eq!(logical_order("plain"), "plain");
    }
}
