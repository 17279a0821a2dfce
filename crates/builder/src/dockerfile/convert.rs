//! parse-dockerfile's syntax tree → berth's [`Dockerfile`], one instruction at
//! a time. Each instruction is re-parsed on its own (with a `FROM scratch`
//! before it and the escape directive when it is not `\`), so the crate does
//! the lexing it is good at while line numbers, here-documents, the joined
//! shell text and Docker's error wording come from berth.

use parse_dockerfile as pd;

use super::scan::{self, RawInstruction, after_flags};
use super::{
    CmdLine, CopyArgs, Dockerfile, Health, Instruction, ParseError, Run, Source, Stage, Step, words,
};

const KNOWN: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

fn err(line: usize, msg: impl Into<String>) -> ParseError {
    ParseError {
        line,
        msg: msg.into(),
    }
}

pub(super) fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (d, raws) = scan::scan(text).map_err(|e| err(e.line, e.msg))?;
    if raws.is_empty() {
        return Err(err(1, "file with no instructions"));
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for raw in &raws {
        if !KNOWN.contains(&raw.keyword.as_str()) {
            return Err(err(
                raw.line,
                format!("unknown instruction: {}", raw.keyword),
            ));
        }
        if raw.keyword == "FROM" {
            let stage = convert_from(raw, &lines, d.escape)?;
            if let Some(n) = &stage.name
                && stages.iter().any(|s| s.name.as_deref() == Some(n.as_str()))
            {
                return Err(err(raw.line, format!("duplicate name {n:?}")));
            }
            stages.push(stage);
            continue;
        }
        let step = convert_step(raw, &lines, d.escape)?;
        match stages.last_mut() {
            Some(s) => s.steps.push(step),
            None if raw.keyword == "ARG" => meta_args.push(step),
            None => return Err(err(raw.line, "no build stage in current context")),
        }
    }
    if stages.is_empty() {
        return Err(err(
            raws.last().map_or(1, |r| r.line),
            "no build stage in current context",
        ));
    }
    Ok(Dockerfile {
        escape: d.escape,
        meta_args,
        stages,
    })
}

pub(super) fn parse_trigger(text: &str, escape: char, line: usize) -> Result<Step, ParseError> {
    let directive = if escape == '`' { "# escape=`\n" } else { "" };
    let full = format!("{directive}{text}\n");
    let (_, raws) = scan::scan(&full).map_err(|e| err(line, e.msg))?;
    let [raw] = raws.as_slice() else {
        return Err(err(line, "onbuild trigger should be a single expression"));
    };
    if !KNOWN.contains(&raw.keyword.as_str()) {
        return Err(err(line, format!("unknown instruction: {}", raw.keyword)));
    }
    let lines: Vec<&str> = full.split_inclusive('\n').collect();
    let mut step = convert_step(raw, &lines, escape)?;
    step.line = line;
    Ok(step)
}

/// The text handed to parse-dockerfile for one instruction, and how many
/// lines were put before the instruction's first line.
fn mini(raw: &RawInstruction, lines: &[&str], escape: char) -> (String, usize) {
    let mut s = String::new();
    let mut prefix = 0;
    if escape == '`' {
        s.push_str("# escape=`\n");
        prefix += 1;
    }
    if raw.keyword != "FROM" {
        s.push_str("FROM scratch\n");
        prefix += 1;
    }
    let mut push = |i: usize| {
        if let Some(l) = lines.get(i) {
            s.push_str(l);
            if !l.ends_with('\n') {
                s.push('\n');
            }
        }
    };
    for i in raw.lines.clone() {
        push(i);
    }
    // parse-dockerfile reads every COPY/ADD here-document, but only a RUN
    // here-document that starts the command (and only the first).
    let bodies: Vec<_> = match raw.keyword.as_str() {
        "COPY" | "ADD" => raw.heredocs.iter().collect(),
        "RUN" => raw
            .heredocs
            .iter()
            .take(1)
            .filter(|(h, _)| h.word_index == 0)
            .collect(),
        _ => Vec::new(),
    };
    for (_, range) in bodies {
        for i in range.clone() {
            push(i);
        }
    }
    (s, prefix)
}

fn crate_error(e: &pd::Error, raw: &RawInstruction, prefix: usize) -> ParseError {
    let text = e.to_string();
    let msg = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let line = (raw.line + e.line().saturating_sub(prefix + 1)).max(raw.line);
    err(line, msg)
}

fn with_parsed<T>(
    raw: &RawInstruction,
    lines: &[&str],
    escape: char,
    f: impl FnOnce(&pd::Instruction<'_>) -> Result<T, ParseError>,
) -> Result<T, ParseError> {
    let (text, prefix) = mini(raw, lines, escape);
    let df = pd::parse(&text).map_err(|e| crate_error(&e, raw, prefix))?;
    let inst = df
        .instructions
        .last()
        .ok_or_else(|| err(raw.line, "empty instruction"))?;
    f(inst)
}

fn flags<'b, 'a: 'b>(
    opts: impl IntoIterator<Item = &'b pd::Flag<'a>>,
    allowed: &[&str],
    line: usize,
) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let mut out = Vec::new();
    for f in opts {
        let name = f.name.value.to_string();
        if !allowed.contains(&name.as_str()) {
            return Err(err(line, format!("unknown flag: {name}")));
        }
        out.push((name, f.value.as_ref().map(|v| v.value.to_string())));
    }
    Ok(out)
}

fn flag(fl: &[(String, Option<String>)], name: &str) -> Option<String> {
    fl.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone().unwrap_or_default())
}

fn bool_flag(fl: &[(String, Option<String>)], name: &str, line: usize) -> Result<bool, ParseError> {
    match fl.iter().rev().find(|(n, _)| n == name) {
        None => Ok(false),
        Some((_, None)) => Ok(true),
        Some((_, Some(v))) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(err(
                line,
                format!("expecting boolean value for flag {name}, not: {v}"),
            )),
        },
    }
}

fn cmdline(c: &pd::Command<'_>, shell_text: &str) -> CmdLine {
    match c {
        pd::Command::Exec(a) => {
            CmdLine::Exec(a.value.iter().map(|s| s.value.to_string()).collect())
        }
        _ => CmdLine::Shell(shell_text.to_string()),
    }
}

fn convert_from(raw: &RawInstruction, lines: &[&str], escape: char) -> Result<Stage, ParseError> {
    with_parsed(raw, lines, escape, |inst| {
        let pd::Instruction::From(f) = inst else {
            return Err(err(raw.line, "expected FROM"));
        };
        let fl = flags(&f.options, &["platform"], raw.line)?;
        let name = match &f.as_ {
            Some((_, n)) => {
                let n = n.value.to_ascii_lowercase();
                let valid = n.starts_with(|c: char| c.is_ascii_lowercase())
                    && n.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                    });
                if !valid {
                    return Err(err(
                        raw.line,
                        format!(
                            "invalid name for build stage: {n:?}, name can't start with a number or contain symbols"
                        ),
                    ));
                }
                Some(n)
            }
            None => None,
        };
        Ok(Stage {
            name,
            base: f.image.value.to_string(),
            platform: flag(&fl, "platform"),
            line: raw.line,
            original: raw.joined.clone(),
            steps: Vec::new(),
        })
    })
}

fn duration(fl: &[(String, Option<String>)], name: &str, line: usize) -> Result<i64, ParseError> {
    let Some(v) = flag(fl, name).filter(|v| !v.is_empty()) else {
        return Ok(0);
    };
    let d = berth_core::timefmt::parse_go_duration(&v)
        .ok_or_else(|| err(line, format!("time: invalid duration {v:?}")))?;
    let ns = d.num_nanoseconds().unwrap_or(i64::MAX);
    if ns != 0 && ns < 1_000_000 {
        return Err(err(
            line,
            format!("Interval {name:?} cannot be less than 1ms"),
        ));
    }
    Ok(ns)
}

fn convert_step(raw: &RawInstruction, lines: &[&str], escape: char) -> Result<Step, ParseError> {
    let line = raw.line;
    let rest = after_flags(&raw.joined, escape);
    let inst = with_parsed(raw, lines, escape, |inst| {
        Ok(match inst {
            pd::Instruction::Run(r) => {
                let fl = flags(&r.options, &["mount", "network", "security"], line)?;
                Instruction::Run(Run {
                    mounts: fl
                        .iter()
                        .filter(|(n, _)| n == "mount")
                        .filter_map(|(_, v)| v.clone())
                        .collect(),
                    network: flag(&fl, "network"),
                    security: flag(&fl, "security"),
                    cmd: cmdline(&r.arguments, rest),
                    heredocs: raw.heredocs.iter().map(|(h, _)| h.clone()).collect(),
                })
            }
            pd::Instruction::Cmd(c) => Instruction::Cmd(cmdline(&c.arguments, rest)),
            pd::Instruction::Entrypoint(c) => Instruction::Entrypoint(cmdline(&c.arguments, rest)),
            pd::Instruction::Copy(c) => {
                let fl = flags(
                    &c.options,
                    &["from", "chown", "chmod", "link", "parents", "exclude"],
                    line,
                )?;
                let mut a = copy_args(&c.src, &c.dest, raw, &fl, line)?;
                a.from = flag(&fl, "from");
                Instruction::Copy(a)
            }
            pd::Instruction::Add(c) => {
                let fl = flags(
                    &c.options,
                    &[
                        "chown",
                        "chmod",
                        "link",
                        "checksum",
                        "keep-git-dir",
                        "exclude",
                    ],
                    line,
                )?;
                let mut a = copy_args(&c.src, &c.dest, raw, &fl, line)?;
                a.checksum = flag(&fl, "checksum");
                Instruction::Add(a)
            }
            pd::Instruction::Env(_) => {
                Instruction::Env(words::name_values(rest, "ENV", escape).map_err(|m| err(line, m))?)
            }
            pd::Instruction::Label(_) => Instruction::Label(
                words::name_values(rest, "LABEL", escape).map_err(|m| err(line, m))?,
            ),
            pd::Instruction::Arg(_) => {
                Instruction::Arg(words::arg_decls(rest, escape).map_err(|m| err(line, m))?)
            }
            pd::Instruction::Workdir(w) => Instruction::Workdir(w.arguments.value.to_string()),
            pd::Instruction::User(u) => Instruction::User(u.arguments.value.to_string()),
            pd::Instruction::Stopsignal(s) => {
                Instruction::StopSignal(s.arguments.value.to_string())
            }
            pd::Instruction::Maintainer(m) => Instruction::Maintainer(m.name.value.to_string()),
            pd::Instruction::Expose(e) => {
                Instruction::Expose(e.arguments.iter().map(|s| s.value.to_string()).collect())
            }
            pd::Instruction::Volume(v) => Instruction::Volume(match &v.arguments {
                pd::JsonOrStringArray::Json(a) => {
                    a.value.iter().map(|s| s.value.to_string()).collect()
                }
                pd::JsonOrStringArray::String(a) => a.iter().map(|s| s.value.to_string()).collect(),
            }),
            pd::Instruction::Shell(s) => {
                Instruction::Shell(s.arguments.iter().map(|s| s.value.to_string()).collect())
            }
            pd::Instruction::Healthcheck(h) => {
                let fl = flags(
                    &h.options,
                    &[
                        "interval",
                        "timeout",
                        "start-period",
                        "start-interval",
                        "retries",
                    ],
                    line,
                )?;
                let test = match &h.arguments {
                    pd::HealthcheckArguments::Cmd { arguments, .. } => {
                        let shell_text = rest.trim_start().get(3..).unwrap_or("").trim_start();
                        match cmdline(arguments, shell_text) {
                            CmdLine::Exec(a) => {
                                std::iter::once("CMD".to_string()).chain(a).collect()
                            }
                            CmdLine::Shell(s) => vec!["CMD-SHELL".to_string(), s],
                        }
                    }
                    _ => {
                        if !fl.is_empty() {
                            return Err(err(line, "HEALTHCHECK NONE takes no arguments"));
                        }
                        vec!["NONE".to_string()]
                    }
                };
                let retries = match flag(&fl, "retries").filter(|v| !v.is_empty()) {
                    None => 0,
                    Some(v) => {
                        let n: i64 = v.parse().map_err(|_| {
                            err(
                                line,
                                format!("strconv.ParseInt: parsing {v:?}: invalid syntax"),
                            )
                        })?;
                        if n < 1 {
                            return Err(err(
                                line,
                                format!("--retries must be at least 1 (not {n})"),
                            ));
                        }
                        n
                    }
                };
                Instruction::Healthcheck(Health {
                    test,
                    interval: duration(&fl, "interval", line)?,
                    timeout: duration(&fl, "timeout", line)?,
                    start_period: duration(&fl, "start-period", line)?,
                    start_interval: duration(&fl, "start-interval", line)?,
                    retries,
                })
            }
            pd::Instruction::Onbuild(_) => {
                let expr = rest.trim().to_string();
                let trigger = expr
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                match trigger.as_str() {
                    "ONBUILD" => {
                        return Err(err(
                            line,
                            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                        ));
                    }
                    "FROM" | "MAINTAINER" => {
                        return Err(err(
                            line,
                            format!("{trigger} isn't allowed as an ONBUILD trigger"),
                        ));
                    }
                    _ => {}
                }
                Instruction::Onbuild(expr)
            }
            pd::Instruction::From(_) => return Err(err(line, "unexpected FROM")),
            _ => return Err(err(line, format!("unknown instruction: {}", raw.keyword))),
        })
    })?;
    Ok(Step {
        line,
        original: raw.joined.clone(),
        inst,
    })
}

fn copy_args(
    src: &[pd::Source<'_>],
    dest: &pd::UnescapedString<'_>,
    raw: &RawInstruction,
    fl: &[(String, Option<String>)],
    line: usize,
) -> Result<CopyArgs, ParseError> {
    let mut heredocs = raw.heredocs.iter().map(|(h, _)| h.clone());
    let mut sources = Vec::new();
    for s in src {
        match s {
            pd::Source::Path(p) => sources.push(Source::Path(p.value.to_string())),
            _ => match heredocs.next() {
                Some(h) => sources.push(Source::Heredoc(h)),
                None => return Err(err(line, "here-document without a delimiter")),
            },
        }
    }
    Ok(CopyArgs {
        sources,
        dest: dest.value.to_string(),
        chown: flag(fl, "chown"),
        chmod: flag(fl, "chmod"),
        link: bool_flag(fl, "link", line)?,
        parents: bool_flag(fl, "parents", line)?,
        excludes: fl
            .iter()
            .filter(|(n, _)| n == "exclude")
            .filter_map(|(_, v)| v.clone())
            .collect(),
        ..Default::default()
    })
}
