//! OLE2 formats (DOC, XLS, PPT, embedded objects, encrypted OOXML) and bare Excel 2-4
//! worksheets: the first byte picks the format the extractor is told, the rest is the file.
#![no_main]

use extractors::{Format, Limits, Registry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let format = [Format::Doc, Format::Xls, Format::Ppt, Format::Ole][usize::from(pick) % 4];
    let limits = Limits {
        timeout: std::time::Duration::from_secs(5),
        ..Limits::default()
    };
    // The registry turns a panic into a `corrupt` error for users; here it is a finding,
    // unless a dependency we cannot fix raised it (see src/lib.rs).
    extractors_fuzz::contain_dependency_panics();
    if let Err(e) = Registry::default().extract_as(file, format, &limits) {
        assert!(extractors_fuzz::acceptable(&e.message), "{e}");
    }
});
