//! Cost of the bridge network per container: sandbox creation + join, then
//! release (`delete_sandbox`), measured inside a throwaway namespace so the
//! host is never touched. Run with `bench/network.sh` (release build, root).
//!
//! Cases: container churn on the default bridge (steady state: the network's
//! rules stay while containers come and go, no `nft` run), the first container
//! of a network whose rules had cooled down (one `nft` run), a user network
//! (embedded DNS server started and stopped), and a published port (two `nft`
//! runs: the rule is added and removed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::store::Store;
use berth_network::Controller;
use berth_network::config::NetworkConfig;
use berth_network::model::{EndpointRequest, IpamConfigSpec, NetworkCreate, SandboxRequest};
use berth_network::ns::{self, HostNs};
use berth_network::ports::PortBinding;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

async fn cycle(ctl: &Controller, net: &str, ports: Vec<PortBinding>) -> Res<(Duration, Duration)> {
    let id = berth_core::id::generate();
    let t0 = Instant::now();
    let req = SandboxRequest {
        container_id: id.clone(),
        container_name: format!("c{}", &id[..6]),
        ports,
        ..Default::default()
    };
    ctl.create_sandbox(req).await?;
    ctl.join(&id, net, EndpointRequest::default()).await?;
    let up = t0.elapsed();
    let t1 = Instant::now();
    ctl.delete_sandbox(&id).await?;
    Ok((up, t1.elapsed()))
}

fn stats(name: &str, mut v: Vec<(Duration, Duration)>) {
    v.sort_by_key(|(a, b)| *a + *b);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let med = v[v.len() / 2];
    let min = v[0];
    println!(
        "{name:<44} setup {:>6.2} ms  teardown {:>6.2} ms  total median {:>6.2} ms (min {:>5.2})",
        ms(med.0),
        ms(med.1),
        ms(med.0 + med.1),
        ms(min.0 + min.1)
    );
}

async fn run(runs: usize) -> Res<()> {
    let dir = tempfile::Builder::new()
        .prefix("bnetbench")
        .tempdir_in("/tmp")?;
    let host = dir.path().join("host");
    ns::create(&host, || Ok(()))?;
    berth_network::nl::Nl::open_in(&host)?.up(1).await?;
    let mut cfg = NetworkConfig::new(dir.path().join("exec"));
    cfg.host = HostNs::Path(host.clone());
    cfg.dns_upstream = Some(Vec::new());
    let store = Arc::new(Store::open(&dir.path().join("meta.db"))?);
    let ctl = Controller::open(cfg, store).await?;
    let user = NetworkCreate {
        name: "user".into(),
        ipam_config: vec![IpamConfigSpec {
            subnet: "10.250.0.0/16".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    ctl.create_network(user).await?;
    cycle(&ctl, "bridge", Vec::new()).await?;
    let mut steady = Vec::new();
    for _ in 0..runs {
        steady.push(cycle(&ctl, "bridge", Vec::new()).await?);
    }
    let mut cold = Vec::new();
    for _ in 0..runs.min(20) {
        ctl.settle().await;
        cold.push(cycle(&ctl, "bridge", Vec::new()).await?);
    }
    cycle(&ctl, "user", Vec::new()).await?;
    let mut dns = Vec::new();
    for _ in 0..runs {
        dns.push(cycle(&ctl, "user", Vec::new()).await?);
    }
    let mut ports = Vec::new();
    for _ in 0..runs {
        ports.push(
            cycle(
                &ctl,
                "bridge",
                vec![PortBinding::parse("80/tcp", "127.0.0.1", "")?],
            )
            .await?,
        );
    }
    println!("berth bridge network, {runs} runs per case (inside a throwaway namespace)");
    stats("default bridge, container churn", steady);
    stats("default bridge, first after cool-down (1 nft run)", cold);
    stats("user network (+ embedded DNS server)", dns);
    stats("default bridge + -p 127.0.0.1::80 (2 nft runs)", ports);
    ctl.settle().await;
    drop(ctl);
    for e in std::fs::read_dir(dir.path().join("exec/netns"))?.flatten() {
        ns::remove(&e.path())?;
    }
    ns::remove(&host)?;
    Ok(())
}

fn main() -> Res<()> {
    let runs = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(runs))
}
