//! The `navigator` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    navigator::cli::main()
}
