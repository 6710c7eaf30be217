//! The lines a student reads: one per stage, then what went wrong.
//!
//! Everything here returns text, so the report's exact shape is tested
//! without running a program; [`Progress`] is the one part that writes to
//! the terminal itself.

use std::io::{self, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::program::Stopped;
use super::stage::{Failure, Stage, describe_status};
use super::{Options, Target};

/// Text is wrapped to this width.
const WIDTH: usize = 92;

/// How many lines of the program's output are shown, from its end.
const OUTPUT_LINES: usize = 20;

/// The longest line of the program's output shown whole.
const OUTPUT_LINE_CHARS: usize = 200;

/// What is being checked, and how the program is run.
pub fn header(options: &Options) -> String {
    let target = options.target;
    let mut text = format!(
        "checking {target} ({}) with: {}\n",
        target.program(),
        super::program::shell_words(&options.command)
    );
    let how = match (target.is_client(), options.addr) {
        (false, None) => {
            "each stage starts your server afresh, {port} standing for a free port".to_string()
        }
        (false, Some(addr)) => {
            format!("each stage starts your server afresh and waits for it on {addr}")
        }
        (true, None) => {
            "each stage starts your client afresh, {port} standing for a port check listens on"
                .to_string()
        }
        (true, Some(addr)) => {
            format!("each stage listens on {addr} and starts your client afresh")
        }
    };
    text += &wrap(&how, "", "", WIDTH);
    text.push('\n');
    text
}

/// `pass     3. echoes a line that arrives one byte at a time`
pub fn stage_line(status: &str, number: usize, name: &str) -> String {
    format!("{status:<8} {number}. {name}\n")
}

/// The explanation of a failed stage: the problem, the facts, the hint,
/// and what the program did and printed.
pub fn failure(
    number: usize,
    stage: &Stage,
    failure: &Failure,
    program: Option<&Stopped>,
) -> String {
    let mut text = format!("\nstage {number} failed: {}\n", stage.name);
    text += &wrap(&failure.problem, "  ", "  ", WIDTH);
    let width = failure
        .facts
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0);
    for (label, value) in &failure.facts {
        text += &format!(
            "  {:<width$} {value}\n",
            format!("{label}:"),
            width = width + 1
        );
    }
    if let Some(hint) = &failure.hint {
        text += &wrap(&format!("hint: {hint}"), "  ", "        ", WIDTH);
    }
    if let Some(program) = program {
        text += &format!("  your program: {}\n", program.command_line);
        text += &match program.exited {
            Some(status) => format!(
                "    it exited by itself during this stage, with {}\n",
                describe_status(status)
            ),
            None => {
                "    it was still running at the end of the stage; check stopped it\n".to_string()
            }
        };
        text += &output("its stdout", &program.stdout);
        text += &output("its stderr", &program.stderr);
    }
    text
}

/// `    its stderr: (nothing)`, or the title and the last lines, indented.
fn output(title: &str, bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    if lines.is_empty() {
        return format!("    {title}: (nothing)\n");
    }
    let mut shown = format!("    {title}:\n");
    let skipped = lines.len().saturating_sub(OUTPUT_LINES);
    if skipped > 0 {
        shown += &format!("      ({skipped} earlier lines not shown)\n");
    }
    for line in &lines[skipped..] {
        let count = line.chars().count();
        if count > OUTPUT_LINE_CHARS {
            let kept: String = line.chars().take(OUTPUT_LINE_CHARS).collect();
            shown += &format!("      | {kept}... ({count} characters)\n");
        } else {
            shown += &format!("      | {line}\n");
        }
    }
    shown
}

/// The last line: how many stages passed.
pub fn summary(stages: usize, failed: Option<usize>) -> String {
    match failed {
        None => format!("\nall {stages} stages passed\n"),
        Some(number) => format!(
            "\n{} of {stages} stages passed; stage {number} failed\n",
            number - 1
        ),
    }
}

/// Wraps `text` at word boundaries to `width` columns: the first line starts
/// with `first`, the others with `rest`.
pub fn wrap(text: &str, first: &str, rest: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ') {
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            out += line.trim_end();
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line += word;
        empty = false;
    }
    out += line.trim_end();
    out.push('\n');
    out
}

/// `check --list`: every target, or one target's stages.
pub fn list(target: Option<Target>) -> String {
    let Some(target) = target else {
        let mut text =
            "usage: check TARGET [--addr HOST:PORT] -- COMMAND...\n\ntargets:\n".to_string();
        for target in Target::ALL {
            text += &format!(
                "  {}  {} ({} stages)\n             e.g. check {} -- {}\n",
                target.name(),
                target.program(),
                target.stages().len(),
                target.name(),
                target.example()
            );
        }
        text += "\n`check --list TARGET` shows what each stage of TARGET does.\n";
        return text;
    };
    let mut text = format!(
        "{target}: {}\ne.g. cargo run -p lesson-06-polyglot-test -- check {target} -- {}\n",
        target.program(),
        target.example()
    );
    for (index, stage) in target.stages().iter().enumerate() {
        text += &format!("\n{}. {}\n", index + 1, stage.name);
        text += &wrap(&format!("does: {}", stage.does), "   ", "         ", WIDTH);
        text += &wrap(&format!("hint: {}", stage.hint), "   ", "         ", WIDTH);
    }
    text
}

/// The book's appendix: every target and stage, as Markdown tables.
pub fn markdown() -> String {
    let mut text = String::from(
        "<!-- Generated from lesson-06-polyglot-test/src/check by\n     \
         cargo run -p lesson-06-polyglot-test -- check --list --markdown\n     \
         Do not edit by hand: the tests compare it with the code. -->\n",
    );
    for target in Target::ALL {
        text += &format!("\n## {}: {}\n\n", target.name(), target.program());
        text += &format!(
            "```sh\ncargo run -p lesson-06-polyglot-test -- check {} -- {}\n```\n\n",
            target.name(),
            target.example()
        );
        text += "| # | Stage: what passing proves | What check does | The hint when it fails |\n";
        text += "| --- | --- | --- | --- |\n";
        for (index, stage) in target.stages().iter().enumerate() {
            text += &format!(
                "| {} | {} | {} | {} |\n",
                index + 1,
                escape_markdown(stage.name),
                escape_markdown(stage.does),
                escape_markdown(stage.hint)
            );
        }
    }
    text
}

/// Text that Markdown shows as it is, in a table cell.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A line that says which stage is running, redrawn with the seconds it
/// has taken, on a terminal only. Removed by [`Progress::finish`].
pub struct Progress {
    stop: mpsc::Sender<()>,
    drawer: JoinHandle<()>,
}

impl Progress {
    pub fn start(number: usize, name: &str) -> Progress {
        let (stop, stopped) = mpsc::channel::<()>();
        let line = stage_line("running", number, name);
        let line = line.trim_end().to_string();
        let drawer = thread::spawn(move || {
            let started = Instant::now();
            loop {
                let elapsed = started.elapsed().as_secs();
                let shown = if elapsed == 0 {
                    line.clone()
                } else {
                    format!("{line} ({elapsed} s)")
                };
                let mut stdout = io::stdout();
                // "\r" goes back to the start of the line, ESC [ 2 K clears it.
                let _ = write!(stdout, "\r\x1b[2K{shown}");
                let _ = stdout.flush();
                match stopped.recv_timeout(Duration::from_millis(250)) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => break,
                }
            }
            let mut stdout = io::stdout();
            let _ = write!(stdout, "\r\x1b[2K");
            let _ = stdout.flush();
        });
        Progress { stop, drawer }
    }

    /// Removes the line, so the stage's result takes its place.
    pub fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.drawer.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::stage::ACCEPTS;

    #[test]
    fn a_stage_line_aligns_its_status() {
        assert_eq!(
            stage_line("pass", 1, "accepts a connection"),
            "pass     1. accepts a connection\n"
        );
        assert_eq!(stage_line("not run", 12, "x"), "not run  12. x\n");
    }

    #[test]
    fn the_summary_counts_the_stages_that_passed() {
        assert_eq!(summary(7, None), "\nall 7 stages passed\n");
        assert_eq!(
            summary(7, Some(3)),
            "\n2 of 7 stages passed; stage 3 failed\n"
        );
        assert_eq!(
            summary(4, Some(1)),
            "\n0 of 4 stages passed; stage 1 failed\n"
        );
    }

    #[test]
    fn long_text_is_wrapped_at_words_with_a_hanging_indent() {
        assert_eq!(
            wrap("hint: one two three four", "  ", "        ", 16),
            "  hint: one two\n        three\n        four\n"
        );
        assert_eq!(wrap("short", "", "", 80), "short\n");
    }

    #[test]
    fn a_failure_shows_facts_aligned_hint_and_the_programs_output() {
        let failure = Failure::new("the echo stops one byte short")
            .sent("\"hi\\n\" (3 bytes)")
            .received("\"hi\" (2 bytes), then nothing more for 5 s")
            .hint("look at the last byte");
        let mut stopped = Stopped {
            command_line: "python3 x.py 4000".into(),
            exited: None,
            stdout: b"listening\n".to_vec(),
            stderr: Vec::new(),
        };
        let text = self::failure(2, &ACCEPTS, &failure, Some(&stopped));
        assert_eq!(
            text,
            "\nstage 2 failed: accepts a connection\n\
             \x20 the echo stops one byte short\n\
             \x20 sent:     \"hi\\n\" (3 bytes)\n\
             \x20 received: \"hi\" (2 bytes), then nothing more for 5 s\n\
             \x20 hint: look at the last byte\n\
             \x20 your program: python3 x.py 4000\n\
             \x20   it was still running at the end of the stage; check stopped it\n\
             \x20   its stdout:\n\
             \x20     | listening\n\
             \x20   its stderr: (nothing)\n"
        );
        stopped.stderr = (1..=25)
            .map(|n| format!("line {n}\n"))
            .collect::<String>()
            .into_bytes();
        let text = self::failure(2, &ACCEPTS, &failure, Some(&stopped));
        assert!(
            text.contains("      (5 earlier lines not shown)\n      | line 6\n"),
            "{text}"
        );
        assert!(text.ends_with("      | line 25\n"), "{text}");
    }

    #[test]
    fn a_very_long_output_line_is_cut() {
        let line = "x".repeat(300);
        let shown = output("its stdout", line.as_bytes());
        assert_eq!(
            shown,
            format!(
                "    its stdout:\n      | {}... (300 characters)\n",
                "x".repeat(200)
            )
        );
    }

    #[test]
    fn markdown_cells_show_their_text_as_it_is() {
        assert_eq!(
            escape_markdown(r#"SEND <size> a|b \n *x* _y_"#),
            r#"SEND &lt;size&gt; a\|b \\n \*x\* \_y\_"#
        );
    }

    #[test]
    fn the_list_names_every_target_with_its_stage_count() {
        let text = list(None);
        for target in Target::ALL {
            let line = format!(
                "  {}  {} ({} stages)\n",
                target.name(),
                target.program(),
                target.stages().len()
            );
            assert!(text.contains(&line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn the_list_of_a_target_numbers_its_stages() {
        let text = list(Some(Target::Server03));
        assert!(
            text.starts_with("03-server: lesson 03's echo server\n"),
            "{text}"
        );
        assert!(
            text.contains("\n1. accepts a connection\n   does: "),
            "{text}"
        );
        assert!(
            text.contains("\n7. survives a client that resets mid-stream\n"),
            "{text}"
        );
    }
}
