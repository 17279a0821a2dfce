//! `docker logs`: read the shim's log files (both drivers, across rotations),
//! framed for the wire.

use std::sync::Arc;

use berth_api::backend::container::{LogsOptions, LogsStream};
use berth_api::stdcopy::{self, StreamId};
use berth_core::{Error, Result};
use berth_runtime::layout::LogDriver;
use berth_runtime::logs::reader::{self, ReadOptions};
use berth_runtime::logs::{LogEntry, LogStream};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;

use super::Container;
use crate::Engine;

/// One entry as wire bytes.
pub fn frame(e: &LogEntry, tty: bool, timestamps: bool) -> Bytes {
    let mut data = Vec::with_capacity(e.data.len() + 32);
    if timestamps {
        data.extend_from_slice(e.timestamp().as_bytes());
        data.push(b' ');
    }
    data.extend_from_slice(&e.data);
    if tty {
        return Bytes::from(data);
    }
    let id = match e.stream {
        LogStream::Stdout => StreamId::Stdout,
        LogStream::Stderr => StreamId::Stderr,
    };
    stdcopy::encode(id, &data)
}

impl Engine {
    fn log_source(&self, c: &Container) -> Result<(std::path::PathBuf, LogDriver)> {
        let rec = c.config();
        let cfg = self.log_config(c, &rec)?;
        if cfg.driver == LogDriver::None {
            return Err(Error::invalid(
                "configured logging driver does not support reading",
            ));
        }
        Ok((cfg.path, cfg.driver))
    }

    /// Everything logged so far, framed (for `attach?logs=1`).
    pub fn log_replay(&self, c: &Container, stdout: bool, stderr: bool) -> Result<Vec<u8>> {
        let (path, driver) = self.log_source(c)?;
        let tty = c.with_config(|r| r.config.tty);
        let ro = ReadOptions {
            stdout,
            stderr,
            ..Default::default()
        };
        let entries = reader::read(&path, driver, &ro).unwrap_or_default();
        Ok(entries
            .iter()
            .flat_map(|e| frame(e, tty, false).to_vec())
            .collect())
    }

    /// `GET /containers/{id}/logs`.
    pub async fn container_logs(
        self: &Arc<Self>,
        key: &str,
        opts: LogsOptions,
    ) -> Result<LogsStream> {
        let c = self.container(key)?;
        if !opts.stdout && !opts.stderr {
            return Err(Error::invalid("You must choose at least one stream"));
        }
        let (path, driver) = self.log_source(&c)?;
        let tty = c.with_config(|r| r.config.tty);
        let ro = ReadOptions {
            stdout: opts.stdout,
            stderr: opts.stderr,
            since: opts.since,
            until: opts.until,
            tail: opts.tail,
        };
        let ts = opts.timestamps;
        if !opts.follow || !c.status().is_alive() {
            let entries = tokio::task::spawn_blocking(move || reader::read(&path, driver, &ro))
                .await
                .map_err(|e| Error::internal(format!("read logs: {e}")))?
                .unwrap_or_default();
            let body =
                futures::stream::iter(entries.into_iter().map(move |e| Ok(frame(&e, tty, ts))));
            return Ok(LogsStream {
                tty,
                body: body.boxed(),
            });
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tick = c.watch();
        tokio::spawn(async move {
            loop {
                let t = tick.borrow_and_update().clone();
                if !matches!(t.status, super::Status::Running | super::Status::Paused) || t.removed
                {
                    break;
                }
                if tick.changed().await.is_err() {
                    break;
                }
            }
            let _ = stop_tx.send(true);
        });
        let rx = reader::follow(path, driver, ro, stop_rx);
        let body = tokio_stream::wrappers::ReceiverStream::new(rx)
            .filter_map(move |r| async move { r.ok().map(|e| Ok(frame(&e, tty, ts))) });
        Ok(LogsStream {
            tty,
            body: body.boxed(),
        })
    }
}
