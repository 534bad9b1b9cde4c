//! Character decoding and the plain-text extractor.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

/// True when the bytes look like binary data rather than text in some encoding: NUL bytes
/// (outside UTF-16) or many control characters in the first few kilobytes.
pub(crate) fn looks_binary(input: &[u8]) -> bool {
    let head = &input[..input.len().min(8192)];
    if head.is_empty()
        || utf16_without_bom(head).is_some()
        || Encoding::for_bom(head).is_some()
        || utf32_order(head).is_some()
    {
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

/// UTF-32's byte order (big-endian `true`) and BOM length, by its BOM or, without one, by
/// text whose first characters are all ASCII four bytes wide (`<\0\0\0`): XML allows
/// UTF-32 and a few exporters write it. encoding_rs does not decode it (the WHATWG
/// standard has no UTF-32), and its UTF-16LE BOM is UTF-32LE's first half.
fn utf32_order(head: &[u8]) -> Option<(bool, usize)> {
    match head {
        [0, 0, 0xFE, 0xFF, ..] => Some((true, 4)),
        [0xFF, 0xFE, 0, 0, ..] => Some((false, 4)),
        _ if head.len() >= 16 => {
            let units = &head[..16];
            if units
                .chunks(4)
                .all(|u| u[..3] == [0, 0, 0] && u[3].is_ascii() && u[3] != 0)
            {
                Some((true, 0))
            } else if units
                .chunks(4)
                .all(|u| u[1..] == [0, 0, 0] && u[0].is_ascii() && u[0] != 0)
            {
                Some((false, 0))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// UTF-32 as text: a trailing partial unit and values that are no character become U+FFFD.
fn utf32(bytes: &[u8], big_endian: bool) -> String {
    let mut out: String = bytes
        .chunks_exact(4)
        .map(|u| {
            let unit = [u[0], u[1], u[2], u[3]];
            let value = if big_endian {
                u32::from_be_bytes(unit)
            } else {
                u32::from_le_bytes(unit)
            };
            char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .collect();
    if !bytes.len().is_multiple_of(4) {
        out.push(char::REPLACEMENT_CHARACTER);
    }
    out
}

/// Decodes text of unknown encoding: a BOM decides; then valid UTF-8; then BOM-less UTF-16;
/// then a statistical guess (chardetng, which handles windows-1252 and friends). Binary
/// content is refused as [`ErrorKind::Unsupported`]. Returns the text and the encoding name.
pub fn decode_text(input: &[u8]) -> Result<(String, &'static str), ExtractError> {
    if let Some((big_endian, bom_len)) = utf32_order(input) {
        let name = if big_endian { "UTF-32BE" } else { "UTF-32LE" };
        return Ok((utf32(&input[bom_len..], big_endian), name));
    }
    if let Some((encoding, bom_len)) = Encoding::for_bom(input) {
        let (text, _) = encoding.decode_without_bom_handling(&input[bom_len..]);
        return Ok((text.into_owned(), encoding.name()));
    }
    // Before the UTF-8 check: ASCII in UTF-16 is also valid (NUL-riddled) UTF-8.
    if let Some(encoding) = utf16_without_bom(&input[..input.len().min(8192)]) {
        let (text, _) = encoding.decode_without_bom_handling(input);
        return Ok((text.into_owned(), encoding.name()));
    }
    // ISO-2022-JP (RFC 1468; Japanese mail and older text) is seven-bit, so valid UTF-8
    // too: its escape into JIS X 0208 (`ESC $ B`, `ESC $ @`) says what it is.
    if input.is_ascii() && input.windows(3).any(|w| w == b"\x1b$B" || w == b"\x1b$@") {
        let (text, _) = encoding_rs::ISO_2022_JP.decode_without_bom_handling(input);
        return Ok((text.into_owned(), encoding_rs::ISO_2022_JP.name()));
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
    fn utf32_decodes_by_its_bom_or_its_wide_ascii() {
        let utf32le: Vec<u8> = "\u{feff}<t>héllo 𝄞</t>"
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        assert_eq!(
            decode_text(&utf32le).expect("utf32 bom"),
            ("<t>héllo 𝄞</t>".into(), "UTF-32LE")
        );
        let utf32be: Vec<u8> = "<?xml version=\"1.0\"?><t>x</t>"
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        assert_eq!(decode_text(&utf32be).expect("utf32 no bom").1, "UTF-32BE");
    }

    #[test]
    fn iso_2022_jp_is_told_by_its_escapes() {
        let (text, encoding) = decode_text(b"\x1b$BF|K\\\x1b(B text").expect("iso-2022-jp");
        assert_eq!((text.as_str(), encoding), ("日本 text", "ISO-2022-JP"));
        assert_eq!(decode_text(b"plain $B text").expect("ascii").1, "UTF-8");
    }

    #[test]
    fn binary_is_refused() {
        let err = decode_text(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00")
            .expect_err("binary");
        assert_eq!(err.kind, ErrorKind::Unsupported);
    }
}
