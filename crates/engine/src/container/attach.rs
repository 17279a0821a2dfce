//! `docker attach` and the stream plumbing shared with `exec`.
//!
//! An attach to a container that is not running registers a [`PendingAttach`];
//! the next start hands it the shim's stdio before the process runs, so
//! `docker run` (attach, then start) sees every byte. Output is passed through
//! in Docker's stdcopy framing (which the shim already uses) or unframed for a
//! TTY; client stdin goes to the shim with detach-key detection, and a client
//! half-close becomes stdin EOF for `StdinOnce` containers.

use std::sync::Arc;

use berth_api::backend::container::{AttachOptions, HijackedIo, StreamSession};
use berth_core::{Error, Result};
use berth_runtime::client::Attach;
use berth_runtime::proto::AttachReq;
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::Engine;

/// An attach waiting for the container to start.
pub struct PendingAttach {
    /// What to attach.
    pub req: AttachReq,
    /// Where the starter sends the shim's stdio.
    pub tx: oneshot::Sender<Attach>,
}

impl std::fmt::Debug for PendingAttach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAttach")
            .field("req", &self.req)
            .finish()
    }
}

/// Parse Docker's detach keys (`ctrl-p,ctrl-q`, `a`, `ctrl-@`...).
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for k in s.split(',') {
        let k = k.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c {
                "@" => 0,
                "[" => 27,
                "\\" => 28,
                "]" => 29,
                "^" => 30,
                "_" => 31,
                c if c.len() == 1 && c.as_bytes()[0].is_ascii_lowercase() => {
                    c.as_bytes()[0] - b'a' + 1
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "Invalid detach keys ({s}) provided"
                    )));
                }
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(Error::invalid(format!(
                "Invalid detach keys ({s}) provided"
            )));
        }
    }
    Ok(out)
}

/// Copy a shim session to a client connection until the output ends, the
/// client goes away, or the client types the detach keys.
pub async fn pump(
    io: Box<dyn HijackedIo>,
    attach: Attach,
    tty: bool,
    stdin: bool,
    stdin_once: bool,
    detach: Vec<u8>,
    before_close: Option<futures::future::BoxFuture<'static, ()>>,
) {
    let (mut cr, mut cw) = tokio::io::split(io);
    let Attach {
        stdin: mut shim_in,
        mut output,
    } = attach;
    let out = async move {
        if tty {
            while let Ok(Some((_, data))) = output.next().await {
                if cw.write_all(&data).await.is_err() {
                    break;
                }
                let _ = cw.flush().await;
            }
        } else {
            let mut raw = output.into_raw();
            let _ = tokio::io::copy(&mut raw, &mut cw).await;
        }
        // e.g. an exec records its exit code before the client sees EOF and inspects it.
        if let Some(f) = before_close {
            f.await;
        }
        let _ = cw.shutdown().await;
    };
    let inp = async move {
        if !stdin {
            return std::future::pending::<bool>().await;
        }
        let mut buf = vec![0u8; 16 * 1024];
        let mut matched = 0usize;
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    if stdin_once {
                        let _ = shim_in.shutdown().await;
                    }
                    return false;
                }
                Ok(n) => n,
            };
            let mut chunk = Vec::with_capacity(n);
            for &b in &buf[..n] {
                if !detach.is_empty() && b == detach[matched] {
                    matched += 1;
                    if matched == detach.len() {
                        let _ = shim_in.write_all(&chunk).await;
                        return true;
                    }
                    continue;
                }
                if matched > 0 {
                    chunk.extend_from_slice(&detach[..matched]);
                    matched = 0;
                }
                chunk.push(b);
            }
            if shim_in.write_all(&chunk).await.is_err() {
                return false;
            }
        }
    };
    tokio::pin!(out);
    tokio::pin!(inp);
    tokio::select! {
        _ = &mut out => {}
        detached = &mut inp => {
            if !detached {
                // stdin ended: keep streaming output until it ends.
                out.await;
            }
        }
    }
}

impl Engine {
    /// `POST /containers/{id}/attach`.
    pub async fn attach_container(
        self: &Arc<Self>,
        key: &str,
        opts: AttachOptions,
    ) -> Result<StreamSession> {
        let c = self.container(key)?;
        let rec = c.config();
        let tty = rec.config.tty;
        let stdin = opts.stdin && rec.config.open_stdin;
        let detach = parse_detach_keys(
            opts.detach_keys
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("ctrl-p,ctrl-q"),
        )?;
        let req = AttachReq {
            exec_id: None,
            stdin,
            stdout: opts.stdout,
            stderr: opts.stderr,
        };
        let replay = if opts.logs {
            Some(self.log_replay(&c, opts.stdout, opts.stderr)?)
        } else {
            None
        };
        let stdin_once = rec.config.stdin_once;
        // Register now, so a start right after this call cannot run ahead of the attach.
        let pending_rx = if opts.stream && !c.status().is_alive() {
            let (tx, rx) = oneshot::channel();
            c.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(PendingAttach {
                    req: req.clone(),
                    tx,
                });
            Some(rx)
        } else {
            None
        };
        let h = self.shim(&c);
        let engine = self.clone();
        let cid = c.id.clone();
        let stream = opts.stream;
        let run = move |mut io: Box<dyn HijackedIo>| {
            async move {
                if let Some(bytes) = replay
                    && io.write_all(&bytes).await.is_err()
                {
                    return;
                }
                if !stream {
                    let _ = io.shutdown().await;
                    return;
                }
                let attach = match pending_rx {
                    Some(rx) => rx.await.ok(),
                    None => h.attach(req).await.ok(),
                };
                if let Some(a) = attach {
                    if let Ok(c) = engine.container(&cid) {
                        engine.emit_container(&c, "attach", &[]);
                    }
                    pump(io, a, tty, stdin, stdin_once, detach, None).await;
                } else {
                    let _ = io.shutdown().await;
                }
            }
            .boxed()
        };
        Ok(StreamSession {
            tty,
            run: Box::new(run),
        })
    }

    /// `POST /containers/{id}/resize`.
    pub async fn resize_container(&self, key: &str, height: u32, width: u32) -> Result<()> {
        let c = self.container(key)?;
        if !c.status().is_alive() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        self.shim(&c)
            .resize(
                None,
                width.min(u16::MAX as u32) as u16,
                height.min(u16::MAX as u32) as u16,
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }
}
