//! Snapshot tests for the binary formats, on small files built here: a Word 97 document,
//! an Excel 97 workbook with a text box, an Excel binary (XLSB) workbook and a PowerPoint 97
//! deck with a comment, record by record (no writer library exists for them), and a
//! two-page PDF with a form field,
//! written by lopdf. Each is
//! extracted and compared with `fixtures/extract/<name>.expected.txt` (see `snapshots.rs`;
//! `UPDATE_EXPECT=1` rewrites them).

use std::io::{Cursor, Write};

use crate::snapshots::{check, zip_parts};

/// A compound file holding `streams` (paths like `/WordDocument`).
fn compound(streams: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut ole = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create");
    for (name, data) in streams {
        ole.create_stream(name)
            .expect("stream")
            .write_all(data)
            .expect("write");
    }
    ole.flush().expect("flush");
    ole.into_inner().into_inner()
}

/// A BIFF record: type, length, data.
fn biff(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut r = kind.to_le_bytes().to_vec();
    r.extend_from_slice(&(data.len() as u16).to_le_bytes());
    r.extend_from_slice(data);
    r
}

/// A Word 97 document: a FIB pointing at one 8-bit piece of text in the `1Table` stream.
fn build_doc() -> Vec<u8> {
    let text = "Expense policy\rMeals are refunded up to 40 EUR a day.\rSee the \u{13} HYPERLINK \"x\" \u{14}travel desk\u{15} for trips.\r";
    let bytes: Vec<u8> = text.chars().map(|c| c as u8).collect();
    const TEXT_AT: usize = 1024;
    let mut word = vec![0u8; TEXT_AT];
    word[0..2].copy_from_slice(&0xA5ECu16.to_le_bytes()); // wIdent
    word[0x0A..0x0C].copy_from_slice(&0x0200u16.to_le_bytes()); // fWhichTblStm: 1Table
    word[32..34].copy_from_slice(&14u16.to_le_bytes()); // csw
    let lw_at = 34 + 14 * 2;
    word[lw_at..lw_at + 2].copy_from_slice(&22u16.to_le_bytes()); // cslw
    let ccp_text = lw_at + 2 + 3 * 4;
    word[ccp_text..ccp_text + 4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
    let fc_at = lw_at + 2 + 22 * 4 + 2;
    let clx = fc_at + 33 * 8;
    let piece_table_len = 4 * 2 + 8;
    word[clx..clx + 4].copy_from_slice(&0u32.to_le_bytes()); // fcClx
    word[clx + 4..clx + 8].copy_from_slice(&(5 + piece_table_len as u32).to_le_bytes());
    word.extend_from_slice(&bytes);
    // CLX: a Pcdt (0x02, size) holding CPs [0, n] and one PCD for 8-bit text at TEXT_AT.
    let mut table = vec![0x02];
    table.extend_from_slice(&(piece_table_len as u32).to_le_bytes());
    table.extend_from_slice(&0u32.to_le_bytes());
    table.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    table.extend_from_slice(&[0, 0]);
    table.extend_from_slice(&(((TEXT_AT * 2) as u32) | 0x4000_0000).to_le_bytes());
    table.extend_from_slice(&[0, 0]);
    compound(&[("/WordDocument", word), ("/1Table", table)])
}

/// An Excel 97 workbook: one sheet with a header row, two rows of numbers (one with a
/// currency format), and a text box.
fn build_xls() -> Vec<u8> {
    let string = |s: &str| {
        let mut d = (s.len() as u16).to_le_bytes().to_vec();
        d.push(0); // 8-bit characters
        d.extend_from_slice(s.as_bytes());
        d
    };
    let cell = |row: u16, col: u16, xf: u16| {
        let mut d = row.to_le_bytes().to_vec();
        d.extend_from_slice(&col.to_le_bytes());
        d.extend_from_slice(&xf.to_le_bytes());
        d
    };
    let label = |row, col, s: &str| {
        let mut d = cell(row, col, 0);
        d.extend(string(s));
        biff(0x0204, &d)
    };
    let number = |row, col, xf, v: f64| {
        let mut d = cell(row, col, xf);
        d.extend_from_slice(&v.to_le_bytes());
        biff(0x0203, &d)
    };
    let bof = |kind: u16| {
        let mut d = 0x0600u16.to_le_bytes().to_vec();
        d.extend_from_slice(&kind.to_le_bytes());
        d.extend_from_slice(&[0u8; 12]);
        biff(0x0809, &d)
    };
    let xf = |ifmt: u16| {
        let mut d = vec![0u8; 20];
        d[2..4].copy_from_slice(&ifmt.to_le_bytes());
        biff(0x00E0, &d)
    };
    let mut globals = [bof(0x0005), biff(0x0042, &1200u16.to_le_bytes())].concat(); // UTF-16, as Excel 97+ writes
    let mut format = 164u16.to_le_bytes().to_vec();
    format.extend(string("#,##0.00 \"EUR\""));
    globals.extend(biff(0x041E, &format));
    for ifmt in [0, 0, 0, 164] {
        globals.extend(xf(ifmt)); // XF 0..2 General, XF 3 the currency format
    }
    let name = "Costs";
    // Record header, position, visibility, type, then the name's length, flags, bytes.
    let bound_len = 4 + 4 + 2 + 2 + name.len();
    let sheet_at = globals.len() + bound_len + 4;
    let mut bound = (sheet_at as u32).to_le_bytes().to_vec();
    bound.extend_from_slice(&[0, 0, name.len() as u8, 0]);
    bound.extend_from_slice(name.as_bytes());
    globals.extend(biff(0x0085, &bound));
    globals.extend(biff(0x000A, &[]));
    assert_eq!(globals.len(), sheet_at);

    let mut dims = 0u32.to_le_bytes().to_vec();
    dims.extend_from_slice(&3u32.to_le_bytes());
    dims.extend_from_slice(&[0, 0, 2, 0, 0, 0]);
    let mut sheet = [bof(0x0010), biff(0x0200, &dims)].concat();
    sheet.extend(label(0, 0, "Item"));
    sheet.extend(label(0, 1, "Amount"));
    sheet.extend(label(1, 0, "Hotel"));
    sheet.extend(number(1, 1, 3, 1250.5));
    sheet.extend(label(2, 0, "Nights"));
    sheet.extend(number(2, 1, 0, 3.0));
    // A text box: TXO with the character count, the text in a CONTINUE, then formatting runs.
    let note = "Approved by Finance";
    let mut txo = vec![0u8; 18];
    txo[10..12].copy_from_slice(&(note.len() as u16).to_le_bytes());
    sheet.extend(biff(0x01B6, &txo));
    sheet.extend(biff(0x003C, &[&[0u8][..], note.as_bytes()].concat()));
    sheet.extend(biff(0x003C, &[0u8; 16]));
    sheet.extend(biff(0x000A, &[]));
    compound(&[("/Workbook", [globals, sheet].concat())])
}

/// A PowerPoint record: version/instance, type, length, body.
fn ppt_record(ver_inst: u16, kind: u16, body: &[u8]) -> Vec<u8> {
    let mut r = ver_inst.to_le_bytes().to_vec();
    r.extend_from_slice(&kind.to_le_bytes());
    r.extend_from_slice(&(body.len() as u32).to_le_bytes());
    r.extend_from_slice(body);
    r
}

/// A PowerPoint 97 deck: two slides of text atoms, a comment on the second.
fn build_ppt() -> Vec<u8> {
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let chars = |s: &str| ppt_record(0, 0x0FA0, &utf16(s));
    let bytes = |s: &str| ppt_record(0, 0x0FA8, s.as_bytes());
    let slide = |body: Vec<u8>| ppt_record(0x000F, 0x03EE, &body);
    let comment = ppt_record(
        0x000F,
        0x2EE0,
        &[
            ppt_record(0, 0x0FBA, &utf16("Ana Lima")),
            ppt_record(0x0010, 0x0FBA, &utf16("Add the Q3 numbers")),
        ]
        .concat(),
    );
    let deck = ppt_record(
        0x000F,
        0x03E8,
        &[
            slide(
                [
                    chars("Roadmap 2027"),
                    bytes("Search, connectors, permissions"),
                ]
                .concat(),
            ),
            slide([chars("Résumé of Q2"), bytes("Latency halved"), comment].concat()),
        ]
        .concat(),
    );
    compound(&[
        ("/PowerPoint Document", deck),
        ("/Current User", vec![0u8; 20]),
    ])
}

/// A two-page PDF: positioned text, a word split over two text objects, a hyphenated line
/// end, and a filled-in form field.
fn build_pdf() -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};
    let page1 = "BT /F1 12 Tf 72 720 Td (Quarterly) Tj 70 0 Td (review) Tj ET \
                 BT /F1 12 Tf 72 700 Td (Revenue grew in every re-) Tj 0 -14 Td (gion.) Tj ET";
    let page2 = "BT /F1 12 Tf 72 720 Td (Sign) Tj ET BT /F1 12 Tf 100.8 720 Td (ed off) Tj ET";
    let mut doc = Document::with_version("1.4");
    let pages = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Courier",
        "Encoding" => "WinAnsiEncoding",
        "FirstChar" => 32,
        "LastChar" => 126,
        "Widths" => vec![Object::Integer(600); 95],
    });
    let field = doc.add_object(dictionary! {
        "Type" => "Annot",
        "Subtype" => "Widget",
        "FT" => "Ch",
        "Rect" => vec![0.into(), 0.into(), 10.into(), 10.into()],
        "Opt" => vec![
            vec![Object::string_literal("fin"), Object::string_literal("Finance")].into(),
            vec![Object::string_literal("ops"), Object::string_literal("Operations")].into(),
        ],
        "V" => Object::string_literal("fin"),
    });
    let mut kids = Vec::new();
    for (content, annots) in [(page1, vec![]), (page2, vec![field.into()])] {
        let contents = doc.add_object(Stream::new(dictionary! {}, content.as_bytes().to_vec()));
        kids.push(Object::from(doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            "Contents" => contents,
            "Annots" => annots,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
        })));
    }
    doc.objects.insert(
        pages,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Count" => 2, "Kids" => kids }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("write the PDF");
    out
}

/// A BIFF12 record: type and length as the little varints of MS-XLSB 2.1.4, then the data.
fn biff12(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut r = if kind < 0x80 {
        vec![kind as u8]
    } else {
        vec![(kind & 0x7F) as u8 | 0x80, (kind >> 7) as u8]
    };
    let mut len = data.len();
    loop {
        let byte = (len & 0x7F) as u8;
        len >>= 7;
        if len == 0 {
            r.push(byte);
            break;
        }
        r.push(byte | 0x80);
    }
    r.extend_from_slice(data);
    r
}

/// An XLWideString: character count, then UTF-16LE.
fn wide(s: &str) -> Vec<u8> {
    let units: Vec<u16> = s.encode_utf16().collect();
    let mut out = (units.len() as u32).to_le_bytes().to_vec();
    out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    out
}

/// An Excel binary workbook (XLSB): one sheet with a text and a number in its first row and
/// a text in the sheet's very last cell (XFD1048576), so a reader that makes the sheet a
/// dense range would need 17 billion cells.
fn build_xlsb() -> Vec<u8> {
    let mut bundle = 0u32.to_le_bytes().to_vec(); // visible
    bundle.extend_from_slice(&1u32.to_le_bytes()); // tab id
    bundle.extend(wide("rId1"));
    bundle.extend(wide("Budget"));
    let workbook = [
        biff12(0x0083, &[]), // BrtBeginBook
        biff12(0x008F, &[]), // BrtBeginBundleShs
        biff12(0x009C, &bundle),
        biff12(0x0090, &[]), // BrtEndBundleShs
        biff12(0x0084, &[]), // BrtEndBook
    ]
    .concat();
    let row = |r: u32| {
        let mut data = r.to_le_bytes().to_vec();
        data.resize(17, 0);
        biff12(0x0000, &data) // BrtRowHdr
    };
    let cell = |col: u32, kind: u16, value: &[u8]| {
        let mut data = col.to_le_bytes().to_vec();
        data.extend_from_slice(&[0, 0, 0, 0]); // style
        data.extend_from_slice(value);
        biff12(kind, &data)
    };
    let mut dims = Vec::new();
    for v in [0u32, 1_048_575, 0, 16_383] {
        dims.extend_from_slice(&v.to_le_bytes());
    }
    let sheet = [
        biff12(0x0081, &[]), // BrtBeginSheet
        biff12(0x0094, &dims),
        biff12(0x0091, &[]), // BrtBeginSheetData
        row(0),
        cell(0, 0x0006, &wide("Travel")),
        cell(1, 0x0005, &1250.5f64.to_le_bytes()),
        row(1_048_575),
        cell(16_383, 0x0006, &wide("Last cell")),
        biff12(0x0092, &[]), // BrtEndSheetData
        biff12(0x0082, &[]), // BrtEndSheet
    ]
    .concat();
    let rels = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.bin"/></Relationships>"#;
    zip_parts(&[
        ("xl/workbook.bin", workbook.as_slice()),
        ("xl/_rels/workbook.bin.rels", rels.as_slice()),
        ("xl/worksheets/sheet1.bin", sheet.as_slice()),
    ])
}

#[test]
fn xlsb() {
    check("budget.xlsb", &build_xlsb());
}

#[test]
fn doc() {
    check("expenses.doc", &build_doc());
}

#[test]
fn xls() {
    check("costs.xls", &build_xls());
}

#[test]
fn ppt() {
    check("roadmap.ppt", &build_ppt());
}

#[test]
fn pdf() {
    check("review.pdf", &build_pdf());
}
