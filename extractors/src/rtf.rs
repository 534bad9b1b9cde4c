//! Rich Text Format: a single pass over the bytes with a stack of groups.
//!
//! What a reader sees is kept: body text, tables (cells ` | `-separated, one row a line),
//! fields' results, footnotes, headers and footers, text boxes (`\shptxt`), the `\info`
//! title. What is markup is dropped: font, colour and style tables, pictures and object
//! data (hex or `\bin`), field instructions, bookmarks, and every `\*` destination we do
//! not know. `\uN` gives a character and skips its `\ucN` fallback; `\'hh` and raw 8-bit
//! bytes are decoded in the code page of the current font's charset (or `\ansicpg`),
//! double-byte code pages included, through encoding_rs. The rtf-parser crate was not
//! used: it reads `&str` (RTF is bytes in a code page) and loses paragraph breaks (ADR 0027).

use std::collections::HashMap;

use encoding_rs::{Encoding, WINDOWS_1252};

use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

/// Groups nested deeper than this are refused (Word writes a few dozen at most).
const MAX_GROUP_DEPTH: usize = 1024;

/// Destinations whose content is not text a reader sees (space-separated).
const SKIPPED: &str = "fonttbl colortbl stylesheet listtable listoverridetable revtbl rsidtbl filetbl \
     xmlnstbl pgdsctbl themedata colorschememapping latentstyles datastore generator \
     pict nonshppict objdata objclass fldinst bkmkstart bkmkend sp private userprops \
     docvar template operator author company keywords comment doccomm subject \
     category manager hlinkbase creatim revtim printim buptim fchars lchars \
     wgrffmtfilter mmathPr panose falt fname atnid atnauthor atntime atrfstart \
     atrfend shprslt xe tc txe rxe";

fn skipped(word: &str) -> bool {
    SKIPPED.split_ascii_whitespace().any(|w| w == word)
}

/// `\*` destinations whose text is shown (shapes' text boxes, annotations' text).
const KEPT_STARRED: &[&str] = &["shpinst", "shptxt", "annotation", "atnref"];

#[derive(Debug, Clone, Copy)]
struct Group {
    skip: bool,
    title: bool,
    /// Inside a footnote or endnote: its text is written after the paragraph citing it.
    note: bool,
    /// Fallback characters after `\uN`.
    uc: usize,
    encoding: &'static Encoding,
}

/// The parser's state over one document.
struct Reader {
    b: DocBuilder,
    stack: Vec<Group>,
    group: Group,
    /// Bytes from `\'hh` or raw 8-bit text, decoded together (double-byte code pages).
    pending: Vec<u8>,
    /// Fallback characters still to skip after a `\uN`.
    skip_chars: usize,
    /// The paragraph so far.
    para: String,
    /// The cells of the table row so far, and the current cell.
    cells: Vec<String>,
    in_table: bool,
    /// The last block written was a table row (the next paragraph starts a new block).
    after_row: bool,
    /// Footnotes cited in the paragraph so far, one per line.
    notes: String,
    outline: Option<u8>,
    ansi: &'static Encoding,
    fonts: HashMap<i32, &'static Encoding>,
    font_table: bool,
    current_font: Option<i32>,
    title: String,
    deadline: Deadline,
}

/// The code page of a font charset (`\fcharsetN`), per the RTF specification's table.
fn charset_encoding(charset: i32) -> Option<&'static Encoding> {
    let cp = match charset {
        77 => 10000,
        128 => 932,
        129 => 949,
        130 => 1361,
        134 => 936,
        136 => 950,
        161 => 1253,
        162 => 1254,
        163 => 1258,
        177 => 1255,
        178 => 1256,
        186 => 1257,
        204 => 1251,
        222 => 874,
        238 => 1250,
        _ => return None,
    };
    codepage::to_encoding(cp)
}

impl Reader {
    fn flush_bytes(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.pending);
        let text = self
            .group
            .encoding
            .decode_without_bom_handling(&bytes)
            .0
            .into_owned();
        self.text(&text);
    }

    fn text(&mut self, s: &str) {
        if self.group.skip {
            return;
        }
        if self.group.title {
            self.title.push_str(s);
            return;
        }
        if self.group.note {
            self.notes.push_str(s);
            return;
        }
        self.para.push_str(s);
    }

    /// One character of text, or one fallback character skipped after `\uN`.
    fn char_or_skip(&mut self, s: &str) {
        if self.skip_chars > 0 {
            self.skip_chars -= 1;
            return;
        }
        self.text(s);
    }

    fn end_paragraph(&mut self) {
        self.flush_bytes();
        if self.group.skip || self.group.title {
            return;
        }
        if self.group.note {
            self.notes.push('\n');
            return;
        }
        let text = std::mem::take(&mut self.para);
        if self.in_table {
            // A paragraph mark inside a cell: the cell goes on.
            self.para = text;
            self.para.push(' ');
            return;
        }
        let text = text.trim();
        if !text.is_empty() {
            if std::mem::take(&mut self.after_row) {
                self.b.paragraph_break();
            }
            match self.outline {
                Some(level) if text.len() < 300 => self.b.heading(level, text),
                _ => {
                    self.b.paragraph(text);
                }
            }
        }
        for note in std::mem::take(&mut self.notes).lines() {
            self.b.paragraph(note);
        }
    }

    fn end_cell(&mut self) {
        self.flush_bytes();
        if self.group.skip {
            return;
        }
        let cell = std::mem::take(&mut self.para);
        self.cells
            .push(cell.split_whitespace().collect::<Vec<_>>().join(" "));
    }

    fn end_row(&mut self) {
        self.flush_bytes();
        if self.group.skip {
            return;
        }
        if !self.para.trim().is_empty() {
            self.end_cell();
        }
        self.para.clear();
        let cells: Vec<String> = std::mem::take(&mut self.cells)
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect();
        if !cells.is_empty() {
            self.b.push(&cells.join(" | "));
            self.b.line_break();
            self.after_row = true;
        }
        self.in_table = false;
    }

    fn control_word(&mut self, word: &str, param: Option<i32>, starred: bool) {
        self.flush_bytes();
        if self.group.skip {
            // Inside a skipped destination only the font table matters.
            if self.font_table {
                match (word, param) {
                    ("f", Some(n)) => self.current_font = Some(n),
                    ("fcharset", Some(c)) => {
                        if let (Some(f), Some(enc)) = (self.current_font, charset_encoding(c)) {
                            self.fonts.insert(f, enc);
                        }
                    }
                    _ => {}
                }
            }
            return;
        }
        if starred && !KEPT_STARRED.contains(&word) {
            self.group.skip = true;
            return;
        }
        if skipped(word) {
            self.group.skip = true;
            if word == "fonttbl" {
                self.font_table = true;
            }
            return;
        }
        if self.skip_chars > 0 && word != "u" {
            // A control word as a \uN fallback counts as one character.
            self.skip_chars -= 1;
            return;
        }
        match word {
            "title" => self.group.title = true,
            "footnote" => {
                self.group.note = true;
                if !self.notes.is_empty() && !self.notes.ends_with('\n') {
                    self.notes.push('\n');
                }
            }
            "ansicpg" => {
                if let Some(enc) = param
                    .and_then(|p| u16::try_from(p).ok())
                    .and_then(codepage::to_encoding)
                {
                    self.ansi = enc;
                    self.group.encoding = enc;
                }
            }
            "f" => {
                if let Some(n) = param {
                    self.group.encoding = self.fonts.get(&n).copied().unwrap_or(self.ansi);
                }
            }
            "uc" => self.group.uc = param.unwrap_or(1).clamp(0, 16) as usize,
            "u" => {
                let n = param.unwrap_or(0);
                let code = if n < 0 { n + 65536 } else { n } as u32;
                let c = char::from_u32(code).unwrap_or('\u{fffd}');
                self.text(c.encode_utf8(&mut [0; 4]));
                self.skip_chars = self.group.uc;
            }
            "par" | "sect" | "page" => self.end_paragraph(),
            "line" => self.text("\n"),
            "tab" => self.text("\t"),
            "cell" | "nestcell" => self.end_cell(),
            "row" | "nestrow" => self.end_row(),
            "intbl" => self.in_table = true,
            "pard" => {
                self.in_table = false;
                self.outline = None;
            }
            "outlinelevel" => {
                self.outline = param.filter(|p| (0..9).contains(p)).map(|p| p as u8 + 1);
            }
            "emdash" => self.text("\u{2014}"),
            "endash" => self.text("\u{2013}"),
            "bullet" => self.text("\u{2022}"),
            "lquote" => self.text("\u{2018}"),
            "rquote" => self.text("\u{2019}"),
            "ldblquote" => self.text("\u{201c}"),
            "rdblquote" => self.text("\u{201d}"),
            "emspace" | "enspace" | "qmspace" => self.text(" "),
            _ => {}
        }
    }
}

/// Parses a control word's letters and optional signed number at `input[i..]` (after the
/// backslash); returns the word, the number and the index after them (a delimiting space
/// is consumed).
fn control_word(input: &[u8], mut i: usize) -> (&str, Option<i32>, usize) {
    let start = i;
    while i < input.len() && input[i].is_ascii_alphabetic() && i - start < 32 {
        i += 1;
    }
    let word = std::str::from_utf8(&input[start..i]).unwrap_or("");
    let num_start = i;
    if i < input.len() && input[i] == b'-' {
        i += 1;
    }
    while i < input.len() && input[i].is_ascii_digit() && i - num_start < 11 {
        i += 1;
    }
    let param = std::str::from_utf8(&input[num_start..i])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .map(|n| n.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
    if i < input.len() && input[i] == b' ' {
        i += 1;
    }
    (word, param, i)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Extracts an RTF document.
pub(crate) fn extract(
    input: &[u8],
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    let mut r = Reader {
        b: DocBuilder::new(Format::Rtf, limits.max_output_bytes),
        stack: Vec::new(),
        group: Group {
            skip: false,
            title: false,
            note: false,
            uc: 1,
            encoding: WINDOWS_1252,
        },
        pending: Vec::new(),
        skip_chars: 0,
        para: String::new(),
        cells: Vec::new(),
        in_table: false,
        after_row: false,
        notes: String::new(),
        outline: None,
        ansi: WINDOWS_1252,
        fonts: HashMap::new(),
        font_table: false,
        current_font: None,
        title: String::new(),
        deadline,
    };
    let mut i = 0;
    let mut starred = false;
    let mut steps = 0u32;
    while i < input.len() {
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(16_384) {
            r.deadline.check()?;
        }
        if r.b.is_full() {
            break;
        }
        let c = input[i];
        match c {
            b'{' => {
                r.flush_bytes();
                if r.stack.len() >= MAX_GROUP_DEPTH {
                    return Err(ExtractError::new(
                        ErrorKind::TooLarge,
                        format!("rtf groups nested deeper than {MAX_GROUP_DEPTH}"),
                    ));
                }
                r.stack.push(r.group);
                r.skip_chars = 0;
                i += 1;
            }
            b'}' => {
                r.flush_bytes();
                if let Some(g) = r.stack.pop() {
                    if !g.skip && r.group.skip {
                        r.font_table = false;
                    }
                    r.group = g;
                }
                r.skip_chars = 0;
                i += 1;
            }
            b'\\' => {
                let Some(&next) = input.get(i + 1) else {
                    break;
                };
                if next.is_ascii_alphabetic() {
                    let (word, param, end) = control_word(input, i + 1);
                    if word == "bin" {
                        // Binary data: its length is the parameter, never text.
                        r.flush_bytes();
                        let n = param.unwrap_or(0).max(0) as usize;
                        i = end.saturating_add(n).min(input.len());
                        continue;
                    }
                    r.control_word(word, param, starred);
                    starred = false;
                    i = end;
                    continue;
                }
                i += 2;
                match next {
                    b'*' => {
                        starred = true;
                        continue;
                    }
                    b'\'' => {
                        let byte = input
                            .get(i..i + 2)
                            .and_then(|h| Some(hex(h[0])? << 4 | hex(h[1])?));
                        if byte.is_none() {
                            // A malformed escape: its stray hex digit is not text.
                            while i < input.len() && hex(input[i]).is_some() {
                                i += 1;
                            }
                        }
                        if let Some(byte) = byte {
                            i += 2;
                            if r.skip_chars > 0 {
                                r.skip_chars -= 1;
                            } else if !r.group.skip {
                                r.pending.push(byte);
                            }
                        }
                    }
                    b'\\' | b'{' | b'}' => {
                        r.flush_bytes();
                        r.char_or_skip(std::str::from_utf8(&[next]).unwrap_or(""));
                    }
                    b'~' => r.char_or_skip("\u{a0}"),
                    b'_' => r.char_or_skip("-"),
                    b'\n' | b'\r' => r.end_paragraph(),
                    _ => {}
                }
                starred = false;
            }
            b'\r' | b'\n' => i += 1,
            _ => {
                // A run of text up to the next special byte.
                let end = input[i..]
                    .iter()
                    .position(|&b| matches!(b, b'{' | b'}' | b'\\' | b'\r' | b'\n'))
                    .map_or(input.len(), |p| i + p);
                let mut run = &input[i..end];
                i = end;
                while r.skip_chars > 0 && !run.is_empty() {
                    r.skip_chars -= 1;
                    run = &run[1..];
                }
                if r.group.skip || run.is_empty() {
                    continue;
                }
                if run.is_ascii() {
                    r.flush_bytes();
                    let s = std::str::from_utf8(run).unwrap_or("");
                    r.text(s);
                } else {
                    r.pending.extend_from_slice(run);
                }
                starred = false;
            }
        }
    }
    r.group.skip = false;
    r.group.title = false;
    r.group.note = false;
    r.in_table = false;
    r.end_paragraph();
    let title = r.title.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut b = r.b;
    b.title = (!title.is_empty()).then_some(title);
    Ok(b.finish())
}

/// The RTF extractor.
#[derive(Debug)]
pub(crate) struct RtfExtractor;

impl Extractor for RtfExtractor {
    fn formats(&self) -> &'static [Format] {
        &[Format::Rtf]
    }

    fn extract(
        &self,
        input: &[u8],
        _format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        let start = input
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(input.len());
        if !crate::detect::is_rtf(&input[start..]) {
            return Err(ExtractError::new(
                ErrorKind::Corrupt,
                "not an rtf document: it does not start with {\\rtf",
            ));
        }
        extract(&input[start..], limits, deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn text(rtf: &str) -> String {
        RtfExtractor
            .extract(
                rtf.as_bytes(),
                Format::Rtf,
                &Limits::default(),
                Deadline::after(Duration::from_secs(5)),
            )
            .expect("extracts")
            .text()
    }

    #[test]
    fn unicode_fallbacks_are_skipped_by_count_and_end_with_the_group() {
        assert_eq!(text(r"{\rtf1\uc1\u233?t\u233?}"), "été");
        assert_eq!(text(r"{\rtf1{\uc2\u233\'e9\'e9t}\u233?}"), "été");
        // A group's end ends any fallback still pending.
        assert_eq!(text(r"{\rtf1{\uc3\u233 a}b}"), "éb");
        assert_eq!(text(r"{\rtf1\uc0\u8364\'80}"), "€€");
    }

    #[test]
    fn double_byte_code_pages_decode_pairs() {
        let rtf = r"{\rtf1\ansi\ansicpg936{\fonttbl{\f0\fcharset134 SimSun;}}\f0 \'d6\'d0\'ce\'c4}";
        assert_eq!(text(rtf), "中文");
    }

    #[test]
    fn hostile_input_is_bounded() {
        let deep = format!("{{\\rtf1{}x{}}}", "{".repeat(5000), "}".repeat(5000));
        let err = RtfExtractor
            .extract(
                deep.as_bytes(),
                Format::Rtf,
                &Limits::default(),
                Deadline::after(Duration::from_secs(5)),
            )
            .expect_err("too deep");
        assert_eq!(err.kind, ErrorKind::TooLarge);
        // A \bin length past the end, a truncated hex escape, unbalanced braces.
        assert_eq!(text(r"{\rtf1 a\bin999999999 bbbb"), "a");
        assert_eq!(text(r"{\rtf1 a\'4"), "a");
        assert_eq!(text(r"{\rtf1 a}}}} b"), "a b");
        let err = RtfExtractor
            .extract(
                b"not rtf",
                Format::Rtf,
                &Limits::default(),
                Deadline::after(Duration::from_secs(5)),
            )
            .expect_err("not rtf");
        assert_eq!(err.kind, ErrorKind::Corrupt);
    }

    #[test]
    fn output_cap_applies() {
        let rtf = format!("{{\\rtf1 {}}}", "word ".repeat(10_000));
        let doc = RtfExtractor
            .extract(
                rtf.as_bytes(),
                Format::Rtf,
                &Limits {
                    max_output_bytes: 100,
                    ..Limits::default()
                },
                Deadline::after(Duration::from_secs(5)),
            )
            .expect("extracts");
        assert!(doc.text().len() <= 100);
        assert_eq!(doc.warnings[0].code, "output_truncated");
    }
}
