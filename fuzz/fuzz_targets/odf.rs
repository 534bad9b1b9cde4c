//! OpenDocument (zipped or flat: ODT, ODS, ODP) and EPUB: the first byte picks the format
//! the extractor is told, the rest is the file.
#![no_main]

use extractors::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    extractors_fuzz::check_picked(data, &[Format::Odt, Format::Ods, Format::Odp, Format::Epub]);
});
