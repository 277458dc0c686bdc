//! The `navigator` binary: everything lives in the library.

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// mimalloc instead of the system allocator: request handling and the
/// legacy import allocate heavily (glibc's malloc was ~40% of the import's
/// profile), and musl's allocator, used by the static Lambda build, is slower
/// still.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (libmimalloc-sys
/// names no constant for it): how long freed memory is kept before it is
/// given back to the OS.
const PURGE_DELAY: mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Give freed memory back at once. mimalloc 3 keeps it for a second,
    // per thread, and with a thread per SQLite connection that held the
    // server's resident memory under load at 45 MB instead of 37 (bench/),
    // for no measurable gain in throughput.
    // SAFETY: sets a plain option before any thread but this one exists.
    unsafe { mi_option_set(PURGE_DELAY, 0) };
    navigator::cli::main()
}

#[cfg(test)]
mod tests {
    use super::*;
    use libmimalloc_sys::mi_option_get;

    #[test]
    fn the_purge_delay_option_is_the_one_whose_default_is_a_second() {
        // mimalloc 3's default purge delay is 1,000 ms; if an upgrade
        // renumbers the options, this index names another one.
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, 1000);
    }
}
