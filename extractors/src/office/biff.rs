//! Legacy XLS at the record level, for what calamine does not do: text boxes, cell comments
//! and chart labels, cell number formats, the drawing group's pictures, whole Excel 2.x–4.0
//! worksheets, and a guard against sheet sizes calamine would try to allocate.
//!
//! A `Workbook` stream is a run of records (type u16, length u16, data). The text of drawing
//! objects lives in `TXO` records: each gives the character count; the characters follow in
//! one or more `CONTINUE` records, each starting with a flag byte (0: one byte per
//! character, Latin-1; 1: UTF-16LE), and a last `CONTINUE` holds the formatting runs
//! ([MS-XLS] 2.4.329). Cell comments are `TXO`s too (Excel writes the author's name into
//! the comment's text).

use std::collections::HashMap;

use crate::Deadline;

const BOF: u16 = 0x0809;
const EOF: u16 = 0x000A;
const FORMAT: u16 = 0x041E;
const XF: u16 = 0x00E0;
const BOUNDSHEET: u16 = 0x0085;
const NUMBER: u16 = 0x0203;
const RK: u16 = 0x027E;
const MULRK: u16 = 0x00BD;
const FORMULA: u16 = 0x0006;
const FILEPASS: u16 = 0x002F;
const TXO: u16 = 0x01B6;
/// Chart text: titles, axis titles, series names and data labels ([MS-XLS] 2.4.254).
const SERIESTEXT: u16 = 0x100D;
const CONTINUE: u16 = 0x003C;
const BIFF8: u16 = 0x0600;

/// Stop after this many text objects (a hostile file could hold millions of empty ones).
const MAX_OBJECTS: usize = 10_000;

/// One BIFF record: (type, data). Ends at the first truncated record.
fn records(stream: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let header = stream.get(at..at + 4)?;
        let kind = u16::from_le_bytes([header[0], header[1]]);
        let len = u16::from_le_bytes([header[2], header[3]]) as usize;
        let data = stream.get(at + 4..at + 4 + len)?;
        at += 4 + len;
        Some((kind, data))
    })
}

/// The texts of the stream's text objects and chart labels, in stream order, each trimmed,
/// empty ones dropped, at most `max_bytes` in all. Nothing for BIFF5 and older or for an
/// encrypted stream (whose records after `FILEPASS` are ciphertext).
pub(crate) fn text_objects(stream: &[u8], max_bytes: usize, deadline: Deadline) -> Vec<String> {
    let mut out = Vec::new();
    let mut total = 0usize;
    let mut records = records(stream).peekable();
    match records.next() {
        // BIFF8 (0x0600), or Microsoft Graph's chart workbooks (0x0680).
        Some((BOF, data)) if u16_at(data, 0).is_some_and(|v| v & 0xFF00 == BIFF8) => {}
        _ => return out,
    }
    let mut seen = 0usize;
    while let Some((kind, data)) = records.next() {
        match kind {
            FILEPASS => return Vec::new(),
            SERIESTEXT => {
                // reserved (2 bytes), then a ShortXLUnicodeString.
                if let Some(text) = data.get(2..).and_then(|d| unicode_string(d, 1)) {
                    let text = text.trim();
                    if !text.is_empty() && total < max_bytes {
                        total += text.len();
                        out.push(text.to_string());
                    }
                }
            }
            TXO => {
                seen += 1;
                if seen > MAX_OBJECTS || total >= max_bytes || deadline.check().is_err() {
                    break;
                }
                let Some(count) = data.get(10..12).map(|b| u16::from_le_bytes([b[0], b[1]])) else {
                    continue;
                };
                let mut text = String::new();
                let mut left = count as usize;
                while left > 0 {
                    let Some((CONTINUE, chunk)) = records.peek().copied() else {
                        break;
                    };
                    records.next();
                    let Some((&flag, chars)) = chunk.split_first() else {
                        continue;
                    };
                    if flag & 1 == 1 {
                        let units: Vec<u16> = chars
                            .chunks_exact(2)
                            .take(left)
                            .map(|p| u16::from_le_bytes([p[0], p[1]]))
                            .collect();
                        left -= units.len();
                        text.extend(char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')));
                    } else {
                        let bytes = &chars[..chars.len().min(left)];
                        left -= bytes.len();
                        text.extend(bytes.iter().map(|&b| b as char));
                    }
                    if chars.is_empty() {
                        break; // a CONTINUE with no characters cannot make progress
                    }
                }
                // Excel separates lines with a bare CR.
                let text = text.replace("\r\n", "\n").replace('\r', "\n");
                let text = text.trim();
                if !text.is_empty() {
                    total += text.len();
                    out.push(text.to_string());
                }
            }
            _ => {}
        }
    }
    out
}

/// The number formats of an XLS's numeric cells, for rendering values as Excel shows them
/// (calamine reads the values of XLS cells but not their formats).
#[derive(Debug, Default)]
pub(crate) struct CellFormats {
    /// Custom format codes by format index (built-in indexes below 164 are not stored).
    codes: HashMap<u16, String>,
    /// Per sheet name: (row, column) → format index, for cells with a non-General format.
    sheets: HashMap<String, HashMap<(u32, u32), u16>>,
}

impl CellFormats {
    /// The format code of a cell, if it has one other than General.
    pub(crate) fn code(&self, sheet: &str, row: u32, col: u32) -> Option<&str> {
        let ifmt = *self.sheets.get(sheet)?.get(&(row, col))?;
        match self.codes.get(&ifmt) {
            Some(code) => Some(code),
            None => crate::office::numfmt::builtin(u32::from(ifmt)),
        }
    }
}

/// An `XLUnicodeString` (`cch` of `len_bytes` bytes, a flag byte, then the characters).
fn unicode_string(data: &[u8], len_bytes: usize) -> Option<String> {
    let cch = match len_bytes {
        1 => usize::from(*data.first()?),
        _ => usize::from(u16::from_le_bytes([*data.first()?, *data.get(1)?])),
    };
    let flags = *data.get(len_bytes)?;
    let chars = data.get(len_bytes + 1..)?;
    Some(if flags & 1 == 1 {
        let units: Vec<u16> = chars
            .chunks_exact(2)
            .take(cch)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        chars.iter().take(cch).map(|&b| b as char).collect()
    })
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    data.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Formatted cells remembered per workbook (about 40 MB); cells beyond show as General.
const MAX_FORMATTED_CELLS: usize = 1_000_000;

/// Reads FORMAT, XF and BOUNDSHEET records of the globals, then every numeric cell
/// (NUMBER, RK, MULRK, FORMULA) of each worksheet. `None` for BIFF5 and older, or when the
/// stream is encrypted; cells are only remembered when their format is not General (and
/// at most `MAX_FORMATTED_CELLS` of them), so the map stays small for plain data sheets
/// and bounded for any.
pub(crate) fn cell_formats(stream: &[u8], deadline: Deadline) -> Option<CellFormats> {
    let mut globals = records(stream);
    match globals.next() {
        Some((BOF, data)) if data.get(..2) == Some(&BIFF8.to_le_bytes()[..]) => {}
        _ => return None,
    }
    let mut formats = CellFormats::default();
    let mut xf_formats: Vec<u16> = Vec::new();
    let mut sheets: Vec<(usize, String)> = Vec::new();
    for (kind, data) in globals {
        match kind {
            FILEPASS => return None,
            EOF => break,
            FORMAT => {
                if let (Some(ifmt), Some(code)) = (
                    u16_at(data, 0),
                    data.get(2..).and_then(|d| unicode_string(d, 2)),
                ) {
                    formats.codes.insert(ifmt, code);
                }
            }
            XF => xf_formats.push(u16_at(data, 2).unwrap_or(0)),
            BOUNDSHEET => {
                let (Some(pos), Some(&dt)) = (u32_at(data, 0), data.get(5)) else {
                    continue;
                };
                if dt == 0
                    && let Some(name) = data.get(6..).and_then(|d| unicode_string(d, 1))
                {
                    sheets.push((pos as usize, name));
                }
            }
            _ => {}
        }
    }
    let mut remembered = 0usize;
    for (pos, name) in sheets {
        deadline.check().ok()?;
        let Some(sub) = stream.get(pos..) else {
            continue;
        };
        let mut cells = HashMap::new();
        let mut remember = |row: u16, col: u16, ixfe: u16| {
            if let Some(&ifmt) = xf_formats.get(usize::from(ixfe))
                && ifmt != 0
                && remembered < MAX_FORMATTED_CELLS
            {
                remembered += 1;
                cells.insert((u32::from(row), u32::from(col)), ifmt);
            }
        };
        for (kind, data) in records(sub).skip(1) {
            match kind {
                EOF | BOF => break,
                NUMBER | RK | FORMULA => {
                    if let (Some(row), Some(col), Some(ixfe)) =
                        (u16_at(data, 0), u16_at(data, 2), u16_at(data, 4))
                    {
                        remember(row, col, ixfe);
                    }
                }
                MULRK => {
                    let (Some(row), Some(first)) = (u16_at(data, 0), u16_at(data, 2)) else {
                        continue;
                    };
                    // [ixfe u16, rk u32] per cell, then the last column (u16).
                    let body = data.get(4..data.len().saturating_sub(2)).unwrap_or(&[]);
                    for (i, cell) in body.chunks_exact(6).enumerate() {
                        let col = first.saturating_add(i as u16);
                        remember(row, col, u16::from_le_bytes([cell[0], cell[1]]));
                    }
                }
                _ => {}
            }
        }
        formats.sheets.insert(name, cells);
    }
    Some(formats)
}

/// Checks the records calamine trusts before it reads a workbook, and refuses the workbook
/// when one would crash it:
/// - `DIMENSIONS`: calamine reserves memory for a sheet's whole declared range before
///   reading a cell, so a forged record (4 billion rows, or a last row before the first,
///   which its arithmetic wraps to 4 billion) makes it ask for petabytes, and a failed
///   allocation aborts the process. Checked with calamine's own arithmetic, both in stream
///   order and in each sheet's substream from the offset its `BOUNDSHEET` gives (where
///   calamine reads it, which a forged offset can put inside another record).
/// - `BOUNDSHEET` shorter than its fixed part, which calamine indexes unchecked (a panic).
/// - `FILEPASS`: the workbook is encrypted (every record after it is ciphertext, dimensions
///   included): refused as `encrypted`.
///
/// All three were found by the `ole` fuzz target.
pub(crate) fn check_records(stream: &[u8]) -> Result<(), crate::ExtractError> {
    const DIMENSIONS: u16 = 0x0200;
    const MAX_SHEETS: usize = 4096;
    let corrupt = |message: String| crate::ExtractError::new(crate::ErrorKind::Corrupt, message);
    let mut sheets = Vec::new();
    for (kind, data) in records(stream) {
        match kind {
            FILEPASS => {
                return Err(crate::ExtractError::new(
                    crate::ErrorKind::Encrypted,
                    "the workbook is password-protected (FILEPASS)",
                ));
            }
            BOUNDSHEET if data.len() < 6 => {
                return Err(corrupt(format!(
                    "a sheet record of {} bytes (at least 6)",
                    data.len()
                )));
            }
            BOUNDSHEET => sheets.push(u32_at(data, 0).unwrap_or(0) as usize),
            DIMENSIONS => check_dimensions(data)?,
            _ => {}
        }
    }
    sheets.sort_unstable();
    sheets.dedup();
    if sheets.len() > MAX_SHEETS {
        return Err(corrupt(format!(
            "{} sheets (at most {MAX_SHEETS})",
            sheets.len()
        )));
    }
    for at in sheets {
        let Some(substream) = stream.get(at..) else {
            continue;
        };
        // As calamine walks it: the sheet's BOF, nested substreams (charts), its EOF.
        let mut depth = 0usize;
        let mut extent = Extent::default();
        for (kind, data) in records(substream) {
            match kind {
                BOF => depth += 1,
                EOF if depth <= 1 => break,
                EOF => depth -= 1,
                DIMENSIONS if depth <= 1 => check_dimensions(data)?,
                _ if depth <= 1 => extent.add(kind, data),
                _ => {}
            }
        }
        extent.check()?;
    }
    Ok(())
}

/// The cells calamine will read from one sheet, and their bounding box: calamine makes the
/// sheet a dense `Range` over that box, so two cells far apart (A1 and IV65536, or a forged
/// column 65,535) cost as much memory as a full sheet of them.
#[derive(Default)]
struct Extent {
    cells: u64,
    rows: Option<(u16, u16)>,
    cols: Option<(u16, u16)>,
}

impl Extent {
    /// A sheet's range may cover this many cells whatever its density (128 MB of calamine
    /// cells); beyond it, at least one cell in 64 must be filled.
    const FREE_AREA: u64 = 4 * 1024 * 1024;

    fn add(&mut self, kind: u16, data: &[u8]) {
        // Number, Label, BoolErr, RK, RString, LabelSst, Formula: row, then column; MulRk:
        // row, first column, ..., last column (blank cells are not read).
        let (row, first, last) = match kind {
            0x0203 | 0x0204 | 0x0205 | 0x027E | 0x00D6 | 0x00FD | FORMULA => {
                let (Some(row), Some(col)) = (u16_at(data, 0), u16_at(data, 2)) else {
                    return;
                };
                (row, col, col)
            }
            MULRK if data.len() >= 6 => {
                let (Some(row), Some(first), Some(last)) = (
                    u16_at(data, 0),
                    u16_at(data, 2),
                    u16_at(data, data.len() - 2),
                ) else {
                    return;
                };
                (row, first.min(last), first.max(last))
            }
            _ => return,
        };
        self.cells += u64::from(last - first) + 1;
        let widen = |span: &mut Option<(u16, u16)>, lo: u16, hi: u16| {
            *span = Some(span.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        };
        widen(&mut self.rows, row, row);
        widen(&mut self.cols, first, last);
    }

    fn check(&self) -> Result<(), crate::ExtractError> {
        let (Some((r0, r1)), Some((c0, c1))) = (self.rows, self.cols) else {
            return Ok(());
        };
        let (rows, cols) = (u64::from(r1 - r0) + 1, u64::from(c1 - c0) + 1);
        let area = rows * cols;
        if area > Self::FREE_AREA && area > self.cells.saturating_mul(64) {
            return Err(crate::ExtractError::new(
                crate::ErrorKind::Corrupt,
                format!(
                    "a sheet spreads {} cells over {rows} rows by {cols} columns",
                    self.cells
                ),
            ));
        }
        Ok(())
    }
}

/// One `DIMENSIONS` record against the sheet size BIFF allows (65,536 rows, 256 columns),
/// with the cell count calamine will reserve computed as calamine does.
fn check_dimensions(data: &[u8]) -> Result<(), crate::ExtractError> {
    let (first_row, last_row, mut first_col, last_col) = match data.len() {
        10 => (
            u32::from(u16_at(data, 0).unwrap_or(0)),
            u32::from(u16_at(data, 2).unwrap_or(0)),
            u32::from(u16_at(data, 4).unwrap_or(0)),
            u32::from(u16_at(data, 6).unwrap_or(0)),
        ),
        14 | 16 => (
            u32_at(data, 0).unwrap_or(0),
            u32_at(data, 4).unwrap_or(0),
            u32::from(u16_at(data, 8).unwrap_or(0)),
            u32::from(u16_at(data, 10).unwrap_or(0)),
        ),
        _ => return Ok(()), // calamine refuses other sizes itself
    };
    if first_col > 0xFF || last_col < first_col {
        first_col = 0;
    }
    let (end_row, end_col) = if last_row >= 1 && last_col >= 1 {
        (last_row - 1, last_col - 1)
    } else {
        (first_row, first_col)
    };
    let rows = u64::from(end_row.wrapping_sub(first_row).wrapping_add(1));
    let cols = u64::from(end_col.wrapping_sub(first_col).wrapping_add(1));
    if last_row > 65_536 || rows > 65_536 || rows * cols > 65_536 * 256 {
        return Err(crate::ExtractError::new(
            crate::ErrorKind::Corrupt,
            format!("a sheet claims {rows} rows by {cols} columns, beyond what the format allows"),
        ));
    }
    Ok(())
}

/// The workbook's OfficeArt drawing group (its pictures): the `MSODRAWINGGROUP` records
/// data, joined with the `CONTINUE` records that carry the rest.
pub(crate) fn drawing_group(stream: &[u8]) -> Vec<u8> {
    const MSODRAWINGGROUP: u16 = 0x00EB;
    let mut out = Vec::new();
    let mut in_group = false;
    for (kind, data) in records(stream) {
        match kind {
            MSODRAWINGGROUP => {
                in_group = true;
                out.extend_from_slice(data);
            }
            CONTINUE if in_group => out.extend_from_slice(data),
            _ => in_group = false,
        }
    }
    out
}

/// Whether `input` is a bare BIFF2–4 worksheet (Excel 2.x–4.0 saved no OLE container:
/// the file is the record stream itself, starting with a `BOF`).
pub(crate) fn is_legacy_stream(input: &[u8]) -> bool {
    let (Some(kind), Some(len)) = (u16_at(input, 0), u16_at(input, 2)) else {
        return false;
    };
    matches!(kind, 0x0009 | 0x0209 | 0x0409) && (4..=16).contains(&len)
}

/// The cells of a BIFF2–4 worksheet, rendered row by row like the sheets calamine reads
/// (`a | b | c`); strings decoded with the file's code page. Number formats are not
/// applied: values show as General.
pub(crate) fn legacy_worksheet(
    input: &[u8],
    limits: &crate::Limits,
    deadline: Deadline,
) -> Result<crate::Extracted, crate::ExtractError> {
    use std::collections::BTreeMap;
    let mut encoding = encoding_rs::WINDOWS_1252;
    let mut cells: BTreeMap<(u16, u16), String> = BTreeMap::new();
    let mut pending_string: Option<(u16, u16)> = None;
    let number = crate::office::numfmt::render_float;
    let text = |encoding: &'static encoding_rs::Encoding, bytes: &[u8]| {
        encoding
            .decode_without_bom_handling(bytes)
            .0
            .trim()
            .to_string()
    };
    for (i, (kind, data)) in records(input).enumerate() {
        if i % 1024 == 0 {
            deadline.check()?;
        }
        let (row, col) = (u16_at(data, 0).unwrap_or(0), u16_at(data, 2).unwrap_or(0));
        let value = match kind {
            0x0042 => {
                encoding = match u16_at(data, 0) {
                    Some(0x8000 | 10000) => encoding_rs::MACINTOSH,
                    Some(cp) => codepage::to_encoding(cp).unwrap_or(encoding_rs::WINDOWS_1252),
                    None => encoding,
                };
                None
            }
            // LABEL (BIFF3/4: 16-bit length; BIFF2: 3 attribute bytes, 8-bit length).
            0x0204 => {
                let len = usize::from(u16_at(data, 6).unwrap_or(0));
                data.get(8..8 + len).map(|b| text(encoding, b))
            }
            0x0004 => {
                let len = usize::from(*data.get(7).unwrap_or(&0));
                data.get(8..8 + len).map(|b| text(encoding, b))
            }
            // NUMBER, INTEGER, RK.
            0x0203 => data
                .get(6..14)
                .map(|b| number(f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))),
            0x0003 => data
                .get(7..15)
                .map(|b| number(f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))),
            0x0002 => u16_at(data, 7).map(|n| n.to_string()),
            0x027E => u32_at(data, 6).map(|rk| number(rk_value(rk))),
            // BOOLERR: a boolean, or an error code.
            0x0205 | 0x0005 => {
                let at = if kind == 0x0205 { 6 } else { 7 };
                match (data.get(at), data.get(at + 1)) {
                    (Some(&v), Some(&0)) => Some(if v == 0 { "FALSE" } else { "TRUE" }.to_string()),
                    _ => None,
                }
            }
            // FORMULA: a cached number, or a string that follows in a STRING record.
            0x0006 | 0x0206 | 0x0406 => {
                let at = if kind == 0x0006 { 7 } else { 6 };
                match data.get(at..at + 8) {
                    Some(r) if r[6] == 0xFF && r[7] == 0xFF => {
                        if r[0] == 0 {
                            pending_string = Some((row, col));
                        }
                        None
                    }
                    Some(r) => Some(number(f64::from_le_bytes(r.try_into().unwrap_or([0; 8])))),
                    None => None,
                }
            }
            0x0207 | 0x0007 => {
                let Some((r, c)) = pending_string.take() else {
                    continue;
                };
                let (len, at) = if kind == 0x0207 {
                    (usize::from(u16_at(data, 0).unwrap_or(0)), 2)
                } else {
                    (usize::from(*data.first().unwrap_or(&0)), 1)
                };
                if let Some(s) = data.get(at..at + len).map(|b| text(encoding, b))
                    && !s.is_empty()
                {
                    cells.insert((r, c), s);
                }
                continue;
            }
            0x000A => break, // EOF
            _ => None,
        };
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            cells.insert((row, col), v);
        }
    }
    if cells.is_empty() {
        return Err(crate::ExtractError::new(
            crate::ErrorKind::Corrupt,
            "an Excel 2-4 worksheet without readable cells",
        ));
    }
    let mut b = crate::DocBuilder::new(crate::Format::Xls, limits.max_output_bytes);
    b.page(1);
    let mut row: Vec<&str> = Vec::new();
    let mut current = None;
    for ((r, _), value) in &cells {
        if current != Some(*r) && !row.is_empty() {
            b.push(&row.join(" | "));
            b.line_break();
            row.clear();
        }
        current = Some(*r);
        row.push(value);
        if b.is_full() {
            break;
        }
    }
    if !row.is_empty() {
        b.push(&row.join(" | "));
    }
    Ok(b.finish())
}

/// An RK number: a 30-bit integer or the high bits of a double, optionally divided by 100.
fn rk_value(rk: u32) -> f64 {
    let v = if rk & 2 != 0 {
        f64::from((rk as i32) >> 2)
    } else {
        f64::from_bits(u64::from(rk & 0xFFFF_FFFC) << 32)
    };
    if rk & 1 != 0 { v / 100.0 } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut r = kind.to_le_bytes().to_vec();
        r.extend_from_slice(&(data.len() as u16).to_le_bytes());
        r.extend_from_slice(data);
        r
    }

    fn txo(chars: u16) -> Vec<u8> {
        let mut d = vec![0u8; 18];
        d[10..12].copy_from_slice(&chars.to_le_bytes());
        record(TXO, &d)
    }

    fn check(stream: &[u8], expected: &[&str]) {
        let deadline = Deadline::after(std::time::Duration::from_secs(5));
        assert_eq!(text_objects(stream, 1 << 20, deadline), expected);
    }

    #[test]
    fn text_objects_in_both_encodings_and_split_over_continues() {
        let mut s = record(BOF, &[0x00, 0x06, 0x10, 0x00]);
        s.extend(record(0x0203, &[1, 2, 3])); // a NUMBER cell: ignored
        s.extend(txo(12));
        s.extend(record(CONTINUE, b"\x00Author:\rHi"));
        s.extend(record(CONTINUE, &[0x01, b'!', 0, b'\xe9', 0])); // the rest in UTF-16
        s.extend(record(CONTINUE, &[0u8; 16])); // formatting runs
        s.extend(txo(0)); // an empty shape
        s.extend(txo(4));
        s.extend(record(CONTINUE, b"\x00box"));
        s.extend(record(SERIESTEXT, b"\x00\x00\x05\x00Sales")); // a chart's series name
        check(&s, &["Author:\nHi!é", "box", "Sales"]);
        // Microsoft Graph's chart workbooks carry BIFF version 0x0680.
        let mut graph = record(BOF, &[0x80, 0x06, 0x05, 0x00]);
        graph.extend(record(SERIESTEXT, b"\x00\x00\x03\x00R&D"));
        check(&graph, &["R&D"]);
    }

    #[test]
    fn cell_formats_map_cells_through_xf_records_to_format_codes() {
        let mut globals = record(BOF, &[0x00, 0x06, 0x05, 0x00]);
        let mut format = 164u16.to_le_bytes().to_vec();
        format.extend_from_slice(&[9, 0, 0]);
        format.extend_from_slice(b"0.0 \"kg\"");
        globals.extend(record(FORMAT, &format));
        for ifmt in [0u16, 4, 164] {
            let mut xf = vec![0u8; 20];
            xf[2..4].copy_from_slice(&ifmt.to_le_bytes());
            globals.extend(record(XF, &xf));
        }
        // BOUNDSHEET's offset points past the globals' EOF: 4 + 6 + 5 + 6 bytes of its own.
        let name = b"Data";
        let bound_len = 4 + 6 + 2 + name.len();
        let sheet_at = globals.len() + bound_len + 4;
        let mut bound = (sheet_at as u32).to_le_bytes().to_vec();
        bound.extend_from_slice(&[0, 0, name.len() as u8, 0]);
        bound.extend_from_slice(name);
        globals.extend(record(BOUNDSHEET, &bound));
        globals.extend(record(EOF, &[]));
        assert_eq!(globals.len(), sheet_at);
        let mut s = globals;
        s.extend(record(BOF, &[0x00, 0x06, 0x10, 0x00]));
        let cell = |row: u16, col: u16, xf: u16| {
            let mut d = row.to_le_bytes().to_vec();
            d.extend_from_slice(&col.to_le_bytes());
            d.extend_from_slice(&xf.to_le_bytes());
            d.extend_from_slice(&[0u8; 8]);
            d
        };
        s.extend(record(NUMBER, &cell(0, 0, 0))); // General: not remembered
        s.extend(record(NUMBER, &cell(0, 1, 1))); // built-in 4: #,##0.00
        let mut mulrk = 2u16.to_le_bytes().to_vec();
        mulrk.extend_from_slice(&3u16.to_le_bytes());
        for xf in [2u16, 1] {
            mulrk.extend_from_slice(&xf.to_le_bytes());
            mulrk.extend_from_slice(&[0u8; 4]);
        }
        mulrk.extend_from_slice(&4u16.to_le_bytes());
        s.extend(record(MULRK, &mulrk));
        s.extend(record(EOF, &[]));

        let deadline = Deadline::after(std::time::Duration::from_secs(5));
        let formats = cell_formats(&s, deadline).expect("BIFF8");
        assert_eq!(formats.code("Data", 0, 0), None);
        assert_eq!(formats.code("Data", 0, 1), Some("#,##0.00"));
        assert_eq!(formats.code("Data", 2, 3), Some("0.0 \"kg\""));
        assert_eq!(formats.code("Data", 2, 4), Some("#,##0.00"));
        assert_eq!(formats.code("Other", 0, 1), None);
    }

    #[test]
    fn an_excel_4_worksheet_reads_its_cells_row_by_row() {
        let cell = |row: u16, col: u16| {
            let mut d = row.to_le_bytes().to_vec();
            d.extend_from_slice(&col.to_le_bytes());
            d.extend_from_slice(&15u16.to_le_bytes()); // ixfe
            d
        };
        let mut s = record(0x0409, &[0, 0, 0x10, 0, 0, 0]);
        s.extend(record(0x0042, &1252u16.to_le_bytes()));
        let mut label = cell(0, 0);
        label.extend_from_slice(&6u16.to_le_bytes());
        label.extend_from_slice(b"Caf\xe9 A");
        s.extend(record(0x0204, &label));
        let mut num = cell(0, 1);
        num.extend_from_slice(&2.5f64.to_le_bytes());
        s.extend(record(0x0203, &num));
        let mut rk = cell(1, 0);
        rk.extend_from_slice(&((815_057u32 << 2) | 2).to_le_bytes()); // integer RK
        s.extend(record(0x027E, &rk));
        let mut formula = cell(1, 2);
        formula.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0xFF, 0xFF]); // string result follows
        formula.extend_from_slice(&[0u8; 6]);
        s.extend(record(0x0406, &formula));
        let mut string = 5u16.to_le_bytes().to_vec();
        string.extend_from_slice(b"total");
        s.extend(record(0x0207, &string));
        s.extend(record(0x000A, &[]));
        s.extend(record(0x0204, &label)); // after EOF: ignored

        assert!(is_legacy_stream(&s));
        assert!(!is_legacy_stream(b"\xD0\xCF\x11\xE0 OLE"));
        let deadline = Deadline::after(std::time::Duration::from_secs(5));
        let doc = legacy_worksheet(&s, &crate::Limits::default(), deadline).expect("cells");
        assert_eq!(doc.sections[0].text, "Café A | 2.5\n815057 | total");
        // Nothing but a BOF: a typed error, not an empty success.
        let empty = record(0x0409, &[0, 0, 0x10, 0, 0, 0]);
        let err = legacy_worksheet(&empty, &crate::Limits::default(), deadline).expect_err("empty");
        assert_eq!(err.kind, crate::ErrorKind::Corrupt);
    }

    #[test]
    fn short_records_in_the_globals_are_skipped_not_trusted() {
        let mut s = record(BOF, &[0x00, 0x06, 0x05, 0x00]);
        s.extend(record(FORMAT, &[7])); // one byte: no index, no code
        s.extend(record(XF, &[])); // no format index: General
        s.extend(record(BOUNDSHEET, &[1, 2])); // no offset
        s.extend(record(EOF, &[]));
        let deadline = Deadline::after(std::time::Duration::from_secs(5));
        let formats = cell_formats(&s, deadline).expect("BIFF8");
        assert!(formats.codes.is_empty() && formats.sheets.is_empty());
    }

    #[test]
    fn encrypted_old_or_truncated_streams_yield_what_is_safe() {
        let mut biff5 = record(BOF, &[0x00, 0x05, 0x10, 0x00]);
        biff5.extend(txo(3));
        biff5.extend(record(CONTINUE, b"abc"));
        check(&biff5, &[]);
        let mut encrypted = record(BOF, &[0x00, 0x06, 0x10, 0x00]);
        encrypted.extend(record(FILEPASS, &[1, 0]));
        encrypted.extend(txo(3));
        encrypted.extend(record(CONTINUE, b"\x00abc"));
        check(&encrypted, &[]);
        let refused = check_records(&encrypted).expect_err("FILEPASS");
        assert_eq!(refused.kind, crate::ErrorKind::Encrypted, "{refused}");
        assert!(check_records(&biff5).is_ok());
        // A TXO promising more characters than follow, then a stream cut mid-record.
        let mut cut = record(BOF, &[0x00, 0x06, 0x10, 0x00]);
        cut.extend(txo(500));
        cut.extend(record(CONTINUE, b"\x00short"));
        cut.extend_from_slice(&[0xB6, 0x01, 0xFF]);
        check(&cut, &["short"]);
    }
}
