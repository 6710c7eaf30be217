//! Files sent by the real client arrive byte for byte, with the exact lines
//! the client and the server print, through both copy paths (`--copy loop`
//! and `--copy zero-copy` on both sides).

mod common;

use std::fs;

use common::lesson::{
    COPY_PATHS, Scratch, finish_upload, line_starting_with, names, random_bytes, snapshot,
    start_in, start_upload, upload,
};
use common::{escaped, first_difference, run_client};

/// Sends `content` as `name` with `--copy copy` on both sides, and checks
/// both sides' lines, the saved bytes, and that nothing else is in `--dir`.
fn round_trip(copy: &str, name: &str, content: &[u8]) {
    let scratch = Scratch::new();
    let source = scratch.file(name, content);
    let (mut server, addr) = start_in(&scratch.dir, &["--copy", copy]);

    let client = run_client(addr, &[&source, "--copy", copy], b"");
    assert!(
        client.status.success(),
        "--copy {copy}: the client failed\n{}",
        client.describe()
    );
    let expected_start = format!("sent {name}: {} bytes in ", content.len());
    assert!(
        client.stdout.len() == 1
            && client.stdout[0].starts_with(&expected_start)
            && client.stdout[0].ends_with(" MB/s)"),
        "--copy {copy}: the client should print one line {expected_start:?}...\" MB/s)\", \
         printed {:?}",
        client.stdout
    );
    let connected = server.next_line();
    assert!(
        connected.starts_with("client 127.0.0.1:") && connected.ends_with(" connected"),
        "the server should log \"client ADDR connected\", logged {connected:?}"
    );
    let received = line_starting_with(&mut server, "received");
    let expected_start = format!("received {name}: {} bytes in ", content.len());
    assert!(
        received.starts_with(&expected_start) && received.ends_with(" MB/s)"),
        "--copy {copy}: the server should log {expected_start:?}...\" MB/s)\", logged {received:?}"
    );

    let saved = fs::read(scratch.dir.join(name)).expect("reading the saved file");
    assert!(
        saved == content,
        "--copy {copy}: the saved file differs from the one sent: {} bytes sent, {} saved, \
         first difference at byte {}; saved {}",
        content.len(),
        saved.len(),
        first_difference(&saved, content),
        escaped(&saved)
    );
    let listing = snapshot(&scratch.dir);
    assert_eq!(
        listing.len(),
        1,
        "only {name} should be in --dir (no temporary file left), found {:?}",
        names(&listing)
    );
}

#[test]
fn a_small_file_arrives_intact_through_the_loop() {
    round_trip("loop", "hello.txt", b"hello, file transfer\n");
}

#[test]
fn a_small_file_arrives_intact_through_zero_copy() {
    round_trip("zero-copy", "hello.txt", b"hello, file transfer\n");
}

#[test]
fn an_empty_file_arrives_intact_through_the_loop() {
    round_trip("loop", "empty.txt", b"");
}

#[test]
fn an_empty_file_arrives_intact_through_zero_copy() {
    round_trip("zero-copy", "empty.txt", b"");
}

#[test]
fn a_one_byte_file_arrives_intact_through_both_paths() {
    // The client sends the last piece of the body from memory, once it knows
    // the file ends there (see send_exactly): for one byte, that is all.
    round_trip("loop", "one.txt", b"1");
    round_trip("zero-copy", "one.txt", b"1");
}

#[test]
fn a_multi_megabyte_random_file_arrives_intact_through_the_loop() {
    // 5 MiB and 3 bytes: several body buffers and an odd tail.
    round_trip("loop", "random.bin", &random_bytes(4, 5 * 1024 * 1024 + 3));
}

#[test]
fn a_multi_megabyte_random_file_arrives_intact_through_zero_copy() {
    round_trip(
        "zero-copy",
        "random.bin",
        &random_bytes(4, 5 * 1024 * 1024 + 3),
    );
}

#[test]
fn a_name_with_spaces_and_unicode_is_kept() {
    round_trip(
        "loop",
        "my notes – été.txt",
        b"the name is the rest of the line\n",
    );
    round_trip(
        "zero-copy",
        "我的笔记 été.txt",
        b"the name is the rest of the line\n",
    );
}

#[test]
fn name_chooses_the_saved_name() {
    let scratch = Scratch::new();
    let source = scratch.file("local.txt", b"renamed on the way\n");
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    let client = run_client(addr, &[&source, "--name", "remote.txt"], b"");
    assert!(
        client.status.success() && client.stdout[0].starts_with("sent remote.txt: 19 bytes in "),
        "{}",
        client.describe()
    );
    line_starting_with(&mut server, "received remote.txt: 19 bytes in ");
    assert_eq!(
        names(&snapshot(&scratch.dir)),
        ["remote.txt"],
        "only the --name should be saved"
    );
}

#[test]
fn a_name_of_255_bytes_is_accepted() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    let name = "n".repeat(255);
    assert_eq!(upload(addr, &name, b"long name\n"), "OK 10\n");
    line_starting_with(&mut server, "received ");
    assert_eq!(
        fs::read(scratch.dir.join(&name)).expect("reading the saved file"),
        b"long name\n"
    );
}

#[test]
fn the_server_serves_clients_one_after_another_and_stops_after_max_clients() {
    let scratch = Scratch::new();
    let (server, addr) = start_in(&scratch.dir, &["--max-clients", "2"]);
    assert_eq!(upload(addr, "one.txt", b"1"), "OK 1\n");
    assert_eq!(upload(addr, "two.txt", b"22"), "OK 2\n");
    let finished = server.finish();
    assert!(
        finished.status.success(),
        "the server should exit with success after --max-clients 2\n{}",
        finished.describe()
    );
    assert_eq!(names(&snapshot(&scratch.dir)), ["one.txt", "two.txt"]);
}

#[test]
fn more_than_the_announced_size_is_not_saved() {
    // A client that sends more than it announced: the server takes exactly
    // the announced bytes, says OK for them, and the rest is not saved.
    for copy in COPY_PATHS {
        let scratch = Scratch::new();
        let (mut server, addr) = start_in(&scratch.dir, &["--copy", copy]);
        let mut stream = start_upload(addr, "a.txt", 3);
        let reply = finish_upload(&mut stream, b"abcdef");
        assert_eq!(
            reply, "OK 3\n",
            "--copy {copy}: sent \"SEND 3 a.txt\\n\", then \"abcdef\""
        );
        line_starting_with(&mut server, "received a.txt: 3 bytes in ");
        let saved = fs::read(scratch.dir.join("a.txt")).expect("reading a.txt");
        assert!(
            saved == b"abc",
            "--copy {copy}: announced 3 bytes and sent \"abcdef\"; the server saved {} \
             (hint: the loop must never ask for more than is still due)",
            escaped(&saved)
        );
    }
}

#[test]
fn names_that_only_look_like_temporary_files_are_accepted() {
    // Only `.upload-<anything>.part` is kept for the server's temporary
    // files; a name with just one of the two ends is an ordinary name.
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    for name in ["movie.part", ".upload-list.txt"] {
        assert_eq!(
            upload(addr, name, b"ordinary"),
            "OK 8\n",
            "{name:?} is an ordinary name"
        );
        line_starting_with(&mut server, &format!("received {name}: 8 bytes in "));
    }
    assert_eq!(
        names(&snapshot(&scratch.dir)),
        [".upload-list.txt", "movie.part"]
    );
}
