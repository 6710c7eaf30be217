//! What only lesson 06's tests need, beside the shared toolkit in `mod.rs`:
//! the peers of the matrix, built once, and running `check`.
//!
//! The peers are prepared once per test binary: the first test to ask for
//! them finds the toolchains and compiles the Java and Go peers into a
//! temporary folder; every other test waits for that and reuses it. The
//! `OnceLock` keeps the folder alive until the test process ends.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use lesson_06_polyglot_test::check::Target;
use lesson_06_polyglot_test::check::report::stage_line;
use lesson_06_polyglot_test::peers::{Peers, Unavailable, find_on_path};
use lesson_06_polyglot_test::process::run_to_end;
use lesson_06_polyglot_test::{Language, Outcome, run_pair, sample_lines, toolchains_required};
use tempfile::TempDir;

use super::{BIN, Finished, spawn};

/// Lesson 06's servers are subcommands: the matrix's Rust end is `rust-server`.
pub const SERVER_COMMAND: &[&str] = &["rust-server"];

// ANCHOR: once
/// Every language's peers, built once for this test binary.
pub fn peers() -> &'static Peers {
    static PEERS: OnceLock<Peers> = OnceLock::new();
    PEERS.get_or_init(|| Peers::prepare(PathBuf::from(BIN), &Language::ALL))
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

// ---------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------

/// How long one run of `check` may take: every stage of the longest
/// target, with room for a busy machine.
pub const CHECK_LIMIT: Duration = Duration::from_secs(120);

/// The `--timeout` for a program that is expected to fail by going quiet:
/// shorter than the default, to keep the suite quick, and still seconds.
pub const QUIET_TIMEOUT: &str = "3";

/// Runs `check TARGET [options] -- COMMAND...`.
pub fn run_check(target: Target, options: &[&str], command: &[String]) -> Finished {
    let mut args: Vec<String> = vec!["check".into(), target.name().into()];
    args.extend(options.iter().map(|option| option.to_string()));
    args.push("--".into());
    args.extend(command.iter().cloned());
    spawn(&args).finish_within(CHECK_LIMIT)
}

/// The report, as printed.
pub fn report(finished: &Finished) -> String {
    let mut text = finished.stdout.join("\n");
    text.push('\n');
    text
}

/// Every run of spaces and line breaks made one space, so a wrapped hint
/// reads as one line.
pub fn unwrapped(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts that `command` passes every stage of `target`.
#[track_caller]
pub fn assert_passes(target: Target, options: &[&str], command: &[String]) {
    let finished = run_check(target, options, command);
    let report = report(&finished);
    let mut expected = String::new();
    for (index, stage) in target.stages().iter().enumerate() {
        expected += &stage_line("pass", index + 1, stage.name);
    }
    expected += &format!("\nall {} stages passed\n", target.stages().len());
    assert!(
        finished.status.code() == Some(0) && report.ends_with(&expected),
        "`{}` should pass every stage of {target} and exit 0\n{}",
        command.join(" "),
        finished.describe()
    );
}

/// Asserts that `command` passes the stages of `target` before `stage`
/// (counted from 1), fails `stage` with `hint`, and exits 1. Returns the
/// report, for a test that checks more of what it says.
#[track_caller]
pub fn assert_fails_at(
    target: Target,
    options: &[&str],
    command: &[String],
    stage: usize,
    hint: &str,
) -> String {
    let finished = run_check(target, options, command);
    let report = report(&finished);
    let stages = target.stages();
    let mut lines = String::new();
    for (index, each) in stages.iter().enumerate() {
        let status = match (index + 1).cmp(&stage) {
            std::cmp::Ordering::Less => "pass",
            std::cmp::Ordering::Equal => "FAIL",
            std::cmp::Ordering::Greater => "not run",
        };
        lines += &stage_line(status, index + 1, each.name);
    }
    let failed = format!("\nstage {stage} failed: {}\n", stages[stage - 1].name);
    let summary = format!(
        "\n{} of {} stages passed; stage {stage} failed\n",
        stage - 1,
        stages.len()
    );
    let hint_line = format!("hint: {hint}");
    assert!(
        finished.status.code() == Some(1)
            && report.contains(&lines)
            && report.contains(&failed)
            && unwrapped(&report).contains(&unwrapped(&hint_line))
            && report.ends_with(&summary),
        "`{}` should fail stage {stage} of {target} ({}), with the hint {hint:?}\n{}",
        command.join(" "),
        stages[stage - 1].name,
        finished.describe()
    );
    report
}

/// The folder of the programs a student might write.
pub fn student_programs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("student-programs")
}

/// Whether `program` is on PATH; prints the skip (or fails, see [`skip`])
/// when it is not. The student programs need no compiled peers, so this
/// does not wait for [`peers`].
pub fn on_path(program: &str) -> bool {
    if find_on_path(program).is_some() {
        return true;
    }
    skip(&format!("skipped: {program} not found on PATH"));
    false
}

/// `python3 student-programs/NAME ARGS...`, or `None` (and a skip) without Python.
pub fn python(name: &str, args: &[&str]) -> Option<Vec<String>> {
    if !on_path("python3") {
        return None;
    }
    let mut command = vec![
        "python3".to_string(),
        student_programs().join(name).to_string_lossy().into_owned(),
    ];
    command.extend(args.iter().map(|arg| arg.to_string()));
    Some(command)
}

/// `java student-programs/NAME.java {port}`: Java 11 and later run a
/// one-file program from its source.
pub fn java(name: &str) -> Option<Vec<String>> {
    if !on_path("java") {
        return None;
    }
    Some(vec![
        "java".to_string(),
        student_programs()
            .join(format!("{name}.java"))
            .to_string_lossy()
            .into_owned(),
        "{port}".to_string(),
    ])
}

/// The Go student programs, built once into a temporary folder.
fn go_programs() -> &'static Result<TempDir, String> {
    static BUILT: OnceLock<Result<TempDir, String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("lesson-06-students-")
            .tempdir()
            .map_err(|err| err.to_string())?;
        let go = find_on_path("go").ok_or("go not found on PATH")?;
        let mut command = Command::new(go);
        command
            .current_dir(student_programs())
            .args(["build", "-o"])
            .arg(dir.path().join("echo_dies_on_reset"))
            .arg("echo_dies_on_reset.go")
            .env("GOTOOLCHAIN", "local");
        let built = run_to_end(&mut command, Vec::new(), Duration::from_secs(300))
            .map_err(|err| format!("cannot run go build: {err}"))?;
        if built.status.is_some_and(|status| status.success()) {
            Ok(dir)
        } else {
            Err(format!(
                "go build failed: {}",
                String::from_utf8_lossy(&built.stderr)
            ))
        }
    })
}

/// A Go student program, built, with `{port}`.
pub fn go(name: &str) -> Option<Vec<String>> {
    if !on_path("go") {
        return None;
    }
    match go_programs() {
        Ok(dir) => Some(vec![
            dir.path().join(name).to_string_lossy().into_owned(),
            "{port}".to_string(),
        ]),
        Err(why) => panic!("building the Go student programs: {why}"),
    }
}

/// This crate's binary running a lesson's own program: `BIN lesson
/// 03-server --port {port} EXTRA...`.
pub fn lesson_program(target: Target, extra: &[&str]) -> Vec<String> {
    let mut command = vec![
        BIN.to_string(),
        "lesson".to_string(),
        target.name().to_string(),
        "--port".to_string(),
        "{port}".to_string(),
    ];
    command.extend(extra.iter().map(|arg| arg.to_string()));
    command
}
