//! Structure-aware chunking: sections and pages are respected, paragraphs are packed up to
//! a target size, and a long paragraph is cut at whitespace with a small overlap.
//!
//! Chunks never span two pages (slides, sheets); small consecutive sections of one page
//! are packed together and the chunk keeps the first one's heading path. Output is a pure
//! function of the input and the config, so chunk ids (`<doc_id>#<ordinal>`) are stable.

use extractors::{Extracted, Section};
use serde::{Deserialize, Serialize};

/// Chunk size settings, in bytes of UTF-8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChunkerConfig {
    /// Aim for chunks of about this many bytes (never more).
    pub target_bytes: usize,
    /// Bytes of the previous chunk repeated at the start of the next one when a section is
    /// cut in the middle, so that a sentence across the cut is still found.
    pub overlap_bytes: usize,
}

impl Default for ChunkerConfig {
    fn default() -> Self {
        ChunkerConfig {
            target_bytes: 1_500,
            overlap_bytes: 150,
        }
    }
}

impl ChunkerConfig {
    /// Problems with the values, if any.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.target_bytes < 64 {
            problems.push("target_bytes: must be at least 64".to_string());
        }
        if self.overlap_bytes * 2 > self.target_bytes {
            problems.push("overlap_bytes: must be at most half of target_bytes".to_string());
        }
        problems
    }

    /// A short fingerprint, part of the pipeline version: changing the chunking of a
    /// document means re-indexing it.
    pub fn fingerprint(&self) -> String {
        format!("c{}o{}", self.target_bytes, self.overlap_bytes)
    }
}

/// One chunk of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// 0-based position in the document.
    pub ordinal: u32,
    /// The text.
    pub text: String,
    /// Heading path of the section it starts in.
    pub heading: Vec<String>,
    /// Page, slide or sheet number.
    pub page: Option<u32>,
}

/// The largest index `<= at` on a char boundary of `s`.
fn floor_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Splits `text` into pieces of at most `max` bytes, preferring whitespace cuts.
fn split_long(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while rest.len() > max {
        let limit = floor_boundary(rest, max);
        let cut = match rest[..limit].rfind(char::is_whitespace) {
            Some(ws) if ws > max / 2 => ws,
            _ => limit.max(rest.chars().next().map_or(1, char::len_utf8)),
        };
        out.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The last `overlap` bytes of `text`, starting at a word boundary.
fn tail(text: &str, overlap: usize) -> &str {
    if overlap == 0 || text.len() <= overlap {
        return if overlap == 0 { "" } else { text };
    }
    let start = text.len() - overlap;
    let mut start = start;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    match text[start..].find(char::is_whitespace) {
        Some(ws) => text[start + ws..].trim_start(),
        None => &text[start..],
    }
}

struct Packer<'c> {
    config: &'c ChunkerConfig,
    chunks: Vec<Chunk>,
    text: String,
    heading: Vec<String>,
    page: Option<u32>,
}

impl Packer<'_> {
    fn emit(&mut self) {
        let text = std::mem::take(&mut self.text);
        if text.trim().is_empty() {
            return;
        }
        self.chunks.push(Chunk {
            ordinal: self.chunks.len() as u32,
            text,
            heading: self.heading.clone(),
            page: self.page,
        });
    }

    fn start(&mut self, section: &Section) {
        self.heading = section.heading.clone();
        self.page = section.page;
    }

    fn add_section(&mut self, section: &Section) {
        let target = self.config.target_bytes;
        if self.text.is_empty() || section.page != self.page {
            self.emit();
            self.start(section);
        } else if self.text.len() + 2 + section.text.len() > target {
            // The section does not fit with what is pending: start it in a new chunk.
            self.emit();
            self.start(section);
        }
        for paragraph in section.text.split("\n\n") {
            let paragraph = paragraph.trim();
            if paragraph.is_empty() {
                continue;
            }
            let max_piece = target.saturating_sub(self.config.overlap_bytes + 2).max(16);
            for (i, piece) in split_long(paragraph, max_piece).into_iter().enumerate() {
                // Pieces of one paragraph join with a space, paragraphs with a blank line.
                let joiner = if i == 0 { "\n\n" } else { " " };
                if !self.text.is_empty() && self.text.len() + joiner.len() + piece.len() > target {
                    let overlap = tail(&self.text, self.config.overlap_bytes).to_string();
                    self.emit();
                    self.text = overlap;
                }
                if !self.text.is_empty() {
                    self.text.push_str(joiner);
                }
                self.text.push_str(piece);
            }
        }
    }
}

/// Cuts an extracted document into chunks.
pub fn chunk(doc: &Extracted, config: &ChunkerConfig) -> Vec<Chunk> {
    let mut packer = Packer {
        config,
        chunks: Vec::new(),
        text: String::new(),
        heading: Vec::new(),
        page: None,
    };
    for section in &doc.sections {
        packer.add_section(section);
    }
    packer.emit();
    packer.chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use extractors::Format;
    use std::collections::BTreeMap;

    fn doc(sections: Vec<Section>) -> Extracted {
        Extracted {
            format: Format::Text,
            title: None,
            sections,
            metadata: BTreeMap::new(),
            warnings: vec![],
        }
    }

    fn section(heading: &[&str], page: Option<u32>, text: &str) -> Section {
        Section {
            heading: heading.iter().map(|s| s.to_string()).collect(),
            page,
            text: text.to_string(),
        }
    }

    /// Renders chunks compactly for exact comparison.
    fn check(doc: &Extracted, config: ChunkerConfig, expected: &str) {
        let rendered: Vec<String> = chunk(doc, &config)
            .iter()
            .map(|c| {
                format!(
                    "#{} p{} [{}] {}",
                    c.ordinal,
                    c.page.map_or("-".to_string(), |p| p.to_string()),
                    c.heading.join(" > "),
                    c.text.replace("\n\n", " / ")
                )
            })
            .collect();
        assert_eq!(rendered.join("\n"), expected);
    }

    #[test]
    fn small_sections_pack_but_pages_never_merge() {
        let d = doc(vec![
            section(&["A"], Some(1), "A\n\none"),
            section(&["A", "B"], Some(1), "B\n\ntwo"),
            section(&[], Some(2), "three"),
        ]);
        check(
            &d,
            ChunkerConfig::default(),
            "#0 p1 [A] A / one / B / two\n#1 p2 [] three",
        );
    }

    #[test]
    fn long_paragraphs_split_at_whitespace_with_overlap() {
        let words: Vec<String> = (0..40).map(|i| format!("w{i:02}")).collect();
        let d = doc(vec![section(&["H"], None, &words.join(" "))]);
        let config = ChunkerConfig {
            target_bytes: 64,
            overlap_bytes: 8,
        };
        let chunks = chunk(&d, &config);
        assert!(chunks.len() > 2);
        for c in &chunks {
            assert!(c.text.len() <= 64, "{:?}", c.text);
            assert_eq!(c.heading, vec!["H".to_string()]);
        }
        // Every word survives, and each chunk after the first starts with the previous tail.
        let all: String = chunks
            .iter()
            .map(|c| c.text.clone())
            .collect::<Vec<_>>()
            .join(" ");
        for w in &words {
            assert!(all.contains(w.as_str()), "{w} lost");
        }
        let overlap: Vec<&str> = chunks[1].text.split(' ').take(2).collect();
        assert!(chunks[0].text.ends_with(&overlap.join(" ")), "{chunks:?}");
    }

    #[test]
    fn text_without_spaces_is_cut_on_char_boundaries() {
        let d = doc(vec![section(&[], None, &"日本語".repeat(100))]);
        let config = ChunkerConfig {
            target_bytes: 64,
            overlap_bytes: 0,
        };
        let chunks = chunk(&d, &config);
        let joined: String = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(joined, "日本語".repeat(100));
    }
}
