#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Replays every kept fuzz input (`tests/data/fuzz/<target>/*`: crashes found by `fuzz/`, and
//! inputs from the long runs' corpora that reached new code) through the same properties the
//! fuzz targets check (`flightrec::fuzzing`). A crash the fuzzer finds is fixed, then its
//! input is added here so it can never come back.

use std::path::Path;

#[test]
fn every_kept_fuzz_input_holds_its_property() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut checked = 0;
    for (target, property) in flightrec::fuzzing::TARGETS {
        let dir = root.join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{target}: no kept inputs under {}", dir.display());
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            if let Err(broken) = property(&data) {
                panic!("{target}: {}: {broken}", input.display());
            }
            checked += 1;
        }
    }
    eprintln!("{checked} kept fuzz inputs hold");
}
