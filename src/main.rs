//! The `navigator` binary: everything lives in the library.

/// mimalloc instead of the system allocator: request handling and the
/// legacy import allocate heavily (glibc's malloc was ~40% of the import's
/// profile), and musl's allocator, used by the static Lambda build, is slower
/// still.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    navigator::cli::main()
}
