//! Finding the toolchains, building the peers, and the command line that
//! starts each language's server and client.
//!
//! Python runs the peers from their source. Java and Go compile them first,
//! once, into a temporary folder that lives as long as the [`Peers`] value:
//! the tests keep one `Peers` for the whole test run, so sixteen pairs cost
//! one `javac` and one `go build`.

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::Language;
use crate::process::run_to_end;

/// How long a compiler may take. A cold `go build` on a slow machine takes
/// a while; this is only a guard against a hung build.
const BUILD_LIMIT: Duration = Duration::from_secs(300);

/// The folder holding `python/`, `java/` and `go/`.
pub fn sources_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// Why a language's peers cannot run.
#[derive(Debug, Clone)]
pub enum Unavailable {
    /// A program the language needs (`python3`, `java`, `javac`, `go`) is not on PATH.
    NotFound(&'static str),
    /// The toolchain is there, but compiling the peers failed: always a
    /// failure, never a skip, because it means the peers' code is broken.
    BuildFailed(String),
    /// The caller asked [`Peers::prepare`] for other languages only.
    NotRequested,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::NotFound(program) => write!(f, "skipped: {program} not found on PATH"),
            Unavailable::BuildFailed(report) => write!(f, "the peers did not build: {report}"),
            Unavailable::NotRequested => write!(f, "not prepared: this language was not requested"),
        }
    }
}

/// The compiled Java peers.
#[derive(Debug)]
struct JavaPeers {
    java: PathBuf,
    classes: PathBuf,
}

/// Every language's peers, ready to start.
#[derive(Debug)]
pub struct Peers {
    /// This crate's own binary: its `rust-server` and `rust-client`
    /// subcommands are the Rust ends.
    rust_exe: PathBuf,
    python: Result<PathBuf, Unavailable>,
    java: Result<JavaPeers, Unavailable>,
    go: Result<PathBuf, Unavailable>,
    /// Where the Java classes and the Go binaries were built. Removed when
    /// `Peers` is dropped, so it must live as long as the peers are used.
    _build_dir: Option<TempDir>,
}

impl Peers {
    // ANCHOR: prepare
    /// Finds the toolchains on PATH and compiles the Java and Go peers, for
    /// the languages in `wanted` only. Never fails: a language that cannot
    /// run records why, and its pairs report it.
    pub fn prepare(rust_exe: PathBuf, wanted: &[Language]) -> Peers {
        let build_dir = tempfile::Builder::new()
            .prefix("lesson-06-peers-")
            .tempdir();
        let (build_dir, build_path) = match build_dir {
            Ok(dir) => {
                let path = dir.path().to_path_buf();
                (Some(dir), Ok(path))
            }
            Err(err) => (
                None,
                Err(format!("cannot create a temporary folder: {err}")),
            ),
        };
        let python = if wanted.contains(&Language::Python) {
            find_on_path("python3").ok_or(Unavailable::NotFound("python3"))
        } else {
            Err(Unavailable::NotRequested)
        };
        let java = if wanted.contains(&Language::Java) {
            build_java(&build_path)
        } else {
            Err(Unavailable::NotRequested)
        };
        let go = if wanted.contains(&Language::Go) {
            build_go(&build_path)
        } else {
            Err(Unavailable::NotRequested)
        };
        Peers {
            rust_exe,
            python,
            java,
            go,
            _build_dir: build_dir,
        }
    }
    // ANCHOR_END: prepare

    /// Whether `language`'s peers can run, and if not, why.
    pub fn check(&self, language: Language) -> Result<(), Unavailable> {
        match language {
            Language::Rust => Ok(()),
            Language::Python => self.python.as_ref().map(|_| ()).map_err(Clone::clone),
            Language::Java => self.java.as_ref().map(|_| ()).map_err(Clone::clone),
            Language::Go => self.go.as_ref().map(|_| ()).map_err(Clone::clone),
        }
    }

    // ANCHOR: commands
    /// The command that starts `language`'s echo server on a port the
    /// system chooses (every peer takes port 0 and prints the real address).
    pub fn server_command(&self, language: Language) -> Result<Command, Unavailable> {
        self.command(language, "server", "0")
    }

    /// The command that starts `language`'s echo client against `port` on
    /// 127.0.0.1; it reads the lines to send from its stdin.
    pub fn client_command(&self, language: Language, port: u16) -> Result<Command, Unavailable> {
        self.command(language, "client", &port.to_string())
    }

    fn command(&self, language: Language, role: &str, port: &str) -> Result<Command, Unavailable> {
        let argv = self.command_line(language, role, port)?;
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        Ok(command)
    }

    /// The words of the command line that starts `language`'s `role`
    /// ("server" or "client") with `port`: for example `python3
    /// .../echo_server.py 0`. `check`'s tests pass `{port}` as the port.
    pub fn command_line(
        &self,
        language: Language,
        role: &str,
        port: &str,
    ) -> Result<Vec<String>, Unavailable> {
        let path = |path: &Path| path.to_string_lossy().into_owned();
        let argv = match language {
            Language::Rust => vec![
                path(&self.rust_exe),
                format!("rust-{role}"),
                "--port".to_string(),
                port.to_string(),
            ],
            Language::Python => {
                let python = self.python.as_ref().map_err(Clone::clone)?;
                let script = sources_dir().join("python").join(format!("echo_{role}.py"));
                vec![path(python), path(&script), port.to_string()]
            }
            Language::Java => {
                let java = self.java.as_ref().map_err(Clone::clone)?;
                let class = if role == "server" {
                    "EchoServer"
                } else {
                    "EchoClient"
                };
                // Tiered compilation level 1 starts the JVM faster; these
                // programs are too short-lived to gain from the optimizing compiler.
                vec![
                    path(&java.java),
                    "-XX:TieredStopAtLevel=1".to_string(),
                    "-cp".to_string(),
                    path(&java.classes),
                    class.to_string(),
                    port.to_string(),
                ]
            }
            Language::Go => {
                let bin_dir = self.go.as_ref().map_err(Clone::clone)?;
                vec![
                    path(&bin_dir.join(format!("echo_{role}"))),
                    port.to_string(),
                ]
            }
        };
        Ok(argv)
    }
    // ANCHOR_END: commands
}

/// The full path of `program` in the first PATH folder that has it.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

// ANCHOR: build
/// Compiles `EchoServer.java` and `EchoClient.java` into `<build>/java`.
fn build_java(build_dir: &Result<PathBuf, String>) -> Result<JavaPeers, Unavailable> {
    let javac = find_on_path("javac").ok_or(Unavailable::NotFound("javac"))?;
    let java = find_on_path("java").ok_or(Unavailable::NotFound("java"))?;
    let classes = build_dir
        .as_ref()
        .map_err(|err| Unavailable::BuildFailed(err.clone()))?;
    let classes = classes.join("java");
    let sources = sources_dir().join("java");
    let mut command = Command::new(javac);
    command
        .arg("-d")
        .arg(&classes)
        .arg(sources.join("EchoServer.java"))
        .arg(sources.join("EchoClient.java"));
    run_build(&mut command, "javac")?;
    Ok(JavaPeers { java, classes })
}

/// Builds `echo_server` and `echo_client` into `<build>/go`. Standard
/// library only, so the build needs no network.
fn build_go(build_dir: &Result<PathBuf, String>) -> Result<PathBuf, Unavailable> {
    let go = find_on_path("go").ok_or(Unavailable::NotFound("go"))?;
    let build_dir = build_dir
        .as_ref()
        .map_err(|err| Unavailable::BuildFailed(err.clone()))?;
    // A trailing slash tells `go build -o` to put each command in this folder.
    let bin_dir = build_dir.join("go");
    let mut command = Command::new(go);
    command
        .current_dir(sources_dir().join("go"))
        .arg("build")
        .arg("-o")
        .arg(format!("{}/", bin_dir.display()))
        .args(["./echo_server", "./echo_client"])
        // A newer Go must not try to download another toolchain.
        .env("GOTOOLCHAIN", "local");
    // Go keeps its build cache under $HOME; give it one if there is no home.
    if env::var_os("GOCACHE").is_none()
        && env::var_os("HOME").is_none()
        && env::var_os("XDG_CACHE_HOME").is_none()
    {
        command.env("GOCACHE", build_dir.join("go-cache"));
    }
    run_build(&mut command, "go build")?;
    Ok(bin_dir)
}
// ANCHOR_END: build

/// Runs a compiler; a non-zero exit, or no exit within [`BUILD_LIMIT`],
/// becomes [`Unavailable::BuildFailed`] carrying the compiler's messages.
fn run_build(command: &mut Command, name: &str) -> Result<(), Unavailable> {
    let finished = run_to_end(command, Vec::new(), BUILD_LIMIT)
        .map_err(|err| Unavailable::BuildFailed(format!("cannot run {name}: {err}")))?;
    let messages = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim_end().to_string();
    match finished.status {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(Unavailable::BuildFailed(format!(
            "{name} failed ({status}):\n{}{}",
            messages(&finished.stdout),
            messages(&finished.stderr)
        ))),
        None => Err(Unavailable::BuildFailed(format!(
            "{name} did not finish within {}s",
            BUILD_LIMIT.as_secs()
        ))),
    }
}
