//! The standard 14 fonts' glyph widths, for a simple font that names one of them and
//! lists no `/Widths` of its own (PDF 1.0-style files; ISO 32000 9.6.2.2 has viewers use
//! the fonts' built-in metrics). Without them every glyph was taken for half an em, so a
//! string ended far from where the page shows it, and the next one looked like a new line.
//! The metrics are Adobe's AFM files, as the `pdf-core-14-font-afms` crate ships them.

use std::collections::HashMap;
use std::sync::OnceLock;

use pdf_core_14_font_afms as afm;

/// The four Latin families by style, and the two symbol fonts, whose glyph names are not
/// characters of the glyph list (their widths are left to the default).
const LATIN: [[&str; 4]; 3] = [
    [
        afm::HELVETICA,
        afm::HELVETICA_BOLD,
        afm::HELVETICA_OBLIQUE,
        afm::HELVETICA_BOLD_OBLIQUE,
    ],
    [
        afm::TIMES_ROMAN,
        afm::TIMES_BOLD,
        afm::TIMES_ITALIC,
        afm::TIMES_BOLD_ITALIC,
    ],
    [
        afm::COURIER,
        afm::COURIER_BOLD,
        afm::COURIER_OBLIQUE,
        afm::COURIER_BOLD_OBLIQUE,
    ],
];

/// Character → width (thousandths of an em) of the standard font `base_font` names, or
/// of the font a viewer puts in its place for the usual aliases (`Arial,Bold`,
/// `TimesNewRoman`, `CourierNew`); `None` for any other font.
pub(crate) fn widths(base_font: &[u8]) -> Option<&'static HashMap<char, f32>> {
    static TABLES: OnceLock<Vec<HashMap<char, f32>>> = OnceLock::new();
    let name = std::str::from_utf8(without_subset_tag(base_font)).ok()?;
    let lower = name.to_ascii_lowercase();
    let family = if lower.starts_with("helvetica") || lower.starts_with("arial") {
        0
    } else if lower.starts_with("times") {
        1
    } else if lower.starts_with("courier") {
        2
    } else {
        return None;
    };
    let bold = lower.contains("bold");
    let slanted = lower.contains("italic") || lower.contains("oblique");
    let style = usize::from(bold) + 2 * usize::from(slanted);
    let tables = TABLES.get_or_init(|| LATIN.iter().flatten().map(|text| parse(text)).collect());
    tables.get(family * 4 + style)
}

/// A font name without its subset's tag (six capitals and a plus sign: `ABCDEF+Arial`).
pub(crate) fn without_subset_tag(name: &[u8]) -> &[u8] {
    match name.get(6) {
        Some(b'+') if name[..6].iter().all(u8::is_ascii_uppercase) => &name[7..],
        _ => name,
    }
}

/// The `C code ; WX width ; N name ;` lines of an AFM file, by the character each name is.
fn parse(afm: &str) -> HashMap<char, f32> {
    let mut out = HashMap::new();
    for line in afm.lines().filter(|l| l.starts_with("C ")) {
        let mut width = None;
        let mut name = None;
        for field in line.split(';').map(str::trim) {
            if let Some(w) = field.strip_prefix("WX ") {
                width = w.trim().parse::<f32>().ok();
            } else if let Some(n) = field.strip_prefix("N ") {
                name = Some(n.trim());
            }
        }
        if let (Some(width), Some(name)) = (width, name)
            && let Some(text) = ::pdf_encoding::glyphname_to_unicode(name)
            && let Some(c) = text.chars().next()
        {
            out.entry(c).or_insert(width);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::widths;

    #[test]
    fn the_standard_fonts_and_their_aliases_have_adobes_widths() {
        let check = |font: &str, c: char, expected: f32| {
            let table = widths(font.as_bytes()).unwrap_or_else(|| panic!("{font}"));
            assert_eq!(table.get(&c), Some(&expected), "{font} {c:?}");
        };
        check("Helvetica", 'i', 222.0);
        check("Helvetica", ' ', 278.0);
        check("Helvetica-Bold", 'i', 278.0);
        check("ABCDEF+Arial,Bold", 'i', 278.0);
        check("Times-Roman", 'W', 944.0);
        check("TimesNewRoman,Italic", 'W', 833.0);
        check("Courier", 'W', 600.0);
        check("Helvetica", 'ß', 611.0);
        assert!(widths(b"Symbol").is_none());
        assert!(widths(b"DejaVuSans").is_none());
    }
}
