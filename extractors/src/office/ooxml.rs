//! A streaming reader for the text of WordprocessingML and DrawingML parts (`w:p`/`w:t`,
//! `a:p`/`a:t`): paragraphs in document order, table rows as ` | `-separated cells, text
//! boxes and content controls included, deleted text and field codes left out.

use quick_xml::Reader;
use quick_xml::events::Event;

use std::collections::HashMap;

use crate::office::ZipGuard;
use crate::{Deadline, ErrorKind, ExtractError};

/// XML nesting deeper than this is refused (real documents stay far below).
const MAX_XML_DEPTH: usize = 512;

/// Calls `f` with the attributes of every `name` element of a part (missing parts and
/// unparsable tails simply end the scan: these parts only index others).
pub(crate) fn each_element(
    zip: &mut ZipGuard<'_>,
    part: &str,
    name: &str,
    mut f: impl FnMut(&dyn Fn(&str) -> Option<String>),
) -> Result<(), ExtractError> {
    let Some(xml) = zip.read(part)? else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&xml);
    let mut reader = Reader::from_str(&text);
    loop {
        match reader.read_event() {
            Ok(Event::Empty(e) | Event::Start(e)) if e.local_name().as_ref() == name => {
                let get = |k: &str| {
                    e.try_get_attribute(k)
                        .ok()
                        .flatten()
                        .map(|a| a.value.into_owned())
                };
                f(&get);
            }
            Ok(Event::Eof) | Err(_) => return Ok(()),
            _ => {}
        }
    }
}

/// Relationship id → (type suffix, target path resolved against `base_dir`).
pub(crate) fn relationships(
    zip: &mut ZipGuard<'_>,
    rels_part: &str,
    base_dir: &str,
) -> Result<HashMap<String, (String, String)>, ExtractError> {
    let mut out = HashMap::new();
    each_element(zip, rels_part, "Relationship", |get| {
        if let (Some(id), Some(kind), Some(target)) = (get("Id"), get("Type"), get("Target")) {
            let kind = kind.rsplit('/').next().unwrap_or_default().to_string();
            out.insert(id, (kind, resolve(base_dir, &target)));
        }
    })?;
    Ok(out)
}

/// `ppt/slides` + `../notesSlides/notesSlide1.xml` → `ppt/notesSlides/notesSlide1.xml`.
pub(crate) fn resolve(base_dir: &str, target: &str) -> String {
    if let Some(abs) = target.strip_prefix('/') {
        return abs.to_string();
    }
    let mut parts: Vec<&str> = base_dir.split('/').filter(|p| !p.is_empty()).collect();
    for seg in target.split('/') {
        match seg {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// One block of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// Heading level (1 = title/heading 1), from the paragraph style or outline level.
    pub(crate) level: Option<u8>,
    pub(crate) text: String,
}

fn corrupt(part: &str, e: impl std::fmt::Display) -> ExtractError {
    ExtractError::new(ErrorKind::Corrupt, format!("{part}: {e}"))
}

/// Heading level from a paragraph style id ("Heading2", "Title", localized "berschrift1").
fn style_level(style: &str) -> Option<u8> {
    let lower = style.to_ascii_lowercase();
    if lower == "title" {
        return Some(1);
    }
    let digits: String = lower
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    let head = &lower[..lower.len() - digits.len()];
    if !digits.is_empty()
        && (head.ends_with("heading") || head.ends_with("berschrift") || head == "titre")
    {
        let n: u8 = digits.chars().rev().collect::<String>().parse().ok()?;
        return (1..=9).contains(&n).then_some(n);
    }
    None
}

struct Para {
    level: Option<u8>,
    text: String,
}

/// Reads the blocks of one XML part.
pub(crate) fn blocks(
    part: &str,
    xml: &[u8],
    deadline: Deadline,
) -> Result<Vec<Block>, ExtractError> {
    let xml = std::str::from_utf8(xml).map_err(|e| corrupt(part, format!("not UTF-8: {e}")))?;
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = false;
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut skip_depth: Option<usize> = None;
    let mut paras: Vec<Para> = Vec::new();
    // Tables: a stack of (rows so far, current row's cells, current cell).
    let mut tables: Vec<(Vec<String>, Vec<String>, String)> = Vec::new();
    let mut in_text = false;
    let mut n = 0usize;

    let emit = |paras: &mut Vec<Para>,
                tables: &mut Vec<(Vec<String>, Vec<String>, String)>,
                out: &mut Vec<Block>,
                p: Para| {
        let text = p.text.trim().to_string();
        if text.is_empty() {
            return;
        }
        if let Some(parent) = paras.last_mut() {
            // A paragraph inside a paragraph (a text box): its own block.
            let _ = parent;
            out.push(Block { level: None, text });
        } else if let Some((_, _, cell)) = tables.last_mut() {
            if !cell.is_empty() {
                cell.push(' ');
            }
            cell.push_str(&text);
        } else {
            out.push(Block {
                level: p.level,
                text,
            });
        }
    };

    loop {
        n += 1;
        if n.is_multiple_of(4096) {
            deadline.check()?;
        }
        let event = reader.read_event().map_err(|e| corrupt(part, e))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                stack.push(name.clone());
                if stack.len() > MAX_XML_DEPTH {
                    return Err(ExtractError::new(
                        ErrorKind::TooLarge,
                        format!("{part}: XML nested deeper than {MAX_XML_DEPTH}"),
                    ));
                }
                if skip_depth.is_some() {
                    continue;
                }
                match name.as_str() {
                    // The VML copy of a text box, field instructions, deleted text.
                    "Fallback" | "instrText" | "delText" | "del" => skip_depth = Some(stack.len()),
                    // A spreadsheet comment has runs but no paragraph of its own.
                    "p" | "comment" => paras.push(Para {
                        level: None,
                        text: String::new(),
                    }),
                    "t" => in_text = true,
                    // DrawingML writes a line break with its run properties inside.
                    "br" => push_text(&mut paras, "\n"),
                    "tbl" => tables.push((Vec::new(), Vec::new(), String::new())),
                    "tc" => {
                        if let Some((_, _, cell)) = tables.last_mut() {
                            cell.clear();
                        }
                    }
                    _ => {}
                }
            }
            Event::Empty(e) => {
                if skip_depth.is_some() {
                    continue;
                }
                let name = e.local_name();
                let parent = stack.last().map(String::as_str);
                match (name.as_ref(), parent) {
                    ("tab", Some("r")) => push_text(&mut paras, "\t"),
                    ("br" | "cr", Some("r")) | ("br", Some("p")) => push_text(&mut paras, "\n"),
                    ("noBreakHyphen", _) => push_text(&mut paras, "-"),
                    // A note's reference mark is a raised number between the words around
                    // it (`word¹2`), never part of them.
                    ("footnoteReference" | "endnoteReference", Some("r")) => {
                        push_text(&mut paras, " ");
                    }
                    // Invisible unless the word breaks at the line end; kept as U+00AD.
                    ("softHyphen", _) => push_text(&mut paras, "\u{ad}"),
                    ("pStyle", _) => {
                        if let Ok(Some(a)) = e.try_get_attribute("w:val")
                            && let v = a.value
                            && let Some(p) = paras.last_mut()
                        {
                            p.level = p.level.or(style_level(&v));
                        }
                    }
                    ("outlineLvl", _) => {
                        if let Ok(Some(a)) = e.try_get_attribute("w:val")
                            && let v = a.value
                            && let Ok(lvl) = v.parse::<u8>()
                            && lvl < 9
                            && let Some(p) = paras.last_mut()
                        {
                            p.level = Some(lvl + 1);
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) if in_text && skip_depth.is_none() => {
                push_text(&mut paras, &t.xml10_content());
            }
            Event::CData(t) if in_text && skip_depth.is_none() => {
                push_text(&mut paras, &t.xml10_content());
            }
            Event::GeneralRef(r) if in_text && skip_depth.is_none() => {
                if r.is_char_ref() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        push_text(&mut paras, c.encode_utf8(&mut [0; 4]));
                    }
                } else if let Some(s) =
                    quick_xml::escape::resolve_predefined_entity(&r.into_inner())
                {
                    push_text(&mut paras, s);
                }
            }
            Event::End(_) => {
                let name = stack.pop().unwrap_or_default();
                if let Some(d) = skip_depth {
                    if stack.len() < d {
                        skip_depth = None;
                    }
                    continue;
                }
                match name.as_str() {
                    "t" => in_text = false,
                    "p" | "comment" => {
                        if let Some(p) = paras.pop() {
                            emit(&mut paras, &mut tables, &mut out, p);
                        }
                    }
                    "tc" => {
                        if let Some((_, cells, cell)) = tables.last_mut() {
                            cells.push(std::mem::take(cell));
                        }
                    }
                    "tr" => {
                        if let Some((rows, cells, _)) = tables.last_mut() {
                            let row: Vec<String> = std::mem::take(cells)
                                .into_iter()
                                .filter(|c| !c.is_empty())
                                .collect();
                            if !row.is_empty() {
                                rows.push(row.join(" | "));
                            }
                        }
                    }
                    "tbl" => {
                        if let Some((rows, _, _)) = tables.pop() {
                            let text = rows.join("\n");
                            emit(
                                &mut paras,
                                &mut tables,
                                &mut out,
                                Para { level: None, text },
                            );
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

fn push_text(paras: &mut [Para], s: &str) {
    if let Some(p) = paras.last_mut() {
        p.text.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(xml: &str) -> Vec<Block> {
        blocks(
            "test",
            xml.as_bytes(),
            Deadline::after(Duration::from_secs(5)),
        )
        .expect("parses")
    }

    #[test]
    fn paragraphs_headings_tables_and_tracked_changes() {
        let xml = r#"<w:document xmlns:w="w" xmlns:mc="mc" xmlns:a="a"><w:body>
            <w:p><w:pPr><w:pStyle w:val="Heading1"/><w:tabs><w:tab w:val="left"/></w:tabs></w:pPr><w:r><w:t>Intro</w:t></w:r></w:p>
            <w:p><w:r><w:t xml:space="preserve">Fish &amp; chips </w:t></w:r><w:ins><w:r><w:t>added</w:t></w:r></w:ins><w:del><w:r><w:delText>removed</w:delText></w:r></w:del>
                 <w:r><w:fldChar/><w:instrText>PAGE</w:instrText><w:tab/><w:t>x&#169;</w:t></w:r></w:p>
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>a</w:t></w:r></w:p><w:p><w:r><w:t>b</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>c</w:t></w:r></w:p></w:tc></w:tr>
                   <w:tr><w:tc><w:p><w:r><w:t>d</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
            <w:p><a:r><a:t>one line</a:t></a:r><a:br><a:rPr lang="en-US"/></a:br><a:r><a:t>next</a:t></a:r></w:p>
            <w:p><w:r><mc:AlternateContent><mc:Choice><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></mc:Choice>
                 <mc:Fallback><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></mc:Fallback></mc:AlternateContent></w:r></w:p>
        </w:body></w:document>"#;
        let blocks = run(xml);
        let rendered: Vec<(Option<u8>, &str)> =
            blocks.iter().map(|b| (b.level, b.text.as_str())).collect();
        assert_eq!(
            rendered,
            [
                (Some(1), "Intro"),
                (None, "Fish & chips added\tx©"),
                (None, "a b | c\nd"),
                (None, "one line\nnext"),
                (None, "boxed"),
            ]
        );
    }

    #[test]
    fn a_note_reference_separates_the_words_around_it() {
        let xml = r#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Blahdeblah</w:t></w:r>
            <w:r><w:footnoteReference w:id="1"/></w:r><w:r><w:t>1</w:t></w:r>
            <w:r><w:endnoteReference w:id="2"/></w:r><w:r><w:t>end</w:t></w:r></w:p></w:body></w:document>"#;
        let blocks = run(xml);
        assert_eq!(blocks[0].text, "Blahdeblah 1 end");
    }

    #[test]
    fn hostile_xml_is_a_typed_error() {
        let deep = format!(
            "<w:document>{}{}</w:document>",
            "<w:p>".repeat(100_000),
            "</w:p>".repeat(100_000)
        );
        let err = blocks(
            "deep",
            deep.as_bytes(),
            Deadline::after(Duration::from_secs(5)),
        )
        .expect_err("too deep");
        assert_eq!(err.kind, ErrorKind::TooLarge);
        let err = blocks(
            "bad",
            b"<w:document><w:p><w:t>x</w:t",
            Deadline::after(Duration::from_secs(5)),
        );
        // A truncated part either yields what it had or a corrupt error, never a panic.
        if let Err(e) = err {
            assert_eq!(e.kind, ErrorKind::Corrupt);
        }
        let err = blocks(
            "latin1",
            b"<w:t>\xff\xfe</w:t>",
            Deadline::after(Duration::from_secs(5)),
        )
        .expect_err("not utf-8");
        assert_eq!(err.kind, ErrorKind::Corrupt);
    }

    #[test]
    fn styles_map_to_levels() {
        assert_eq!(style_level("Heading2"), Some(2));
        assert_eq!(style_level("berschrift3"), Some(3));
        assert_eq!(style_level("Title"), Some(1));
        assert_eq!(style_level("Normal"), None);
        assert_eq!(style_level("Heading12"), None);
    }
}
