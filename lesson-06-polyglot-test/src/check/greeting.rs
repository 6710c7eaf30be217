//! Lessons 01 and 02: the greeting server, and the client that answers it.
//!
//! ```text
//! server -> client   Hello, client! I am the server.\n
//! client -> server   Hello, server!\n                    (lesson 02)
//! client             shuts down its write half            (lesson 02)
//! server             closes
//! ```
//!
//! Lesson 01's server only greets and closes; lesson 02's server waits for
//! the reply line and prints it. Both serve one client and exit, which is
//! fine: every stage starts the program afresh. The texts are the lessons'
//! own constants.

use std::time::Duration;

use lesson_02_client::show_bytes;

use super::hints;
use super::stage::{Ctx, Failure, Stage, describe_status};
use super::wire::{Conn, Ending, Got, seconds};

/// The longest greeting or reply line we read, as lesson 02's reader.
const MAX_LINE: usize = lesson_02_client::MAX_LINE + 1;

/// How long a stage waits between the two pieces of a line: long enough
/// that a program reads the first piece alone, even on a busy machine.
const PAUSE: Duration = Duration::from_millis(500);

/// How long a stage keeps the connection open after the client's end of
/// stream, to see whether the client exits before the server has closed.
const CLOSE_HOLD: Duration = Duration::from_secs(1);

/// `01-server`: lesson 01's greeting server.
pub const SERVER_01: &[Stage] = &[
    super::stage::ACCEPTS,
    SENDS_A_LINE,
    Stage {
        name: "greets with exactly \"Hello, client! I am the server.\"",
        does: "compares the line with lesson 01's greeting, byte for byte",
        hint: hints::WRONG_TEXT,
        run: |ctx| greets_exactly(ctx, lesson_01_hello_server::DEFAULT_GREETING),
    },
    CLOSES_AFTER_THE_GREETING,
];

/// `02-server`: lesson 02's server, which greets and then listens back.
pub const SERVER_02: &[Stage] = &[
    super::stage::ACCEPTS,
    SENDS_A_LINE,
    Stage {
        name: "greets with exactly \"Hello, client! I am the server.\"",
        does: "compares the line with lesson 02's greeting, byte for byte",
        hint: hints::WRONG_TEXT,
        run: |ctx| greets_exactly(ctx, lesson_02_client::DEFAULT_GREETING),
    },
    READS_AND_PRINTS_THE_REPLY,
    CLOSES_AFTER_THE_REPLY,
    READS_A_REPLY_IN_PIECES,
];

/// `02-client`: lesson 02's client.
pub const CLIENT_02: &[Stage] = &[
    super::stage::CONNECTS,
    ANSWERS_WITH_A_LINE,
    ANSWERS_EXACTLY,
    PRINTS_THE_GREETING,
    READS_A_GREETING_IN_PIECES,
    SHUTS_DOWN_AFTER_ITS_REPLY,
    WAITS_FOR_THE_CLOSE,
    REPORTS_A_SILENT_SERVER,
];

/// Reads one line from `who` and judges how it ended: the line with its
/// `"\n"`, or a failure that says what arrived instead. `nothing_hint` is
/// the hint when the connection ended before any byte came.
pub fn expect_line(
    conn: &mut Conn,
    max: usize,
    who: &str,
    nothing_hint: &str,
) -> Result<Vec<u8>, Failure> {
    let got = conn.read_line(max);
    if got.is_complete() && got.bytes.ends_with(b"\n") {
        return Ok(got.bytes);
    }
    let failure = match &got.ending {
        Ending::Complete => Failure::new(format!(
            "{who} sent {} bytes without a \"\\n\"",
            got.bytes.len()
        ))
        .hint(hints::NO_NEWLINE),
        Ending::Closed | Ending::Failed(_) if got.bytes.is_empty() => {
            Failure::new(format!("{who} ended the connection without sending a line"))
                .hint(nothing_hint)
        }
        Ending::Closed | Ending::Failed(_) => Failure::new(format!(
            "{who} ended the connection in the middle of a line, before its \"\\n\""
        ))
        .hint(hints::NO_NEWLINE),
        Ending::Quiet(waited) if got.bytes.is_empty() => {
            Failure::new(format!("{who} sent nothing for {}", seconds(*waited)))
                .hint(hints::NOT_FLUSHED)
        }
        Ending::Quiet(_) | Ending::Slow(_) => Failure::new(format!(
            "{who} sent part of a line, then no \"\\n\" to end it"
        ))
        .hint(hints::NO_NEWLINE),
    };
    Err(failure
        .received(got.describe())
        .expected("a line ending in \"\\n\""))
}

// ---------------------------------------------------------------------------
// The greeting server (01-server, 02-server)
// ---------------------------------------------------------------------------

const SENDS_A_LINE: Stage = Stage {
    name: "sends one line, ending in \"\\n\"",
    does: "connects and reads up to the first \"\\n\"",
    hint: hints::NO_NEWLINE,
    run: |ctx| {
        let mut conn = ctx.start_server()?;
        expect_line(
            &mut conn,
            MAX_LINE,
            "the server",
            hints::CLOSES_BEFORE_READING,
        )?;
        Ok(())
    },
};

fn greets_exactly(ctx: &mut Ctx, greeting: &str) -> Result<(), Failure> {
    let mut conn = ctx.start_server()?;
    let line = expect_line(
        &mut conn,
        MAX_LINE,
        "the server",
        hints::CLOSES_BEFORE_READING,
    )?;
    let expected = format!("{greeting}\n");
    if line == expected.as_bytes() {
        return Ok(());
    }
    Err(Failure::new("the greeting is not the lesson's")
        .received(show_bytes(&line))
        .expected(show_bytes(expected.as_bytes()))
        .hint(hints::WRONG_TEXT))
}

const CLOSES_AFTER_THE_GREETING: Stage = Stage {
    name: "closes the connection after the greeting",
    does: "reads the greeting, then waits for the end of the stream",
    hint: hints::CLOSE_AFTER_THE_GREETING,
    run: |ctx| {
        let mut conn = ctx.start_server()?;
        expect_line(
            &mut conn,
            MAX_LINE,
            "the server",
            hints::CLOSES_BEFORE_READING,
        )?;
        expect_the_end(
            &mut conn,
            "after the greeting",
            hints::CLOSE_AFTER_THE_GREETING,
        )
    },
};

/// After the last thing the other side should send, the stream must end,
/// with nothing more on the way.
fn expect_the_end(conn: &mut Conn, after: &str, hint: &str) -> Result<(), Failure> {
    let got = conn.read_to_end();
    if got.closed() && got.bytes.is_empty() {
        return Ok(());
    }
    let failure = if !got.bytes.is_empty() {
        Failure::new(format!("more bytes came {after}")).hint(hints::WRONG_TEXT)
    } else if let Ending::Failed(_) = got.ending {
        // A reset instead of an orderly close still ends the connection,
        // but loses whatever was in flight: say what happened.
        Failure::new(format!("the connection was reset {after}, not closed")).hint(hint)
    } else {
        Failure::new(format!(
            "the connection was still open {} {after}",
            seconds(conn.timeout())
        ))
        .hint(hint)
    };
    Err(failure
        .received(got.describe())
        .expected("the end of the stream (the other side closes)"))
}

/// Reads the greeting, sends the lesson's reply (`pieces` joined) with
/// `PAUSE` between pieces, shuts down our write half and reads to the end.
/// Returns what came after the greeting, and whether the server had closed
/// before the last piece went.
fn reply_in(ctx: &mut Ctx, pieces: &[&str]) -> Result<(Got, bool), Failure> {
    let mut conn = ctx.start_server()?;
    expect_line(
        &mut conn,
        MAX_LINE,
        "the server",
        hints::CLOSES_BEFORE_READING,
    )?;
    let mut closed_early = false;
    for (number, piece) in pieces.iter().enumerate() {
        if number > 0 {
            let early = conn.read_for(PAUSE);
            closed_early |= early.closed() || matches!(early.ending, Ending::Failed(_));
        }
        // A failed send (the server is gone) shows in what we read next.
        let _ = conn.send(piece.as_bytes());
    }
    let _ = conn.shutdown_write();
    Ok((conn.read_to_end(), closed_early))
}

const READS_AND_PRINTS_THE_REPLY: Stage = Stage {
    name: "reads the client's reply line and prints it",
    does: "answers the greeting with \"Hello, server!\\n\", shuts down its write half, and \
           waits for the program to print Hello, server!",
    hint: hints::PRINT_THE_REPLY,
    run: |ctx| {
        let message = lesson_02_client::DEFAULT_MESSAGE;
        let (after, _) = reply_in(ctx, &[&format!("{message}\n")])?;
        if ctx.wait_for_output(message, ctx.timeout()) {
            return Ok(());
        }
        Err(Failure::new(format!(
            "your program did not print the client's line within {}",
            seconds(ctx.timeout())
        ))
        .sent(show_bytes(format!("{message}\n").as_bytes()))
        .fact("after that", after.describe())
        .expected(format!("{message} in your program's output"))
        .hint(hints::PRINT_THE_REPLY))
    },
};

const CLOSES_AFTER_THE_REPLY: Stage = Stage {
    name: "closes the connection after the reply, sending nothing more",
    does: "answers the greeting, shuts down its write half, and waits for the end of the stream",
    hint: hints::CLOSE_AFTER_THE_REPLY,
    run: |ctx| {
        let (after, _) = reply_in(ctx, &[&format!("{}\n", lesson_02_client::DEFAULT_MESSAGE)])?;
        if after.closed() && after.bytes.is_empty() {
            return Ok(());
        }
        let failure = if after.bytes.is_empty() {
            Failure::new("the server did not close the connection after the client's line")
                .hint(hints::CLOSE_AFTER_THE_REPLY)
        } else {
            Failure::new("the server sent more after the greeting").hint(hints::WRONG_TEXT)
        };
        Err(failure
            .received(after.describe())
            .expected("the end of the stream, and nothing before it"))
    },
};

const READS_A_REPLY_IN_PIECES: Stage = Stage {
    name: "reads the whole reply when it arrives in two pieces",
    does: "sends \"Hello, \", then 0.5 s later \"server!\\n\", and waits for the program to \
           print Hello, server!",
    hint: hints::SINGLE_RECV,
    run: |ctx| {
        let message = lesson_02_client::DEFAULT_MESSAGE;
        let (first, second) = message.split_at(7);
        let (after, closed_early) = reply_in(ctx, &[first, &format!("{second}\n")])?;
        if ctx.wait_for_output(message, ctx.timeout()) {
            return Ok(());
        }
        let problem = if closed_early {
            "the server closed the connection after the first piece of the line"
        } else {
            "your program did not print the whole line"
        };
        let printed = String::from_utf8_lossy(&ctx.output()).into_owned();
        Err(Failure::new(problem)
            .sent(format!(
                "{}, then {} later {}",
                show_bytes(first.as_bytes()),
                seconds(PAUSE),
                show_bytes(format!("{second}\n").as_bytes())
            ))
            .fact("after that", after.describe())
            .fact("it printed", show_bytes(printed.as_bytes()))
            .expected(format!("{message} in your program's output"))
            .hint(hints::SINGLE_RECV))
    },
};

// ---------------------------------------------------------------------------
// The client (02-client): check plays lesson 02's server.
// ---------------------------------------------------------------------------

/// Greets the client (in `pieces`, `PAUSE` apart) and reads its reply
/// line. Fails if the reply is not a line, or came before the greeting
/// was whole.
fn greet_and_read(ctx: &mut Ctx, pieces: &[&str]) -> Result<(Conn, Vec<u8>), Failure> {
    let mut conn = ctx.start_client(Vec::new())?;
    for (number, piece) in pieces.iter().enumerate() {
        if number > 0 {
            let early = conn.read_for(PAUSE);
            if !early.bytes.is_empty() || early.closed() {
                let sent = pieces[..number].concat();
                return Err(Failure::new(format!(
                    "your client answered after {} bytes of the greeting, before its \"\\n\"",
                    sent.len()
                ))
                .sent(show_bytes(sent.as_bytes()))
                .received(early.describe())
                .expected("nothing until the greeting's \"\\n\" has arrived")
                .hint(hints::SINGLE_RECV));
            }
        }
        conn.send(piece.as_bytes()).map_err(|err| {
            Failure::new(format!("sending the greeting failed: {err}"))
                .hint(hints::CLOSES_BEFORE_READING)
        })?;
    }
    let reply = expect_line(
        &mut conn,
        MAX_LINE,
        "your client",
        hints::CLOSES_BEFORE_READING,
    )?;
    Ok((conn, reply))
}

/// The greeting, whole, as lesson 02's server sends it.
fn greeting() -> String {
    format!("{}\n", lesson_02_client::DEFAULT_GREETING)
}

const ANSWERS_WITH_A_LINE: Stage = Stage {
    name: "answers the greeting with one line, ending in \"\\n\"",
    does: "sends \"Hello, client! I am the server.\\n\" and reads up to the first \"\\n\"",
    hint: hints::NO_NEWLINE,
    run: |ctx| {
        greet_and_read(ctx, &[&greeting()])?;
        Ok(())
    },
};

const ANSWERS_EXACTLY: Stage = Stage {
    name: "answers with exactly \"Hello, server!\"",
    does: "compares the reply with lesson 02's message, byte for byte",
    hint: hints::WRONG_TEXT,
    run: |ctx| {
        let (_, reply) = greet_and_read(ctx, &[&greeting()])?;
        let expected = format!("{}\n", lesson_02_client::DEFAULT_MESSAGE);
        if reply == expected.as_bytes() {
            return Ok(());
        }
        Err(Failure::new("the reply is not the lesson's")
            .received(show_bytes(&reply))
            .expected(show_bytes(expected.as_bytes()))
            .hint(hints::WRONG_TEXT))
    },
};

/// Closes our end after the reply (without waiting for the client's end of
/// stream) and waits for the client to exit; returns its stdout.
fn close_and_collect(ctx: &mut Ctx, conn: Conn) -> Result<Vec<u8>, Failure> {
    drop(conn);
    if ctx.wait_for_exit(ctx.exit_limit()).is_none() {
        return Err(Failure::new(format!(
            "your client was still running {} after the server closed the connection",
            seconds(ctx.exit_limit())
        ))
        .hint(hints::EXIT_AT_END_OF_STREAM));
    }
    Ok(ctx.output())
}

const PRINTS_THE_GREETING: Stage = Stage {
    name: "prints the server's greeting",
    does: "greets, reads the reply, closes, and looks for the greeting in the client's output",
    hint: hints::PRINT_THE_GREETING,
    run: |ctx| {
        let (conn, _) = greet_and_read(ctx, &[&greeting()])?;
        let printed = close_and_collect(ctx, conn)?;
        let text = lesson_02_client::DEFAULT_GREETING;
        if String::from_utf8_lossy(&printed).contains(text) {
            return Ok(());
        }
        Err(Failure::new("your client did not print the greeting")
            .fact("it printed", show_bytes(&printed))
            .expected(format!("{text} in its output"))
            .hint(hints::PRINT_THE_GREETING))
    },
};

const READS_A_GREETING_IN_PIECES: Stage = Stage {
    name: "reads the whole greeting when it arrives in two pieces",
    does: "sends \"Hello, cli\", then 0.5 s later the rest of the greeting; the reply must wait \
           for the \"\\n\", and the whole greeting must be printed",
    hint: hints::SINGLE_RECV,
    run: |ctx| {
        let whole = greeting();
        let (first, rest) = whole.split_at(10);
        let (conn, _) = greet_and_read(ctx, &[first, rest])?;
        let printed = close_and_collect(ctx, conn)?;
        let text = lesson_02_client::DEFAULT_GREETING;
        if String::from_utf8_lossy(&printed).contains(text) {
            return Ok(());
        }
        Err(Failure::new("your client did not print the whole greeting")
            .sent(format!(
                "{}, then {} later {}",
                show_bytes(first.as_bytes()),
                seconds(PAUSE),
                show_bytes(rest.as_bytes())
            ))
            .fact("it printed", show_bytes(&printed))
            .expected(format!("{text} in its output"))
            .hint(hints::SINGLE_RECV))
    },
};

const SHUTS_DOWN_AFTER_ITS_REPLY: Stage = Stage {
    name: "shuts down its write half after its reply",
    does: "after the reply line, waits for the end of the client's stream",
    hint: hints::NO_SHUTDOWN,
    run: |ctx| {
        let (mut conn, _) = greet_and_read(ctx, &[&greeting()])?;
        let got = conn.read_to_end();
        if got.closed() && got.bytes.is_empty() {
            return Ok(());
        }
        let failure = if got.bytes.is_empty() {
            Failure::new("your client did not end its stream after its line")
                .hint(hints::NO_SHUTDOWN)
        } else {
            Failure::new("your client sent more after its line").hint(hints::WRONG_TEXT)
        };
        Err(failure
            .received(got.describe())
            .expected("the end of the client's stream (shutdown of its write half)"))
    },
};

const WAITS_FOR_THE_CLOSE: Stage = Stage {
    name: "waits for the server to close, then exits 0",
    does: "after the client's end of stream, waits 1 s before closing; the client must still \
           be running, then exit 0",
    hint: hints::WAIT_FOR_THE_CLOSE,
    run: |ctx| {
        let (mut conn, _) = greet_and_read(ctx, &[&greeting()])?;
        conn.read_to_end();
        if let Some(status) = ctx.wait_for_exit(CLOSE_HOLD) {
            return Err(Failure::new(format!(
                "your client exited ({}) before the server closed the connection",
                describe_status(status)
            ))
            .expected("the client still running, reading, until the server closes")
            .hint(hints::WAIT_FOR_THE_CLOSE));
        }
        drop(conn);
        match ctx.wait_for_exit(ctx.exit_limit()) {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(Failure::new(format!(
                "your client exited with {} after a conversation that went well",
                describe_status(status)
            ))
            .expected("exit status 0")
            .hint("read its error below")),
            None => Err(Failure::new(format!(
                "your client was still running {} after the server closed the connection",
                seconds(ctx.exit_limit())
            ))
            .hint(hints::EXIT_AT_END_OF_STREAM)),
        }
    },
};

const REPORTS_A_SILENT_SERVER: Stage = Stage {
    name: "reports a server that closes before greeting it",
    does: "accepts the connection and closes it at once; the client must exit with a non-zero \
           status",
    hint: hints::REPORT_FAILURE,
    run: |ctx| {
        let conn = ctx.start_client(Vec::new())?;
        drop(conn);
        expect_a_reported_failure(
            ctx,
            "after the server closed without a greeting",
            hints::EXIT_AT_END_OF_STREAM,
        )
    },
};

/// The client must exit, with a non-zero status, within `--timeout`;
/// `hang_hint` is the hint if it is still running then.
pub fn expect_a_reported_failure(
    ctx: &mut Ctx,
    after: &str,
    hang_hint: &str,
) -> Result<(), Failure> {
    match ctx.wait_for_exit(ctx.exit_limit()) {
        Some(status) if !status.success() => Ok(()),
        Some(_) => Err(Failure::new(format!("your client exited 0 {after}"))
            .expected("a non-zero exit status, and an error on stderr")
            .hint(hints::REPORT_FAILURE)),
        None => Err(Failure::new(format!(
            "your client was still running {} {after}",
            seconds(ctx.exit_limit())
        ))
        .expected("a non-zero exit status, and an error on stderr")
        .hint(hang_hint)),
    }
}
