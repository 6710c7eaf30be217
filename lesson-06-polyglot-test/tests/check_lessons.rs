//! `check` against the programs the lessons built: each lesson's own
//! program passes every stage of its target, and so do the matrix's
//! Python, Java and Go echo peers for lesson 03's targets.
//!
//! The lessons' programs run through this crate's hidden `lesson`
//! subcommand, which calls each lesson's library the way its `main` does.
//! A program that passes everything proves the stages ask for nothing the
//! lessons do not teach; `check_students.rs` proves they catch mistakes.

mod common;

use common::lesson::{assert_passes, available, lesson_program, peers};
use lesson_06_polyglot_test::Language;
use lesson_06_polyglot_test::check::Target;

#[test]
fn lesson_01_server_passes_01_server() {
    assert_passes(
        Target::Server01,
        &[],
        &lesson_program(Target::Server01, &[]),
    );
}

#[test]
fn lesson_02_server_passes_02_server() {
    assert_passes(
        Target::Server02,
        &[],
        &lesson_program(Target::Server02, &[]),
    );
}

#[test]
fn lesson_02_client_passes_02_client() {
    assert_passes(
        Target::Client02,
        &[],
        &lesson_program(Target::Client02, &[]),
    );
}

#[test]
fn lesson_03_server_passes_03_server() {
    assert_passes(
        Target::Server03,
        &[],
        &lesson_program(Target::Server03, &[]),
    );
}

#[test]
fn lesson_03_client_passes_03_client() {
    assert_passes(
        Target::Client03,
        &[],
        &lesson_program(Target::Client03, &[]),
    );
}

#[test]
fn lesson_04_server_passes_04_server() {
    let command = lesson_program(Target::Server04, &["--dir", "{dir}"]);
    assert_passes(Target::Server04, &[], &command);
}

#[test]
fn lesson_04_client_passes_04_client() {
    let command = lesson_program(Target::Client04, &["{file}"]);
    assert_passes(Target::Client04, &[], &command);
}

#[test]
fn lesson_05_server_passes_05_server_with_max_in_the_command() {
    let command = lesson_program(Target::Server05, &["--max-connections", "{max}"]);
    assert_passes(Target::Server05, &[], &command);
}

#[test]
fn lesson_05_server_passes_05_server_with_a_fixed_limit() {
    // Its limit written in the command, as if it were in its code: check
    // is told with --max-connections, and fills the limit to 7 for the
    // busy stage.
    let command = lesson_program(Target::Server05, &["--max-connections", "7"]);
    assert_passes(Target::Server05, &["--max-connections", "7"], &command);
}

/// The matrix peer of `language` in `role` passes lesson 03's target.
fn peer_passes(language: Language, role: &str, target: Target) {
    if !available(language) {
        return;
    }
    let command = peers()
        .command_line(language, role, "{port}")
        .expect("the peer's command line");
    assert_passes(target, &[], &command);
}

#[test]
fn python_echo_server_passes_03_server() {
    peer_passes(Language::Python, "server", Target::Server03);
}

#[test]
fn java_echo_server_passes_03_server() {
    peer_passes(Language::Java, "server", Target::Server03);
}

#[test]
fn go_echo_server_passes_03_server() {
    peer_passes(Language::Go, "server", Target::Server03);
}

#[test]
fn python_echo_client_passes_03_client() {
    peer_passes(Language::Python, "client", Target::Client03);
}

#[test]
fn java_echo_client_passes_03_client() {
    peer_passes(Language::Java, "client", Target::Client03);
}

#[test]
fn go_echo_client_passes_03_client() {
    peer_passes(Language::Go, "client", Target::Client03);
}
