//! Office documents: OOXML/ODF (ZIP containers) and legacy OLE2 compound files.
//!
//! The container is opened first and its *contents* decide the format (`word/document.xml`,
//! `ppt/presentation.xml`, `xl/workbook.xml`; an OLE `Workbook` or `WordDocument` stream),
//! so a file with the wrong extension is handled as what it is. Password-protected files
//! (an OLE container with an `EncryptedPackage` stream, or calamine's password error) are
//! refused as `encrypted`.

mod biff;
mod crypto;
mod doc;
mod docx;
mod emf;
mod epub;
mod escher;
mod numfmt;
mod odf;
mod ooxml;
mod ppt;
mod pptx;
mod sheet;
mod xml;
mod zipguard;

use std::io::Cursor;

use crate::{Deadline, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

pub(crate) use xml::XmlExtractor;
pub(crate) use zipguard::ZipGuard;

/// ZIP-based formats: dispatches on the archive's contents.
#[derive(Debug)]
pub(crate) struct ZipExtractor;

impl Extractor for ZipExtractor {
    fn formats(&self) -> &'static [Format] {
        &[
            Format::Zip,
            Format::Docx,
            Format::Pptx,
            Format::Xlsx,
            Format::Ods,
            Format::Odt,
            Format::Odp,
            Format::Epub,
        ]
    }

    fn extract(
        &self,
        input: &[u8],
        format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        if matches!(format, Format::Odt | Format::Odp | Format::Ods)
            && !input.starts_with(b"PK\x03\x04")
        {
            // Flat OpenDocument: the same XML, unzipped.
            return odf::extract_flat(input, format, limits, deadline);
        }
        let mut zip = ZipGuard::open(input, limits)?;
        let opendocument = zip.mimetype_contains("application/vnd.oasis.opendocument")
            || (zip.has("content.xml") && zip.has("META-INF/manifest.xml"));
        if opendocument {
            odf::check_encryption(&mut zip)?;
        }
        let mut doc = if zip.has("xl/workbook.xml") || zip.has("xl/workbook.bin") {
            sheet::extract(input, Format::Xlsx, None, limits, deadline)
                .and_then(|doc| sheet::append_notes(doc, &mut zip, limits, deadline))
        } else if zip.has("word/document.xml") {
            docx::extract(&mut zip, limits, deadline)
        } else if zip.has("ppt/presentation.xml") {
            pptx::extract(&mut zip, limits, deadline)
        } else if opendocument {
            // Spreadsheets too: a streamed read of what the cells display (calamine reads
            // values, and builds whole ranges).
            let kind = if zip.mimetype_contains("spreadsheet") {
                Format::Ods
            } else if zip.mimetype_contains("presentation") {
                Format::Odp
            } else {
                Format::Odt
            };
            odf::extract_zip(&mut zip, kind, limits, deadline)
        } else if zip.mimetype_contains("application/epub+zip") || zip.has("META-INF/container.xml")
        {
            return epub::extract(&mut zip, limits, deadline);
        } else if zip.has("[Content_Types].xml") || zip.has("mimetype") {
            // A package of a format we do not read (Visio, XPS, iWork, …): its parts are
            // markup, not a document's text.
            return Err(ExtractError::new(
                ErrorKind::Unsupported,
                "a zip package of a format that is not extracted",
            ));
        } else {
            return archive(&mut zip, limits, deadline);
        }?;
        let embedded: Vec<String> = zip
            .names()
            .into_iter()
            .filter(|n| n.contains("/embeddings/"))
            .take(MAX_EMBEDDED)
            .collect();
        for name in embedded {
            deadline.check()?;
            if let Some(bytes) = zip.read(&name)? {
                append_embedded(&mut doc, &name, &bytes, limits, deadline);
            }
        }
        append_media(&mut doc, &mut zip, limits, deadline)?;
        Ok(doc)
    }
}

/// Lists the package's media parts (pictures, audio, video) by name, as Tika lists a
/// document's embedded resources: the text then says a picture was there (an image-only
/// slide is not an empty one), and a search for the file finds the document. A part's
/// own text comes with it: EMF pictures are mostly the previews Office draws of embedded
/// objects and charts, whose text (axis labels, a linked table's cells) is what the page
/// shows.
fn append_media(
    doc: &mut Extracted,
    zip: &mut ZipGuard<'_>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<(), ExtractError> {
    let media: Vec<String> = zip
        .names()
        .into_iter()
        .filter(|n| n.contains("/media/") && !n.ends_with('/'))
        .take(MAX_MEDIA)
        .collect();
    for name in media {
        deadline.check()?;
        let described = name.to_ascii_lowercase().ends_with(".emf")
            && zip
                .read(&name)?
                .is_some_and(|bytes| append_picture_text(doc, &name, &bytes, limits));
        let short = name.rsplit('/').next().unwrap_or(&name);
        if !described && short.len() < doc.output_room(limits) {
            append_caption(doc, short);
        }
    }
    Ok(())
}

/// At most this many media parts of one package are listed.
const MAX_MEDIA: usize = 256;

/// The text an EMF picture draws, as a section headed by the picture's name (its part
/// name in a package, which is in the file; a label of ours — kept out of the text — for
/// the unnamed pictures of the binary formats), within what is left of the output budget.
/// Returns whether the picture draws any text.
pub(crate) fn append_picture_text(
    doc: &mut Extracted,
    name: &str,
    emf_bytes: &[u8],
    limits: &Limits,
) -> bool {
    let lines = emf::text(emf_bytes);
    if lines.is_empty() {
        return false;
    }
    let budget = doc.output_room(limits);
    if budget == 0 {
        return true;
    }
    let short = name.rsplit('/').next().unwrap_or(name);
    let mut b = crate::DocBuilder::new(doc.format, budget);
    if name.contains('/') {
        b.heading(1, short);
    } else {
        b.label(1, short);
    }
    for line in &lines {
        if !b.paragraph(line) {
            break;
        }
    }
    doc.sections.extend(b.finish().sections);
    true
}

/// A plain ZIP archive: each file in it is extracted as an embedded document (so a report
/// shared as a .zip is searchable), within the embedded-depth limit.
fn archive(
    zip: &mut ZipGuard<'_>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    if limits.max_embedded_depth == 0 {
        return Err(ExtractError::new(
            ErrorKind::Unsupported,
            "a zip archive nested too deep",
        ));
    }
    let mut doc = crate::DocBuilder::new(Format::Zip, limits.max_output_bytes).finish();
    let names: Vec<String> = zip
        .names()
        .into_iter()
        .filter(|n| !n.ends_with('/'))
        .collect();
    let total = names.len();
    for name in names.into_iter().take(MAX_EMBEDDED * 8) {
        deadline.check()?;
        if let Some(bytes) = zip.read(&name)? {
            append_embedded(&mut doc, &name, &bytes, limits, deadline);
        }
    }
    if total > MAX_EMBEDDED * 8 {
        doc.warnings.push(crate::Warning {
            code: "archive_truncated",
            message: format!(
                "only the first {} of {total} files were extracted",
                MAX_EMBEDDED * 8
            ),
        });
    }
    if doc.sections.is_empty() {
        return Err(ExtractError::new(
            ErrorKind::Unsupported,
            "a zip archive with no extractable document",
        ));
    }
    Ok(doc)
}

/// A new compound file holding `streams` (path, bytes), for readers that must not see the
/// original's damaged or hostile structure.
pub(crate) fn compound_file(streams: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    // Version 3 (512-byte sectors): calamine refuses a version 4 file whose root has no
    // mini stream, which is what `cfb` writes when every stream is large.
    let mut out =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))?;
    for (path, bytes) in streams {
        out.create_stream(path)?.write_all(bytes)?;
    }
    out.flush()?;
    Ok(out.into_inner().into_inner())
}

/// At most this many embedded documents are extracted from one container.
const MAX_EMBEDDED: usize = 32;

/// Extracts a document embedded in `doc` (one level down) and appends its sections,
/// headed by its part name. A failure is a warning on the outer document.
pub(crate) fn append_embedded(
    doc: &mut Extracted,
    name: &str,
    bytes: &[u8],
    limits: &Limits,
    deadline: Deadline,
) {
    if limits.max_embedded_depth == 0 {
        return;
    }
    let child_limits = Limits {
        max_embedded_depth: limits.max_embedded_depth - 1,
        max_output_bytes: doc.output_room(limits),
        ..limits.clone()
    };
    if child_limits.max_output_bytes == 0 {
        return;
    }
    let short = name.rsplit('/').next().unwrap_or(name);
    let format = crate::detect(bytes, &crate::Hints::file_name(short));
    let result = crate::Registry::default()
        .extractors
        .iter()
        .find(|e| e.formats().contains(&format))
        .ok_or_else(|| {
            ExtractError::new(ErrorKind::Unsupported, format!("format {}", format.name()))
        })
        .and_then(|e| e.extract(bytes, format, &child_limits, deadline));
    match result {
        Ok(inner) => {
            for mut section in inner.sections {
                section.heading.insert(0, short.to_string());
                section.page = None;
                doc.sections.push(section);
            }
        }
        Err(e) => doc.warnings.push(crate::Warning {
            code: "embedded_failed",
            message: format!("{short}: {}", e),
        }),
    }
}

/// The payload of an `Ole10Native` stream (the OLE1 "Package" layout, as oletools reads
/// it): total size, a 2-byte flag, label and source path (NUL-terminated), two reserved
/// words, the temporary path (NUL-terminated), the data length, then the data.
/// Returns the label too: the file name shown under the object's icon.
pub(crate) fn ole10_native(data: &[u8]) -> Option<(String, &[u8])> {
    let mut pos = 4 + 2;
    let label_end = pos + data.get(pos..)?.iter().position(|&b| b == 0)?;
    let label = encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(&data[pos..label_end])
        .0
        .trim()
        .to_string();
    for _ in 0..2 {
        pos += data.get(pos..)?.iter().position(|&b| b == 0)? + 1;
    }
    pos += 8;
    pos += data.get(pos..)?.iter().position(|&b| b == 0)? + 1;
    let len = u32::from_le_bytes(data.get(pos..pos + 4)?.try_into().ok()?) as usize;
    pos += 4;
    Some((label, data.get(pos..pos.checked_add(len)?)?))
}

/// An object shown as an icon: the caption under it, its file name, is text on the page.
fn append_caption(doc: &mut Extracted, caption: &str) {
    let mut b = crate::DocBuilder::new(doc.format, caption.len() + 1);
    b.heading(1, caption);
    doc.sections.extend(b.finish().sections);
}

/// The streams a packaged OLE object keeps its file in, in the order they are tried.
const PACKAGE_STREAMS: [&str; 3] = ["Package", "CONTENTS", "\u{1}Ole10Native"];

/// A file a packaged OLE object wraps.
struct Packaged {
    /// Its name: the icon's caption for an OLE1 package, else the stream's name.
    name: String,
    /// Whether `name` is a caption shown on the page.
    captioned: bool,
    bytes: Vec<u8>,
}

/// The file a packaged OLE object in `storage` ("" for the root) wraps. `Ok(None)` when
/// `storage` holds no package stream; `Err` when it holds one that cannot be read or decoded.
fn package_payload(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    storage: &str,
    limits: &Limits,
) -> Result<Option<Packaged>, ExtractError> {
    let broken = |e: &dyn std::fmt::Display| {
        ExtractError::new(ErrorKind::Corrupt, format!("embedded stream: {e}"))
    };
    let Some(stream) = PACKAGE_STREAMS
        .into_iter()
        .find(|s| ole.is_stream(format!("{storage}/{s}")))
    else {
        return Ok(None);
    };
    let mut data = Vec::new();
    let s = ole
        .open_stream(format!("{storage}/{stream}"))
        .map_err(|e| broken(&e))?;
    std::io::Read::read_to_end(
        &mut std::io::Read::take(s, limits.max_input_bytes as u64),
        &mut data,
    )
    .map_err(|e| broken(&e))?;
    if stream.starts_with('\u{1}') {
        let (label, bytes) = ole10_native(&data)
            .ok_or_else(|| ExtractError::new(ErrorKind::Corrupt, "a malformed embedded object"))?;
        if !label.is_empty() {
            return Ok(Some(Packaged {
                name: label,
                captioned: true,
                bytes: bytes.to_vec(),
            }));
        }
        data = bytes.to_vec();
    }
    Ok(Some(Packaged {
        name: stream.trim_start_matches('\u{1}').to_string(),
        captioned: false,
        bytes: data,
    }))
}

/// Extracts objects embedded in an OLE2 file, one storage each: a whole Word document (its
/// own `WordDocument` stream), or a packaged file (`Package`, `CONTENTS`, `\u{1}Ole10Native`).
/// Failures are warnings on `doc`.
pub(crate) fn ole_embedded(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    doc: &mut Extracted,
    storages: Vec<String>,
    limits: &Limits,
    deadline: Deadline,
) {
    if limits.max_embedded_depth == 0 {
        return;
    }
    for storage in storages.into_iter().take(MAX_EMBEDDED) {
        if deadline.check().is_err() {
            return;
        }
        let name = storage.rsplit('/').next().unwrap_or("object").to_string();
        if ole.is_stream(format!("{storage}/WordDocument")) {
            let child = Limits {
                max_embedded_depth: limits.max_embedded_depth - 1,
                ..limits.clone()
            };
            match doc::text_at(ole, &storage, &child, deadline) {
                Ok(inner) => {
                    for mut section in inner.sections {
                        section.heading.insert(0, name.clone());
                        doc.sections.push(section);
                    }
                }
                Err(e) => doc.warnings.push(crate::Warning {
                    code: "embedded_failed",
                    message: format!("{name}: {e}"),
                }),
            }
            continue;
        }
        if ole.is_stream(format!("{storage}/Workbook"))
            || ole.is_stream(format!("{storage}/PowerPoint Document"))
        {
            match storage_as_file(ole, &storage, limits.max_input_bytes as u64) {
                Ok(file) => append_embedded(doc, &name, &file, limits, deadline),
                Err(e) => doc.warnings.push(crate::Warning {
                    code: "embedded_failed",
                    message: format!("{name}: {e}"),
                }),
            }
            continue;
        }
        match package_payload(ole, &storage, limits) {
            Ok(Some(file)) if file.captioned => {
                append_caption(doc, &file.name);
                append_embedded(doc, &file.name, &file.bytes, limits, deadline);
            }
            Ok(Some(file)) => append_embedded(doc, &name, &file.bytes, limits, deadline),
            Ok(None) => {
                // No content of its own (a linked file): its print preview is all there is.
                let preview = format!("{storage}/\u{3}EPRINT");
                if let Ok(emf) = doc::read_stream(ole, &preview, limits.max_input_bytes as u64) {
                    let lines = emf::text(&emf);
                    if !lines.is_empty() {
                        let mut b = crate::DocBuilder::new(Format::Ole, limits.max_output_bytes);
                        b.heading(1, &name);
                        for line in &lines {
                            b.paragraph(line);
                        }
                        doc.sections.extend(b.finish().sections);
                    }
                }
            }
            Err(e) => doc.warnings.push(crate::Warning {
                code: "embedded_failed",
                message: format!("{name}: {e}"),
            }),
        }
    }
}

/// Copies one storage — its streams and sub-storages, at most `max` bytes of streams — into
/// a compound file of its own, so that an object embedded as a storage (an XLS or PPT in a
/// workbook) is extracted exactly like the file it was.
fn storage_as_file(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    storage: &str,
    max: u64,
) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Write};
    let entries: Vec<(std::path::PathBuf, bool)> = ole
        .walk_storage(storage)?
        .map(|e| (e.path().to_path_buf(), e.is_storage()))
        .collect();
    let mut out = cfb::CompoundFile::create(Cursor::new(Vec::new()))?;
    let mut left = max;
    for (path, is_storage) in entries {
        let Ok(rel) = path.strip_prefix(storage) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = std::path::Path::new("/").join(rel);
        if is_storage {
            out.create_storage(&target)?;
            continue;
        }
        let mut stream = ole.open_stream(&path)?;
        if stream.len() > left {
            return Err(std::io::Error::other(format!(
                "embedded object larger than {max} bytes"
            )));
        }
        left -= stream.len();
        let mut bytes = Vec::with_capacity(stream.len() as usize);
        stream.read_to_end(&mut bytes)?;
        out.create_stream(&target)?.write_all(&bytes)?;
    }
    out.flush()?;
    Ok(out.into_inner().into_inner())
}

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
                for (i, picture) in escher::emf_pictures(&group, limits.max_input_bytes)
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
        let mut body = vec![2, 0];
        body.extend_from_slice(b"note.html\0C:\\note.html\0");
        body.extend_from_slice(&[0, 0, 3, 0, 0, 0, 0, 0]);
        body.extend_from_slice(b"C:\\Temp\\note.html\0");
        body.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        body.extend_from_slice(payload);
        let mut out = (body.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&body);
        out
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

    /// A ZIP package holding `entries` (name, bytes).
    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for (name, body) in entries {
            zip.start_file(*name, options).expect("entry");
            zip.write_all(body).expect("write");
        }
        zip.finish().expect("zip").into_inner()
    }

    /// The sections' texts of a package extracted as `format` within `limits`.
    fn zip_texts(package: &[u8], format: Format, limits: &Limits) -> Vec<String> {
        let doc = ZipExtractor
            .extract(
                package,
                format,
                limits,
                Deadline::after(Duration::from_secs(5)),
            )
            .expect("extracts");
        doc.sections.into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn text_drawn_by_an_emf_picture_of_a_package_is_extracted() {
        let emf = emf::sample(&["2002", "R&D Partners"]);
        let package = zip_with(&[
            (
                "word/document.xml",
                br#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Budget</w:t></w:r></w:p></w:body></w:document>"#,
            ),
            ("word/media/image1.emf", &emf),
            ("word/media/image2.png", b"\x89PNG not an emf"),
        ]);
        assert_eq!(
            zip_texts(&package, Format::Docx, &Limits::default()),
            ["Budget", "image1.emf\n\n2002\n\nR&D Partners", "image2.png"]
        );
    }

    #[test]
    fn parts_the_body_imports_whole_are_extracted_in_document_order() {
        let mht = "MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"p\"\r\n\r\n--p\r\nContent-Type: text/html; charset=\"windows-1252\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<html><body><p>Imported caf=E9 menu</p></body></html>\r\n--p--\r\n";
        let package = zip_with(&[
            (
                "word/document.xml",
                br#"<w:document xmlns:w="w" xmlns:r="r"><w:body><w:p><w:r><w:t>Cover</w:t></w:r></w:p><w:altChunk r:id="b"/><w:altChunk r:id="a"/></w:body></w:document>"#,
            ),
            (
                "word/_rels/document.xml.rels",
                br#"<Relationships><Relationship Id="a" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/aFChunk" Target="chunk.txt"/><Relationship Id="b" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/aFChunk" Target="/word/page.mht"/></Relationships>"#,
            ),
            ("word/page.mht", mht.as_bytes()),
            ("word/chunk.txt", b"Plain chunk"),
        ]);
        assert_eq!(
            zip_texts(&package, Format::Docx, &Limits::default()),
            ["Cover", "Imported caf\u{e9} menu", "Plain chunk"]
        );
    }

    #[test]
    fn a_sheet_is_read_by_its_cells_not_its_extent() {
        // Two cells at opposite corners of the largest sheet Excel allows: calamine's dense
        // `Range` would hold 17 billion cells (hundreds of GB) for this 1 KB file.
        let rels = br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
        let package = zip_with(&[
            (
                "[Content_Types].xml",
                br#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#,
            ),
            (
                "xl/workbook.xml",
                br#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Far" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
            ),
            ("xl/_rels/workbook.xml.rels", rels),
            (
                "_rels/.rels",
                br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
            ),
            (
                "xl/worksheets/sheet1.xml",
                br#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>corner</t></is></c></row></sheetData></worksheet>"#,
            ),
        ]);
        assert_eq!(
            zip_texts(&package, Format::Xlsx, &Limits::default()),
            ["Far\n\n1\ncorner"]
        );
    }

    #[test]
    fn a_workbook_that_is_also_a_compound_file_is_refused() {
        // A ZIP is found from its end, so bytes before it can be a compound-file header,
        // which calamine would parse (and follow cyclic chains in) before the workbook.
        let workbook = zip_with(&[("xl/workbook.xml", b"<workbook/>")]);
        let mut polyglot = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        polyglot.resize(512, 0xFF);
        polyglot.extend_from_slice(&workbook);
        let err = ZipExtractor
            .extract(
                &polyglot,
                Format::Xlsx,
                &Limits::default(),
                Deadline::after(Duration::from_secs(5)),
            )
            .expect_err("refused");
        assert!(err.message.contains("compound file"), "{err:?}");
    }

    /// An ODS package whose one sheet has `rows` (the XML of its rows).
    fn ods_with(rows: &str) -> Vec<u8> {
        let content = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Plan">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
        );
        zip_with(&[
            (
                "mimetype",
                b"application/vnd.oasis.opendocument.spreadsheet",
            ),
            (
                "META-INF/manifest.xml",
                br#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>"#,
            ),
            ("content.xml", content.as_bytes()),
        ])
    }

    #[test]
    fn an_ods_is_read_as_displayed_and_repeats_into_millions_of_cells_stay_bounded() {
        // A formatted but empty run to the sheet's edge costs nothing.
        let row = r#"<table:table-row table:number-rows-repeated="2"><table:table-cell office:value-type="string"><text:p>Q3</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="12"><text:p>12,0</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16382"/></table:table-row><table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>"#;
        assert_eq!(
            zip_texts(&ods_with(row), Format::Ods, &Limits::default()),
            ["Plan\n\nQ3 | 12,0\nQ3 | 12,0"]
        );
        // A cell with a value and no paragraph (older writers) shows its value.
        let bare = r#"<table:table-row><table:table-cell office:value-type="float" office:value="7"/></table:table-row>"#;
        assert_eq!(
            zip_texts(&ods_with(bare), Format::Ods, &Limits::default()),
            ["Plan\n\n7"]
        );
        // One filled cell repeated over 6,000 rows by 16,000 columns (96 million cells;
        // calamine took gigabytes on such files): read to the output cap, quickly.
        let bomb = r#"<table:table-row table:number-rows-repeated="6000"><table:table-cell table:number-columns-repeated="16000" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>"#;
        let limits = Limits {
            max_output_bytes: 64 * 1024,
            ..Limits::default()
        };
        let started = std::time::Instant::now();
        let doc = ZipExtractor
            .extract(
                &ods_with(bomb),
                Format::Ods,
                &limits,
                Deadline::after(Duration::from_secs(5)),
            )
            .expect("bounded");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(doc.text().len() <= 64 * 1024);
        assert!(doc.text().contains("x | x"));
        assert!(doc.warnings.iter().any(|w| w.code == "output_truncated"));
    }

    #[test]
    fn a_picture_only_slide_names_its_pictures() {
        let package = zip_with(&[
            ("ppt/presentation.xml", b"<p:presentation/>"),
            (
                "ppt/slides/slide1.xml",
                br#"<p:sld xmlns:p="p"><p:cSld><p:spTree><p:pic/></p:spTree></p:cSld></p:sld>"#,
            ),
            ("ppt/media/image1.jpeg", b"\xff\xd8\xff not decoded"),
            ("ppt/media/media1.mp3", b"ID3 not decoded"),
            ("ppt/media/", b""),
        ]);
        assert_eq!(
            zip_texts(&package, Format::Pptx, &Limits::default()),
            ["image1.jpeg", "media1.mp3"]
        );
        let tight = Limits {
            max_output_bytes: 12,
            ..Limits::default()
        };
        let written: usize = zip_texts(&package, Format::Pptx, &tight)
            .iter()
            .map(String::len)
            .sum();
        assert!(written <= 12, "{written} bytes over a 12-byte budget");
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
