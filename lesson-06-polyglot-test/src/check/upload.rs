//! Lesson 04: the file transfer that loses nothing.
//!
//! ```text
//! client -> server   SEND <size> <name>\n
//! server -> client   READY\n                 or  ERR <code> <detail>\n and close
//! client -> server   exactly <size> bytes, then shut down the write half
//! server -> client   OK <size>\n             only once the file is complete on disk
//!                    or ERR <code> <detail>\n
//! ```
//!
//! For `04-server`, `check` is the client, and the command's `{dir}` stands
//! for a scratch folder it looks into after each upload: the right file
//! with the right bytes, and nothing else, not even a hidden temporary file.
//! For `04-client`, `check` is the server, and `{file}` stands for a
//! scratch file of 100 000 bytes of every value. The protocol code is
//! lesson 04's own: `parse_reply`, `parse_header`, `ErrorCode`, `MAX_LINE`.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use lesson_02_client::show_bytes;
use lesson_04_file_transfer::{ErrorCode as Code, MAX_LINE, Reply, parse_header, parse_reply};

use super::greeting::{expect_a_reported_failure, expect_line};
use super::hints;
use super::stage::{
    ACCEPTS, CONNECTS, Ctx, Failure, Stage, UPLOAD_NAME, describe_status, list_dir, upload_content,
};
use super::wire::{Conn, seconds};

/// `04-server`: lesson 04's server.
pub const SERVER_04: &[Stage] = &[
    ACCEPTS,
    ANSWERS_READY,
    SAVES_AND_CONFIRMS,
    SAVES_BINARY_EXACTLY,
    REFUSES_HOSTILE_NAMES,
    REFUSES_BAD_HEADERS,
    REFUSES_AN_ENDLESS_HEADER,
    REFUSES_A_TAKEN_NAME,
    SHORT_BODY_LEAVES_NOTHING,
    SURVIVES_A_RESET_MID_BODY,
];

/// `04-client`: lesson 04's client.
pub const CLIENT_04: &[Stage] = &[
    CONNECTS,
    SENDS_THE_HEADER,
    WAITS_FOR_READY,
    SENDS_THE_BODY,
    SUCCEEDS_ON_OK,
    REPORTS_A_REFUSAL,
    REPORTS_A_MISSING_OK,
];

/// Names a server must refuse with `bad-name`: each would leave `{dir}`,
/// or hides in listings and logs. (`{root}` is replaced by the scratch
/// folder, so even a server that takes an absolute name writes inside it.)
pub const HOSTILE_NAMES: &[&str] = &[
    "../escaped.txt",
    "{root}/absolute.txt",
    "sub/inside.txt",
    "..",
    ".",
    "back\\slash.txt",
    "",
    "escape\u{1b}[31m.txt",
];

/// Header lines a server must refuse with `bad-header`.
pub const BAD_HEADERS: &[&str] = &[
    "SEND -5 a.txt",
    "SEND five a.txt",
    "SEND 5",
    "HELLO",
    "send 5 a.txt",
    "SEND 99999999999999999999 a.txt",
];

/// Reads one reply line (up to lesson 04's `MAX_LINE`) and parses it.
fn read_reply(conn: &mut Conn) -> Result<(Reply, Vec<u8>), Failure> {
    let line = expect_line(conn, MAX_LINE, "the server", hints::ANSWER_READY)?;
    let text = &line[..line.len() - 1];
    match parse_reply(text) {
        Some(reply) => Ok((reply, line)),
        None => Err(Failure::new(
            "the server's answer is none of READY, OK <size>, ERR <code> ...",
        )
        .received(show_bytes(&line))
        .hint(hints::ANSWER_READY)),
    }
}

/// Sends a header and expects `READY`.
fn send_header(conn: &mut Conn, size: usize, name: &str) -> Result<(), Failure> {
    let header = format!("SEND {size} {name}\n");
    conn.send(header.as_bytes()).map_err(|err| {
        Failure::new(format!("sending the header failed: {err}")).hint(hints::CLOSES_BEFORE_READING)
    })?;
    let (reply, line) = read_reply(conn).map_err(|failure| {
        let failure = failure.first_fact("sent", show_bytes(header.as_bytes()));
        // Silence after a header is a missing READY, whatever the cause.
        if failure.hint.as_deref() == Some(hints::NOT_FLUSHED) {
            failure.hint(hints::ANSWER_READY)
        } else {
            failure
        }
    })?;
    if reply == Reply::Ready {
        return Ok(());
    }
    Err(
        Failure::new("the server did not answer a good header with READY")
            .sent(show_bytes(header.as_bytes()))
            .received(show_bytes(&line))
            .expected(show_bytes(b"READY\n"))
            .hint(hints::ANSWER_READY),
    )
}

/// Sends the body, shuts down our write half, and expects `OK <size>` and
/// the end of the stream.
fn send_body(conn: &mut Conn, body: &[u8]) -> Result<(), Failure> {
    conn.send(body)
        .and_then(|()| conn.shutdown_write())
        .map_err(|err| {
            Failure::new(format!("sending the body failed: {err}")).hint(hints::READ_THE_WHOLE_BODY)
        })?;
    let (reply, line) = read_reply(conn).map_err(|failure| {
        let sent = format!("{}, then the end of our stream", show_bytes(body));
        let failure = failure.first_fact("sent", sent);
        // Silence after the body is a missing OK, whatever the cause.
        if failure.hint.as_deref() == Some(hints::NOT_FLUSHED) {
            failure.hint(hints::CONFIRM_WITH_OK)
        } else {
            failure
        }
    })?;
    if reply == Reply::Ok(body.len() as u64) {
        return Ok(());
    }
    Err(
        Failure::new("the server did not confirm the upload with OK <size>")
            .sent(format!("{}, then the end of our stream", show_bytes(body)))
            .received(show_bytes(&line))
            .expected(show_bytes(format!("OK {}\n", body.len()).as_bytes()))
            .hint(hints::CONFIRM_WITH_OK),
    )
}

/// One whole upload on a new connection (the first of the stage starts
/// the server).
fn upload(ctx: &mut Ctx, first: bool, name: &str, body: &[u8]) -> Result<(), Failure> {
    let mut conn = if first {
        ctx.start_server()?
    } else {
        ctx.connect()?
    };
    send_header(&mut conn, body.len(), name)?;
    send_body(&mut conn, body)
}

/// Waits (at most `--timeout`) until `dir` holds exactly `names`, and says
/// what it holds if it never does. A server may tidy up just after it
/// answers.
fn expect_folder(ctx: &Ctx, dir: &Path, names: &[&str], hint: &str) -> Result<(), Failure> {
    let deadline = Instant::now() + ctx.timeout();
    loop {
        let found = list_dir(dir);
        if found == names {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let show = |names: &[String]| {
                if names.is_empty() {
                    "nothing".to_string()
                } else {
                    names
                        .iter()
                        .map(|name| show_bytes(name.as_bytes()))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            let wanted: Vec<String> = names.iter().map(|name| name.to_string()).collect();
            return Err(
                Failure::new(format!("{} holds the wrong files", dir.display()))
                    .fact("it holds", show(&found))
                    .expected(show(&wanted))
                    .hint(hint),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks that `dir/name` holds exactly `body`.
fn expect_file(dir: &Path, name: &str, body: &[u8], hint: &str) -> Result<(), Failure> {
    let path = dir.join(name);
    let saved = fs::read(&path).map_err(|err| {
        Failure::new(format!("cannot read {}: {err}", path.display())).hint(hints::CONFIRM_WITH_OK)
    })?;
    if saved == body {
        return Ok(());
    }
    let at = super::wire::first_difference(&saved, body);
    Err(Failure::new(format!(
        "{} holds {} bytes that differ from the body from byte {at} on",
        path.display(),
        saved.len()
    ))
    .fact("at that byte, sent", super::wire::show_from(body, at))
    .fact("at that byte, saved", super::wire::show_from(&saved, at))
    .hint(hint))
}

const ANSWERS_READY: Stage = Stage {
    name: "answers a good header with READY",
    does: "sends \"SEND 5 hello.txt\\n\" and reads one line",
    hint: hints::ANSWER_READY,
    run: |ctx| {
        let mut conn = ctx.start_server()?;
        send_header(&mut conn, 5, "hello.txt")
    },
};

const SAVES_AND_CONFIRMS: Stage = Stage {
    name: "saves the body under its name and answers OK <size>",
    does: "uploads \"hello\" as hello.txt, then looks in {dir}: hello.txt holding hello, and \
           nothing else",
    hint: hints::CONFIRM_WITH_OK,
    run: |ctx| {
        let dir = ctx.dir()?;
        upload(ctx, true, "hello.txt", b"hello")?;
        expect_folder(ctx, &dir, &["hello.txt"], hints::TEMP_FILE)?;
        expect_file(&dir, "hello.txt", b"hello", hints::BINARY_BODY)
    },
};

const SAVES_BINARY_EXACTLY: Stage = Stage {
    name: "saves 1 MiB of every byte value exactly",
    does: "uploads 1 MiB of bytes 0 to 255 over and over (\"\\n\", \"\\r\" and NUL included), \
           and compares the saved file",
    hint: hints::BINARY_BODY,
    run: |ctx| {
        let dir = ctx.dir()?;
        let body: Vec<u8> = (0..1 << 20).map(|i| (i % 256) as u8).collect();
        upload(ctx, true, "binary.bin", &body).map_err(|failure| {
            if failure.hint.as_deref() == Some(hints::ANSWER_READY) {
                failure.hint(hints::READ_THE_WHOLE_BODY)
            } else {
                failure
            }
        })?;
        expect_file(&dir, "binary.bin", &body, hints::BINARY_BODY)
    },
};

/// Sends `header` (one line) and expects `ERR <code> ...`, no `READY`.
fn expect_refusal(conn: &mut Conn, header: &[u8], code: Code, hint: &str) -> Result<(), Failure> {
    let _ = conn.send(header);
    let (reply, line) = read_reply(conn)
        .map_err(|failure| failure.first_fact("sent", show_bytes(header)).hint(hint))?;
    match reply {
        Reply::Err(refusal) if refusal.code == code => Ok(()),
        _ => Err(
            Failure::new(format!("the server did not refuse with {}", code.as_str()))
                .sent(show_bytes(header))
                .received(show_bytes(&line))
                .expected(format!("\"ERR {} ...\\n\", and no READY", code.as_str()))
                .hint(hint),
        ),
    }
}

const REFUSES_HOSTILE_NAMES: Stage = Stage {
    name: "refuses names that could escape its folder, with ERR bad-name",
    does: "sends a header for each of ../escaped.txt, an absolute path, sub/inside.txt, .., ., \
           back\\slash.txt, an empty name and a name with an escape code, one client each, and \
           checks that nothing was written",
    hint: hints::REFUSE_BAD_NAMES,
    run: |ctx| {
        let dir = ctx.dir()?;
        let root = ctx.scratch_root()?;
        for (index, name) in HOSTILE_NAMES.iter().enumerate() {
            let name = name.replace("{root}", &root.to_string_lossy());
            let mut conn = if index == 0 {
                ctx.start_server()?
            } else {
                ctx.connect()?
            };
            let header = format!("SEND 5 {name}\n");
            expect_refusal(
                &mut conn,
                header.as_bytes(),
                Code::BadName,
                hints::REFUSE_BAD_NAMES,
            )?;
        }
        expect_folder(ctx, &dir, &[], hints::REFUSE_BAD_NAMES)?;
        expect_folder(ctx, &root, &["received"], hints::REFUSE_BAD_NAMES)
    },
};

const REFUSES_BAD_HEADERS: Stage = Stage {
    name: "refuses malformed headers, with ERR bad-header",
    does: "sends each of \"SEND -5 a.txt\", \"SEND five a.txt\", \"SEND 5\", \"HELLO\", \
           \"send 5 a.txt\" and a size too big for 64 bits, one client each",
    hint: hints::REFUSE_BAD_HEADERS,
    run: |ctx| {
        for (index, header) in BAD_HEADERS.iter().enumerate() {
            let mut conn = if index == 0 {
                ctx.start_server()?
            } else {
                ctx.connect()?
            };
            let line = format!("{header}\n");
            expect_refusal(
                &mut conn,
                line.as_bytes(),
                Code::BadHeader,
                hints::REFUSE_BAD_HEADERS,
            )?;
        }
        Ok(())
    },
};

const REFUSES_AN_ENDLESS_HEADER: Stage = Stage {
    name: "refuses a header with no \"\\n\" in its first 4096 bytes",
    does: "sends 5000 bytes of \"A\" and no \"\\n\", and waits for ERR bad-header",
    hint: hints::BOUND_THE_HEADER,
    run: |ctx| {
        let mut conn = ctx.start_server()?;
        let endless = vec![b'A'; MAX_LINE + 904];
        expect_refusal(
            &mut conn,
            &endless,
            Code::BadHeader,
            hints::BOUND_THE_HEADER,
        )
    },
};

const REFUSES_A_TAKEN_NAME: Stage = Stage {
    name: "refuses a name that is taken, with ERR exists, and keeps the file",
    does: "uploads taken.txt, then sends a header for taken.txt again; the first file must be \
           unchanged",
    hint: hints::REFUSE_EXISTING,
    run: |ctx| {
        let dir = ctx.dir()?;
        upload(ctx, true, "taken.txt", b"the first one")?;
        let mut conn = ctx.connect()?;
        expect_refusal(
            &mut conn,
            b"SEND 6 taken.txt\n",
            Code::Exists,
            hints::REFUSE_EXISTING,
        )?;
        drop(conn);
        expect_file(&dir, "taken.txt", b"the first one", hints::REFUSE_EXISTING)
    },
};

const SHORT_BODY_LEAVES_NOTHING: Stage = Stage {
    name: "a short body leaves nothing behind, and is refused with ERR short",
    does: "announces 100 bytes, sends 40 and shuts down its write half; then {dir} must be empty",
    hint: hints::TEMP_FILE,
    run: |ctx| {
        let dir = ctx.dir()?;
        let mut conn = ctx.start_server()?;
        send_header(&mut conn, 100, "short.txt")?;
        let _ = conn.send(&[b'x'; 40]);
        let _ = conn.shutdown_write();
        let (reply, line) =
            read_reply(&mut conn).map_err(|failure| failure.hint(hints::TEMP_FILE))?;
        if !matches!(&reply, Reply::Err(refusal) if refusal.code == Code::Short) {
            return Err(
                Failure::new("the server did not refuse a short body with ERR short")
                    .sent("\"SEND 100 short.txt\\n\", then 40 bytes and the end of our stream")
                    .received(show_bytes(&line))
                    .expected("\"ERR short ...\\n\"")
                    .hint(hints::TEMP_FILE),
            );
        }
        conn.read_to_end();
        drop(conn);
        expect_folder(ctx, &dir, &[], hints::TEMP_FILE)
    },
};

const SURVIVES_A_RESET_MID_BODY: Stage = Stage {
    name: "survives a client that resets in the middle of a body, and keeps nothing of it",
    does: "announces 1000 bytes, sends 100 and resets the connection; then uploads after.txt, \
           and {dir} must hold after.txt alone",
    hint: hints::SURVIVE_A_RESET,
    run: |ctx| {
        let dir = ctx.dir()?;
        let mut conn = ctx.start_server()?;
        send_header(&mut conn, 1000, "reset.txt")?;
        let _ = conn.send(&[b'r'; 100]);
        conn.reset();
        upload(ctx, false, "after.txt", b"after the reset").map_err(|failure| {
            failure
                .first_fact(
                    "before it",
                    "a client sent 100 of 1000 bytes and reset the connection",
                )
                .hint(hints::SURVIVE_A_RESET)
        })?;
        expect_folder(ctx, &dir, &["after.txt"], hints::TEMP_FILE)
    },
};

// ---------------------------------------------------------------------------
// The client (04-client): check plays lesson 04's server.
// ---------------------------------------------------------------------------

/// How long the client must hold the body while we have not said READY.
const READY_HOLD: Duration = Duration::from_millis(500);

/// Starts the client and reads and checks its header.
fn read_header(ctx: &mut Ctx) -> Result<Conn, Failure> {
    let size = upload_content().len();
    let mut conn = ctx.start_client(Vec::new())?;
    let line = expect_line(
        &mut conn,
        MAX_LINE,
        "your client",
        hints::CLOSES_BEFORE_READING,
    )
    .map_err(|failure| {
        let hint = failure.hint.clone().unwrap_or_default();
        failure.hint(if hint == hints::NO_NEWLINE {
            hint
        } else {
            hints::SEND_THE_HEADER.into()
        })
    })?;
    let expected = format!("SEND {size} {UPLOAD_NAME}\n");
    let header = parse_header(&line[..line.len() - 1]).map_err(|refusal| {
        Failure::new(format!(
            "the header is not SEND <size> <name>: {}",
            refusal.detail
        ))
        .received(show_bytes(&line))
        .expected(show_bytes(expected.as_bytes()))
        .hint(hints::SEND_THE_HEADER)
    })?;
    if header.size != size as u64 || header.name != UPLOAD_NAME {
        return Err(Failure::new("the header does not describe the file")
            .received(show_bytes(&line))
            .expected(show_bytes(expected.as_bytes()))
            .hint(hints::SEND_THE_HEADER));
    }
    Ok(conn)
}

/// Says READY and reads the body, which must be exactly the file and end
/// with the end of the client's stream.
fn ready_and_body(conn: &mut Conn) -> Result<(), Failure> {
    let content = upload_content();
    conn.send(b"READY\n").map_err(|err| {
        Failure::new(format!("sending READY failed: {err}")).hint(hints::WAIT_FOR_READY)
    })?;
    let got = conn.read_to_end();
    if got.closed() && got.bytes == content {
        return Ok(());
    }
    let n = got.bytes.len();
    let failure = if got.bytes == content {
        Failure::new(format!(
            "every byte of the file came, but the client's stream did not end within {}",
            seconds(conn.timeout())
        ))
        .hint(hints::NO_SHUTDOWN)
    } else if content.starts_with(&got.bytes) {
        Failure::new(format!("{n} of {} bytes of the file came", content.len()))
            .hint(hints::SEND_THE_FILE)
    } else {
        let at = super::wire::first_difference(&content, &got.bytes);
        Failure::new(format!("the body differs from the file from byte {at} on"))
            .fact(
                "at that byte, the file",
                super::wire::show_from(&content, at),
            )
            .fact(
                "at that byte, received",
                super::wire::show_from(&got.bytes, at),
            )
            .hint(hints::SEND_THE_FILE)
    };
    Err(failure.received(got.describe()).expected(format!(
        "the {} bytes of the file, then the end of the stream",
        content.len()
    )))
}

const SENDS_THE_HEADER: Stage = Stage {
    name: "sends the header \"SEND <size> <name>\\n\" for its file",
    does: "gives the client {file} (100 000 bytes, upload-me.bin) and reads the first line",
    hint: hints::SEND_THE_HEADER,
    run: |ctx| read_header(ctx).map(drop),
};

const WAITS_FOR_READY: Stage = Stage {
    name: "waits for READY before it sends the body",
    does: "after the header, says nothing for 0.5 s: nothing may arrive meanwhile",
    hint: hints::WAIT_FOR_READY,
    run: |ctx| {
        let mut conn = read_header(ctx)?;
        let early = conn.read_for(READY_HOLD);
        if early.bytes.is_empty() && early.quiet() {
            return Ok(());
        }
        Err(Failure::new(format!(
            "your client did not wait for READY: within {} of its header",
            seconds(READY_HOLD)
        ))
        .received(early.describe())
        .expected("nothing until the server says READY")
        .hint(hints::WAIT_FOR_READY))
    },
};

const SENDS_THE_BODY: Stage = Stage {
    name: "sends exactly the file's bytes after READY, then shuts down its write half",
    does: "says READY and reads to the end of the client's stream; it must be the file, byte \
           for byte",
    hint: hints::SEND_THE_FILE,
    run: |ctx| {
        let mut conn = read_header(ctx)?;
        ready_and_body(&mut conn)
    },
};

const SUCCEEDS_ON_OK: Stage = Stage {
    name: "exits 0 after OK <size>",
    does: "says READY, reads the body, answers \"OK 100000\\n\" and closes; the client must \
           exit 0",
    hint: hints::WAIT_FOR_OK,
    run: |ctx| {
        let mut conn = read_header(ctx)?;
        ready_and_body(&mut conn)?;
        let _ = conn.send(format!("OK {}\n", upload_content().len()).as_bytes());
        drop(conn);
        match ctx.wait_for_exit(ctx.exit_limit()) {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(Failure::new(format!(
                "your client exited with {} after the server confirmed the upload",
                describe_status(status)
            ))
            .expected("exit status 0")
            .hint("read its error below")),
            None => Err(Failure::new(format!(
                "your client was still running {} after OK and the server's close",
                seconds(ctx.exit_limit())
            ))
            .hint(hints::EXIT_AT_END_OF_STREAM)),
        }
    },
};

const REPORTS_A_REFUSAL: Stage = Stage {
    name: "reports a refusal, and sends no body",
    does: "answers the header with \"ERR exists upload-me.bin already exists\\n\" and closes; \
           the client must send nothing more and exit with a non-zero status",
    hint: hints::READ_THE_ANSWER,
    run: |ctx| {
        let mut conn = read_header(ctx)?;
        let _ = conn.send(format!("ERR exists {UPLOAD_NAME} already exists\n").as_bytes());
        let _ = conn.shutdown_write();
        let after = conn.read_to_end();
        if !after.bytes.is_empty() {
            return Err(
                Failure::new("your client sent the body although the server refused")
                    .received(after.describe())
                    .expected("nothing after the header")
                    .hint(hints::READ_THE_ANSWER),
            );
        }
        drop(conn);
        expect_a_reported_failure(
            ctx,
            "after the server refused its file",
            hints::READ_THE_ANSWER,
        )
        .map_err(|failure| failure.hint(hints::READ_THE_ANSWER))
    },
};

const REPORTS_A_MISSING_OK: Stage = Stage {
    name: "reports a server that closes without OK",
    does: "says READY, reads the body, and closes without answering; the client must exit with \
           a non-zero status",
    hint: hints::WAIT_FOR_OK,
    run: |ctx| {
        let mut conn = read_header(ctx)?;
        ready_and_body(&mut conn)?;
        drop(conn);
        expect_a_reported_failure(
            ctx,
            "after the server closed without OK",
            hints::WAIT_FOR_OK,
        )
        .map_err(|failure| failure.hint(hints::WAIT_FOR_OK))
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use lesson_04_file_transfer::validate_name;

    #[test]
    fn every_hostile_name_is_one_lesson_04_refuses() {
        for name in HOSTILE_NAMES {
            let name = name.replace("{root}", "/tmp/scratch");
            assert!(
                validate_name(&name).is_err(),
                "lesson 04 accepts {name:?}, so check must not ask a server to refuse it"
            );
            let header = format!("SEND 5 {name}");
            let refusal = parse_header(header.as_bytes()).expect_err("a hostile name");
            assert_eq!(refusal.code, Code::BadName, "{header:?}");
        }
    }

    #[test]
    fn every_bad_header_is_one_lesson_04_refuses_as_a_header() {
        for header in BAD_HEADERS {
            let refusal = parse_header(header.as_bytes()).expect_err("a bad header");
            assert_eq!(refusal.code, Code::BadHeader, "{header:?}");
        }
    }

    #[test]
    fn the_upload_file_holds_every_byte_value() {
        let content = upload_content();
        assert_eq!(content.len(), 100_000);
        let mut seen = [false; 256];
        for byte in content {
            seen[byte as usize] = true;
        }
        assert!(seen.iter().all(|&seen| seen));
    }
}
