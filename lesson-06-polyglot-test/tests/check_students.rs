//! `check` against programs a student might write (`student-programs/`):
//! each one that has a classic mistake fails exactly the stage that names
//! it, with the hint for that mistake, after passing every stage before.
//! The correct ones pass.
//!
//! A program whose mistake shows as silence (a missing `"\n"`, a buffer
//! never flushed, a client left waiting) fails when `--timeout` runs out;
//! those tests pass `--timeout 3` instead of the default 5 to keep the
//! suite quick.

mod common;

use common::lesson::{
    QUIET_TIMEOUT, assert_fails_at, assert_passes, go, java, lesson_program, python, unwrapped,
};
use lesson_06_polyglot_test::check::Target;
use lesson_06_polyglot_test::check::hints;

/// `--timeout 3`, for the programs that fail by going quiet.
const QUIET: &[&str] = &["--timeout", QUIET_TIMEOUT];

// 01-server

#[test]
fn greeting_without_newline_fails_sends_one_line() {
    if let Some(command) = python("greeting_without_newline.py", &["{port}"]) {
        assert_fails_at(Target::Server01, &[], &command, 2, hints::NO_NEWLINE);
    }
}

#[test]
fn greeting_that_never_closes_fails_closes_after_the_greeting() {
    if let Some(command) = python("greeting_never_closes.py", &["{port}"]) {
        let hint = hints::CLOSE_AFTER_THE_GREETING;
        assert_fails_at(Target::Server01, QUIET, &command, 4, hint);
    }
}

// 02-server

#[test]
fn lesson_01_server_fails_02_server_at_reading_the_reply() {
    // It greets and closes without reading: right for lesson 01, not 02.
    let command = lesson_program(Target::Server01, &[]);
    assert_fails_at(Target::Server02, QUIET, &command, 4, hints::PRINT_THE_REPLY);
}

#[test]
fn reply_single_recv_fails_reads_a_reply_in_two_pieces() {
    if let Some(command) = python("reply_single_recv.py", &["{port}"]) {
        assert_fails_at(Target::Server02, &[], &command, 6, hints::SINGLE_RECV);
    }
}

// 02-client

#[test]
fn client_reply_without_newline_fails_answers_with_a_line() {
    if let Some(command) = python("client_reply_without_newline.py", &["{port}"]) {
        assert_fails_at(Target::Client02, &[], &command, 2, hints::NO_NEWLINE);
    }
}

#[test]
fn client_single_recv_fails_reads_a_greeting_in_two_pieces() {
    if let Some(command) = python("client_single_recv.py", &["{port}"]) {
        assert_fails_at(Target::Client02, &[], &command, 5, hints::SINGLE_RECV);
    }
}

#[test]
fn client_that_never_shuts_down_fails_shuts_down_after_its_reply() {
    if let Some(command) = python("client_never_shuts_down.py", &["{port}"]) {
        assert_fails_at(Target::Client02, QUIET, &command, 6, hints::NO_SHUTDOWN);
    }
}

#[test]
fn client_that_closes_without_waiting_fails_waits_for_the_close() {
    if let Some(command) = python("client_closes_without_waiting.py", &["{port}"]) {
        let hint = hints::WAIT_FOR_THE_CLOSE;
        assert_fails_at(Target::Client02, &[], &command, 7, hint);
    }
}

// 03-server

#[test]
fn echo_all_but_last_byte_fails_echoes_one_line() {
    if let Some(command) = python("echo_all_but_last_byte.py", &["{port}"]) {
        assert_fails_at(Target::Server03, QUIET, &command, 2, hints::DROPS_LAST_BYTE);
    }
}

#[test]
fn java_echo_without_flush_fails_echoes_one_line() {
    if let Some(command) = java("EchoWithoutFlush") {
        assert_fails_at(Target::Server03, QUIET, &command, 2, hints::ECHO_NOT_SENT);
    }
}

#[test]
fn echo_single_recv_fails_echoes_a_line_byte_by_byte() {
    if let Some(command) = python("echo_single_recv.py", &["{port}"]) {
        assert_fails_at(Target::Server03, &[], &command, 3, hints::SINGLE_RECV);
    }
}

#[test]
fn echo_that_decodes_each_read_fails_echoes_a_line_byte_by_byte() {
    if let Some(command) = python("echo_decodes_each_read.py", &["{port}"]) {
        let hint = hints::DECODES_EACH_READ;
        assert_fails_at(Target::Server03, &[], &command, 3, hint);
    }
}

#[test]
fn echo_that_forgets_to_close_fails_closes_at_end_of_stream() {
    if let Some(command) = python("echo_forgets_to_close.py", &["{port}"]) {
        let hint = hints::CLOSE_AT_END_OF_STREAM;
        assert_fails_at(Target::Server03, QUIET, &command, 5, hint);
    }
}

#[test]
fn echo_for_one_client_fails_serves_a_second_client() {
    if let Some(command) = python("echo_one_client.py", &["{port}"]) {
        assert_fails_at(Target::Server03, &[], &command, 6, hints::ACCEPT_IN_A_LOOP);
    }
}

#[test]
fn go_echo_that_dies_on_a_reset_fails_survives_a_reset() {
    if let Some(command) = go("echo_dies_on_reset") {
        assert_fails_at(Target::Server03, &[], &command, 7, hints::SURVIVE_A_RESET);
    }
}

#[test]
fn echo_one_at_a_time_passes_03_server() {
    if let Some(command) = python("echo_one_at_a_time.py", &["{port}"]) {
        assert_passes(Target::Server03, &[], &command);
    }
}

// 03-client

#[test]
fn echo_client_without_newline_fails_sends_its_first_line() {
    if let Some(command) = python("echo_client_no_newline.py", &["{port}"]) {
        assert_fails_at(Target::Client03, QUIET, &command, 2, hints::NO_NEWLINE);
    }
}

#[test]
fn echo_client_that_never_shuts_down_fails_shuts_down_after_its_last_line() {
    if let Some(command) = python("echo_client_never_shuts_down.py", &["{port}"]) {
        assert_fails_at(Target::Client03, QUIET, &command, 4, hints::NO_SHUTDOWN);
    }
}

#[test]
fn echo_client_single_recv_fails_prints_every_echo() {
    if let Some(command) = python("echo_client_single_recv.py", &["{port}"]) {
        assert_fails_at(Target::Client03, &[], &command, 5, hints::PRINT_WHOLE_ECHO);
    }
}

#[test]
fn echo_client_that_ignores_an_early_close_fails_reports_it() {
    if let Some(command) = python("echo_client_ignores_early_close.py", &["{port}"]) {
        assert_fails_at(Target::Client03, &[], &command, 6, hints::REPORT_FAILURE);
    }
}

// 04-server

#[test]
fn tutorial_upload_server_fails_answers_ready() {
    if let Some(command) = python("upload_tutorial.py", &["{port}", "{dir}"]) {
        assert_fails_at(Target::Server04, QUIET, &command, 2, hints::ANSWER_READY);
    }
}

#[test]
fn upload_server_that_trusts_names_fails_refuses_hostile_names() {
    if let Some(command) = python("upload_server.py", &["{port}", "{dir}", "--trust-names"]) {
        assert_fails_at(Target::Server04, &[], &command, 5, hints::REFUSE_BAD_NAMES);
    }
}

#[test]
fn upload_server_without_temp_file_fails_short_body_leaves_nothing() {
    if let Some(command) = python("upload_server.py", &["{port}", "{dir}", "--no-temp-file"]) {
        assert_fails_at(Target::Server04, QUIET, &command, 9, hints::TEMP_FILE);
    }
}

#[test]
fn upload_server_that_decodes_the_body_fails_saves_binary_exactly() {
    if let Some(command) = python("upload_server.py", &["{port}", "{dir}", "--decode-body"]) {
        assert_fails_at(Target::Server04, &[], &command, 4, hints::BINARY_BODY);
    }
}

#[test]
fn upload_server_passes_04_server() {
    if let Some(command) = python("upload_server.py", &["{port}", "{dir}"]) {
        assert_passes(Target::Server04, &[], &command);
    }
}

// 04-client

#[test]
fn tutorial_upload_client_fails_sends_the_header() {
    if let Some(command) = python("upload_client_tutorial.py", &["{port}", "{file}"]) {
        assert_fails_at(Target::Client04, &[], &command, 2, hints::SEND_THE_HEADER);
    }
}

#[test]
fn upload_client_that_does_not_wait_fails_waits_for_ready() {
    if let Some(command) = python("upload_client.py", &["{port}", "{file}", "--no-wait"]) {
        assert_fails_at(Target::Client04, &[], &command, 3, hints::WAIT_FOR_READY);
    }
}

#[test]
fn upload_client_that_ignores_ok_fails_reports_a_missing_ok() {
    if let Some(command) = python("upload_client.py", &["{port}", "{file}", "--no-ok"]) {
        assert_fails_at(Target::Client04, &[], &command, 7, hints::WAIT_FOR_OK);
    }
}

#[test]
fn upload_client_reading_its_file_as_text_fails_sends_exactly_the_file() {
    if let Some(command) = python("upload_client.py", &["{port}", "{file}", "--text-mode"]) {
        let report = assert_fails_at(Target::Client04, &[], &command, 4, hints::SEND_THE_FILE);
        let said = unwrapped(&report);
        assert!(
            said.contains("the body differs from the file from byte"),
            "a client that sends its file decoded and encoded again should be reported as \
             \"the body differs from the file from byte ...\"\n{report}"
        );
    }
}

#[test]
fn upload_client_passes_04_client() {
    if let Some(command) = python("upload_client.py", &["{port}", "{file}"]) {
        assert_passes(Target::Client04, &[], &command);
    }
}

// 05-server

#[test]
fn lesson_03_server_fails_05_server_at_the_silent_client() {
    // Right for lesson 03 (one client at a time, on purpose), not for 05.
    let command = lesson_program(Target::Server03, &[]);
    assert_fails_at(Target::Server05, QUIET, &command, 8, hints::ONE_AT_A_TIME);
}

#[test]
fn echo_one_at_a_time_fails_05_server_at_the_silent_client() {
    if let Some(command) = python("echo_one_at_a_time.py", &["{port}"]) {
        assert_fails_at(Target::Server05, QUIET, &command, 8, hints::ONE_AT_A_TIME);
    }
}

#[test]
fn threaded_server_replying_to_the_latest_client_fails_the_hundred_clients() {
    let args = ["{port}", "{max}", "--reply-to-latest"];
    if let Some(command) = python("threaded_server.py", &args) {
        assert_fails_at(Target::Server05, QUIET, &command, 9, hints::OWN_CONNECTION);
    }
}

#[test]
fn threaded_server_ignoring_its_limit_fails_busy_over_the_limit() {
    if let Some(command) = python("threaded_server.py", &["{port}", "{max}", "--ignore-limit"]) {
        assert_fails_at(Target::Server05, QUIET, &command, 10, hints::SAY_BUSY);
    }
}

#[test]
fn threaded_server_one_place_short_fails_busy_over_the_limit_naming_the_client() {
    let args = ["{port}", "{max}", "--one-too-few"];
    if let Some(command) = python("threaded_server.py", &args) {
        let report = assert_fails_at(Target::Server05, QUIET, &command, 10, hints::ECHO_DIFFERS);
        // The report names the client that was turned away within the limit.
        let said = unwrapped(&report);
        assert!(
            said.contains("client 3 of 3 was not served (the echo differs from what was sent")
                && said.contains("though the limit is 3"),
            "a server that says busy to client 3 of a limit of 3 should be reported as \
             \"client 3 of 3 was not served (...), though the limit is 3\"\n{report}"
        );
    }
}

#[test]
fn threaded_server_closing_silently_over_its_limit_fails_busy_over_the_limit() {
    let args = ["{port}", "{max}", "--close-silently"];
    if let Some(command) = python("threaded_server.py", &args) {
        let report = assert_fails_at(Target::Server05, QUIET, &command, 10, hints::SAY_BUSY);
        let said = unwrapped(&report);
        assert!(
            said.contains("client 4 was disconnected without being told why"),
            "a server that closes the connection of client 4 of a limit of 3 without a word \
             should be reported as \"client 4 was disconnected without being told why\"\n{report}"
        );
    }
}

#[test]
fn threaded_server_that_never_frees_a_place_fails_the_last_stage() {
    if let Some(command) = python("threaded_server.py", &["{port}", "{max}", "--never-free"]) {
        assert_fails_at(Target::Server05, QUIET, &command, 11, hints::FREE_THE_PLACE);
    }
}

#[test]
fn threaded_server_passes_05_server() {
    if let Some(command) = python("threaded_server.py", &["{port}", "{max}"]) {
        assert_passes(Target::Server05, &[], &command);
    }
}
