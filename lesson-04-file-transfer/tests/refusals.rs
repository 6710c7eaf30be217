//! Everything the server must refuse before a single body byte, with the
//! exact `ERR` line, and with nothing written anywhere: not in `--dir`
//! (no file, no temporary file) and not next to it.

mod common;

use std::fs;
use std::io::Write;
use std::net::Shutdown;

use common::lesson::{
    Scratch, assert_refused, line_starting_with, names, random_bytes, snapshot, start_in, upload,
};
use common::{connect, read_line, run};

/// Sends each header to one server and checks the exact reply, the log line,
/// and that neither `--dir` nor the folder around it changed.
fn assert_all_refused(extra: &[&str], cases: &[(&[u8], &str)]) {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, extra);
    for (header, expected) in cases {
        let before_dir = snapshot(&scratch.dir);
        let before_parent = snapshot(scratch.root.path());
        assert_refused(addr, header, expected);
        // The log line comes after any file system work, so once it is
        // there the folders are final.
        let logged = line_starting_with(&mut server, "refused ");
        let code = expected.split(' ').nth(1).unwrap_or_default();
        assert!(
            logged.contains(&format!(": {code} ")),
            "the server should log \"refused ...: {code} ...\", logged {logged:?}"
        );
        let after_dir = snapshot(&scratch.dir);
        assert!(
            after_dir == before_dir,
            "sent {:?}: --dir changed from {:?} to {:?}",
            String::from_utf8_lossy(header),
            names(&before_dir),
            names(&after_dir)
        );
        let after_parent = snapshot(scratch.root.path());
        assert!(
            after_parent == before_parent,
            "sent {:?}: the folder around --dir changed from {:?} to {:?}",
            String::from_utf8_lossy(header),
            names(&before_parent),
            names(&after_parent)
        );
    }
}

#[test]
fn hostile_names_are_refused_and_nothing_is_written() {
    let long = format!("SEND 5 {}\n", "n".repeat(256));
    assert_all_refused(
        &[],
        &[
            (b"SEND 5 ..\n", "ERR bad-name the name must not be \"..\"\n"),
            (b"SEND 5 .\n", "ERR bad-name the name must not be \".\"\n"),
            (
                b"SEND 5 ../escape\n",
                "ERR bad-name the name must not contain '/'\n",
            ),
            (
                b"SEND 5 /etc/passwd\n",
                "ERR bad-name the name must not contain '/'\n",
            ),
            (
                b"SEND 5 a/b\n",
                "ERR bad-name the name must not contain '/'\n",
            ),
            (
                b"SEND 5 a\\b\n",
                "ERR bad-name the name must not contain '\\\\'\n",
            ),
            (
                b"SEND 5 nul\0byte\n",
                "ERR bad-name the name must not contain '\\0'\n",
            ),
            (
                // What a telnet-style client sends: the \r stays in the name.
                b"SEND 5 a.txt\r\n",
                "ERR bad-name the name must not contain '\\r'\n",
            ),
            (
                long.as_bytes(),
                "ERR bad-name the name is 256 bytes long; at most 255 are allowed\n",
            ),
            (b"SEND 5 \n", "ERR bad-name the name is empty\n"),
        ],
    );
}

#[test]
fn bad_headers_are_refused_and_nothing_is_written() {
    assert_all_refused(
        &[],
        &[
            (
                b"SEND  a.txt\n",
                "ERR bad-header the size must be a decimal number of bytes, got \"\"\n",
            ),
            (
                b"SEND -5 a.txt\n",
                "ERR bad-header the size must be a decimal number of bytes, got \"-5\"\n",
            ),
            (
                b"SEND five a.txt\n",
                "ERR bad-header the size must be a decimal number of bytes, got \"five\"\n",
            ),
            (
                b"SEND +5 a.txt\n",
                "ERR bad-header the size must be a decimal number of bytes, got \"+5\"\n",
            ),
            (
                // u64::MAX + 1
                b"SEND 18446744073709551616 a.txt\n",
                "ERR bad-header the size 18446744073709551616 does not fit in 64 bits\n",
            ),
            (
                b"SEND 5\n",
                "ERR bad-header expected a space between the size and the name\n",
            ),
            (
                b"SEND5 a.txt\n",
                "ERR bad-header expected \"SEND <size> <name>\", got \"SEND5 a.txt\"\n",
            ),
            (
                b"send 5 a.txt\n",
                "ERR bad-header expected \"SEND <size> <name>\", got \"send 5 a.txt\"\n",
            ),
            (
                b"SEND 5 caf\xe9.txt\n",
                "ERR bad-header the header is not valid UTF-8\n",
            ),
            (
                b"\xff\xfe\n",
                "ERR bad-header the header is not valid UTF-8\n",
            ),
            (
                &[b'A'; 5 * 1024],
                "ERR bad-header no newline in the first 4096 bytes\n",
            ),
        ],
    );
}

#[test]
fn the_header_search_stops_at_4096_bytes() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &[]);

    // Exactly 4096 bytes and no newline: the server must answer without
    // waiting for more, which proves it stopped looking at 4096.
    let mut stream = connect(addr);
    stream.write_all(&[b'A'; 4096]).expect("sending 4096 bytes");
    let reply = read_line(&mut stream, "the server");
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "ERR bad-header no newline in the first 4096 bytes\n",
        "after 4096 bytes without \\n the server must refuse at once"
    );
    drop(stream);
    line_starting_with(&mut server, "refused header: bad-header ");

    // 4095 bytes and the newline: a whole line of 4096 bytes is read, so the
    // refusal is about the name, not the header.
    let header = format!("SEND 5 {}\n", "n".repeat(4096 - 8));
    assert_eq!(header.len(), 4096);
    assert_refused(
        addr,
        header.as_bytes(),
        "ERR bad-name the name is 4088 bytes long; at most 255 are allowed\n",
    );
    line_starting_with(&mut server, "refused ");
    assert!(snapshot(&scratch.dir).is_empty());
}

#[test]
fn a_header_cut_off_by_the_client_is_refused() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    let mut stream = connect(addr);
    stream
        .write_all(b"SEND 5 a.t")
        .expect("sending half a header");
    stream
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    assert_eq!(
        String::from_utf8_lossy(&read_line(&mut stream, "the server")),
        "ERR bad-header the connection closed in the middle of the header\n"
    );
    line_starting_with(&mut server, "refused header: bad-header ");

    // A client that connects and leaves at once.
    drop(connect(addr));
    let logged = line_starting_with(&mut server, "refused header: ");
    assert_eq!(
        logged,
        "refused header: bad-header the connection closed before a header"
    );
    assert!(snapshot(&scratch.dir).is_empty());
}

#[test]
fn a_silent_client_is_dropped_after_the_timeout() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &["--timeout", "1"]);
    let mut stream = connect(addr);
    // Say nothing: the server's --timeout fires, well within our WAIT.
    assert_eq!(
        String::from_utf8_lossy(&read_line(&mut stream, "the server")),
        "ERR timeout no header within 1 s\n"
    );
    drop(stream);
    line_starting_with(&mut server, "refused header: timeout ");
    assert_eq!(
        upload(addr, "next.txt", b"next"),
        "OK 4\n",
        "the server should serve the next client after a time-out"
    );
}

#[test]
fn the_tutorial_client_sending_raw_bytes_is_refused() {
    // The tutorial's client connects and sends the file's bytes with no
    // header, then closes. Text: its first line is taken for a header.
    let text = b"Hello from the tutorial client!\nThis file has no header.\n";
    // Binary: random bytes are not UTF-8 (and 64 KiB is more than the
    // header buffer, so the server must also cope with unread bytes).
    let binary = random_bytes(1, 64 * 1024);
    for (body, expected) in [
        (
            &text[..],
            "ERR bad-header expected \"SEND <size> <name>\", got \"Hello from the tutorial client!\"\n",
        ),
        (
            &binary[..],
            "ERR bad-header the header is not valid UTF-8\n",
        ),
    ] {
        let scratch = Scratch::new();
        let (mut server, addr) = start_in(&scratch.dir, &[]);
        let mut stream = connect(addr);
        stream.write_all(body).expect("sending the raw file");
        stream
            .shutdown(Shutdown::Write)
            .expect("shutting down the write half, as the tutorial's close() does");
        assert_eq!(
            String::from_utf8_lossy(&read_line(&mut stream, "the server")),
            expected
        );
        line_starting_with(&mut server, "refused header: bad-header ");
        assert!(
            snapshot(&scratch.dir).is_empty(),
            "nothing may be saved from a headerless upload, found {:?}",
            names(&snapshot(&scratch.dir))
        );
    }
}

#[test]
fn too_large_is_refused_before_any_body() {
    assert_all_refused(
        &["--max-size", "10"],
        &[(
            b"SEND 11 big.bin\n",
            "ERR too-large 11 bytes is more than the limit of 10 bytes\n",
        )],
    );
    // The limit itself is allowed.
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &["--max-size", "10"]);
    assert_eq!(upload(addr, "ten.bin", b"0123456789"), "OK 10\n");
    line_starting_with(&mut server, "received ten.bin: 10 bytes in ");
}

#[test]
fn an_existing_file_is_refused_without_overwrite() {
    let scratch = Scratch::new();
    fs::write(scratch.dir.join("a.txt"), b"the original\n").expect("writing a.txt");
    fs::create_dir(scratch.dir.join("folder")).expect("making a folder");
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    let before = snapshot(scratch.root.path());
    assert_refused(addr, b"SEND 4 a.txt\n", "ERR exists a.txt already exists\n");
    assert_eq!(
        line_starting_with(&mut server, "refused "),
        "refused a.txt: exists a.txt already exists"
    );
    assert_refused(
        addr,
        b"SEND 4 folder\n",
        "ERR exists folder is a directory\n",
    );
    line_starting_with(&mut server, "refused ");
    assert!(
        snapshot(scratch.root.path()) == before,
        "a refused upload changed the folder"
    );
}

#[test]
fn the_refusal_is_logged_with_the_name_made_printable() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    assert_refused(
        addr,
        b"SEND 5 a\x1b[31mred\n",
        "ERR bad-name the name must not contain '\\u{1b}'\n",
    );
    assert_eq!(
        line_starting_with(&mut server, "refused "),
        "refused a\\u{1b}[31mred: bad-name the name must not contain '\\u{1b}'"
    );
}

#[test]
fn an_unusable_dir_is_an_error_at_start() {
    let scratch = Scratch::new();
    let file = scratch.root.path().join("not-a-folder");
    fs::write(&file, b"").expect("writing a file");
    let file_text = file.to_str().expect("the path is UTF-8");
    let finished = run(&["server", "--port", "0", "--dir", file_text]);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert_eq!(
        finished.stderr,
        format!("error: cannot use --dir {file_text}: it is not a folder\n")
    );
    assert!(
        finished.stdout.is_empty(),
        "nothing may be printed on stdout\n{}",
        finished.describe()
    );
}

#[test]
fn invisible_and_direction_changing_characters_are_refused() {
    // Unicode format characters (category Cf) change how a name looks, not
    // what it is: "a\u{202e}gnp.exe" is listed as "aexe.png".
    assert_all_refused(
        &[],
        &[
            (
                "SEND 5 a\u{202e}gnp.exe\n".as_bytes(),
                "ERR bad-name the name must not contain U+202E, an invisible formatting character\n",
            ),
            (
                "SEND 5 pass\u{200b}word.txt\n".as_bytes(),
                "ERR bad-name the name must not contain U+200B, an invisible formatting character\n",
            ),
            (
                "SEND 5 \u{feff}bom.txt\n".as_bytes(),
                "ERR bad-name the name must not contain U+FEFF, an invisible formatting character\n",
            ),
            (
                "SEND 5 a\u{2066}b\u{2069}.txt\n".as_bytes(),
                "ERR bad-name the name must not contain U+2066, an invisible formatting character\n",
            ),
            (
                "SEND 5 soft\u{ad}hyphen.txt\n".as_bytes(),
                "ERR bad-name the name must not contain U+00AD, an invisible formatting character\n",
            ),
        ],
    );
}

#[test]
fn a_refused_name_is_logged_escaped_and_a_long_one_cut() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    assert_refused(
        addr,
        "SEND 5 a\u{202e}gnp.exe\n".as_bytes(),
        "ERR bad-name the name must not contain U+202E, an invisible formatting character\n",
    );
    assert_eq!(
        line_starting_with(&mut server, "refused "),
        "refused a\\u{202e}gnp.exe: bad-name the name must not contain U+202E, \
         an invisible formatting character",
        "the log must show the invisible character as an escape"
    );

    // 4000 bytes of name: refused, and the log shows the first 80
    // characters, escapes included, then "...".
    let long = format!("\u{1b}{}", "x".repeat(3999));
    assert_refused(
        addr,
        format!("SEND 5 {long}\n").as_bytes(),
        "ERR bad-name the name is 4000 bytes long; at most 255 are allowed\n",
    );
    assert_eq!(
        line_starting_with(&mut server, "refused "),
        format!(
            "refused \\u{{1b}}{}...: bad-name the name is 4000 bytes long; at most 255 are allowed",
            "x".repeat(79)
        )
    );
}

#[test]
fn the_name_of_a_temporary_file_is_refused() {
    // The server removes `.upload-….part` files that no server holds when it
    // starts, so it cannot let a client save a file under such a name.
    assert_all_refused(
        &[],
        &[(
            b"SEND 5 .upload-1-2.part\n",
            "ERR bad-name the name \".upload-1-2.part\" is kept for the server's temporary files\n",
        )],
    );
}

#[test]
fn a_reset_in_the_middle_of_the_header_is_an_io_error_not_a_timeout() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &["--timeout", "30"]);
    let mut stream = connect(addr);
    common::send(&mut stream, b"SEND 5 a.t", "the server");
    common::reset_on_close(&stream);
    drop(stream);
    let logged = line_starting_with(&mut server, "refused header: ");
    assert!(
        logged.starts_with("refused header: io reading the header: Connection reset by peer"),
        "a client that resets during its header broke the connection; that is not a \
         time-out (the server's --timeout is 30 s): logged {logged:?}"
    );
}
