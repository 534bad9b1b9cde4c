//! A tolerant ToUnicode CMap reader, tried before lopdf's (which is strict about syntax and
//! codespace ranges that real producers get wrong). Reads `bfchar` and `bfrange` sections;
//! destination strings are UTF-16BE and may hold several characters (ligatures).

use std::collections::HashMap;
use std::sync::OnceLock;

use hayro_cmap::{BfString, CMap, CMapName};

/// Code → text, plus the code length in bytes (from the codespace or the codes seen).
#[derive(Debug, Clone, Default)]
pub(crate) struct ToUnicode {
    map: HashMap<u32, String>,
    code_len: usize,
}

#[derive(Debug, PartialEq)]
enum Token {
    Hex(Vec<u8>),
    Open,
    Close,
    Word(String),
}

fn tokens(data: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'<' => {
                let end = data[i + 1..]
                    .iter()
                    .position(|&b| b == b'>')
                    .map_or(data.len(), |p| i + 1 + p);
                let digits: Vec<u8> = data[i + 1..end]
                    .iter()
                    .copied()
                    .filter(u8::is_ascii_hexdigit)
                    .collect();
                let bytes = digits
                    .chunks(2)
                    .map(|pair| {
                        let hi = (pair[0] as char).to_digit(16).unwrap_or(0) as u8;
                        let lo = pair
                            .get(1)
                            .and_then(|c| (*c as char).to_digit(16))
                            .unwrap_or(0) as u8;
                        hi << 4 | lo
                    })
                    .collect();
                out.push(Token::Hex(bytes));
                i = end + 1;
            }
            b'[' => {
                out.push(Token::Open);
                i += 1;
            }
            b']' => {
                out.push(Token::Close);
                i += 1;
            }
            b'%' => {
                i += data[i..]
                    .iter()
                    .position(|&b| b == b'\n' || b == b'\r')
                    .unwrap_or(data.len() - i);
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                let end = data[i..]
                    .iter()
                    .position(|&b| {
                        b.is_ascii_whitespace() || matches!(b, b'<' | b'[' | b']' | b'%')
                    })
                    .map_or(data.len(), |p| i + p);
                out.push(Token::Word(
                    String::from_utf8_lossy(&data[i..end]).into_owned(),
                ));
                i = end.max(i + 1);
            }
        }
    }
    out
}

fn code(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0u32, |acc, &b| acc << 8 | u32::from(b))
}

/// UTF-16BE units; an odd trailing byte is padded with zero.
fn units(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
        .collect()
}

fn utf16(bytes: &[u8]) -> String {
    String::from_utf16_lossy(&units(bytes))
}

/// Adds `offset` to the last UTF-16 unit of a destination (how `bfrange` counts up).
fn offset_utf16(bytes: &[u8], offset: u32) -> String {
    let mut units = units(bytes);
    if let Some(last) = units.last_mut() {
        *last = last.wrapping_add(offset as u16);
    }
    String::from_utf16_lossy(&units)
}

/// At most this many codes from one range (a hostile range could span 2^32 codes).
const MAX_RANGE: u32 = 65_536;

impl ToUnicode {
    /// Parses the decompressed CMap stream; `None` if it maps nothing.
    pub(crate) fn parse(data: &[u8]) -> Option<ToUnicode> {
        let toks = tokens(data);
        let mut map = HashMap::new();
        // The codespace decides the code length; the codes seen only when it is missing.
        let mut codespace_len = 0usize;
        let mut code_len = 0usize;
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Token::Word(w) if w == "begincodespacerange" => {
                    if let Some(Token::Hex(lo)) = toks.get(i + 1)
                        && codespace_len == 0
                    {
                        codespace_len = lo.len();
                    }
                    i += 1;
                }
                Token::Word(w) if w == "beginbfchar" => {
                    i += 1;
                    while let (Some(Token::Hex(src)), Some(Token::Hex(dst))) =
                        (toks.get(i), toks.get(i + 1))
                    {
                        code_len = code_len.max(src.len());
                        map.insert(code(src), utf16(dst));
                        i += 2;
                    }
                }
                Token::Word(w) if w == "beginbfrange" => {
                    i += 1;
                    while let (Some(Token::Hex(lo)), Some(Token::Hex(hi))) =
                        (toks.get(i), toks.get(i + 1))
                    {
                        code_len = code_len.max(lo.len());
                        let (lo_c, hi_c) = (code(lo), code(hi));
                        let count = hi_c.saturating_sub(lo_c).min(MAX_RANGE);
                        match toks.get(i + 2) {
                            Some(Token::Hex(dst)) => {
                                for k in 0..=count {
                                    map.insert(lo_c + k, offset_utf16(dst, k));
                                }
                                i += 3;
                            }
                            Some(Token::Open) => {
                                let mut j = i + 3;
                                let mut k = 0;
                                while let Some(Token::Hex(dst)) = toks.get(j) {
                                    if k <= count {
                                        map.insert(lo_c + k, utf16(dst));
                                    }
                                    k += 1;
                                    j += 1;
                                }
                                i = j + 1; // past ']'
                            }
                            _ => break,
                        }
                    }
                }
                _ => i += 1,
            }
        }
        if map.is_empty() {
            return None;
        }
        let code_len = if codespace_len > 0 {
            codespace_len
        } else {
            code_len
        };
        Some(ToUnicode {
            map,
            code_len: code_len.clamp(1, 4),
        })
    }

    /// Forces one-byte codes (simple fonts always use them, whatever the CMap claims).
    pub(crate) fn single_byte(mut self) -> Self {
        self.code_len = 1;
        self
    }

    /// Forces two-byte codes: a composite font encoded `Identity-H` or `Identity-V` shows
    /// two bytes a glyph, whatever codespace its ToUnicode declares (Acrobat writes
    /// `<00> <FF>` first, beside `<0100> <FFFF>`).
    pub(crate) fn double_byte(mut self) -> Self {
        self.code_len = 2;
        self
    }

    /// Decodes a shown string: fixed-length codes; unmapped codes are dropped.
    pub(crate) fn decode(&self, bytes: &[u8]) -> String {
        bytes
            .chunks(self.code_len)
            .filter_map(|c| self.map.get(&code(c)))
            .map(String::as_str)
            .collect()
    }

    /// [`ToUnicode::decode`], with the codes the CMap leaves out decoded by `otherwise`.
    pub(crate) fn decode_or(&self, bytes: &[u8], otherwise: impl Fn(&[u8]) -> String) -> String {
        let mut out = String::new();
        for c in bytes.chunks(self.code_len) {
            match self.map.get(&code(c)) {
                Some(text) => out.push_str(text),
                None => out.push_str(&otherwise(c)),
            }
        }
        out
    }
}

/// The CID → Unicode map of one of Adobe's CJK character collections (`Japan1`, `GB1`,
/// `CNS1`, `Korea1`), as poppler reads it from poppler-data; the maps ship inside
/// hayro-cmap and are parsed once per process.
pub(crate) fn collection_map(ordering: &[u8]) -> Option<&'static CMap> {
    static MAPS: [OnceLock<Option<CMap>>; 4] = [const { OnceLock::new() }; 4];
    let (slot, name) = match ordering {
        b"Japan1" => (0, CMapName::AdobeJapan1Ucs2),
        b"GB1" => (1, CMapName::AdobeGb1Ucs2),
        b"CNS1" => (2, CMapName::AdobeCns1Ucs2),
        b"Korea1" => (3, CMapName::AdobeKorea1Ucs2),
        _ => return None,
    };
    MAPS[slot]
        .get_or_init(|| CMap::parse(hayro_cmap::load_embedded(name)?, hayro_cmap::load_embedded))
        .as_ref()
}

/// The collection a ToUnicode CMap builds on (`/Adobe-Korea1-UCS2 usecmap`): the codes it
/// does not map itself are CIDs of that collection.
pub(crate) fn used_collection(data: &[u8]) -> Option<&'static CMap> {
    let at = data.windows(7).position(|w| w == b"usecmap")?;
    let before = String::from_utf8_lossy(&data[at.saturating_sub(64)..at]);
    let name = before.split_ascii_whitespace().last()?.strip_prefix('/')?;
    let ordering = name.strip_prefix("Adobe-")?.strip_suffix("-UCS2")?;
    collection_map(ordering.as_bytes())
}

/// The text of one CID of a collection, appended to `out`.
pub(crate) fn push_cid_text(map: &CMap, cid: u16, out: &mut String) {
    match map.lookup_bf_string(u32::from(cid)) {
        Some(BfString::Char(c)) => out.push(c),
        Some(BfString::String(s)) => out.push_str(&s),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codespace_written_as_a_numeric_range_still_maps_every_code() {
        // Strictly, <0003> <0372> allows low bytes 03..72 only; producers mean 0x0003..0x0372.
        let cmap = b"1 begincodespacerange <0003> <0372> endcodespacerange
            1 beginbfchar <0003> <0020> endbfchar
            2 beginbfrange <0004> <001D> <0041> <00B7> <00D0> <0061> endbfrange";
        let map = ToUnicode::parse(cmap).expect("parses");
        assert_eq!(
            map.decode(&[0x00, 0x18, 0x00, 0xC9, 0x00, 0x03, 0x00, 0x04]),
            "Us A"
        );
    }

    #[test]
    fn bfchar_bfrange_and_arrays() {
        let cmap = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap
            1 begincodespacerange <0000> <FFFF> endcodespacerange
            2 beginbfchar <0003> <0020> <0011> <00660069> endbfchar
            2 beginbfrange <0024> <0026> <0041> <0030> <0031> [<0078> <D83DDE00>] endbfrange
            endcmap CMapName currentdict /CMap defineresource pop end end";
        let t = ToUnicode::parse(cmap).expect("parses");
        assert_eq!(
            t.decode(&[
                0, 0x24, 0, 0x25, 0, 0x26, 0, 3, 0, 0x11, 0, 0x30, 0, 0x31, 0, 0x99
            ]),
            "ABC fix😀"
        );
        assert!(ToUnicode::parse(b"garbage with <00> no sections").is_none());
        // A hostile range is clamped rather than allocating 2^32 entries.
        let huge = ToUnicode::parse(b"1 beginbfrange <00000000> <FFFFFFFF> <0041> endbfrange")
            .expect("parses");
        assert!(huge.map.len() <= MAX_RANGE as usize + 1);
    }
}
