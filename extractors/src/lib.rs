//! Format detection and text extraction: bytes in, structured text out, no I/O.
//!
//! [`Registry::extract`] detects a document's [`Format`] (magic bytes first, then the
//! source's content type, then the file extension), runs the matching [`Extractor`] under
//! [`Limits`], and returns an [`Extracted`] document: a title, ordered [`Section`]s (heading
//! path, page/slide/sheet number, text), metadata and warnings. Every failure is an
//! [`ExtractError`] with an [`ErrorKind`]; a panic inside an extractor is caught here and
//! becomes one too, so hostile input never takes the process down.
//!
//! **Invariant:** nothing in this crate touches the filesystem or the network.
//!
//! ```
//! use extractors::{Hints, Limits, Registry};
//!
//! let registry = Registry::default();
//! let html = b"<html><head><title>Hi</title></head><body><h1>Intro</h1><p>Hello world</p></body></html>";
//! let doc = registry.extract(html, &Hints::file_name("a.html"), &Limits::default()).unwrap();
//! assert_eq!(doc.title.as_deref(), Some("Hi"));
//! assert_eq!(doc.sections[0].heading, vec!["Intro".to_string()]);
//! assert!(doc.text().contains("Hello world"));
//! ```
#![deny(missing_docs)]

mod builder;
mod csv;
mod detect;
mod email;
mod error;
mod html;
mod json;
mod markdown;
mod msg;
mod msg_rtf;
mod office;
mod pdf;
mod pdf_cmap;
mod pdf_content;
mod pdf_encoding;
mod pdf_extras;
mod pdf_font;
mod pdf_repair;
mod pdf_std14;
mod pdf_text;
mod pdf_widths;
mod rtf;
mod text;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

pub use builder::DocBuilder;
pub use detect::{Format, Hints, detect};
pub use error::{ErrorKind, ExtractError};
pub use text::decode_text;

/// The lines of text a metafile picture (EMF or WMF) draws, as they are indexed from the
/// pictures of Office documents; none for anything else. Public for the fuzz targets.
#[doc(hidden)]
pub fn metafile_text(picture: &[u8]) -> Vec<String> {
    office::picture_lines(picture)
}

/// Bumped whenever any extractor's output may change, so that an upgrade re-extracts
/// documents indexed by an older version (the engine stores it in its manifest).
pub const EXTRACTOR_VERSION: u32 = 13;

/// Bounds every extraction.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Inputs larger than this are refused with [`ErrorKind::TooLarge`].
    pub max_input_bytes: usize,
    /// Extracted text beyond this many bytes is cut off, with a warning.
    pub max_output_bytes: usize,
    /// Maximum nesting depth (JSON objects, HTML elements kept for structure).
    pub max_depth: usize,
    /// Wall-time budget for one document, checked inside extraction loops.
    pub timeout: Duration,
    /// How deep documents embedded in documents (a spreadsheet in a presentation, a ZIP in
    /// an OLE object in a letter) are extracted; 0 leaves them out. Each level reads at most
    /// `max_input_bytes`, so the default of 4 bounds a nested bomb at four inputs' worth.
    pub max_embedded_depth: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 50 * 1024 * 1024,
            max_output_bytes: 5 * 1024 * 1024,
            max_depth: 100,
            timeout: Duration::from_secs(60),
            max_embedded_depth: 4,
        }
    }
}

/// A running extraction's clock: extractors call [`Deadline::check`] inside their loops.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Deadline(Instant::now() + budget)
    }

    /// Fails with [`ErrorKind::Timeout`] once the deadline has passed.
    pub fn check(&self) -> Result<(), ExtractError> {
        if Instant::now() > self.0 {
            Err(ExtractError::new(
                ErrorKind::Timeout,
                "extraction took longer than its time limit",
            ))
        } else {
            Ok(())
        }
    }
}

/// One ordered part of a document: a page, a slide, a sheet, or a headed section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// Headings from the outermost to this section's own (empty before the first heading).
    pub heading: Vec<String>,
    /// Page, slide or sheet number (1-based), where the format has them.
    pub page: Option<u32>,
    /// The section's text; paragraphs separated by blank lines.
    pub text: String,
}

/// Something that went wrong without failing the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// A short stable code (`output_truncated`, `no_text_layer`, …).
    pub code: &'static str,
    /// Details for the run report.
    pub message: String,
}

/// An extracted document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The detected format.
    pub format: Format,
    /// The document's own title, if it has one.
    pub title: Option<String>,
    /// Ordered sections; never empty sections.
    pub sections: Vec<Section>,
    /// Format metadata (author, columns, encoding…).
    pub metadata: BTreeMap<String, String>,
    /// Non-fatal problems.
    pub warnings: Vec<Warning>,
}

impl Extracted {
    /// How many more bytes of text fit under `limits.max_output_bytes` (for extractors that
    /// append embedded parts to a document).
    pub(crate) fn output_room(&self, limits: &Limits) -> usize {
        let written: usize = self.sections.iter().map(|s| s.text.len()).sum();
        limits.max_output_bytes.saturating_sub(written)
    }

    /// All sections' text, separated by blank lines.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for s in &self.sections {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&s.text);
        }
        out
    }
}

/// Turns the bytes of one format into an [`Extracted`] document. Implementations are pure.
pub trait Extractor: Send + Sync {
    /// The formats this extractor handles.
    fn formats(&self) -> &'static [Format];

    /// Extracts `input`, which detection says is `format`.
    fn extract(
        &self,
        input: &[u8],
        format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError>;
}

/// The explicit list of extractors, searched in order.
pub struct Registry {
    extractors: Vec<Box<dyn Extractor>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let formats: Vec<&Format> = self.extractors.iter().flat_map(|e| e.formats()).collect();
        f.debug_struct("Registry")
            .field("formats", &formats)
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            extractors: vec![
                Box::new(text::TextExtractor),
                Box::new(markdown::MarkdownExtractor),
                Box::new(html::HtmlExtractor),
                Box::new(csv::CsvExtractor),
                Box::new(json::JsonExtractor),
                Box::new(office::ZipExtractor),
                Box::new(office::OleExtractor),
                Box::new(pdf::PdfExtractor),
                Box::new(email::EmailExtractor),
                Box::new(rtf::RtfExtractor),
                Box::new(office::XmlExtractor),
            ],
        }
    }
}

impl Registry {
    /// A registry of exactly these extractors, searched in order (put one first to
    /// replace a built-in one for its formats).
    pub fn new(extractors: Vec<Box<dyn Extractor>>) -> Self {
        Registry { extractors }
    }

    /// Detects the format of `input` and extracts it within `limits`.
    pub fn extract(
        &self,
        input: &[u8],
        hints: &Hints<'_>,
        limits: &Limits,
    ) -> Result<Extracted, ExtractError> {
        self.extract_as(input, detect(input, hints), limits)
    }

    /// Extracts `input` as `format`, without detection (the caller knows the format; fuzz
    /// targets aim at one extractor). Panics inside the extractor become `corrupt` errors.
    pub fn extract_as(
        &self,
        input: &[u8],
        format: Format,
        limits: &Limits,
    ) -> Result<Extracted, ExtractError> {
        if input.len() > limits.max_input_bytes {
            return Err(ExtractError::new(
                ErrorKind::TooLarge,
                format!(
                    "input is {} bytes, over the limit of {}",
                    input.len(),
                    limits.max_input_bytes
                ),
            ));
        }
        let extractor = self
            .extractors
            .iter()
            .find(|e| e.formats().contains(&format))
            .ok_or_else(|| {
                ExtractError::new(
                    ErrorKind::Unsupported,
                    format!("no extractor for format {}", format.name()),
                )
            })?;
        let deadline = Deadline::after(limits.timeout);
        match catch_unwind(AssertUnwindSafe(|| {
            extractor.extract(input, format, limits, deadline)
        })) {
            Ok(result) => result,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(ExtractError::new(
                    ErrorKind::Corrupt,
                    format!("{} extractor panicked: {what}", format.name()),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let limits = Limits {
            max_input_bytes: 4,
            ..Limits::default()
        };
        let err = Registry::default()
            .extract(b"hello", &Hints::file_name("a.txt"), &limits)
            .expect_err("too large");
        assert_eq!(err.kind, ErrorKind::TooLarge);
    }

    #[test]
    fn a_broken_pdf_is_corrupt_and_unknown_binary_is_unsupported() {
        let registry = Registry::default();
        let err = registry
            .extract(
                b"%PDF-1.7\n...",
                &Hints::file_name("a.pdf"),
                &Limits::default(),
            )
            .expect_err("not a real pdf");
        assert_eq!(err.kind, ErrorKind::Corrupt);
        let err = registry
            .extract(
                b"\x00\x01\x02garbage\x00\x00",
                &Hints::default(),
                &Limits::default(),
            )
            .expect_err("unknown");
        assert_eq!(err.kind, ErrorKind::Unsupported);
    }
}
