//! `load`, `save` and `import`: images to and from tar archives.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result, bail};
use berth_api::client;
use clap::Args;
use http::Method;

use super::{split, stream_request};
use crate::commands::Ctx;
use crate::commands::system::enc;

/// `load` flags.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN.
    #[arg(short, long)]
    pub input: Option<String>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `save` flags.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<String>,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `import` flags.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub platform: Option<String>,
    /// file|- .
    pub file: String,
    /// REPOSITORY[:TAG].
    pub reference: Option<String>,
}

fn read_input(path: Option<&str>) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    match path {
        Some(p) if p != "-" => {
            std::fs::File::open(p)
                .with_context(|| format!("open {p}"))?
                .read_to_end(&mut data)?;
        }
        _ => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            std::io::stdin().read_to_end(&mut data)?;
        }
    }
    Ok(data)
}

pub(super) async fn load(ctx: &Ctx, a: LoadArgs) -> Result<()> {
    let data = read_input(a.input.as_deref())?;
    let quiet = a.quiet || !std::io::stdout().is_terminal();
    let path = format!("/images/load?quiet={}", u8::from(quiet));
    let h = [("Content-Type".to_string(), "application/x-tar".to_string())];
    // Progress bars are suppressed when quiet, but `Loaded image` lines still print.
    stream_request(ctx, Method::POST, &path, client::bytes(data), &h, a.quiet).await?;
    Ok(())
}

pub(super) async fn save(ctx: &Ctx, a: SaveArgs) -> Result<()> {
    let names: Vec<String> = a
        .images
        .iter()
        .map(|n| format!("names={}", enc(n)))
        .collect();
    let path = format!("/images/get?{}", names.join("&"));
    ctx.download(&path, a.output.as_deref(), "create").await
}

pub(super) async fn import(ctx: &Ctx, a: ImportArgs) -> Result<()> {
    let data = read_input(Some(&a.file))?;
    let mut q = vec![format!("fromSrc=-")];
    if let Some(r) = &a.reference {
        let (repo, tag, explicit) = split(r);
        q.push(format!("repo={}", enc(&repo)));
        if explicit {
            q.push(format!("tag={}", enc(&tag)));
        }
    }
    if let Some(m) = &a.message {
        q.push(format!("message={}", enc(m)));
    }
    for c in &a.change {
        q.push(format!("changes={}", enc(c)));
    }
    if let Some(p) = &a.platform {
        q.push(format!("platform={}", enc(p)));
    }
    let path = format!("/images/create?{}", q.join("&"));
    stream_request(ctx, Method::POST, &path, client::bytes(data), &[], false).await?;
    Ok(())
}
