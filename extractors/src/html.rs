//! HTML: title, headings as sections, body text; script, style, nav, noscript and other
//! non-content elements dropped.
//!
//! Read as a stream of tokens by html5ever's tokenizer (the parser under scraper), not as a
//! tree: a DOM costs about 55 times the page (a 24 MB page of small elements took 1.4 GB),
//! while the token stream costs what the text does. What the tree builder would add — the
//! raw-text states of `script`, `style` and `title`, and `head` closing where body content
//! starts — is done here; everything else we need (block boundaries, skipped subtrees,
//! headings, table cells) follows from start and end tags, including the ones a page leaves
//! out (`<p>a<p>b` breaks like `<p>a</p><p>b</p>`). Without a tree there is no nesting to
//! overflow, and the page is fed in chunks so the deadline and output limit stop it early.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

use crate::text::decode_text;
use crate::{Deadline, DocBuilder, ExtractError, Extracted, Extractor, Format, Limits};

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
struct Inline {
    b: DocBuilder,
    pending_space: bool,
    at_line_start: bool,
}

impl Inline {
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

/// Elements that may stay in `head`; any other start tag (or text) begins the body, where
/// the tree builder would close `head`.
fn is_head_content(name: &str) -> bool {
    matches!(
        name,
        "title"
            | "meta"
            | "link"
            | "style"
            | "script"
            | "base"
            | "noscript"
            | "template"
            | "basefont"
            | "bgsound"
            | "head"
    )
}

/// The tokenizer state a start tag switches to, as the tree builder would set it.
fn raw_state(name: &str) -> Option<TokenSinkResult<()>> {
    Some(match name {
        "script" => TokenSinkResult::RawData(RawKind::ScriptData),
        "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => {
            TokenSinkResult::RawData(RawKind::Rawtext)
        }
        "title" | "textarea" => TokenSinkResult::RawData(RawKind::Rcdata),
        "plaintext" => TokenSinkResult::Plaintext,
        _ => return None,
    })
}

/// The extraction state the token stream drives.
struct Walker {
    out: Inline,
    title: Option<String>,
    in_title: bool,
    /// Open skipped elements (`script`, `nav`, `head`…), innermost last.
    skipped: Vec<String>,
    pre_depth: usize,
    /// Right after `<pre>`: a newline there is not content (HTML drops it).
    pre_start: bool,
    heading: Option<(u8, String)>,
}

impl Walker {
    fn start(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        let name: &str = &tag.name;
        self.pre_start = false;
        if name == "title" && self.title.is_none() {
            self.in_title = true;
            self.title = Some(String::new());
        }
        if self.skipped.last().is_some_and(|top| top == "head")
            && (name == "body" || !is_head_content(name))
        {
            self.skipped.pop();
        }
        let state = raw_state(name).unwrap_or(TokenSinkResult::Continue);
        if !self.skipped.is_empty() || is_skipped(name) {
            if is_skipped(name) && !tag.self_closing {
                self.skipped.push(name.to_string());
            }
            return state;
        }
        if let Some(level) = heading_level(name) {
            self.close_heading();
            self.heading = Some((level, String::new()));
        } else if name == "pre" {
            self.pre_depth += 1;
            self.pre_start = true;
            self.out.block(true);
        } else if matches!(name, "td" | "th") {
            if !self.out.at_line_start {
                self.out.raw(" | ");
            }
        } else if is_block(name) {
            self.out.block(name == "p");
        }
        state
    }

    fn end(&mut self, tag: &Tag) {
        let name: &str = &tag.name;
        if name == "title" {
            self.in_title = false;
        }
        if let Some(top) = self.skipped.last() {
            if top == name {
                self.skipped.pop();
            } else if matches!(name, "body" | "html") {
                // An element left open inside the body ends with it.
                self.skipped.clear();
            }
            return;
        }
        if heading_level(name).is_some() {
            self.close_heading();
        } else if name == "pre" {
            self.pre_depth = self.pre_depth.saturating_sub(1);
            self.out.block(true);
        } else if is_block(name) {
            self.out.block(name == "p");
        }
    }

    fn close_heading(&mut self) {
        if let Some((level, h)) = self.heading.take() {
            self.out.b.heading(level, &h);
            self.out.at_line_start = true;
            self.out.pending_space = false;
        }
    }

    fn text(&mut self, t: &str) {
        let t = if std::mem::take(&mut self.pre_start) {
            t.strip_prefix("\r\n")
                .or_else(|| t.strip_prefix(['\n', '\r']))
                .unwrap_or(t)
        } else {
            t
        };
        if self.in_title {
            if let Some(title) = self.title.as_mut() {
                title.push_str(t);
            }
            return;
        }
        if self.skipped.last().is_some_and(|top| top == "head") && !t.trim().is_empty() {
            self.skipped.pop(); // text begins the body
        }
        if !self.skipped.is_empty() {
        } else if let Some((_, h)) = self.heading.as_mut() {
            h.push_str(t);
        } else if self.pre_depth > 0 {
            self.out.raw(t);
        } else {
            self.out.text(t);
        }
    }
}

struct Sink(RefCell<Walker>);

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut w = self.0.borrow_mut();
        if w.out.b.is_full() {
            return TokenSinkResult::Continue;
        }
        match token {
            Token::TagToken(tag) => match tag.kind {
                TagKind::StartTag => return w.start(&tag),
                TagKind::EndTag => w.end(&tag),
            },
            Token::CharacterTokens(t) => w.text(&t),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// The page is fed to the tokenizer this many bytes at a time.
const CHUNK: usize = 64 * 1024;

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
        let mut b = DocBuilder::new(format, limits.max_output_bytes);
        b.metadata.insert("encoding".into(), encoding.into());
        let walker = Walker {
            out: Inline {
                b,
                pending_space: false,
                at_line_start: true,
            },
            title: None,
            in_title: false,
            skipped: Vec::new(),
            pre_depth: 0,
            pre_start: false,
            heading: None,
        };
        let tokenizer = Tokenizer::new(Sink(RefCell::new(walker)), TokenizerOpts::default());
        let queue = BufferQueue::default();
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let mut cut = rest.len().min(CHUNK);
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            queue.push_back(StrTendril::from_slice(&rest[..cut]));
            rest = &rest[cut..];
            let _ = tokenizer.feed(&queue);
            deadline.check()?;
            if tokenizer.sink.0.borrow().out.b.is_full() {
                break;
            }
        }
        tokenizer.end();
        let mut walker = tokenizer.sink.0.into_inner();
        walker.close_heading();
        let mut b = walker.out.b;
        b.title = walker
            .title
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
                // Generous: a loaded machine runs the debug build of the 300,000-deep
                // page for seconds; a tree builder would run for hours.
                Deadline::after(Duration::from_secs(120)),
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
    fn deep_nesting_costs_nothing_without_a_tree() {
        // A tree builder scans its stack of open elements: this many nested divs would run
        // for hours (and a tree walk could overflow). A token stream does not care.
        let nest =
            |depth: usize| format!("{}deep{}", "<div>".repeat(depth), "</div>".repeat(depth));
        assert_eq!(extract(&nest(300_000)).text(), "deep");
    }

    #[test]
    fn head_ends_where_the_body_starts_and_raw_text_stays_raw() {
        // No </head>, no <body>: the first paragraph begins the body, as a browser has it.
        let doc = extract(
            "<title>T</title><meta charset=utf-8><p>Body text</p>\
             <script>if (a<b && c>d) { document.write('<p>not text</p>') }</script>\
             <p>after &amp; done<p>next</p><nav>unclosed nav",
        );
        assert_eq!(doc.title.as_deref(), Some("T"));
        assert_eq!(doc.text(), "Body text\n\nafter & done\n\nnext");
    }

    #[test]
    fn a_big_page_is_read_in_chunks_up_to_the_output_limit() {
        let page = format!("<p>{}</p>", "<b>word</b> ".repeat(200_000));
        let doc = HtmlExtractor
            .extract(
                page.as_bytes(),
                Format::Html,
                &Limits {
                    max_output_bytes: 1000,
                    ..Limits::default()
                },
                Deadline::after(Duration::from_secs(5)),
            )
            .expect("html");
        let text = doc.text();
        assert!(
            text.len() <= 1000 && text.starts_with("word word"),
            "{}",
            text.len()
        );
    }
}
