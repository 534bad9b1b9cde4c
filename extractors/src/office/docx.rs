//! Word 2007+ documents: the body in order (headings kept as sections), then headers and
//! footers (each distinct text once), footnotes, endnotes and comments; title and author
//! from the core properties. Charts (titles, series, categories and values from their
//! caches) follow the body, in the order the body shows them. Parts the body imports whole (`w:altChunk`: HTML, web
//! archives, text, other DOCX) are extracted after the body.

use crate::office::ZipGuard;
use crate::office::chart::chart_blocks;
use crate::office::ooxml::{Block, blocks, each_element, relationships};
use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Format, Limits};

fn core_property(xml: &[u8], tag: &str) -> Option<String> {
    let text = std::str::from_utf8(xml).ok()?;
    let start = text.find(&format!("<{tag}"))?;
    let open_end = start + text[start..].find('>')? + 1;
    if text[..open_end].ends_with("/>") {
        return None;
    }
    let close = open_end + text[open_end..].find(&format!("</{tag}>"))?;
    let value = quick_xml::escape::unescape(text[open_end..close].trim())
        .ok()?
        .into_owned();
    (!value.is_empty()).then_some(value)
}

pub(crate) fn write_blocks(b: &mut DocBuilder, blocks: &[Block]) {
    for block in blocks {
        match block.level {
            Some(level) => b.heading(level, &block.text),
            None => {
                b.paragraph(&block.text);
            }
        }
        if b.is_full() {
            return;
        }
    }
}

pub(crate) fn extract(
    zip: &mut ZipGuard<'_>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    let mut b = DocBuilder::new(Format::Docx, limits.max_output_bytes);
    if let Some(core) = zip.read("docProps/core.xml")? {
        b.title = core_property(&core, "dc:title");
        if let Some(author) = core_property(&core, "dc:creator") {
            b.metadata.insert("author".into(), author);
        }
    }
    let body = zip
        .read("word/document.xml")?
        .ok_or_else(|| ExtractError::new(ErrorKind::Corrupt, "word/document.xml is missing"))?;
    write_blocks(&mut b, &blocks("word/document.xml", &body, deadline)?);
    let chunks = alt_chunks(zip)?;
    for part in charts(zip)? {
        deadline.check()?;
        let Some(xml) = zip.read(&part)? else {
            continue;
        };
        match chart_blocks(&part, &xml, deadline) {
            Ok(found) => write_blocks(&mut b, &found),
            Err(e) if e.kind == ErrorKind::Timeout => return Err(e),
            Err(e) => b.warnings.push(crate::Warning {
                code: "broken_part",
                message: e.message,
            }),
        }
    }

    let mut extra: Vec<String> = zip
        .names()
        .into_iter()
        .filter(|n| {
            let n = n.as_str();
            // Headers, footers, and SmartArt text (diagram data parts).
            (n.starts_with("word/header")
                || n.starts_with("word/footer")
                || n.starts_with("word/diagrams/data"))
                && n.ends_with(".xml")
        })
        .collect();
    extra.sort();
    extra.extend(
        [
            "word/footnotes.xml",
            "word/endnotes.xml",
            "word/comments.xml",
            // Building blocks saved with the document (AutoText, content-control prompts).
            "word/glossary/document.xml",
        ]
        .map(String::from),
    );
    let mut seen = std::collections::HashSet::new();
    for part in extra {
        deadline.check()?;
        let Some(xml) = zip.read(&part)? else {
            continue;
        };
        match blocks(&part, &xml, deadline) {
            Ok(found) => {
                let found: Vec<Block> = found
                    .into_iter()
                    .map(|mut blk| {
                        blk.level = None;
                        blk
                    })
                    .filter(|blk| seen.insert(blk.text.clone()))
                    .collect();
                write_blocks(&mut b, &found);
            }
            Err(e) if e.kind == ErrorKind::Timeout => return Err(e),
            Err(e) => b.warnings.push(crate::Warning {
                code: "broken_part",
                message: e.message,
            }),
        }
    }
    let mut doc = b.finish();
    for part in chunks {
        deadline.check()?;
        if let Some(bytes) = zip.read(&part)? {
            crate::office::append_embedded(&mut doc, &part, &bytes, limits, deadline);
        }
    }
    Ok(doc)
}

/// The chart parts of the document: those the body shows, in its order, then any other
/// (a chart in a header), by name.
fn charts(zip: &mut ZipGuard<'_>) -> Result<Vec<String>, ExtractError> {
    let mut all: Vec<String> = zip
        .names()
        .into_iter()
        .filter(|n| n.starts_with("word/charts/chart") && n.ends_with(".xml"))
        .collect();
    if all.is_empty() {
        return Ok(all);
    }
    all.sort();
    let rels = relationships(zip, "word/_rels/document.xml.rels", "word")?;
    let mut parts = Vec::new();
    each_element(zip, "word/document.xml", "chart", |get| {
        if let Some((kind, target)) = get("r:id").and_then(|id| rels.get(&id))
            && kind == "chart"
            && !parts.contains(target)
        {
            parts.push(target.clone());
        }
    })?;
    parts.retain(|p| all.contains(p));
    for p in all {
        if !parts.contains(&p) {
            parts.push(p);
        }
    }
    Ok(parts)
}

/// The parts the body imports whole with `w:altChunk` ("alternative format chunks": HTML,
/// a web archive, plain text or another DOCX that Word merges in when it opens the file;
/// generators write whole documents this way), in document order.
fn alt_chunks(zip: &mut ZipGuard<'_>) -> Result<Vec<String>, ExtractError> {
    let rels = relationships(zip, "word/_rels/document.xml.rels", "word")?;
    if !rels.values().any(|(kind, _)| kind == "aFChunk") {
        return Ok(Vec::new());
    }
    let mut parts = Vec::new();
    each_element(zip, "word/document.xml", "altChunk", |get| {
        if let Some((kind, target)) = get("r:id").and_then(|id| rels.get(&id))
            && kind == "aFChunk"
        {
            parts.push(target.clone());
        }
    })?;
    Ok(parts)
}
