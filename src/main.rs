//! The `navigator` binary: everything lives in the library.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_option_set, mi_option_t, mi_realloc,
    mi_realloc_aligned, mi_zalloc, mi_zalloc_aligned,
};

/// mimalloc instead of the system allocator: request handling and the
/// legacy import allocate heavily (glibc's malloc was ~40% of the import's
/// profile), and musl's allocator, used by the static Lambda build, is slower
/// still.
#[global_allocator]
static ALLOCATOR: Mimalloc = Mimalloc;

/// mimalloc, asked for a plain block whenever Rust needs no more than a
/// word's alignment, which every mimalloc block has. `mimalloc::MiMalloc`
/// asks for an aligned block every time, and mimalloc serves an aligned
/// request over 1 KiB (a response buffer, a boxed future) by
/// over-allocating on its slow path: about 4,000 instructions of a GET by
/// id went there (`bench/instructions.sh`).
struct Mimalloc;

/// The alignment of every block mimalloc hands out.
const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: each method forwards to the mimalloc function of the same
// contract; the plain ones only where the layout asks for at most `WORD`.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = if layout.align() <= WORD {
            unsafe { mi_malloc(layout.size()) }
        } else {
            unsafe { mi_malloc_aligned(layout.size(), layout.align()) }
        };
        p.cast()
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = if layout.align() <= WORD {
            unsafe { mi_zalloc(layout.size()) }
        } else {
            unsafe { mi_zalloc_aligned(layout.size(), layout.align()) }
        };
        p.cast()
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let ptr = ptr.cast::<c_void>();
        let p = if layout.align() <= WORD {
            unsafe { mi_realloc(ptr, new_size) }
        } else {
            unsafe { mi_realloc_aligned(ptr, new_size, layout.align()) }
        };
        p.cast()
    }
}

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (libmimalloc-sys
/// names no constant for it): how long freed memory is kept before it is
/// given back to the OS.
const PURGE_DELAY: mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Give freed memory back at once. mimalloc 3 keeps it for a second,
    // per thread, and with a thread per SQLite connection that held the
    // server's resident memory under load at 45 MB instead of 37 (bench/),
    // for no measurable gain in throughput. Not in the importer, which
    // frees and reuses a partition's worth of memory at a time: there,
    // giving it back at once cost a page fault for every page reused
    // (a tenth of its time; its memory stays within its budget).
    if std::env::args().nth(1).as_deref() != Some("import-legacy") {
        // SAFETY: sets a plain option before any thread but this one exists.
        unsafe { mi_option_set(PURGE_DELAY, 0) };
    }
    malloc_arenas_per_core();
    navigator::cli::main()
}

/// SQLite allocates with the C library's malloc, not Rust's allocator, and
/// sqlx runs each SQLite connection on a thread of its own. glibc gives
/// threads up to eight arenas per core, so each connection had its own,
/// whose freed memory no other thread reuses: under load they held half
/// the server's resident memory. One arena per core shares that memory;
/// the price is some waiting on an arena's lock when many connections
/// allocate at once (SQLite's reads of long lists, bench/).
fn malloc_arenas_per_core() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: sets a plain malloc option before any thread but this
        // one exists (and so before any arena but the main one).
        unsafe { libc::mallopt(libc::M_ARENA_MAX, cores.try_into().unwrap_or(1)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libmimalloc_sys::mi_option_get;

    #[test]
    fn every_block_has_the_alignment_its_layout_asks_for_and_keeps_its_bytes() {
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1, 7, 8, 24, 100, 1000, 1025, 3000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                unsafe {
                    let p = ALLOCATOR.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "alloc {size} aligned to {align}");
                    p.write_bytes(0xA5, size);
                    let grown = ALLOCATOR.realloc(p, layout, size * 3);
                    assert_eq!(
                        grown as usize % align,
                        0,
                        "realloc {size} aligned to {align}"
                    );
                    assert!((0..size).all(|i| *grown.add(i) == 0xA5));
                    ALLOCATOR.dealloc(grown, Layout::from_size_align(size * 3, align).unwrap());

                    let zeroed = ALLOCATOR.alloc_zeroed(layout);
                    assert_eq!(
                        zeroed as usize % align,
                        0,
                        "zeroed {size} aligned to {align}"
                    );
                    assert!((0..size).all(|i| *zeroed.add(i) == 0));
                    ALLOCATOR.dealloc(zeroed, layout);
                }
            }
        }
    }

    #[test]
    fn the_purge_delay_option_is_the_one_whose_default_is_a_second() {
        // mimalloc 3's default purge delay is 1,000 ms; if an upgrade
        // renumbers the options, this index names another one.
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, 1000);
    }
}
