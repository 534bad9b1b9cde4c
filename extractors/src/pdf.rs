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

use lopdf::Document;

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

/// Comments (`/Contents`) and form field values (`/V`) of a page's annotations.
fn annotation_text(doc: &Document, page_id: lopdf::ObjectId) -> Vec<String> {
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
    for annot in annots.iter().take(10_000) {
        let Some(dict) = deref(annot).and_then(|a| a.as_dict().ok().cloned()) else {
            continue;
        };
        let text = |o: &lopdf::Object| {
            deref(o)
                .and_then(|v| lopdf::decode_text_string(&v).ok())
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        };
        if let Some(comment) = dict.get(b"Contents").ok().and_then(text) {
            out.push(comment);
        }
        // A field's value; a choice field's value is an export value (or several, for a
        // multiple-choice list) that its `/Opt` pairs with the text the form shows.
        let options = field_entry(doc, &dict, b"Opt")
            .and_then(|(_, o)| o.as_array().ok().cloned())
            .unwrap_or_default();
        let shown = |value: String| {
            options
                .iter()
                .filter_map(|o| deref(o).and_then(|o| o.as_array().ok().cloned()))
                .find(|pair| pair.first().and_then(text).as_deref() == Some(value.as_str()))
                .and_then(|pair| pair.get(1).and_then(text))
                .unwrap_or(value)
        };
        match field_entry(doc, &dict, b"V") {
            Some((Some(field), _)) if !fields.insert(field) => {}
            Some((_, lopdf::Object::Array(values))) => {
                out.extend(values.iter().take(1_000).filter_map(text).map(shown));
            }
            Some((_, value)) => out.extend(text(&value).map(shown)),
            None => {}
        }
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
        let mut doc = Document::load_mem_with_options(input, options).map_err(map_load_error)?;
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
            let notes = annotation_text(&doc, pages[&number]);
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
        let files = if portfolio {
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
mod tests {
    use super::*;
    use std::time::Duration;

    /// A one-page PDF with a correct cross-reference table, written by hand.
    fn tiny_pdf(text: &str, kids: &str) -> Vec<u8> {
        pdf_with(
            &format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET"),
            kids,
            "BT ET",
        )
    }

    /// A one-page PDF whose page draws `content`, with font /F1 (every glyph 500 units
    /// wide), a Form XObject /X1 drawing `form` that may call itself, and a comment.
    fn pdf_with(content: &str, kids: &str, form: &str) -> Vec<u8> {
        pdf_with_font_type(content, kids, form, "/Type /Font ")
    }

    /// `font_type` is the font dictionary's `/Type` entry (empty: left out, as some writers do).
    fn pdf_with_font_type(content: &str, kids: &str, form: &str, font_type: &str) -> Vec<u8> {
        pdf_from(
            content,
            kids,
            form,
            font_type,
            "<< /Type /Annot /Subtype /Text /Rect [0 0 10 10] /Contents (Reviewed by Ana) >>",
        )
    }

    /// The full builder: `annot` is the page's one annotation dictionary.
    fn pdf_from(content: &str, kids: &str, form: &str, font_type: &str, annot: &str) -> Vec<u8> {
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            format!("<< /Type /Pages /Kids [{kids}] /Count 1 >>"),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Annots [7 0 R] /Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> >>".to_string(),
            format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
            format!(
                "<< {font_type}/Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding /FirstChar 32 /LastChar 126 /Widths [{}] >>",
                vec!["500"; 95].join(" ")
            ),
            format!(
                "<< /Type /XObject /Subtype /Form /BBox [0 0 100 100] /Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> /Length {} >>\nstream\n{form}\nendstream",
                form.len()
            ),
            annot.to_string(),
        ];
        assemble("1.4", objects.map(String::into_bytes))
    }

    /// A PDF of these objects (numbered from 1, the first the catalog) with a valid xref
    /// table and trailer.
    fn assemble(version: &str, objects: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
        let mut out = format!("%PDF-{version}\n").into_bytes();
        let mut offsets = Vec::new();
        for (i, body) in objects.into_iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(&body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        let size = offsets.len() + 1;
        out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f \n").as_bytes());
        for o in offsets {
            out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!("trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n")
                .as_bytes(),
        );
        out
    }

    fn run(input: &[u8]) -> Result<Extracted, ExtractError> {
        PdfExtractor.extract(
            input,
            Format::Pdf,
            &Limits::default(),
            Deadline::after(Duration::from_secs(10)),
        )
    }

    #[test]
    fn a_simple_page_comes_out_as_a_numbered_section() {
        let doc = run(&tiny_pdf("Hello PDF", "3 0 R")).expect("extracts");
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].page, Some(1));
        assert!(
            doc.sections[0].text.contains("Hello PDF"),
            "{:?}",
            doc.sections
        );
    }

    #[test]
    fn positioning_decides_spaces_and_forms_are_followed_once() {
        // 5 glyphs at 10 pt advance 25 units: a Td of 25 continues the word, 31 starts a new one.
        let content = "BT /F1 10 Tf 72 720 Td (Hello) Tj 25 0 Td (World) Tj 31 0 Td (again) Tj 0 -12 Td (next) Tj ET /X1 Do";
        let form = "BT /F1 10 Tf 0 0 Td (Inside) Tj ET /X1 Do";
        let doc = run(&pdf_with(content, "3 0 R", form)).expect("extracts");
        assert_eq!(
            doc.sections[0].text,
            "HelloWorld again\nnext\nInside\n\nReviewed by Ana"
        );
    }

    #[test]
    fn a_font_without_its_type_entry_still_shows_its_text() {
        let content = "BT /F1 10 Tf 72 720 Td (Hello World) Tj ET";
        let doc = run(&pdf_with_font_type(content, "3 0 R", "BT ET", "")).expect("extracts");
        assert_eq!(doc.sections[0].text, "Hello World\n\nReviewed by Ana");
    }

    #[test]
    fn words_are_placed_by_where_they_land_on_the_page() {
        // Separate text objects on one baseline continue the line (a gap is a space, none
        // glues); text turned by the CTM starts a line and stays whole when its runs abut.
        let content = "BT /F1 10 Tf 1 0 0 1 72 700 Tm (Two) Tj ET \
            BT /F1 10 Tf 1 0 0 1 92 700 Tm (words) Tj ET \
            BT /F1 10 Tf 1 0 0 1 117 700 Tm (glued) Tj ET \
            q 0 1 -1 0 300 300 cm BT /F1 10 Tf 0 0 Td (up) Tj 10 0 Td (wards) Tj ET Q";
        let doc = run(&pdf_with(content, "3 0 R", "BT ET")).expect("extracts");
        assert_eq!(
            doc.sections[0].text,
            "Two wordsglued\nupwards\n\nReviewed by Ana"
        );
    }

    #[test]
    fn choice_fields_show_the_text_of_their_selected_options() {
        // A multiple-choice list: the values are export values, /Opt pairs them with what
        // the form shows; a value without a pair shows as itself.
        let annot = "<< /Type /Annot /Subtype /Widget /FT /Ch /Rect [0 0 10 10] \
            /Opt [[(e1) (Blue sky)] [(e2) (Green field)] (Plain)] /V [(e2) (Plain) (other)] >>";
        let doc =
            run(&pdf_from("BT ET", "3 0 R", "BT ET", "/Type /Font ", annot)).expect("extracts");
        assert_eq!(doc.sections[0].text, "Green field\nPlain\nother");
    }

    #[test]
    fn a_word_hyphenated_at_a_line_end_is_joined() {
        let content = "BT /F1 10 Tf 72 700 Td (adminis-) Tj 0 -12 Td (trator) Tj \
            0 -12 Td (Part-) Tj 0 -12 Td (Two) Tj 0 -12 Td (x -) Tj 0 -12 Td (y) Tj ET";
        let doc = run(&pdf_with(content, "3 0 R", "BT ET")).expect("extracts");
        // Joined only between letters and before a lower-case continuation.
        assert_eq!(
            doc.sections[0].text,
            "administrator\nPart-\nTwo\nx -\ny\n\nReviewed by Ana"
        );
    }

    #[test]
    fn text_drawn_twice_in_one_place_comes_out_once() {
        let content = "BT /F1 10 Tf 72 700 Td (Stamp) Tj ET BT /F1 10 Tf 72.4 700 Td (Stamp) Tj ET \
            BT /F1 10 Tf 72 680 Td (Stamp) Tj ET";
        let doc = run(&pdf_with(content, "3 0 R", "BT ET")).expect("extracts");
        assert_eq!(doc.sections[0].text, "Stamp\nStamp\n\nReviewed by Ana");
    }

    #[test]
    fn a_raised_run_is_a_word_of_its_own() {
        let content = "BT /F1 10 Tf 72 720 Td (E=mc) Tj 4 Ts (2) Tj 0 Ts (holds) Tj ET";
        let doc = run(&pdf_with(content, "3 0 R", "BT ET")).expect("extracts");
        assert_eq!(doc.sections[0].text, "E=mc 2 holds\n\nReviewed by Ana");
    }

    #[test]
    fn an_unreadable_file_that_declares_encryption_needs_a_password() {
        // lopdf drops what the empty password fails to decrypt instead of saying so.
        let declared = b"%PDF-1.6\ntrailer << /Root 1 0 R /Encrypt 9 0 R >>";
        let e = unreadable(declared, "no pages");
        assert_eq!(e.kind, ErrorKind::Encrypted, "{e}");
        let e = unreadable(b"%PDF-1.6\ntrailer << /Root 1 0 R >>", "no pages");
        assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    }

    #[test]
    fn an_object_stream_that_inflates_past_the_load_bound_is_refused() {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        // 17 MB of spaces, from about 17 KB: past the 16 MB bound, far below lopdf's own.
        for _ in 0..17 {
            z.write_all(&[b' '; 1 << 20]).expect("deflate");
        }
        let bomb = z.finish().expect("deflate");
        let mut objects: Vec<Vec<u8>> = [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ]
        .map(|o| o.as_bytes().to_vec())
        .to_vec();
        let mut stream = format!(
            "<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
            bomb.len()
        )
        .into_bytes();
        stream.extend_from_slice(&bomb);
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
        let err = run(&assemble("1.5", objects)).expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Corrupt, "{err}");
    }

    #[test]
    fn truncated_and_cyclic_files_end_in_typed_errors_or_warnings() {
        let good = tiny_pdf("Hello PDF", "3 0 R");
        for cut in [10, good.len() / 3, good.len() / 2, good.len() - 20] {
            // Never a panic or a hang: either some text with warnings, or a typed error.
            match run(&good[..cut]) {
                Ok(doc) => assert!(doc.sections.len() <= 1),
                Err(e) => assert!(matches!(e.kind, ErrorKind::Corrupt), "{e}"),
            }
        }
        // A page tree whose kids point back at the tree itself.
        let cyclic = tiny_pdf("Loop", "2 0 R 3 0 R");
        match run(&cyclic) {
            Ok(doc) => assert!(doc.sections.iter().all(|s| s.text.len() < 1000)),
            Err(e) => assert_eq!(e.kind, ErrorKind::Corrupt, "{e}"),
        }
    }

    /// A one-page PDF whose page draws `content` with font /F1 = `font`; `extra` objects
    /// follow (numbered from 6) and `catalog` adds entries to the catalog.
    fn pdf_custom(content: &str, font: &str, catalog: &str, extra: &[String]) -> Vec<u8> {
        let mut objects = vec![
            format!("<< /Type /Catalog /Pages 2 0 R {catalog} >>"),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
            format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
            font.to_string(),
        ];
        objects.extend(extra.iter().cloned());
        assemble("1.4", objects.into_iter().map(String::into_bytes))
    }

    const COURIER: &str = "<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>";

    #[test]
    fn differences_with_names_lopdf_does_not_know_keep_the_rest() {
        // `/.notdef` and TeX's `/circlecopyrt` are not in the glyph list; `/fi` at code 2 is.
        let font = "<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman \
            /Encoding << /Differences [0 /.notdef 2 /fi /circlecopyrt 65 /B] >> >>";
        let doc = run(&pdf_custom(
            "BT /F1 10 Tf 72 700 Td (pro\\002t A) Tj ET",
            font,
            "",
            &[],
        ))
        .expect("extracts");
        assert_eq!(doc.sections[0].text, "pro\u{FB01}t B");
    }

    #[test]
    fn text_overprinted_a_fraction_of_a_point_away_comes_out_once() {
        // 72.9 and 73.3 fall in neighbouring 2-unit cells.
        let content =
            "BT /F1 10 Tf 72.9 700 Td (Bold) Tj ET BT /F1 10 Tf 73.3 700.2 Td (Bold) Tj ET";
        let doc = run(&pdf_custom(content, COURIER, "", &[])).expect("extracts");
        assert_eq!(doc.sections[0].text, "Bold");
    }

    #[test]
    fn a_content_stream_broken_midway_keeps_its_text_before_the_damage() {
        let content = "BT /F1 10 Tf 72 700 Td (Hello) Tj ET\nBT /F1 10 Tf 72 680 Td (again) Tj ET\nBT /F1 10 Tf (unterminated";
        let doc = run(&pdf_custom(content, COURIER, "", &[])).expect("extracts");
        assert_eq!(doc.sections[0].text, "Hello\nagain");
    }

    #[test]
    fn a_portfolios_files_and_xfa_data_follow_the_pages() {
        let xdp = "<xdp:xdp xmlns:xdp=\"http://ns.adobe.com/xdp/\"><xfa:datasets xmlns:xfa=\"http://www.xfa.org/schema/xfa-data/1.0/\"><xfa:data><f><city>Porto</city></f></xfa:data></xfa:datasets></xdp:xdp>";
        let extra = [
            "<< /Type /Filespec /F (notes.txt) /EF << /F 7 0 R >> >>".to_string(),
            "<< /Length 14 >>\nstream\nAttached words\nendstream".to_string(),
            format!("<< /Length {} >>\nstream\n{xdp}\nendstream", xdp.len()),
        ];
        let catalog = "/Collection << /Type /Collection >> \
            /Names << /EmbeddedFiles << /Names [(notes.txt) 6 0 R] >> >> \
            /AcroForm << /Fields [] /XFA 8 0 R >>";
        let doc = run(&pdf_custom(
            "BT /F1 10 Tf 72 700 Td (Page) Tj ET",
            COURIER,
            catalog,
            &extra,
        ))
        .expect("extracts");
        assert_eq!(doc.text(), "Page\n\nPorto\n\nAttached words");
        assert_eq!(
            doc.sections.last().map(|s| s.heading.clone()),
            Some(vec!["notes.txt".to_string()])
        );
    }
}
