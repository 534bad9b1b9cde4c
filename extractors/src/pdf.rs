//! PDF via lopdf: lopdf parses the file (objects, streams, filters, fonts' encodings) and
//! `pdf_text` interprets each page's content stream (positioning with glyph widths, Form
//! XObjects). Around that, this module keeps the contract: a document that stays encrypted
//! after trying the empty password is refused as `encrypted` (lopdf alone would return no
//! pages), each page is a section, a broken page is a warning while the others still come
//! out, decompression is bounded per page, and a document with no text layer at all carries
//! a `no_text_layer` warning rather than passing as an empty success.
//!
//! Annotations' comments and form field values follow each page's text; an XFA form's
//! data and attached files (`pdf_extras`) follow the pages. A ToUnicode CMap
//! lopdf refuses is read by `pdf_cmap`; composite fonts without one whose encoding is a
//! predefined CJK CMap (`90ms-RKSJ-H`, `UniGB-UCS2-H`, …) are decoded as the legacy encoding
//! behind it (`pdf_text::Legacy`). Still to do (issue 3): the embedded fonts' own tables.

use lopdf::{Dictionary, Document, Object};

use crate::{
    Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits, Warning,
};

#[derive(Debug)]
pub(crate) struct PdfExtractor;

/// Decompressed content allowed per page.
const MAX_PAGE_CONTENT: usize = 64 * 1024 * 1024;

/// What one object or cross-reference stream may decompress to while the file loads.
/// Writers keep object streams to a few hundred objects (kilobytes); a cross-reference
/// stream for two million objects is about 14 MB.
const MAX_LOAD_STREAM: usize = 16 * 1024 * 1024;

/// An object, through its reference if it is one (`None` for a dangling reference).
pub(crate) fn deref<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Object> {
    doc.dereference(obj).ok().map(|(_, o)| o)
}

/// A dictionary's entry that is, or refers to, a dictionary.
pub(crate) fn dict_entry<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Dictionary> {
    deref(doc, dict.get(key).ok()?)?.as_dict().ok()
}

fn map_load_error(e: lopdf::Error) -> ExtractError {
    let message = e.to_string();
    let lower = message.to_lowercase();
    if lower.contains("encrypt") || lower.contains("password") || lower.contains("decrypt") {
        ExtractError::new(ErrorKind::Encrypted, format!("pdf: {message}"))
    } else {
        ExtractError::new(ErrorKind::Corrupt, format!("pdf: {message}"))
    }
}

/// The error for a PDF none of whose pages can be read. When the file declares an
/// encryption dictionary, that is why: lopdf drops what it fails to decrypt with the empty
/// password (object streams, the page tree) instead of saying so, and a user should hear
/// "needs a password", not "corrupt".
fn unreadable(input: &[u8], message: &str) -> ExtractError {
    if input.windows(8).any(|w| w == b"/Encrypt") {
        ExtractError::new(
            ErrorKind::Encrypted,
            format!("{message}: it is encrypted and the empty password does not open it"),
        )
    } else {
        ExtractError::new(ErrorKind::Corrupt, message)
    }
}

/// Font dictionaries without their (required, often omitted) `/Type /Font`: lopdf reads a
/// font's encoding only from a dictionary typed as a font, so these would show no text.
/// Recognised by a font `/Subtype` together with `/BaseFont`.
fn label_untyped_fonts(doc: &mut Document) {
    const FONT_SUBTYPES: [&[u8]; 5] = [b"Type1", b"TrueType", b"Type0", b"MMType1", b"Type3"];
    for object in doc.objects.values_mut() {
        let Ok(dict) = object.as_dict_mut() else {
            continue;
        };
        let is_font = dict
            .get(b"Subtype")
            .and_then(lopdf::Object::as_name)
            .is_ok_and(|s| FONT_SUBTYPES.contains(&s))
            && (dict.has(b"BaseFont") || dict.has(b"FontMatrix"));
        if is_font && !dict.has(b"Type") {
            dict.set("Type", lopdf::Object::Name(b"Font".to_vec()));
        }
    }
}

/// Comments (`/Contents`) and form field values (`/V`) of a page's annotations; for one with
/// neither, the text its appearance shows.
fn annotation_text(doc: &Document, page_id: lopdf::ObjectId, deadline: Deadline) -> Vec<String> {
    let deref = |o: &'_ lopdf::Object| doc.dereference(o).ok().map(|(_, o)| o.clone());
    let Some(annots) = doc
        .get_dictionary(page_id)
        .ok()
        .and_then(|page| page.get(b"Annots").ok())
        .and_then(&deref)
        .and_then(|a| a.as_array().ok().cloned())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut fields = std::collections::HashSet::new();
    let mut drawn = std::collections::HashSet::new();
    for annot in annots.iter().take(10_000) {
        let Some(dict) = deref(annot).and_then(|a| a.as_dict().ok().cloned()) else {
            continue;
        };
        // What no reader sees (a hidden field's value, a note hidden from view) is not
        // the page's text, as poppler leaves it out too.
        if hidden(doc, &dict) {
            continue;
        }
        let text = |o: &lopdf::Object| {
            deref(o)
                .and_then(|v| lopdf::decode_text_string(&v).ok())
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        };
        let before = out.len();
        // A link's `/Contents` is an alternate description for screen readers (TCPDF
        // writes the target page number there), a popup's repeats its parent's.
        let subtype = dict.get(b"Subtype").and_then(lopdf::Object::as_name).ok();
        let described = matches!(subtype, Some(b"Link" | b"Popup"));
        if let Some(comment) = dict
            .get(b"Contents")
            .ok()
            .filter(|_| !described)
            .and_then(text)
        {
            out.push(comment);
        }
        // A field's value; a choice field's value is an export value (or several, for a
        // multiple-choice list) that its `/Opt` pairs with the text the form shows. Each
        // option as (export value, text shown): a pair, or one string that is both.
        let options: Vec<(String, String)> = field_entry(doc, &dict, b"Opt")
            .and_then(|(_, o)| o.as_array().ok().cloned())
            .unwrap_or_default()
            .iter()
            .take(1_000)
            .filter_map(|o| match deref(o)? {
                lopdf::Object::Array(pair) => {
                    Some((pair.first().and_then(text)?, pair.get(1).and_then(text)?))
                }
                other => text(&other).map(|t| (t.clone(), t)),
            })
            .collect();
        let shown = |value: String| {
            options
                .iter()
                .find(|(export, _)| *export == value)
                .map_or(value, |(_, shown)| shown.clone())
        };
        let mut values: Vec<String> = match field_entry(doc, &dict, b"V") {
            Some((Some(field), _)) if !fields.insert(field) => continue,
            Some((_, lopdf::Object::Array(values))) => values
                .iter()
                .take(1_000)
                .filter_map(text)
                .map(shown)
                .collect(),
            Some((_, value)) => text(&value).map(shown).into_iter().collect(),
            None => Vec::new(),
        };
        // A list box (a choice field that is no combo box) shows its options, chosen or
        // not; a combo box, the chosen one.
        const COMBO: i64 = 1 << 17;
        let choice = field_entry(doc, &dict, b"FT")
            .is_some_and(|(_, t)| t.as_name().ok() == Some(b"Ch".as_slice()));
        let combo = field_entry(doc, &dict, b"Ff")
            .and_then(|(_, f)| f.as_i64().ok())
            .is_some_and(|f| f & COMBO != 0);
        if choice && !combo {
            let mut listed: Vec<String> = options.iter().map(|(_, shown)| shown.clone()).collect();
            values.retain(|v| !listed.contains(v));
            listed.append(&mut values);
            values = listed;
        }
        // A text field with a format action (`/AA /F`: Acrobat's `AFNumber_Format`,
        // `AFDate_Format`) shows its value formatted ("302,80" for 302.8), as its
        // appearance holds it: that is the text a reader sees, where the appearance has any.
        if !values.is_empty()
            && formatted_text_field(doc, &dict)
            && let Some(shown) = appearance(doc, &dict).and_then(|f| words_shown(doc, f, deadline))
        {
            values = vec![shown];
        }
        out.extend(values);
        // Nothing said in words: what the annotation shows, as poppler draws it (a
        // free-text box's words, a stamp, a button's caption).
        if out.len() == before {
            // An appearance many annotations share (a radio button's dot) is read once:
            // a page of 10,000 widgets drawing one large form would read it 10,000 times.
            out.extend(
                appearance(doc, &dict)
                    .filter(|form| drawn.insert(*form))
                    .and_then(|form| words_shown(doc, form, deadline)),
            );
        }
    }
    out
}

/// The words an appearance form draws, trimmed; `None` when it draws none.
fn words_shown(doc: &Document, form: lopdf::ObjectId, deadline: Deadline) -> Option<String> {
    let text = crate::pdf_text::appearance_text(doc, form, deadline, MAX_PAGE_CONTENT).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Whether a widget is a text field (`/FT /Tx`) with a format action (`/AA /F`).
fn formatted_text_field(doc: &Document, widget: &lopdf::Dictionary) -> bool {
    field_entry(doc, widget, b"FT").is_some_and(|(_, t)| t.as_name().ok() == Some(b"Tx"))
        && field_entry(doc, widget, b"AA")
            .is_some_and(|(_, aa)| aa.as_dict().is_ok_and(|aa| aa.has(b"F")))
}

/// Whether an annotation's flags (`/F`) keep it off the screen: Hidden or NoView.
fn hidden(doc: &Document, annot: &lopdf::Dictionary) -> bool {
    const HIDDEN: i64 = 1 << 1;
    const NO_VIEW: i64 = 1 << 5;
    let flags = annot
        .get(b"F")
        .ok()
        .and_then(|f| deref(doc, f)?.as_i64().ok())
        .unwrap_or(0);
    flags & (HIDDEN | NO_VIEW) != 0
}

/// The normal appearance an annotation shows: `/AP /N`, either one form or, for an
/// annotation with states (a check box), the form of its state `/AS`.
fn appearance(doc: &Document, annot: &lopdf::Dictionary) -> Option<lopdf::ObjectId> {
    let normal = dict_entry(doc, annot, b"AP")?.get(b"N").ok()?;
    if let Ok(id) = normal.as_reference()
        && doc
            .get_object(id)
            .and_then(lopdf::Object::as_stream)
            .is_ok()
    {
        return Some(id);
    }
    let states = doc.dereference(normal).ok()?.1.as_dict().ok()?;
    let state = annot.get(b"AS").ok()?.as_name().ok()?;
    states.get(state).ok()?.as_reference().ok()
}

/// Whether a document's encryption (V4 and up, crypt filters) leaves its streams and
/// strings under the Identity filter, the default where `/StmF` or `/StrF` is absent.
fn only_files_encrypted(doc: &Document) -> bool {
    let Ok(encrypt) = doc.get_encrypted() else {
        return false;
    };
    let identity = |key: &[u8]| {
        encrypt
            .get(key)
            .map_or(true, |o| o.as_name().is_ok_and(|n| n == b"Identity"))
    };
    encrypt
        .get(b"V")
        .and_then(Object::as_i64)
        .is_ok_and(|v| v >= 4)
        && identity(b"StmF")
        && identity(b"StrF")
}

/// The file with each `/Encrypt N G R` key (the trailer's, or a cross-reference stream's)
/// renamed `/Xncrypt`: the same bytes otherwise.
fn without_encrypt_key(input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let mut i = 0;
    while let Some(at) = out[i..]
        .windows(8)
        .position(|w| w == b"/Encrypt")
        .map(|p| p + i)
    {
        let rest = &out[at + 8..];
        let spaces = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if spaces > 0 && rest.get(spaces).is_some_and(u8::is_ascii_digit) {
            out[at + 1] = b'X';
        }
        i = at + 8;
    }
    out
}

/// An entry of a form field's widget, or of its parent fields (values and options are
/// inherited), dereferenced.
/// Also returns the parent field that holds it (`None`: the widget itself), so that a field
/// shown by several widgets is read once.
fn field_entry(
    doc: &Document,
    widget: &lopdf::Dictionary,
    key: &[u8],
) -> Option<(Option<lopdf::ObjectId>, lopdf::Object)> {
    let mut dict = widget.clone();
    let mut holder = None;
    for _ in 0..16 {
        if let Ok(value) = dict.get(key) {
            return doc
                .dereference(value)
                .ok()
                .map(|(_, o)| (holder, o.clone()));
        }
        let parent = dict.get(b"Parent").ok()?.as_reference().ok()?;
        holder = Some(parent);
        dict = doc.get_dictionary(parent).ok()?.clone();
    }
    None
}

impl Extractor for PdfExtractor {
    fn formats(&self) -> &'static [Format] {
        &[Format::Pdf]
    }

    fn extract(
        &self,
        input: &[u8],
        format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        // lopdf decodes object and cross-reference streams while it loads, each up to
        // 256 MB by default: a 1 MB file took 800 MB. Real ones hold small objects.
        let options = lopdf::LoadOptions {
            max_decompressed_size: Some(MAX_LOAD_STREAM),
            ..Default::default()
        };
        let mut doc =
            Document::load_mem_with_options(input, options.clone()).map_err(map_load_error)?;
        // Encrypted attachments only (ISO 32000 7.6.5): streams and strings go through the
        // Identity crypt filter, so the pages are plain and need no password; only the
        // embedded files (`/EFF`) are ciphertext, and they are left out. lopdf loads no
        // object of a file it cannot decrypt, so the file is loaded again with its
        // trailer's `/Encrypt` key renamed (same length: every offset holds).
        let attachments_encrypted = doc.is_encrypted() && only_files_encrypted(&doc);
        let unlocked;
        let input = if attachments_encrypted {
            unlocked = without_encrypt_key(input);
            doc = Document::load_mem_with_options(&unlocked, options).map_err(map_load_error)?;
            &unlocked[..]
        } else {
            input
        };
        crate::pdf_repair::recover_unsized_streams(&mut doc, input);
        label_untyped_fonts(&mut doc);
        if doc.is_encrypted() {
            return Err(ExtractError::new(
                ErrorKind::Encrypted,
                "the PDF needs a password (the empty password does not open it)",
            ));
        }
        let pages = doc.get_pages();
        if pages.is_empty() {
            return Err(unreadable(input, "the PDF has no readable pages"));
        }
        let mut b = DocBuilder::new(format, limits.max_output_bytes);
        b.metadata.insert("pages".into(), pages.len().to_string());
        let mut broken = 0usize;
        let mut any_text = false;
        let mut field_values = std::collections::HashSet::new();
        for &number in pages.keys() {
            deadline.check()?;
            b.page(number);
            match crate::pdf_text::page_text(&doc, pages[&number], deadline, MAX_PAGE_CONTENT) {
                Ok(text) => {
                    any_text |= !text.trim().is_empty();
                    b.push(&text);
                }
                Err(e) if e.kind == ErrorKind::Timeout => return Err(e),
                Err(e) => {
                    broken += 1;
                    b.warnings.push(Warning {
                        code: "broken_page",
                        message: format!("page {number}: {}", e.message),
                    });
                }
            }
            b.paragraph_break();
            let notes = annotation_text(&doc, pages[&number], deadline);
            field_values.extend(notes.iter().cloned());
            if !notes.is_empty() {
                any_text = true;
                b.push(&notes.join("\n"));
                b.paragraph_break();
            }
            if b.is_full() {
                break;
            }
        }
        // An XFA form's data: what was typed into it, unless its AcroForm twin's field
        // values already said so.
        if let Some(values) = crate::pdf_extras::xfa_values(&doc, MAX_PAGE_CONTENT) {
            let fresh: Vec<String> = values
                .into_iter()
                .filter(|v| !field_values.contains(v))
                .collect();
            if !fresh.is_empty() && !b.is_full() {
                any_text = true;
                b.unpaged();
                b.push(&fresh.join("\n"));
                b.paragraph_break();
            }
        }
        if broken == pages.len() && !any_text {
            return Err(unreadable(input, "no page of the PDF could be read"));
        }
        if !any_text {
            b.warnings.push(Warning {
                code: "no_text_layer",
                message: "the PDF has no text layer (a scan?); OCR is not done".into(),
            });
        }
        let mut out = b.finish();
        // The files of a portfolio (a catalog with `/Collection`), which a viewer shows as
        // the document itself, each extracted like an e-mail attachment (within the
        // embedded-depth limit and what is left of the output budget). Files merely
        // attached to an ordinary PDF are not: no reference extractor counts them as its
        // text (Tika, pdftotext), and an invoice's XML twin (Factur-X) or a form's data
        // file would double what the pages say.
        let portfolio = doc.catalog().is_ok_and(|c| c.has(b"Collection"));
        let page_ids: Vec<lopdf::ObjectId> = pages.values().copied().collect();
        let files = if portfolio && !attachments_encrypted {
            crate::pdf_extras::attachments(&doc, &page_ids, limits.max_input_bytes)
        } else {
            Vec::new()
        };
        for (name, bytes) in files {
            deadline.check()?;
            crate::office::append_embedded(&mut out, &name, &bytes, limits, deadline);
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "pdf_tests.rs"]
mod tests;
