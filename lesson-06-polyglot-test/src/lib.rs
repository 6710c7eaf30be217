//! Lesson 06: one wire, four languages.
//!
//! TCP carries bytes; it does not know or care which language wrote the
//! program at either end. This lesson proves it with a conformance matrix:
//! an echo server and an echo client in each of Rust, Python, Java and Go,
//! and every client run against every server, sixteen pairs in all.
//!
//! - The Rust ends are the earlier lessons' real code: lesson 05's threaded
//!   server and lesson 03's checking client, called through their libraries
//!   by this crate's `rust-server` and `rust-client` subcommands.
//! - The other ends live in `peers/python`, `peers/java` and `peers/go`,
//!   written with each language's standard library only.
//! - Every end is started as a separate process in the same way
//!   ([`peers::Peers`]), so the matrix treats Rust exactly like the others.
//!
//! All of them speak lesson 03's protocol: the client sends UTF-8 lines
//! ending in `\n`, the server sends back exactly the bytes it read, and when
//! the client shuts down its write half, the server closes. Each client
//! checks every echo and prints it as `echo: LINE`, so one expected output
//! fits all four clients.
//!
//! The second half of the lesson is [`check`]: it runs any lesson's wire
//! contract, stage by stage, against a program of the student's own, in
//! any language, and says what holds and what does not. Its tests prove it
//! against the lessons' own programs, run through [`lessons`], and against
//! the programs in `student-programs/`, each with a classic mistake.
//!
//! Read in this order: this file (the matrix), [`process`] and [`peers`]
//! (running the peers), then [`check`] (its own map is at its top).

use std::fmt;
use std::io::{self, BufReader, Write};
use std::process::ExitStatus;
use std::time::Duration;

pub mod check;
pub mod lessons;
pub mod peers;
pub mod process;

use peers::{Peers, Unavailable};
use process::ServerProcess;

/// How long a server may take to print `listening on` (a JVM starting on a
/// busy machine is the slowest).
pub const SERVER_START_LIMIT: Duration = Duration::from_secs(30);

/// How long one client may take to send every line and check every echo.
pub const CLIENT_LIMIT: Duration = Duration::from_secs(30);

/// The languages of the matrix, in the order of its rows and columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Rust,
    Python,
    Java,
    Go,
}

impl Language {
    /// Every language, in table order.
    pub const ALL: [Language; 4] = [
        Language::Rust,
        Language::Python,
        Language::Java,
        Language::Go,
    ];

    /// The lower-case name used in the table and in test names.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Java => "java",
            Language::Go => "go",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ANCHOR: sample_lines
/// The lines every pair exchanges. Each one is there to catch a classic bug:
///
/// - plain ASCII, and an empty line (a `\n` alone is a whole message);
/// - two- three- and four-byte UTF-8 characters: a peer that counts
///   characters instead of bytes, or decodes a split character, gets them wrong;
/// - a line of 70 000 bytes, longer than 64 KiB: no single read returns it
///   whole, so a peer that reads only once, or reads into a fixed buffer and
///   prints it, fails here; so does Go's `bufio.Scanner` with its default
///   64 KiB limit;
/// - spaces and a tab at the end, which a peer that trims would lose.
pub fn sample_lines() -> Vec<String> {
    // 70 000 bytes that are not all the same, so a misplaced chunk shows:
    // "line 5 0000000 0000016 ..." counts its own byte offsets.
    let mut long = String::from("long");
    while long.len() < 70_000 {
        long.push_str(&format!(" {:07}", long.len()));
    }
    long.truncate(70_000);
    vec![
        "hello, world".to_string(),
        String::new(),
        "héllo wörld: ç, ñ, ß (two-byte UTF-8)".to_string(),
        "日本語, 中文, €100 (three-byte UTF-8)".to_string(),
        "🦀 🐍 ☕ 🐹 (four-byte UTF-8)".to_string(),
        long,
        "trailing spaces and a tab  \t".to_string(),
        "bye".to_string(),
    ]
}
// ANCHOR_END: sample_lines

/// What the client must print for `lines`: each echo as `echo: LINE`.
pub fn expected_client_output(lines: &[String]) -> String {
    lines.iter().map(|line| format!("echo: {line}\n")).collect()
}

/// How one pair went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The client printed every echo and exited 0.
    Ok,
    /// A toolchain is missing; the text says which (`skipped: go not found on PATH`).
    Skipped(String),
    /// Something went wrong; the text says what was sent and what came back.
    Failed(String),
}

// ANCHOR: run_pair
/// Starts `server`'s echo server, runs `client`'s echo client against it with
/// `lines` on its stdin, stops the server, and judges the exchange.
pub fn run_pair(peers: &Peers, server: Language, client: Language, lines: &[String]) -> Outcome {
    let pair = format!("{server} server with {client} client");
    // A missing toolchain skips the pair before anything starts.
    for language in [server, client] {
        match peers.check(language) {
            Ok(()) => {}
            Err(Unavailable::NotFound(program)) => {
                return Outcome::Skipped(format!("skipped: {program} not found on PATH"));
            }
            Err(why) => return Outcome::Failed(format!("{pair}: {language}: {why}")),
        }
    }
    let started = peers
        .server_command(server)
        .map_err(|why| why.to_string())
        .and_then(|mut command| {
            ServerProcess::start(&mut command, SERVER_START_LIMIT).map_err(|err| format!("{err:#}"))
        });
    let server_process = match started {
        Ok(server_process) => server_process,
        Err(why) => {
            return Outcome::Failed(format!("{pair}: the {server} server did not start: {why}"));
        }
    };
    let input: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let finished = peers
        .client_command(client, server_process.address.port())
        .map_err(|why| why.to_string())
        .and_then(|mut command| {
            process::run_to_end(&mut command, input.into_bytes(), CLIENT_LIMIT)
                .map_err(|err| format!("cannot start the {client} client: {err}"))
        });
    // Stopped before judging, so its log is complete and nothing is left running.
    let server_output = server_process.stop();
    let finished = match finished {
        Ok(finished) => finished,
        Err(why) => return Outcome::Failed(format!("{pair}: {why}")),
    };

    let expected = expected_client_output(lines);
    let succeeded = finished.status.is_some_and(|status| status.success());
    if succeeded && finished.stdout == expected.as_bytes() {
        Outcome::Ok
    } else {
        Outcome::Failed(failure_report(&pair, lines, &finished, &server_output))
    }
}
// ANCHOR_END: run_pair

/// Everything a student needs to see why a pair failed: what was sent, how
/// the client ended, where its output first differs, both sides' messages,
/// and a hint for the usual causes.
fn failure_report(
    pair: &str,
    lines: &[String],
    client: &process::Finished,
    server: &process::ServerOutput,
) -> String {
    let mut report = format!("{pair}: FAIL\n");
    let sent_bytes: usize = lines.iter().map(|line| line.len() + 1).sum();
    report += &format!("  sent {} lines, {sent_bytes} bytes:\n", lines.len());
    for (number, line) in lines.iter().enumerate() {
        report += &format!(
            "    line {}: {}\n",
            number + 1,
            excerpt(&format!("{line}\n"))
        );
    }
    report += &match client.status {
        Some(status) => format!("  the client ended with {}\n", describe_status(status)),
        None => format!(
            "  the client did not finish within {}s and was killed\n",
            CLIENT_LIMIT.as_secs()
        ),
    };

    let expected = expected_client_output(lines);
    let printed = String::from_utf8_lossy(&client.stdout);
    let expected_lines: Vec<&str> = expected.split_inclusive('\n').collect();
    let printed_lines: Vec<&str> = printed.split_inclusive('\n').collect();
    let first_difference = expected_lines
        .iter()
        .zip(&printed_lines)
        .position(|(expected, printed)| expected != printed)
        .unwrap_or(expected_lines.len().min(printed_lines.len()));
    report += &format!(
        "  the client printed {} of the {} expected lines correctly\n",
        first_difference,
        expected_lines.len()
    );
    if first_difference < expected_lines.len().max(printed_lines.len()) {
        let show = |found: Option<&&str>| found.map_or("nothing".to_string(), |text| excerpt(text));
        report += &format!(
            "  at output line {}: expected {}\n                  got {}\n",
            first_difference + 1,
            show(expected_lines.get(first_difference)),
            show(printed_lines.get(first_difference)),
        );
    }
    report += &indented(
        "the client's stderr",
        &String::from_utf8_lossy(&client.stderr),
    );
    report += &indented("the server's stdout", &server.stdout_lines.join("\n"));
    report += &indented(
        "the server's stderr",
        &String::from_utf8_lossy(&server.stderr),
    );
    report += &hint(client, first_difference, expected_lines.len());
    report
}

/// The likely cause, in words, from how the client ended.
fn hint(client: &process::Finished, correct_lines: usize, expected_lines: usize) -> String {
    // How each client words a read time-out: Python "timed out", Java
    // "Read timed out", Go "i/o timeout", lesson 03 "nothing arrived".
    let stderr = String::from_utf8_lossy(&client.stderr).to_lowercase();
    let timed_out = ["timed out", "timeout", "nothing arrived"]
        .iter()
        .any(|words| stderr.contains(words));
    let text = match client.status {
        None => {
            "hint: something waited for bytes that never came: a line sent without its \"\\n\" \
             (the other side reads up to the newline), a server that does not close when \
             the client shuts down its write half, or a client that never shuts it down"
        }
        Some(status) if !status.success() && correct_lines == expected_lines => {
            "hint: every echo came back, then the client failed: a client that never shuts \
             down its write half waits for an end of stream that never comes (the server is \
             waiting for more); or the server did not close at end of stream, or sent more"
        }
        Some(status) if !status.success() && timed_out => {
            "hint: the client gave up waiting. An echo that stops just before its \"\\n\" means \
             the line was sent without its newline (the client reads up to the newline); \
             no echo at all means the server is not reading, or not writing back"
        }
        Some(status) if !status.success() => {
            "hint: read the client's error above. An echo that came back short usually means \
             one side reads only once: a read returns what has arrived so far, not a whole \
             line, so loop until the \"\\n\". An echo that never came may mean a server that \
             closed too early"
        }
        Some(_) => {
            "hint: the client exited 0 but printed something else; it must print each echo \
             as \"echo: LINE\", checked, and nothing more on stdout"
        }
    };
    format!("  {text}\n")
}

/// `exit code 1`, or `signal: 9 (SIGKILL) (killed by a signal)`.
fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("{status} (killed by a signal)"),
    }
}

/// `  title: (nothing)`, or the title then each line of `text`, indented.
fn indented(title: &str, text: &str) -> String {
    let text = text.trim_end();
    if text.is_empty() {
        return format!("  {title}: (nothing)\n");
    }
    let mut out = format!("  {title}:\n");
    for line in text.lines() {
        out += &format!("    {}\n", excerpt_str(line, 200));
    }
    out
}

/// A line shown escaped and quoted, cut to 60 characters, with its size in
/// bytes, so a 70 000-byte line stays readable.
pub fn excerpt(text: &str) -> String {
    format!("{} ({} bytes)", quoted(text, 60), text.len())
}

/// A line of a program's own messages, as it is, cut after `keep` characters.
fn excerpt_str(text: &str, keep: usize) -> String {
    if text.chars().count() <= keep {
        text.to_string()
    } else {
        let kept: String = text.chars().take(keep).collect();
        format!("{kept}... ({} bytes in all)", text.len())
    }
}

/// The first `keep` characters of `text`, escaped (`\n` shows as `\n`) and
/// quoted, with `...` after the quote if something was cut.
fn quoted(text: &str, keep: usize) -> String {
    let kept: String = text.chars().take(keep).collect();
    let more = if kept.len() < text.len() { "..." } else { "" };
    format!("\"{}\"{more}", kept.escape_debug())
}

/// True when `POLYGLOT_REQUIRE=1`: then a missing toolchain is a failure,
/// not a skip. CI sets it, so a machine without Go cannot pass quietly.
pub fn toolchains_required() -> bool {
    std::env::var_os("POLYGLOT_REQUIRE").is_some_and(|value| value == "1")
}

/// One cell of the matrix.
#[derive(Debug, Clone)]
pub struct PairResult {
    pub server: Language,
    pub client: Language,
    pub outcome: Outcome,
}

/// Runs every server in `servers` against every client in `clients`, one
/// pair after another.
pub fn run_matrix(peers: &Peers, servers: &[Language], clients: &[Language]) -> Vec<PairResult> {
    let lines = sample_lines();
    let mut results = Vec::new();
    for &server in servers {
        for &client in clients {
            let outcome = run_pair(peers, server, client, &lines);
            results.push(PairResult {
                server,
                client,
                outcome,
            });
        }
    }
    results
}

// ANCHOR: render_matrix
/// The matrix as text: a table of `ok` / `FAIL` / `skipped` (servers down,
/// clients across), a count, then the report of every pair that did not pass.
pub fn render_matrix(servers: &[Language], clients: &[Language], results: &[PairResult]) -> String {
    let cell = |server: Language, client: Language| {
        let found = results
            .iter()
            .find(|r| r.server == server && r.client == client);
        match found.map(|r| &r.outcome) {
            Some(Outcome::Ok) => "ok",
            Some(Outcome::Failed(_)) => "FAIL",
            Some(Outcome::Skipped(_)) => "skipped",
            None => "-",
        }
    };
    let mut table = format!("{:<17}", "server \\ client");
    for client in clients {
        table += &format!("{:<9}", client.name());
    }
    table = table.trim_end().to_string() + "\n";
    for &server in servers {
        let mut row = format!("{:<17}", server.name());
        for &client in clients {
            row += &format!("{:<9}", cell(server, client));
        }
        table += row.trim_end();
        table += "\n";
    }
    let count =
        |wanted: fn(&Outcome) -> bool| results.iter().filter(|r| wanted(&r.outcome)).count();
    table += &format!(
        "\n{} {}: {} ok, {} FAIL, {} skipped\n",
        results.len(),
        if results.len() == 1 { "pair" } else { "pairs" },
        count(|o| *o == Outcome::Ok),
        count(|o| matches!(o, Outcome::Failed(_))),
        count(|o| matches!(o, Outcome::Skipped(_))),
    );
    for result in results {
        let details = match &result.outcome {
            Outcome::Ok => continue,
            Outcome::Skipped(why) => format!(
                "{} server with {} client: {why}",
                result.server, result.client
            ),
            Outcome::Failed(report) => report.trim_end().to_string(),
        };
        table += &format!("\n{details}\n");
    }
    table
}
// ANCHOR_END: render_matrix

// ANCHOR: rust_client
/// The Rust client end: lesson 03's checking client, unchanged, reading the
/// lines to send from stdin and printing `echo: LINE` for each echo.
pub fn run_rust_client(host: &str, port: u16, timeout: Duration) -> anyhow::Result<()> {
    let input = BufReader::new(io::stdin());
    let mut out = io::stdout().lock();
    lesson_03_echo_loop::run_client(host, port, input, timeout, &mut out)?;
    out.flush()?;
    Ok(())
}
// ANCHOR_END: rust_client

// ANCHOR: rust_server
/// The Rust server end: lesson 05's thread-per-client server, unchanged.
/// Prints `listening on ADDR` first, then the server's events, and serves
/// until the process is killed (the matrix kills every server it starts).
pub fn run_rust_server(addr: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = lesson_05_threaded::bind(addr, lesson_05_threaded::DEFAULT_BACKLOG)
        .with_context(|| format!("cannot listen on {addr}"))?;
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {}", listener.local_addr()?)?;
    out.flush()?;
    drop(out);
    let config = lesson_05_threaded::ServerConfig::default();
    let shutdown = lesson_05_threaded::Shutdown::new();
    lesson_05_threaded::run_server(listener, &config, shutdown, io::stdout())?;
    Ok(())
}
// ANCHOR_END: rust_server

#[cfg(test)]
mod tests {
    //! The report of a pair that fails is what a student reads when their
    //! peer is wrong; these tests pin it, since every pair of the matrix
    //! passes and never shows it.

    use super::*;
    use std::os::unix::process::ExitStatusExt;

    /// A client that ended with `code` (`None`: killed at its time limit),
    /// having printed `stdout` and `stderr`.
    fn client(code: Option<i32>, stdout: &str, stderr: &str) -> process::Finished {
        process::Finished {
            // A wait status holds the exit code in its second byte.
            status: code.map(|code| ExitStatus::from_raw(code << 8)),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    fn lines(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|text| text.to_string()).collect()
    }

    #[test]
    fn a_failed_pair_shows_what_was_sent_how_the_client_ended_and_where_it_went_wrong() {
        let long_error = format!("error: {}", "x".repeat(250));
        let server = process::ServerOutput {
            stdout_lines: vec!["client 127.0.0.1:5000 connected".to_string()],
            stderr: Vec::new(),
        };
        let report = failure_report(
            "python server with rust client",
            &lines(&["hello", "", "bye"]),
            &client(Some(1), "echo: hello\necho: \necho: by\n", &long_error),
            &server,
        );
        let expected = format!(
            "python server with rust client: FAIL\n\
             \x20 sent 3 lines, 11 bytes:\n\
             \x20   line 1: \"hello\\n\" (6 bytes)\n\
             \x20   line 2: \"\\n\" (1 bytes)\n\
             \x20   line 3: \"bye\\n\" (4 bytes)\n\
             \x20 the client ended with exit code 1\n\
             \x20 the client printed 2 of the 3 expected lines correctly\n\
             \x20 at output line 3: expected \"echo: bye\\n\" (10 bytes)\n\
             \x20                 got \"echo: by\\n\" (9 bytes)\n\
             \x20 the client's stderr:\n\
             \x20   error: {}... (257 bytes in all)\n\
             \x20 the server's stdout:\n\
             \x20   client 127.0.0.1:5000 connected\n\
             \x20 the server's stderr: (nothing)\n\
             \x20 {}\n",
            "x".repeat(193),
            "hint: read the client's error above. An echo that came back short usually means \
             one side reads only once: a read returns what has arrived so far, not a whole \
             line, so loop until the \"\\n\". An echo that never came may mean a server that \
             closed too early"
        );
        assert!(
            report == expected,
            "the report of a failed pair should read\n{expected}\nit reads\n{report}"
        );
    }

    #[test]
    fn a_client_that_printed_too_much_is_shown_where_its_output_goes_on() {
        let report = failure_report(
            "rust server with go client",
            &lines(&["hi"]),
            &client(Some(0), "echo: hi\nextra\n", ""),
            &process::ServerOutput {
                stdout_lines: Vec::new(),
                stderr: Vec::new(),
            },
        );
        for expected in [
            "  the client ended with exit code 0\n",
            "  the client printed 1 of the 1 expected lines correctly\n",
            "  at output line 2: expected nothing\n                  got \"extra\\n\" (6 bytes)\n",
            "  hint: the client exited 0 but printed something else",
        ] {
            assert!(
                report.contains(expected),
                "the report should contain {expected:?}; it reads\n{report}"
            );
        }
    }

    #[test]
    fn each_way_a_client_fails_gets_its_own_hint() {
        let cases = [
            (
                client(None, "", ""),
                0,
                "hint: something waited for bytes that never came",
            ),
            (
                client(Some(1), "", "error: waiting: nothing arrived for 10s"),
                3,
                "hint: every echo came back, then the client failed",
            ),
            (
                client(Some(1), "", "socket.timeout: timed out"),
                1,
                "hint: the client gave up waiting",
            ),
            (
                client(Some(1), "", "error: connection reset"),
                1,
                "hint: read the client's error above",
            ),
            (
                client(Some(0), "", ""),
                1,
                "hint: the client exited 0 but printed something else",
            ),
        ];
        for (finished, correct, expected) in cases {
            let text = hint(&finished, correct, 3);
            assert!(
                text.starts_with(&format!("  {expected}")),
                "a client that ended with {:?} after {correct} of 3 lines, stderr {:?}, \
                 should get \"{expected}...\"; it got {text:?}",
                finished.status,
                String::from_utf8_lossy(&finished.stderr)
            );
        }
    }
}
