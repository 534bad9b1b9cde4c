//! Snapshot tests for the formats of issue 19 (ADR 0027): RTF, OpenDocument (zipped and
//! flat), EPUB, XML, Office XML, and files whose name says one format while their bytes
//! are another. Same `check` helper and `UPDATE_EXPECT=1` as `snapshots.rs`.

use extractors::{ErrorKind, Format, Hints, Limits, Registry};

use crate::snapshots::{check, zip_parts};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/extract")
        .join(name);
    std::fs::read(path).expect("fixture")
}

fn check_file(name: &str) {
    check(name, &fixture(name));
}

#[test]
fn rtf() {
    check_file("memo.rtf");
}

#[test]
fn flat_opendocument_text() {
    check_file("notes.fodt");
}

#[test]
fn xml_is_its_text_content() {
    check_file("feed.xml");
}

#[test]
fn word_2003_xml_named_doc_and_flat_opc() {
    check_file("report-2003.doc");
    check_file("flat-opc.xml");
}

#[test]
fn text_formats_under_a_binary_office_name_are_read_as_what_they_are() {
    check_file("webpage-as.doc");
    check_file("export-as.xls");
}

const ODF_NS: &str = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/""#;

/// An OpenDocument package: mimetype first, a manifest (`encrypted` adds the
/// encryption-data a password-protected file has), `content.xml` with `body`, and more parts.
fn odf(mimetype: &str, body: &str, encrypted: bool, extra: &[(&str, String)]) -> Vec<u8> {
    let encryption = if encrypted {
        r#"<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x"><manifest:algorithm manifest:algorithm-name="Blowfish CFB" manifest:initialisation-vector="x"/></manifest:encryption-data>"#
    } else {
        ""
    };
    let manifest = format!(
        r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">{encryption}</manifest:file-entry></manifest:manifest>"#
    );
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS}><office:body>{body}</office:body></office:document-content>"#
    );
    let mut parts: Vec<(&str, String)> = vec![
        ("mimetype", mimetype.to_string()),
        ("META-INF/manifest.xml", manifest),
        ("content.xml", content),
    ];
    parts.extend(extra.iter().cloned());
    zip_parts(&parts)
}

#[test]
fn opendocument_text_with_headers_and_a_chart() {
    let styles = format!(
        r#"<office:document-styles {ODF_NS}><office:styles><style:style style:name="x"/></office:styles><office:master-styles><style:master-page style:name="Standard"><style:header><text:p>Header text</text:p></style:header><style:footer-left><text:p>Left footer</text:p></style:footer-left></style:master-page></office:master-styles></office:document-styles>"#
    );
    let meta = format!(
        r#"<office:document-meta {ODF_NS}><office:meta><dc:title>Quarterly letter</dc:title></office:meta></office:document-meta>"#
    );
    let chart = format!(
        r#"<office:document-content {ODF_NS}><office:body><office:chart><text:p>Sales by region</text:p><table:table table:name="local-table"><table:table-row><table:table-cell><text:p>North</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="12"/></table:table-row></table:table></office:chart></office:body></office:document-content>"#
    );
    let body = r#"<office:text><text:h text:outline-level="1">Dear reader</text:h><text:p>See the chart below.</text:p><draw:frame><draw:object xlink:href="./Object 1"/></draw:frame></office:text>"#;
    check(
        "letter.odt",
        &odf(
            "application/vnd.oasis.opendocument.text",
            body,
            false,
            &[
                ("styles.xml", styles),
                ("meta.xml", meta),
                ("Object 1/content.xml", chart),
            ],
        ),
    );
}

#[test]
fn opendocument_presentation_slides_and_notes() {
    let body = r#"<office:presentation><draw:page draw:name="page1"><draw:frame presentation:class="title"><draw:text-box><text:p>Roadmap</text:p></draw:text-box></draw:frame><draw:custom-shape><text:p>Shape text</text:p></draw:custom-shape><presentation:notes><draw:frame><draw:text-box><text:p>Speaker notes for slide one.</text:p></draw:text-box></draw:frame></presentation:notes></draw:page><draw:page draw:name="page2"><draw:frame><draw:text-box><text:list><text:list-item><text:p>Ship it</text:p></text:list-item></text:list></draw:text-box></draw:frame></draw:page></office:presentation>"#;
    check(
        "roadmap.odp",
        &odf(
            "application/vnd.oasis.opendocument.presentation",
            body,
            false,
            &[],
        ),
    );
}

#[test]
fn opendocument_spreadsheet_as_displayed() {
    let body = r#"<office:spreadsheet><table:table table:name="Budget"><table:table-row><table:table-cell><text:p>Item</text:p></table:table-cell><table:table-cell><text:p>Cost</text:p></table:table-cell></table:table-row><table:table-row><table:table-cell><text:p>Rent</text:p></table:table-cell><table:table-cell office:value-type="currency" office:value="1200"><text:p>1 200,00 €</text:p></table:table-cell></table:table-row><table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row></table:table><table:table table:name="Empty"/></office:spreadsheet>"#;
    check(
        "budget.ods",
        &odf(
            "application/vnd.oasis.opendocument.spreadsheet",
            body,
            false,
            &[],
        ),
    );
}

#[test]
fn encrypted_opendocument_is_refused_as_encrypted_in_every_kind() {
    for (kind, name) in [
        ("text", "secret.odt"),
        ("spreadsheet", "secret.ods"),
        ("presentation", "secret.odp"),
    ] {
        let mimetype = format!("application/vnd.oasis.opendocument.{kind}");
        // The encrypted content.xml is random bytes; here, text that would leak if read.
        let file = odf(
            &mimetype,
            "<office:text><text:p>leak</text:p></office:text>",
            true,
            &[],
        );
        for hinted in [name, "renamed.zip", "no-extension"] {
            let err = Registry::default()
                .extract(&file, &Hints::file_name(hinted), &Limits::default())
                .expect_err("refused");
            assert_eq!(err.kind, ErrorKind::Encrypted, "{name} as {hinted}: {err}");
        }
    }
}

#[test]
fn a_package_of_an_unknown_format_is_unsupported_not_its_markup() {
    // A Visio-like OPC package and an iWork-like one: their XML parts are not indexed.
    let opc = zip_parts(&[
        ("[Content_Types].xml", "<Types/>"),
        (
            "visio/pages/page1.xml",
            "<PageContents><Text>shape</Text></PageContents>",
        ),
    ]);
    let other = zip_parts(&[
        ("mimetype", "application/x-iwork-keynote-sffkey"),
        ("index.xml", "<key:presentation>markup</key:presentation>"),
    ]);
    for (bytes, name) in [(opc, "drawing.vsdx"), (other, "talk.key")] {
        let err = Registry::default()
            .extract(&bytes, &Hints::file_name(name), &Limits::default())
            .expect_err("unsupported");
        assert_eq!(err.kind, ErrorKind::Unsupported, "{name}: {err}");
    }
    // Bytes nobody recognises under a name we do not know: unsupported, not raw bytes.
    let err = Registry::default()
        .extract(
            b"\x89\x01\x02\x00binary\x00\x00\xff",
            &Hints::file_name("model.bin"),
            &Limits::default(),
        )
        .expect_err("unsupported");
    assert_eq!(err.kind, ErrorKind::Unsupported);
}

fn epub(spine_encrypted: bool) -> Vec<u8> {
    let container = r#"<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#;
    let opf = r#"<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>A Small Book</dc:title></metadata><manifest><item id="c2" href="text/chapter%202.xhtml" media-type="application/xhtml+xml"/><item id="c1" href="text/ch1.xhtml" media-type="application/xhtml+xml"/><item id="css" href="style.css" media-type="text/css"/><item id="font" href="fonts/a.otf" media-type="font/otf"/></manifest><spine><itemref idref="c1"/><itemref idref="c2"/><itemref idref="css"/></spine></package>"#;
    let ch1 = r#"<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>One</title></head><body><h1>Chapter One</h1><p>It was a dark night.</p></body></html>"#;
    let ch2 = r#"<html xmlns="http://www.w3.org/1999/xhtml"><body><h1>Chapter Two</h1><p>The morning came.</p></body></html>"#;
    let target = if spine_encrypted {
        "OEBPS/text/ch1.xhtml"
    } else {
        "OEBPS/fonts/a.otf"
    };
    let encryption = format!(
        r#"<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:CipherData><enc:CipherReference URI="{target}"/></enc:CipherData></enc:EncryptedData></encryption>"#
    );
    zip_parts(&[
        ("mimetype", "application/epub+zip".to_string()),
        ("META-INF/container.xml", container.to_string()),
        ("META-INF/encryption.xml", encryption),
        ("OEBPS/content.opf", opf.to_string()),
        ("OEBPS/text/ch1.xhtml", ch1.to_string()),
        ("OEBPS/text/chapter 2.xhtml", ch2.to_string()),
        ("OEBPS/style.css", "p { color: red }".to_string()),
    ])
}

#[test]
fn epub_in_spine_order_and_drm_refused() {
    // Only an obfuscated font: the book is read.
    check("book.epub", &epub(false));
    let err = Registry::default()
        .extract(
            &epub(true),
            &Hints::file_name("book.epub"),
            &Limits::default(),
        )
        .expect_err("drm");
    assert_eq!(err.kind, ErrorKind::Encrypted);
}

#[test]
fn content_decides_the_format_and_the_name_is_a_hint() {
    let registry = Registry::default();
    let cases: [(&[u8], &str, Format); 6] = [
        (&fixture("memo.rtf"), "memo.doc", Format::Rtf),
        (&fixture("memo.rtf"), "memo.txt", Format::Rtf),
        (&fixture("report-2003.doc"), "report.xml", Format::OfficeXml),
        (&fixture("notes.fodt"), "notes.xml", Format::Odt),
        (&fixture("webpage-as.doc"), "page.xls", Format::Html),
        (&epub(false), "book.zip", Format::Epub),
    ];
    for (bytes, name, format) in cases {
        let doc = registry
            .extract(bytes, &Hints::file_name(name), &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(doc.format, format, "{name}");
        assert!(!doc.text().contains("\\rtf"), "{name}: markup in the text");
        assert!(!doc.text().contains("<w:"), "{name}: markup in the text");
    }
}
