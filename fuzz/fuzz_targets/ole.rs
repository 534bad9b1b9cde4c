//! OLE2 formats (DOC, XLS, PPT, embedded objects, encrypted OOXML) and bare Excel 2-4
//! worksheets: the first byte picks the format the extractor is told, the rest is the file.
#![no_main]

use extractors::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    extractors_fuzz::check_picked(data, &[Format::Doc, Format::Xls, Format::Ppt, Format::Ole]);
});
