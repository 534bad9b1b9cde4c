//! CSV/TSV via the `csv` crate: encoding detected (UTF-16, windows-1252…), delimiter sniffed,
//! the first row kept as the header (also recorded as the `columns` metadata), one line per
//! row with cells separated by ` | `.

use crate::text::decode_text;
use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

#[derive(Debug)]
pub(crate) struct CsvExtractor;

/// Picks the delimiter that splits the first lines most consistently.
fn sniff_delimiter(text: &str) -> u8 {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(10)
        .collect();
    let mut best = (b',', 0usize);
    for d in [b',', b';', b'\t', b'|'] {
        let counts: Vec<usize> = lines
            .iter()
            .map(|l| l.bytes().filter(|&b| b == d).count())
            .collect();
        let min = counts.iter().copied().min().unwrap_or(0);
        let consistent = counts.iter().all(|&c| c == counts[0]);
        let score = if consistent { min * 2 + 1 } else { min };
        if min > 0 && score > best.1 {
            best = (d, score);
        }
    }
    best.0
}

impl Extractor for CsvExtractor {
    fn formats(&self) -> &'static [Format] {
        &[Format::Csv]
    }

    fn extract(
        &self,
        input: &[u8],
        format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        let (text, encoding) = decode_text(input)?;
        let delimiter = sniff_delimiter(&text);
        let mut b = DocBuilder::new(format, limits.max_output_bytes);
        b.metadata.insert("encoding".into(), encoding.into());
        b.metadata
            .insert("delimiter".into(), (delimiter as char).to_string());
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut record = csv::StringRecord::new();
        let mut row = 0usize;
        loop {
            if row.is_multiple_of(1024) {
                deadline.check()?;
            }
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    return Err(ExtractError::new(
                        ErrorKind::Corrupt,
                        format!("csv row {}: {e}", row + 1),
                    ));
                }
            }
            if record.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            if row == 0 {
                // The header, bounded: a hostile first line can hold millions of cells.
                let mut columns = String::new();
                for cell in record.iter().take(1_000) {
                    if !columns.is_empty() {
                        columns.push_str(", ");
                    }
                    columns.push_str(cell.trim());
                }
                b.metadata.insert("columns".into(), columns);
            }
            // Cell by cell, so a row with millions of cells stops at the output cap instead of
            // being joined in memory first.
            for (i, cell) in record.iter().enumerate() {
                if i > 0 {
                    b.push(" | ");
                }
                b.push(cell.trim());
                if b.is_full() {
                    break;
                }
            }
            b.line_break();
            row += 1;
            if b.is_full() {
                break;
            }
        }
        b.metadata.insert("rows".into(), row.to_string());
        Ok(b.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sniffs_semicolons_and_keeps_quoted_delimiters() {
        let csv = "name;note\n\"Doe, Jane\";\"says \"\"hi\"\"\"\nRoe;x\n";
        let doc = CsvExtractor
            .extract(
                csv.as_bytes(),
                Format::Csv,
                &Limits::default(),
                Deadline::after(Duration::from_secs(5)),
            )
            .expect("csv");
        assert_eq!(doc.text(), "name | note\nDoe, Jane | says \"hi\"\nRoe | x");
        assert_eq!(doc.metadata["columns"], "name, note");
        assert_eq!(doc.metadata["rows"], "3");
    }
}
