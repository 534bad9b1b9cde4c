//! Spreadsheets (XLSX, XLSB, XLS, ODS) via calamine: each sheet is a section
//! (numbered, headed by its name), one line per row, cells as a person sees them — dates as
//! dates, whole numbers without a spurious `.0`.

use std::io::Cursor;

use calamine::{Data, Reader, Sheets, open_workbook_from_rs};

use crate::office::numfmt::render_float;
use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Format, Limits};

fn map_error(e: calamine::Error) -> ExtractError {
    let message = e.to_string();
    let lower = message.to_lowercase();
    let kind = if lower.contains("password") || lower.contains("encrypt") {
        ErrorKind::Encrypted
    } else {
        ErrorKind::Corrupt
    };
    ExtractError::new(kind, format!("spreadsheet: {message}"))
}

/// Renders one cell; `None` for empty cells.
fn render(cell: &Data) -> Option<String> {
    Some(match cell {
        Data::Empty => return None,
        Data::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                return None;
            }
            s.to_string()
        }
        Data::Int(i) => i.to_string(),
        Data::Float(f) => render_float(*f),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(dt) => {
            if dt.is_datetime()
                && let Some(d) = dt.as_datetime()
            {
                if d.time() == chrono::NaiveTime::MIN {
                    d.format("%Y-%m-%d").to_string()
                } else if d.date()
                    == chrono::NaiveDate::from_ymd_opt(1899, 12, 31).unwrap_or_default()
                    || d.date() == chrono::NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or_default()
                {
                    d.format("%H:%M:%S").to_string()
                } else {
                    d.format("%Y-%m-%d %H:%M:%S").to_string()
                }
            } else {
                render_float(dt.as_f64())
            }
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        // As the spreadsheet shows it: `#REF!`, `#DIV/0!`, `#N/A`.
        Data::Error(e) => e.to_string(),
    })
}

/// A numeric or date cell rendered with its number format, when the format is understood.
fn formatted(cell: &Data, code: &str) -> Option<String> {
    let (value, datetime) = match cell {
        Data::Int(i) => (*i as f64, None),
        Data::Float(f) => (*f, serial_to_datetime(*f)),
        Data::DateTime(dt) => (dt.as_f64(), dt.as_datetime()),
        _ => return None,
    };
    crate::office::numfmt::render(value, datetime, code)
}

/// An Excel serial (days since 1899-12-30, 1900 system) as a date-time.
fn serial_to_datetime(serial: f64) -> Option<chrono::NaiveDateTime> {
    if !(0.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let base = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
    let millis = (serial * 86_400_000.0).round() as i64;
    base.checked_add_signed(chrono::Duration::milliseconds(millis))
}

/// Text outside the cells of an XLSX: comments, text boxes and shapes (drawings), and chart
/// titles, appended as one last section.
pub(crate) fn append_notes(
    mut doc: Extracted,
    zip: &mut crate::office::ZipGuard<'_>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    let budget = doc.output_room(limits);
    let mut parts: Vec<String> = zip
        .names()
        .into_iter()
        .filter(|n| {
            n.ends_with(".xml")
                && (n.starts_with("xl/comments")
                    || n.starts_with("xl/drawings/drawing")
                    || n.starts_with("xl/charts/chart"))
        })
        .collect();
    parts.sort();
    let mut text = String::new();
    for part in parts {
        let Some(xml) = zip.read(&part)? else {
            continue;
        };
        let read = if part.starts_with("xl/charts/") {
            crate::office::chart::chart_blocks(&part, &xml, deadline)
        } else {
            crate::office::ooxml::blocks(&part, &xml, deadline)
        };
        match read {
            Ok(blocks) => {
                for block in blocks {
                    text.push_str(&block.text);
                    text.push_str("\n\n");
                }
            }
            Err(e) if e.kind == ErrorKind::Timeout => return Err(e),
            Err(e) => doc.warnings.push(crate::Warning {
                code: "broken_part",
                message: e.message,
            }),
        }
    }
    let mut text = text.trim();
    if text.len() > budget {
        let mut cut = budget;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text = &text[..cut];
        doc.warnings.push(crate::Warning {
            code: "output_truncated",
            message: format!(
                "extracted text cut off at {} bytes",
                limits.max_output_bytes
            ),
        });
    }
    if !text.is_empty() {
        doc.sections.push(crate::Section {
            heading: vec!["Comments and drawings".to_string()],
            page: None,
            text: text.to_string(),
        });
    }
    Ok(doc)
}

/// Opens the workbook as the format the container showed, never by trial: calamine's
/// automatic detection tries XLS first, whose compound-file reader follows a cyclic sector
/// chain until memory runs out (its XLSX reader also runs it, looking for encryption). So a
/// ZIP-based workbook that is also a compound file (a polyglot: a ZIP is found from its end)
/// is refused, and XLS reaches calamine as a clean compound file (see `OleExtractor`).
fn open(input: &[u8], format: Format) -> Result<Sheets<Cursor<&[u8]>>, ExtractError> {
    const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    let reader = || Cursor::new(input);
    match format {
        Format::Xls => open_workbook_from_rs(reader())
            .map(Sheets::Xls)
            .map_err(|e| map_error(calamine::Error::Xls(e))),
        _ if input.starts_with(&CFB_MAGIC) => Err(ExtractError::new(
            ErrorKind::Corrupt,
            "a compound file with a ZIP archive inside",
        )),
        Format::Ods => open_workbook_from_rs(reader())
            .map(Sheets::Ods)
            .map_err(|e| map_error(calamine::Error::Ods(e))),
        // XLSX, or XLSB (the same package with binary parts).
        _ => match open_workbook_from_rs(reader()) {
            Ok(x) => Ok(Sheets::Xlsx(x)),
            Err(xlsx) => open_workbook_from_rs(reader())
                .map(Sheets::Xlsb)
                .map_err(|_| map_error(calamine::Error::Xlsx(xlsx))),
        },
    }
}

pub(crate) fn extract(
    input: &[u8],
    format: Format,
    xls_formats: Option<&crate::office::biff::CellFormats>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    let mut workbook = open(input, format)?;
    let mut b = DocBuilder::new(format, limits.max_output_bytes);
    let names = workbook.sheet_names();
    b.metadata.insert("sheets".into(), names.len().to_string());
    let mut sheet_errors = 0usize;
    for (i, name) in names.iter().enumerate() {
        deadline.check()?;
        // XLSX and XLSB sheets are streamed cell by cell: calamine's `Range` is dense over
        // the cells' bounding box, so two cells at A1 and XFD1048576 (a 1 KB file) would ask
        // for 17 billion cells. XLS ranges are bounded in `biff::check_records`, ODS ones by
        // calamine itself (100 million cells at most).
        let rows = match &mut workbook {
            Sheets::Xlsx(x) => xlsx_rows(x, name, limits, deadline),
            Sheets::Xlsb(x) => xlsb_rows(x, name, limits, deadline),
            other => dense_rows(other, name, xls_formats, limits, deadline),
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) if matches!(e.kind, ErrorKind::Encrypted | ErrorKind::Timeout) => {
                return Err(e);
            }
            Err(e) => {
                sheet_errors += 1;
                b.warnings.push(crate::Warning {
                    code: "broken_sheet",
                    message: format!("sheet {name:?}: {}", e.message),
                });
                continue;
            }
        };
        b.page(i as u32 + 1);
        b.heading(1, name);
        if rows.is_empty() {
            continue;
        }
        for row in rows {
            b.push(&row);
            b.line_break();
            if b.is_full() {
                break;
            }
        }
    }
    if sheet_errors > 0 && sheet_errors == names.len() {
        return Err(ExtractError::new(
            ErrorKind::Corrupt,
            "no sheet could be read",
        ));
    }
    Ok(b.finish())
}

/// The number format code a cell is shown with: Excel's en-US table for the built-in ids
/// (below 164; a reader library substitutes its own), the workbook's code otherwise.
fn format_code(format: &calamine::NumberFormat) -> String {
    match format
        .format_id
        .filter(|id| *id < 164)
        .and_then(crate::office::numfmt::builtin)
    {
        Some(code) => code.to_string(),
        None => format.format_code.clone(),
    }
}

/// A cell as the sheet shows it, given its number format code if it has one.
fn shown(cell: &Data, code: Option<&str>) -> Option<String> {
    code.and_then(|code| formatted(cell, code))
        .or_else(|| render(cell))
}

/// An XLSX sheet's non-empty rows, each as ` | `-joined cells, read as a stream of cells:
/// memory follows the cells the sheet has (and the output limit), not its extent.
fn xlsx_rows(
    workbook: &mut calamine::Xlsx<Cursor<&[u8]>>,
    name: &str,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Vec<String>, ExtractError> {
    let mut reader = workbook
        .worksheet_cells_reader(name)
        .map_err(|e| map_error(e.into()))?;
    let mut sink = Cells::new(limits);
    while let Some((cell, style)) = reader
        .next_cell_with_style_id()
        .map_err(|e| map_error(e.into()))?
    {
        let code = reader
            .styles()
            .get(style)
            .and_then(|s| s.number_format.as_ref())
            .map(format_code);
        let text = shown(&Data::from(cell.get_value().clone()), code.as_deref());
        if !sink.add(cell.get_position(), text, deadline)? {
            break;
        }
    }
    Ok(sink.rows())
}

/// An XLSB sheet's non-empty rows, read as a stream of cells like XLSX (without number
/// formats, which calamine does not read for XLSB).
fn xlsb_rows(
    workbook: &mut calamine::Xlsb<Cursor<&[u8]>>,
    name: &str,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Vec<String>, ExtractError> {
    let mut reader = workbook
        .worksheet_cells_reader(name)
        .map_err(|e| map_error(e.into()))?;
    let mut sink = Cells::new(limits);
    while let Some(cell) = reader.next_cell().map_err(|e| map_error(e.into()))? {
        let text = shown(&Data::from(cell.get_value().clone()), None);
        if !sink.add(cell.get_position(), text, deadline)? {
            break;
        }
    }
    Ok(sink.rows())
}

/// The shown cells of a sheet read as a stream, kept within the output limit (nothing
/// past it can be written), with the deadline checked as they come.
struct Cells {
    cells: Vec<(u32, u32, String)>,
    bytes: usize,
    seen: usize,
    max_bytes: usize,
}

impl Cells {
    fn new(limits: &Limits) -> Self {
        Cells {
            cells: Vec::new(),
            bytes: 0,
            seen: 0,
            max_bytes: limits.max_output_bytes,
        }
    }

    /// Adds a cell's text (none for an empty cell); `false` once the output limit is passed.
    fn add(
        &mut self,
        (row, col): (u32, u32),
        text: Option<String>,
        deadline: Deadline,
    ) -> Result<bool, ExtractError> {
        self.seen += 1;
        if self.seen.is_multiple_of(4096) {
            deadline.check()?;
        }
        if let Some(text) = text {
            self.bytes += text.len() + 3;
            self.cells.push((row, col, text));
        }
        Ok(self.bytes <= self.max_bytes)
    }

    fn rows(self) -> Vec<String> {
        join_rows(self.cells)
    }
}

/// Cells (row, column, text) as rows of ` | `-joined cells, in sheet order. Cells come in
/// stream order, which writers keep row by row, but need not.
fn join_rows(mut cells: Vec<(u32, u32, String)>) -> Vec<String> {
    cells.sort_by_key(|&(row, col, _)| (row, col));
    let mut rows: Vec<String> = Vec::new();
    let mut current: Option<u32> = None;
    for (row, _, text) in cells {
        match rows.last_mut() {
            Some(last) if current == Some(row) => {
                last.push_str(" | ");
                last.push_str(&text);
            }
            _ => rows.push(text),
        }
        current = Some(row);
    }
    rows
}

/// A sheet's non-empty rows through calamine's dense `Range` (XLS, ODS).
fn dense_rows(
    workbook: &mut Sheets<Cursor<&[u8]>>,
    name: &str,
    xls_formats: Option<&crate::office::biff::CellFormats>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Vec<String>, ExtractError> {
    let range = workbook.worksheet_range(name).map_err(map_error)?;
    let origin = range.start().unwrap_or((0, 0));
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    for (r, row) in range.rows().enumerate() {
        if r % 1024 == 0 {
            deadline.check()?;
        }
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .filter_map(|(c, cell)| {
                let (row, col) = (origin.0 + r as u32, origin.1 + c as u32);
                let code = xls_formats.and_then(|f| f.code(name, row, col));
                shown(cell, code)
            })
            .collect();
        if cells.is_empty() {
            continue;
        }
        let line = cells.join(" | ");
        bytes += line.len() + 1;
        rows.push(line);
        if bytes > limits.max_output_bytes {
            break;
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_render_as_people_read_them() {
        assert_eq!(render(&Data::Float(12.0)).as_deref(), Some("12"));
        assert_eq!(render(&Data::String("  ".into())), None);
        assert_eq!(render(&Data::Bool(true)).as_deref(), Some("TRUE"));
    }
}
