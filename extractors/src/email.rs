//! E-mail messages (`.eml`: RFC 5322 with MIME) and web archives (`.mht`/`.mhtml`, which
//! are MIME `multipart/related` messages; Word also embeds them in DOCX as "alternative
//! format chunks"), parsed by mail-parser, which undoes transfer encodings and charsets.
//!
//! The subject is the title, the sender and date are metadata. Each body comes out as what
//! it is: HTML through the HTML extractor, plain text as paragraphs (of a
//! `multipart/alternative`, only the richer version). Attached files are extracted as
//! embedded documents within the embedded-depth limit; pictures, audio and video (a web
//! archive's images, a signature's logo) are left out.

use mail_parser::{HeaderName, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

#[derive(Debug)]
pub(crate) struct EmailExtractor;

/// At most this many attachments of one message are extracted.
const MAX_ATTACHMENTS: usize = 32;

impl Extractor for EmailExtractor {
    fn formats(&self) -> &'static [Format] {
        &[Format::Email]
    }

    fn extract(
        &self,
        input: &[u8],
        _format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        let message = MessageParser::default()
            .parse(input)
            // Anything parses as a message of sorts: a real one has at least one header
            // the RFCs define.
            .filter(|m| {
                m.headers()
                    .iter()
                    .any(|h| !matches!(h.name, HeaderName::Other(_)))
            })
            .ok_or_else(|| ExtractError::new(ErrorKind::Corrupt, "not a MIME message"))?;
        let mut b = DocBuilder::new(Format::Email, limits.max_output_bytes);
        b.title = message
            .subject()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if let Some(from) = message.from().and_then(|a| a.first()) {
            let author = match (from.name(), from.address()) {
                (Some(name), Some(address)) => format!("{name} <{address}>"),
                (Some(name), None) => name.to_string(),
                (None, Some(address)) => address.to_string(),
                (None, None) => String::new(),
            };
            if !author.is_empty() {
                b.metadata.insert("author".into(), author);
            }
        }
        if let Some(date) = message.date() {
            b.metadata.insert("date".into(), date.to_rfc3339());
        }
        let mut doc = b.finish();

        // mail-parser lists, for each alternative, the HTML version among the HTML bodies
        // and falls back to the text version where there is no HTML one.
        let bodies: Vec<&MessagePart<'_>> = if message.html_body_count() > 0 {
            message.html_bodies().collect()
        } else {
            message.text_bodies().collect()
        };
        for part in bodies {
            deadline.check()?;
            append_body(&mut doc, part, limits, deadline)?;
        }

        let attachments = message
            .attachments()
            .filter(|part| {
                !part.content_type().is_some_and(|ct| {
                    matches!(
                        ct.ctype().to_ascii_lowercase().as_str(),
                        "image" | "audio" | "video"
                    )
                })
            })
            .take(MAX_ATTACHMENTS);
        for (i, part) in attachments.enumerate() {
            deadline.check()?;
            let name = match part.attachment_name() {
                Some(name) if !name.trim().is_empty() => name.trim().to_string(),
                // A forwarded message without a name: detection needs its extension.
                _ if part.is_message() => format!("message {}.eml", i + 1),
                _ => format!("attachment {}", i + 1),
            };
            crate::office::append_embedded(&mut doc, &name, part.contents(), limits, deadline);
        }
        Ok(doc)
    }
}

/// Appends one body part's text, within what is left of the output budget.
fn append_body(
    doc: &mut Extracted,
    part: &MessagePart<'_>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<(), ExtractError> {
    let budget = doc.output_room(limits);
    if budget == 0 {
        return Ok(());
    }
    match &part.body {
        PartType::Html(html) => {
            let child = Limits {
                max_output_bytes: budget,
                ..limits.clone()
            };
            // mail-parser has decoded the part to UTF-8 already, which the HTML extractor
            // takes as it is (a stale `<meta charset>` inside does not apply any more).
            match crate::html::HtmlExtractor.extract(
                html.as_bytes(),
                Format::Html,
                &child,
                deadline,
            ) {
                Ok(inner) => doc.sections.extend(inner.sections),
                Err(e) if e.kind == ErrorKind::Timeout => return Err(e),
                Err(e) => doc.warnings.push(crate::Warning {
                    code: "broken_part",
                    message: format!("an HTML body: {e}"),
                }),
            }
        }
        PartType::Text(text) => {
            let mut b = DocBuilder::new(Format::Email, budget);
            for paragraph in text.split("\n\n") {
                if !b.paragraph(paragraph) {
                    break;
                }
            }
            doc.sections.extend(b.finish().sections);
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(message: &str) -> Extracted {
        EmailExtractor
            .extract(
                message.replace('\n', "\r\n").as_bytes(),
                Format::Email,
                &Limits::default(),
                Deadline::after(Duration::from_secs(5)),
            )
            .expect("extracts")
    }

    #[test]
    fn a_message_gives_its_subject_sender_and_richer_body() {
        let doc = check(
            "From: Ana Lima <ana@example.com>\n\
             Subject: =?utf-8?q?Q3_budget_=E2=80=93_final?=\n\
             Date: Tue, 3 Mar 2026 10:00:00 +0000\n\
             MIME-Version: 1.0\n\
             Content-Type: multipart/alternative; boundary=\"b\"\n\
             \n\
             --b\n\
             Content-Type: text/plain; charset=utf-8\n\
             \n\
             Plain version.\n\
             --b\n\
             Content-Type: text/html; charset=windows-1252\n\
             Content-Transfer-Encoding: quoted-printable\n\
             \n\
             <html><body><p>Caf=E9 budget is <b>approved</b>.</p></body></html>\n\
             --b--\n",
        );
        assert_eq!(doc.title.as_deref(), Some("Q3 budget – final"));
        assert_eq!(
            doc.metadata.get("author").map(String::as_str),
            Some("Ana Lima <ana@example.com>")
        );
        assert_eq!(doc.text(), "Café budget is approved.");
    }

    #[test]
    fn attachments_are_extracted_and_pictures_left_out() {
        let doc = check(
            "Subject: Notes\n\
             MIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=\"m\"\n\
             \n\
             --m\n\
             Content-Type: text/plain\n\
             \n\
             See attached.\n\
             --m\n\
             Content-Type: text/csv; name=\"people.csv\"\n\
             Content-Disposition: attachment; filename=\"people.csv\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             bmFtZSxyb2xlCkFuYSxsZWFkCg==\n\
             --m\n\
             Content-Type: image/png; name=\"logo.png\"\n\
             Content-Disposition: attachment; filename=\"logo.png\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             iVBORw0KGgo=\n\
             --m--\n",
        );
        assert_eq!(doc.text(), "See attached.\n\nname | role\nAna | lead");
        assert_eq!(doc.sections[1].heading, ["people.csv"]);
        assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
    }

    #[test]
    fn text_that_is_not_a_message_is_corrupt() {
        let err = EmailExtractor
            .extract(
                b"just some words, no headers at all",
                Format::Email,
                &Limits::default(),
                Deadline::after(Duration::from_secs(5)),
            )
            .expect_err("not a message");
        assert_eq!(err.kind, ErrorKind::Corrupt);
    }
}
