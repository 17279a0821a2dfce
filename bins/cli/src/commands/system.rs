//! `version`, `info`, `events`, `system df|info|events`.

use berth_api::types::system::{SystemDataUsage, SystemInfo, SystemVersion};
use clap::{Args, Subcommand};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::Ctx;
use crate::output::{self, human_size, parse_tpl, render};

/// `version` flags.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a Go template.
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
}

/// `info` flags.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a Go template.
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
}

/// `events` flags.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp.
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp.
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided (key=value).
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
}

/// `system` subcommands.
#[derive(Debug, Subcommand)]
pub enum SystemCmd {
    /// Show disk usage.
    Df(DfArgs),
    /// Display system-wide information.
    Info(InfoArgs),
    /// Get real time events from the server.
    Events(EventsArgs),
}

/// `system df` flags.
#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
}

/// Dispatch `system …`.
pub async fn run(ctx: &Ctx, cmd: SystemCmd) -> anyhow::Result<()> {
    match cmd {
        SystemCmd::Df(a) => df(ctx, a).await,
        SystemCmd::Info(a) => info(ctx, a).await,
        SystemCmd::Events(a) => events(ctx, a).await,
    }
}

/// `berth version`.
pub async fn version(ctx: &Ctx, a: VersionArgs) -> anyhow::Result<()> {
    let client = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": berth_api::version::MAX.to_string(),
        "Os": "linux",
        "Arch": std::env::consts::ARCH,
    });
    let server: Result<SystemVersion, _> = ctx.client.get_json("/version").await;
    if let Some(f) = a.format {
        let doc_server = server
            .as_ref()
            .ok()
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null));
        let doc = json!({"Client": client, "Server": doc_server});
        println!("{}", render(&parse_tpl(&f)?, &doc)?);
        return server.map(|_| ()).map_err(Into::into);
    }
    println!("Client:");
    println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    println!(" API version:       {}", berth_api::version::MAX);
    println!(" OS/Arch:           linux/{}", std::env::consts::ARCH);
    println!();
    let s = server?;
    println!("Server: {}", s.platform.name);
    for c in &s.components {
        println!(" {}:", c.name);
        println!("  Version:          {}", c.version);
        if c.name == "Engine" {
            println!(
                "  API version:      {} (minimum version {})",
                s.api_version, s.min_api_version
            );
            println!("  Git commit:       {}", s.git_commit);
            println!("  OS/Arch:          {}/{}", s.os, s.arch);
            println!("  Kernel:           {}", s.kernel_version);
            println!("  Experimental:     {}", s.experimental);
        }
    }
    Ok(())
}

/// `berth info`.
pub async fn info(ctx: &Ctx, a: InfoArgs) -> anyhow::Result<()> {
    let i: SystemInfo = ctx.client.get_json("/info").await?;
    if let Some(f) = a.format {
        println!("{}", render(&parse_tpl(&f)?, &serde_json::to_value(&i)?)?);
        return Ok(());
    }
    println!("Server:");
    println!(" Containers: {}", i.containers);
    println!("  Running: {}", i.containers_running);
    println!("  Paused: {}", i.containers_paused);
    println!("  Stopped: {}", i.containers_stopped);
    println!(" Images: {}", i.images);
    println!(" Server Version: {}", i.server_version);
    println!(" Storage Driver: {}", i.driver);
    println!(" Logging Driver: {}", i.logging_driver);
    println!(" Cgroup Driver: {}", i.cgroup_driver);
    println!(" Cgroup Version: {}", i.cgroup_version);
    println!(" Plugins:");
    println!("  Volume: {}", i.plugins.volume.join(" "));
    println!("  Network: {}", i.plugins.network.join(" "));
    if let Some(a) = &i.plugins.authorization {
        println!("  Authorization: {}", a.join(" "));
    }
    println!("  Log: {}", i.plugins.log.join(" "));
    println!(" Swarm: {}", i.swarm.local_node_state);
    println!(
        " Runtimes: {}",
        i.runtimes.keys().cloned().collect::<Vec<_>>().join(" ")
    );
    println!(" Default Runtime: {}", i.default_runtime);
    println!(" Security Options:");
    for o in &i.security_options {
        println!("  {o}");
    }
    println!(" Kernel Version: {}", i.kernel_version);
    println!(" Operating System: {}", i.operating_system);
    println!(" OSType: {}", i.os_type);
    println!(" Architecture: {}", i.architecture);
    println!(" CPUs: {}", i.ncpu);
    println!(
        " Total Memory: {:.2}GiB",
        i.mem_total as f64 / (1u64 << 30) as f64
    );
    println!(" Name: {}", i.name);
    println!(" ID: {}", i.id);
    println!(" Docker Root Dir: {}", i.docker_root_dir);
    println!(" Debug Mode: {}", i.debug);
    println!(" Live Restore Enabled: {}", i.live_restore_enabled);
    for w in &i.warnings {
        eprintln!("{w}");
    }
    Ok(())
}

/// Turn `k=v` CLI filters into the API's JSON form.
pub fn filters_json(pairs: &[String]) -> anyhow::Result<String> {
    let mut map = serde_json::Map::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        let e = map.entry(k.to_string()).or_insert_with(|| json!({}));
        if let Some(o) = e.as_object_mut() {
            o.insert(v.to_string(), Value::Bool(true));
        }
    }
    Ok(Value::Object(map).to_string())
}

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `berth events`.
pub async fn events(ctx: &Ctx, a: EventsArgs) -> anyhow::Result<()> {
    let mut q = Vec::new();
    if let Some(s) = &a.since {
        q.push(format!("since={}", enc(s)));
    }
    if let Some(u) = &a.until {
        q.push(format!("until={}", enc(u)));
    }
    if !a.filter.is_empty() {
        q.push(format!("filters={}", enc(&filters_json(&a.filter)?)));
    }
    let path = format!("/events?{}", q.join("&"));
    let tpl = match &a.format {
        Some(f) if f != "json" => Some(parse_tpl(f)?),
        _ => None,
    };
    let json_out = a.format.as_deref() == Some("json");
    let resp = ctx
        .client
        .request(http::Method::GET, &path, berth_api::client::empty(), &[])
        .await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Some(data) = frame.data_ref() {
            buf.extend_from_slice(data);
        }
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let Ok(ev) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if json_out {
                println!("{ev}");
            } else if let Some(t) = &tpl {
                println!("{}", render(t, &ev)?);
            } else {
                println!("{}", event_line(&ev));
            }
        }
    }
    Ok(())
}

fn event_line(ev: &Value) -> String {
    let nanos = ev["timeNano"].as_i64().unwrap_or(0);
    let t = chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string())
        .unwrap_or_default();
    let mut attrs: Vec<(String, String)> = ev["Actor"]["Attributes"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    attrs.sort();
    let attrs: Vec<String> = attrs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let suffix = if attrs.is_empty() {
        String::new()
    } else {
        format!(" ({})", attrs.join(", "))
    };
    format!(
        "{t} {} {} {}{suffix}",
        ev["Type"].as_str().unwrap_or(""),
        ev["Action"].as_str().unwrap_or(""),
        ev["Actor"]["ID"].as_str().unwrap_or(""),
    )
}

async fn df(ctx: &Ctx, a: DfArgs) -> anyhow::Result<()> {
    let d: SystemDataUsage = ctx.client.get_json("/system/df").await?;
    let count_active = |items: &[Value], key: &str| {
        items
            .iter()
            .filter(|v| v[key].as_i64().unwrap_or(0) > 0)
            .count()
    };
    let sum = |items: &[Value], key: &str| {
        items
            .iter()
            .map(|v| v[key].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    let images_size = sum(&d.images, "Size");
    let unused_images: i64 = d
        .images
        .iter()
        .filter(|v| v["Containers"].as_i64().unwrap_or(0) <= 0)
        .map(|v| v["Size"].as_i64().unwrap_or(0))
        .sum();
    let ctr_size = sum(&d.containers, "SizeRw");
    let running = d
        .containers
        .iter()
        .filter(|v| v["State"] == "running")
        .count();
    let stopped_size: i64 = d
        .containers
        .iter()
        .filter(|v| v["State"] != "running")
        .map(|v| v["SizeRw"].as_i64().unwrap_or(0))
        .sum();
    let vol_size: i64 = d
        .volumes
        .iter()
        .map(|v| v["UsageData"]["Size"].as_i64().unwrap_or(0).max(0))
        .sum();
    let vol_active = d
        .volumes
        .iter()
        .filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0)
        .count();
    let vol_unused: i64 = d
        .volumes
        .iter()
        .filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) == 0)
        .map(|v| v["UsageData"]["Size"].as_i64().unwrap_or(0).max(0))
        .sum();
    let rows = vec![
        json!({"Type": "Images", "TotalCount": d.images.len(), "Active": count_active(&d.images, "Containers"), "Size": human_size(images_size), "Reclaimable": human_size(unused_images)}),
        json!({"Type": "Containers", "TotalCount": d.containers.len(), "Active": running, "Size": human_size(ctr_size), "Reclaimable": human_size(stopped_size)}),
        json!({"Type": "Local Volumes", "TotalCount": d.volumes.len(), "Active": vol_active, "Size": human_size(vol_size), "Reclaimable": human_size(vol_unused)}),
        json!({"Type": "Build Cache", "TotalCount": d.build_cache.len(), "Active": 0, "Size": human_size(sum(&d.build_cache, "Size")), "Reclaimable": human_size(sum(&d.build_cache, "Size"))}),
    ];
    let fmt = output::parse_format(
        a.format.as_deref(),
        &[
            ("Type", "TYPE"),
            ("TotalCount", "TOTAL"),
            ("Active", "ACTIVE"),
            ("Size", "SIZE"),
            ("Reclaimable", "RECLAIMABLE"),
        ],
    )?;
    output::print_rows(&fmt, &rows, |rows| {
        let mut lines = vec!["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_string()];
        for r in rows {
            lines.push(format!(
                "{}\t{}\t{}\t{}\t{}",
                r["Type"].as_str().unwrap_or(""),
                r["TotalCount"],
                r["Active"],
                r["Size"].as_str().unwrap_or(""),
                r["Reclaimable"].as_str().unwrap_or("")
            ));
        }
        output::tabwrite(&lines)
    })?;
    if a.verbose {
        println!("\nImages space usage:\n");
        for i in &d.images {
            println!(
                "{}\t{}",
                i["RepoTags"],
                human_size(i["Size"].as_i64().unwrap_or(0))
            );
        }
        println!("\nContainers space usage:\n");
        for c in &d.containers {
            println!(
                "{}\t{}",
                c["Names"],
                human_size(c["SizeRw"].as_i64().unwrap_or(0))
            );
        }
        println!("\nLocal Volumes space usage:\n");
        for v in &d.volumes {
            println!(
                "{}\t{}",
                v["Name"].as_str().unwrap_or(""),
                human_size(v["UsageData"]["Size"].as_i64().unwrap_or(0))
            );
        }
    }
    Ok(())
}
