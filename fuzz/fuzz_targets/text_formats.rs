//! Text-based formats (plain text, Markdown, HTML, CSV, JSON, e-mail/MHT): the first byte picks the
//! format the extractor is told, the rest is the file.
#![no_main]

use extractors::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    extractors_fuzz::check_picked(
        data,
        &[
            Format::Text,
            Format::Markdown,
            Format::Html,
            Format::Csv,
            Format::Json,
            Format::Email,
        ],
    );
});
