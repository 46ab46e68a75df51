//! Real GenCAD-Code fixture programs with one structured edit driven by the fuzz
//! bytes (a numeric literal or method name replaced, text inserted, lines dropped
//! or swapped...), so the fuzzer reaches the interpreter and geometry with programs
//! that mostly parse and run. See `cadrl_fuzz::mutate` for the byte layout.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(src) = cadrl_fuzz::mutate(data) {
        cadrl_fuzz::check(&src);
    }
});
