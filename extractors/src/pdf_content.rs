//! Reading a page's content stream into operations: strictly where it parses, as far as it
//! goes where it is damaged, and in pieces cut between operations where it is long.

use lopdf::content::Content;

use crate::pdf_repair::{Lexeme, lexemes};

/// The first place at or after `from` where `content` may be cut between two operations:
/// just after an operator at the outermost level, outside any string, array, dictionary,
/// comment or inline image. `None` when there is none (the rest is one piece).
pub(crate) fn operation_boundary(content: &[u8], from: usize) -> Option<usize> {
    let mut nesting = 0usize;
    for (lexeme, range) in lexemes(content) {
        match lexeme {
            Lexeme::ArrayOpen | Lexeme::DictOpen => nesting += 1,
            Lexeme::ArrayClose | Lexeme::DictClose => nesting = nesting.saturating_sub(1),
            Lexeme::Operator if nesting == 0 && range.end >= from => return Some(range.end),
            _ => {}
        }
    }
    None
}

/// The operations of a content stream. A damaged one is read as far as it can be:
/// - lopdf's lenient parser silently stops at the first thing it cannot parse, so the whole
///   stream is first parsed strictly;
/// - operators standing inside an array (`[(a) 0 Tc (b)] TJ`, which pdf.js and poppler read
///   through) are blanked out, and the stream parsed strictly again;
/// - else the operations before the damage are kept: the lenient parse, or when even that
///   fails (cut short, garbage after a broken filter), the longest prefix ending at a text
///   object's `ET` that parses, found by bisection over those ends (a few dozen parses at
///   most).
pub(crate) fn decode_content(content: &[u8]) -> Option<Content> {
    if let Ok(c) = Content::decode_strict(content) {
        return Some(c);
    }
    if let Some(c) = crate::pdf_repair::blank_operators_in_arrays(content)
        .and_then(|r| Content::decode_strict(&r).ok())
    {
        return Some(c);
    }
    if let Ok(c) = Content::decode(content) {
        return Some(c);
    }
    let ends: Vec<usize> = content
        .windows(4)
        .enumerate()
        .filter(|(_, w)| {
            w[0].is_ascii_whitespace() && &w[1..3] == b"ET" && w[3].is_ascii_whitespace()
        })
        .map(|(i, _)| i + 3)
        .collect();
    let (mut lo, mut hi) = (0usize, ends.len());
    let mut best = None;
    // Invariant: prefixes up to ends[..lo] are known to parse when best is set.
    while lo < hi {
        let mid = (lo + hi) / 2;
        match Content::decode(&content[..ends[mid]]) {
            Ok(c) => {
                best = Some(c);
                lo = mid + 1;
            }
            Err(_) => hi = mid,
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_cut_only_after_an_operator_at_the_outermost_level() {
        let content: &[u8] =
            b"1 0 0 1 0 0 cm (a ET b) Tj [(x) 5] TJ /Name << /K [1] >> BDC BI /W 1 ID \x00 ET EI Q";
        let after = |op: &[u8]| {
            let at = content
                .windows(op.len())
                .rposition(|w| w == op)
                .expect("op");
            Some(at + op.len())
        };
        assert_eq!(operation_boundary(content, 0), after(b"cm"));
        assert_eq!(operation_boundary(content, 15), after(b"Tj"));
        assert_eq!(operation_boundary(content, 28), after(b"TJ"));
        assert_eq!(operation_boundary(content, 40), after(b"BDC"));
        assert_eq!(operation_boundary(content, 70), after(b"Q"));
        assert_eq!(operation_boundary(b"(open string Tj", 0), None);
    }
}
