//! Remote (plugin) drivers: the shared conformance suites run against a fake
//! plugin process (tests/plugins/testplugin.py) and against berth's own bridge
//! driver and default IPAM served over the protocol; then the controller uses
//! a plugin it looks up lazily: network create, join (the plugin's interface
//! and address in the sandbox), leave, remove, and clear errors when the
//! plugin is absent or dies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use berth_core::{Classify, ErrorKind};
use berth_network::conformance;
use berth_network::driver::NetworkDriver;
use berth_network::driver::remote::RemoteDriver;
use berth_network::driver::remote::serve::PluginService;
use berth_network::ipam::default::DefaultIpam;
use berth_network::ipam::remote::RemoteIpam;
use berth_network::model::{EndpointRequest, NetworkCreate};
use berth_network::nl::Nl;
use berth_network::ns::{self, HostNs};
use berth_plugin::dto::iface;
use berth_plugin::{Dirs, Registry, Settings};
use common::Env;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/plugins/testplugin.py")
}

/// Start the fake plugin inside `netns`; returns once its socket exists.
fn fake_plugin(netns: &Path, sock: &Path, extra: &[&str]) -> Child {
    let name = sock.file_stem().unwrap().to_string_lossy().to_string();
    let ready = sock.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let mut child = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .arg("python3")
        .arg(script())
        .args([
            "--name",
            &name,
            "--kind",
            "net",
            "--pool-base",
            "10.243.0.0/16",
        ])
        .arg("--sock")
        .arg(sock)
        .arg("--ready")
        .arg(&ready)
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if ready.exists() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("fake plugin did not start");
}

fn registry(run: &Path) -> Arc<Registry> {
    Arc::new(Registry::new(
        Dirs {
            sockets: vec![run.to_path_buf()],
            specs: Vec::new(),
        },
        Settings {
            call_timeout: Duration::from_secs(5),
            retry_budget: Duration::from_secs(2),
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_adapters_pass_the_conformance_suites() {
    let mut env = Env::new().await;
    let run = env.dir.path().join("plugins");
    let host_nl = Nl::open_in(&env.host).unwrap();
    let sandbox = env.dir.path().join("conformance-sandbox");
    ns::create(&sandbox, || Ok(())).unwrap();

    // A plugin process (Python, stdlib only).
    env.children
        .push(fake_plugin(&env.host, &run.join("fakenet.sock"), &[]));
    let reg = registry(&run);
    let d = RemoteDriver::new(reg.get("fakenet", iface::NETWORK).await.unwrap());
    conformance::network_driver(&d, &host_nl, "10.240.0.0/24".parse().unwrap(), &sandbox)
        .await
        .unwrap_or_else(|e| panic!("fake plugin driver: {e}"));
    let ipam = RemoteIpam::new(reg.get("fakenet", iface::IPAM).await.unwrap());
    conformance::ipam_driver(&ipam, "10.241.0.0/24".parse().unwrap(), true)
        .await
        .unwrap_or_else(|e| panic!("fake plugin IPAM: {e}"));

    // berth's own bridge driver and default IPAM, served over the protocol.
    let bridge = berth_network::driver::bridge::BridgeDriver::new(
        HostNs::Path(env.host.clone()),
        host_nl.clone(),
        Arc::new(berth_network::firewall::NoFirewall),
        berth_network::driver::bridge::BridgeSettings {
            firewall: false,
            ..Default::default()
        },
    );
    let svc = PluginService::new(
        bridge.clone(),
        Arc::new(DefaultIpam::new(
            berth_network::config::docker_default_pools(),
        )),
        Some(host_nl.clone()),
    );
    let listener = tokio::net::UnixListener::bind(run.join("served.sock")).unwrap();
    tokio::spawn(berth_plugin::server::serve_unix(
        listener,
        Arc::new(svc),
        std::future::pending(),
    ));
    let d = RemoteDriver::new(reg.get("served", iface::NETWORK).await.unwrap());
    assert_eq!(d.capabilities().await.unwrap().scope, "local");
    conformance::network_driver(&d, &host_nl, "10.242.0.0/24".parse().unwrap(), &sandbox)
        .await
        .unwrap_or_else(|e| panic!("served bridge: {e}"));
    let ipam = RemoteIpam::new(reg.get("served", iface::IPAM).await.unwrap());
    conformance::ipam_driver(&ipam, "10.244.0.0/24".parse().unwrap(), true)
        .await
        .unwrap_or_else(|e| panic!("served default IPAM: {e}"));
    bridge.settle().await;
    ns::remove(&sandbox).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_looks_plugins_up_lazily() {
    let mut env = Env::new().await;
    let run = env.dir.path().join("plugins");
    env.ctl().set_plugins(registry(&run));
    let create = |name: &str, driver: &str| NetworkCreate {
        name: name.into(),
        driver: driver.into(),
        ipam_driver: driver.into(),
        ..Default::default()
    };
    // Absent: a clear NotFound once the lookup budget is spent.
    let err = env
        .ctl()
        .create_network(create("pn", "tnet"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string().as_str()),
        (ErrorKind::NotFound, "plugin \"tnet\" not found")
    );
    // It appears: found, activated, used for both the driver and the IPAM.
    let log = env.dir.path().join("tnet.log");
    let log_s = log.display().to_string();
    env.children.push(fake_plugin(
        &env.host,
        &run.join("tnet.sock"),
        &["--dst-prefix", "plg", "--log", &log_s],
    ));
    let (net, _) = env
        .ctl()
        .create_network(create("pn", "tnet"))
        .await
        .unwrap();
    let pool = net.network.pools[0].clone();
    assert!(pool.subnet.to_string().starts_with("10.243."), "{pool:?}");
    assert_eq!(pool.address_space, "testlocal");
    assert!(env.ctl().driver_names().contains(&"tnet".to_string()));

    let sb = env
        .container("c1", &[("pn", EndpointRequest::default())], &[])
        .await;
    let ep = &sb.endpoints[0].endpoint;
    assert_eq!(
        ep.ifname, "plg0",
        "the plugin's DstPrefix names the interface"
    );
    let ip = ep.iface.address.unwrap();
    assert!(pool.subnet.contains(&ip.addr()));
    let mac = ep
        .iface
        .mac
        .map(|m| berth_network::nl::format_mac(&m))
        .unwrap();
    assert!(mac.starts_with("02:7e:57:"), "the plugin's MAC: {mac}");
    let links = env.ok(&sb.key, "ip -o addr show plg0; ip route");
    assert!(links.contains(&ip.to_string()), "{links}");
    assert!(
        links.contains(&format!("default via {}", pool.gateway.unwrap().addr())),
        "{links}"
    );
    assert!(
        links.contains("192.0.2.0/24 dev plg0"),
        "static route: {links}"
    );

    env.ctl().delete_sandbox(&sb.container_id).await.unwrap();
    env.ctl().remove_network("pn").await.unwrap();
    let calls: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["method"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let pos = |m: &str| {
        calls
            .iter()
            .position(|c| c == m)
            .unwrap_or_else(|| panic!("{m} not called: {calls:?}"))
    };
    assert!(pos("Plugin.Activate") < pos("NetworkDriver.GetCapabilities"));
    assert!(pos("IpamDriver.RequestPool") < pos("NetworkDriver.CreateNetwork"));
    assert!(pos("NetworkDriver.CreateEndpoint") < pos("NetworkDriver.Join"));
    assert!(pos("NetworkDriver.Leave") < pos("NetworkDriver.DeleteEndpoint"));
    assert!(pos("IpamDriver.ReleasePool") > pos("NetworkDriver.DeleteNetwork"));
    assert_eq!(calls.iter().filter(|c| *c == "Plugin.Activate").count(), 1);

    // The plugin dies: joins fail with an error naming it; other networks still work.
    let (net, _) = env
        .ctl()
        .create_network(create("pn2", "tnet"))
        .await
        .unwrap();
    for c in &mut env.children {
        let _ = c.kill();
        let _ = c.wait();
    }
    env.children.clear();
    let id = berth_core::id::generate();
    env.ctl()
        .create_sandbox(berth_network::model::SandboxRequest {
            container_id: id.clone(),
            container_name: "c2".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = env
        .ctl()
        .join(&id, &net.network.id, EndpointRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("plugin \"tnet\""), "{err}");
    env.ctl()
        .join(&id, "bridge", EndpointRequest::default())
        .await
        .unwrap();
    env.ctl().delete_sandbox(&id).await.unwrap();
    env.ctl().settle().await;
}
