//! The protocol: what crosses the wire, and the rules both sides check.
//!
//! ```text
//! client -> server   SEND <size> <name>\n
//! server -> client   READY\n                 or  ERR <code> <detail>\n and close
//! client -> server   exactly <size> bytes, then shut down the write half
//! server -> client   OK <size>\n             only once the file is complete on disk
//!                    or ERR <code> <detail>\n
//! ```
//!
//! Nothing here touches a socket or a file: these are plain functions from
//! bytes to values ([`parse_header`], [`parse_reply`], [`validate_name`]) and
//! one bounded line reader ([`read_line_bounded`]), so the server, the client
//! and other programs (lesson 06's checker) share one definition of the
//! protocol. The one error type is [`Refusal`]: the `ERR <code> <detail>`
//! line, as the server sends it and as the client receives it.

use std::fmt;
use std::io::{self, BufRead, Read};

use crate::atomic_save;

/// The port this lesson uses unless told otherwise: 7000 + lesson number.
pub const DEFAULT_PORT: u16 = 7004;

// ANCHOR: limits
/// The longest line either side reads, `\n` included. A real header is at
/// most `SEND ` + 20 digits + a space + 255 bytes of name + `\n` = 282 bytes;
/// the rest is headroom. Whatever a client sends, the server never holds more
/// than this while it looks for the end of the line.
pub const MAX_LINE: usize = 4096;

/// The longest name accepted, in bytes: what Linux, macOS and Windows file
/// systems allow for one path component.
pub const MAX_NAME: usize = 255;

/// The body buffer of each side. A fixed 1 MiB: large enough that each
/// `read` and `write` system call moves a lot of data, small enough that
/// memory stays flat whatever the size of the file.
pub const BODY_BUFFER: usize = 1024 * 1024;
// ANCHOR_END: limits

// ANCHOR: refusal
/// Why the server said no: the `<code>` word of an `ERR <code> <detail>` line.
///
/// The words are stable so that a program can match them; the detail that
/// follows is for humans and may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `bad-header`: the header line is not `SEND <size> <name>\n`.
    BadHeader,
    /// `bad-name`: the name could escape `--dir` or is not a plain file name.
    BadName,
    /// `too-large`: the announced size is over `--max-size`.
    TooLarge,
    /// `exists`: a file of that name is already there and `--overwrite` is off.
    Exists,
    /// `short`: the body ended before `<size>` bytes arrived.
    Short,
    /// `timeout`: the client was too slow (see the chapter's phase deadlines).
    Timeout,
    /// `io`: the server could not write the file.
    Io,
}

impl ErrorCode {
    /// Every code, in the order the chapter lists them.
    pub const ALL: [ErrorCode; 7] = [
        ErrorCode::BadHeader,
        ErrorCode::BadName,
        ErrorCode::TooLarge,
        ErrorCode::Exists,
        ErrorCode::Short,
        ErrorCode::Timeout,
        ErrorCode::Io,
    ];

    /// The word that goes on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadHeader => "bad-header",
            ErrorCode::BadName => "bad-name",
            ErrorCode::TooLarge => "too-large",
            ErrorCode::Exists => "exists",
            ErrorCode::Short => "short",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Io => "io",
        }
    }

    /// The code a word names, if it names one.
    pub fn from_word(word: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == word)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `ERR <code> <detail>`: the one error of this protocol. The server builds
/// it and sends it; the client parses it ([`parse_reply`]) and reports it;
/// a program matches on its [`code`](Refusal::code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The stable word.
    pub code: ErrorCode,
    /// One line for humans. It never contains `\n`: every piece of client
    /// input in it has passed through [`printable`].
    pub detail: String,
}

impl Refusal {
    /// A refusal with this code and detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Refusal {
        Refusal {
            code,
            detail: detail.into(),
        }
    }
}

/// `<code> <detail>`, as on the wire after `ERR `.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.detail)
    }
}

impl std::error::Error for Refusal {}
// ANCHOR_END: refusal

/// A parsed `SEND <size> <name>` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// How many body bytes follow `READY`.
    pub size: u64,
    /// The file name, already checked by [`validate_name`].
    pub name: String,
}

// ANCHOR: parse_header
/// Parses one header line, without its `\n`.
///
/// The whole line must be UTF-8 text, start with `SEND `, then a size made
/// only of ASCII digits (so `-5`, `+5` and ` 5` are refused, which
/// `u64::from_str` alone would not all do), one space, and the name: the rest
/// of the line, spaces included.
pub fn parse_header(line: &[u8]) -> Result<Header, Refusal> {
    let bad = |detail: String| Refusal::new(ErrorCode::BadHeader, detail);
    let Ok(text) = std::str::from_utf8(line) else {
        return Err(bad("the header is not valid UTF-8".into()));
    };
    let Some(rest) = text.strip_prefix("SEND ") else {
        return Err(bad(format!(
            "expected \"SEND <size> <name>\", got \"{}\"",
            shorten(text, DETAIL_CHARS)
        )));
    };
    let Some((size_text, name)) = rest.split_once(' ') else {
        return Err(bad("expected a space between the size and the name".into()));
    };
    if size_text.is_empty() || !size_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "the size must be a decimal number of bytes, got \"{}\"",
            shorten(size_text, DETAIL_CHARS)
        )));
    }
    let Ok(size) = size_text.parse::<u64>() else {
        return Err(bad(format!(
            "the size {} does not fit in 64 bits",
            shorten(size_text, DETAIL_CHARS)
        )));
    };
    validate_name(name)?;
    Ok(Header {
        size,
        name: name.to_string(),
    })
}
// ANCHOR_END: parse_header

/// The name part of a header line that [`parse_header`] refused, if it has
/// one: for the log, so a refused name can still be shown (escaped).
pub fn name_in_header(line: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(line);
    text.splitn(3, ' ').nth(2).map(String::from)
}

// ANCHOR: validate_name
/// Accepts a name only if it is a plain file name that stays inside `--dir`
/// and looks the same in a listing as it does on the wire.
///
/// `dir.join(name)` is the only way a name reaches the file system, and
/// `join` with `/etc/passwd` *replaces* the directory, with `..` climbs out
/// of it, and `a/b` reaches into a subfolder. So a name is 1 to 255 bytes,
/// is not `.` or `..`, and contains no `/` and no `\` (a separator on
/// Windows). It contains no control character (NUL, `\r`, escape codes) and
/// no invisible formatting character ([`is_format_char`]): both hide in
/// listings and in logs. And it is not one of the server's own temporary
/// names, which the server removes at start. The name is already UTF-8: it
/// came from a `&str`.
pub fn validate_name(name: &str) -> Result<(), Refusal> {
    let bad = |detail: String| Refusal::new(ErrorCode::BadName, detail);
    if name.is_empty() {
        return Err(bad("the name is empty".into()));
    }
    if name.len() > MAX_NAME {
        return Err(bad(format!(
            "the name is {} bytes long; at most {MAX_NAME} are allowed",
            name.len()
        )));
    }
    if name == "." || name == ".." {
        return Err(bad(format!("the name must not be \"{name}\"")));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(bad(format!("the name must not contain {c:?}")));
    }
    if let Some(c) = name.chars().find(|&c| is_format_char(c)) {
        return Err(bad(format!(
            "the name must not contain U+{:04X}, an invisible formatting character",
            u32::from(c)
        )));
    }
    if atomic_save::is_temporary_name(name) {
        return Err(bad(format!(
            "the name \"{}\" is kept for the server's temporary files",
            shorten(name, DETAIL_CHARS)
        )));
    }
    Ok(())
}
// ANCHOR_END: validate_name

// ANCHOR: is_format_char
/// True for the Unicode format characters (general category Cf): invisible
/// characters that change how the text around them is shown. U+202E (right-
/// to-left override) makes `a\u{202e}gnp.exe` show as `aexe.png`; U+200B
/// (zero-width space) makes two different names look the same; U+FEFF is a
/// byte order mark. The standard library has no general-category lookup, so
/// here is the list: every Cf character of Unicode 18.0 (checked against its
/// `DerivedGeneralCategory.txt`; 170 characters).
pub fn is_format_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD                  // soft hyphen
            | 0x0600..=0x0605   // Arabic number signs
            | 0x061C            // Arabic letter mark
            | 0x06DD            // Arabic end of ayah
            | 0x070F            // Syriac abbreviation mark
            | 0x0890..=0x0891   // Arabic pound and piastre marks above
            | 0x08E2            // Arabic disputed end of ayah
            | 0x180E            // Mongolian vowel separator
            | 0x200B..=0x200F   // zero-width space, joiners, LRM, RLM
            | 0x202A..=0x202E   // bidi embeddings and overrides
            | 0x2060..=0x2064   // word joiner, invisible operators
            | 0x2066..=0x206F   // bidi isolates, deprecated format characters
            | 0xFEFF            // zero-width no-break space (byte order mark)
            | 0xFFF9..=0xFFFB   // interlinear annotation
            | 0x110BD           // Kaithi number sign
            | 0x110CD           // Kaithi number sign above
            | 0x13430..=0x1343F // Egyptian hieroglyph format controls
            | 0x1BCA0..=0x1BCA3 // shorthand format controls
            | 0x1D173..=0x1D17A // musical symbol beam and phrase controls
            | 0xE0001           // language tag
            | 0xE0020..=0xE007F // tag characters
    )
}
// ANCHOR_END: is_format_char

/// What the server says to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `READY`: send the body now.
    Ready,
    /// `OK <size>`: the file is complete on disk.
    Ok(u64),
    /// `ERR <code> <detail>`.
    Err(Refusal),
}

/// Parses one reply line, without its `\n`. `None` if it is none of the
/// three, or an `ERR` with a code the protocol does not have.
pub fn parse_reply(line: &[u8]) -> Option<Reply> {
    let text = std::str::from_utf8(line).ok()?;
    if text == "READY" {
        return Some(Reply::Ready);
    }
    if let Some(size) = text.strip_prefix("OK ") {
        return size.parse().ok().map(Reply::Ok);
    }
    let rest = text.strip_prefix("ERR ")?;
    let (word, detail) = rest.split_once(' ').unwrap_or((rest, ""));
    let code = ErrorCode::from_word(word)?;
    Some(Reply::Err(Refusal::new(code, detail)))
}

/// The result of reading one line with [`read_line_bounded`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A whole line, without its `\n`.
    Complete(Vec<u8>),
    /// `limit` bytes arrived and none of them was `\n`.
    TooLong,
    /// The peer closed the connection after this many bytes, before a `\n`.
    Closed(usize),
}

// ANCHOR: read_line_bounded
/// Reads one line of at most `limit` bytes, `\n` included.
///
/// `take(limit)` is what makes the read bounded: `read_until` alone would
/// keep growing its buffer for as long as the peer sends bytes that are not
/// `\n`, and a hostile peer never sends one.
pub fn read_line_bounded(reader: &mut impl BufRead, limit: usize) -> io::Result<Line> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(limit as u64)
        .read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
        Ok(Line::Complete(line))
    } else if line.len() >= limit {
        Ok(Line::TooLong)
    } else {
        Ok(Line::Closed(line.len()))
    }
}
// ANCHOR_END: read_line_bounded

/// Bytes per second as decimal megabytes (10^6), the unit `dd` and `pv` use.
pub fn megabytes_per_second(bytes: u64, elapsed: std::time::Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        bytes as f64 / 1e6 / secs
    } else {
        0.0
    }
}

/// How many characters of client input a detail shows.
const DETAIL_CHARS: usize = 40;

/// Makes client input safe to print on one line: control characters and
/// invisible formatting characters become escapes (`\r`, `\0`, `\u{1b}`,
/// `\u{202e}`), everything else is kept as it is.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else if is_format_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// [`printable`], cut to `max_chars` characters (and `...`), so that a long
/// piece of client input stays one short line.
pub fn shorten(text: &str, max_chars: usize) -> String {
    let mut short: String = text.chars().take(max_chars).collect();
    if short.len() < text.len() {
        short.push_str("...");
    }
    printable(&short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_word_parses_back_to_its_code() {
        for code in ErrorCode::ALL {
            let line = format!("ERR {code} some detail");
            assert_eq!(
                parse_reply(line.as_bytes()),
                Some(Reply::Err(Refusal::new(code, "some detail"))),
                "parsing {line:?}"
            );
        }
        assert_eq!(parse_reply(b"ERR nonsense detail"), None);
        assert_eq!(parse_reply(b"READY"), Some(Reply::Ready));
        assert_eq!(parse_reply(b"OK 12"), Some(Reply::Ok(12)));
        assert_eq!(parse_reply(b"OK twelve"), None);
    }

    #[test]
    fn megabytes_per_second_is_decimal_megabytes_over_seconds() {
        use std::time::Duration;
        assert_eq!(megabytes_per_second(3_000_000, Duration::from_secs(2)), 1.5);
        assert_eq!(megabytes_per_second(1_000, Duration::from_millis(1)), 1.0);
        assert_eq!(
            megabytes_per_second(5, Duration::ZERO),
            0.0,
            "no time, no rate"
        );
    }

    #[test]
    fn format_characters_are_exactly_the_170_of_category_cf() {
        let count = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_format_char(c))
            .count();
        assert_eq!(count, 170, "Unicode 18.0 has 170 Cf characters");
        // Neighbours of the ranges are ordinary characters.
        for c in ['\u{00AC}', '\u{00AE}', '\u{200A}', '\u{2010}', '\u{FEFE}'] {
            assert!(!is_format_char(c), "{:?} is not a format character", c);
        }
    }

    #[test]
    fn printable_escapes_control_and_format_characters_only() {
        assert_eq!(
            printable("a\u{202e}gnp.exe\r\u{1b}é"),
            "a\\u{202e}gnp.exe\\r\\u{1b}é"
        );
    }
}
