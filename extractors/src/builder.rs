//! A shared builder that turns a stream of headings, pages and text into sections, with the
//! output cap applied in one place for every format.

use std::collections::BTreeMap;

use crate::{Extracted, Format, Section, Warning};

/// Builds an [`Extracted`] document incrementally.
#[derive(Debug)]
pub struct DocBuilder {
    format: Format,
    sections: Vec<Section>,
    current: Section,
    headings: Vec<(u8, String)>,
    written: usize,
    max_output: usize,
    truncated: bool,
    /// The title, if the format has one.
    pub title: Option<String>,
    /// Metadata to return.
    pub metadata: BTreeMap<String, String>,
    /// Warnings to return.
    pub warnings: Vec<Warning>,
}

impl DocBuilder {
    /// A builder for `format` that keeps at most `max_output` bytes of text.
    pub fn new(format: Format, max_output: usize) -> Self {
        DocBuilder {
            format,
            sections: Vec::new(),
            current: Section::default(),
            headings: Vec::new(),
            written: 0,
            max_output,
            truncated: false,
            title: None,
            metadata: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    /// True once the output cap was hit; extractors may stop early.
    pub fn is_full(&self) -> bool {
        self.truncated
    }

    fn flush(&mut self) {
        let text = self.current.text.trim().to_string();
        if !text.is_empty() {
            let mut section = std::mem::take(&mut self.current);
            section.text = text;
            let page = section.page;
            self.sections.push(section);
            self.current.page = page;
        } else {
            self.current.text.clear();
        }
        self.current.heading = self.headings.iter().map(|(_, h)| h.clone()).collect();
    }

    /// Starts a new section under a heading of `level` (1 = outermost). The heading text is
    /// also written as the section's first line, so it is searchable.
    pub fn heading(&mut self, level: u8, text: &str) {
        if let Some(text) = self.open_heading(level, text) {
            self.push(&text);
            self.paragraph_break();
        }
    }

    /// Starts a new section under a heading the extractor names itself ("Slide masters and
    /// layouts"): kept for citations, but not written into the text, which holds only what
    /// the document says.
    pub fn label(&mut self, level: u8, text: &str) {
        self.open_heading(level, text);
    }

    fn open_heading(&mut self, level: u8, text: &str) -> Option<String> {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return None;
        }
        self.flush();
        while self.headings.last().is_some_and(|(l, _)| *l >= level) {
            self.headings.pop();
        }
        self.headings.push((level, text.clone()));
        self.current.heading = self.headings.iter().map(|(_, h)| h.clone()).collect();
        Some(text)
    }

    /// Starts a new page (or slide, or sheet) numbered `n`; headings start over.
    pub fn page(&mut self, n: u32) {
        self.flush();
        self.headings.clear();
        self.current.heading.clear();
        self.current.page = Some(n);
    }

    /// Starts a section outside any page (text that belongs to the whole document).
    pub fn unpaged(&mut self) {
        self.flush();
        self.headings.clear();
        self.current.heading.clear();
        self.current.page = None;
    }

    /// Appends text to the current section, up to the output cap.
    pub fn push(&mut self, text: &str) {
        if self.truncated || text.is_empty() {
            return;
        }
        let room = self.max_output.saturating_sub(self.written);
        if text.len() > room {
            let mut cut = room;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            self.current.text.push_str(&text[..cut]);
            self.written += cut;
            self.truncated = true;
            self.warnings.push(Warning {
                code: "output_truncated",
                message: format!("extracted text cut off at {} bytes", self.max_output),
            });
            return;
        }
        self.current.text.push_str(text);
        self.written += text.len();
    }

    /// Ends the current line (no-op at the start of a line).
    pub fn line_break(&mut self) {
        if !self.current.text.is_empty() && !self.current.text.ends_with('\n') {
            self.push("\n");
        }
    }

    /// Ends the current paragraph with a blank line.
    pub fn paragraph_break(&mut self) {
        if self.current.text.trim().is_empty() {
            return;
        }
        if !self.current.text.ends_with("\n\n") {
            if self.current.text.ends_with('\n') {
                self.push("\n");
            } else {
                self.push("\n\n");
            }
        }
    }

    /// Appends one paragraph (trimmed; nothing if empty) and ends it. Returns `false` once
    /// the output cap is reached, so callers can stop early.
    pub fn paragraph(&mut self, text: &str) -> bool {
        let text = text.trim();
        if !text.is_empty() {
            self.push(text);
            self.paragraph_break();
        }
        !self.is_full()
    }

    /// The finished document.
    pub fn finish(mut self) -> Extracted {
        self.flush();
        Extracted {
            format: self.format,
            title: self.title,
            sections: self.sections,
            metadata: self.metadata,
            warnings: self.warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_names_a_section_without_entering_its_text() {
        let mut b = DocBuilder::new(Format::Pptx, 1000);
        b.label(1, "Slide masters and layouts");
        b.paragraph("Confidential");
        let doc = b.finish();
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].heading, ["Slide masters and layouts"]);
        assert_eq!(doc.sections[0].text, "Confidential");
    }

    #[test]
    fn headings_nest_and_pop() {
        let mut b = DocBuilder::new(Format::Markdown, 1000);
        b.push("preamble");
        b.heading(1, "A");
        b.push("a text");
        b.heading(2, "B");
        b.push("b text");
        b.heading(2, "C");
        b.heading(1, "D");
        b.push("d text");
        let doc = b.finish();
        let headings: Vec<Vec<String>> = doc.sections.iter().map(|s| s.heading.clone()).collect();
        assert_eq!(
            headings,
            vec![
                vec![],
                vec!["A".to_string()],
                vec!["A".to_string(), "B".to_string()],
                vec!["A".to_string(), "C".to_string()],
                vec!["D".to_string()],
            ]
        );
        assert_eq!(doc.sections[1].text, "A\n\na text");
    }

    #[test]
    fn output_is_capped_on_a_char_boundary() {
        let mut b = DocBuilder::new(Format::Text, 5);
        b.push("ab€cd");
        b.push("more");
        assert!(b.is_full());
        let doc = b.finish();
        assert_eq!(doc.text(), "ab€");
        assert_eq!(doc.warnings[0].code, "output_truncated");
    }
}
