//! RTF: the whole input is the file (the extractor checks `{\rtf` itself).
#![no_main]

use extractors::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    extractors_fuzz::check(data, Format::Rtf);
});
