//! Markdown: ATX (`# Title`) and setext (`Title\n===`) headings become sections; fenced
//! code blocks are kept as text and never parsed for headings.

use crate::text::decode_text;
use crate::{Deadline, DocBuilder, ExtractError, Extracted, Extractor, Format, Limits};

#[derive(Debug)]
pub(crate) struct MarkdownExtractor;

fn atx_heading(line: &str) -> Option<(u8, &str)> {
    let trimmed = line.trim_start();
    if line.len() - trimmed.len() > 3 {
        return None; // indented code
    }
    let level = trimmed.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &trimmed[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None; // "#hashtag"
    }
    let text = rest.trim().trim_end_matches('#').trim_end();
    Some((level as u8, text))
}

fn setext_level(line: &str) -> Option<u8> {
    let t = line.trim();
    if t.len() >= 2 && t.bytes().all(|b| b == b'=') {
        Some(1)
    } else if t.len() >= 2 && t.bytes().all(|b| b == b'-') {
        Some(2)
    } else {
        None
    }
}

impl Extractor for MarkdownExtractor {
    fn formats(&self) -> &'static [Format] {
        &[Format::Markdown]
    }

    fn extract(
        &self,
        input: &[u8],
        format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        let (text, encoding) = decode_text(input)?;
        let mut b = DocBuilder::new(format, limits.max_output_bytes);
        b.metadata.insert("encoding".into(), encoding.into());
        let lines: Vec<&str> = text.lines().collect();
        let mut fence: Option<&str> = None;
        let mut i = 0;
        while i < lines.len() && !b.is_full() {
            if i % 4096 == 0 {
                deadline.check()?;
            }
            let line = lines[i];
            let trimmed = line.trim_start();
            if let Some(marker) = fence {
                if trimmed.starts_with(marker) {
                    fence = None;
                }
                b.push(line.trim_end());
                b.line_break();
                i += 1;
                continue;
            }
            if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
                fence = Some(&trimmed[..3]);
                b.push(line.trim_end());
                b.line_break();
                i += 1;
                continue;
            }
            if let Some((level, heading)) = atx_heading(line) {
                if b.title.is_none() && level == 1 {
                    b.title = Some(heading.to_string());
                }
                b.heading(level, heading);
                i += 1;
                continue;
            }
            let next_is_underline = lines.get(i + 1).and_then(|l| setext_level(l));
            if let Some(level) = next_is_underline
                && !line.trim().is_empty()
            {
                if b.title.is_none() && level == 1 {
                    b.title = Some(line.trim().to_string());
                }
                b.heading(level, line);
                i += 2;
                continue;
            }
            if line.trim().is_empty() {
                b.paragraph_break();
            } else {
                b.push(line.trim_end());
                b.line_break();
            }
            i += 1;
        }
        Ok(b.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_outside_fences_only() {
        let md =
            "# Guide\nintro\n\n```sh\n# not a heading\n```\n\nSetup\n-----\nsteps\n#tag stays\n";
        let doc = MarkdownExtractor
            .extract(
                md.as_bytes(),
                Format::Markdown,
                &Limits::default(),
                Deadline::after(std::time::Duration::from_secs(5)),
            )
            .expect("markdown");
        assert_eq!(doc.title.as_deref(), Some("Guide"));
        assert_eq!(doc.sections.len(), 2);
        assert!(doc.sections[0].text.contains("# not a heading"));
        assert_eq!(
            doc.sections[1].heading,
            vec!["Guide".to_string(), "Setup".to_string()]
        );
        assert!(doc.sections[1].text.contains("#tag stays"));
    }
}
