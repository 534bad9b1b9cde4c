//! Tests of the PDF extractor, on PDFs written by hand (`assemble`).

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
        format!("trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
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
    let options = "/Opt [[(e1) (Blue sky)] [(e2) (Green field)] (Plain)] /V [(e2) (other)]";
    // A combo box shows what is chosen; a list box, every option and then what is chosen
    // beside them.
    let annot = format!(
        "<< /Type /Annot /Subtype /Widget /FT /Ch /Ff 131072 /Rect [0 0 10 10] {options} >>"
    );
    let doc = run(&pdf_from("BT ET", "3 0 R", "BT ET", "/Type /Font ", &annot)).expect("extracts");
    assert_eq!(doc.sections[0].text, "Green field\nother");
    let annot = format!("<< /Type /Annot /Subtype /Widget /FT /Ch /Rect [0 0 10 10] {options} >>");
    let doc = run(&pdf_from("BT ET", "3 0 R", "BT ET", "/Type /Font ", &annot)).expect("extracts");
    assert_eq!(doc.sections[0].text, "Blue sky\nGreen field\nPlain\nother");
}

#[test]
fn annotations_hidden_from_view_are_left_out() {
    // Hidden (2) and NoView (32) fields keep their values off the page; a printable (4)
    // one shows it.
    for (flags, want) in [
        ("/F 2", ""),
        ("/F 32", ""),
        ("/F 4", "Hello"),
        ("", "Hello"),
    ] {
        let annot = format!(
            "<< /Type /Annot /Subtype /Widget /FT /Tx {flags} /Rect [0 0 10 10] /V (Hello) >>"
        );
        let doc =
            run(&pdf_from("BT ET", "3 0 R", "BT ET", "/Type /Font ", &annot)).expect("extracts");
        let text: Vec<&str> = doc.sections.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text.join("|"), want, "flags {flags:?}");
    }
}

#[test]
fn a_text_field_with_a_format_action_reads_as_its_appearance_shows_it() {
    let form = "BT /F1 10 Tf 0 0 Td (302,80) Tj ET";
    let check = |extra: &str, expected: &str| {
        let annot = format!(
            "<< /Type /Annot /Subtype /Widget /FT /Tx /Rect [0 0 10 10] /V (302.8) /AP << /N 6 0 R >> {extra} >>"
        );
        let doc = run(&pdf_from("BT ET", "3 0 R", form, "/Type /Font ", &annot)).expect("extracts");
        assert_eq!(doc.sections[0].text, expected, "{extra}");
    };
    check(
        "/AA << /F << /S /JavaScript /JS (AFNumber_Format\\(2, 2, 0, 0, \"\", true\\);) >> >>",
        "302,80",
    );
    // Without a format action the value is the text, whatever the appearance holds.
    check("", "302.8");
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
fn glyphs_set_an_em_apart_by_character_spacing_are_placed_one_by_one() {
    // Quartz's table rows: 4.11 em of character spacing, taken back by `TJ` offsets, put
    // the cells "0" and "2,24" in one string.
    let content =
        "BT /F1 1 Tf 4.11 Tc 5.76 0 0 5.76 100 700 Tm [(02) 4125 (,) 4098 (2) 4125 (4)] TJ ET";
    let doc = run(&pdf_with(content, "3 0 R", "BT ET")).expect("extracts");
    assert_eq!(doc.sections[0].text, "0 2,24\n\nReviewed by Ana");
    // Tracking under an em keeps a word whole.
    let content = "BT /F1 10 Tf 3 Tc 72 700 Td (Wide) Tj ET";
    let doc = run(&pdf_with(content, "3 0 R", "BT ET")).expect("extracts");
    assert_eq!(doc.sections[0].text, "Wide\n\nReviewed by Ana");
}

#[test]
fn a_long_stream_is_run_in_pieces_that_keep_its_state() {
    // Over twice `CONTENT_PIECE`: the font set in the first piece still draws in the last.
    let content = format!(
        "BT /F1 12 Tf 72 720 Td (Hello) Tj ET {}BT 72 700 Td (World) Tj ET",
        "1 0 0 1 0 0 cm ".repeat(350_000)
    );
    let doc = run(&pdf_with(&content, "3 0 R", "BT ET")).expect("extracts");
    assert_eq!(doc.sections[0].text, "Hello\nWorld\n\nReviewed by Ana");
}

#[test]
fn a_raised_run_is_a_word_of_its_own() {
    let content = "BT /F1 10 Tf 72 720 Td (E=mc) Tj 4 Ts (2) Tj 0 Ts (holds) Tj ET";
    let doc = run(&pdf_with(content, "3 0 R", "BT ET")).expect("extracts");
    assert_eq!(doc.sections[0].text, "E=mc 2 holds\n\nReviewed by Ana");
    // A baseline set to wave a little, letter by letter, keeps the word whole.
    let content = "BT /F1 10 Tf 72 720 Td (W) Tj 1.3 Ts (a) Tj 2.6 Ts (v) Tj 1.3 Ts (e) Tj ET";
    let doc = run(&pdf_with(content, "3 0 R", "BT ET")).expect("extracts");
    assert_eq!(doc.sections[0].text, "Wave\n\nReviewed by Ana");
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
fn a_file_that_encrypts_only_its_attachments_is_read_without_a_password() {
    // AES-256 (V5, R6) whose keys no password opens; the crypt filters decide whether the
    // pages are ciphertext (`/StdCF`) or plain (`/Identity`, attachments encrypted only).
    let check = |filter: &str| {
        let hex = |n: usize, b: &str| b.repeat(n);
        let encrypt = format!(
            "<< /Filter /Standard /V 5 /R 6 /Length 256 /P -4 /O <{}> /U <{}> /OE <{}> \
             /UE <{}> /Perms <{}> /CF << /StdCF << /CFM /AESV3 /Length 32 >> >> \
             /StmF {filter} /StrF {filter} /EFF /StdCF >>",
            hex(48, "a1"),
            hex(48, "b2"),
            hex(32, "c3"),
            hex(32, "d4"),
            hex(16, "e5")
        );
        let plain = pdf_custom(
            "BT /F1 10 Tf 72 700 Td (Example) Tj ET",
            COURIER,
            "",
            &[encrypt],
        );
        let text = String::from_utf8_lossy(&plain).replace(
            "/Root 1 0 R >>",
            "/Root 1 0 R /Encrypt 6 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] >>",
        );
        run(text.as_bytes())
    };
    let doc = check("/Identity").expect("plain pages");
    assert_eq!(doc.sections[0].text, "Example");
    let e = check("/StdCF").expect_err("encrypted pages");
    assert_eq!(e.kind, ErrorKind::Encrypted, "{e}");
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
    // The ligature comes out spelt, as pdftotext writes it.
    assert_eq!(doc.sections[0].text, "profit B");
}

#[test]
fn code_32_separates_words_whatever_glyph_it_names() {
    let font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica \
        /Encoding << /BaseEncoding /WinAnsiEncoding /Differences [32 /.notdef] >> >>";
    let doc = run(&pdf_custom(
        "BT /F1 10 Tf 72 700 Td ( printed circuit board ) Tj ET",
        font,
        "",
        &[],
    ))
    .expect("extracts");
    assert_eq!(doc.sections[0].text, "printed circuit board");
}

#[test]
fn a_code_that_reads_as_nothing_but_moves_the_pen_a_word_space_is_one() {
    // A subset font's own codes, no encoding: 4 and 11 decode to nothing; 4 is as wide as
    // a space, 11 is listed with no width (a mark drawn over the letter before it).
    let widths: Vec<String> = (0..=90)
        .map(|c| match c {
            4 => "318",
            11 => "0",
            _ => "600",
        })
        .map(String::from)
        .collect();
    let font = format!(
        "<< /Type /Font /Subtype /TrueType /BaseFont /AAAAAA+DejaVuSans \
         /FirstChar 0 /LastChar 90 /Widths [{}] >>",
        widths.join(" ")
    );
    let doc = run(&pdf_custom(
        "BT /F1 10 Tf 72 700 Td (ONE\\004TWO\\013THREE) Tj ET",
        &font,
        "",
        &[],
    ))
    .expect("extracts");
    assert_eq!(doc.sections[0].text, "ONE TWOTHREE");
}

#[test]
fn a_standard_font_without_widths_is_measured_by_its_built_in_metrics() {
    // Helvetica's "Schiller" is 32.78 units wide at 10 points; the next string starts
    // where it ends. Taken for half an em a glyph, the pen was 7 points past it.
    let font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";
    let content = "BT /F1 10 Tf 72 700 Td (Schiller) Tj 32.8 0 Td (stra\\337e) Tj ET";
    let doc = run(&pdf_custom(content, font, "", &[])).expect("extracts");
    assert_eq!(doc.sections[0].text, "Schillerstraße");
}

#[test]
fn a_type3_fonts_glyph_space_sets_its_em() {
    // Glyphs 80 units wide in a glyph space as large as text space, set at 0.12: each
    // is 9.6 units, so a gap of 0.8 is kerning and one of 10.8 a word space.
    let font = "<< /Type /Font /Subtype /Type3 /FontMatrix [1 0 0 -1 0 0] \
        /FontBBox [0 0 1 -1] /FirstChar 97 /LastChar 99 /Widths [80 80 80] \
        /Encoding << /Differences [97 /a /b /c] >> /CharProcs << >> >>";
    let content = "BT /F1 0.12 Tf 1 0 0 -1 10 35 Tm (ab) Tj 20 0 Td (ca) Tj 30 0 Td (b) Tj ET";
    let doc = run(&pdf_custom(content, font, "", &[])).expect("extracts");
    assert_eq!(doc.sections[0].text, "abca b");
}

#[test]
fn a_type3_glyph_name_that_is_no_character_reads_as_its_code() {
    let font = "<< /Type /Font /Subtype /Type3 /FontMatrix [0.001 0 0 0.001 0 0] \
        /FontBBox [0 0 750 750] /FirstChar 97 /LastChar 99 /Widths [600 600 600] \
        /Encoding << /Differences [97 /LA010000 /LB010000 /c] >> /CharProcs << >> >>";
    let doc = run(&pdf_custom(
        "BT /F1 10 Tf 72 700 Td (abc) Tj ET",
        font,
        "",
        &[],
    ))
    .expect("extracts");
    assert_eq!(doc.sections[0].text, "abc");
}

#[test]
fn text_overprinted_a_fraction_of_a_point_away_comes_out_once() {
    // 72.9 and 73.3 fall in neighbouring 2-unit cells.
    let content = "BT /F1 10 Tf 72.9 700 Td (Bold) Tj ET BT /F1 10 Tf 73.3 700.2 Td (Bold) Tj ET";
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

#[test]
fn text_set_outside_the_visible_page_is_left_out() {
    // The media box is 612 x 792: a run at x = 2000 and one below the page are not on it;
    // one that starts left of the page and runs onto it is.
    let content = "BT /F1 10 Tf 72 700 Td (Shown) Tj ET BT /F1 10 Tf 2000 700 Td (Hidden) Tj ET \
        BT /F1 10 Tf 72 -400 Td (Below) Tj ET BT /F1 10 Tf -20 600 Td (Edge) Tj ET";
    let doc = run(&pdf_custom(content, COURIER, "", &[])).expect("extracts");
    assert_eq!(doc.sections[0].text, "Shown\nEdge");
}

#[test]
fn a_tounicode_that_maps_some_codes_leaves_the_others_to_the_encoding() {
    // xdvipdfmx's ToUnicode maps its ligature (code 27 → ﬀ) and nothing else; every other
    // code reads through the font's encoding, as poppler merges the two.
    let cmap = "/CIDInit /ProcSet findresource begin 12 dict begin begincmap \
        1 begincodespacerange <00> <FF> endcodespacerange \
        1 beginbfchar <1B> <FB00> endbfchar endcmap end end";
    let font = "<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman \
        /Encoding << /BaseEncoding /WinAnsiEncoding /Differences [27 /ff] >> /ToUnicode 6 0 R >>";
    let extra = [format!(
        "<< /Length {} >>\nstream\n{cmap}\nendstream",
        cmap.len()
    )];
    let doc = run(&pdf_custom(
        "BT /F1 10 Tf 72 700 Td (di\\033erent) Tj ET",
        font,
        "",
        &extra,
    ))
    .expect("extracts");
    assert_eq!(doc.sections[0].text, "different");
}

#[test]
fn an_annotation_that_says_nothing_in_words_gives_the_text_its_appearance_shows() {
    let check = |annot: &str, expected: &str| {
        let form = "BT /F1 10 Tf 0 0 Td (Hello World) Tj ET";
        let doc = run(&pdf_from("BT ET", "3 0 R", form, "/Type /Font ", annot)).expect("extracts");
        let text: Vec<&str> = doc.sections.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text.join("|"), expected, "{annot}");
    };
    check(
        "<< /Type /Annot /Subtype /FreeText /Rect [0 0 10 10] /AP << /N 6 0 R >> >>",
        "Hello World",
    );
    // A check box: the appearance of the state it is in.
    check(
        "<< /Type /Annot /Subtype /Widget /Rect [0 0 10 10] /AS /On /AP << /N << /On 6 0 R /Off 5 0 R >> >> >>",
        "Hello World",
    );
    // Words of its own come first; a hidden annotation shows nothing.
    check(
        "<< /Type /Annot /Subtype /FreeText /Rect [0 0 10 10] /Contents (Note) /AP << /N 6 0 R >> >>",
        "Note",
    );
    check(
        "<< /Type /Annot /Subtype /Stamp /F 2 /Rect [0 0 10 10] /AP << /N 6 0 R >> >>",
        "",
    );
    // A link's description is for screen readers, not text on the page.
    check(
        "<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /Contents (2) >>",
        "",
    );
}

#[test]
fn the_symbol_and_dingbats_fonts_read_through_their_own_encodings() {
    let check = |base_font: &str, shown: &str, expected: &str| {
        let font = format!("<< /Type /Font /Subtype /Type1 /BaseFont /{base_font} >>");
        let content = format!("BT /F1 10 Tf 72 700 Td ({shown}) Tj ET");
        let doc = run(&pdf_custom(&content, &font, "", &[])).expect("extracts");
        assert_eq!(doc.sections[0].text, expected, "{base_font}");
    };
    check("Symbol", "abg", "\u{3B1}\u{3B2}\u{3B3}");
    check("ABCDEF+Symbol", "p", "\u{3C0}");
    check("ZapfDingbats", "4", "\u{2714}");
    check("Courier", "abg", "abg");
}

#[test]
fn an_encoding_name_that_is_no_standard_one_is_ignored() {
    let font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /NULL >>";
    let doc = run(&pdf_custom(
        "BT /F1 10 Tf 72 700 Td (Bug 859204) Tj ET",
        font,
        "",
        &[],
    ))
    .expect("extracts");
    assert_eq!(doc.sections[0].text, "Bug 859204");
}

#[test]
fn cid_keyed_fonts_of_adobe_cjk_collections_read_through_the_collections_map() {
    // CIDs 34, 35 and 843 are A, B and あ in Adobe-Japan1, A, B and ² in Adobe-Korea1.
    let check = |registry: &str, ordering: &str, to_unicode: Option<&str>, expected: &str| {
        let font = format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /Gothic /Encoding /Identity-H \
             /DescendantFonts [6 0 R] {} >>",
            if to_unicode.is_some() {
                "/ToUnicode 7 0 R"
            } else {
                ""
            }
        );
        let mut extra = vec![format!(
            "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /Gothic \
             /CIDSystemInfo << /Registry ({registry}) /Ordering ({ordering}) /Supplement 2 >> >>"
        )];
        if let Some(cmap) = to_unicode {
            extra.push(format!(
                "<< /Length {} >>\nstream\n{cmap}\nendstream",
                cmap.len()
            ));
        }
        let content = "BT /F1 10 Tf 72 700 Td <00220023034B> Tj ET";
        let doc = run(&pdf_custom(content, &font, "", &extra)).expect("extracts");
        assert_eq!(
            doc.sections[0].text, expected,
            "{registry}-{ordering} {to_unicode:?}"
        );
    };
    check("Adobe", "Japan1", None, "AB\u{3042}");
    // A ToUnicode decides the codes it maps; the collection reads the others.
    let partial = "begincmap 1 begincodespacerange <0000> <FFFF> endcodespacerange \
        1 beginbfchar <0022> <005A> endbfchar endcmap";
    check("Adobe", "Japan1", Some(partial), "ZB\u{3042}");
    // A collection of another registry is not Adobe's, unless a ToUnicode says it builds
    // on Adobe's map.
    let uses = "/Adobe-Korea1-UCS2 usecmap begincmap 1 begincodespacerange <0000> <FFFF> \
        endcodespacerange 1 beginbfchar <0023> <0062> endbfchar endcmap";
    check("Unidocs", "Korea1", Some(uses), "Ab\u{B2}");
    check("Unidocs", "Korea1", Some(partial), "Z");
}

#[test]
fn an_embedded_truetype_with_no_cmap_and_an_empty_tounicode_reads_as_its_collection() {
    // The program has no `cmap` table (here: no readable program at all) and the ToUnicode
    // is a bare codespace: the CIDs, read as Adobe-Japan1, are all there is.
    let font = "<< /Type /Font /Subtype /Type0 /BaseFont /Mincho /Encoding /Identity-H \
        /DescendantFonts [6 0 R] /ToUnicode 7 0 R >>";
    let empty = "begincmap 1 begincodespacerange <00> <FF> endcodespacerange endcmap";
    let extra = [
        "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Mincho \
         /CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 0 >> \
         /FontDescriptor 8 0 R >>"
            .to_string(),
        format!("<< /Length {} >>\nstream\n{empty}\nendstream", empty.len()),
        "<< /Type /FontDescriptor /FontName /Mincho /FontFile2 9 0 R >>".to_string(),
        "<< /Length 8 >>\nstream\nnot a tt\nendstream".to_string(),
    ];
    let content = "BT /F1 10 Tf 72 700 Td <00220023034B> Tj ET";
    let doc = run(&pdf_custom(content, font, "", &extra)).expect("extracts");
    assert_eq!(doc.sections[0].text, "AB\u{3042}");
}

#[test]
fn an_appearance_that_annotations_share_is_read_once_and_others_each() {
    let form = "BT /F1 10 Tf 0 0 Td (Approved) Tj ET";
    let other = "BT /F1 10 Tf 0 0 Td (Rejected) Tj ET";
    let stamp = |ap: u32| {
        format!("<< /Type /Annot /Subtype /Stamp /Rect [0 0 10 10] /AP << /N {ap} 0 R >> >>")
    };
    let form_object = |content: &str| {
        format!(
            "<< /Type /XObject /Subtype /Form /BBox [0 0 100 100] \
             /Resources << /Font << /F1 5 0 R >> >> /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        )
    };
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Annots [6 0 R 7 0 R 8 0 R] >>"
            .to_string(),
        "<< /Length 5 >>\nstream\nBT ET\nendstream".to_string(),
        COURIER.to_string(),
        stamp(9),
        stamp(9),
        stamp(10),
        form_object(form),
        form_object(other),
    ];
    let doc = run(&assemble("1.4", objects.map(String::into_bytes))).expect("extracts");
    let text: Vec<&str> = doc.sections.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(text.join("|"), "Approved\nRejected");
}
