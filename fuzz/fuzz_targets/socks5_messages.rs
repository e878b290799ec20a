#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| resist_socks5::fuzzing::messages(data));
