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

fn check(name: &str, bytes: &[u8]) {
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

/// A minimal but real XLSX: shared strings, a date-formatted cell, an empty sheet, a bool.
fn build_xlsx() -> Vec<u8> {
    let parts: [(&str, &str); 9] = [
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
            "xl/worksheets/sheet2.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>"#,
        ),
        (
            "xl/worksheets/sheet3.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>5</v></c><c r="B1" t="b"><v>1</v></c></row></sheetData></worksheet>"#,
        ),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, body) in parts {
        zip.start_file(name, options).expect("start entry");
        zip.write_all(body.as_bytes()).expect("write entry");
    }
    zip.finish().expect("finish zip").into_inner()
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
