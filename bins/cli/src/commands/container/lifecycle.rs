//! `stop`, `kill`, `restart`, `pause`, `unpause`, `wait`, `rm`, `rename`,
//! `update`, `container prune`: one request per container, names echoed as
//! given, errors printed per container and summarised in the exit status.

use anyhow::{Result, bail};
use berth_api::types::container::{Resources, RestartPolicy};
use berth_api::types::inspect::{ContainerPruneResponse, UpdateBody, UpdateResponse, WaitResponse};
use clap::Args;
use std::io::Write;

use super::super::Ctx;
use super::super::system::{enc, filters_json};
use super::opts;
use crate::output::human_size;

/// `stop`/`restart` flags.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container.
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container.
    #[arg(
        short = 't',
        long = "timeout",
        visible_alias = "time",
        allow_hyphen_values = true
    )]
    pub timeout: Option<i64>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `kill` flags.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Commands taking only container names (`pause`, `unpause`, `wait`).
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `rm` flags.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link.
    #[arg(short = 'l', long)]
    pub link: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `rename` arguments.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// Container.
    pub container: String,
    /// New name.
    pub new_name: String,
}

/// `update` flags.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable.
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS period.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS quota.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Number of CPUs.
    #[arg(long, value_parser = opts::parse_nano_cpus)]
    pub cpus: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit.
    #[arg(short = 'm', long, value_parser = opts::parse_ram)]
    pub memory: Option<i64>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", value_parser = opts::parse_ram)]
    pub memory_reservation: Option<i64>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long = "memory-swap", value_parser = opts::parse_swap, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits.
    #[arg(long, value_parser = opts::parse_restart)]
    pub restart: Option<RestartPolicy>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `container prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>").
    #[arg(long)]
    pub filter: Vec<String>,
}

/// Run `op` for each container; print the name on success, the error on failure.
async fn each<F, Fut>(names: &[String], mut op: F) -> Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>>>,
{
    let mut failed = false;
    for n in names {
        match op(n.clone()).await {
            Ok(Some(line)) => println!("{line}"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("{e:#}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(crate::ExitCode(1).into());
    }
    Ok(())
}

fn stop_query(signal: &Option<String>, timeout: Option<i64>) -> String {
    let mut q = Vec::new();
    if let Some(s) = signal {
        q.push(format!("signal={}", enc(s)));
    }
    if let Some(t) = timeout {
        q.push(format!("t={t}"));
    }
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// `berth stop` / `berth restart`.
pub async fn stop(ctx: &Ctx, a: StopArgs, action: &str) -> Result<()> {
    let q = stop_query(&a.signal, a.timeout);
    each(&a.containers, |c| {
        let path = format!("/containers/{}/{action}{q}", enc(&c));
        async move {
            ctx.client.post_empty(&path).await?;
            Ok(Some(c))
        }
    })
    .await
}

/// `berth kill`.
pub async fn kill(ctx: &Ctx, a: KillArgs) -> Result<()> {
    let q = a
        .signal
        .as_ref()
        .map(|s| format!("?signal={}", enc(s)))
        .unwrap_or_default();
    each(&a.containers, |c| {
        let path = format!("/containers/{}/kill{q}", enc(&c));
        async move {
            ctx.client.post_empty(&path).await?;
            Ok(Some(c))
        }
    })
    .await
}

/// `berth pause` / `berth unpause`.
pub async fn pause(ctx: &Ctx, a: NamesArgs, action: &str) -> Result<()> {
    each(&a.containers, |c| {
        let path = format!("/containers/{}/{action}", enc(&c));
        async move {
            ctx.client.post_empty(&path).await?;
            Ok(Some(c))
        }
    })
    .await
}

/// `berth wait`: prints each container's exit code.
pub async fn wait(ctx: &Ctx, a: NamesArgs) -> Result<()> {
    each(&a.containers, |c| async move {
        let w: WaitResponse = ctx
            .client
            .post_json::<(), _>(&format!("/containers/{}/wait", enc(&c)), None)
            .await?;
        if let Some(e) = w.error {
            bail!("{}", e.message);
        }
        Ok(Some(w.status_code.to_string()))
    })
    .await
}

/// `berth rm`.
pub async fn rm(ctx: &Ctx, a: RmArgs) -> Result<()> {
    let b = |v: bool| if v { "1" } else { "0" };
    let q = format!(
        "?v={}&force={}&link={}",
        b(a.volumes),
        b(a.force),
        b(a.link)
    );
    each(&a.containers, |c| {
        let path = format!("/containers/{}{q}", enc(c.trim_start_matches('/')));
        async move {
            ctx.client.delete(&path).await?;
            Ok(Some(c))
        }
    })
    .await
}

/// `berth rename`.
pub async fn rename(ctx: &Ctx, a: RenameArgs) -> Result<()> {
    let name = a.new_name.trim();
    if a.container.trim().is_empty() || name.is_empty() {
        bail!("Error: Neither old nor new names may be empty");
    }
    ctx.client
        .post_empty(&format!(
            "/containers/{}/rename?name={}",
            enc(&a.container),
            enc(name)
        ))
        .await?;
    Ok(())
}

/// The update body for `update`'s flags (only what was given is non-zero).
pub fn update_body(a: &UpdateArgs) -> UpdateBody {
    UpdateBody {
        resources: Resources {
            blkio_weight: a.blkio_weight.unwrap_or(0),
            cpu_period: a.cpu_period.unwrap_or(0),
            cpu_quota: a.cpu_quota.unwrap_or(0),
            nano_cpus: a.cpus.unwrap_or(0),
            cpu_shares: a.cpu_shares.unwrap_or(0),
            cpuset_cpus: a.cpuset_cpus.clone().unwrap_or_default(),
            cpuset_mems: a.cpuset_mems.clone().unwrap_or_default(),
            memory: a.memory.unwrap_or(0),
            memory_reservation: a.memory_reservation.unwrap_or(0),
            memory_swap: a.memory_swap.unwrap_or(0),
            pids_limit: a.pids_limit,
            ..Default::default()
        },
        restart_policy: a.restart.clone(),
    }
}

/// `berth update`.
pub async fn update(ctx: &Ctx, a: UpdateArgs) -> Result<()> {
    let body = update_body(&a);
    each(&a.containers, |c| {
        let body = body.clone();
        async move {
            let r: UpdateResponse = ctx
                .client
                .post_json(&format!("/containers/{}/update", enc(&c)), Some(&body))
                .await?;
            for w in r.warnings {
                eprintln!("WARNING: {w}");
            }
            Ok(Some(c))
        }
    })
    .await
}

/// Ask `question`; true for `y`/`yes`.
pub fn confirm(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `berth container prune`.
pub async fn prune(ctx: &Ctx, a: PruneArgs) -> Result<()> {
    if !a.force
        && !confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )
    {
        return Ok(());
    }
    let q = if a.filter.is_empty() {
        String::new()
    } else {
        format!("?filters={}", enc(&filters_json(&a.filter)?))
    };
    let r: ContainerPruneResponse = ctx
        .client
        .post_json::<(), _>(&format!("/containers/prune{q}"), None)
        .await?;
    let deleted = r.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in deleted {
            println!("{id}");
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
    fn stop_queries() {
        assert_eq!(stop_query(&None, None), "");
        assert_eq!(
            stop_query(&Some("SIGINT".into()), Some(3)),
            "?signal=SIGINT&t=3"
        );
    }

    #[test]
    fn update_only_sets_given_fields() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: UpdateArgs,
        }
        let t = T::try_parse_from([
            "update",
            "-m",
            "128m",
            "--cpus",
            "1.5",
            "--restart",
            "always",
            "c1",
        ])
        .unwrap();
        let v = serde_json::to_value(update_body(&t.a)).unwrap();
        assert_eq!(v["Memory"], 128 << 20);
        assert_eq!(v["NanoCpus"], 1_500_000_000);
        assert_eq!(v["RestartPolicy"]["Name"], "always");
        assert_eq!(v["CpuShares"], 0);
        assert!(v["PidsLimit"].is_null());
    }
}
