//! Arbitrary bytes as a migration file: parse, replay, lint, plan, render. No panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let deploy_phases = data.first().is_some_and(|b| b & 1 == 1);
    migrail::fuzzing::lint_bytes(data, deploy_phases);
});
