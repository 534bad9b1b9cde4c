//! OLE2 compound files: legacy XLS, DOC, PPT, encrypted OOXML and packaged objects.

use std::io::Cursor;

use super::embedded::{append_caption, package_payload};
use super::{
    ZipExtractor, append_embedded, append_picture_text, biff, compound_file, crypto, doc, escher,
    ole_embedded, ppt, sheet,
};
use crate::{Deadline, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

/// OLE2 compound files: legacy XLS, DOC, PPT, and encrypted OOXML.
#[derive(Debug)]
pub(crate) struct OleExtractor;

impl Extractor for OleExtractor {
    fn formats(&self) -> &'static [Format] {
        &[Format::Ole, Format::Xls, Format::Doc, Format::Ppt]
    }

    fn extract(
        &self,
        input: &[u8],
        format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        if biff::is_legacy_stream(input) {
            return biff::legacy_worksheet(input, limits, deadline);
        }
        let e = match cfb::CompoundFile::open(Cursor::new(input)) {
            Ok(ole) => return self.extract_ole(ole, format, limits, deadline),
            Err(e) => e,
        };
        // Files cut short after their last used sector are common (and readable by Word
        // and Excel): pad to the size the allocation table describes and retry.
        let padded = pad_truncated_ole(input, limits);
        let Some((ole, padded)) = padded.as_deref().and_then(|p| {
            cfb::CompoundFile::open(Cursor::new(p))
                .ok()
                .map(|ole| (ole, p))
        }) else {
            return Err(ExtractError::new(
                ErrorKind::Corrupt,
                format!("not a valid OLE2 compound file: {e}"),
            ));
        };
        let mut doc = self.extract_ole(ole, format, limits, deadline)?;
        doc.warnings.push(crate::Warning {
            code: "truncated",
            message: format!(
                "the file ends early ({} of {} bytes its allocation table describes); read what is there",
                input.len(),
                padded.len()
            ),
        });
        Ok(doc)
    }
}

/// The input padded with zeros to the size its FAT describes, if that is larger and within
/// the input limit. (Header: sector shift at 0x1E, number of FAT sectors at 0x2C.)
fn pad_truncated_ole(input: &[u8], limits: &Limits) -> Option<Vec<u8>> {
    const MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    if input.len() < 512 || input[..8] != MAGIC {
        return None;
    }
    let shift = u16::from_le_bytes([input[0x1E], input[0x1F]]);
    if shift != 9 && shift != 12 {
        return None;
    }
    let sector = 1usize << shift;
    let fat_sectors =
        u32::from_le_bytes([input[0x2C], input[0x2D], input[0x2E], input[0x2F]]) as usize;
    // One header sector, then as many sectors as the FAT has entries.
    let size = fat_sectors
        .checked_mul(sector / 4)?
        .checked_add(1)?
        .checked_mul(sector)?;
    if size <= input.len() || size > limits.max_input_bytes {
        return None;
    }
    let mut padded = Vec::with_capacity(size);
    padded.extend_from_slice(input);
    padded.resize(size, 0);
    Some(padded)
}

impl OleExtractor {
    /// Extracts from an opened compound file.
    fn extract_ole(
        &self,
        ole: cfb::CompoundFile<Cursor<&[u8]>>,
        _format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        if crate::msg::is_msg(&ole) {
            let mut ole = ole;
            return crate::msg::extract(&mut ole, limits, deadline);
        }
        let has = |name: &str| ole.is_stream(format!("/{name}"));
        if has("EncryptedPackage") || has("EncryptionInfo") {
            let mut ole = ole;
            let plain = crypto::decrypt_default(&mut ole, limits)?;
            let mut doc = ZipExtractor.extract(&plain, Format::Zip, limits, deadline)?;
            doc.warnings.push(crate::Warning {
                code: "decrypted",
                message: format!(
                    "encrypted with Excel's default password ({}), opened with it",
                    crypto::DEFAULT_PASSWORD
                ),
            });
            return Ok(doc);
        }
        if has("Workbook") || has("Book") {
            // BIFF8 names the stream Workbook, BIFF5 Book.
            let name = if has("Workbook") {
                "/Workbook"
            } else {
                "/Book"
            };
            let mut ole = ole;
            let stream = doc::read_stream(&mut ole, name, limits.max_input_bytes as u64).ok();
            let formats = stream
                .as_deref()
                .and_then(|s| biff::cell_formats(s, deadline));
            // A workbook whose cells calamine cannot read (Microsoft Graph's chart workbooks)
            // may still hold text boxes, chart labels and embedded objects.
            let cells = match stream.as_deref() {
                None => Err(ExtractError::new(
                    ErrorKind::Corrupt,
                    "the workbook stream cannot be read",
                )),
                // calamine reads the compound file with a reader of its own, which follows a
                // cyclic sector chain until memory runs out: it gets a clean file holding
                // only the stream it reads, written by the `cfb` crate from what `cfb` read.
                Some(s) => biff::check_records(s).and_then(|()| {
                    let clean = compound_file(&[(name, s)]).map_err(|e| {
                        ExtractError::new(ErrorKind::Corrupt, format!("workbook: {e}"))
                    })?;
                    sheet::extract(&clean, Format::Xls, formats.as_ref(), limits, deadline)
                }),
            };
            let (mut doc, sheet_error) = match cells {
                Ok(doc) => (doc, None),
                Err(e) if matches!(e.kind, ErrorKind::Encrypted | ErrorKind::Timeout) => {
                    return Err(e);
                }
                Err(e) => (
                    crate::DocBuilder::new(Format::Xls, limits.max_output_bytes).finish(),
                    Some(e),
                ),
            };
            if let Some(stream) = &stream {
                let group = biff::drawing_group(stream);
                for (i, picture) in escher::metafiles(&group, limits.max_input_bytes)
                    .iter()
                    .enumerate()
                {
                    append_picture_text(&mut doc, &format!("Picture {}", i + 1), picture, limits);
                }
                let budget = doc.output_room(limits);
                let texts = biff::text_objects(stream, budget, deadline);
                if !texts.is_empty() {
                    doc.sections.push(crate::Section {
                        heading: vec!["Comments and drawings".to_string()],
                        page: None,
                        text: texts.join("\n\n"),
                    });
                }
            }
            // Excel keeps embedded objects in root storages named MBD…
            let storages: Vec<String> = ole
                .read_root_storage()
                .filter(|e| e.is_storage() && e.name().starts_with("MBD"))
                .map(|e| e.path().to_string_lossy().into_owned())
                .collect();
            ole_embedded(&mut ole, &mut doc, storages, limits, deadline);
            return match sheet_error {
                Some(e) if doc.sections.is_empty() => Err(e),
                Some(e) => {
                    doc.warnings.push(crate::Warning {
                        code: "broken_part",
                        message: format!("cells: {e}"),
                    });
                    Ok(doc)
                }
                None => Ok(doc),
            };
        }
        // An embedded object (oleObject*.bin): the real document sits in one stream.
        let mut ole = ole;
        if limits.max_embedded_depth > 0
            && let Some(file) = package_payload(&mut ole, "", limits)?
        {
            let mut doc = crate::DocBuilder::new(Format::Ole, limits.max_output_bytes).finish();
            if file.captioned {
                append_caption(&mut doc, &file.name);
            }
            // The OLE object only wraps the real file: unwrapping it is not a level of
            // embedding of its own.
            let unwrap = Limits {
                max_embedded_depth: limits.max_embedded_depth.saturating_add(1),
                ..limits.clone()
            };
            append_embedded(&mut doc, &file.name, &file.bytes, &unwrap, deadline);
            // A caption alone still says what the object is; nothing at all is a refusal.
            if doc.sections.is_empty() {
                let why = doc
                    .warnings
                    .first()
                    .map_or("no text".to_string(), |w| w.message.clone());
                return Err(ExtractError::new(
                    ErrorKind::Unsupported,
                    format!("embedded object: {why}"),
                ));
            }
            for s in &mut doc.sections {
                s.heading.remove(0);
            }
            return Ok(doc);
        }
        let has = |name: &str| ole.is_stream(format!("/{name}"));
        if has("WordDocument") {
            return doc::extract(&mut ole, limits, deadline);
        }
        if has("PowerPoint Document") {
            return ppt::extract(&mut ole, limits, deadline);
        }
        Err(ExtractError::new(
            ErrorKind::Unsupported,
            "an OLE2 compound file that is not a known office document",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_ole_file_is_padded_to_the_size_its_fat_describes() {
        let mut header = vec![0u8; 1024];
        header[..8].copy_from_slice(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
        header[0x1E] = 9; // 512-byte sectors
        header[0x2C] = 1; // one FAT sector: 128 entries
        header[600] = 42;
        let limits = Limits::default();
        let padded = pad_truncated_ole(&header, &limits).expect("padded");
        assert_eq!(padded.len(), 129 * 512);
        assert_eq!(&padded[..1024], &header[..]);
        assert!(padded[1024..].iter().all(|&b| b == 0));
        // Already long enough, over the input limit, or not OLE2 at all: no padding.
        assert!(pad_truncated_ole(&padded, &limits).is_none());
        let mut huge = header.clone();
        huge[0x2C..0x30].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(pad_truncated_ole(&huge, &limits).is_none());
        assert!(pad_truncated_ole(&[0u8; 1024], &limits).is_none());
    }
    use std::io::Write;
    use std::time::Duration;

    /// An OLE1 "Package" payload as Office writes it into an `Ole10Native` stream.
    fn ole10(payload: &[u8]) -> Vec<u8> {
        crate::office::embedded::package(b"note.html", payload)
    }

    fn ole_with(streams: &[(&str, &[u8])]) -> Vec<u8> {
        let mut ole = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create");
        for (name, data) in streams {
            let mut s = ole.create_stream(name).expect("stream");
            s.write_all(data).expect("write");
        }
        ole.flush().expect("flush");
        ole.into_inner().into_inner()
    }

    fn run(input: &[u8]) -> Result<Extracted, ExtractError> {
        OleExtractor.extract(
            input,
            Format::Ole,
            &Limits::default(),
            Deadline::after(Duration::from_secs(5)),
        )
    }

    #[test]
    fn forged_sheet_records_are_refused_before_calamine_reads_them() {
        // Found by the `ole` fuzz target: calamine reserves rows × columns cells up front, and
        // a DIMENSIONS record claiming 4 billion rows made the allocation fail, which aborts
        // the process (no panic to catch).
        let rec = |kind: u16, data: &[u8]| {
            let mut r = kind.to_le_bytes().to_vec();
            r.extend_from_slice(&(data.len() as u16).to_le_bytes());
            r.extend_from_slice(data);
            r
        };
        // A BOUNDSHEET record for a visible worksheet "Data" whose BOF is at `sheet_at`.
        let boundsheet = |sheet_at: usize| {
            let mut bound = (sheet_at as u32).to_le_bytes().to_vec();
            bound.extend_from_slice(&[0, 0, 4, 0]);
            bound.extend_from_slice(b"Data");
            rec(0x0085, &bound)
        };
        let bof = rec(0x0809, &[0x00, 0x06, 0x05, 0x00, 0, 0, 0, 0]);
        let sheet_at = bof.len() + 4 + 12 + 4;
        let mut workbook = [bof, boundsheet(sheet_at), rec(0x000A, &[])].concat();
        assert_eq!(workbook.len(), sheet_at);
        let mut dims = 0u32.to_le_bytes().to_vec();
        dims.extend_from_slice(&u32::MAX.to_le_bytes()); // rows
        dims.extend_from_slice(&[0, 0, 0xFF, 0xFF, 0, 0]); // columns 0..65535
        workbook.extend(rec(0x0809, &[0x00, 0x06, 0x10, 0x00, 0, 0, 0, 0]));
        workbook.extend(rec(0x0200, &dims));
        workbook.extend(rec(0x000A, &[]));
        let err = run(&ole_with(&[("Workbook", &workbook)])).expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Corrupt, "{err:?}");
        assert!(err.message.contains("rows"), "{err:?}");

        // A last row before the first: calamine's arithmetic wraps it to 4 billion rows.
        let mut backwards = 10u32.to_le_bytes().to_vec();
        backwards.extend_from_slice(&5u32.to_le_bytes());
        backwards.extend_from_slice(&[0, 0, 4, 0, 0, 0]);
        let bof = rec(0x0809, &[0x00, 0x06, 0x05, 0x00, 0, 0, 0, 0]);
        let workbook = [bof.clone(), rec(0x0200, &backwards), rec(0x000A, &[])].concat();
        let err = run(&ole_with(&[("Workbook", &workbook)])).expect_err("refused");
        assert!(err.message.contains("rows"), "{err:?}");

        // A sheet whose offset points inside another record, where a forged DIMENSIONS
        // hides from a walk in stream order: calamine reads the sheet from there.
        let hidden = [
            rec(0x0809, &[0x00, 0x06, 0x10, 0x00, 0, 0, 0, 0]),
            rec(0x0200, &dims),
            rec(0x000A, &[]),
        ]
        .concat();
        let sheet_at = bof.len() + (4 + 12) + 4;
        let workbook = [
            bof,
            boundsheet(sheet_at),
            rec(0x00EF, &hidden),
            rec(0x000A, &[]),
        ]
        .concat();
        let err = run(&ole_with(&[("Workbook", &workbook)])).expect_err("refused");
        assert!(err.message.contains("rows"), "{err:?}");

        // Two cells at opposite corners: calamine's dense range would hold the whole sheet.
        let number = |row: u16, col: u16| {
            let mut data = row.to_le_bytes().to_vec();
            data.extend_from_slice(&col.to_le_bytes());
            data.extend_from_slice(&[0, 0]);
            data.extend_from_slice(&1.5f64.to_le_bytes());
            rec(0x0203, &data)
        };
        let bof = rec(0x0809, &[0x00, 0x06, 0x05, 0x00, 0, 0, 0, 0]);
        let sheet_at = bof.len() + 4 + 12 + 4;
        let sparse = [
            bof,
            boundsheet(sheet_at),
            rec(0x000A, &[]),
            rec(0x0809, &[0x00, 0x06, 0x10, 0x00, 0, 0, 0, 0]),
            number(0, 0),
            number(65_535, 255),
            rec(0x000A, &[]),
        ]
        .concat();
        let err = run(&ole_with(&[("Workbook", &sparse)])).expect_err("refused");
        assert!(err.message.contains("spreads 2 cells"), "{err:?}");

        // A sheet record too short for its fixed part: calamine would index past its end.
        let bof = rec(0x0809, &[0x00, 0x06, 0x05, 0x00, 0, 0, 0, 0]);
        let workbook = [bof, rec(0x0085, &[0, 0, 0]), rec(0x000A, &[])].concat();
        let err = run(&ole_with(&[("Workbook", &workbook)])).expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Corrupt, "{err:?}");
    }

    #[test]
    fn a_packaged_object_is_extracted_as_what_it_contains() {
        let html = b"<html><body><p>Embedded hello</p></body></html>";
        let doc = run(&ole_with(&[("\u{1}Ole10Native", &ole10(html))])).expect("extracts");
        // The caption under the object's icon (its file name), then the file's own text.
        assert_eq!(doc.text(), "note.html\n\nEmbedded hello");
        // Without embedded extraction there is nothing to say about it.
        let none = OleExtractor
            .extract(
                &ole_with(&[("\u{1}Ole10Native", &ole10(html))]),
                Format::Ole,
                &Limits {
                    max_embedded_depth: 0,
                    ..Limits::default()
                },
                Deadline::after(Duration::from_secs(5)),
            )
            .expect_err("nothing known");
        assert_eq!(none.kind, ErrorKind::Unsupported);
    }

    #[test]
    fn encrypted_ooxml_and_malformed_packages_are_typed() {
        let err = run(&ole_with(&[
            ("EncryptionInfo", b"x"),
            ("EncryptedPackage", b"y"),
        ]))
        .expect_err("encrypted");
        assert_eq!(err.kind, ErrorKind::Encrypted);
        let err = run(&ole_with(&[("\u{1}Ole10Native", b"\x05\0\0\0\x02")])).expect_err("torn");
        assert_eq!(err.kind, ErrorKind::Corrupt);
        assert_eq!(
            run(b"not ole at all").expect_err("garbage").kind,
            ErrorKind::Corrupt
        );
    }
}
