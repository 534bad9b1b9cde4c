//! PowerPoint 2007+ presentations: slides in presentation order, each a section numbered by
//! its position and headed by its first text (the title); text frames, tables, group shapes,
//! charts, SmartArt text and speaker notes.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::office::ZipGuard;
use crate::office::chart::chart_blocks;
use crate::office::ooxml::{Block, blocks, each_element, relationships};
use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Format, Limits};

/// Comment author id → "Name (initials)".
fn comment_authors(zip: &mut ZipGuard<'_>) -> Result<HashMap<String, String>, ExtractError> {
    let mut out = HashMap::new();
    each_element(zip, "ppt/commentAuthors.xml", "cmAuthor", |get| {
        if let (Some(id), Some(name)) = (get("id"), get("name")) {
            let label = match get("initials") {
                Some(i) if !i.is_empty() => format!("{name} ({i})"),
                _ => name,
            };
            out.insert(id, label);
        }
    })?;
    Ok(out)
}

/// Legacy slide comments (`p:cm` with `p:text`), as "Author: text".
fn slide_comments(xml: &[u8], authors: &HashMap<String, String>) -> Vec<String> {
    let text = String::from_utf8_lossy(xml);
    let mut reader = Reader::from_str(&text);
    let mut out = Vec::new();
    let mut author: Option<String> = None;
    let mut in_text = false;
    let mut current = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.local_name().as_ref() == "cm" => {
                author = e
                    .try_get_attribute("authorId")
                    .ok()
                    .flatten()
                    .and_then(|a| authors.get(a.value.as_ref()).cloned());
            }
            Ok(Event::Start(e)) if e.local_name().as_ref() == "text" => {
                in_text = true;
                current.clear();
            }
            Ok(Event::Text(t)) if in_text => current.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) if in_text => {
                if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r.into_inner()) {
                    current.push_str(s);
                }
            }
            Ok(Event::End(e)) if e.local_name().as_ref() == "text" => {
                in_text = false;
                let body = current.trim();
                if !body.is_empty() {
                    out.push(match &author {
                        Some(a) => format!("{a}: {body}"),
                        None => body.to_string(),
                    });
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

/// Text of the shapes of a layout or master that are not placeholders (a text box added to
/// the master, a confidentiality footer): it shows on the slides, unlike placeholder prompts
/// such as "Click to edit Master title style".
fn free_shape_text(part: &str, xml: &[u8], deadline: Deadline) -> Vec<String> {
    let text = String::from_utf8_lossy(xml);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("<p:sp>").or_else(|| rest.find("<p:sp ")) {
        let Some(len) = rest[start..].find("</p:sp>") else {
            break;
        };
        let shape = &rest[start..start + len + "</p:sp>".len()];
        if !shape.contains("<p:ph")
            && let Ok(found) = blocks(part, shape.as_bytes(), deadline)
        {
            out.extend(found.into_iter().map(|b| b.text));
        }
        rest = &rest[start + len..];
    }
    out
}

/// Slide part names in presentation order (from `p:sldIdLst`), falling back to numeric order.
fn slide_order(zip: &mut ZipGuard<'_>) -> Result<Vec<String>, ExtractError> {
    let rels = relationships(zip, "ppt/_rels/presentation.xml.rels", "ppt")?;
    let mut ordered = Vec::new();
    each_element(zip, "ppt/presentation.xml", "sldId", |get| {
        if let Some((_, target)) = get("r:id").and_then(|id| rels.get(&id)) {
            ordered.push(target.clone());
        }
    })?;
    if ordered.is_empty() {
        let mut names: Vec<(u32, String)> = zip
            .names()
            .into_iter()
            .filter_map(|n| {
                let num = n
                    .strip_prefix("ppt/slides/slide")?
                    .strip_suffix(".xml")?
                    .parse()
                    .ok()?;
                Some((num, n))
            })
            .collect();
        names.sort();
        ordered = names.into_iter().map(|(_, n)| n).collect();
    }
    Ok(ordered)
}

pub(crate) fn extract(
    zip: &mut ZipGuard<'_>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    let mut b = DocBuilder::new(Format::Pptx, limits.max_output_bytes);
    let slides = slide_order(zip)?;
    if slides.is_empty() {
        // A deck whose slides were all deleted is a presentation with nothing to read, not
        // a broken file: a document of no text, said so. Without even the presentation
        // part, it is not a presentation.
        if zip.read("ppt/presentation.xml")?.is_none() {
            return Err(ExtractError::new(
                ErrorKind::Corrupt,
                "no ppt/presentation.xml and no slides",
            ));
        }
        b.metadata.insert("slides".into(), "0".into());
        b.warnings.push(crate::Warning {
            code: "no_slides",
            message: "the presentation has no slides".into(),
        });
        return Ok(b.finish());
    }
    b.metadata.insert("slides".into(), slides.len().to_string());
    let authors = comment_authors(zip)?;
    let mut seen_parts = std::collections::HashSet::new();
    let mut seen_master_text = std::collections::HashSet::new();
    let mut master_text: Vec<String> = Vec::new();
    for (i, part) in slides.iter().enumerate() {
        deadline.check()?;
        let Some(xml) = zip.read(part)? else { continue };
        let mut found = match blocks(part, &xml, deadline) {
            Ok(found) => found,
            Err(e) if e.kind == ErrorKind::Timeout => return Err(e),
            Err(e) => {
                b.warnings.push(crate::Warning {
                    code: "broken_slide",
                    message: e.message,
                });
                continue;
            }
        };
        // SmartArt text and speaker notes live in parts the slide links to.
        let (dir, file) = part.rsplit_once('/').unwrap_or(("", part));
        let rels = relationships(zip, &format!("{dir}/_rels/{file}.rels"), dir)?;
        // The slide's layout and that layout's master may carry text of their own.
        for (kind, layout) in rels.values() {
            if kind != "slideLayout" {
                continue;
            }
            let (ldir, lfile) = layout.rsplit_once('/').unwrap_or(("", layout));
            let lrels = relationships(zip, &format!("{ldir}/_rels/{lfile}.rels"), ldir)?;
            let masters = lrels
                .into_values()
                .filter(|(k, _)| k == "slideMaster")
                .map(|(_, t)| t);
            for part in std::iter::once(layout.clone()).chain(masters) {
                if !seen_parts.insert(part.clone()) {
                    continue;
                }
                if let Some(xml) = zip.read(&part)? {
                    for text in free_shape_text(&part, &xml, deadline) {
                        if seen_master_text.insert(text.clone()) {
                            master_text.push(text);
                        }
                    }
                }
            }
        }
        let mut linked: Vec<(String, String)> = rels
            .into_values()
            .filter(|(kind, _)| {
                matches!(
                    kind.as_str(),
                    "chart" | "diagramData" | "notesSlide" | "comments"
                )
            })
            .collect();
        linked.sort();
        for (kind, target) in linked {
            let Some(xml) = zip.read(&target)? else {
                continue;
            };
            if kind == "comments" {
                found.extend(
                    slide_comments(&xml, &authors)
                        .into_iter()
                        .map(|text| Block { level: None, text }),
                );
                continue;
            }
            if kind == "chart" {
                if let Ok(extra) = chart_blocks(&target, &xml, deadline) {
                    found.extend(extra);
                }
                continue;
            }
            if let Ok(extra) = blocks(&target, &xml, deadline) {
                // Notes repeat the slide number in a placeholder; keep only real text.
                found.extend(
                    extra
                        .into_iter()
                        .filter(|blk| kind != "notesSlide" || blk.text.parse::<u32>().is_err()),
                );
            }
        }
        b.page(i as u32 + 1);
        let mut blocks = found.into_iter();
        if let Some(title) = blocks.next() {
            if title.text.len() <= 200 && !title.text.contains('\n') {
                b.heading(1, &title.text);
            } else {
                b.paragraph(&title.text);
            }
        }
        if !blocks.all(|blk| b.paragraph(&blk.text)) {
            break;
        }
    }
    if !master_text.is_empty() {
        b.unpaged();
        b.label(1, "Slide masters and layouts");
        for text in &master_text {
            if !b.paragraph(text) {
                break;
            }
        }
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use crate::office::ooxml::resolve;

    #[test]
    fn relative_targets_resolve() {
        assert_eq!(
            resolve("ppt/slides", "../notesSlides/notesSlide1.xml"),
            "ppt/notesSlides/notesSlide1.xml"
        );
        assert_eq!(resolve("ppt", "slides/slide2.xml"), "ppt/slides/slide2.xml");
        assert_eq!(
            resolve("ppt", "/ppt/slides/slide3.xml"),
            "ppt/slides/slide3.xml"
        );
    }
}
