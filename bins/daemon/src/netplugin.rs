//! `berthd network-plugin serve --socket PATH`: berth's bridge driver and
//! default IPAM offered to another engine (stock dockerd) as a legacy remote
//! plugin implementing `NetworkDriver` and `IpamDriver`.
//!
//! A mode of berthd rather than of the `berth` CLI: it drives netlink and
//! nftables in the host namespace, as root, exactly like the daemon, and
//! links the same network crate; the CLI stays a thin API client.
//!
//! Put the socket where the engine looks (`/run/docker/plugins/<name>.sock`),
//! or give `--spec-file` to write a `.spec` pointing at it; then
//! `docker network create -d <name> --ipam-driver <name> …`. State lives in the
//! process: networks and addresses last as long as it runs.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use berth_network::config::{PoolSpec, docker_default_pools};
use berth_network::driver::bridge::{BridgeDriver, BridgeSettings};
use berth_network::driver::remote::serve::PluginService;
use berth_network::firewall::nft::NftFirewall;
use berth_network::firewall::{Firewall, NoFirewall};
use berth_network::ipam::default::DefaultIpam;
use berth_network::nl::Nl;
use berth_network::ns::HostNs;
use clap::Parser;

/// `berthd network-plugin serve` flags.
#[derive(Debug, Parser)]
#[command(
    name = "berthd network-plugin serve",
    about = "Serve berth's bridge driver and IPAM as a Docker remote network plugin"
)]
struct Args {
    /// Unix socket to listen on (e.g. /run/docker/plugins/berth.sock).
    #[arg(long)]
    socket: PathBuf,
    /// Also write a `.spec` file containing `unix://<socket>`.
    #[arg(long = "spec-file")]
    spec_file: Option<PathBuf>,
    /// Program NAT and isolation in nftables (table `inet <nft-table>`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value = "true")]
    iptables: bool,
    /// Relay published-port traffic that nat rules cannot carry (`[::1]`,
    /// IPv6 to IPv4-only containers), as dockerd's `--userland-proxy`.
    #[arg(long = "userland-proxy", num_args = 0..=1, default_missing_value = "true", default_value = "true")]
    userland_proxy: bool,
    /// The nftables table of this plugin.
    #[arg(long = "nft-table", default_value = "berth_plugin")]
    nft_table: String,
    /// MTU of bridges and veths.
    #[arg(long, default_value_t = 1500)]
    mtu: u32,
    /// Pools for networks created without a subnet, `base=10.10.0.0/16,size=24` (repeatable).
    #[arg(long = "default-address-pool")]
    default_address_pools: Vec<String>,
}

/// Run the mode; `argv` starts after `network-plugin`.
pub fn main(argv: Vec<std::ffi::OsString>) -> Result<()> {
    let mut it = argv.into_iter();
    match it
        .next()
        .map(|s| s.to_string_lossy().to_string())
        .as_deref()
    {
        Some("serve") => {}
        Some(other) => bail!("unknown network-plugin command {other:?} (try: serve)"),
        None => bail!("usage: berthd network-plugin serve --socket PATH"),
    }
    // `--help` and usage errors print and exit as clap does.
    let args = Args::try_parse_from(
        std::iter::once(std::ffi::OsString::from("berthd network-plugin serve")).chain(it),
    )
    .unwrap_or_else(|e| e.exit());
    crate::init_logging("info");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start tokio runtime")?;
    runtime.block_on(serve(args))
}

fn pools(specs: &[String]) -> Result<Vec<PoolSpec>> {
    if specs.is_empty() {
        return Ok(docker_default_pools());
    }
    specs
        .iter()
        .map(|s| {
            let flat = s.replace("base=", "").replace("size=", "");
            PoolSpec::parse(&flat).with_context(|| {
                format!("invalid --default-address-pool {s:?}: expected base=CIDR,size=N")
            })
        })
        .collect()
}

async fn serve(a: Args) -> Result<()> {
    let host = HostNs::Current;
    let nl = Nl::open_host(&host).map_err(|e| anyhow::anyhow!("{e}"))?;
    let fw: Arc<dyn Firewall> = if a.iptables {
        Arc::new(NftFirewall::new(host.clone(), a.nft_table.clone()))
    } else {
        Arc::new(NoFirewall)
    };
    let bridge = BridgeDriver::new(
        host,
        nl.clone(),
        fw.clone(),
        BridgeSettings {
            firewall: a.iptables,
            userland_proxy: a.userland_proxy,
            default_mtu: a.mtu,
        },
    );
    let ipam = Arc::new(DefaultIpam::new(pools(&a.default_address_pools)?));
    let svc = Arc::new(PluginService::new(bridge.clone(), ipam, Some(nl)));
    if let Some(dir) = a.socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    match std::fs::remove_file(&a.socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("remove stale {}", a.socket.display())),
    }
    let listener = tokio::net::UnixListener::bind(&a.socket)
        .with_context(|| format!("listen on {}", a.socket.display()))?;
    if let Some(spec) = &a.spec_file {
        if let Some(dir) = spec.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        std::fs::write(spec, format!("unix://{}\n", a.socket.display()))
            .with_context(|| format!("write {}", spec.display()))?;
    }
    tracing::info!(socket = %a.socket.display(), "serving berth's bridge driver and IPAM as a network plugin");
    let served = berth_plugin::server::serve_unix(listener, svc, crate::shutdown_signal()).await;
    let _ = std::fs::remove_file(&a.socket);
    if let Some(spec) = &a.spec_file {
        let _ = std::fs::remove_file(spec);
    }
    // Background link deletions finish; a table with no networks left goes.
    bridge.settle().await;
    served.context("serve plugin socket")
}
