//! PDF: lopdf's parser and our content-stream interpreter on arbitrary bytes.
#![no_main]

use extractors::{Format, Limits, Registry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        timeout: std::time::Duration::from_secs(5),
        ..Limits::default()
    };
    // The registry turns a panic into a `corrupt` error for users; here it is a finding.
    if let Err(e) = Registry::default().extract_as(data, Format::Pdf, &limits) {
        assert!(!e.message.contains("extractor panicked"), "{e}");
    }
});
