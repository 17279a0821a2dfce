//! The shim protocol, version 1.
//!
//! One unix stream connection per operation. The client sends one JSON line
//! ([`Request`]) and the shim answers one JSON line ([`Response`]). Most operations end
//! there. `attach`, and `exec` with `attach` set, turn the connection into a stream
//! after an `ok` answer:
//!
//! - shim → client: Docker's stdcopy frames, `[stream, 0, 0, 0, len_be32] ++ payload`
//!   (stream 1 stdout, 2 stderr, 3 system error; a TTY's output is all stream 1). The
//!   shim closes the connection after the last output byte, so EOF means "no more
//!   output", and the daemon can pass frames through to a hijacked connection as-is.
//! - client → shim: raw stdin bytes. Shutting down the write half (half-close) closes
//!   the process's stdin, so `cat` sees EOF.
//!
//! `wait` answers only when the process has exited. Requests carry the protocol
//! version; a shim refuses versions it does not speak, so a newer daemon fails
//! loudly against an old shim instead of misreading it.

use serde::{Deserialize, Serialize};

/// Protocol version spoken by this crate and by `berth-shim` built from the same tree.
pub const VERSION: u32 = 1;

/// Size of a stdcopy frame header.
pub const FRAME_HEADER: usize = 8;

/// Largest payload the shim puts in one frame.
pub const MAX_FRAME: usize = 32 * 1024;

/// A request line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version of the sender.
    pub v: u32,
    /// The operation.
    #[serde(flatten)]
    pub op: Op,
}

/// Operations.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Liveness and versions; answers [`Hello`].
    Hello,
    /// Current state; answers [`State`].
    State,
    /// Start the created container.
    Start,
    /// Stream the container's (or an exec's) stdio on this connection.
    Attach(AttachReq),
    /// Set the terminal size of the container's (or an exec's) PTY.
    Resize {
        /// Exec id, or `None` for the container.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec_id: Option<String>,
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// Send a signal to the container's init (or an exec).
    Kill {
        /// Exec id, or `None` for the container.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec_id: Option<String>,
        /// Signal number.
        signal: i32,
    },
    /// Answer with [`ExitStatus`] once the process has exited.
    Wait {
        /// Exec id, or `None` for the container.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec_id: Option<String>,
    },
    /// Start a process inside the running container; answers [`ExecStarted`].
    Exec(ExecReq),
    /// Freeze the container (cgroup freezer).
    Pause,
    /// Thaw the container.
    Resume,
    /// Remove the runtime state and cgroups and let the shim exit (the container
    /// must have exited unless `force`, which kills it first).
    Delete {
        /// Kill a running container first.
        #[serde(default)]
        force: bool,
    },
}

/// What to attach.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AttachReq {
    /// Exec id, or `None` for the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_id: Option<String>,
    /// Forward client bytes to the process's stdin.
    #[serde(default)]
    pub stdin: bool,
    /// Receive stdout.
    #[serde(default)]
    pub stdout: bool,
    /// Receive stderr.
    #[serde(default)]
    pub stderr: bool,
}

/// An exec request. `process` is an OCI `process` object (args, env, cwd, user,
/// terminal, capabilities...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecReq {
    /// Caller-chosen id (Docker's exec id).
    pub exec_id: String,
    /// The OCI process.
    pub process: serde_json::Value,
    /// Keep stdin open.
    #[serde(default)]
    pub stdin: bool,
    /// Attach on this connection after starting (stdout/stderr always, stdin if set).
    #[serde(default)]
    pub attach: bool,
}

/// A response line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Success with a payload (`null` when there is nothing to say).
    Ok(serde_json::Value),
    /// Failure.
    Err(ErrorBody),
}

/// A failure reported by the shim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    /// Classification.
    pub kind: ErrorKindWire,
    /// Human message.
    pub message: String,
}

/// Error kinds on the wire.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKindWire {
    /// Bad request.
    Invalid,
    /// No such exec.
    NotFound,
    /// Wrong state (not running, paused...).
    Conflict,
    /// The runtime failed.
    Internal,
}

/// Answer to [`Op::Hello`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hello {
    /// Protocol version of the shim.
    pub version: u32,
    /// The shim's pid.
    pub pid: i32,
    /// Container id.
    pub id: String,
    /// `youki` or `runc`.
    pub runtime: String,
}

/// Container status as the shim sees it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Frozen.
    Paused,
    /// The init process has exited.
    Stopped,
}

/// Answer to [`Op::State`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// Container id.
    pub id: String,
    /// Status.
    pub status: Status,
    /// Host pid of the container's init (0 before creation).
    pub pid: i32,
    /// When the container was started (RFC 3339 nanos), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Exit status once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
}

/// How a process ended; also the content of the exit file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitStatus {
    /// Docker's exit code: the code, or 128 + signal.
    pub code: i32,
    /// The signal that killed it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The cgroup's OOM killer fired during the container's life.
    #[serde(default)]
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
    /// Why the process could not run, if it never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Answer to [`Op::Exec`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecStarted {
    /// Host pid of the exec'd process.
    pub pid: i32,
}

/// Stream ids of stdcopy frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamId {
    /// 0 (never sent by the shim).
    Stdin = 0,
    /// 1.
    Stdout = 1,
    /// 2.
    Stderr = 2,
    /// 3: a message from the shim itself.
    System = 3,
}

impl StreamId {
    /// From the header byte.
    pub fn from_u8(b: u8) -> Option<StreamId> {
        Some(match b {
            0 => StreamId::Stdin,
            1 => StreamId::Stdout,
            2 => StreamId::Stderr,
            3 => StreamId::System,
            _ => return None,
        })
    }
}

/// The 8-byte stdcopy header for a payload of `len` bytes.
pub fn frame_header(stream: StreamId, len: usize) -> [u8; FRAME_HEADER] {
    let l = (len as u32).to_be_bytes();
    [stream as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Parse a header: stream and payload length.
pub fn parse_header(h: &[u8; FRAME_HEADER]) -> Option<(StreamId, usize)> {
    Some((
        StreamId::from_u8(h[0])?,
        u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_shape() {
        let r = Request {
            v: VERSION,
            op: Op::Kill {
                exec_id: None,
                signal: 9,
            },
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"v":1,"op":"kill","signal":9}"#
        );
        let r: Request =
            serde_json::from_str(r#"{"v":1,"op":"attach","stdin":true,"stdout":true}"#).unwrap();
        assert_eq!(
            r.op,
            Op::Attach(AttachReq {
                exec_id: None,
                stdin: true,
                stdout: true,
                stderr: false
            })
        );
        let ok = serde_json::to_string(&Response::Ok(serde_json::Value::Null)).unwrap();
        assert_eq!(ok, r#"{"ok":null}"#);
    }

    #[test]
    fn frames() {
        let h = frame_header(StreamId::Stderr, 258);
        assert_eq!(h, [2, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(parse_header(&h), Some((StreamId::Stderr, 258)));
    }
}
