//! XML outside a ZIP: Office XML (Word 2003 XML and Flat OPC, whose `w:p`/`w:t` and
//! `a:p`/`a:t` the OOXML reader already knows) and any other XML as its text content —
//! never its markup: element and attribute names, comments and processing instructions
//! are left out.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::office::docx::write_blocks;
use crate::office::ooxml::blocks;
use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

/// XML nesting deeper than this is refused (real documents stay far below).
const MAX_XML_DEPTH: usize = 512;

/// Extracts XML: `Format::OfficeXml` by paragraphs, anything else by text content.
#[derive(Debug)]
pub(crate) struct XmlExtractor;

impl Extractor for XmlExtractor {
    fn formats(&self) -> &'static [Format] {
        &[Format::Xml, Format::OfficeXml]
    }

    fn extract(
        &self,
        input: &[u8],
        format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        let (text, encoding) = crate::decode_text(input)?;
        // The declaration names the encoding the bytes had; they are UTF-8 now.
        let mut b = DocBuilder::new(format, limits.max_output_bytes);
        b.metadata.insert("encoding".into(), encoding.into());
        if !looks_like_xml(&text) {
            return Err(ExtractError::new(
                ErrorKind::Corrupt,
                "not an xml document: it does not start with markup",
            ));
        }
        if format == Format::OfficeXml {
            write_blocks(&mut b, &blocks("office xml", text.as_bytes(), deadline)?);
        } else {
            text_content(&mut b, &text, deadline)?;
        }
        Ok(b.finish())
    }
}

fn looks_like_xml(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('<')
}

/// Writes the character data of every element: text nodes inside one line of the source
/// join with a space at element boundaries; a line break between elements (pretty-printed
/// XML) ends a paragraph.
fn text_content(b: &mut DocBuilder, xml: &str, deadline: Deadline) -> Result<(), ExtractError> {
    let corrupt =
        |e: &dyn std::fmt::Display| ExtractError::new(ErrorKind::Corrupt, format!("xml: {e}"));
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = false;
    let mut para = String::new();
    let mut depth = 0usize;
    let mut n = 0usize;
    let flush = |b: &mut DocBuilder, para: &mut String| {
        let text = para.split_whitespace().collect::<Vec<_>>().join(" ");
        para.clear();
        b.paragraph(&text)
    };
    loop {
        n += 1;
        if n.is_multiple_of(4096) {
            deadline.check()?;
        }
        let event = match reader.read_event() {
            Ok(e) => e,
            // A broken tail keeps what came before it, as a browser shows a broken page.
            Err(e) if depth > 0 || !para.is_empty() => {
                b.warnings.push(crate::Warning {
                    code: "broken_xml",
                    message: format!("read up to an error: {e}"),
                });
                break;
            }
            Err(e) => return Err(corrupt(&e)),
        };
        match event {
            Event::Start(_) => {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(ExtractError::new(
                        ErrorKind::TooLarge,
                        format!("xml nested deeper than {MAX_XML_DEPTH}"),
                    ));
                }
                para.push(' ');
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                para.push(' ');
            }
            Event::Empty(_) => para.push(' '),
            Event::Text(t) => {
                let raw = t.xml10_content();
                if raw.trim().is_empty() {
                    if raw.contains('\n') && !flush(b, &mut para) {
                        return Ok(());
                    }
                } else {
                    para.push_str(&raw);
                }
            }
            Event::CData(t) => para.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        para.push(c);
                    }
                } else if let Some(s) =
                    quick_xml::escape::resolve_predefined_entity(&r.into_inner())
                {
                    para.push_str(s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        if para.len() > 64 * 1024 && !flush(b, &mut para) {
            return Ok(());
        }
    }
    flush(b, &mut para);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(xml: &[u8], format: Format) -> Result<Extracted, ExtractError> {
        XmlExtractor.extract(
            xml,
            format,
            &Limits::default(),
            Deadline::after(Duration::from_secs(5)),
        )
    }

    #[test]
    fn broken_tails_keep_what_came_before_and_nothing_is_corrupt_text() {
        let doc = run(b"<a><b>kept</b><c><!-- never closed", Format::Xml).expect("partial");
        assert_eq!(doc.text(), "kept");
        assert_eq!(doc.warnings[0].code, "broken_xml");
        assert_eq!(
            run(b"just words, no root", Format::Xml)
                .expect_err("not xml")
                .kind,
            ErrorKind::Corrupt
        );
        let deep = format!("<a>{}</a>", "<b>".repeat(10_000));
        assert_eq!(
            run(deep.as_bytes(), Format::Xml).expect_err("deep").kind,
            ErrorKind::TooLarge
        );
    }

    #[test]
    fn latin1_declared_xml_is_decoded() {
        let doc = run(
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t>caf\xe9 cr\xe8me br\xfbl\xe9e</t>",
            Format::Xml,
        )
        .expect("decoded");
        assert_eq!(doc.text(), "café crème brûlée");
    }
}
