//! `network create|ls|inspect|rm|connect|disconnect|prune`, with docker's flags and output.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::{Result, bail};
use berth_api::client;
use berth_api::types::container::{EndpointIpamConfig, EndpointSettings};
use berth_api::types::network::{
    Ipam, IpamConfig, Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneResponse,
};
use clap::{Args, Subcommand};
use http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use super::Ctx;
use super::system::{enc, filters_json};
use crate::output;

/// `network` subcommands.
#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Create a network.
    Create(CreateArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
    /// Display detailed information on one or more networks.
    Inspect(InspectArgs),
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Remove all unused networks.
    Prune(PruneArgs),
    /// Remove one or more networks.
    #[command(visible_alias = "remove")]
    Rm(RemoveArgs),
}

/// `network create` flags.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network.
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment.
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet.
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range.
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver (name=ip).
    #[arg(long = "aux-address")]
    pub aux_address: Vec<String>,
    /// IP Address Management Driver.
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options.
    #[arg(long = "ipam-opt")]
    pub ipam_opt: Vec<String>,
    /// Restrict external access to the network.
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment.
    #[arg(long)]
    pub attachable: bool,
    /// Create swarm routing-mesh network.
    #[arg(long)]
    pub ingress: bool,
    /// Enable or disable IPv6 networking.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub ipv6: Option<bool>,
    /// Enable or disable IPv4 address assignment.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub ipv4: Option<bool>,
    /// Set driver specific options.
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata on a network.
    #[arg(long)]
    pub label: Vec<String>,
    /// Control the network's scope.
    #[arg(long)]
    pub scope: Option<String>,
    /// Create a configuration only network.
    #[arg(long = "config-only")]
    pub config_only: bool,
    /// The network from which to copy the configuration.
    #[arg(long = "config-from")]
    pub config_from: Option<String>,
    /// NETWORK.
    pub name: String,
}

/// `network ls` flags.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Provide filter values (e.g. "driver=bridge").
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `network inspect` flags.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics.
    #[arg(short, long)]
    pub verbose: bool,
    /// NETWORK...
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `network rm` flags.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Do not error if the network does not exist.
    #[arg(short, long)]
    pub force: bool,
    /// NETWORK...
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `network connect` flags.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container.
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104").
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33").
    #[arg(long)]
    pub ip6: Option<String>,
    /// Add link to another container.
    #[arg(long)]
    pub link: Vec<String>,
    /// Add a link-local address for the container.
    #[arg(long = "link-local-ip")]
    pub link_local_ip: Vec<String>,
    /// Driver options for the network.
    #[arg(long = "driver-opt")]
    pub driver_opt: Vec<String>,
    /// Highest gw-priority provides the default gateway.
    #[arg(long = "gw-priority", default_value_t = 0)]
    pub gw_priority: i64,
    /// NETWORK.
    pub network: String,
    /// CONTAINER.
    pub container: String,
}

/// `network disconnect` flags.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network.
    #[arg(short, long)]
    pub force: bool,
    /// NETWORK.
    pub network: String,
    /// CONTAINER.
    pub container: String,
}

/// `network prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>").
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// Dispatch `network …`.
pub async fn run(ctx: &Ctx, cmd: NetworkCmd) -> Result<()> {
    match cmd {
        NetworkCmd::Create(a) => create(ctx, a).await,
        NetworkCmd::Ls(a) => list(ctx, a).await,
        NetworkCmd::Inspect(a) => inspect(ctx, a).await,
        NetworkCmd::Rm(a) => remove(ctx, a).await,
        NetworkCmd::Connect(a) => connect(ctx, a).await,
        NetworkCmd::Disconnect(a) => disconnect(ctx, a).await,
        NetworkCmd::Prune(a) => prune(ctx, a).await,
    }
}

fn kv_map(pairs: &[String]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.clone(), String::new()),
        })
        .collect()
}

/// Does `cidr` contain `ip` (or the network address of a CIDR)? Plain string
/// arithmetic on IPv4/IPv6 via std, enough to group flags as docker does.
fn contains(cidr: &str, ip: &str) -> bool {
    let ip = ip.split('/').next().unwrap_or(ip);
    let Some((base, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(base), Ok(ip), Ok(len)) = (
        base.parse::<std::net::IpAddr>(),
        ip.parse::<std::net::IpAddr>(),
        len.parse::<u32>(),
    ) else {
        return false;
    };
    let to = |a: std::net::IpAddr| match a {
        std::net::IpAddr::V4(v) => (u32::from(v) as u128, 32u32),
        std::net::IpAddr::V6(v) => (u128::from(v), 128u32),
    };
    let ((b, bits), (i, ibits)) = (to(base), to(ip));
    if bits != ibits || len > bits {
        return false;
    }
    let shift = bits - len;
    shift >= 128 || (b >> shift) == (i >> shift)
}

/// Group `--subnet`, `--ip-range`, `--gateway` and `--aux-address` per subnet, as docker does.
fn ipam_config(a: &CreateArgs) -> Result<Vec<IpamConfig>> {
    let mut out: Vec<IpamConfig> = a
        .subnet
        .iter()
        .map(|s| IpamConfig {
            subnet: s.clone(),
            ..Default::default()
        })
        .collect();
    let pick = |value: &str,
                what: &str,
                out: &mut Vec<IpamConfig>,
                set: &dyn Fn(&mut IpamConfig) -> bool|
     -> Result<()> {
        match out.iter_mut().find(|c| contains(&c.subnet, value)) {
            Some(c) => {
                if !set(c) {
                    bail!("cannot configure multiple {what}s for the same subnet");
                }
                Ok(())
            }
            None => bail!("no matching subnet for {what} {value}"),
        }
    };
    for r in &a.ip_range {
        pick(r, "range", &mut out, &|c: &mut IpamConfig| {
            let free = c.ip_range.is_empty();
            if free {
                c.ip_range = r.clone();
            }
            free
        })?;
    }
    for g in &a.gateway {
        pick(g, "gateway", &mut out, &|c: &mut IpamConfig| {
            let free = c.gateway.is_empty();
            if free {
                c.gateway = g.clone();
            }
            free
        })?;
    }
    for (k, v) in kv_map(&a.aux_address) {
        pick(&v, "aux-address", &mut out, &|c: &mut IpamConfig| {
            c.auxiliary_addresses
                .get_or_insert_with(BTreeMap::new)
                .insert(k.clone(), v.clone());
            true
        })?;
    }
    Ok(out)
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    if a.subnet.is_empty()
        && (!a.gateway.is_empty() || !a.ip_range.is_empty() || !a.aux_address.is_empty())
    {
        bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let body = NetworkCreateRequest {
        name: a.name.clone(),
        check_duplicate: Some(true),
        driver: a.driver.clone(),
        scope: a.scope.clone().unwrap_or_default(),
        internal: a.internal,
        attachable: a.attachable,
        ingress: a.ingress,
        config_only: a.config_only,
        config_from: a
            .config_from
            .clone()
            .map(|n| berth_api::types::network::ConfigReference { network: n }),
        ipam: Some(Ipam {
            driver: a.ipam_driver.clone(),
            options: Some(kv_map(&a.ipam_opt)),
            config: ipam_config(&a)?,
        }),
        enable_ipv4: a.ipv4,
        enable_ipv6: a.ipv6,
        options: Some(kv_map(&a.opt)),
        labels: Some(kv_map(&a.label)),
    };
    let r: NetworkCreateResponse = ctx
        .client
        .post_json("/networks/create", Some(&body))
        .await?;
    if !r.warning.is_empty() {
        eprintln!("{}", r.warning);
    }
    println!("{}", r.id);
    Ok(())
}

/// A network as `--format` templates see it (docker's field names).
fn row(n: &Network, no_trunc: bool) -> Value {
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let id = if no_trunc {
        n.id.clone()
    } else {
        n.id.chars().take(12).collect()
    };
    json!({
        "ID": id,
        "Name": n.name,
        "Driver": n.driver,
        "Scope": n.scope,
        "IPv4": n.enable_ipv4.to_string(),
        "IPv6": n.enable_ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "Labels": labels.join(","),
        "CreatedAt": n.created,
    })
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let mut path = "/networks".to_string();
    if !a.filter.is_empty() {
        path.push_str(&format!("?filters={}", enc(&filters_json(&a.filter)?)));
    }
    let mut nets: Vec<Network> = ctx.client.get_json(&path).await?;
    nets.sort_by(|x, y| x.name.cmp(&y.name));
    if a.quiet {
        for n in &nets {
            println!("{}", row(n, a.no_trunc)["ID"].as_str().unwrap_or(""));
        }
        return Ok(());
    }
    let rows: Vec<Value> = nets.iter().map(|n| row(n, a.no_trunc)).collect();
    let headers = [
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv4", "IPV4"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
    ];
    let fmt = output::parse_format(a.format.as_deref(), &headers)?;
    output::print_rows(&fmt, &rows, |rows| {
        let mut lines = vec!["NETWORK ID\tNAME\tDRIVER\tSCOPE".to_string()];
        let s = |r: &Value, k: &str| r[k].as_str().unwrap_or("").to_string();
        lines.extend(rows.iter().map(|r| {
            format!(
                "{}\t{}\t{}\t{}",
                s(r, "ID"),
                s(r, "Name"),
                s(r, "Driver"),
                s(r, "Scope")
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
    for name in &a.networks {
        match ctx
            .client
            .get_json::<Value>(&format!("/networks/{}?verbose={}", enc(name), a.verbose))
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
    for name in &a.networks {
        match ctx.client.delete(&format!("/networks/{}", enc(name))).await {
            Ok(_) => println!("{name}"),
            Err(e) if a.force && e.status() == Some(http::StatusCode::NOT_FOUND) => {}
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

async fn post(ctx: &Ctx, path: &str, body: &impl Serialize) -> Result<()> {
    let headers = [("Content-Type", "application/json")];
    ctx.client
        .request(Method::POST, path, client::json(body)?, &headers)
        .await?;
    Ok(())
}

async fn connect(ctx: &Ctx, a: ConnectArgs) -> Result<()> {
    let ipam = (a.ip.is_some() || a.ip6.is_some() || !a.link_local_ip.is_empty()).then(|| {
        EndpointIpamConfig {
            ipv4_address: a.ip.clone().unwrap_or_default(),
            ipv6_address: a.ip6.clone().unwrap_or_default(),
            link_local_ips: (!a.link_local_ip.is_empty()).then(|| a.link_local_ip.clone()),
        }
    });
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let settings = EndpointSettings {
        ipam_config: ipam,
        links: some(&a.link),
        aliases: some(&a.alias),
        driver_opts: (!a.driver_opt.is_empty()).then(|| kv_map(&a.driver_opt)),
        gw_priority: a.gw_priority,
        ..Default::default()
    };
    let body = NetworkConnectRequest {
        container: a.container.clone(),
        endpoint_config: Some(settings),
    };
    post(
        ctx,
        &format!("/networks/{}/connect", enc(&a.network)),
        &body,
    )
    .await
}

async fn disconnect(ctx: &Ctx, a: DisconnectArgs) -> Result<()> {
    let body = NetworkDisconnectRequest {
        container: a.container.clone(),
        force: a.force,
    };
    post(
        ctx,
        &format!("/networks/{}/disconnect", enc(&a.network)),
        &body,
    )
    .await
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
    if !a.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )?
    {
        return Ok(());
    }
    let mut path = "/networks/prune".to_string();
    if !a.filter.is_empty() {
        path.push_str(&format!("?filters={}", enc(&filters_json(&a.filter)?)));
    }
    let r: NetworkPruneResponse = ctx.client.post_json::<Value, _>(&path, None).await?;
    let deleted = r.networks_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Networks:");
        for n in &deleted {
            println!("{n}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: NetworkCmd,
    }

    #[test]
    fn create_flags_group_per_subnet() {
        let cli = Cli::parse_from([
            "x",
            "create",
            "--subnet",
            "10.1.0.0/16",
            "--subnet",
            "10.2.0.0/16",
            "--gateway",
            "10.2.0.254",
            "--ip-range",
            "10.1.5.0/24",
            "--aux-address",
            "a=10.1.0.9",
            "--internal",
            "-o",
            "com.docker.network.bridge.name=br9",
            "n1",
        ]);
        let NetworkCmd::Create(a) = cli.cmd else {
            panic!("not create")
        };
        let c = ipam_config(&a).unwrap();
        assert_eq!(
            (c[0].ip_range.as_str(), c[1].gateway.as_str()),
            ("10.1.5.0/24", "10.2.0.254")
        );
        assert_eq!(c[0].auxiliary_addresses.as_ref().unwrap()["a"], "10.1.0.9");
        assert!(a.internal && a.name == "n1");
        let cli = Cli::parse_from([
            "x",
            "create",
            "--subnet",
            "10.1.0.0/16",
            "--gateway",
            "10.9.0.1",
            "n",
        ]);
        let NetworkCmd::Create(a) = cli.cmd else {
            panic!("not create")
        };
        assert!(
            ipam_config(&a)
                .unwrap_err()
                .to_string()
                .contains("no matching subnet for gateway")
        );
    }

    #[test]
    fn connect_and_rows() {
        let cli = Cli::parse_from([
            "x", "connect", "--alias", "web", "--ip", "10.1.0.5", "n1", "c1",
        ]);
        let NetworkCmd::Connect(a) = cli.cmd else {
            panic!("not connect")
        };
        assert_eq!(
            (a.network.as_str(), a.container.as_str(), a.alias.as_slice()),
            ("n1", "c1", ["web".to_string()].as_slice())
        );
        let n = Network {
            id: "0123456789abcdef".into(),
            name: "n".into(),
            ..Default::default()
        };
        assert_eq!(row(&n, false)["ID"], "0123456789ab");
        assert!(contains("10.1.0.0/16", "10.1.200.3") && !contains("10.1.0.0/16", "10.2.0.1"));
    }
}
