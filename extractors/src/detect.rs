//! Format detection: magic bytes, then content type, then extension.

/// A document format Tributary knows about (extracted or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Plain text.
    Text,
    /// Markdown.
    Markdown,
    /// HTML or XHTML.
    Html,
    /// Comma/semicolon/tab separated values.
    Csv,
    /// JSON or newline-delimited JSON.
    Json,
    /// PDF.
    Pdf,
    /// A ZIP container (OOXML, ODF…) whose kind the hints did not settle.
    Zip,
    /// Word 2007+.
    Docx,
    /// PowerPoint 2007+.
    Pptx,
    /// Excel 2007+.
    Xlsx,
    /// OpenDocument spreadsheet.
    Ods,
    /// An OLE2 compound file (legacy DOC, PPT, XLS).
    Ole,
    /// Legacy Word.
    Doc,
    /// Legacy PowerPoint.
    Ppt,
    /// Legacy Excel.
    Xls,
    /// An e-mail message or a web archive (MIME: `.eml`, `.mht`).
    Email,
    /// Rich Text Format.
    Rtf,
    /// OpenDocument text (`.odt`, or flat `.fodt`).
    Odt,
    /// OpenDocument presentation (`.odp`, or flat `.fodp`).
    Odp,
    /// An EPUB book.
    Epub,
    /// Word 2003 XML (WordprocessingML) or a Flat OPC package: Office XML outside a ZIP.
    OfficeXml,
    /// Any other XML.
    Xml,
    /// Nothing recognisable.
    Unknown,
}

impl Format {
    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Pdf => "pdf",
            Format::Zip => "zip",
            Format::Docx => "docx",
            Format::Pptx => "pptx",
            Format::Xlsx => "xlsx",
            Format::Ods => "ods",
            Format::Ole => "ole",
            Format::Doc => "doc",
            Format::Ppt => "ppt",
            Format::Xls => "xls",
            Format::Email => "email",
            Format::Rtf => "rtf",
            Format::Odt => "odt",
            Format::Odp => "odp",
            Format::Epub => "epub",
            Format::OfficeXml => "office-xml",
            Format::Xml => "xml",
            Format::Unknown => "unknown",
        }
    }

    fn from_extension(ext: &str) -> Option<Format> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "txt" | "text" | "log" | "rst" => Format::Text,
            "md" | "markdown" | "mdown" => Format::Markdown,
            "html" | "htm" | "xhtml" => Format::Html,
            "csv" | "tsv" => Format::Csv,
            "json" | "ndjson" | "jsonl" => Format::Json,
            "pdf" => Format::Pdf,
            "docx" => Format::Docx,
            "pptx" => Format::Pptx,
            "xlsx" | "xlsm" | "xlsb" => Format::Xlsx,
            "ods" | "fods" | "ots" => Format::Ods,
            "odt" | "fodt" | "ott" => Format::Odt,
            "odp" | "fodp" | "otp" => Format::Odp,
            "epub" => Format::Epub,
            "rtf" => Format::Rtf,
            "xml" => Format::Xml,
            "doc" => Format::Doc,
            "ppt" => Format::Ppt,
            "xls" => Format::Xls,
            "eml" | "mht" | "mhtml" => Format::Email,
            _ => return None,
        })
    }

    fn from_content_type(ct: &str) -> Option<Format> {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        Some(match essence.as_str() {
            "text/plain" => Format::Text,
            "text/markdown" | "text/x-markdown" => Format::Markdown,
            "text/html" | "application/xhtml+xml" => Format::Html,
            "text/csv" | "text/tab-separated-values" => Format::Csv,
            "application/json" | "application/x-ndjson" | "application/jsonl" => Format::Json,
            "application/pdf" => Format::Pdf,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
                Format::Docx
            }
            "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
                Format::Pptx
            }
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => Format::Xlsx,
            "application/vnd.oasis.opendocument.spreadsheet" => Format::Ods,
            "application/vnd.oasis.opendocument.text" => Format::Odt,
            "application/vnd.oasis.opendocument.presentation" => Format::Odp,
            "application/epub+zip" => Format::Epub,
            "application/rtf" | "text/rtf" => Format::Rtf,
            "application/xml" | "text/xml" => Format::Xml,
            "application/msword" => Format::Doc,
            "application/vnd.ms-powerpoint" => Format::Ppt,
            "application/vnd.ms-excel" => Format::Xls,
            "message/rfc822" | "multipart/related" | "application/x-mimearchive" => Format::Email,
            _ => return None,
        })
    }
}

/// What the source says about a document, used when the bytes alone do not decide.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hints<'a> {
    /// The source's content type.
    pub content_type: Option<&'a str>,
    /// The document's file name (or key), for its extension.
    pub file_name: Option<&'a str>,
}

impl<'a> Hints<'a> {
    /// Hints with only a file name.
    pub fn file_name(name: &'a str) -> Self {
        Hints {
            content_type: None,
            file_name: Some(name),
        }
    }

    fn extension_format(&self) -> Option<Format> {
        let name = self.file_name?;
        let base = name.rsplit('/').next().unwrap_or(name);
        let (_, ext) = base.rsplit_once('.')?;
        Format::from_extension(ext)
    }
}

/// Detects the format from the bytes first, the hints second: binary magic numbers (they
/// cannot lie by accident), RTF's `{\rtf`, an XML document's root element (Word 2003 XML,
/// Flat OPC, flat OpenDocument, XHTML), then the content type or extension — which only
/// decides among what the bytes allow: a legacy Office name on bytes that are text is HTML,
/// CSV or text saved under that name — and finally "text if it looks like text".
pub fn detect(input: &[u8], hints: &Hints<'_>) -> Format {
    let hinted = hints
        .content_type
        .and_then(Format::from_content_type)
        .or_else(|| hints.extension_format());
    if input.starts_with(b"%PDF-") {
        return Format::Pdf;
    }
    if input.starts_with(b"PK\x03\x04") {
        return match hinted {
            Some(
                f @ (Format::Docx
                | Format::Pptx
                | Format::Xlsx
                | Format::Ods
                | Format::Odt
                | Format::Odp
                | Format::Epub),
            ) => f,
            // A legacy extension on a ZIP is really OOXML under the wrong name.
            Some(Format::Doc) => Format::Docx,
            Some(Format::Ppt) => Format::Pptx,
            Some(Format::Xls) => Format::Xlsx,
            _ => Format::Zip,
        };
    }
    if input.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return match hinted {
            Some(f @ (Format::Doc | Format::Ppt | Format::Xls)) => f,
            _ => Format::Ole,
        };
    }
    let head = text_head(input);
    let trimmed = head.trim_start();
    if is_rtf(trimmed.as_bytes()) {
        return Format::Rtf;
    }
    let plain_hint = matches!(hinted, Some(Format::Markdown | Format::Text));
    if !plain_hint
        && (trimmed.starts_with("<?xml") || hinted == Some(Format::Xml))
        && let Some(f) = xml_dialect(trimmed)
    {
        return f;
    }
    if looks_like_html(input) && !plain_hint {
        return Format::Html;
    }
    // A binary Office name on bytes that are none of the above: Word and Excel open such
    // files as what they are (a web page or a MIME archive saved as .doc, a CSV saved as
    // .xls), and so do we; whatever else is left to the hinted extractor, which refuses it.
    if matches!(
        hinted,
        Some(
            Format::Doc
                | Format::Xls
                | Format::Ppt
                | Format::Docx
                | Format::Xlsx
                | Format::Pptx
                | Format::Ods
                | Format::Odt
                | Format::Odp
                | Format::Epub
        )
    ) && !crate::text::looks_binary(input)
    {
        let lower = trimmed.get(..trimmed.len().min(256)).unwrap_or("");
        let lower = lower.to_ascii_lowercase();
        if lower.starts_with("mime-version:") || lower.starts_with("content-type: multipart") {
            return Format::Email;
        }
        if lower.starts_with("<html") || lower.starts_with("<!doctype") {
            return Format::Html;
        }
        return match hinted {
            Some(Format::Xls | Format::Xlsx | Format::Ods) => Format::Csv,
            _ => Format::Text,
        };
    }
    if let Some(f) = hinted {
        return f;
    }
    if crate::text::looks_binary(input) {
        Format::Unknown
    } else {
        Format::Text
    }
}

/// `{\rtf`, with whitespace allowed after the brace (some writers indent it).
pub(crate) fn is_rtf(input: &[u8]) -> bool {
    let Some(rest) = input.strip_prefix(b"{") else {
        return false;
    };
    let start = rest
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    rest[start..].starts_with(b"\\rtf")
}

fn looks_like_html(input: &[u8]) -> bool {
    let head = &input[..input.len().min(512)];
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace() && !matches!(b, 0xEF | 0xBB | 0xBF))
        .unwrap_or(head.len());
    let head = head[start..].to_ascii_lowercase();
    head.starts_with(b"<!doctype html") || head.starts_with(b"<html")
}

/// The first few kilobytes as text, for sniffing: UTF-8 (lossy) or, after a UTF-16 BOM,
/// UTF-16; a UTF-8 BOM is dropped.
fn text_head(input: &[u8]) -> String {
    let head = &input[..input.len().min(8192)];
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(head) {
        return encoding
            .decode_without_bom_handling(&head[bom..])
            .0
            .into_owned();
    }
    String::from_utf8_lossy(head).into_owned()
}

/// What an XML document is, by its root element: `None` when no root element is seen in
/// the head (then the hints decide).
fn xml_dialect(head: &str) -> Option<Format> {
    let mut rest = head;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            rest = &r[r.find("?>")? + 2..];
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->")? + 3..];
        } else if let Some(r) = rest.strip_prefix("<!") {
            // A DOCTYPE, possibly with an internal subset in brackets.
            let end = match (r.find('['), r.find('>')) {
                (Some(b), Some(g)) if b < g => r.find("]>").map(|e| e + 2)?,
                (_, Some(g)) => g + 1,
                _ => return None,
            };
            rest = &r[end..];
        } else {
            break;
        }
    }
    let tag = rest.strip_prefix('<')?;
    let end = tag.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    let name = &tag[..end];
    let local = name.rsplit(':').next().unwrap_or(name);
    let attrs = &tag[end..tag.find('>').unwrap_or(tag.len())];
    Some(match local {
        "html" => Format::Html,
        "wordDocument" => Format::OfficeXml,
        "package" if attrs.contains("schemas.microsoft.com/office/2006/xmlPackage") => {
            Format::OfficeXml
        }
        "document"
            if name == "office:document"
                || attrs.contains("urn:oasis:names:tc:opendocument:xmlns:office") =>
        {
            if attrs.contains("opendocument.spreadsheet") {
                Format::Ods
            } else if attrs.contains("opendocument.presentation") {
                Format::Odp
            } else {
                Format::Odt
            }
        }
        _ => Format::Xml,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_web_archives_are_known_by_name_or_content_type() {
        assert_eq!(
            detect(b"From: a@b.c\r\n", &Hints::file_name("x.eml")),
            Format::Email
        );
        assert_eq!(
            detect(b"MIME", &Hints::file_name("page.MHT")),
            Format::Email
        );
        let hints = Hints {
            content_type: Some("message/rfc822"),
            file_name: Some("mail"),
        };
        assert_eq!(detect(b"Subject: hi\r\n", &hints), Format::Email);
        // Headers alone do not make a text file a message.
        assert_eq!(
            detect(b"From: a@b.c\r\n", &Hints::file_name("x.txt")),
            Format::Text
        );
    }

    #[test]
    fn magic_beats_extension_and_content_type_beats_extension() {
        assert_eq!(detect(b"%PDF-1.4", &Hints::file_name("x.txt")), Format::Pdf);
        assert_eq!(
            detect(b"PK\x03\x04....", &Hints::file_name("x.doc")),
            Format::Docx
        );
        assert_eq!(
            detect(b"<!DOCTYPE html><p>x", &Hints::file_name("x.txt")),
            Format::Text
        );
        assert_eq!(
            detect(b"<!DOCTYPE html><p>x", &Hints::file_name("x")),
            Format::Html
        );
        let hints = Hints {
            content_type: Some("text/csv; charset=utf-8"),
            file_name: Some("x.json"),
        };
        assert_eq!(detect(b"a,b\n1,2", &hints), Format::Csv);
        assert_eq!(detect(b"hello", &Hints::default()), Format::Text);
        assert_eq!(
            detect(b"\x00\x01\x02\x03garbage\x00", &Hints::default()),
            Format::Unknown
        );
    }

    #[test]
    fn xml_roots_and_rtf_decide_before_the_name() {
        let fodt = br#"<?xml version="1.0"?><office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">"#;
        assert_eq!(detect(fodt, &Hints::file_name("x.xml")), Format::Ods);
        let word = b"<?xml version=\"1.0\"?><?mso-application progid=\"Word.Document\"?><!-- c --><w:wordDocument xmlns:w=\"x\">";
        assert_eq!(detect(word, &Hints::file_name("x.doc")), Format::OfficeXml);
        assert_eq!(
            detect(
                b"<?xml version=\"1.0\"?><!DOCTYPE html><html>",
                &Hints::default()
            ),
            Format::Html
        );
        assert_eq!(
            detect(b"<?xml version=\"1.0\"?><rss>", &Hints::file_name("x.json")),
            Format::Xml
        );
        // UTF-16 with a BOM is sniffed too.
        let utf16: Vec<u8> = "\u{feff}<?xml version=\"1.0\"?><note/>"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(detect(&utf16, &Hints::default()), Format::Xml);
        assert_eq!(
            detect(b"{ \\rtf1 x}", &Hints::file_name("x.doc")),
            Format::Rtf
        );
        // A text file stays text whatever it starts with.
        assert_eq!(
            detect(
                b"<?xml version=\"1.0\"?><a/>",
                &Hints::file_name("notes.txt")
            ),
            Format::Text
        );
    }

    #[test]
    fn text_under_a_binary_office_name_is_read_as_what_it_is() {
        let xls = Hints::file_name("report.xls");
        assert_eq!(detect(b"a,b\n1,2\n", &xls), Format::Csv);
        assert_eq!(detect(b"<html><p>x", &xls), Format::Html);
        assert_eq!(
            detect(
                b"MIME-Version: 1.0\r\nContent-Type: multipart/related",
                &Hints::file_name("page.doc")
            ),
            Format::Email
        );
        assert_eq!(
            detect(b"plain words", &Hints::file_name("a.ppt")),
            Format::Text
        );
        // Binary garbage keeps its hinted format, whose extractor refuses it.
        assert_eq!(detect(b"\x00\x01\x02garbage\x00", &xls), Format::Xls);
    }
}
