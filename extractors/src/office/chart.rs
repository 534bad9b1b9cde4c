//! DrawingML charts (`c:chartSpace` parts of DOCX, PPTX and XLSX): what a reader of the
//! chart sees — chart and axis titles, series names, category labels and the values —
//! from the caches Office keeps in the chart part itself. A chart's data lives in a
//! workbook (embedded, or linked and often absent), but every writer also caches the
//! plotted text and numbers in `c:strCache`/`c:numCache` (or literal `c:strLit`/`c:numLit`)
//! so the chart can be drawn without it; those caches are what is read here.
//!
//! Output: the rich-text paragraphs (titles, in `a:p`/`a:t`) as blocks, then one block per
//! cache (or literal series name), its points' values (`c:pt/c:v`) joined by spaces, in document order (per series:
//! name, categories, values). Formulas (`c:f`) and number formats are not text.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::office::ooxml::{Block, blocks};
use crate::{Deadline, ErrorKind, ExtractError};

/// XML nesting deeper than this is refused (as in `ooxml::blocks`).
const MAX_XML_DEPTH: usize = 512;

/// The caches whose points are text on the chart, and `tx`, a series name given as a
/// literal (`c:tx/c:v`) rather than through a cache.
const CACHES: [&str; 6] = [
    "strCache",
    "numCache",
    "strLit",
    "numLit",
    "multiLvlStrCache",
    "tx",
];

/// The text of one chart part: its titles and rich-text labels, then its cached series
/// names, categories and values.
pub(crate) fn chart_blocks(
    part: &str,
    xml: &[u8],
    deadline: Deadline,
) -> Result<Vec<Block>, ExtractError> {
    let mut out = blocks(part, xml, deadline)?;
    let text = std::str::from_utf8(xml)
        .map_err(|e| ExtractError::new(ErrorKind::Corrupt, format!("{part}: not UTF-8: {e}")))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = false;
    let mut depth = 0usize;
    // The cache being read (its depth) and its values so far.
    let mut cache: Option<usize> = None;
    let mut values: Vec<String> = Vec::new();
    let mut in_value = false;
    let mut value = String::new();
    let mut n = 0usize;
    loop {
        n += 1;
        if n.is_multiple_of(4096) {
            deadline.check()?;
        }
        let event = reader
            .read_event()
            .map_err(|e| ExtractError::new(ErrorKind::Corrupt, format!("{part}: {e}")))?;
        match event {
            Event::Start(e) => {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(ExtractError::new(
                        ErrorKind::TooLarge,
                        format!("{part}: XML nested deeper than {MAX_XML_DEPTH}"),
                    ));
                }
                let name = e.local_name();
                if cache.is_none() && CACHES.contains(&name.as_ref()) {
                    cache = Some(depth);
                    values.clear();
                } else if cache.is_some() && name.as_ref() == "v" {
                    in_value = true;
                    value.clear();
                }
            }
            Event::Text(t) if in_value => value.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_value => {
                if r.is_char_ref() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        value.push(c);
                    }
                } else if let Some(s) =
                    quick_xml::escape::resolve_predefined_entity(&r.into_inner())
                {
                    value.push_str(s);
                }
            }
            Event::End(e) => {
                if in_value && e.local_name().as_ref() == "v" {
                    in_value = false;
                    let v = value.trim();
                    if !v.is_empty() {
                        values.push(v.to_string());
                    }
                }
                if cache == Some(depth) {
                    cache = None;
                    if !values.is_empty() {
                        out.push(Block {
                            level: None,
                            text: values.join(" "),
                        });
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn titles_series_names_categories_and_values_are_read_from_the_caches() {
        let xml = r#"<c:chartSpace xmlns:c="c" xmlns:a="a"><c:chart>
          <c:title><c:tx><c:rich><a:p><a:r><a:t>Sales &amp; costs</a:t></a:r></a:p></c:rich></c:tx></c:title>
          <c:plotArea><c:barChart><c:ser>
            <c:tx><c:strRef><c:f>Sheet1!$B$1</c:f><c:strCache><c:ptCount val="1"/><c:pt idx="0"><c:v>Revenue</c:v></c:pt></c:strCache></c:strRef></c:tx>
            <c:cat><c:strRef><c:f>Sheet1!$A$2:$A$3</c:f><c:strCache><c:pt idx="0"><c:v>North</c:v></c:pt><c:pt idx="1"><c:v>South</c:v></c:pt></c:strCache></c:strRef></c:cat>
            <c:val><c:numRef><c:f>Sheet1!$B$2:$B$3</c:f><c:numCache><c:formatCode>General</c:formatCode><c:pt idx="0"><c:v>4.3</c:v></c:pt><c:pt idx="1"><c:v>2.5</c:v></c:pt></c:numCache></c:numRef></c:val>
          </c:ser><c:ser><c:tx><c:v>Literal name</c:v></c:tx></c:ser></c:barChart>
          <c:valAx><c:title><c:tx><c:rich><a:p><a:r><a:t>Euros</a:t></a:r></a:p></c:rich></c:tx></c:title></c:valAx></c:plotArea>
        </c:chart></c:chartSpace>"#;
        let found = chart_blocks("c", xml.as_bytes(), Deadline::after(Duration::from_secs(5)))
            .expect("parses");
        let texts: Vec<&str> = found.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Sales & costs",
                "Euros",
                "Revenue",
                "North South",
                "4.3 2.5",
                "Literal name"
            ]
        );
    }

    #[test]
    fn hostile_charts_are_typed_errors() {
        let deep = format!(
            "<c:chartSpace>{}{}</c:chartSpace>",
            "<c:strCache>".repeat(1000),
            "</c:strCache>".repeat(1000)
        );
        let err = chart_blocks(
            "c",
            deep.as_bytes(),
            Deadline::after(Duration::from_secs(5)),
        )
        .expect_err("too deep");
        assert_eq!(err.kind, ErrorKind::TooLarge);
    }
}
