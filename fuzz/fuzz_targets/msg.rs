//! Outlook `.msg` messages (MAPI property streams in an OLE2 compound file, compressed-RTF
//! bodies, attachments and attached messages). Detection sends every OLE2 file with
//! `__substg1.0_` streams to the message reader, so the target forces `Ole`.
#![no_main]

use extractors::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    extractors_fuzz::check(data, Format::Ole);
});
