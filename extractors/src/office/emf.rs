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

/// The strings an EMF draws, in drawing order, without private-use glyphs (Symbol-font
/// bullets) and blank runs. Empty when `data` is not an EMF.
pub(crate) fn text(data: &[u8]) -> Vec<String> {
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
            let start = pos.saturating_add(offset as usize);
            let stop = start.saturating_add((chars as usize).saturating_mul(2));
            if let Some(bytes) = data.get(start..stop.min(end)) {
                let s: String = crate::text::utf16le(bytes)
                    .chars()
                    .filter(|c| !('\u{E000}'..='\u{F8FF}').contains(c) && *c != '\0')
                    .collect();
                let s = s.trim();
                if !s.is_empty() {
                    out.push(s.to_string());
                }
            }
        }
        pos = end;
    }
    out
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
        let chars: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        // Bounds, graphics mode, scales (28 bytes), then EMRTEXT: reference point (8),
        // chars, offset (from the record start, after the 8-byte record header), ...
        let mut body = vec![0u8; 28];
        body.extend_from_slice(&[0u8; 8]);
        body.extend_from_slice(&(s.encode_utf16().count() as u32).to_le_bytes());
        body.extend_from_slice(&76u32.to_le_bytes());
        body.resize(68, 0);
        body.extend_from_slice(&chars);
        record(EMR_EXTTEXTOUTW, &body)
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
