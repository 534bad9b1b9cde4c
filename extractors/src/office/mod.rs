//! Office documents: OOXML/ODF (ZIP containers) and legacy OLE2 compound files.
//!
//! The container is opened first and its *contents* decide the format (`word/document.xml`,
//! `ppt/presentation.xml`, `xl/workbook.xml`; an OLE `Workbook` or `WordDocument` stream),
//! so a file with the wrong extension is handled as what it is. Password-protected files
//! (an OLE container with an `EncryptedPackage` stream, or calamine's password error) are
//! refused as `encrypted`.

mod biff;
mod chart;
mod crypto;
mod doc;
mod docx;
mod embedded;
mod emf;
mod epub;
mod escher;
mod numfmt;
mod odf;
mod ole;
mod ooxml;
mod ppt;
mod ppt_edits;
mod pptx;
mod sheet;
mod wmf;
mod xml;
mod zipguard;

use crate::{Deadline, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

use embedded::{MAX_EMBEDDED, append_caption};
pub(crate) use embedded::{append_embedded, compound_file, ole_embedded};
pub(crate) use ole::OleExtractor;
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
            // The part's name says where the text that follows came from, and, like a
            // media part's, names an object whose contents cannot be read. An OLE object
            // (`.bin`) that wraps a file is captioned with that file's name instead.
            let short = name.rsplit('/').next().unwrap_or(&name).to_string();
            let ole_object = short.to_ascii_lowercase().ends_with(".bin");
            let fits = |doc: &Extracted| !short.is_empty() && short.len() < doc.output_room(limits);
            if !ole_object && fits(&doc) {
                append_caption(&mut doc, &short);
            }
            let before = doc.sections.len();
            if let Some(bytes) = zip.read(&name)? {
                append_embedded(&mut doc, &name, &bytes, limits, deadline);
            }
            if ole_object && doc.sections.len() == before && fits(&doc) {
                append_caption(&mut doc, &short);
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
/// shows; WMF ones, diagrams and equations of documents from the binary formats' days.
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
        let lower = name.to_ascii_lowercase();
        let described = (lower.ends_with(".emf") || lower.ends_with(".wmf"))
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

/// The lines of text an EMF or WMF picture draws; none for anything else.
pub(crate) fn picture_lines(picture: &[u8]) -> Vec<String> {
    let lines = emf::text(picture);
    if lines.is_empty() {
        wmf::text(picture)
    } else {
        lines
    }
}

/// The text an EMF or WMF picture draws, as a section headed by the picture's name (its part
/// name in a package, which is in the file; a label of ours — kept out of the text — for
/// the unnamed pictures of the binary formats), within what is left of the output budget.
/// Returns whether the picture draws any text.
pub(crate) fn append_picture_text(
    doc: &mut Extracted,
    name: &str,
    picture: &[u8],
    limits: &Limits,
) -> bool {
    let lines = picture_lines(picture);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use std::time::Duration;

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

    /// A package extracted as `format` within `limits`.
    fn zip_extract(package: &[u8], format: Format, limits: &Limits) -> Extracted {
        ZipExtractor
            .extract(
                package,
                format,
                limits,
                Deadline::after(Duration::from_secs(5)),
            )
            .expect("extracts")
    }

    /// The sections' texts of a package extracted as `format` within `limits`.
    fn zip_texts(package: &[u8], format: Format, limits: &Limits) -> Vec<String> {
        let doc = zip_extract(package, format, limits);
        doc.sections.into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn a_deck_with_hundreds_of_embedded_charts_reads_them_all() {
        let body = |text: &str| {
            format!(
                "<office:document-content><office:body><office:chart><text:p>{text}</text:p></office:chart></office:body></office:document-content>"
            )
            .into_bytes()
        };
        let names: Vec<String> = (0..300)
            .map(|i| format!("Object {i}/content.xml"))
            .collect();
        let bodies: Vec<Vec<u8>> = (0..300).map(|i| body(&format!("chart{i}"))).collect();
        let mut entries: Vec<(&str, &[u8])> = vec![
            (
                "mimetype",
                b"application/vnd.oasis.opendocument.presentation",
            ),
            ("content.xml", b"<office:document-content/>"),
        ];
        entries.extend(
            names
                .iter()
                .map(String::as_str)
                .zip(bodies.iter().map(Vec::as_slice)),
        );
        let text = zip_texts(&zip_with(&entries), Format::Odp, &Limits::default()).join(" ");
        for i in 0..300 {
            assert!(text.contains(&format!("chart{i}")), "chart{i} missing");
        }
    }

    #[test]
    fn a_presentation_with_no_slides_is_empty_not_corrupt() {
        let deck = zip_with(&[(
            "ppt/presentation.xml",
            br#"<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:sldIdLst/></p:presentation>"#,
        )]);
        let doc = zip_extract(&deck, Format::Pptx, &Limits::default());
        assert!(
            doc.sections.iter().all(|s| s.text.trim().is_empty()),
            "{doc:?}"
        );
        assert_eq!(
            doc.warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
            ["no_slides"]
        );
        // No presentation part at all: not a presentation, but an archive of its files.
        let junk = zip_with(&[("ppt/notes.txt", b"hello")]);
        let doc = zip_extract(&junk, Format::Pptx, &Limits::default());
        assert_eq!(doc.format, Format::Zip);
        assert!(
            doc.warnings.iter().all(|w| w.code != "no_slides"),
            "{doc:?}"
        );
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
    fn embedded_parts_are_captioned_with_their_names() {
        let inner = zip_with(&[(
            "word/document.xml",
            br#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Inner</w:t></w:r></w:p></w:body></w:document>"#,
        )]);
        let package = zip_with(&[
            ("ppt/presentation.xml", b"<p:presentation/>"),
            (
                "ppt/slides/slide1.xml",
                br#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>Deck</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#,
            ),
            ("ppt/embeddings/Microsoft_Word_Document1.docx", &inner),
            // An object nothing can read: its name is all there is to say.
            ("ppt/embeddings/oleObject1.bin", b"\x00\x9f\x92\x96\x00\x00\x01\xff"),
        ]);
        assert_eq!(
            zip_texts(&package, Format::Pptx, &Limits::default()),
            [
                "Deck",
                "Microsoft_Word_Document1.docx",
                "Inner",
                "oleObject1.bin"
            ]
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
    fn an_ods_is_read_as_displayed_and_a_repeated_row_once() {
        // A formatted but empty run to the sheet's edge costs nothing.
        let row = r#"<table:table-row table:number-rows-repeated="2"><table:table-cell office:value-type="string"><text:p>Q3</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="12"><text:p>12,0</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16382"/></table:table-row><table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>"#;
        assert_eq!(
            zip_texts(&ods_with(row), Format::Ods, &Limits::default()),
            ["Plan\n\nQ3 | 12,0"]
        );
        // A cell with a value and no paragraph (older writers) shows its value.
        let bare = r#"<table:table-row><table:table-cell office:value-type="float" office:value="7"/></table:table-row>"#;
        assert_eq!(
            zip_texts(&ods_with(bare), Format::Ods, &Limits::default()),
            ["Plan\n\n7"]
        );
        // One filled cell repeated over 6,000 rows by 16,000 columns (96 million cells;
        // calamine took gigabytes on such files): written once.
        let bomb = r#"<table:table-row table:number-rows-repeated="6000"><table:table-cell table:number-columns-repeated="16000" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>"#;
        let doc = ZipExtractor
            .extract(
                &ods_with(bomb),
                Format::Ods,
                &Limits::default(),
                Deadline::after(Duration::from_secs(5)),
            )
            .expect("bounded");
        assert_eq!(doc.text(), "Plan\n\nx");
        assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
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
}
