//! Text in an Enhanced Metafile (EMF): the preview Office stores for an embedded or linked
//! object (`\x03EPRINT` in an OLE object storage). When the object itself holds no text we
//! can read (a link to a file elsewhere), its preview is the only copy of what it shows.
//!
//! An EMF is a sequence of records `(type: u32, size: u32, ...)`; text is drawn by
//! `EMR_EXTTEXTOUTW` (84), whose `EMRTEXT` at offset 36 gives a character count and the
//! offset (from the record start) of UTF-16LE characters. Bounded: every record must fit
//! in the input, and a record smaller than its header ends the walk.

const EMR_HEADER: u32 = 1;
const EMR_EOF: u32 = 14;
const EMR_EXTTEXTOUTW: u32 = 84;

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at.checked_add(4)?)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn i32_at(data: &[u8], at: usize) -> Option<i64> {
    u32_at(data, at).map(|v| i64::from(v as i32))
}

/// `ETO_PDY`: the advance array holds an (x, y) pair per character.
const ETO_PDY: u32 = 0x2000;

/// One `EMR_EXTTEXTOUTW` call: where it starts, what it draws and, when the record gives
/// per-character advances, where it ends and how wide its last character is.
struct Run {
    x: i64,
    y: i64,
    text: String,
    advance: Option<(i64, i64)>,
}

/// The lines an EMF draws, in drawing order, without private-use glyphs (Symbol-font
/// bullets) and blank lines. Empty when `data` is not an EMF. Runs drawn on the same
/// baseline, each starting where the one before ends (some writers, Mac Office among them,
/// draw every character as a call of its own), make one line; a gap wider than a third of
/// a character is a space — unless the picture draws its spaces itself, as such writers
/// do: then only a gap wider than a character is (letter-spaced headings have gaps too).
pub(crate) fn text(data: &[u8]) -> Vec<String> {
    let runs = runs(data);
    let explicit_spaces = runs.iter().any(|r| r.text == " ");
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    // Where the current line's last run ends and how wide its last character is.
    let mut cursor: Option<(i64, i64, i64)> = None;
    for run in runs {
        let joined = match (cursor, run.advance) {
            (Some((end, y, width)), Some(_)) if (run.y - y).abs() * 4 <= width.max(1) => {
                let gap = run.x - end;
                if gap < -width || gap > 40 * width.max(1) {
                    false
                } else {
                    let space = if explicit_spaces {
                        gap > width
                    } else {
                        gap * 3 > width
                    };
                    if space && !line.ends_with(' ') && !run.text.starts_with(' ') {
                        line.push(' ');
                    }
                    true
                }
            }
            _ => false,
        };
        if !joined {
            push_line(&mut out, &line);
            line.clear();
        }
        line.push_str(&run.text);
        cursor = run
            .advance
            .map(|(total, last)| (run.x + total, run.y, last.abs()));
    }
    push_line(&mut out, &line);
    out
}

fn push_line(out: &mut Vec<String>, line: &str) {
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if !line.is_empty() {
        out.push(line);
    }
}

/// The text runs of an EMF, in drawing order.
fn runs(data: &[u8]) -> Vec<Run> {
    let mut out = Vec::new();
    if u32_at(data, 0) != Some(EMR_HEADER) || data.get(40..44) != Some(b" EMF") {
        return out;
    }
    let mut pos = 0usize;
    while let (Some(kind), Some(size)) = (u32_at(data, pos), u32_at(data, pos + 4)) {
        let size = size as usize;
        let Some(end) = pos
            .checked_add(size)
            .filter(|&e| size >= 8 && e <= data.len())
        else {
            break;
        };
        if kind == EMR_EOF {
            break;
        }
        if kind == EMR_EXTTEXTOUTW
            && let (Some(chars), Some(offset)) = (u32_at(data, pos + 44), u32_at(data, pos + 48))
        {
            let record = &data[pos..end];
            let start = offset as usize;
            let stop = start.saturating_add((chars as usize).saturating_mul(2));
            if let Some(bytes) = record.get(start..stop.min(record.len())) {
                let text: String = crate::text::utf16le(bytes)
                    .chars()
                    .filter(|c| !('\u{E000}'..='\u{F8FF}').contains(c) && *c != '\0')
                    .collect();
                if !text.is_empty() {
                    out.push(Run {
                        x: i32_at(record, 36).unwrap_or(0),
                        y: i32_at(record, 40).unwrap_or(0),
                        advance: advance(record, chars as usize),
                        text,
                    });
                }
            }
        }
        pos = end;
    }
    out
}

/// The total advance of a text record's characters and the last one's, from its `offDx`
/// array; `None` when the record has none (or it does not fit).
fn advance(record: &[u8], chars: usize) -> Option<(i64, i64)> {
    let off_dx = u32_at(record, 72)? as usize;
    if off_dx == 0 || chars == 0 {
        return None;
    }
    let step = if u32_at(record, 52)? & ETO_PDY != 0 {
        8
    } else {
        4
    };
    let mut total = 0i64;
    let mut last = 0i64;
    for i in 0..chars {
        last = i32_at(record, off_dx.checked_add(i.checked_mul(step)?)?)?;
        total = total.saturating_add(last);
    }
    Some((total, last))
}

/// An EMF that draws `lines`, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn sample(lines: &[&str]) -> Vec<u8> {
    let mut header = vec![0u8; 80];
    header[32..36].copy_from_slice(b" EMF");
    let mut emf = tests::record(EMR_HEADER, &header);
    for line in lines {
        emf.extend(tests::text_record(line));
    }
    emf.extend(tests::record(EMR_EOF, &[0u8; 12]));
    emf
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn record(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut r = kind.to_le_bytes().to_vec();
        r.extend_from_slice(&((body.len() + 8) as u32).to_le_bytes());
        r.extend_from_slice(body);
        r
    }

    pub(super) fn text_record(s: &str) -> Vec<u8> {
        // Each string on a line of its own, without advances.
        positioned(s, 0, 100 * s.len() as i32, None)
    }

    /// A text record drawing `s` at (`x`, `y`), with every character `dx` wide if given.
    fn positioned(s: &str, x: i32, y: i32, dx: Option<i32>) -> Vec<u8> {
        let units: Vec<u16> = s.encode_utf16().collect();
        let chars: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
        // Bounds, graphics mode, scales (28 bytes), then EMRTEXT: reference point (8),
        // chars, offString (from the record start), options, rectangle, offDx.
        let mut body = vec![0u8; 28];
        body.extend_from_slice(&x.to_le_bytes());
        body.extend_from_slice(&y.to_le_bytes());
        body.extend_from_slice(&(units.len() as u32).to_le_bytes());
        body.extend_from_slice(&76u32.to_le_bytes());
        body.resize(64, 0);
        let off_dx = 76 + chars.len().next_multiple_of(4);
        let off_dx = if dx.is_some() { off_dx as u32 } else { 0 };
        body.extend_from_slice(&off_dx.to_le_bytes());
        body.resize(68, 0);
        body.extend_from_slice(&chars);
        body.resize(68 + chars.len().next_multiple_of(4), 0);
        if let Some(dx) = dx {
            for _ in &units {
                body.extend_from_slice(&dx.to_le_bytes());
            }
        }
        record(EMR_EXTTEXTOUTW, &body)
    }

    #[test]
    fn characters_drawn_one_by_one_make_words_and_lines() {
        let mut header = vec![0u8; 80];
        header[32..36].copy_from_slice(b" EMF");
        let mut emf = record(EMR_HEADER, &header);
        // "Tika" one glyph at a time, a drawn space, "is", a gap of two characters, "ok";
        // then a line below.
        let mut x = 100;
        for c in ["T", "i", "k", "a", " ", "i", "s"] {
            emf.extend(positioned(c, x, 50, Some(60)));
            x += 60;
        }
        emf.extend(positioned("ok", x + 120, 50, Some(60)));
        emf.extend(positioned("Next", 100, 130, Some(60)));
        // Back to the left on the same baseline: a new line, not a join.
        emf.extend(positioned("again", 100, 130, Some(60)));
        emf.extend(record(EMR_EOF, &[0u8; 12]));
        assert_eq!(text(&emf), ["Tika is ok", "Next", "again"]);

        // Without drawn spaces, a gap of half a character is a space.
        let mut emf = record(EMR_HEADER, &header);
        emf.extend(positioned("Tika", 100, 50, Some(60)));
        emf.extend(positioned("is", 370, 50, Some(60)));
        emf.extend(record(EMR_EOF, &[0u8; 12]));
        assert_eq!(text(&emf), ["Tika is"]);
        // With them, a letter-spaced heading (gaps of half a character) stays one word.
        let mut emf = record(EMR_HEADER, &header);
        let mut x = 100;
        for c in ["L", "o", "g", " ", "N", "e", "w", "s"] {
            emf.extend(positioned(c, x, 50, Some(60)));
            x += 90;
        }
        emf.extend(record(EMR_EOF, &[0u8; 12]));
        assert_eq!(text(&emf), ["Log News"]);
    }

    #[test]
    fn text_records_come_out_in_order_without_symbol_glyphs() {
        let mut emf = sample(&["Objectives", "\u{F0A7}", "list the packages"]);
        emf.extend(text_record("after the end"));
        assert_eq!(text(&emf), ["Objectives", "list the packages"]);
        // Not an EMF, or a record that claims more than there is: nothing, no panic.
        assert!(text(b"not an emf at all, not even close to one...").is_empty());
        let mut cut = emf.clone();
        cut.truncate(200); // inside the second text record
        assert_eq!(text(&cut), ["Objectives"]);
    }
}
