//! Daemon restart, clean or `kill -9`: the controller is dropped without any
//! cleanup and opened again on the same store and kernel state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use berth_network::model::EndpointRequest;
use berth_network::ns;
use common::{Env, ip_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_live_sandboxes_and_drops_the_rest() {
    let mut env = Env::new().await;
    env.network("app", "10.231.5.0/24").await;
    let app = |alias: &str| {
        let aliases = if alias.is_empty() {
            vec![]
        } else {
            vec![alias.to_string()]
        };
        [(
            "app",
            EndpointRequest {
                aliases,
                ..Default::default()
            },
        )]
    };
    let a = env.container("a", &app("alpha"), &[]).await;
    let b = env.container("b", &app(""), &[("80", "", "18081")]).await;
    let c = env.container("c", &app(""), &[("80", "", "18082")]).await;
    env.httpd(&b.key, "b survives");
    let c_veth = format!("veth{}", &c.endpoints[0].endpoint.id[..7]);
    assert!(env.host_links().contains(&c_veth));

    // What a crash in the middle of a join or a sandbox creation leaves behind.
    let bridge = format!("br-{}", &a.endpoints[0].network_id[..12]);
    env.ok(&env.host, &format!("ip link add vethdead0 type veth peer name vpeerdead0 && ip link set vethdead0 master {bridge}"));
    // A loose pair of another engine on this host (a second berthd, or
    // dockerd using berth as its remote driver) is not ours to remove.
    env.ok(
        &env.host,
        "ip link add vethother0 type veth peer name vpeerother0",
    );
    let stray = env.dir.path().join("exec/netns/stray");
    ns::create(&stray, || Ok(())).unwrap();

    env.reopen().await;
    let dead: HashSet<String> = [c.container_id.clone()].into();
    env.ctl().restore(&|id| !dead.contains(id)).await.unwrap();

    // Live sandboxes work as before: addresses, names, published ports.
    assert!(env.ping(&a.key, &ip_on(&b, "app")));
    let out = env.ok(&b.key, "busybox nslookup alpha 127.0.0.11");
    assert!(out.contains(&ip_on(&a, "app")), "{out}");
    let out = env.ok(&a.key, "busybox nslookup www.example 127.0.0.11");
    assert!(out.contains("192.0.2.99"), "{out}");
    // Through nat, and through the userland proxy started again.
    for url in ["http://127.0.0.1:18081/", "http://[::1]:18081/"] {
        assert_eq!(
            env.wget(&env.host, url).as_deref(),
            Some("b survives"),
            "{url}"
        );
    }
    assert_eq!(env.ctl().ports_held(), 2);

    // The stopped container's sandbox, the leaked veth and namespace are gone.
    env.ctl().settle().await;
    let links = env.host_links();
    assert!(
        !links.contains(&c_veth) && !links.contains("vethdead0"),
        "{links}"
    );
    assert!(links.contains("vpeerother0"), "{links}");
    let files = env.netns_files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(env.ctl().sandbox(&c.container_id).await.is_none());
    assert!(!env.nft().contains("18082"));

    // The IPAM was replayed: a new container does not get a taken address.
    let d = env.container("d", &app(""), &[]).await;
    let taken = [ip_on(&a, "app"), ip_on(&b, "app")];
    assert!(!taken.contains(&ip_on(&d, "app")), "{}", ip_on(&d, "app"));
    assert!(env.ping(&d.key, &ip_on(&a, "app")));

    // And a second restart with nothing changed is a no-op.
    env.reopen().await;
    env.ctl().restore(&|_| true).await.unwrap();
    assert_eq!(
        env.wget(&env.host, "http://127.0.0.1:18081/").as_deref(),
        Some("b survives")
    );
    let out = env.ok(&d.key, "busybox nslookup b 127.0.0.11");
    assert!(out.contains(&ip_on(&b, "app")), "{out}");
}
