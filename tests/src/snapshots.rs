//! Snapshot tests for the extractors: every document in `fixtures/extract/` (plus a few built
//! here, for binary formats) is extracted and compared with `<name>.expected.txt` beside it.
//! Run with `UPDATE_EXPECT=1` to rewrite the expectations, then review the diff.

use std::io::Write;
use std::path::PathBuf;

use extractors::{Extracted, Hints, Limits, Registry};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/extract")
}

/// A stable, reviewable rendering: title, then each section with its page and headings.
fn render(doc: &Extracted) -> String {
    let mut out = format!(
        "format: {}\ntitle: {}\n",
        doc.format.name(),
        doc.title.as_deref().unwrap_or("-")
    );
    for (i, s) in doc.sections.iter().enumerate() {
        let page = s.page.map_or("-".to_string(), |p| p.to_string());
        out.push_str(&format!(
            "--- section {i} page {page} [{}]\n{}\n",
            s.heading.join(" > "),
            s.text
        ));
    }
    for w in &doc.warnings {
        out.push_str(&format!("warning {}: {}\n", w.code, w.message));
    }
    out
}

pub(crate) fn check(name: &str, bytes: &[u8]) {
    let actual =
        match Registry::default().extract(bytes, &Hints::file_name(name), &Limits::default()) {
            Ok(doc) => render(&doc),
            Err(e) => format!("error {}: {}\n", e.kind.as_str(), e.message),
        };
    let path = fixtures().join(format!("{name}.expected.txt"));
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &actual).expect("write expectation");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run with UPDATE_EXPECT=1", path.display()));
    assert_eq!(actual, expected, "{name} differs from {}", path.display());
}

fn check_file(name: &str) {
    let bytes = std::fs::read(fixtures().join(name)).expect("fixture");
    check(name, &bytes);
}

#[test]
fn html() {
    check_file("report.html");
}

#[test]
fn csv() {
    check_file("people.csv");
}

#[test]
fn json() {
    check_file("service.json");
}

#[test]
fn markdown() {
    check_file("guide.md");
}

#[test]
fn email() {
    check_file("rota.eml");
}

/// A minimal but real XLSX: shared strings, a date-formatted cell, an empty sheet, a bool,
/// a cell comment and a text box.
fn build_xlsx() -> Vec<u8> {
    let parts: [(&str, &str); 11] = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/worksheets/sheet3.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Prices" sheetId="1" r:id="rId1"/><sheet name="Empty" sheetId="2" r:id="rId2"/><sheet name="Notes" sheetId="3" r:id="rId3"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet3.xml"/><Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId5" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#,
        ),
        (
            "xl/sharedStrings.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="6" uniqueCount="6"><si><t>Item</t></si><si><t>Price</t></si><si><t>Since</t></si><si><t>Widget</t></si><si><t>Gadget</t></si><si><t>Reviewed</t></si></sst>"#,
        ),
        (
            "xl/styles.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>"#,
        ),
        (
            "xl/worksheets/sheet1.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row><row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2"><v>12</v></c><c r="C2" s="1"><v>45000</v></c></row><row r="3"><c r="A3" t="s"><v>4</v></c><c r="B3"><v>3.5</v></c><c r="C3" s="1"><v>44927</v></c></row></sheetData></worksheet>"#,
        ),
        (
            "xl/comments1.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><comments xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><commentList><comment ref="B2" authorId="0"><text><r><t>Price checked in March</t></r></text></comment></commentList></comments>"#,
        ),
        (
            "xl/drawings/drawing1.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><xdr:wsDr xmlns:xdr="x" xmlns:a="a"><xdr:twoCellAnchor><xdr:sp><xdr:txBody><a:p><a:r><a:t>Prices exclude VAT</a:t></a:r></a:p></xdr:txBody></xdr:sp></xdr:twoCellAnchor></xdr:wsDr>"#,
        ),
        (
            "xl/worksheets/sheet2.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>"#,
        ),
        (
            "xl/worksheets/sheet3.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>5</v></c><c r="B1" t="b"><v>1</v></c></row></sheetData></worksheet>"#,
        ),
    ];
    zip_parts(&parts)
}

#[test]
fn xlsx() {
    check("book.xlsx", &build_xlsx());
}

#[test]
fn xlsx_named_xls_is_handled_as_xlsx() {
    let doc = Registry::default()
        .extract(
            &build_xlsx(),
            &Hints::file_name("legacy-name.xls"),
            &Limits::default(),
        )
        .expect("extracts");
    assert_eq!(doc.format.name(), "xlsx");
}

/// A ZIP archive of `parts` (name, contents), in order.
pub(crate) fn zip_parts<N: AsRef<str>, B: AsRef<[u8]>>(parts: &[(N, B)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, body) in parts {
        zip.start_file(name.as_ref(), options).expect("start entry");
        zip.write_all(body.as_ref()).expect("write entry");
    }
    zip.finish().expect("finish zip").into_inner()
}

const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;

/// A DOCX with a title, headings, a table, a tracked insertion and deletion, a text box,
/// a header, a footnote and SmartArt.
fn build_docx() -> Vec<u8> {
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:document {W} xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:body>
<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>Travel Policy</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Book trains for trips under </w:t></w:r><w:ins w:author="a"><w:r><w:t>four</w:t></w:r></w:ins><w:del w:author="a"><w:r><w:delText>three</w:delText></w:r></w:del><w:r><w:t xml:space="preserve"> hours.</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Limits</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Hotel</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>250 USD</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>Meals</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>75 USD</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>Boxed note</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Boxed note</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>
</w:body></w:document>"#
    );
    let header = format!(r#"<w:hdr {W}><w:p><w:r><w:t>Internal</w:t></w:r></w:p></w:hdr>"#);
    let footnotes = format!(
        r#"<w:footnotes {W}><w:footnote w:id="1"><w:p><w:r><w:t>Rates reviewed yearly.</w:t></w:r></w:p></w:footnote></w:footnotes>"#
    );
    zip_parts(&[
        (
            "[Content_Types].xml",
            r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#,
        ),
        ("word/document.xml", &document),
        ("word/header1.xml", &header),
        ("word/footnotes.xml", &footnotes),
        (
            "word/glossary/document.xml",
            &format!(
                r#"<w:glossaryDocument {W}><w:docParts><w:docPart><w:docPartBody><w:p><w:r><w:t>Approved by the travel desk</w:t></w:r></w:p></w:docPartBody></w:docPart></w:docParts></w:glossaryDocument>"#
            ),
        ),
        (
            "word/diagrams/data1.xml",
            r#"<dgm:dataModel xmlns:dgm="d" xmlns:a="a"><dgm:ptLst><dgm:pt><dgm:t><a:p><a:r><a:t>Plan</a:t></a:r></a:p></dgm:t></dgm:pt><dgm:pt><dgm:t><a:p><a:r><a:t>Book</a:t></a:r></a:p></dgm:t></dgm:pt></dgm:ptLst></dgm:dataModel>"#,
        ),
        (
            "docProps/core.xml",
            r#"<cp:coreProperties xmlns:cp="cp" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Travel &amp; Expenses</dc:title><dc:creator>Finance Team</dc:creator></cp:coreProperties>"#,
        ),
    ])
}

const P: &str = r#"xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;

/// A PPTX whose presentation order differs from the part numbers, with a grouped shape,
/// a table, speaker notes, a comment, and a layout with a text box and a placeholder prompt.
fn build_pptx() -> Vec<u8> {
    let slide = |title: &str, body: &str| {
        format!(
            r#"<p:sld {P}><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>{title}</a:t></a:r></a:p></p:txBody></p:sp>{body}</p:spTree></p:cSld></p:sld>"#
        )
    };
    let slide1 = slide(
        "Roadmap",
        r#"<p:grpSp><p:sp><p:txBody><a:p><a:r><a:t>Q1: search</a:t></a:r></a:p><a:p><a:r><a:t>Q2: connectors</a:t></a:r></a:p></p:txBody></p:sp></p:grpSp>"#,
    );
    let slide2 = slide(
        "Welcome",
        r#"<p:graphicFrame><a:graphic><a:graphicData><a:tbl><a:tr><a:tc><a:txBody><a:p><a:r><a:t>Team</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>Size</a:t></a:r></a:p></a:txBody></a:tc></a:tr></a:tbl></a:graphicData></a:graphic></p:graphicFrame>"#,
    );
    let notes = format!(
        r#"<p:notes {P}><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>Say hello first.</a:t></a:r></a:p></p:txBody></p:sp><p:sp><p:txBody><a:p><a:r><a:t>2</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:notes>"#
    );
    let presentation = format!(
        r#"<p:presentation {P}><p:sldIdLst><p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/></p:sldIdLst></p:presentation>"#
    );
    let rel = r#"http://schemas.openxmlformats.org/officeDocument/2006/relationships"#;
    let pres_rels = format!(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId2" Type="{rel}/slide" Target="slides/slide1.xml"/><Relationship Id="rId3" Type="{rel}/slide" Target="slides/slide2.xml"/></Relationships>"#
    );
    let slide2_rels = format!(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/notesSlide" Target="../notesSlides/notesSlide1.xml"/><Relationship Id="rId2" Type="{rel}/comments" Target="../comments/comment1.xml"/><Relationship Id="rId3" Type="{rel}/slideLayout" Target="../slideLayouts/slideLayout1.xml"/></Relationships>"#
    );
    zip_parts(&[
        (
            "[Content_Types].xml",
            r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#,
        ),
        ("ppt/presentation.xml", &presentation),
        ("ppt/_rels/presentation.xml.rels", &pres_rels),
        ("ppt/slides/slide1.xml", &slide1),
        ("ppt/slides/slide2.xml", &slide2),
        ("ppt/slides/_rels/slide2.xml.rels", &slide2_rels),
        ("ppt/notesSlides/notesSlide1.xml", &notes),
        (
            "ppt/comments/comment1.xml",
            &format!(
                r#"<p:cmLst {P}><p:cm authorId="0" idx="1"><p:pos x="1" y="1"/><p:text>Check the team sizes &amp; dates</p:text></p:cm></p:cmLst>"#
            ),
        ),
        (
            "ppt/slideLayouts/slideLayout1.xml",
            &format!(
                r#"<p:sldLayout {P}><p:cSld><p:spTree><p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>Click to edit Master title style</a:t></a:r></a:p></p:txBody></p:sp><p:sp><p:txBody><a:p><a:r><a:t>Confidential: internal use only</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sldLayout>"#
            ),
        ),
        (
            "ppt/commentAuthors.xml",
            &format!(
                r#"<p:cmAuthorLst {P}><p:cmAuthor id="0" name="Ana Lima" initials="AL" lastIdx="1" clrIdx="0"/></p:cmAuthorLst>"#
            ),
        ),
    ])
}

#[test]
fn docx() {
    check("policy.docx", &build_docx());
}

/// A presentation with a workbook embedded in it: its sheets follow the slides, headed by
/// the embedded part's name.
#[test]
fn embedded_documents_are_extracted_too() {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(build_pptx())).expect("pptx");
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).expect("entry");
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut body).expect("read");
        parts.push((entry.name().expect("name").to_string(), body));
    }
    parts.push((
        "ppt/embeddings/Microsoft_Excel_Worksheet1.xlsx".into(),
        build_xlsx(),
    ));
    check("deck-with-workbook.pptx", &zip_parts(&parts));
}

#[test]
fn pptx() {
    check("deck.pptx", &build_pptx());
}

/// A plain ZIP archive: each file inside is extracted, headed by its path; a ZIP inside a
/// ZIP too, until the embedded-depth limit.
#[test]
fn zip_archives_are_extracted_file_by_file() {
    let inner = zip_parts(&[("deep/notes.txt", "inner notes")]);
    let files: [(&str, &[u8]); 4] = [
        (
            "report/summary.html",
            b"<html><body><h1>Summary</h1><p>All good</p></body></html>",
        ),
        ("report/data.json", br#"{"status": "green"}"#),
        ("report/inner.zip", &inner),
        ("report/blob.bin", b"\x00\x01\x02\x03\x00"),
    ];
    check("bundle.zip", &zip_parts(&files));
}
