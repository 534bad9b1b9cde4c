//! XML as text content, and Office XML (Word 2003 XML, Flat OPC): the first byte picks the
//! format the extractor is told, the rest is the file.
#![no_main]

use extractors::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    extractors_fuzz::check_picked(data, &[Format::Xml, Format::OfficeXml]);
});
