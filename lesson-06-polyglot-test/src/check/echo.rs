//! Lessons 03 and 05: the echo server, and the echo client.
//!
//! ```text
//! client -> server   any bytes, in practice lines ending in "\n"
//! server -> client   exactly the same bytes, in the same order, as they are read
//! client             shuts down its write half when it has nothing more to send
//! server             reads 0 (end of stream), closes
//! ```
//!
//! `03-server` checks one client at a time, from the first echo to a
//! client that resets mid-stream. `05-server` adds what a threaded server
//! must do: answer a client while another stays silent (the silent client
//! is the trick CMU's proxy lab grader uses), keep a hundred clients'
//! bytes apart, and turn away a client over its limit with lesson 05's
//! busy reply. `03-client` plays the server for a client that reads its
//! lines from stdin, with the same sample lines as the matrix.

use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};

use lesson_02_client::show_bytes;
use lesson_05_threaded::BUSY_REPLY;

use super::greeting::{expect_a_reported_failure, expect_line};
use super::hints;
use super::stage::{ACCEPTS, CONNECTS, Ctx, Failure, Stage, describe_status};
use super::wire::{Conn, Ending, first_difference, seconds, show_from};
use crate::{expected_client_output, sample_lines};

/// `03-server`: lesson 03's echo server.
pub const SERVER_03: &[Stage] = &[
    ACCEPTS,
    ECHOES_ONE_LINE,
    ECHOES_BYTE_BY_BYTE,
    ECHOES_A_MEBIBYTE,
    CLOSES_AT_END_OF_STREAM,
    SERVES_A_SECOND_CLIENT,
    SURVIVES_A_RESET,
];

/// `05-server`: lesson 05's threaded server: everything lesson 03's does,
/// and what serving many clients at once adds.
pub const SERVER_05: &[Stage] = &[
    ACCEPTS,
    ECHOES_ONE_LINE,
    ECHOES_BYTE_BY_BYTE,
    ECHOES_A_MEBIBYTE,
    CLOSES_AT_END_OF_STREAM,
    SERVES_A_SECOND_CLIENT,
    SURVIVES_A_RESET,
    SILENT_CLIENT_DELAYS_NOBODY,
    HUNDRED_CLIENTS,
    BUSY_OVER_THE_LIMIT,
    SERVES_AGAIN_AFTER_A_CLIENT_LEAVES,
];

/// `03-client`: lesson 03's echo client, reading its lines from stdin.
pub const CLIENT_03: &[Stage] = &[
    CONNECTS,
    SENDS_ITS_FIRST_LINE,
    SENDS_EVERY_LINE,
    SHUTS_DOWN_AFTER_ITS_LAST_LINE,
    PRINTS_EVERY_ECHO,
    REPORTS_AN_EARLY_CLOSE,
    REPORTS_A_WRONG_ECHO,
];

/// The hints for an echo that never started: nothing came back (`quiet`),
/// or the connection ended first (`closed`).
#[derive(Clone, Copy)]
struct Silence {
    quiet: &'static str,
    closed: &'static str,
}

/// What an echo that never started usually means, for a first client.
const USUAL_SILENCE: Silence = Silence {
    quiet: hints::ECHO_NOT_SENT,
    closed: hints::CLOSES_BEFORE_READING,
};

/// Sends `bytes` to the server; a failure to send is a failure of the stage.
fn send(conn: &mut Conn, bytes: &[u8], hint: &str) -> Result<(), Failure> {
    conn.send(bytes).map_err(|err| {
        Failure::new(format!("sending to the server failed: {err}"))
            .sent(show_bytes(bytes))
            .hint(hint)
    })
}

// ANCHOR: expect_echo
/// Reads back as many bytes as were `sent` and judges them. How the echo
/// went wrong picks the hint: nothing at all, one byte short, cut off by a
/// close (a single `recv`), cut off just before a multi-byte character (a
/// server that decodes each read), or different bytes.
fn expect_echo(conn: &mut Conn, sent: &[u8], how: &str, silence: Silence) -> Result<(), Failure> {
    let got = conn.read_exactly(sent.len());
    if got.is_complete() && got.bytes == sent {
        return Ok(());
    }
    let (n, total) = (got.bytes.len(), sent.len());
    let cut_off = matches!(got.ending, Ending::Closed | Ending::Failed(_));
    let failure = if !sent.starts_with(&got.bytes) {
        let at = first_difference(sent, &got.bytes);
        let hint = if String::from_utf8_lossy(&got.bytes).contains('\u{fffd}') {
            hints::DECODES_EACH_READ
        } else {
            hints::ECHO_DIFFERS
        };
        Failure::new(format!(
            "the echo differs from what was sent, from byte {at} on"
        ))
        .fact("at that byte, sent", show_from(sent, at))
        .fact("at that byte, received", show_from(&got.bytes, at))
        .hint(hint)
    } else if n == 0 && cut_off {
        Failure::new("the server ended the connection without echoing anything")
            .hint(silence.closed)
    } else if n == 0 {
        Failure::new(format!(
            "nothing came back within {}",
            seconds(conn.timeout())
        ))
        .hint(silence.quiet)
    } else if n + 1 == total && !cut_off {
        Failure::new("the echo stops one byte short").hint(hints::DROPS_LAST_BYTE)
    } else if cut_off {
        // Cut off just before a multi-byte UTF-8 character, after more than
        // one byte: the mark of a server that decodes each read.
        let hint = if n > 1 && sent[n] >= 0x80 {
            hints::DECODES_EACH_READ
        } else {
            hints::SINGLE_RECV
        };
        Failure::new(format!(
            "the server echoed {n} of {total} bytes, then ended the connection"
        ))
        .hint(hint)
    } else {
        Failure::new(format!(
            "the server echoed {n} of {total} bytes, then sent nothing more"
        ))
        .hint(hints::ECHO_STALLED)
    };
    Err(failure
        .sent(format!("{}{how}", show_bytes(sent)))
        .received(got.describe())
        .expected("the same bytes back, in the same order"))
}
// ANCHOR_END: expect_echo

/// Sends `line` and checks its echo.
fn round_trip(conn: &mut Conn, line: &[u8], silence: Silence) -> Result<(), Failure> {
    send(conn, line, silence.closed)?;
    expect_echo(conn, line, "", silence)
}

const ECHOES_ONE_LINE: Stage = Stage {
    name: "echoes one line",
    does: "sends \"hello, world\\n\" in one write and reads 13 bytes back",
    hint: hints::ECHO_NOT_SENT,
    run: |ctx| {
        let mut conn = ctx.start_server()?;
        round_trip(&mut conn, b"hello, world\n", USUAL_SILENCE)
    },
};

/// A line with ASCII first (a server that reads once gets one ASCII byte)
/// and then two-, three- and four-byte UTF-8 characters.
const BYTE_BY_BYTE_LINE: &str = "one byte at a time: héllo, 你好 🦀\n";

/// The pause between two bytes; longer inside a multi-byte character, so a
/// server that decodes each read surely reads a character in halves.
const BYTE_PAUSE: Duration = Duration::from_millis(2);
const SPLIT_CHARACTER_PAUSE: Duration = Duration::from_millis(50);

const ECHOES_BYTE_BY_BYTE: Stage = Stage {
    name: "echoes a line that arrives one byte at a time",
    does: "sends \"one byte at a time: héllo, 你好 🦀\\n\" with TCP_NODELAY, one write per byte, \
           and reads it back",
    hint: hints::SINGLE_RECV,
    run: |ctx| {
        let mut conn = ctx.start_server()?;
        let line = BYTE_BY_BYTE_LINE.as_bytes();
        for (index, byte) in line.iter().enumerate() {
            // Send each byte; a failed send shows in what we read back.
            if conn.send(std::slice::from_ref(byte)).is_err() {
                break;
            }
            let inside_a_character = line.get(index + 1).is_some_and(|next| next & 0xC0 == 0x80);
            thread::sleep(if inside_a_character {
                SPLIT_CHARACTER_PAUSE
            } else {
                BYTE_PAUSE
            });
        }
        expect_echo(&mut conn, line, ", one byte per write", USUAL_SILENCE)
    },
};

/// 1 MiB of 64-byte lines, each starting with its own offset (so a
/// misplaced piece shows where it came from) and holding one two-byte
/// character.
pub fn mebibyte() -> Vec<u8> {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    let mut data = Vec::with_capacity(1 << 20);
    while data.len() < 1 << 20 {
        let start = data.len();
        data.extend_from_slice(format!("{start:08} é ").as_bytes());
        let mut letter = 0;
        while data.len() - start < 63 {
            data.push(LETTERS[letter % LETTERS.len()]);
            letter += 1;
        }
        data.push(b'\n');
    }
    data
}

const ECHOES_A_MEBIBYTE: Stage = Stage {
    name: "echoes 1 MiB sent while reading, byte for byte",
    does: "sends 1 MiB of numbered 64-byte lines in 16 KiB writes on one thread, while reading \
           the echo on another",
    hint: hints::SENDALL,
    run: |ctx| {
        let data = mebibyte();
        let mut conn = ctx.start_server()?;
        let mut writer_stream = conn
            .try_clone_stream()
            .map_err(|err| Failure::new(format!("cannot clone our socket: {err}")))?;
        let unblock = writer_stream
            .try_clone()
            .map_err(|err| Failure::new(format!("cannot clone our socket: {err}")))?;
        let to_send = data.clone();
        // The writer sends while we read: a client that sent everything
        // before reading would fill both directions' buffers and stop.
        let writer = thread::spawn(move || {
            use std::io::Write;
            for piece in to_send.chunks(16 * 1024) {
                writer_stream.write_all(piece)?;
            }
            Ok::<(), std::io::Error>(())
        });
        let result = expect_echo(&mut conn, &data, ", while reading", USUAL_SILENCE);
        // If the reader gave up, the writer may be stuck in a write: unstick it.
        let _ = unblock.shutdown(Shutdown::Both);
        let _ = writer.join();
        result.map_err(|failure| {
            // Bytes missing from the middle: a `send` whose count was ignored.
            if failure.hint.as_deref() == Some(hints::ECHO_DIFFERS) {
                failure.hint(hints::SENDALL)
            } else {
                failure
            }
        })
    },
};

const CLOSES_AT_END_OF_STREAM: Stage = Stage {
    name: "closes after the client shuts down its write half, with every byte echoed",
    does: "sends \"one more line\\nand the last bytes, with no newline\", shuts down its write \
           half, and reads to the end of the stream",
    hint: hints::CLOSE_AT_END_OF_STREAM,
    run: |ctx| {
        let mut conn = ctx.start_server()?;
        let sent: &[u8] = b"one more line\nand the last bytes, with no newline";
        send(&mut conn, sent, hints::CLOSES_BEFORE_READING)?;
        conn.shutdown_write()
            .map_err(|err| Failure::new(format!("cannot shut down our write half: {err}")))?;
        let got = conn.read_to_end();
        if got.closed() && got.bytes == sent {
            return Ok(());
        }
        let failure = if got.bytes == sent {
            Failure::new(format!(
                "every byte came back, but the server had not closed the connection {} after \
                 the client's end of stream",
                seconds(conn.timeout())
            ))
            .hint(hints::CLOSE_AT_END_OF_STREAM)
        } else if got.bytes == b"one more line\n" {
            Failure::new("the bytes after the last \"\\n\" never came back")
                .hint(hints::LAST_BYTES_WITHOUT_NEWLINE)
        } else if sent.starts_with(&got.bytes) {
            Failure::new(format!(
                "only {} of {} bytes came back",
                got.bytes.len(),
                sent.len()
            ))
            .hint(hints::SINGLE_RECV)
        } else {
            Failure::new("the echo differs from what was sent").hint(hints::ECHO_DIFFERS)
        };
        Err(failure
            .sent(format!("{}, then the end of our stream", show_bytes(sent)))
            .received(got.describe())
            .expected("the same bytes back, then the end of the stream"))
    },
};

const SERVES_A_SECOND_CLIENT: Stage = Stage {
    name: "serves a second client after the first leaves",
    does: "a first client echoes a line and leaves (shutdown, end of stream); then a second \
           client connects and echoes a line",
    hint: hints::ACCEPT_IN_A_LOOP,
    run: |ctx| {
        let mut first = ctx.start_server()?;
        round_trip(&mut first, b"first client\n", USUAL_SILENCE)?;
        let _ = first.shutdown_write();
        first.read_to_end();
        drop(first);
        let mut second = ctx.connect()?;
        let silence = Silence {
            quiet: hints::ACCEPT_IN_A_LOOP,
            closed: hints::ACCEPT_IN_A_LOOP,
        };
        round_trip(&mut second, b"second client\n", silence).map_err(|failure| {
            failure.first_fact("before it", "a first client echoed a line and left")
        })
    },
};

const SURVIVES_A_RESET: Stage = Stage {
    name: "survives a client that resets mid-stream",
    does: "a first client echoes a line, sends half of another, waits up to 1 s for its echo, \
           and resets the connection (RST); then a second client connects and echoes a line",
    hint: hints::SURVIVE_A_RESET,
    run: |ctx| {
        let mut first = ctx.start_server()?;
        round_trip(&mut first, b"a line before the reset\n", USUAL_SILENCE)?;
        let _ = first.send(b"half a li");
        // Give the server the time to echo the half line (most do at once),
        // so that the reset finds it waiting for more; the stage does not
        // judge this echo: an echo of whole lines only is fine here.
        first.read_exactly_within(9, Duration::from_secs(1));
        first.reset();
        let survived = Silence {
            quiet: hints::SURVIVE_A_RESET,
            closed: hints::SURVIVE_A_RESET,
        };
        let mut second = ctx
            .connect()
            .map_err(|failure| failure.hint(hints::SURVIVE_A_RESET))?;
        round_trip(&mut second, b"after the reset\n", survived).map_err(|failure| {
            failure.first_fact(
                "before it",
                "a first client sent \"half a li\" and reset the connection",
            )
        })
    },
};

// ---------------------------------------------------------------------------
// Many clients at once (05-server)
// ---------------------------------------------------------------------------

const SILENT_CLIENT_DELAYS_NOBODY: Stage = Stage {
    name: "a client that connects and never speaks does not delay another client's echo",
    does: "a first client connects and sends nothing; a second client connects and echoes a \
           line while the first is still connected",
    hint: hints::ONE_AT_A_TIME,
    run: |ctx| {
        let _silent = ctx.start_server()?;
        let mut talker = ctx.connect()?;
        let silence = Silence {
            quiet: hints::ONE_AT_A_TIME,
            closed: hints::CLOSES_BEFORE_READING,
        };
        round_trip(&mut talker, b"am I served?\n", silence).map_err(|failure| {
            failure.first_fact("meanwhile", "a first client is connected and silent")
        })
    },
};

/// How many clients `HUNDRED_CLIENTS` connects at most.
const CROWD: u64 = 100;

const HUNDRED_CLIENTS: Stage = Stage {
    name: "100 clients at once each get only their own bytes",
    does: "connects 100 clients (fewer if the limit is lower), then each sends the first half of \
           its own line, then each the second half, then each reads its echo (waiting up to twice \
           --timeout)",
    hint: hints::OWN_CONNECTION,
    run: |ctx| {
        let count = CROWD.min(ctx.limit()) as usize;
        let mut clients = vec![ctx.start_server()?];
        for number in 2..=count {
            let conn = ctx.connect().map_err(|failure| {
                failure
                    .first_fact("before it", format!("{} clients had connected", number - 1))
                    .hint(hints::ACCEPTS_EVERY_CLIENT)
            })?;
            clients.push(conn);
        }
        let lines: Vec<Vec<u8>> = (1..=count)
            .map(|number| {
                format!("client {number:03} of {count}: these bytes are mine\n").into_bytes()
            })
            .collect();
        // Half of every line, then the other half: the server's threads
        // are all in the middle of a line at the same time.
        for half in 0..2 {
            for (conn, line) in clients.iter_mut().zip(&lines) {
                let (first, second) = line.split_at(line.len() / 2);
                send(
                    conn,
                    if half == 0 { first } else { second },
                    hints::CLOSES_BEFORE_READING,
                )?;
            }
        }
        for index in 0..count {
            let sent = &lines[index];
            // A hundred threads take a while to start on a busy machine:
            // what is tested here is whose bytes come back, not how fast.
            let got = clients[index].read_exactly_within(sent.len(), ctx.timeout() * 2);
            if got.is_complete() && &got.bytes == sent {
                continue;
            }
            let mut failure = Failure::new(format!(
                "client {} of {count} did not get its own line back",
                index + 1
            ))
            .sent(show_bytes(sent))
            .received(got.describe())
            .expected("the same bytes back")
            .hint(hints::OWN_CONNECTION);
            // The usual bug sends every echo to the latest client: look.
            if index + 1 != count
                && let Some(last) = clients.last_mut()
            {
                let its_own = &lines[count - 1];
                let got = last.read_for(Duration::from_millis(500));
                if got.bytes.len() > its_own.len() {
                    failure = failure.fact(
                        "the last client got",
                        format!("{}, not only its own line", show_bytes(&got.bytes)),
                    );
                }
            }
            return Err(failure);
        }
        Ok(())
    },
};

/// The most clients a limit stage opens at once (each is a socket here and
/// a thread in the server).
const MOST_CHECKED: u64 = 500;

/// The limit `{max}` stands for in the limit stages.
const SMALL_LIMIT: u64 = 3;

/// Connects `ctx.limit()` clients, each echoing a line (so each is being
/// served), then one more, which must read exactly the busy reply and the
/// end of the stream. Returns the clients being served.
fn fill_up_and_one_more(ctx: &mut Ctx) -> Result<Vec<Conn>, Failure> {
    ctx.choose_limit(SMALL_LIMIT)?;
    let limit = ctx.limit();
    if limit > MOST_CHECKED {
        return Err(Failure::new(format!(
            "check opens at most {MOST_CHECKED} clients at once, and the limit is {limit}"
        ))
        .hint(hints::TELL_THE_LIMIT));
    }
    let mut served = vec![ctx.start_server()?];
    for _ in 1..limit {
        served.push(ctx.connect()?);
    }
    for (index, conn) in served.iter_mut().enumerate() {
        let line = format!("client {} of {limit}\n", index + 1);
        round_trip(conn, line.as_bytes(), USUAL_SILENCE).map_err(|failure| Failure {
            problem: format!(
                "client {} of {limit} was not served ({}), though the limit is {limit}",
                index + 1,
                failure.problem
            ),
            ..failure
        })?;
    }
    let mut extra = ctx.connect()?;
    let got = extra.read_to_end();
    if got.closed() && got.bytes == BUSY_REPLY {
        return Ok(served);
    }
    let failure = if got.bytes.is_empty() && got.quiet() {
        Failure::new(format!(
            "client {} got nothing within {}: it was left waiting",
            limit + 1,
            seconds(extra.timeout())
        ))
    } else if got.bytes.is_empty() {
        Failure::new(format!(
            "client {} was disconnected without being told why",
            limit + 1
        ))
    } else {
        Failure::new(format!("client {} did not get the busy reply", limit + 1))
    };
    Err(failure
        .fact(
            "meanwhile",
            format!("{limit} clients are connected and served"),
        )
        .received(got.describe())
        .expected(format!(
            "{}, then the end of the stream",
            show_bytes(BUSY_REPLY)
        ))
        .hint(hints::SAY_BUSY))
}

const BUSY_OVER_THE_LIMIT: Stage = Stage {
    name: "over its limit, a client is told it is busy rather than left waiting",
    does: "with the limit at 3 ({max}) or at --max-connections, connects that many clients and \
           echoes a line on each, then one more, which must read \"ERR server busy\\n\" and the \
           end of the stream",
    hint: hints::SAY_BUSY,
    run: |ctx| fill_up_and_one_more(ctx).map(drop),
};

const SERVES_AGAIN_AFTER_A_CLIENT_LEAVES: Stage = Stage {
    name: "frees a place when a client leaves: the next client is served",
    does: "after the busy reply, one of the clients being served leaves; a new client must then \
           be served (check tries again for --timeout while it is told busy)",
    hint: hints::FREE_THE_PLACE,
    run: |ctx| {
        let mut served = fill_up_and_one_more(ctx)?;
        let mut leaving = served.remove(0);
        let _ = leaving.shutdown_write();
        leaving.read_to_end();
        drop(leaving);
        let line = b"my turn now\n";
        let deadline = Instant::now() + ctx.timeout();
        loop {
            let mut next = ctx.connect()?;
            send(&mut next, line, hints::FREE_THE_PLACE)?;
            let got = next.read_line(BUSY_REPLY.len().max(line.len()));
            if got.is_complete() && got.bytes == line {
                return Ok(());
            }
            let told_busy = got.is_complete() && got.bytes == BUSY_REPLY;
            if told_busy && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
                continue;
            }
            let problem = if told_busy {
                format!(
                    "for {} after a client had left, every new client was still told the \
                     server is busy",
                    seconds(ctx.timeout())
                )
            } else {
                "a client that came after one had left was not served".to_string()
            };
            return Err(Failure::new(problem)
                .fact(
                    "meanwhile",
                    format!("{} clients are connected", served.len()),
                )
                .sent(show_bytes(line))
                .received(got.describe())
                .expected("the same bytes back")
                .hint(hints::FREE_THE_PLACE));
        }
    },
};

// ---------------------------------------------------------------------------
// The echo client (03-client): check plays the echo server.
// ---------------------------------------------------------------------------

/// The client's stdin: the matrix's sample lines.
pub fn client_input() -> Vec<u8> {
    sample_lines()
        .iter()
        .flat_map(|line| format!("{line}\n").into_bytes())
        .collect()
}

/// The longest line we read from the client: the longest sample line and more.
const MAX_CLIENT_LINE: usize = 128 * 1024;

/// Reads each sample line from the client and echoes it, as an echo server
/// does; fails at the first line that is not what its stdin said.
fn echo_every_line(conn: &mut Conn) -> Result<(), Failure> {
    let lines = sample_lines();
    for (index, line) in lines.iter().enumerate() {
        let expected = format!("{line}\n");
        let received = expect_line(
            conn,
            MAX_CLIENT_LINE,
            "your client",
            hints::CLOSES_BEFORE_READING,
        )
        .map_err(|failure| {
            failure.fact(
                "waiting for",
                format!(
                    "line {} of its input, {}",
                    index + 1,
                    show_bytes(expected.as_bytes())
                ),
            )
        })?;
        if received != expected.as_bytes() {
            return Err(Failure::new(format!(
                "line {} of {} is not the line of its input",
                index + 1,
                lines.len()
            ))
            .received(show_bytes(&received))
            .expected(show_bytes(expected.as_bytes()))
            .hint(hints::SEND_EACH_LINE));
        }
        conn.send(&received).map_err(|err| {
            Failure::new(format!(
                "sending the echo of line {} failed: {err}",
                index + 1
            ))
            .hint(hints::CLOSES_BEFORE_READING)
        })?;
    }
    Ok(())
}

const SENDS_ITS_FIRST_LINE: Stage = Stage {
    name: "sends the first line of its input, ending in \"\\n\"",
    does: "gives the client the sample lines on stdin and reads up to the first \"\\n\"",
    hint: hints::NO_NEWLINE,
    run: |ctx| {
        let mut conn = ctx.start_client(client_input())?;
        let expected = format!("{}\n", sample_lines()[0]);
        let line = expect_line(
            &mut conn,
            MAX_CLIENT_LINE,
            "your client",
            hints::CLOSES_BEFORE_READING,
        )?;
        if line == expected.as_bytes() {
            return Ok(());
        }
        Err(
            Failure::new("the first line is not the first line of its input")
                .received(show_bytes(&line))
                .expected(show_bytes(expected.as_bytes()))
                .hint(hints::SEND_EACH_LINE),
        )
    },
};

const SENDS_EVERY_LINE: Stage = Stage {
    name: "sends every line of its input, reading each echo",
    does: "echoes each line as it arrives: empty, UTF-8 of 2, 3 and 4 bytes a character, 70 000 \
           bytes, trailing spaces",
    hint: hints::SEND_EACH_LINE,
    run: |ctx| {
        let mut conn = ctx.start_client(client_input())?;
        echo_every_line(&mut conn)
    },
};

const SHUTS_DOWN_AFTER_ITS_LAST_LINE: Stage = Stage {
    name: "shuts down its write half after its last line",
    does: "after the last echo, waits for the end of the client's stream",
    hint: hints::NO_SHUTDOWN,
    run: |ctx| {
        let mut conn = ctx.start_client(client_input())?;
        echo_every_line(&mut conn)?;
        let got = conn.read_to_end();
        if got.closed() && got.bytes.is_empty() {
            return Ok(());
        }
        let failure = if got.bytes.is_empty() {
            Failure::new("your client did not end its stream after its last line")
                .hint(hints::NO_SHUTDOWN)
        } else {
            Failure::new("your client sent more than its input").hint(hints::SEND_EACH_LINE)
        };
        Err(failure
            .received(got.describe())
            .expected("the end of the client's stream (shutdown of its write half)"))
    },
};

const PRINTS_EVERY_ECHO: Stage = Stage {
    name: "prints each echo as \"echo: LINE\" and exits 0 once the server closes",
    does: "echoes every line, closes after the client's end of stream, and compares the \
           client's output with \"echo: LINE\" for each line",
    hint: hints::PRINT_EACH_ECHO,
    run: |ctx| {
        let mut conn = ctx.start_client(client_input())?;
        echo_every_line(&mut conn)?;
        conn.read_to_end();
        drop(conn);
        let Some(status) = ctx.wait_for_exit(ctx.exit_limit()) else {
            return Err(Failure::new(format!(
                "your client was still running {} after the server closed the connection",
                seconds(ctx.exit_limit())
            ))
            .hint(hints::EXIT_AT_END_OF_STREAM));
        };
        let printed = ctx.output();
        let expected = expected_client_output(&sample_lines());
        if status.success() && printed == expected.as_bytes() {
            return Ok(());
        }
        if !status.success() {
            return Err(Failure::new(format!(
                "your client exited with {} after every echo came back right",
                describe_status(status)
            ))
            .expected("exit status 0")
            .hint("read its error below: every echo it got was right"));
        }
        let printed = String::from_utf8_lossy(&printed);
        let printed_lines: Vec<&str> = printed.split_inclusive('\n').collect();
        let expected_lines: Vec<&str> = expected.split_inclusive('\n').collect();
        let at = printed_lines
            .iter()
            .zip(&expected_lines)
            .position(|(printed, expected)| printed != expected)
            .unwrap_or(printed_lines.len().min(expected_lines.len()));
        let want = expected_lines.get(at).copied().unwrap_or("");
        let got = printed_lines.get(at).copied().unwrap_or("");
        let hint = if !got.is_empty() && want.starts_with(got.trim_end_matches('\n')) {
            hints::PRINT_WHOLE_ECHO
        } else {
            hints::PRINT_EACH_ECHO
        };
        Err(Failure::new(format!(
            "output line {} is not the echo of input line {}",
            at + 1,
            at + 1
        ))
        .fact("it printed", show_bytes(got.as_bytes()))
        .expected(show_bytes(want.as_bytes()))
        .hint(hint))
    },
};

const REPORTS_AN_EARLY_CLOSE: Stage = Stage {
    name: "reports a server that closes without echoing",
    does: "reads the first line and closes the connection without echoing it; the client must \
           exit with a non-zero status",
    hint: hints::REPORT_FAILURE,
    run: |ctx| {
        let mut conn = ctx.start_client(client_input())?;
        expect_line(
            &mut conn,
            MAX_CLIENT_LINE,
            "your client",
            hints::CLOSES_BEFORE_READING,
        )?;
        drop(conn);
        expect_a_reported_failure(
            ctx,
            "after the server closed without echoing its first line",
            hints::EXIT_AT_END_OF_STREAM,
        )
    },
};

const REPORTS_A_WRONG_ECHO: Stage = Stage {
    name: "reports a wrong echo",
    does: "answers the first line with the same line in capitals (\"HELLO, WORLD\\n\"); the \
           client must exit with a non-zero status",
    hint: hints::REPORT_FAILURE,
    run: |ctx| {
        let mut conn = ctx.start_client(client_input())?;
        let line = expect_line(
            &mut conn,
            MAX_CLIENT_LINE,
            "your client",
            hints::CLOSES_BEFORE_READING,
        )?;
        let _ = conn.send(&line.to_ascii_uppercase());
        let result = expect_a_reported_failure(ctx, "after a wrong echo", hints::REPORT_FAILURE);
        drop(conn);
        result
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mebibyte_is_lines_of_64_bytes_each_starting_with_its_offset() {
        let data = mebibyte();
        assert_eq!(data.len(), 1 << 20, "the 1 MiB stage must send 1 MiB");
        let line = |offset: usize| String::from_utf8_lossy(&data[offset..offset + 64]).into_owned();
        assert_eq!(
            line(0),
            "00000000 é abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxy\n"
        );
        assert_eq!(
            line((1 << 20) - 64),
            "01048512 é abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxy\n"
        );
        assert!(
            data.chunks(64)
                .all(|chunk| chunk.len() == 64 && chunk.ends_with(b"y\n")),
            "every line must be 64 bytes"
        );
    }
}
