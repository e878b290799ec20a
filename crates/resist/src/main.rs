//! The `resist` command. Everything lives in the library so it can be tested.

fn main() -> std::process::ExitCode {
    resist::main()
}
