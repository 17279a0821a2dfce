//! The client side of hijacked attach/exec streams: the local terminal in raw
//! mode, stdin copied to the connection (half-closed on EOF, watched for the
//! detach keys), output demultiplexed to stdout/stderr, TTY resizes and
//! signal proxying.

use std::io::{Read, Write};
use std::os::fd::AsFd;

use anyhow::{Result, anyhow};
use berth_api::stdcopy::{Decoder, StreamId};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::Ctx;
use super::opts::EscapeProxy;

/// Restores the terminal's settings when dropped.
pub struct RawGuard {
    saved: Option<rustix::termios::Termios>,
}

impl RawGuard {
    /// Put stdin in raw mode when it is a terminal (docker's `SetRawTerminal`).
    pub fn stdin() -> RawGuard {
        let fd = std::io::stdin();
        if !rustix::termios::isatty(fd.as_fd()) {
            return RawGuard { saved: None };
        }
        let Ok(saved) = rustix::termios::tcgetattr(fd.as_fd()) else {
            return RawGuard { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        if rustix::termios::tcsetattr(fd.as_fd(), rustix::termios::OptionalActions::Now, &raw)
            .is_err()
        {
            return RawGuard { saved: None };
        }
        RawGuard { saved: Some(saved) }
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin().as_fd(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

/// Is stdin a terminal?
pub fn stdin_is_tty() -> bool {
    rustix::termios::isatty(std::io::stdin().as_fd())
}

/// Is stdout a terminal?
pub fn stdout_is_tty() -> bool {
    rustix::termios::isatty(std::io::stdout().as_fd())
}

/// The local terminal's (rows, cols), when stdout is a terminal.
pub fn term_size() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout().as_fd()).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// How a stream session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The daemon closed the output (the process ended or detached server-side).
    Output,
    /// The user typed the detach keys.
    Detached,
}

/// Read stdin on a plain thread: a pending read there never keeps the process
/// (or the tokio runtime's shutdown) waiting once the stream is over.
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Pump a hijacked connection until the output ends (or the user detaches).
/// `stdin`: copy local stdin (half-closing the connection at EOF);
/// `detach_keys`: watch stdin for this sequence (TTY sessions).
pub async fn pump(
    conn: Upgraded,
    tty: bool,
    stdin: bool,
    detach_keys: Option<Vec<u8>>,
) -> Result<Ended> {
    let (mut rd, mut wr) = tokio::io::split(TokioIo::new(conn));
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let input = if stdin {
        let mut chunks = stdin_chunks();
        Some(tokio::spawn(async move {
            let mut proxy = detach_keys.map(EscapeProxy::new);
            while let Some(chunk) = chunks.recv().await {
                let (data, detach) = match proxy.as_mut() {
                    Some(p) => p.feed(&chunk),
                    None => (chunk, false),
                };
                if !data.is_empty() && wr.write_all(&data).await.is_err() {
                    return;
                }
                if detach {
                    let _ = detach_tx.send(());
                    return;
                }
            }
            // EOF on stdin: half-close so the process sees EOF; output continues.
            let _ = wr.shutdown().await;
        }))
    } else {
        drop(detach_tx);
        None
    };
    let output = async {
        let mut out = tokio::io::stdout();
        let mut err = tokio::io::stderr();
        let mut dec = Decoder::default();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            if tty {
                out.write_all(&buf[..n]).await?;
                out.flush().await?;
                continue;
            }
            dec.push(&buf[..n]);
            while let Some((id, data)) = dec.next_frame().map_err(|e| anyhow!(e))? {
                match id {
                    StreamId::Stdout | StreamId::Stdin => {
                        out.write_all(&data).await?;
                        out.flush().await?;
                    }
                    StreamId::Stderr => {
                        err.write_all(&data).await?;
                        err.flush().await?;
                    }
                    StreamId::Systemerr => {
                        return Err(anyhow!("{}", String::from_utf8_lossy(&data).trim_end()));
                    }
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    let ended = tokio::select! {
        r = output => { r?; Ended::Output }
        Ok(()) = &mut detach_rx => Ended::Detached,
    };
    if let Some(t) = input {
        t.abort();
    }
    Ok(ended)
}

/// Resize the remote TTY now and on every SIGWINCH until the returned task is aborted.
/// `path` is `/containers/{id}/resize` or `/exec/{id}/resize`.
pub fn keep_resized(ctx: &Ctx, path: String) -> tokio::task::JoinHandle<()> {
    let client = ctx.client.clone();
    tokio::spawn(async move {
        let resize = |client: berth_api::client::Client, path: String| async move {
            if let Some((h, w)) = term_size() {
                let _ = client.post_empty(&format!("{path}?h={h}&w={w}")).await;
            }
        };
        resize(client.clone(), path.clone()).await;
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            resize(client.clone(), path.clone()).await;
        }
    })
}

/// Forward the signals a user sends the CLI to the container (docker's `--sig-proxy`).
pub fn proxy_signals(ctx: &Ctx, id: String) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let client = ctx.client.clone();
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(8);
        for (kind, name) in kinds {
            let Ok(mut s) = signal(kind) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            let _ = client
                .post_empty(&format!("/containers/{id}/kill?signal={name}"))
                .await;
        }
    })
}

/// Print to stderr immediately (progress and warnings).
pub fn eprint_flush(s: &str) {
    let mut e = std::io::stderr();
    let _ = e.write_all(s.as_bytes());
    let _ = e.flush();
}
