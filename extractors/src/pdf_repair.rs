//! Repairs for damage that poppler and pdf.js read through and lopdf does not: a stream
//! whose dictionary has no usable `/Length`, and a content stream with operators where only
//! operands may stand (inside an array). Both leave a page blank when they are not repaired.

use std::ops::Range;

use lopdf::{Document, Object};

/// The most bytes searched for a stream's `endstream` when its `/Length` is missing.
const MAX_STREAM_SCAN: usize = 64 << 20;

/// The most bytes searched, and copied, for all of a file's unsized streams together, as a
/// multiple of the file's size: a hostile file of many `stream` keywords and one distant
/// `endstream` would otherwise make each of them scan and copy the rest of the file.
const SCAN_BUDGET_PER_INPUT_BYTE: usize = 2;

/// Gives every stream whose `/Length` is missing or unusable the bytes up to its
/// `endstream`, as poppler does. lopdf keeps such a stream with no content (and logs that
/// its `Length` is missing), so a page whose content stream it is reads as blank.
///
/// The data ends at the first `endstream` after the `stream` keyword, less the end of line
/// before it; a stream with no `endstream` within reach keeps no content.
pub(crate) fn recover_unsized_streams(doc: &mut Document, input: &[u8]) {
    let mut budget = input.len().saturating_mul(SCAN_BUDGET_PER_INPUT_BYTE);
    for object in doc.objects.values_mut() {
        let Object::Stream(stream) = object else {
            continue;
        };
        let Some(start) = stream.start_position else {
            continue;
        };
        if !stream.content.is_empty() || start >= input.len() {
            continue;
        }
        let reach = MAX_STREAM_SCAN.min(budget);
        let rest = &input[start..input.len().min(start.saturating_add(reach))];
        let found = find(rest, b"endstream");
        // What was scanned, and what will be copied, comes out of the budget.
        budget = budget.saturating_sub(found.map_or(rest.len(), |end| end.saturating_mul(2)));
        let Some(end) = found else {
            if budget == 0 {
                return;
            }
            continue;
        };
        let data = &rest[..end];
        let data = data
            .strip_suffix(b"\r\n")
            .or_else(|| data.strip_suffix(b"\n"))
            .or_else(|| data.strip_suffix(b"\r"))
            .unwrap_or(data);
        if !data.is_empty() {
            stream.set_content(data.to_vec());
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `content` with every operator that stands inside an array blanked out, or `None` when
/// there is none. Some producers write `[(Grandes) 0 Tc -250 (Clientèles)] TJ`: pdf.js and
/// poppler show the strings, lopdf's parser rejects the whole stream. Blanking the
/// operator keeps its operands in the array, where a number is a kerning adjustment of that
/// many thousandths of an em: the text is the same.
pub(crate) fn blank_operators_in_arrays(content: &[u8]) -> Option<Vec<u8>> {
    let mut out = content.to_vec();
    let mut depth = 0usize;
    let mut changed = false;
    for (lexeme, range) in lexemes(content) {
        match lexeme {
            Lexeme::ArrayOpen => depth += 1,
            Lexeme::ArrayClose => depth = depth.saturating_sub(1),
            Lexeme::Operator if depth > 0 => {
                out[range].fill(b' ');
                changed = true;
            }
            _ => {}
        }
    }
    changed.then_some(out)
}

/// What a token of a content stream is, as the repairs and the piece cutter read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lexeme {
    /// `[`.
    ArrayOpen,
    /// `]`.
    ArrayClose,
    /// `<<` or `{`.
    DictOpen,
    /// `>>` or `}`.
    DictClose,
    /// A bare word that is no value: `Tj`, `cm`, `'` (not `true`, `false`, `null`).
    Operator,
    /// An inline image: `BI`, its dictionary and data, through the `EI` standing alone
    /// after them (or the end of the stream).
    InlineImage,
    /// A number, name, string, value word or comment, or a stray `)` or `>`.
    Other,
}

/// The tokens of a content stream, each with the bytes it covers; white space between them
/// is skipped.
pub(crate) fn lexemes(content: &[u8]) -> impl Iterator<Item = (Lexeme, Range<usize>)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < content.len() && (content[i].is_ascii_whitespace() || content[i] == 0) {
            i += 1;
        }
        let start = i;
        let next = content.get(i + 1).copied();
        let lexeme = match *content.get(i)? {
            b'%' => {
                while i < content.len() && !matches!(content[i], b'\r' | b'\n') {
                    i += 1;
                }
                Lexeme::Other
            }
            b'(' => {
                i = skip_string(content, i);
                Lexeme::Other
            }
            b'<' if next == Some(b'<') => {
                i += 2;
                Lexeme::DictOpen
            }
            b'>' if next == Some(b'>') => {
                i += 2;
                Lexeme::DictClose
            }
            b'<' => {
                i = content[i..]
                    .iter()
                    .position(|&b| b == b'>')
                    .map_or(content.len(), |end| i + end + 1);
                Lexeme::Other
            }
            one @ (b'[' | b']' | b'{' | b'}' | b')' | b'>') => {
                i += 1;
                match one {
                    b'[' => Lexeme::ArrayOpen,
                    b']' => Lexeme::ArrayClose,
                    b'{' => Lexeme::DictOpen,
                    b'}' => Lexeme::DictClose,
                    _ => Lexeme::Other, // a stray `)` or `>`
                }
            }
            b'/' => {
                i = token_end(content, i + 1);
                Lexeme::Other
            }
            first => {
                i = token_end(content, i + 1);
                let word = &content[start..i];
                if word == b"BI" {
                    i = content[i..]
                        .windows(4)
                        .position(|w| {
                            w[0].is_ascii_whitespace() && &w[1..3] == b"EI" && token_end(w, 3) == 3
                        })
                        .map_or(content.len(), |at| i + at + 3);
                    Lexeme::InlineImage
                } else if (first.is_ascii_alphabetic() || matches!(first, b'\'' | b'"'))
                    && !matches!(word, b"true" | b"false" | b"null")
                {
                    Lexeme::Operator
                } else {
                    Lexeme::Other
                }
            }
        };
        Some((lexeme, start..i))
    })
}

/// The index just past the literal string that opens at `start` (balanced parentheses,
/// backslash escapes), or the end of `content` when it never closes.
fn skip_string(content: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < content.len() {
        match content[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    content.len()
}

/// The index of the first delimiter or white-space byte at or after `from`.
fn token_end(content: &[u8], from: usize) -> usize {
    let regular = |c: u8| !c.is_ascii_whitespace() && c != 0 && !b"()<>[]{}/%".contains(&c);
    content[from.min(content.len())..]
        .iter()
        .position(|&c| !regular(c))
        .map_or(content.len(), |n| from + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(content: &str, expected: Option<&str>) {
        let got = blank_operators_in_arrays(content.as_bytes());
        assert_eq!(
            got.as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            expected.map(str::to_owned)
        );
    }

    #[test]
    fn operators_inside_an_array_are_blanked_and_nothing_else_is() {
        check(
            "[(Grandes) 0.0 Tc -250 (et)] TJ",
            Some("[(Grandes) 0.0    -250 (et)] TJ"),
        );
        check("[(a) -20 (b)] TJ /F1 9 Tf", None);
        check("[(x]Tc) true /N <41> null] TJ", None);
        check("[(a) 1 0 0 1 0 0 cm] TJ", Some("[(a) 1 0 0 1 0 0   ] TJ"));
    }

    #[test]
    fn a_stream_without_a_length_gets_the_bytes_up_to_its_endstream() {
        let pdf = b"%PDF-1.3\n1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n\
2 0 obj\n<</Type/Pages/Kids[3 0 R]/Count 1>>\nendobj\n\
3 0 obj\n<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R>>\nendobj\n\
4 0 obj\n<< >>\nstream\nBT (hi) Tj ET\nendstream\nendobj\n\
trailer\n<</Root 1 0 R/Size 5>>\n%%EOF\n";
        let mut doc = Document::load_mem(pdf).expect("loads");
        let content = |doc: &Document| {
            doc.get_object((4, 0))
                .and_then(lopdf::Object::as_stream)
                .map(|s| s.content.clone())
                .expect("object 4 is a stream")
        };
        assert!(content(&doc).is_empty(), "lopdf leaves it empty");
        recover_unsized_streams(&mut doc, pdf);
        assert_eq!(content(&doc), b"BT (hi) Tj ET");
    }

    #[test]
    fn many_unsized_streams_share_one_bounded_budget() {
        // 2,000 objects whose streams all end at one `endstream` 200 KB on: each would
        // copy the 200 KB (400 MB in all) without the budget.
        let mut pdf = b"%PDF-1.3\n".to_vec();
        let mut offsets = Vec::new();
        for i in 1..=2000 {
            offsets.push(pdf.len());
            pdf.extend_from_slice(format!("{i} 0 obj\n<< >>\nstream\n").as_bytes());
        }
        pdf.extend(std::iter::repeat_n(b'x', 200_000));
        pdf.extend_from_slice(b"\nendstream\nendobj\n");
        let mut doc = Document::new();
        for (i, _) in offsets.iter().enumerate() {
            let mut stream =
                lopdf::Stream::with_position(lopdf::Dictionary::new(), offsets[i] + 20);
            stream.content.clear();
            doc.objects
                .insert((i as u32 + 1, 0), Object::Stream(stream));
        }
        recover_unsized_streams(&mut doc, &pdf);
        let copied: usize = doc
            .objects
            .values()
            .filter_map(|o| o.as_stream().ok())
            .map(|s| s.content.len())
            .sum();
        assert!(copied > 0, "the first streams are recovered");
        assert!(
            copied <= 2 * pdf.len(),
            "copied {copied} bytes of a {} byte file",
            pdf.len()
        );
    }
}
