//! Text-based formats (plain text, Markdown, HTML, CSV, JSON, e-mail/MHT): the first byte picks the
//! format the extractor is told, the rest is the file.
#![no_main]

use extractors::{Format, Limits, Registry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let format = [
        Format::Text,
        Format::Markdown,
        Format::Html,
        Format::Csv,
        Format::Json,
        Format::Email,
    ][usize::from(pick) % 6];
    let limits = Limits {
        timeout: std::time::Duration::from_secs(5),
        ..Limits::default()
    };
    // The registry turns a panic into a `corrupt` error for users; here it is a finding.
    if let Err(e) = Registry::default().extract_as(file, format, &limits) {
        assert!(!e.message.contains("extractor panicked"), "{e}");
    }
});
