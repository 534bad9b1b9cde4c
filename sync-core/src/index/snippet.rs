//! Snippets: the best short extract of a hit's text, the one where the query's rarest words
//! weigh most.
//!
//! **Why not `tantivy::snippet::SnippetGenerator` itself.** It selects the same fragment (the
//! rule below is its rule), but per hit it clones the field's tokenizer, and per token it
//! lowercases the token's text into a new `String` (the analyzer already lowercased it) to
//! look it up in a `BTreeMap`. At ~200 tokens a chunk that was ~23 µs a hit, 0.21 ms of a
//! ten-hit search: most of the daemon's search time once the ACL filter was fast
//! (`acl_collector.rs`). Here the tokenizer is made once per search, and a token is compared
//! in place with the query's few words. tantivy still tokenizes and weighs the words.

use tantivy::query::Query;
use tantivy::schema::Field;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Score, Searcher};

/// The query's words in one field with their weights, and that field's tokenizer.
pub(super) struct Snippets {
    /// Each word of the query in the field, weighted `1 / (1 + doc_freq)`: rare words
    /// weigh more. Words no chunk holds are left out.
    words: Vec<(String, Score)>,
    tokenizer: TextAnalyzer,
    max_chars: usize,
}

impl Snippets {
    pub(super) fn new(
        searcher: &Searcher,
        query: &dyn Query,
        field: Field,
        max_chars: usize,
    ) -> tantivy::Result<Snippets> {
        let mut terms = Vec::new();
        query.query_terms(&mut |term, _positions| {
            if term.field() == field {
                terms.push(term.clone());
            }
        });
        terms.sort();
        terms.dedup();
        let mut words = Vec::with_capacity(terms.len());
        for term in &terms {
            if let Some(word) = term.value().as_str() {
                let doc_freq = searcher.doc_freq(term)?;
                if doc_freq > 0 {
                    words.push((word.to_string(), 1.0 / (1.0 + doc_freq as Score)));
                }
            }
        }
        Ok(Snippets {
            words,
            tokenizer: searcher.index().tokenizer_for_field(field)?,
            max_chars,
        })
    }

    /// The best fragment of `text`, or `""` when none of the words is in it. Fragments are
    /// runs of tokens cut where the next token would end more than `max_chars` bytes after
    /// the fragment's start; a fragment scores the weights of the words it holds; the best
    /// is the highest score, the first among equals.
    pub(super) fn best<'t>(&mut self, text: &'t str) -> &'t str {
        if self.words.is_empty() {
            return "";
        }
        let (mut start, mut stop, mut score) = (0, 0, 0.0);
        let mut best: Option<(Score, usize, usize)> = None;
        let mut keep = |score: Score, start: usize, stop: usize| {
            if score > 0.0 && best.is_none_or(|(b, _, _)| score > b) {
                best = Some((score, start, stop));
            }
        };
        let mut tokens = self.tokenizer.token_stream(text);
        while let Some(token) = tokens.next() {
            if token.offset_to - start > self.max_chars {
                keep(score, start, stop);
                (start, score) = (token.offset_from, 0.0);
            }
            stop = token.offset_to;
            if let Some((_, weight)) = self.words.iter().find(|(w, _)| *w == token.text) {
                score += weight;
            }
        }
        keep(score, start, stop);
        best.map_or("", |(_, start, stop)| &text[start..stop])
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::Count;
    use tantivy::query::QueryParser;
    use tantivy::schema::{STORED, Schema, TEXT};
    use tantivy::snippet::SnippetGenerator;
    use tantivy::{Index, TantivyDocument, doc};

    use super::*;

    /// Our fragment and tantivy's `SnippetGenerator`'s for `query` over `texts`, per text.
    fn check(texts: &[&str], query: &str, max_chars: usize) -> Vec<(String, String)> {
        let mut schema = Schema::builder();
        let body = schema.add_text_field("body", TEXT | STORED);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        for text in texts {
            writer.add_document(doc!(body => *text)).expect("add");
        }
        writer.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        let query = QueryParser::for_index(&index, vec![body])
            .parse_query(query)
            .expect("query");
        assert!(searcher.search(&*query, &Count).expect("count") > 0);
        let mut ours = Snippets::new(&searcher, &*query, body, max_chars).expect("snippets");
        let mut theirs = SnippetGenerator::create(&searcher, &*query, body).expect("generator");
        theirs.set_max_num_chars(max_chars);
        texts
            .iter()
            .map(|text| {
                let doc: TantivyDocument = doc!(body => *text);
                let theirs = theirs.snippet_from_doc(&doc).fragment().to_string();
                (ours.best(text).to_string(), theirs)
            })
            .collect()
    }

    #[test]
    fn the_fragment_is_tantivys() {
        let filler = "lorem ipsum dolor sit amet consectetur ".repeat(8);
        let texts = [
            // Two of the commoner word (weight 1/4 each) outweigh one of the rarer (1/3).
            format!("Budget review. {filler} The Budget and the budget. {filler} The roadmap."),
            format!("{filler} ROADMAP at the end"),
            // Equal fragments: the first wins.
            format!("budget one {filler} budget two"),
            "no match at all here".to_string(),
            "Ünïcödé budget — naïve café façade, budget".to_string(),
        ];
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        for max_chars in [20, 60, 200] {
            for (ours, theirs) in check(&texts, "budget roadmap", max_chars) {
                assert_eq!(ours, theirs, "max {max_chars}");
            }
        }
        let found = check(&texts, "budget roadmap", 60);
        assert!(
            found[0].0.ends_with("Budget and the budget"),
            "{:?}",
            found[0]
        );
        assert!(found[1].0.ends_with("ROADMAP at the end"), "{:?}", found[1]);
        assert_eq!(found[3].0, "", "no word, no fragment");
    }

    #[test]
    fn a_query_without_words_in_the_field_has_no_fragment() {
        let pairs = check(&["budget"], "budget OR nothingmatches", 200);
        assert_eq!(pairs[0].0, "budget");
        let mut schema = Schema::builder();
        let body = schema.add_text_field("body", TEXT);
        let index = Index::create_in_ram(schema.build());
        let searcher = index.reader().expect("reader").searcher();
        let query = QueryParser::for_index(&index, vec![body])
            .parse_query("budget")
            .expect("query");
        let mut snippets = Snippets::new(&searcher, &*query, body, 200).expect("snippets");
        assert_eq!(snippets.best("budget"), "", "no chunk holds the word");
    }
}
