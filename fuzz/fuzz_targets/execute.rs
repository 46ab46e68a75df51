//! Arbitrary bytes (as lossy UTF-8) through the native executor; valid solids also
//! through `mass_props` and `overlap`. See `cadrl_fuzz::check` for the oracle.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    cadrl_fuzz::check(&src);
});
