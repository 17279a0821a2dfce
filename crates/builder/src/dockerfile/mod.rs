//! The Dockerfile front end: text → stages of typed instructions, every
//! instruction carrying its line number and the text Docker prints for it.
//!
//! [`scan`] forms logical lines and finds here-documents; each instruction is
//! then handed alone to parse-dockerfile (flags, JSON forms, quoting, the
//! escape character) and converted in [`convert`]. Variable expansion
//! ([`shell`]) happens later, while building, because it depends on the
//! build arguments and the environment at each step.

pub mod convert;
pub mod scan;
pub mod shell;
pub mod words;

pub use scan::Heredoc;

/// A command in exec form (`["a","b"]`) or shell form (one string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdLine {
    /// JSON array.
    Exec(Vec<String>),
    /// Text for the shell, continuations joined.
    Shell(String),
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// `--mount=` values, raw.
    pub mounts: Vec<String>,
    /// `--network=`.
    pub network: Option<String>,
    /// `--security=`.
    pub security: Option<String>,
    /// The command.
    pub cmd: CmdLine,
    /// Here-documents of the command.
    pub heredocs: Vec<Heredoc>,
}

/// A `COPY`/`ADD` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path, pattern or URL (unexpanded).
    Path(String),
    /// An inline file.
    Heredoc(Heredoc),
}

/// `COPY` and `ADD`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyArgs {
    /// Sources.
    pub sources: Vec<Source>,
    /// Destination (unexpanded).
    pub dest: String,
    /// `--from=` (COPY).
    pub from: Option<String>,
    /// `--chown=`.
    pub chown: Option<String>,
    /// `--chmod=`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude=` patterns.
    pub excludes: Vec<String>,
    /// `--checksum=` (ADD).
    pub checksum: Option<String>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", "…"]`.
    pub test: Vec<String>,
    /// Nanoseconds (0 = inherit).
    pub interval: i64,
    /// Nanoseconds.
    pub timeout: i64,
    /// Nanoseconds.
    pub start_period: i64,
    /// Nanoseconds.
    pub start_interval: i64,
    /// Retries (0 = inherit).
    pub retries: i64,
}

/// One instruction after the FROM of its stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run(Run),
    Cmd(CmdLine),
    Entrypoint(CmdLine),
    Copy(CopyArgs),
    Add(CopyArgs),
    /// Raw `KEY=value` pairs.
    Env(Vec<(String, String)>),
    /// Raw `KEY=value` pairs.
    Label(Vec<(String, String)>),
    /// Raw `NAME[=default]`.
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    /// Raw port words.
    Expose(Vec<String>),
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Health),
    Shell(Vec<String>),
    Maintainer(String),
    /// The trigger's source text (`RUN echo hi`).
    Onbuild(String),
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line.
    pub line: usize,
    /// What `Step N/M : …` shows.
    pub original: String,
    /// The instruction.
    pub inst: Instruction,
}

/// A build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Lower-cased `AS` name.
    pub name: Option<String>,
    /// The base (unexpanded): an image reference, `scratch` or an earlier stage.
    pub base: String,
    /// `--platform=` (unexpanded).
    pub platform: Option<String>,
    /// Line of the FROM.
    pub line: usize,
    /// The FROM line as Docker prints it.
    pub original: String,
    /// Instructions after the FROM.
    pub steps: Vec<Step>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character.
    pub escape: char,
    /// ARGs before the first FROM.
    pub meta_args: Vec<Step>,
    /// Stages in order.
    pub stages: Vec<Stage>,
}

/// A front-end error: Docker's `dockerfile parse error on line N: …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {msg}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

impl Dockerfile {
    /// Index of the stage `name` (a stage name or a stage number).
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(i);
        }
        name.parse::<usize>()
            .ok()
            .filter(|i| *i < self.stages.len())
    }
}

/// Parse a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    convert::parse(text)
}

/// Parse one instruction (an ONBUILD trigger) with the given escape character.
pub fn parse_trigger(text: &str, escape: char, line: usize) -> Result<Step, ParseError> {
    convert::parse_trigger(text, escape, line)
}
