//! EPUB books: the package document (`META-INF/container.xml` names it) gives the title,
//! the manifest and the spine; each spine item, in reading order, goes through the HTML
//! extractor. A book whose spine items are encrypted (DRM, listed in
//! `META-INF/encryption.xml`) is refused as `encrypted`; obfuscated fonts alone are not.

use std::collections::{HashMap, HashSet};

use crate::office::ZipGuard;
use crate::office::ooxml::{each_element, resolve};
use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

/// At most this many spine items are read.
const MAX_SPINE: usize = 4096;

/// `%20` and friends in a manifest href (they are URLs); anything malformed stays as is.
fn percent_decode(href: &str) -> String {
    let bytes = href.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = bytes.get(i + 1..i + 3)
            && let Ok(s) = std::str::from_utf8(h)
            && let Ok(v) = u8::from_str_radix(s, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Extracts an EPUB book from its opened container.
pub(crate) fn extract(
    zip: &mut ZipGuard<'_>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    let mut opf = None;
    each_element(zip, "META-INF/container.xml", "rootfile", |get| {
        if opf.is_none() {
            opf = get("full-path");
        }
    })?;
    let opf = opf
        .or_else(|| zip.names().into_iter().find(|n| n.ends_with(".opf")))
        .ok_or_else(|| ExtractError::new(ErrorKind::Corrupt, "epub without a package document"))?;
    let base = opf.rsplit_once('/').map_or("", |(dir, _)| dir).to_string();
    let mut items: HashMap<String, (String, String)> = HashMap::new();
    each_element(zip, &opf, "item", |get| {
        if let (Some(id), Some(href)) = (get("id"), get("href")) {
            let media = get("media-type").unwrap_or_default();
            items.insert(id, (resolve(&base, &percent_decode(&href)), media));
        }
    })?;
    let mut spine = Vec::new();
    each_element(zip, &opf, "itemref", |get| {
        if let Some(id) = get("idref") {
            spine.push(id);
        }
    })?;
    let mut encrypted = HashSet::new();
    each_element(zip, "META-INF/encryption.xml", "CipherReference", |get| {
        if let Some(uri) = get("URI") {
            encrypted.insert(resolve("", &percent_decode(&uri)));
        }
    })?;
    let title = zip.read(&opf)?.and_then(|xml| dc_title(&xml));

    let mut b = DocBuilder::new(Format::Epub, limits.max_output_bytes);
    b.title = title;
    let mut doc = b.finish();
    let html = crate::html::HtmlExtractor;
    for id in spine.into_iter().take(MAX_SPINE) {
        deadline.check()?;
        let Some((path, media)) = items.get(&id) else {
            continue;
        };
        if encrypted.contains(path) {
            return Err(ExtractError::new(
                ErrorKind::Encrypted,
                "the epub's content is encrypted (drm)",
            ));
        }
        if !(media.contains("html") || media.contains("xml") || media.is_empty()) {
            continue;
        }
        let room = doc.output_room(limits);
        if room == 0 {
            break;
        }
        let Some(bytes) = zip.read(path)? else {
            doc.warnings.push(crate::Warning {
                code: "missing_part",
                message: format!("spine item {path} is not in the book"),
            });
            continue;
        };
        let child = Limits {
            max_output_bytes: room,
            ..limits.clone()
        };
        match html.extract(&bytes, Format::Html, &child, deadline) {
            Ok(chapter) => {
                doc.warnings.extend(chapter.warnings);
                doc.sections.extend(chapter.sections);
            }
            Err(e) if e.kind == ErrorKind::Timeout => return Err(e),
            Err(e) => doc.warnings.push(crate::Warning {
                code: "broken_part",
                message: format!("{path}: {e}"),
            }),
        }
    }
    Ok(doc)
}

/// The package document's `dc:title`.
fn dc_title(opf: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(opf).ok()?;
    let start = text.find("<dc:title")?;
    let open_end = start + text[start..].find('>')? + 1;
    let close = open_end + text[open_end..].find("</dc:title>")?;
    let value = quick_xml::escape::unescape(text[open_end..close].trim())
        .ok()?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (!value.is_empty()).then_some(value)
}
