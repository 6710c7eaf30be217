//! Helpers shared by this lesson's test files.
//!
//! The peers are prepared once per test binary: the first test to ask for
//! them finds the toolchains and compiles the Java and Go peers into a
//! temporary folder; every other test waits for that and reuses it. The
//! `OnceLock` keeps the folder alive until the test process ends.

#![allow(dead_code)] // each test file uses a different part of this

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use lesson_06_polyglot_test::peers::{Peers, Unavailable};
use lesson_06_polyglot_test::{Language, Outcome, run_pair, sample_lines, toolchains_required};

/// This crate's binary, whose `rust-server` and `rust-client` are the Rust ends.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lesson-06-polyglot-test"))
}

// ANCHOR: once
/// Every language's peers, built once for this test binary.
pub fn peers() -> &'static Peers {
    static PEERS: OnceLock<Peers> = OnceLock::new();
    PEERS.get_or_init(|| Peers::prepare(binary(), &Language::ALL))
}
// ANCHOR_END: once

/// A pair or check that cannot run because a toolchain is missing: print
/// why and pass, unless `POLYGLOT_REQUIRE=1`, which makes it a failure.
pub fn skip(why: &str) {
    assert!(
        !toolchains_required(),
        "{}, and POLYGLOT_REQUIRE=1 makes that a failure: install it (.ci/run shows how)",
        why.trim_start_matches("skipped: ")
    );
    // Straight to stderr, not through eprintln!, which the test harness
    // captures: a skipped pair should say so even when it passes.
    // One write of the whole line, so parallel tests do not interleave.
    let _ = std::io::stderr().write_all(format!("{why}\n").as_bytes());
}

/// Whether `language`'s peers can run here; prints the skip (or fails,
/// see [`skip`]) when they cannot, and fails at once on a broken build.
pub fn available(language: Language) -> bool {
    match peers().check(language) {
        Ok(()) => true,
        Err(why @ Unavailable::NotFound(_)) => {
            skip(&why.to_string());
            false
        }
        Err(why) => panic!("{language} peers: {why}"),
    }
}

// ANCHOR: check_pair
/// Runs one pair of the matrix with the sample lines and fails the test
/// with the full report (what was sent, what came back) if it did not pass.
pub fn check_pair(server: Language, client: Language) {
    match run_pair(peers(), server, client, &sample_lines()) {
        Outcome::Ok => {}
        Outcome::Skipped(why) => skip(&why),
        Outcome::Failed(report) => panic!("{report}"),
    }
}
// ANCHOR_END: check_pair
