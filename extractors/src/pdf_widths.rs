//! How far a font's glyphs move the pen (`Widths`): `/Widths`, a composite font's `/W`,
//! a Type3 font's `/FontMatrix` and em, the standard 14 fonts' built-in metrics where a
//! simple font lists none, and vertical writing, where the pen moves down.

use lopdf::{Dictionary, Document, Object};

use crate::pdf::deref;
use crate::pdf_font::{Decoder, descendant_font};

/// Glyph widths of one font, in thousandths of an em, to know where the pen is after a
/// string: the gap to the next positioned run decides whether a space separates them.
#[derive(Debug, Clone)]
pub(crate) struct Widths {
    first: u32,
    widths: Vec<f32>,
    default: f32,
    /// Composite fonts: two-byte codes (CIDs under Identity encodings) and their `/W` widths.
    pub(crate) two_byte: bool,
    cid_widths: std::collections::HashMap<u32, f32>,
    /// Text space per width unit: a thousandth, except for Type3 fonts, whose widths are
    /// in their own glyph space (`/FontMatrix`, often `[1 0 0 1 0 0]` with widths like 0.6).
    unit: f32,
    /// Vertical writing (`Identity-V`, a predefined `…-V` CMap, a CMap with `/WMode 1`):
    /// each glyph moves the pen down by `vertical_advance` units (`/DW2`, default 1000).
    pub(crate) vertical: bool,
    vertical_advance: f32,
    /// The font's em in text space at size 1: 1 but for a Type3 font, whose glyph space is
    /// its producer's own (`/FontMatrix [1 0 0 -1 0 0]` with glyphs 40–130 units wide, set
    /// at 0.12 points), taken as twice its mean glyph width, as a Latin font's is.
    em: f32,
}

/// Twice the mean of a Type3 font's glyph widths, in text space at size 1 (1 where it
/// lists none).
fn type3_em(widths: &[f32], unit: f32) -> f32 {
    let drawn: Vec<f32> = widths.iter().copied().filter(|w| *w > 0.0).collect();
    if drawn.is_empty() {
        return 1.0;
    }
    (2.0 * drawn.iter().sum::<f32>() / drawn.len() as f32 * unit).clamp(0.01, 100.0)
}

/// At most this many `/W` entries are read (a CJK font has tens of thousands at most).
const MAX_CID_WIDTHS: usize = 70_000;

impl Widths {
    pub(crate) fn of(doc: &Document, font: &Dictionary) -> Widths {
        let num = |o: &Object| deref(doc, o).and_then(|o| o.as_float().ok());
        if font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type0".as_slice()) {
            let descendant = descendant_font(doc, font);
            let default = descendant
                .and_then(|d| d.get(b"DW").ok())
                .and_then(num)
                .unwrap_or(1000.0);
            let mut cid_widths = std::collections::HashMap::new();
            let w = descendant
                .and_then(|d| d.get(b"W").ok())
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_array().ok());
            if let Some(w) = w {
                // `c [w1 w2 …]` (widths from c on) or `c_first c_last w` (one width for all).
                let mut i = 0;
                while i + 1 < w.len() && cid_widths.len() < MAX_CID_WIDTHS {
                    let Some(first) = num(&w[i]) else { break };
                    let first = first.max(0.0) as u32;
                    match deref(doc, &w[i + 1]) {
                        Some(Object::Array(list)) => {
                            for (k, width) in list.iter().enumerate().take(MAX_CID_WIDTHS) {
                                if let Some(width) = num(width) {
                                    cid_widths.insert(first.saturating_add(k as u32), width);
                                }
                            }
                            i += 2;
                        }
                        Some(other) => {
                            let (Some(last), Some(width)) =
                                (other.as_float().ok(), w.get(i + 2).and_then(num))
                            else {
                                break;
                            };
                            let last = (last.max(0.0) as u32)
                                .min(first.saturating_add(MAX_CID_WIDTHS as u32));
                            for cid in first..=last {
                                cid_widths.insert(cid, width);
                            }
                            i += 3;
                        }
                        None => break,
                    }
                }
            }
            let encoding = font.get(b"Encoding").ok().and_then(|o| deref(doc, o));
            let vertical = match encoding {
                Some(Object::Name(name)) => name.ends_with(b"-V") || name.as_slice() == b"V",
                Some(Object::Stream(cmap)) => {
                    cmap.dict.get(b"WMode").and_then(Object::as_i64).ok() == Some(1)
                }
                _ => false,
            };
            let vertical_advance = descendant
                .and_then(|d| d.get(b"DW2").ok())
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_array().ok())
                .and_then(|a| a.get(1))
                .and_then(num)
                .map(f32::abs)
                .filter(|v| *v > 0.0)
                .unwrap_or(1000.0);
            return Widths {
                first: 0,
                widths: Vec::new(),
                default,
                two_byte: true,
                cid_widths,
                unit: 0.001,
                vertical,
                vertical_advance,
                em: 1.0,
            };
        }
        let first = font.get(b"FirstChar").ok().and_then(num).unwrap_or(0.0) as u32;
        let widths: Vec<f32> = font
            .get(b"Widths")
            .ok()
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_array().ok())
            .map(|a| a.iter().map(|w| num(w).unwrap_or(500.0)).collect())
            .unwrap_or_default();
        let type3 =
            font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type3".as_slice());
        let unit = font
            .get(b"FontMatrix")
            .ok()
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_array().ok())
            .and_then(|m| m.first())
            .and_then(num)
            .map(f32::abs)
            .filter(|u| type3 && u.is_finite() && *u > 0.0 && *u <= 10.0)
            .unwrap_or(0.001);
        let em = if type3 { type3_em(&widths, unit) } else { 1.0 };
        Widths {
            first,
            widths,
            // Half an em, in whatever units the font's widths use.
            default: 0.5 / unit,
            two_byte: false,
            cid_widths: std::collections::HashMap::new(),
            unit,
            vertical: false,
            vertical_advance: 1000.0,
            em,
        }
    }

    /// Advance of a string in text space units at font size 1, and its number of codes.
    pub(crate) fn advance(&self, bytes: &[u8]) -> f32 {
        if self.two_byte {
            return bytes
                .chunks(2)
                .map(|pair| {
                    let cid = pair.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b));
                    self.cid_widths.get(&cid).copied().unwrap_or(self.default)
                })
                .sum::<f32>()
                * self.unit;
        }
        bytes
            .iter()
            .map(|&b| {
                let i = (b as u32).wrapping_sub(self.first) as usize;
                self.widths
                    .get(i)
                    .copied()
                    .filter(|w| *w > 0.0)
                    .unwrap_or(self.default)
            })
            .sum::<f32>()
            * self.unit
    }

    /// The font's em in text space at font size 1 (see the field).
    pub(crate) fn em(&self) -> f32 {
        self.em
    }

    /// A simple font that lists no widths but names one of the standard 14 fonts takes
    /// that font's built-in widths, each code the width of the character it reads as.
    pub(crate) fn or_standard(mut self, font: &Dictionary, decoder: &Decoder<'_>) -> Widths {
        if self.two_byte || !self.widths.is_empty() {
            return self;
        }
        let Some(table) = font
            .get(b"BaseFont")
            .and_then(Object::as_name)
            .ok()
            .and_then(crate::pdf_std14::widths)
        else {
            return self;
        };
        self.first = 0;
        self.widths = (0..=255u8)
            .map(|code| {
                decoder
                    .decode(&[code])
                    .and_then(|t| t.chars().next())
                    .and_then(|c| table.get(&c).copied())
                    .unwrap_or(0.0)
            })
            .collect();
        self
    }

    /// A one-byte code's width as the font lists it (a listed 0 is 0, where `advance`
    /// takes it for a missing width), at font size 1.
    pub(crate) fn listed(&self, code: u8) -> f32 {
        let i = u32::from(code).wrapping_sub(self.first) as usize;
        self.widths.get(i).copied().unwrap_or(self.default) * self.unit
    }

    /// How far a string moves the pen down in vertical writing, at font size 1.
    pub(crate) fn vertical_advance(&self, bytes: &[u8]) -> f32 {
        bytes.len().div_ceil(2) as f32 * self.vertical_advance * 0.001
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_fonts_take_glyph_widths_from_their_w_array() {
        use lopdf::dictionary;
        let doc = Document::new();
        let font = dictionary! {
            "Type" => "Font",
            "Subtype" => "Type0",
            "DescendantFonts" => vec![Object::Dictionary(dictionary! {
                "DW" => 1000,
                "W" => vec![
                    1.into(), vec![500.into(), 600.into()].into(),
                    10.into(), 12.into(), 250.into(),
                ],
            })],
        };
        let widths = Widths::of(&doc, &font);
        // CIDs 1, 2 (listed), 11 (in the 10..12 range) and 50 (the default width).
        let advance = widths.advance(&[0, 1, 0, 2, 0, 11, 0, 50]);
        assert!((advance - 2.35).abs() < 1e-4, "{advance}");
    }

    #[test]
    fn type3_widths_are_in_the_font_matrix_units() {
        use lopdf::dictionary;
        let doc = Document::new();
        let font = dictionary! {
            "Type" => "Font",
            "Subtype" => "Type3",
            "FontMatrix" => vec![0.01.into(), 0.into(), 0.into(), 0.01.into(), 0.into(), 0.into()],
            "FirstChar" => 65,
            "Widths" => vec![50.into(), 50.into()],
        };
        let advance = Widths::of(&doc, &font).advance(b"AB");
        assert!((advance - 1.0).abs() < 1e-4, "{advance}");
    }

    #[test]
    fn vertical_cmaps_make_vertical_fonts() {
        use lopdf::dictionary;
        let doc = Document::new();
        let font = |encoding: &str| {
            dictionary! {
                "Type" => "Font",
                "Subtype" => "Type0",
                "Encoding" => encoding,
                "DescendantFonts" => vec![Object::Dictionary(dictionary! { "DW2" => vec![880.into(), (-500).into()] })],
            }
        };
        let vertical = Widths::of(&doc, &font("Identity-V"));
        assert!(vertical.vertical);
        assert!((vertical.vertical_advance(&[0, 1, 0, 2]) - 1.0).abs() < 1e-4);
        assert!(!Widths::of(&doc, &font("UniJIS-UCS2-H")).vertical);
        assert!(Widths::of(&doc, &font("90ms-RKSJ-V")).vertical);
    }
}
