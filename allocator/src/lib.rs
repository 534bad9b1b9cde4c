//! The process allocator Tributary's binaries install (ADR 0008): [`Allocator`], and
//! [`release_freed`], which the engine calls after each commit. The workspace's only `unsafe`
//! code lives here, in a crate of its own, against an exactly pinned mimalloc.
//!
//! ```
//! #[global_allocator]
//! static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;
//! # fn main() {}
//! ```
//!
//! It is mimalloc, because a sync makes many small, short-lived allocations from several
//! threads (documents, chunks, terms): a full sync is about 25% faster than on glibc's
//! allocator. One kind of allocation is treated differently: large **zeroed** blocks come
//! straight from the OS (`mmap`) and go straight back.
//!
//! Why: tantivy starts every segment with about a dozen zeroed 1 MB arena pages (one per
//! postings and fast-field table), most of which a commit window of small documents never
//! fills. Fresh from the OS, a zeroed page costs resident memory only where it is written.
//! Reused from the allocator, it must be cleared first, which makes all of it resident.
//! The first commit window got fresh pages and every later one reused ones, so resident
//! memory grew with the number of windows while the bytes allocated stayed flat (heaptrack:
//! 71 vs 75 MB; resident: 46 MB after 10k documents, 99 MB after 50k). Mapping such blocks
//! from the OS keeps every window as cheap as the first. [`release_freed`] does the same for
//! the rest of a window's buffers once it is committed.
//!
//! Not done instead (measured, ADR 0015): mimalloc's own options. Those that keep resident
//! memory as flat (`arena_max_object_size` of 1 MiB or less, with any `purge_delay`) send
//! *every* large page to the OS, not only zeroed ones, so PDF extraction refaults lopdf's
//! buffers: 3.5–10× the page faults and about 15–50% slower. The others (a shorter purge
//! delay alone, larger thresholds) leave 50k documents at 61–68 MB instead of 48–51. [`MiMalloc`] (plain mimalloc) is re-exported for
//! the binaries' `plain-mimalloc` feature, to measure that again.
//!
//! The unsafe code relies on mimalloc's C library (every block it hands out is in its page
//! map), so the library is pinned to an exact version; a test fails when it changes.

use std::alloc::{GlobalAlloc, Layout};

pub use mimalloc::MiMalloc;

/// The version of mimalloc's C library (`mi_version()`: major × 10000 + minor × 100 + patch)
/// this crate's unsafe code was reviewed against: 3.3.2, bundled by libmimalloc-sys 0.1.49.
pub const REVIEWED_MIMALLOC_VERSION: i32 = 30302;

/// Zeroed blocks at least this large are mapped from the OS. tantivy's arena pages (1 MB)
/// and term tables are; an ordinary `vec![0; n]` of a few KB is not.
const MAP_ZEROED_FROM: usize = 256 * 1024;

/// `mmap` returns page-aligned memory; a block needing more alignment stays with mimalloc.
const MAP_ALIGN: usize = 4096;

/// The global allocator: mimalloc, with large zeroed blocks mapped from the OS.
#[derive(Debug, Default, Clone, Copy)]
pub struct Allocator;

/// True when `ptr` (a live block of `size` bytes from [`Allocator`]) was mapped by
/// `alloc_zeroed` rather than allocated by mimalloc. mimalloc registers every block it hands
/// out, whatever its size or origin, in its page map; `mi_is_in_heap_region` looks there.
fn is_mapped(ptr: *mut u8, size: usize) -> bool {
    // The size test first: it spares every small free the page-map lookup.
    size >= MAP_ZEROED_FROM && {
        #[allow(unsafe_code)]
        // SAFETY: a page-map lookup; it reads mimalloc's table, never the pointer itself.
        let mimalloc_owns = unsafe { libmimalloc_sys::mi_is_in_heap_region(ptr.cast()) };
        !mimalloc_owns
    }
}

/// Maps `size` bytes of zero pages, or `None` (the caller falls back to mimalloc).
#[cfg(unix)]
fn map_zeroed(size: usize) -> Option<*mut u8> {
    #[allow(unsafe_code)]
    // SAFETY: an anonymous private mapping of a nonzero length, owned by the returned block
    // until `unmap` releases it.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    (ptr != libc::MAP_FAILED).then_some(ptr.cast())
}

#[cfg(not(unix))]
fn map_zeroed(_size: usize) -> Option<*mut u8> {
    None
}

/// Releases a block from [`map_zeroed`].
fn unmap(ptr: *mut u8, size: usize) {
    #[cfg(unix)]
    {
        #[allow(unsafe_code)]
        // SAFETY: `ptr`/`size` are exactly a mapping made by `map_zeroed` (checked by the
        // caller with `is_mapped`), and the block is being freed, so nothing uses it after.
        let _ = unsafe { libc::munmap(ptr.cast(), size) };
    }
    #[cfg(not(unix))]
    let _ = (ptr, size);
}

#[allow(unsafe_code)]
// SAFETY: every block is either mimalloc's (passed through unchanged) or a private mapping
// of at least `layout.size()` bytes, page-aligned, which satisfies any `layout.align()` up to
// `MAP_ALIGN`; `is_mapped` tells them apart before each free or resize.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= MAP_ZEROED_FROM
            && layout.align() <= MAP_ALIGN
            && let Some(ptr) = map_zeroed(layout.size())
        {
            return ptr;
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_mapped(ptr, layout.size()) {
            unmap(ptr, layout.size());
        } else {
            // SAFETY: a mimalloc block, freed with the layout it was allocated with.
            unsafe { MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !is_mapped(ptr, layout.size()) {
            // SAFETY: a mimalloc block; the caller guarantees `new_size` fits the layout rules.
            return unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        }
        // A mapped block moves into mimalloc: resizing is rare (a zeroed buffer that grows).
        // SAFETY: `new_size` is nonzero and, rounded to `layout.align()`, fits `isize`
        // (GlobalAlloc::realloc's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a nonzero-sized layout.
        let new = unsafe { MiMalloc.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct and at least this long.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            unmap(ptr, layout.size());
        }
        new
    }
}

/// Returns memory freed by this thread, and freed arena memory of every thread, to the OS
/// now instead of after mimalloc's purge delay. The sync's writer calls it after each commit,
/// when a commit window's indexing buffers have just been freed. Harmless when mimalloc is
/// not the global allocator.
pub fn release_freed() {
    #[allow(unsafe_code)]
    // SAFETY: no arguments beyond a flag; mimalloc synchronises its own arenas.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_block(layout: Layout, zeroed: bool, expect_mapped: bool) {
        let a = Allocator;
        #[allow(unsafe_code)]
        // SAFETY: nonzero layouts; each block is written and read within its length, resized
        // and freed once with the layout it has at that point.
        unsafe {
            let ptr = if zeroed {
                a.alloc_zeroed(layout)
            } else {
                a.alloc(layout)
            };
            assert!(!ptr.is_null());
            assert_eq!(ptr as usize % layout.align(), 0, "aligned");
            assert_eq!(is_mapped(ptr, layout.size()), expect_mapped, "{layout:?}");
            let block = std::slice::from_raw_parts_mut(ptr, layout.size());
            if zeroed {
                assert!(block.iter().all(|&b| b == 0), "zeroed");
            }
            block[0] = 7;
            block[layout.size() - 1] = 9;
            // Grow: the contents come along, wherever the block lives afterwards.
            let grown = a.realloc(ptr, layout, layout.size() * 2);
            assert!(!grown.is_null());
            assert_eq!(*grown, 7);
            assert_eq!(*grown.add(layout.size() - 1), 9);
            let grown_layout =
                Layout::from_size_align(layout.size() * 2, layout.align()).expect("layout");
            // Shrink below the mapping threshold, then free.
            let small = a.realloc(grown, grown_layout, 16);
            assert!(!small.is_null());
            assert_eq!(*small, 7);
            assert!(!is_mapped(small, 16));
            a.dealloc(
                small,
                Layout::from_size_align(16, layout.align()).expect("layout"),
            );
        }
    }

    #[test]
    fn threads_mixing_mapped_and_mimalloc_blocks_keep_their_contents() {
        // Blocks allocated on one thread and freed on another, mapped and not, as tantivy's
        // workers and the writer do; each keeps a per-thread pattern until it is freed.
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                std::thread::spawn(move || {
                    let a = Allocator;
                    let mut blocks = Vec::new();
                    for i in 0..64usize {
                        let size = if i % 2 == 0 {
                            MAP_ZEROED_FROM + i * 4096
                        } else {
                            4096
                        };
                        let layout = Layout::from_size_align(size, 8).expect("layout");
                        #[allow(unsafe_code)]
                        // SAFETY: nonzero layout; the block is written within its length.
                        let ptr = unsafe {
                            let p = if i % 3 == 0 {
                                a.alloc(layout)
                            } else {
                                a.alloc_zeroed(layout)
                            };
                            assert!(!p.is_null());
                            std::ptr::write_bytes(p, t + 1, size);
                            p
                        };
                        blocks.push((ptr as usize, layout));
                    }
                    blocks
                })
            })
            .collect();
        let mut all: Vec<(u8, Vec<(usize, Layout)>)> = handles
            .into_iter()
            .enumerate()
            .map(|(t, h)| (t as u8, h.join().expect("thread")))
            .collect();
        // Freed here, on another thread than the one that allocated them.
        for (t, blocks) in all.drain(..) {
            for (addr, layout) in blocks {
                let ptr = addr as *mut u8;
                #[allow(unsafe_code)]
                // SAFETY: a live block of `layout` from `Allocator`, read in bounds, freed once.
                unsafe {
                    let block = std::slice::from_raw_parts(ptr, layout.size());
                    assert!(block.iter().all(|&b| b == t + 1), "thread {t}'s pattern");
                    Allocator.dealloc(ptr, layout);
                }
            }
        }
    }

    #[test]
    fn the_c_library_is_the_reviewed_version() {
        #[allow(unsafe_code)]
        // SAFETY: no arguments; returns a constant compiled into the library.
        let version = unsafe { libmimalloc_sys::mi_version() };
        assert_eq!(
            version, REVIEWED_MIMALLOC_VERSION,
            "mimalloc's C library changed (mi_version {version}, reviewed: \
             {REVIEWED_MIMALLOC_VERSION}). Before updating the constant and the `=` pins in the \
             workspace Cargo.toml, re-check in its source: that `mi_is_in_heap_region` is still \
             true for every block mimalloc hands out (small, large, huge and OS-fallback ones) \
             and false for our own `mmap`s; that `mi_collect(true)` may still be called from any \
             thread; then run this crate's tests and the sync bench with and without \
             `--features plain-mimalloc` (ADR 0008, ADR 0015), since new options may make this \
             allocator unnecessary"
        );
    }

    #[test]
    fn large_zeroed_blocks_are_mapped_and_everything_else_is_mimallocs() {
        let layout = |size, align| Layout::from_size_align(size, align).expect("layout");
        check_block(layout(1 << 20, 8), true, true);
        check_block(layout(MAP_ZEROED_FROM, 4096), true, true);
        // Too small, too aligned, or not zeroed: mimalloc's, and not mistaken for a mapping.
        check_block(layout(MAP_ZEROED_FROM - 8, 8), true, false);
        check_block(layout(1 << 20, 1 << 16), true, false);
        check_block(layout(1 << 20, 8), false, false);
    }
}
