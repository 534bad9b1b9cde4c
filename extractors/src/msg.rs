//! Outlook messages (`.msg`, MS-OXMSG): an OLE2 compound file whose MAPI properties are
//! streams named `__substg1.0_IIIITTTT` (property id, property type) beside a fixed-size
//! property table (`__properties_version1.0`), with one storage per recipient
//! (`__recip_version1.0_#…`) and per attachment (`__attach_version1.0_#…`). Read on the
//! `cfb` crate the OLE extractor already uses (ADR 0029).
//!
//! The subject is the title and the first line; sender, recipients and date follow as a
//! person sees them in the header. The body is the richest one there is: HTML through the
//! HTML extractor, else the compressed RTF (`msg_rtf`, MS-OXRTFCP) through the RTF
//! extractor, else the plain text. Attachments are extracted like an e-mail's, within the
//! embedded-depth limit and the output budget; an attached message (a storage, not bytes)
//! is read by this same reader one level down. 8-bit strings are in the message's code page.

use std::io::{Cursor, Read};

use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

type Ole<'a> = cfb::CompoundFile<Cursor<&'a [u8]>>;

/// At most this many attachments and recipients of one message are read.
const MAX_ATTACHMENTS: usize = 32;
const MAX_RECIPIENTS: usize = 500;
/// Header fields and names are short; a longer one is cut here.
const MAX_FIELD: u64 = 64 * 1024;

const SUBJECT: u16 = 0x0037;
const BODY: u16 = 0x1000;
const RTF_COMPRESSED: u16 = 0x1009;
const HTML: u16 = 0x1013;
const SENDER_NAME: u16 = 0x0C1A;
const SENDER_EMAIL: u16 = 0x0C1F;
const SENDER_SMTP: u16 = 0x5D01;
const DISPLAY_TO: u16 = 0x0E04;
const DISPLAY_CC: u16 = 0x0E03;
const CLIENT_SUBMIT_TIME: u16 = 0x0039;
const DELIVERY_TIME: u16 = 0x0E06;
const MESSAGE_CODEPAGE: u16 = 0x3FFD;
const INTERNET_CODEPAGE: u16 = 0x3FDE;
const RECIPIENT_TYPE: u16 = 0x0C15;
const DISPLAY_NAME: u16 = 0x3001;
const EMAIL_ADDRESS: u16 = 0x3003;
const SMTP_ADDRESS: u16 = 0x39FE;
const ATTACH_DATA: u16 = 0x3701;
const ATTACH_FILENAME: u16 = 0x3704;
const ATTACH_LONG_FILENAME: u16 = 0x3707;
const ATTACH_MIME_TAG: u16 = 0x370E;

const PT_UNICODE: u16 = 0x001F;
const PT_STRING8: u16 = 0x001E;
const PT_BINARY: u16 = 0x0102;
const PT_OBJECT: u16 = 0x000D;
const PT_LONG: u16 = 0x0003;
const PT_SYSTIME: u16 = 0x0040;

/// True when the compound file is an Outlook item: its root holds property streams.
pub(crate) fn is_msg(ole: &Ole<'_>) -> bool {
    ole.read_storage("/").is_ok_and(|mut entries| {
        entries.any(|e| e.is_stream() && e.name().starts_with("__substg1.0_"))
    })
}

/// Extracts the message at the root of `ole`.
pub(crate) fn extract(
    ole: &mut Ole<'_>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    let mut doc = message(ole, "", 32, limits, deadline)?;
    if doc.sections.is_empty() {
        doc.warnings.push(crate::Warning {
            code: "empty",
            message: "the message has no subject, header or body".into(),
        });
    }
    Ok(doc)
}

/// One storage's properties: the variable-length ones are streams, the fixed-size ones
/// (numbers, times) rows of the property table after a header of `header` bytes (32 for
/// the top-level message, 24 for an attached one, 8 for recipients and attachments).
struct Props<'o, 'a> {
    ole: &'o mut Ole<'a>,
    dir: String,
    table: Vec<u8>,
    encoding: &'static encoding_rs::Encoding,
}

impl<'o, 'a> Props<'o, 'a> {
    fn new(ole: &'o mut Ole<'a>, dir: &str, header: usize) -> Self {
        let table = read(ole, &format!("{dir}/__properties_version1.0"), 1 << 20)
            .map(|t| t.get(header..).unwrap_or_default().to_vec())
            .unwrap_or_default();
        let mut props = Props {
            ole,
            dir: dir.to_string(),
            table,
            encoding: encoding_rs::WINDOWS_1252,
        };
        let cp = props
            .long(MESSAGE_CODEPAGE)
            .or_else(|| props.long(INTERNET_CODEPAGE));
        if let Some(encoding) = cp
            .and_then(|cp| u16::try_from(cp).ok())
            .and_then(codepage::to_encoding)
        {
            props.encoding = encoding;
        }
        props
    }

    /// The 8-byte value of a fixed-size property of this type.
    fn fixed(&self, id: u16, ty: u16) -> Option<[u8; 8]> {
        self.table.chunks_exact(16).find_map(|row| {
            let (t, i) = (
                u16::from_le_bytes([row[0], row[1]]),
                u16::from_le_bytes([row[2], row[3]]),
            );
            (t == ty && i == id).then(|| row[8..16].try_into().unwrap_or_default())
        })
    }

    fn long(&self, id: u16) -> Option<u32> {
        self.fixed(id, PT_LONG)
            .map(|v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]))
    }

    /// A time as RFC 3339 (FILETIME: 100 ns since 1601).
    fn time(&self, id: u16) -> Option<String> {
        let ticks = i64::from_le_bytes(self.fixed(id, PT_SYSTIME)?);
        let secs = ticks / 10_000_000 - 11_644_473_600;
        chrono::DateTime::from_timestamp(secs, 0).map(|t| t.to_rfc3339())
    }

    fn stream(&mut self, id: u16, ty: u16, max: u64) -> Option<Vec<u8>> {
        read(
            self.ole,
            &format!("{}/__substg1.0_{id:04X}{ty:04X}", self.dir),
            max,
        )
    }

    /// A string property, Unicode or 8-bit in the message's code page, trimmed of the
    /// terminating NULs some writers keep.
    fn string(&mut self, id: u16, max: u64) -> Option<String> {
        let text = if let Some(bytes) = self.stream(id, PT_UNICODE, max) {
            encoding_rs::UTF_16LE
                .decode_without_bom_handling(&bytes)
                .0
                .into_owned()
        } else {
            let bytes = self.stream(id, PT_STRING8, max)?;
            self.encoding
                .decode_without_bom_handling(&bytes)
                .0
                .into_owned()
        };
        let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        (!text.is_empty()).then(|| text.to_string())
    }

    /// The storages below this one whose names start with `prefix`, in name order.
    fn children(&self, prefix: &str) -> Vec<String> {
        let dir = if self.dir.is_empty() { "/" } else { &self.dir };
        let mut names: Vec<String> = self
            .ole
            .read_storage(dir)
            .map(|entries| {
                entries
                    .filter(|e| e.is_storage() && e.name().starts_with(prefix))
                    .map(|e| e.name().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn read(ole: &mut Ole<'_>, path: &str, max: u64) -> Option<Vec<u8>> {
    let mut stream = ole.open_stream(path).ok()?;
    let mut out = Vec::new();
    (&mut stream).take(max).read_to_end(&mut out).ok()?;
    Some(out)
}

/// A person's name and address as a header shows them; Exchange's internal (X.500)
/// addresses are left out, they are not what anyone types or reads.
fn person(name: Option<String>, address: Option<String>) -> Option<String> {
    let address = address.filter(|a| a.contains('@') && !a.starts_with('/'));
    match (name, address) {
        (Some(n), Some(a)) if n.contains(&a) => Some(n),
        (Some(n), Some(a)) => Some(format!("{n} <{a}>")),
        (n, a) => n.or(a),
    }
}

/// The message stored under `dir` ("" for the root), with `header` bytes before its
/// property table.
fn message(
    ole: &mut Ole<'_>,
    dir: &str,
    header: usize,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    deadline.check()?;
    let mut p = Props::new(ole, dir, header);
    let mut b = DocBuilder::new(Format::Email, limits.max_output_bytes);
    let subject = p.string(SUBJECT, MAX_FIELD);
    let sender_address = p
        .string(SENDER_SMTP, MAX_FIELD)
        .or_else(|| p.string(SENDER_EMAIL, MAX_FIELD));
    let sender = person(p.string(SENDER_NAME, MAX_FIELD), sender_address);
    if let Some(date) = p.time(CLIENT_SUBMIT_TIME).or_else(|| p.time(DELIVERY_TIME)) {
        b.metadata.insert("date".into(), date);
    }
    if let Some(sender) = &sender {
        b.metadata.insert("author".into(), sender.clone());
    }
    b.title.clone_from(&subject);

    // The header block: subject, then From/To/Cc lines.
    let mut lines = Vec::new();
    lines.extend(subject);
    lines.extend(sender.map(|s| format!("From: {s}")));
    let (mut to, mut cc) = (Vec::new(), Vec::new());
    for name in p
        .children("__recip_version1.0_")
        .into_iter()
        .take(MAX_RECIPIENTS)
    {
        let mut r = Props::new(p.ole, &format!("{dir}/{name}"), 8);
        let address = r
            .string(SMTP_ADDRESS, MAX_FIELD)
            .or_else(|| r.string(EMAIL_ADDRESS, MAX_FIELD));
        let kind = r.long(RECIPIENT_TYPE);
        if let Some(who) = person(r.string(DISPLAY_NAME, MAX_FIELD), address) {
            if kind == Some(2) { &mut cc } else { &mut to }.push(who);
        }
    }
    // Without recipient storages (drafts, some exports) the display lists say who.
    if to.is_empty() {
        to.extend(p.string(DISPLAY_TO, MAX_FIELD));
    }
    if cc.is_empty() {
        cc.extend(p.string(DISPLAY_CC, MAX_FIELD));
    }
    if !to.is_empty() {
        lines.push(format!("To: {}", to.join("; ")));
    }
    if !cc.is_empty() {
        lines.push(format!("Cc: {}", cc.join("; ")));
    }
    b.paragraph(&lines.join("\n"));
    let mut doc = b.finish();

    body(&mut p, &mut doc, limits, deadline)?;
    attachments(&mut p, &mut doc, limits, deadline)?;
    Ok(doc)
}

/// Appends the message body: HTML, else compressed RTF, else plain text.
fn body(
    p: &mut Props<'_, '_>,
    doc: &mut Extracted,
    limits: &Limits,
    deadline: Deadline,
) -> Result<(), ExtractError> {
    let room = doc.output_room(limits);
    if room == 0 {
        return Ok(());
    }
    // A body that decodes to more than the input limit is not read past it.
    let max = limits.max_input_bytes as u64;
    let child = Limits {
        max_output_bytes: room,
        ..limits.clone()
    };
    // The HTML body's bytes are in the message's Internet code page (MS-OXCMSG
    // PidTagInternetCodepage: UTF-8 from a web mailer), which may differ from the code page
    // of its 8-bit string properties (PidTagMessageCodepage).
    let html_encoding = p
        .long(INTERNET_CODEPAGE)
        .and_then(|cp| u16::try_from(cp).ok())
        .and_then(codepage::to_encoding)
        .unwrap_or(p.encoding);
    let html = p.stream(HTML, PT_BINARY, max).map(|bytes| {
        let encoding = encoding_rs::Encoding::for_bom(&bytes).map_or(html_encoding, |(e, _)| e);
        encoding.decode(&bytes).0.into_owned()
    });
    let html = html.or_else(|| p.string(HTML, max));
    let inner = if let Some(html) = html.filter(|h| !h.trim().is_empty()) {
        Some(crate::html::HtmlExtractor.extract(html.as_bytes(), Format::Html, &child, deadline))
    } else {
        p.stream(RTF_COMPRESSED, PT_BINARY, max)
            .and_then(|c| crate::msg_rtf::decompress(&c, limits.max_input_bytes))
            .map(|rtf| crate::rtf::RtfExtractor.extract(&rtf, Format::Rtf, &child, deadline))
    };
    match inner {
        Some(Ok(inner)) if !inner.sections.is_empty() => {
            doc.sections.extend(inner.sections);
            return Ok(());
        }
        Some(Err(e)) if e.kind == ErrorKind::Timeout => return Err(e),
        Some(Err(e)) => doc.warnings.push(crate::Warning {
            code: "broken_part",
            message: format!("the message body: {e}"),
        }),
        _ => {}
    }
    if let Some(text) = p.string(BODY, max) {
        let mut b = DocBuilder::new(Format::Email, room);
        for paragraph in text.replace("\r\n", "\n").split("\n\n") {
            if !b.paragraph(paragraph) {
                break;
            }
        }
        let inner = b.finish();
        doc.sections.extend(inner.sections);
        doc.warnings.extend(inner.warnings);
    }
    Ok(())
}

/// Appends each attachment: its name, then its text (a file through the registry, an
/// attached message through `message`), pictures left out as e-mail does.
fn attachments(
    p: &mut Props<'_, '_>,
    doc: &mut Extracted,
    limits: &Limits,
    deadline: Deadline,
) -> Result<(), ExtractError> {
    let dir = p.dir.clone();
    for name in p
        .children("__attach_version1.0_")
        .into_iter()
        .take(MAX_ATTACHMENTS)
    {
        deadline.check()?;
        if doc.output_room(limits) == 0 {
            break;
        }
        let path = format!("{dir}/{name}");
        let mut a = Props::new(p.ole, &path, 8);
        let mime = a.string(ATTACH_MIME_TAG, MAX_FIELD).unwrap_or_default();
        let file = a
            .string(ATTACH_LONG_FILENAME, MAX_FIELD)
            .or_else(|| a.string(ATTACH_FILENAME, MAX_FIELD))
            .or_else(|| a.string(DISPLAY_NAME, MAX_FIELD));
        let picture = mime.to_ascii_lowercase().starts_with("image/")
            || file.as_deref().is_some_and(|f| {
                let ext = f.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
                [
                    "png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "emf", "wmf",
                ]
                .contains(&ext.as_str())
            });
        if picture {
            continue;
        }
        let label: String = file
            .clone()
            .unwrap_or_else(|| "attachment".to_string())
            .chars()
            .take(256)
            .collect();
        let embedded = format!("{path}/__substg1.0_{ATTACH_DATA:04X}{PT_OBJECT:04X}");
        if a.ole.is_storage(&embedded) {
            if limits.max_embedded_depth == 0 {
                continue;
            }
            let child = Limits {
                max_embedded_depth: limits.max_embedded_depth - 1,
                max_output_bytes: doc.output_room(limits),
                ..limits.clone()
            };
            match message(a.ole, &embedded, 24, &child, deadline) {
                Ok(inner) => {
                    for mut section in inner.sections {
                        section.heading.insert(0, label.clone());
                        doc.sections.push(section);
                    }
                }
                Err(e) if e.kind == ErrorKind::Timeout => return Err(e),
                Err(e) => doc.warnings.push(crate::Warning {
                    code: "embedded_failed",
                    message: format!("{label}: {e}"),
                }),
            }
            continue;
        }
        let Some(bytes) = a.stream(ATTACH_DATA, PT_BINARY, limits.max_input_bytes as u64) else {
            continue;
        };
        // The name a reader sees on the attachment, before its text.
        if file.is_some() {
            doc.sections.push(crate::Section {
                heading: vec![label.clone()],
                page: None,
                text: label.clone(),
            });
        }
        crate::office::append_embedded(doc, &label, &bytes, limits, deadline);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// A property-table row: type, id, flags, 8-byte value.
    fn row(ty: u16, id: u16, value: u64) -> Vec<u8> {
        let mut r = ty.to_le_bytes().to_vec();
        r.extend_from_slice(&id.to_le_bytes());
        r.extend_from_slice(&6u32.to_le_bytes());
        r.extend_from_slice(&value.to_le_bytes());
        r
    }

    type Writer = cfb::CompoundFile<std::io::Cursor<Vec<u8>>>;

    /// A storage with a property table of these rows after `header` bytes.
    fn put_props(ole: &mut Writer, dir: &str, rows: &[Vec<u8>], header: usize) {
        ole.create_storage(dir).expect("storage");
        let mut t = vec![0u8; header];
        for r in rows {
            t.extend_from_slice(r);
        }
        ole.create_stream(format!("{dir}/__properties_version1.0"))
            .expect("props")
            .write_all(&t)
            .expect("write");
    }

    /// A message: a Unicode subject and plain body, a sender, one To and one Cc
    /// recipient, a text attachment, a picture, and an attached message whose strings are
    /// 8-bit in code page 1251 and whose body is compressed RTF (stored form).
    fn sample() -> Vec<u8> {
        let mut ole = cfb::CompoundFile::create_with_version(
            cfb::Version::V3,
            std::io::Cursor::new(Vec::new()),
        )
        .expect("create");
        let mut put = |path: &str, bytes: &[u8]| {
            ole.create_stream(path)
                .expect("stream")
                .write_all(bytes)
                .expect("write");
        };
        let mut props = vec![0u8; 32];
        props.extend(row(PT_SYSTIME, CLIENT_SUBMIT_TIME, 133_000_000_000_000_000));
        put("/__properties_version1.0", &props);
        put("/__substg1.0_0037001F", &utf16("Quarterly plan\0"));
        put(
            "/__substg1.0_1000001F",
            &utf16("Hello team,\r\n\r\nthe plan is attached."),
        );
        put("/__substg1.0_0C1A001F", &utf16("Ana Silva"));
        put("/__substg1.0_5D01001F", &utf16("ana@example.org"));
        for (i, (name, addr, kind)) in [
            ("Rui", "rui@example.org", 1u64),
            ("Eva", "/O=EXCHANGE/CN=EVA", 2),
        ]
        .into_iter()
        .enumerate()
        {
            let dir = format!("/__recip_version1.0_#0000000{i}");
            put_props(&mut ole, &dir, &[row(PT_LONG, RECIPIENT_TYPE, kind)], 8);
            for (id, value) in [(DISPLAY_NAME, name), (EMAIL_ADDRESS, addr)] {
                ole.create_stream(format!("{dir}/__substg1.0_{id:04X}001F"))
                    .expect("stream")
                    .write_all(&utf16(value))
                    .expect("write");
            }
        }
        let a0 = "/__attach_version1.0_#00000000";
        put_props(&mut ole, a0, &[], 8);
        ole.create_stream(format!("{a0}/__substg1.0_3707001F"))
            .expect("s")
            .write_all(&utf16("notes.txt"))
            .expect("w");
        ole.create_stream(format!("{a0}/__substg1.0_37010102"))
            .expect("s")
            .write_all(b"Budget: 42 units")
            .expect("w");
        let a1 = "/__attach_version1.0_#00000001";
        put_props(&mut ole, a1, &[], 8);
        ole.create_stream(format!("{a1}/__substg1.0_3707001F"))
            .expect("s")
            .write_all(&utf16("logo.png"))
            .expect("w");
        ole.create_stream(format!("{a1}/__substg1.0_37010102"))
            .expect("s")
            .write_all(b"\x89PNG picture text")
            .expect("w");
        let a2 = "/__attach_version1.0_#00000002";
        put_props(&mut ole, a2, &[], 8);
        let inner = format!("{a2}/__substg1.0_3701000D");
        put_props(
            &mut ole,
            &inner,
            &[row(PT_LONG, MESSAGE_CODEPAGE, 1251)],
            24,
        );
        ole.create_stream(format!("{inner}/__substg1.0_0037001E"))
            .expect("s")
            .write_all(b"\xcf\xf0\xe8\xe2\xe5\xf2")
            .expect("w");
        let rtf = b"{\\rtf1\\ansi Forwarded words}";
        let mut stored = (rtf.len() as u32 + 12).to_le_bytes().to_vec();
        stored.extend_from_slice(&(rtf.len() as u32).to_le_bytes());
        stored.extend_from_slice(b"MELA\0\0\0\0");
        stored.extend_from_slice(rtf);
        ole.create_stream(format!("{inner}/__substg1.0_10090102"))
            .expect("s")
            .write_all(&stored)
            .expect("w");
        ole.flush().expect("flush");
        ole.into_inner().into_inner()
    }

    /// `bytes` extracted as a file named `mail.msg` is, through the registry.
    fn as_msg(bytes: &[u8]) -> Extracted {
        crate::Registry::default()
            .extract(
                bytes,
                &crate::Hints::file_name("mail.msg"),
                &Limits::default(),
            )
            .expect("extracts")
    }

    #[test]
    fn a_message_reads_as_its_header_body_and_attachments() {
        let bytes = sample();
        let doc = as_msg(&bytes);
        assert_eq!(doc.title.as_deref(), Some("Quarterly plan"));
        assert_eq!(
            doc.metadata.get("author").map(String::as_str),
            Some("Ana Silva <ana@example.org>")
        );
        assert!(
            doc.metadata
                .get("date")
                .is_some_and(|d| d.starts_with("2022-")),
            "{:?}",
            doc.metadata
        );
        // Eva's address is Exchange's internal one: her name alone is shown.
        assert_eq!(
            doc.text(),
            "Quarterly plan\nFrom: Ana Silva <ana@example.org>\nTo: Rui <rui@example.org>\nCc: Eva\n\n\
             Hello team,\n\nthe plan is attached.\n\nnotes.txt\n\nBudget: 42 units\n\nПривет\n\nForwarded words"
        );
    }

    #[test]
    fn the_html_body_reads_in_the_internet_code_page() {
        // 8-bit strings in Windows-1252, the HTML body in UTF-8, as a web mailer sends it.
        let mut ole = cfb::CompoundFile::create_with_version(
            cfb::Version::V3,
            std::io::Cursor::new(Vec::new()),
        )
        .expect("create");
        let mut props = vec![0u8; 32];
        props.extend(row(PT_LONG, MESSAGE_CODEPAGE, 1252));
        props.extend(row(PT_LONG, INTERNET_CODEPAGE, 65001));
        for (path, bytes) in [
            ("/__properties_version1.0", props.as_slice()),
            (
                "/__substg1.0_10130102",
                "<p>Deine Bestellbestätigung: €149.99</p>".as_bytes(),
            ),
        ] {
            ole.create_stream(path)
                .expect("stream")
                .write_all(bytes)
                .expect("write");
        }
        ole.flush().expect("flush");
        let bytes = ole.into_inner().into_inner();
        let doc = as_msg(&bytes);
        assert!(
            doc.text().contains("Deine Bestellbestätigung: €149.99"),
            "{}",
            doc.text()
        );
    }

    #[test]
    fn a_message_without_attachments_depth_leaves_them_out() {
        let bytes = sample();
        let limits = Limits {
            max_embedded_depth: 0,
            ..Limits::default()
        };
        let mut ole = cfb::CompoundFile::open(Cursor::new(bytes.as_slice())).expect("open");
        let doc =
            extract(&mut ole, &limits, Deadline::after(Duration::from_secs(5))).expect("extracts");
        assert!(!doc.text().contains("Budget"), "{}", doc.text());
        assert!(!doc.text().contains("Forwarded"), "{}", doc.text());
        assert!(doc.text().contains("the plan is attached"));
    }
}
