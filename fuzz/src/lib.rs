//! What the fuzz targets share: which panics are findings.
//!
//! Every panic is a finding in our own code. Some dependencies panic on malformed input
//! in places we cannot reach: calamine indexes BIFF records and formula tokens unchecked
//! (a sheet record shorter than its fixed part, a formula longer than its record, …). We
//! refuse the cases we can recognise before calamine reads a file (`biff::check_records`),
//! and the registry's `catch_unwind` turns the rest into `corrupt` errors for users — the
//! contract this target checks. libFuzzer's own panic hook would abort on them first and
//! end every run at the same third-party bug, so panics raised in those crates' sources
//! are let through to the registry and only counted.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use extractors::{Format, Limits, Registry};

/// Source paths (of the crate registry) whose panics the registry contains.
const CONTAINED: &[&str] = &["/calamine-"];

static CONTAINED_PANIC: AtomicBool = AtomicBool::new(false);

/// Wraps libFuzzer's panic hook (installed before the first input) so that a panic raised
/// in a contained dependency unwinds to the registry instead of aborting. Call at the
/// start of every input.
pub fn contain_dependency_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let file = info.location().map_or("", |l| l.file());
            if CONTAINED.iter().any(|c| file.contains(c)) {
                CONTAINED_PANIC.store(true, Ordering::SeqCst);
            } else {
                fuzzer_hook(info);
            }
        }));
    });
    CONTAINED_PANIC.store(false, Ordering::SeqCst);
}

/// Whether `message` (an extraction error) is acceptable: not a panic, or a panic of a
/// contained dependency during this input.
pub fn acceptable(message: &str) -> bool {
    // The registry's own words lead the message ("xml extractor panicked: …"); the same
    // words further on are the input's, quoted by a parser's error.
    let panicked = message
        .split_once(" extractor panicked: ")
        .is_some_and(|(format, _)| !format.contains(char::is_whitespace));
    !panicked || CONTAINED_PANIC.load(Ordering::SeqCst)
}

/// Extracts `file` as `format` the way users get it (through the registry, 5 s deadline)
/// and fails the run on an unacceptable error: the registry turns a panic into a
/// `corrupt` error for users; here it is a finding, unless a contained dependency raised it.
pub fn check(file: &[u8], format: Format) {
    contain_dependency_panics();
    let limits = Limits {
        timeout: std::time::Duration::from_secs(5),
        ..Limits::default()
    };
    if let Err(e) = Registry::default().extract_as(file, format, &limits) {
        assert!(acceptable(&e.message), "{e}");
    }
}

/// [`check`] for targets covering several formats: the input's first byte picks one of
/// `formats`, the rest is the file.
pub fn check_picked(data: &[u8], formats: &[Format]) {
    if let Some((&pick, file)) = data.split_first() {
        check(file, formats[usize::from(pick) % formats.len()]);
    }
}
