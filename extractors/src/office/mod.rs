//! Office documents: OOXML/ODF (ZIP containers) and legacy OLE2 compound files.
//!
//! The container is opened first and its *contents* decide the format (`word/document.xml`,
//! `ppt/presentation.xml`, `xl/workbook.xml`; an OLE `Workbook` or `WordDocument` stream),
//! so a file with the wrong extension is handled as what it is. Password-protected files
//! (an OLE container with an `EncryptedPackage` stream, or calamine's password error) are
//! refused as `encrypted`.

mod docx;
mod ooxml;
mod pptx;
mod sheet;
mod zipguard;

use std::io::Cursor;

use crate::{Deadline, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

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
        ]
    }

    fn extract(
        &self,
        input: &[u8],
        _format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        let mut zip = ZipGuard::open(input, limits)?;
        if zip.has("xl/workbook.xml") || zip.has("xl/workbook.bin") {
            sheet::extract(input, Format::Xlsx, limits, deadline)
        } else if zip.has("content.xml") && zip.mimetype_contains("spreadsheet") {
            sheet::extract(input, Format::Ods, limits, deadline)
        } else if zip.has("word/document.xml") {
            docx::extract(&mut zip, limits, deadline)
        } else if zip.has("ppt/presentation.xml") {
            pptx::extract(&mut zip, limits, deadline)
        } else {
            Err(ExtractError::new(
                ErrorKind::Unsupported,
                "a zip archive that is not an office document",
            ))
        }
    }
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
        _format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        let ole = cfb::CompoundFile::open(Cursor::new(input)).map_err(|e| {
            ExtractError::new(
                ErrorKind::Corrupt,
                format!("not a valid OLE2 compound file: {e}"),
            )
        })?;
        let has = |name: &str| ole.is_stream(format!("/{name}"));
        if has("EncryptedPackage") || has("EncryptionInfo") {
            return Err(ExtractError::new(
                ErrorKind::Encrypted,
                "the document is protected with a password",
            ));
        }
        if has("Workbook") || has("Book") {
            drop(ole);
            return sheet::extract(input, Format::Xls, limits, deadline);
        }
        if has("WordDocument") {
            return Err(ExtractError::new(
                ErrorKind::Unsupported,
                "legacy Word documents are not extracted yet",
            ));
        }
        if has("PowerPoint Document") {
            return Err(ExtractError::new(
                ErrorKind::Unsupported,
                "legacy PowerPoint files are not extracted yet",
            ));
        }
        Err(ExtractError::new(
            ErrorKind::Unsupported,
            "an OLE2 compound file that is not a known office document",
        ))
    }
}
