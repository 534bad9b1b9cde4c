//! PDF: lopdf's parser and our content-stream interpreter on arbitrary bytes.
#![no_main]

use extractors::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    extractors_fuzz::check(data, Format::Pdf);
});
