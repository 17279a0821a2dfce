//! `volume create|ls|inspect|rm|prune`, with docker's flags and output.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::{Result, bail};
use berth_api::types::volume::{
    Volume, VolumeCreateOptions, VolumeListResponse, VolumePruneResponse,
};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{Value, json};

use super::Ctx;
use super::system::{enc, filters_json};
use crate::output::{self, human_size};

/// `volume` subcommands.
#[derive(Debug, Subcommand)]
pub enum VolumeCmd {
    /// Create a volume.
    Create(CreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more volumes.
    Inspect(InspectArgs),
    /// Remove one or more volumes.
    #[command(visible_alias = "remove")]
    Rm(RemoveArgs),
    /// Remove unused local volumes.
    Prune(PruneArgs),
}

/// `volume create` flags.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name.
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume (key=value).
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options (key=value).
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// Specify volume name.
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// VOLUME.
    pub name: Option<String>,
}

/// `volume ls` flags.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Provide filter values (e.g. "dangling=true").
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Only display volume names.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `volume inspect` flags.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template.
    #[arg(short, long)]
    pub format: Option<String>,
    /// VOLUME...
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `volume rm` flags.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Force the removal of one or more volumes.
    #[arg(short, long)]
    pub force: bool,
    /// VOLUME...
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `volume prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>").
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// Dispatch `volume …`.
pub async fn run(ctx: &Ctx, cmd: VolumeCmd) -> Result<()> {
    match cmd {
        VolumeCmd::Create(a) => create(ctx, a).await,
        VolumeCmd::Ls(a) => list(ctx, a).await,
        VolumeCmd::Inspect(a) => inspect(ctx, a).await,
        VolumeCmd::Rm(a) => remove(ctx, a).await,
        VolumeCmd::Prune(a) => prune(ctx, a).await,
    }
}

/// `k=v` pairs into a map (`k` alone maps to `""`).
fn kv_map(pairs: &[String]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.clone(), String::new()),
        })
        .collect()
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let name = match (a.name_flag, a.name) {
        (Some(f), Some(p)) if f != p => bail!(
            "conflicting options: cannot specify a volume-name through both --name and as a positional arg"
        ),
        (f, p) => f.or(p).unwrap_or_default(),
    };
    let body = VolumeCreateOptions {
        name,
        driver: a.driver,
        driver_opts: Some(kv_map(&a.opt)),
        labels: Some(kv_map(&a.label)),
    };
    let v: Volume = ctx.client.post_json("/volumes/create", Some(&body)).await?;
    println!("{}", v.name);
    Ok(())
}

/// A volume as `--format` templates see it (docker's field names).
fn row(v: &Volume) -> Value {
    let labels: Vec<String> = v
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Scope": v.scope,
        "Mountpoint": v.mountpoint,
        "Labels": labels.join(","),
        "Links": v.usage_data.as_ref().map_or("N/A".to_string(), |u| u.ref_count.to_string()),
        "Size": v.usage_data.as_ref().map_or("N/A".to_string(), |u| human_size(u.size)),
    })
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let mut path = "/volumes".to_string();
    if !a.filter.is_empty() {
        path.push_str(&format!("?filters={}", enc(&filters_json(&a.filter)?)));
    }
    let mut resp: VolumeListResponse = ctx.client.get_json(&path).await?;
    for w in &resp.warnings {
        eprintln!("{w}");
    }
    resp.volumes.sort_by(|x, y| x.name.cmp(&y.name));
    if a.quiet {
        for v in &resp.volumes {
            println!("{}", v.name);
        }
        return Ok(());
    }
    let rows: Vec<Value> = resp.volumes.iter().map(row).collect();
    let headers = [
        ("Name", "VOLUME NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
    ];
    let fmt = output::parse_format(a.format.as_deref(), &headers)?;
    output::print_rows(&fmt, &rows, |rows| {
        let mut lines = vec!["DRIVER\tVOLUME NAME".to_string()];
        lines.extend(rows.iter().map(|r| {
            format!(
                "{}\t{}",
                r["Driver"].as_str().unwrap_or(""),
                r["Name"].as_str().unwrap_or("")
            )
        }));
        output::tabwrite(&lines)
    })
}

/// JSON indented by 4 spaces, as docker's inspect prints it.
fn pretty4<T: Serialize>(v: &T) -> Result<String> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"    "),
    );
    v.serialize(&mut ser)?;
    Ok(String::from_utf8(out)?)
}

async fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<()> {
    let tpl = a.format.as_deref().map(output::parse_tpl).transpose()?;
    let mut all = Vec::new();
    let mut failed = false;
    for name in &a.volumes {
        match ctx
            .client
            .get_json::<Value>(&format!("/volumes/{}", enc(name)))
            .await
        {
            Ok(v) => all.push(v),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    match tpl {
        Some(t) => {
            for v in &all {
                println!("{}", output::render(&t, v)?);
            }
        }
        None => println!("{}", pretty4(&all)?),
    }
    if failed {
        return Err(crate::ExitCode(1).into());
    }
    Ok(())
}

async fn remove(ctx: &Ctx, a: RemoveArgs) -> Result<()> {
    let mut failed = false;
    for name in &a.volumes {
        match ctx
            .client
            .delete(&format!(
                "/volumes/{}?force={}",
                enc(name),
                u8::from(a.force)
            ))
            .await
        {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(crate::ExitCode(1).into());
    }
    Ok(())
}

fn confirm(warning: &str) -> Result<bool> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

async fn prune(ctx: &Ctx, a: PruneArgs) -> Result<()> {
    let mut filters = a.filter.clone();
    let warning = if a.all {
        filters.push("all=true".into());
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !confirm(warning)? {
        return Ok(());
    }
    let mut path = "/volumes/prune".to_string();
    if !filters.is_empty() {
        path.push_str(&format!("?filters={}", enc(&filters_json(&filters)?)));
    }
    let r: VolumePruneResponse = ctx.client.post_json::<Value, _>(&path, None).await?;
    if !r.volumes_deleted.is_empty() {
        println!("Deleted Volumes:");
        for v in &r.volumes_deleted {
            println!("{v}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(r.space_reclaimed as i64)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_and_pretty() {
        let m = kv_map(&["a=b".into(), "c".into(), "o=size=10m".into()]);
        assert_eq!(
            (m["a"].as_str(), m["c"].as_str(), m["o"].as_str()),
            ("b", "", "size=10m")
        );
        assert_eq!(
            pretty4(&json!([{"A": 1}])).unwrap(),
            "[\n    {\n        \"A\": 1\n    }\n]"
        );
    }
}
