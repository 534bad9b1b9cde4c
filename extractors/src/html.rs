//! HTML via scraper (html5ever): title, headings as sections, body text; script, style,
//! nav, noscript and other non-content elements dropped. The tree is walked iteratively,
//! so a 100,000-deep document cannot overflow the stack.

use ego_tree::iter::Edge;
use scraper::{Html, Node};

use crate::text::decode_text;
use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

#[derive(Debug)]
pub(crate) struct HtmlExtractor;

/// Elements whose whole subtree is not content.
fn is_skipped(name: &str) -> bool {
    matches!(
        name,
        "script"
            | "style"
            | "nav"
            | "noscript"
            | "template"
            | "head"
            | "svg"
            | "iframe"
            | "object"
            | "button"
            | "select"
    )
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "br"
            | "dd"
            | "details"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "header"
            | "hr"
            | "li"
            | "main"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "thead"
            | "tfoot"
            | "tr"
            | "ul"
            | "caption"
            | "center"
    )
}

/// Elements that never nest (void) or whose end tag may be left out; they do not count
/// towards the nesting estimate.
fn is_unnested(name: &[u8]) -> bool {
    matches!(
        name,
        b"area"
            | b"base"
            | b"br"
            | b"col"
            | b"embed"
            | b"hr"
            | b"img"
            | b"input"
            | b"link"
            | b"meta"
            | b"param"
            | b"source"
            | b"track"
            | b"wbr"
            | b"p"
            | b"li"
            | b"dt"
            | b"dd"
            | b"td"
            | b"th"
            | b"tr"
            | b"thead"
            | b"tbody"
            | b"tfoot"
            | b"option"
            | b"optgroup"
            | b"colgroup"
            | b"caption"
            | b"rt"
            | b"rp"
            | b"html"
            | b"head"
            | b"body"
    )
}

/// Estimates the deepest element nesting from the raw bytes, without parsing.
///
/// html5ever's tree builder scans its stack of open elements for many tags, so parsing
/// time grows with the square of the nesting depth: a few megabytes of `<div>` would run
/// for hours. Real pages stay far below a few hundred levels, so a cheap scan first lets us
/// refuse such input before it reaches the parser.
fn nesting_estimate(input: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut i = 0;
    while let Some(off) = input[i..].iter().position(|&b| b == b'<') {
        i += off + 1;
        let closing = input.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let len = input[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if len == 0 || !input[start].is_ascii_alphabetic() {
            continue;
        }
        let name = input[start..start + len].to_ascii_lowercase();
        if is_unnested(&name) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            let end = input[start..]
                .iter()
                .position(|&b| b == b'>')
                .map(|p| start + p);
            let self_closing = end.is_some_and(|e| e > 0 && input[e - 1] == b'/');
            if !self_closing {
                depth += 1;
                max = max.max(depth);
            }
        }
    }
    max
}

/// The nesting estimate above which a document is refused.
const MAX_HTML_NESTING: usize = 2_000;

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// Collapses whitespace across text nodes the way a browser renders inline text.
struct Inline<'b> {
    b: &'b mut DocBuilder,
    pending_space: bool,
    at_line_start: bool,
}

impl Inline<'_> {
    fn text(&mut self, s: &str) {
        if s.starts_with(char::is_whitespace) {
            self.pending_space = true;
        }
        for word in s.split_whitespace() {
            if self.pending_space && !self.at_line_start {
                self.b.push(" ");
            }
            self.b.push(word);
            self.at_line_start = false;
            self.pending_space = true;
        }
        self.pending_space =
            s.ends_with(char::is_whitespace) || (self.pending_space && s.trim().is_empty());
    }

    fn raw(&mut self, s: &str) {
        self.b.push(s);
        self.at_line_start = s.ends_with('\n');
        self.pending_space = false;
    }

    fn block(&mut self, paragraph: bool) {
        if paragraph {
            self.b.paragraph_break();
        } else {
            self.b.line_break();
        }
        self.at_line_start = true;
        self.pending_space = false;
    }
}

impl Extractor for HtmlExtractor {
    fn formats(&self) -> &'static [Format] {
        &[Format::Html]
    }

    fn extract(
        &self,
        input: &[u8],
        format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        let (text, encoding) = decode_text(input)?;
        let depth = nesting_estimate(text.as_bytes());
        if depth > MAX_HTML_NESTING {
            return Err(ExtractError::new(
                ErrorKind::TooLarge,
                format!(
                    "html nesting of about {depth} levels is over the limit of {MAX_HTML_NESTING}"
                ),
            ));
        }
        deadline.check()?;
        let html = Html::parse_document(&text);
        deadline.check()?;
        let mut b = DocBuilder::new(format, limits.max_output_bytes);
        b.metadata.insert("encoding".into(), encoding.into());

        let mut title: Option<String> = None;
        let mut skip_depth = 0usize;
        let mut pre_depth = 0usize;
        let mut in_title = false;
        let mut heading: Option<(u8, String)> = None;
        let mut out = Inline {
            b: &mut b,
            pending_space: false,
            at_line_start: true,
        };
        for (i, edge) in html.tree.root().traverse().enumerate() {
            if i % 4096 == 0 {
                deadline.check()?;
            }
            if out.b.is_full() {
                break;
            }
            match edge {
                Edge::Open(node) => match node.value() {
                    Node::Element(el) => {
                        let name = el.name();
                        if name == "title" && title.is_none() {
                            in_title = true;
                            title = Some(String::new());
                        }
                        if skip_depth > 0 || is_skipped(name) {
                            skip_depth += 1;
                            continue;
                        }
                        if let Some(level) = heading_level(name) {
                            heading = Some((level, String::new()));
                        } else if name == "pre" {
                            pre_depth += 1;
                            out.block(true);
                        } else if matches!(name, "td" | "th") {
                            if !out.at_line_start {
                                out.raw(" | ");
                            }
                        } else if is_block(name) {
                            out.block(name == "p");
                        }
                    }
                    Node::Text(t) => {
                        if in_title {
                            if let Some(title) = title.as_mut() {
                                title.push_str(t);
                            }
                        } else if skip_depth > 0 {
                        } else if let Some((_, h)) = heading.as_mut() {
                            h.push_str(t);
                        } else if pre_depth > 0 {
                            out.raw(t);
                        } else {
                            out.text(t);
                        }
                    }
                    _ => {}
                },
                Edge::Close(node) => {
                    if let Node::Element(el) = node.value() {
                        let name = el.name();
                        if name == "title" {
                            in_title = false;
                        }
                        if skip_depth > 0 {
                            skip_depth -= 1;
                            continue;
                        }
                        if heading_level(name).is_some() {
                            if let Some((level, h)) = heading.take() {
                                out.b.heading(level, &h);
                                out.at_line_start = true;
                                out.pending_space = false;
                            }
                        } else if name == "pre" {
                            pre_depth = pre_depth.saturating_sub(1);
                            out.block(true);
                        } else if is_block(name) {
                            out.block(name == "p");
                        }
                    }
                }
            }
        }
        b.title = title
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|t| !t.is_empty());
        Ok(b.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn extract(html: &str) -> Extracted {
        HtmlExtractor
            .extract(
                html.as_bytes(),
                Format::Html,
                &Limits::default(),
                Deadline::after(Duration::from_secs(5)),
            )
            .expect("html")
    }

    #[test]
    fn drops_non_content_and_keeps_structure() {
        let doc = extract(
            "<html><head><title> The  Title </title><style>p{}</style></head><body>\
             <nav>Home | About</nav><script>var x = 1;</script><noscript>enable js</noscript>\
             <p>Intro <b>bold</b>text</p><h2>Part <i>one</i></h2><p>a</p><p>b</p>\
             <table><tr><td>c1</td><td>c2</td></tr></table></body></html>",
        );
        assert_eq!(doc.title.as_deref(), Some("The Title"));
        let text = doc.text();
        for gone in ["Home", "var x", "enable js", "p{}"] {
            assert!(!text.contains(gone), "{gone:?} in {text:?}");
        }
        assert_eq!(doc.sections[0].text, "Intro boldtext");
        assert_eq!(doc.sections[1].heading, vec!["Part one".to_string()]);
        assert_eq!(doc.sections[1].text, "Part one\n\na\n\nb\n\nc1 | c2");
    }

    #[test]
    fn deep_nesting_is_parsed_up_to_the_limit_and_refused_past_it() {
        let nest =
            |depth: usize| format!("{}deep{}", "<div>".repeat(depth), "</div>".repeat(depth));
        assert!(extract(&nest(1_500)).text().contains("deep"));
        let hostile = nest(1_000_000);
        let err = HtmlExtractor
            .extract(
                hostile.as_bytes(),
                Format::Html,
                &Limits::default(),
                Deadline::after(Duration::from_secs(5)),
            )
            .expect_err("too deep");
        assert_eq!(err.kind, ErrorKind::TooLarge);
        // Unclosed paragraphs and void elements are normal and do not count.
        assert!(nesting_estimate("<p>a<p>b<br><img src=x><div/>".repeat(5_000).as_bytes()) < 10);
    }
}
