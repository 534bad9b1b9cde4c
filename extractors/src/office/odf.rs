//! OpenDocument text, presentations and flat spreadsheets: `content.xml` (or a flat
//! `.fodt`/`.fodp`/`.fods` file, the same XML with its styles and metadata inline) read as
//! one stream of quick-xml events.
//!
//! Kept: paragraphs and headings (`text:h`'s outline level), lists, tables (cells
//! ` | `-separated, repeated cells and rows repeated up to a cap), text boxes and frames,
//! notes' bodies, annotations' text, slides (`draw:page`, one page each) with their speaker
//! notes, sheets (`table:table` in a spreadsheet, one page each, headed by its name).
//! Dropped: styles, settings, scripts, tracked deletions, note citations, annotation
//! authors and dates, embedded binary data. A package whose manifest declares encryption
//! is refused as `encrypted` before anything is read.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::office::ZipGuard;
use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Format, Limits};

/// XML nesting deeper than this is refused (real documents stay far below).
const MAX_XML_DEPTH: usize = 512;

// A repeated cell or row (`table:number-columns-repeated`, `table:number-rows-repeated`)
// is written once, as Apache Tika writes it: its copies hold no word a search could not
// already find, and a value repeated across a sheet's 16,384 columns filled chunks with
// one word (calamine's denial-of-service test). A sheet's "rest of the column", one empty
// cell repeated a million times, writes nothing at all.

/// Elements whose whole subtree holds no text a reader sees.
const SKIPPED: &[&str] = &[
    "office:settings",
    "office:scripts",
    "office:font-face-decls",
    "office:styles",
    "office:automatic-styles",
    "office:forms",
    "office:binary-data",
    "text:tracked-changes",
    "text:note-citation",
    "text:sequence-decls",
    "text:variable-decls",
    "text:user-field-decls",
    "table:tracked-changes",
    "table:named-expressions",
    "table:database-ranges",
    "dc:creator",
    "dc:date",
    "meta:date-string",
];

/// Refuses a package whose manifest says its parts are encrypted.
pub(crate) fn check_encryption(zip: &mut ZipGuard<'_>) -> Result<(), ExtractError> {
    if let Some(manifest) = zip.read("META-INF/manifest.xml")?
        && contains(&manifest, b"encryption-data")
    {
        return Err(ExtractError::new(
            ErrorKind::Encrypted,
            "the opendocument file is protected with a password",
        ));
    }
    Ok(())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Extracts a zipped OpenDocument file (text or presentation; drawings read the same way).
pub(crate) fn extract_zip(
    zip: &mut ZipGuard<'_>,
    format: Format,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    check_encryption(zip)?;
    let content = zip.read("content.xml")?.ok_or_else(|| {
        ExtractError::new(
            ErrorKind::Corrupt,
            "opendocument package without content.xml",
        )
    })?;
    let title = zip
        .read("meta.xml")?
        .and_then(|meta| read(&meta, format, limits, deadline).ok())
        .and_then(|(_, title)| title);
    let (mut doc, inline_title) = read(&content, format, limits, deadline)?;
    doc.title = title.or(inline_title);
    // Objects drawn in the document (charts, formulas, embedded documents) are ODF
    // documents of their own in sub-folders; then the master pages' headers and footers.
    let mut parts: Vec<String> = zip
        .names()
        .into_iter()
        .filter(|n| n.ends_with("/content.xml") && !n.starts_with("META-INF/"))
        .collect();
    if parts.len() > MAX_OBJECTS {
        doc.warnings.push(crate::Warning {
            code: "objects_skipped",
            message: format!(
                "{} embedded objects; the first {MAX_OBJECTS} were read",
                parts.len()
            ),
        });
        parts.truncate(MAX_OBJECTS);
    }
    parts.push("styles.xml".into());
    for part in parts {
        deadline.check()?;
        let room = doc.output_room(limits);
        if room == 0 {
            break;
        }
        let Some(xml) = zip.read(&part)? else {
            continue;
        };
        let child = Limits {
            max_output_bytes: room,
            ..limits.clone()
        };
        match read(&xml, format, &child, deadline) {
            Ok((inner, _)) => doc.sections.extend(inner.sections.into_iter().map(|mut s| {
                s.page = None;
                s
            })),
            Err(e) if e.kind == ErrorKind::Timeout => return Err(e),
            Err(e) => doc.warnings.push(crate::Warning {
                code: "broken_part",
                message: format!("{part}: {e}"),
            }),
        }
    }
    Ok(doc)
}

/// At most this many embedded objects of one document are read. A deck with a chart on
/// every slide holds hundreds; what they cost is bounded by the package's byte budget,
/// the output cap and the deadline, which every object's read is charged to.
const MAX_OBJECTS: usize = 2_000;

/// Extracts a flat OpenDocument file (one XML document, in any encoding its BOM or
/// bytes give).
pub(crate) fn extract_flat(
    input: &[u8],
    format: Format,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    let (text, _) = crate::decode_text(input)?;
    let (mut doc, title) = read(text.as_bytes(), format, limits, deadline)?;
    doc.title = title;
    Ok(doc)
}

/// A table being read: its rows so far, the current row's cells, the current cell.
#[derive(Default)]
struct Table {
    row: Vec<String>,
    /// Bytes in `row`: a row stops growing at the output cap, however its cells repeat.
    row_bytes: usize,
    cell: String,
}

impl Table {
    fn push_cell(&mut self, cell: &str, max_row: usize) {
        if self.row_bytes > max_row {
            return;
        }
        self.row_bytes += cell.len() + 3;
        self.row.push(cell.to_string());
    }
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.try_get_attribute(name).ok().flatten().and_then(|a| {
        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .ok()
            .map(|v| v.into_owned())
    })
}

struct State {
    b: DocBuilder,
    /// Open paragraphs (a text box's paragraph sits inside another): text and heading level.
    paras: Vec<(String, Option<u8>)>,
    tables: Vec<Table>,
    pages: u32,
    spreadsheet: bool,
    title: Option<String>,
    in_title: bool,
    /// Inside `office:master-styles`, where only headers and footers are text.
    master: bool,
    /// How many header or footer elements are open.
    header_footer: usize,
    /// Open `draw:frame`s: whether each is a master page's header or footer.
    frames: Vec<bool>,
    /// How many of a header's or footer's page fields are open (see [`is_page_field`]).
    page_field: usize,
    /// A cell's value when it has no text of its own (files written by tools that store
    /// values only): `office:value`, `office:date-value`, …
    cell_value: Option<String>,
    max_row: usize,
}

impl State {
    fn text(&mut self, s: &str) {
        if self.master && self.header_footer == 0 || self.page_field > 0 {
            return;
        }
        if self.in_title {
            self.title.get_or_insert_with(String::new).push_str(s);
        } else if let Some((p, _)) = self.paras.last_mut() {
            p.push_str(s);
        }
    }

    fn end_paragraph(&mut self) {
        let Some((text, level)) = self.paras.pop() else {
            return;
        };
        // XML whitespace inside a paragraph collapses (spaces that count are `text:s`,
        // which arrive as non-breaking placeholders and are restored here).
        let text: String = text
            .split(['\n', '\r', ' ', '\t'])
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .replace('\u{e000}', " ")
            .replace('\u{e001}', "\t")
            .replace('\u{e002}', "\n");
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if !self.paras.is_empty() {
            // A text box inside a paragraph: a block of its own.
            self.b.paragraph(text);
        } else if let Some(t) = self.tables.last_mut() {
            if !t.cell.is_empty() {
                t.cell.push(' ');
            }
            t.cell.push_str(text);
        } else if let Some(level) = level {
            self.b.heading(level, text);
        } else {
            self.b.paragraph(text);
        }
    }
}

/// Reads one XML document: the extracted text, and `dc:title` if the document has one.
fn read(
    xml: &[u8],
    format: Format,
    limits: &Limits,
    deadline: Deadline,
) -> Result<(Extracted, Option<String>), ExtractError> {
    let corrupt = |e: &dyn std::fmt::Display| {
        ExtractError::new(ErrorKind::Corrupt, format!("opendocument xml: {e}"))
    };
    let xml = std::str::from_utf8(xml).map_err(|e| corrupt(&e))?;
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = false;
    let mut st = State {
        b: DocBuilder::new(format, limits.max_output_bytes),
        paras: Vec::new(),
        tables: Vec::new(),
        pages: 0,
        spreadsheet: false,
        title: None,
        in_title: false,
        master: false,
        header_footer: 0,
        frames: Vec::new(),
        page_field: 0,
        cell_value: None,
        max_row: limits.max_output_bytes,
    };
    let mut depth = 0usize;
    let mut skip_depth: Option<usize> = None;
    let mut n = 0usize;
    loop {
        n += 1;
        if n.is_multiple_of(4096) {
            deadline.check()?;
            if st.b.is_full() {
                break;
            }
        }
        match reader.read_event().map_err(|e| corrupt(&e))? {
            Event::Start(e) => {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(ExtractError::new(
                        ErrorKind::TooLarge,
                        format!("opendocument xml nested deeper than {MAX_XML_DEPTH}"),
                    ));
                }
                if skip_depth.is_some() {
                    continue;
                }
                let qname = e.name();
                let name: &str = qname.as_ref();
                if SKIPPED.contains(&name) {
                    skip_depth = Some(depth);
                    continue;
                }
                start(&mut st, name, &e);
            }
            Event::Empty(e) => {
                if skip_depth.is_some() {
                    continue;
                }
                let qname = e.name();
                let name: &str = qname.as_ref();
                match name {
                    "text:s" => {
                        let count = attr(&e, "text:c")
                            .and_then(|c| c.parse::<usize>().ok())
                            .unwrap_or(1)
                            .clamp(1, 64);
                        st.text(&"\u{e000}".repeat(count));
                    }
                    "text:tab" => st.text("\u{e001}"),
                    "text:line-break" => st.text("\u{e002}"),
                    "table:table-cell" | "table:covered-table-cell" => {
                        // A cell without paragraphs: its value attribute, if any, is what
                        // a spreadsheet shows.
                        if let Some(v) = cell_value(&e)
                            && let Some(t) = st.tables.last_mut()
                        {
                            t.push_cell(&v, st.max_row);
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) if skip_depth.is_none() => {
                st.text(&t.xml10_content());
            }
            Event::CData(t) if skip_depth.is_none() => {
                st.text(&t.xml10_content());
            }
            Event::GeneralRef(r) if skip_depth.is_none() => {
                if r.is_char_ref() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        st.text(c.encode_utf8(&mut [0; 4]));
                    }
                } else if let Some(s) =
                    quick_xml::escape::resolve_predefined_entity(&r.into_inner())
                {
                    st.text(s);
                }
            }
            Event::End(e) => {
                if let Some(d) = skip_depth {
                    if depth == d {
                        skip_depth = None;
                    }
                    depth = depth.saturating_sub(1);
                    continue;
                }
                depth = depth.saturating_sub(1);
                let qname = e.name();
                end(&mut st, qname.as_ref());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    while !st.paras.is_empty() {
        st.end_paragraph();
    }
    let title = st
        .title
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    Ok((st.b.finish(), title))
}

/// Header and footer elements of a master page.
fn is_header_footer(name: &str) -> bool {
    name.starts_with("style:header") || name.starts_with("style:footer")
}

/// Fields a header or footer numbers each printed page with: what the file stores for
/// them is a placeholder (`1`, `99`), not the document's text. The words around them stay,
/// and so do fields whose stored value was true when the file was saved (its title, the
/// date), as Tika reads them.
fn is_page_field(name: &str) -> bool {
    matches!(name, "text:page-number" | "text:page-count")
}

/// The value attribute of a cell, for cells that hold no paragraph.
fn cell_value(e: &BytesStart<'_>) -> Option<String> {
    [
        "office:string-value",
        "office:value",
        "office:date-value",
        "office:time-value",
        "office:boolean-value",
    ]
    .iter()
    .find_map(|a| attr(e, a))
    .filter(|v| !v.trim().is_empty())
}

fn start(st: &mut State, name: &str, e: &BytesStart<'_>) {
    if is_header_footer(name) {
        st.header_footer += 1;
    }
    if name == "draw:frame" {
        // A presentation's master page draws its header and footer as frames: their
        // words are on every slide. Its other frames hold the layout's placeholder text
        // ("Click to edit the title text format").
        let shown = st.master
            && attr(e, "presentation:class").is_some_and(|c| c == "header" || c == "footer");
        st.header_footer += usize::from(shown);
        st.frames.push(shown);
    }
    if st.header_footer > 0 && is_page_field(name) {
        st.page_field += 1;
    }
    match name {
        "office:master-styles" => st.master = true,
        "office:spreadsheet" => st.spreadsheet = true,
        "dc:title" => st.in_title = true,
        "text:p" => st.paras.push((String::new(), None)),
        "text:h" => {
            let level = attr(e, "text:outline-level")
                .and_then(|l| l.parse::<u8>().ok())
                .unwrap_or(1)
                .clamp(1, 9);
            st.paras.push((String::new(), Some(level)));
        }
        "draw:page" => {
            st.pages += 1;
            st.b.page(st.pages);
        }
        "table:table" => {
            if st.spreadsheet && st.tables.is_empty() {
                st.pages += 1;
                st.b.page(st.pages);
                if let Some(sheet) = attr(e, "table:name") {
                    st.b.heading(1, &sheet);
                }
            }
            st.tables.push(Table::default());
        }
        "table:table-row" => {
            if let Some(t) = st.tables.last_mut() {
                t.row.clear();
                t.row_bytes = 0;
            }
        }
        "table:table-cell" | "table:covered-table-cell" => {
            if let Some(t) = st.tables.last_mut() {
                t.cell.clear();
            }
            st.cell_value = cell_value(e);
        }
        _ => {}
    }
}

fn end(st: &mut State, name: &str) {
    if is_header_footer(name) {
        st.header_footer = st.header_footer.saturating_sub(1);
    }
    if name == "draw:frame" && st.frames.pop() == Some(true) {
        st.header_footer = st.header_footer.saturating_sub(1);
    }
    if st.header_footer > 0 && is_page_field(name) {
        st.page_field = st.page_field.saturating_sub(1);
    }
    match name {
        "office:master-styles" => st.master = false,
        "dc:title" => st.in_title = false,
        "text:p" | "text:h" => st.end_paragraph(),
        "table:table-cell" | "table:covered-table-cell" => {
            let value = st.cell_value.take();
            if let Some(t) = st.tables.last_mut() {
                let mut cell = std::mem::take(&mut t.cell);
                if cell.is_empty()
                    && let Some(v) = value
                {
                    cell = v;
                }
                if !cell.is_empty() {
                    t.push_cell(&cell, st.max_row);
                }
            }
        }
        "table:table-row" => {
            let Some(t) = st.tables.last_mut() else {
                return;
            };
            if t.row.is_empty() {
                return;
            }
            let line = std::mem::take(&mut t.row).join(" | ");
            if st.tables.len() > 1 {
                // A table inside a cell: its rows join the outer cell.
                let outer = st.tables.len() - 2;
                let cell = &mut st.tables[outer].cell;
                if !cell.is_empty() {
                    cell.push(' ');
                }
                cell.push_str(&line);
                return;
            }
            st.b.push(&line);
            st.b.line_break();
        }
        "table:table" => {
            st.tables.pop();
            st.b.paragraph_break();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn flat(xml: &str) -> Result<Extracted, ExtractError> {
        flat_as(xml, Format::Odt)
    }

    /// A flat document of `format`, extracted within the default limits.
    fn flat_as(xml: &str, format: Format) -> Result<Extracted, ExtractError> {
        extract_flat(
            xml.as_bytes(),
            format,
            &Limits::default(),
            Deadline::after(Duration::from_secs(5)),
        )
    }

    #[test]
    fn hostile_xml_is_a_typed_error() {
        let deep = format!(
            "<office:document><office:body><office:text>{}</office:text></office:body></office:document>",
            "<text:span>".repeat(10_000)
        );
        assert_eq!(flat(&deep).expect_err("deep").kind, ErrorKind::TooLarge);
        let broken =
            "<office:document><office:body><office:text><text:p>a</text:p><!-- never closed";
        assert_eq!(flat(broken).expect_err("broken").kind, ErrorKind::Corrupt);
        // Binary posing as a flat file.
        let err = extract_flat(
            b"\x00\x01\x02\x03\x00\x00garbage",
            Format::Odt,
            &Limits::default(),
            Deadline::after(Duration::from_secs(5)),
        )
        .expect_err("binary");
        assert_eq!(err.kind, ErrorKind::Unsupported);
    }

    #[test]
    fn a_headers_page_fields_are_left_out_and_its_words_kept() {
        let xml = "<office:document><office:master-styles><style:master-page>\
            <style:header><text:p><text:title>Plan</text:title></text:p></style:header>\
            <style:footer><text:p>Confidential, page <text:page-number>1</text:page-number> of \
            <text:page-count>99</text:page-count></text:p></style:footer>\
            </style:master-page></office:master-styles><office:body><office:text>\
            <text:p>Page <text:page-number>3</text:page-number> in the body</text:p>\
            </office:text></office:body></office:document>";
        let doc = flat(xml).expect("extracts");
        assert_eq!(
            doc.text(),
            "Plan\n\nConfidential, page of\n\nPage 3 in the body"
        );
    }

    #[test]
    fn a_presentation_masters_footer_is_read_and_its_placeholders_are_not() {
        let xml = "<office:document><office:master-styles><style:master-page>\
            <draw:frame presentation:class=\"title\"><draw:text-box><text:p>Click to edit the title</text:p></draw:text-box></draw:frame>\
            <draw:frame presentation:class=\"footer\"><draw:text-box><text:p>Acme confidential</text:p></draw:text-box></draw:frame>\
            <draw:frame presentation:class=\"page-number\"><draw:text-box><text:p><text:page-number>&lt;number&gt;</text:page-number></text:p></draw:text-box></draw:frame>\
            </style:master-page></office:master-styles><office:body><office:presentation>\
            <draw:page><draw:frame><draw:text-box><text:p>Slide one</text:p></draw:text-box></draw:frame></draw:page>\
            </office:presentation></office:body></office:document>";
        let doc = flat_as(xml, Format::Odp).expect("extracts");
        assert_eq!(doc.text(), "Acme confidential\n\nSlide one");
    }

    #[test]
    fn a_wide_row_stops_at_the_output_cap() {
        let cells = "<table:table-cell><text:p>wide</text:p></table:table-cell>".repeat(5000);
        let xml = format!(
            "<office:document><office:body><office:spreadsheet><table:table><table:table-row>{cells}</table:table-row></table:table></office:spreadsheet></office:body></office:document>"
        );
        let doc = extract_flat(
            xml.as_bytes(),
            Format::Ods,
            &Limits {
                max_output_bytes: 10_000,
                ..Limits::default()
            },
            Deadline::after(Duration::from_secs(5)),
        )
        .expect("bounded");
        assert!(doc.text().len() <= 10_000);
        assert!(doc.text().starts_with("wide | wide"));
    }

    #[test]
    fn a_repeated_cell_or_row_is_written_once() {
        let xml = "<office:document><office:body><office:spreadsheet><table:table>\
            <table:table-row table:number-rows-repeated=\"1048576\">\
            <table:table-cell table:number-columns-repeated=\"16384\"><text:p>dos</text:p></table:table-cell>\
            <table:table-cell table:number-columns-repeated=\"3\" office:value-type=\"float\" office:value=\"7\"/>\
            <table:table-cell table:number-columns-repeated=\"1000\"/>\
            <table:table-cell><text:p>end</text:p></table:table-cell>\
            </table:table-row></table:table></office:spreadsheet></office:body></office:document>";
        let doc = flat_as(xml, Format::Ods).expect("extracts");
        assert_eq!(doc.text(), "dos | 7 | end");
    }
}
