//! Containers on user networks: reachability by address, name and alias,
//! isolation between networks, live connect/disconnect.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_network::model::EndpointRequest;
use common::{Env, ip_on};

fn alias(a: &str) -> EndpointRequest {
    EndpointRequest {
        aliases: vec![a.into()],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_network_by_name_and_alias_other_network_isolated() {
    let mut env = Env::new().await;
    env.network("front", "10.231.1.0/24").await;
    env.network("back", "").await;
    let a = env
        .container("a", &[("front", EndpointRequest::default())], &[])
        .await;
    let b = env.container("b", &[("front", alias("bee"))], &[]).await;
    let c = env
        .container("c", &[("back", EndpointRequest::default())], &[])
        .await;
    let (ip_a, ip_b, ip_c) = (ip_on(&a, "front"), ip_on(&b, "front"), ip_on(&c, "back"));
    assert!(
        ip_a.starts_with("10.231.1.") && ip_b.starts_with("10.231.1."),
        "{ip_a} {ip_b}"
    );
    assert!(env.ping(&a.key, &ip_b), "a cannot ping b");

    // Names and aliases through the embedded DNS.
    for name in ["b", "bee", "b.front", "B"] {
        let out = env.ok(&a.key, &format!("busybox nslookup {name} 127.0.0.11"));
        assert!(out.contains(&ip_b), "{name}: {out}");
    }
    let out = env.sh_resolv(&a.key, "busybox ping -c1 -W1 bee");
    assert!(
        out.status.success(),
        "ping by alias: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // HTTP by name.
    env.httpd(&b.key, "hello from b");
    let out = env.sh_resolv(&a.key, "timeout 5 busybox wget -q -O- http://bee/");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from b",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The other network sees neither the names nor the addresses.
    let out = env.sh(&c.key, "busybox nslookup b 127.0.0.11");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&ip_b));
    let gw_c = c.endpoints[0].endpoint.gateway.unwrap().to_string();
    assert!(env.ping(&c.key, &gw_c), "c cannot reach its own gateway");
    assert!(!env.ping(&c.key, &ip_a), "c reached a across networks");
    assert!(!env.ping(&a.key, &ip_c), "a reached c across networks");
    assert!(env.wget(&c.key, &format!("http://{ip_b}/")).is_none());

    // Names are live: a new container resolves at once, a removed one stops resolving.
    let d = env
        .container("d", &[("front", EndpointRequest::default())], &[])
        .await;
    let out = env.ok(&a.key, "busybox nslookup d 127.0.0.11");
    assert!(out.contains(&ip_on(&d, "front")), "{out}");
    env.ctl().delete_sandbox(&d.container_id).await.unwrap();
    let out = env.sh(&a.key, "busybox nslookup d 127.0.0.11");
    assert!(
        !out.status.success()
            || !String::from_utf8_lossy(&out.stdout).contains(&ip_on(&d, "front"))
    );

    // Other names go to the (fake) upstream.
    let out = env.ok(&a.key, "busybox nslookup www.example 127.0.0.11");
    assert!(out.contains("192.0.2.99"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_disconnect_add_and_remove_eth1_live() {
    let env = Env::new().await;
    env.network("one", "10.231.2.0/24").await;
    env.network("two", "10.231.3.0/24").await;
    let a = env
        .container("a", &[("one", EndpointRequest::default())], &[])
        .await;
    let b = env
        .container("b", &[("two", EndpointRequest::default())], &[])
        .await;
    let ip_b = ip_on(&b, "two");
    assert!(!env.ping(&a.key, &ip_b));
    let req = EndpointRequest {
        ipv4: Some("10.231.3.77".parse().unwrap()),
        ..Default::default()
    };
    let ep = env.ctl().join(&a.container_id, "two", req).await.unwrap();
    assert_eq!(ep.endpoint.ifname, "eth1");
    let addrs = env.ok(&a.key, "ip -o -4 addr show");
    assert!(
        addrs.contains("eth1") && addrs.contains("10.231.3.77/24"),
        "{addrs}"
    );
    assert!(env.ping(&a.key, &ip_b), "eth1 does not reach b");
    let out = env.ok(&b.key, "busybox nslookup a 127.0.0.11");
    assert!(out.contains("10.231.3.77"), "{out}");
    env.ctl().leave(&a.container_id, "two").await.unwrap();
    let addrs = env.ok(&a.key, "ip -o -4 addr show");
    assert!(!addrs.contains("eth1"), "{addrs}");
    assert!(!env.ping(&a.key, &ip_b));
    let err = env.ctl().leave(&a.container_id, "two").await.unwrap_err();
    assert!(
        err.to_string().contains("is not connected to network two"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_network_has_no_way_out() {
    let env = Env::new().await;
    let req = berth_network::model::NetworkCreate {
        name: "int".into(),
        internal: true,
        ipam_config: vec![berth_network::model::IpamConfigSpec {
            subnet: "10.231.7.0/24".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    env.ctl().create_network(req).await.unwrap();
    let x = env
        .container("x", &[("int", EndpointRequest::default())], &[])
        .await;
    let y = env
        .container("y", &[("int", EndpointRequest::default())], &[])
        .await;
    let outside = env
        .container("o", &[("bridge", EndpointRequest::default())], &[])
        .await;
    assert!(
        env.ping(&x.key, &ip_on(&y, "int")),
        "internal peers must reach each other"
    );
    assert!(
        !env.ok(&x.key, "ip route").contains("default"),
        "no default route on an internal network"
    );
    assert!(!env.ping(&x.key, &ip_on(&outside, "bridge")));
    // Names resolve inside the network; nothing is forwarded upstream.
    assert!(
        env.ok(&x.key, "busybox nslookup y 127.0.0.11")
            .contains(&ip_on(&y, "int"))
    );
    let out = env.sh(&x.key, "busybox nslookup www.example 127.0.0.11");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("192.0.2.99"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_networks_avoid_host_routes_reach_out_masqueraded_and_publish_ports() {
    let mut env = Env::new().await;
    // An "uplink" to another namespace: fd63::2 beyond the host's fd63::1. The
    // far side has no route back to container subnets, so only masqueraded
    // traffic gets answers.
    let far = env.dir.path().join("far");
    berth_network::ns::create(&far, || Ok(())).unwrap();
    let holder = std::process::Command::new("nsenter")
        .arg(format!("--net={}", far.display()))
        .args(["sleep", "600"])
        .spawn()
        .unwrap();
    let pid = holder.id();
    env.children.push(holder);
    env.ok(
        &env.host,
        &format!(
            "ip link add up0 type veth peer name up1 && ip link set up1 netns {pid} && \
             ip addr add fd63::1/64 dev up0 nodad && ip link set up0 up && \
             ip route add fd62:6572:7468::/64 dev up0"
        ),
    );
    env.ok(
        &far,
        "ip addr add fd63::2/64 dev up1 nodad && ip link set up1 up && ip link set lo up",
    );

    // The first /64 of berth's default IPv6 range is a host route now: skipped.
    let req = berth_network::model::NetworkCreate {
        name: "six".into(),
        enable_ipv6: Some(true),
        ..Default::default()
    };
    let (net, _) = env.ctl().create_network(req).await.unwrap();
    let v6: Vec<String> = net
        .network
        .pools
        .iter()
        .map(|p| p.subnet.to_string())
        .filter(|s| s.contains(':'))
        .collect();
    assert_eq!(v6, ["fd62:6572:7468:1::/64"]);

    let c = env
        .container(
            "c",
            &[("six", EndpointRequest::default())],
            &[("80/tcp", "", "8080")],
        )
        .await;
    assert_eq!(
        env.ok(&env.host, "cat /proc/sys/net/ipv6/conf/all/forwarding")
            .trim(),
        "1"
    );
    assert!(
        env.nft().contains("ip6 saddr fd62:6572:7468:1::/64"),
        "{}",
        env.nft()
    );
    assert!(
        env.ok(&c.key, "busybox ping -6 -c1 -W2 fd63::2")
            .contains("1 packets received"),
        "the far side answers the masqueraded container"
    );
    // The port is published on 0.0.0.0 and [::], as Docker lists it...
    let mut published: Vec<String> = c
        .ports()
        .iter()
        .map(|m| format!("{} {}", m.host_ip_string(), m.host_port))
        .collect();
    published.sort();
    assert_eq!(published, ["0.0.0.0 8080", ":: 8080"]);
    // ...the IPv6 side is held too (a v6-only socket)...
    assert!(
        !env.can_bind(&env.host, "::", 8080),
        "[::]:8080 must be taken"
    );
    assert!(env.can_bind(&env.host, "::", 8081));
    // ...and answers on the host's IPv6 addresses.
    env.httpd(&c.key, "six-hello");
    assert_eq!(
        env.wget(&far, "http://[fd63::1]:8080/").as_deref(),
        Some("six-hello")
    );
}
