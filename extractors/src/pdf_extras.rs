//! What a PDF holds beside its pages' content streams: files attached to it (the
//! `/EmbeddedFiles` name tree and `FileAttachment` annotations), extracted recursively by
//! the caller like e-mail attachments, and XFA form data (the `datasets` packet of
//! `/AcroForm /XFA`), the values a person typed into an XML form that has no AcroForm
//! fields of its own.

use std::collections::HashSet;

use lopdf::{Dictionary, Document, Object, ObjectId};

use crate::pdf::deref;

/// At most this many attached files are read, and name-tree levels followed.
const MAX_FILES: usize = 32;
const MAX_TREE_DEPTH: usize = 16;

fn dict<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Dictionary> {
    deref(doc, obj)?.as_dict().ok()
}

fn catalog(doc: &Document) -> Option<&Dictionary> {
    doc.catalog().ok()
}

/// A file specification's name and its decoded bytes (at most `max`).
fn file_spec(doc: &Document, spec: &Dictionary, max: usize) -> Option<(String, Vec<u8>)> {
    let name = [b"UF".as_slice(), b"F", b"Desc"]
        .iter()
        .find_map(|k| {
            spec.get(k)
                .ok()
                .and_then(|o| deref(doc, o))
                .and_then(|o| lopdf::decode_text_string(o).ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "attachment".to_string());
    let ef = spec.get(b"EF").ok().and_then(|o| dict(doc, o))?;
    let stream = [b"UF".as_slice(), b"F"].iter().find_map(|k| {
        ef.get(k)
            .ok()
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_stream().ok())
    })?;
    let bytes = stream
        .decompressed_content_with_limit(max)
        .ok()
        .or_else(|| (stream.content.len() <= max).then(|| stream.content.clone()))?;
    Some((name, bytes))
}

/// The files attached to the document: the catalog's `/EmbeddedFiles` name tree, then the
/// `FileAttachment` annotations of the pages, each stream once, at most `MAX_FILES`.
pub(crate) fn attachments(
    doc: &Document,
    pages: &[ObjectId],
    max: usize,
) -> Vec<(String, Vec<u8>)> {
    let mut specs: Vec<&Dictionary> = Vec::new();
    if let Some(tree) = catalog(doc)
        .and_then(|c| c.get(b"Names").ok())
        .and_then(|o| dict(doc, o))
        .and_then(|n| n.get(b"EmbeddedFiles").ok())
        .and_then(|o| dict(doc, o))
    {
        name_tree_values(doc, tree, 0, &mut specs);
    }
    for &page in pages {
        let Some(annots) = doc
            .get_dictionary(page)
            .ok()
            .and_then(|p| p.get(b"Annots").ok())
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_array().ok())
        else {
            continue;
        };
        for annot in annots.iter().take(10_000) {
            let Some(a) = dict(doc, annot) else { continue };
            if a.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"FileAttachment") {
                continue;
            }
            if let Some(fs) = a.get(b"FS").ok().and_then(|o| dict(doc, o)) {
                specs.push(fs);
            }
            if specs.len() >= MAX_FILES {
                break;
            }
        }
    }
    let mut seen = HashSet::new();
    specs
        .into_iter()
        .filter(|s| seen.insert(*s as *const Dictionary))
        .take(MAX_FILES)
        .filter_map(|s| file_spec(doc, s, max))
        .collect()
}

/// The values of a name tree (`/Names [key value …]` leaves under `/Kids`), in order.
fn name_tree_values<'a>(
    doc: &'a Document,
    node: &'a Dictionary,
    depth: usize,
    out: &mut Vec<&'a Dictionary>,
) {
    if depth > MAX_TREE_DEPTH || out.len() >= MAX_FILES {
        return;
    }
    if let Some(names) = node
        .get(b"Names")
        .ok()
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_array().ok())
    {
        out.extend(names.iter().skip(1).step_by(2).filter_map(|v| dict(doc, v)));
    }
    if let Some(kids) = node
        .get(b"Kids")
        .ok()
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_array().ok())
    {
        for kid in kids.iter().take(MAX_FILES) {
            if let Some(kid) = dict(doc, kid) {
                name_tree_values(doc, kid, depth + 1, out);
            }
        }
    }
}

/// The values in the XFA form's `datasets` packet, one per line, at most `max` bytes of
/// XML read. `None` when the form has no XFA data.
pub(crate) fn xfa_values(doc: &Document, max: usize) -> Option<Vec<String>> {
    let xfa = catalog(doc)?
        .get(b"AcroForm")
        .ok()
        .and_then(|o| dict(doc, o))?
        .get(b"XFA")
        .ok()
        .and_then(|o| deref(doc, o))?;
    let stream_bytes = |o: &Object| {
        deref(doc, o)
            .and_then(|o| o.as_stream().ok())
            .and_then(|s| s.decompressed_content_with_limit(max).ok())
    };
    // Either one stream holding the whole XDP, or `[name stream …]` packets.
    let xml = match xfa {
        Object::Array(parts) => parts
            .chunks(2)
            .find(|pair| {
                matches!(&pair[0], Object::String(name, _) if name.as_slice() == b"datasets")
            })
            .and_then(|pair| pair.get(1))
            .and_then(stream_bytes)?,
        other => stream_bytes(other)?,
    };
    Some(datasets_text(&xml))
}

/// The text content of the elements inside `<xfa:datasets>`.
fn datasets_text(xml: &[u8]) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut value = String::new();
    let mut inside = 0usize;
    // Inside `<xfa:data>`, the form's data. A dataset's other children (a list of values
    // that fills the form's drop-downs, a data description) are not what was filled in.
    let mut in_data = false;
    let flush = |value: &mut String, out: &mut Vec<String>| {
        let text = value.trim();
        if !text.is_empty() {
            out.push(text.to_string());
        }
        value.clear();
    };
    loop {
        let event = reader.read_event_into(&mut buf);
        // Values are the text of elements below `<xfa:data>` (two levels into the packet).
        let keep = in_data && inside > 1;
        match event {
            Ok(Event::Start(e)) => {
                flush(&mut value, &mut out);
                if inside == 1 && e.local_name().as_ref() == "data" {
                    in_data = true;
                }
                if e.local_name().as_ref() == "datasets" || inside > 0 {
                    inside += 1;
                }
            }
            Ok(Event::End(_)) => {
                flush(&mut value, &mut out);
                inside = inside.saturating_sub(1);
                if inside <= 1 {
                    in_data = false;
                }
            }
            Ok(Event::Empty(_)) => flush(&mut value, &mut out),
            Ok(Event::Text(t)) if keep => value.push_str(&t.xml10_content()),
            Ok(Event::CData(t)) if keep => value.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) if keep => {
                if r.is_char_ref() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        value.push(c);
                    }
                } else if let Some(s) =
                    quick_xml::escape::resolve_predefined_entity(&r.into_inner())
                {
                    value.push_str(s);
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    flush(&mut value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_give_their_filled_values_and_nothing_of_the_template_or_value_lists() {
        let xdp = br#"<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/">
            <template><field name="a"><caption><value><text>Label</text></value></caption></field></template>
            <xfa:datasets xmlns:xfa="http://www.xfa.org/schema/xfa-data/1.0/">
              <LOVFile><LOV><Lang>English</Lang><Lang>French</Lang></LOV></LOVFile>
              <xfa:data><form1><name>Ana &amp; Rui</name><city>Porto</city><empty/></form1></xfa:data>
            </xfa:datasets></xdp:xdp>"#;
        assert_eq!(datasets_text(xdp), ["Ana & Rui", "Porto"]);
    }
}
