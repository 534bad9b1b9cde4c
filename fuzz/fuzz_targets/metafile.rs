//! Metafile pictures (EMF, WMF) as the Office extractors read them from a package's media
//! parts and from OfficeArt blips: the input is the picture itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in extractors::metafile_text(data) {
        assert!(!line.trim().is_empty(), "a blank line is never returned");
    }
});
