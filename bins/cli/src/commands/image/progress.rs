//! Drawing Docker's JSON message streams: one bar per layer id on a terminal
//! (indicatif), plain `id: status` lines otherwise, as the docker CLI does.

use std::collections::HashMap;
use std::io::IsTerminal;

use anyhow::{Result, bail};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// Renders messages as they arrive.
pub struct Renderer {
    mp: Option<MultiProgress>,
    bars: HashMap<String, ProgressBar>,
    quiet: bool,
    /// `aux` payloads seen (push digests, build ids).
    pub aux: Vec<Value>,
}

fn style(bytes: bool) -> ProgressStyle {
    let t = if bytes {
        "{prefix}: {msg:<12} [{bar:40}] {bytes}/{total_bytes}"
    } else {
        "{prefix}: {msg}"
    };
    ProgressStyle::with_template(t)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Renderer {
    /// Bars when stdout is a terminal (unless `quiet`).
    pub fn new(quiet: bool) -> Renderer {
        let tty = std::io::stdout().is_terminal() && !quiet;
        let mp = tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Renderer {
            mp,
            bars: HashMap::new(),
            quiet,
            aux: Vec::new(),
        }
    }

    fn line(&self, s: &str) {
        if self.quiet {
            return;
        }
        match &self.mp {
            Some(mp) => {
                let _ = mp.println(s);
            }
            None => println!("{s}"),
        }
    }

    /// Handle one message; an error message becomes the command's error.
    pub fn message(&mut self, m: &Value) -> Result<()> {
        if let Some(e) = m["errorDetail"]["message"].as_str().or(m["error"].as_str()) {
            self.finish();
            bail!("{e}");
        }
        if !m["aux"].is_null() {
            self.aux.push(m["aux"].clone());
            return Ok(());
        }
        if let Some(s) = m["stream"].as_str() {
            if !self.quiet {
                self.line(s.trim_end_matches('\n'));
            }
            return Ok(());
        }
        let status = m["status"].as_str().unwrap_or("");
        let id = m["id"].as_str().unwrap_or("");
        let current = m["progressDetail"]["current"].as_i64();
        let total = m["progressDetail"]["total"].as_i64();
        if id.is_empty() {
            self.line(status);
            return Ok(());
        }
        match &self.mp {
            Some(mp) => {
                let bar = self.bars.entry(id.to_string()).or_insert_with(|| {
                    let b = mp.add(ProgressBar::new(0));
                    b.set_style(style(false));
                    b.set_prefix(id.to_string());
                    b
                });
                match (current, total) {
                    (Some(c), Some(t)) if t > 0 => {
                        bar.set_style(style(true));
                        bar.set_length(t as u64);
                        bar.set_position(c.max(0) as u64);
                    }
                    _ => bar.set_style(style(false)),
                }
                bar.set_message(status.to_string());
            }
            // Off a terminal, progress updates are noise: print state changes only.
            None if current.is_some() => {}
            None => self.line(&format!("{id}: {status}")),
        }
        Ok(())
    }

    /// Stop drawing (bars stay on screen).
    pub fn finish(&mut self) {
        for b in self.bars.values() {
            b.abandon();
        }
    }
}

/// Read a JSON message stream to its end, rendering it.
pub async fn render(resp: hyper::Response<Incoming>, r: &mut Renderer) -> Result<()> {
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            buf.extend_from_slice(data);
        }
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let Ok(m) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            r.message(&m)?;
        }
    }
    if let Ok(m) = serde_json::from_slice::<Value>(&buf) {
        r.message(&m)?;
    }
    r.finish();
    Ok(())
}
