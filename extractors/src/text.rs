//! Character decoding and the plain-text extractor.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

/// True when the bytes look like binary data rather than text in some encoding: NUL bytes
/// (outside UTF-16) or many control characters in the first few kilobytes.
pub(crate) fn looks_binary(input: &[u8]) -> bool {
    let head = &input[..input.len().min(8192)];
    if head.is_empty() || utf16_without_bom(head).is_some() || Encoding::for_bom(head).is_some() {
        return false;
    }
    if head.contains(&0) {
        return true;
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0C))
        .count();
    control * 20 > head.len()
}

/// Recognises BOM-less UTF-16 by its NUL bytes at every other position (ASCII-heavy text).
fn utf16_without_bom(head: &[u8]) -> Option<&'static Encoding> {
    if head.len() < 16 {
        return None;
    }
    let pairs = head.len() / 2;
    let even_nul = head.iter().step_by(2).filter(|&&b| b == 0).count();
    let odd_nul = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    if odd_nul * 10 > pairs * 7 && even_nul * 10 < pairs {
        Some(UTF_16LE)
    } else if even_nul * 10 > pairs * 7 && odd_nul * 10 < pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Decodes text of unknown encoding: a BOM decides; then valid UTF-8; then BOM-less UTF-16;
/// then a statistical guess (chardetng, which handles windows-1252 and friends). Binary
/// content is refused as [`ErrorKind::Unsupported`]. Returns the text and the encoding name.
pub fn decode_text(input: &[u8]) -> Result<(String, &'static str), ExtractError> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(input) {
        let (text, _) = encoding.decode_without_bom_handling(&input[bom_len..]);
        return Ok((text.into_owned(), encoding.name()));
    }
    // Before the UTF-8 check: ASCII in UTF-16 is also valid (NUL-riddled) UTF-8.
    if let Some(encoding) = utf16_without_bom(&input[..input.len().min(8192)]) {
        let (text, _) = encoding.decode_without_bom_handling(input);
        return Ok((text.into_owned(), encoding.name()));
    }
    if let Ok(text) = std::str::from_utf8(input) {
        if looks_binary(input) {
            return Err(binary());
        }
        return Ok((text.to_string(), UTF_8.name()));
    }
    if looks_binary(input) {
        return Err(binary());
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(input, true);
    let encoding = detector.guess(None, chardetng::Utf8Detection::Allow);
    let (text, _, _) = encoding.decode(input);
    Ok((text.into_owned(), encoding.name()))
}

/// UTF-16LE bytes as text (legacy Office stores text this way); a trailing odd byte and
/// unpaired surrogates become U+FFFD instead of an error.
pub(crate) fn utf16le(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

fn binary() -> ExtractError {
    ExtractError::new(ErrorKind::Unsupported, "content is binary, not text")
}

/// Plain text: paragraphs as they are.
#[derive(Debug)]
pub(crate) struct TextExtractor;

impl Extractor for TextExtractor {
    fn formats(&self) -> &'static [Format] {
        &[Format::Text]
    }

    fn extract(
        &self,
        input: &[u8],
        format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        let (text, encoding) = decode_text(input)?;
        let mut b = DocBuilder::new(format, limits.max_output_bytes);
        b.metadata.insert("encoding".into(), encoding.into());
        for (i, line) in text.lines().enumerate() {
            if i % 4096 == 0 {
                deadline.check()?;
            }
            b.push(line.trim_end());
            b.line_break();
            if b.is_full() {
                break;
            }
        }
        Ok(b.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_boms_utf8_utf16_and_cp1252() {
        assert_eq!(decode_text(b"\xEF\xBB\xBFhi").expect("utf8 bom").0, "hi");
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("héllo".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(decode_text(&utf16le).expect("utf16 bom").0, "héllo");
        let bomless: Vec<u8> = "plain ascii text, long enough"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(
            decode_text(&bomless).expect("utf16 no bom").0,
            "plain ascii text, long enough"
        );
        // "café – naïve" in windows-1252.
        let cp1252 = b"caf\xE9 \x96 na\xEFve and more words to guess from";
        let (text, enc) = decode_text(cp1252).expect("cp1252");
        assert!(text.starts_with("café – naïve"), "{text} ({enc})");
    }

    #[test]
    fn binary_is_refused() {
        let err = decode_text(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00")
            .expect_err("binary");
        assert_eq!(err.kind, ErrorKind::Unsupported);
    }
}
