//! XML outside a ZIP: Office XML (Word 2003 XML and Flat OPC, whose `w:p`/`w:t` and
//! `a:p`/`a:t` the OOXML reader already knows) and any other XML as its text content —
//! never its markup: element and attribute names, comments and processing instructions
//! are left out.

use std::collections::HashMap;

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
        let (text, encoding) = decode_xml(input)?;
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

/// XML's own rule for its encoding (XML 1.0 appendix F): a BOM first, then the
/// declaration's `encoding` (`<?xml version="1.0" encoding="Shift_JIS"?>`), else what
/// plain text gets (UTF-8, UTF-16 and UTF-32 by their bytes, then a guess).
fn decode_xml(input: &[u8]) -> Result<(String, &'static str), ExtractError> {
    match declared_encoding(input) {
        Some(encoding) => {
            // `decode` lets a BOM overrule the declaration, as XML does.
            let (text, used, _) = encoding.decode(input);
            Ok((text.into_owned(), used.name()))
        }
        None => crate::decode_text(input),
    }
}

/// The encoding an ASCII-compatible XML declaration names; `None` for none, an unknown
/// label, or UTF-8 and UTF-16 (whose bytes decide for themselves).
fn declared_encoding(input: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &input[..input.len().min(1024)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let decl = head.strip_prefix(b"<?xml")?;
    let decl = &decl[..decl.iter().position(|&b| b == b'>')?];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = decl[at + 8..]
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let (&quote, rest) = rest.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let label = &rest[..rest.iter().position(|&b| b == quote)?];
    let encoding = encoding_rs::Encoding::for_label(label)?;
    let decides_itself = [
        encoding_rs::UTF_8,
        encoding_rs::UTF_16LE,
        encoding_rs::UTF_16BE,
    ];
    (!decides_itself.contains(&encoding)).then_some(encoding)
}

/// The general entities an internal DTD subset declares with a literal value
/// (`<!ENTITY product "Tributary">`). Parameter and external entities are left out, and a
/// reference inside a value is not expanded further: no entity grows into others (the
/// "billion laughs" stay one line).
fn internal_entities(doctype: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = doctype;
    while let Some(at) = rest.find("<!ENTITY") {
        rest = rest[at + 8..].trim_start();
        if rest.starts_with('%') {
            continue;
        }
        let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_end);
        let after = after.trim_start();
        let Some(quote) = after.chars().next().filter(|c| matches!(c, '"' | '\'')) else {
            rest = after;
            continue;
        };
        let Some(end) = after[1..].find(quote) else {
            break;
        };
        let value = &after[1..=end];
        let value = quick_xml::escape::unescape_with(value, |e| {
            quick_xml::escape::resolve_predefined_entity(e)
        })
        .map_or_else(|_| value.to_string(), |v| v.into_owned());
        if out.len() < 10_000 {
            out.insert(name.to_string(), value);
        }
        rest = &after[end + 2..];
    }
    out
}

/// The characters an HTML named entity stands for (WHATWG's table, as html5ever has it;
/// quick-xml's garbles the Greek letters).
fn html_entity(name: &str) -> impl Iterator<Item = char> {
    let (a, b) = html5ever::data::NAMED_ENTITIES
        .get(format!("{name};").as_str())
        .copied()
        .unwrap_or((0, 0));
    [a, b]
        .into_iter()
        .filter(|&c| c != 0)
        .filter_map(char::from_u32)
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
    let mut entities = HashMap::new();
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
                    if raw.contains('\n') {
                        if !flush(b, &mut para) {
                            return Ok(());
                        }
                    } else {
                        // A space between two references (`&amp; &lt;`) is the text's own.
                        para.push(' ');
                    }
                } else {
                    para.push_str(&raw);
                }
            }
            Event::CData(t) => para.push_str(&t.xml10_content()),
            Event::DocType(t) => entities = internal_entities(&t.xml10_content()),
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        para.push(c);
                    }
                } else {
                    // Declared entities, then HTML's names: feeds and XHTML fragments use
                    // `&nbsp;` and `&Alpha;` without declaring them, and mean HTML's.
                    let name = r.into_inner();
                    if let Some(s) = quick_xml::escape::resolve_predefined_entity(&name) {
                        para.push_str(s);
                    } else if let Some(s) = entities.get(name.as_ref()) {
                        para.push_str(s);
                    } else {
                        para.extend(html_entity(&name));
                    }
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
    fn declared_encodings_internal_entities_and_htmls_names_are_read() {
        // Too short for a guess to find Shift_JIS: the declaration says it.
        let doc = run(
            b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><t>\x93\xfa\x96\x7b</t>",
            Format::Xml,
        )
        .expect("decoded");
        assert_eq!(doc.text(), "日本");
        let doc = run(
            b"<!DOCTYPE t [<!ENTITY product \"Tributary &amp; co\"> <!ENTITY % p \"x\">]>\
              <t>&product; says &Alpha;&nbsp;&amp; &undefined;.</t>",
            Format::Xml,
        )
        .expect("read");
        assert_eq!(doc.text(), "Tributary & co says \u{391} & .");
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
