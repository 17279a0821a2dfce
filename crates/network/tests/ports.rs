//! Published ports: from the host's loopback, ephemeral allocation, hairpin,
//! conflicts; and what a full teardown leaves behind (nothing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_network::model::EndpointRequest;
use common::{Env, ip_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_ports_reach_from_host_loopback_and_hairpin() {
    let mut env = Env::new().await;
    let bridge = [("bridge", EndpointRequest::default())];
    let web = env
        .container("web", &bridge, &[("80/tcp", "127.0.0.1", "18080")])
        .await;
    let eph = env.container("eph", &bridge, &[("80", "", "")]).await;
    env.httpd(&web.key, "web");
    env.httpd(&eph.key, "eph");

    // -p 127.0.0.1:18080:80, fetched from the host's own loopback.
    let m = web.ports();
    assert_eq!(
        (m.len(), m[0].host_port, m[0].host_ip.to_string()),
        (1, 18080, "127.0.0.1".into())
    );
    assert_eq!(
        env.wget(&env.host, "http://127.0.0.1:18080/").as_deref(),
        Some("web")
    );

    // -p 80: an ephemeral port from the host's range, on every address.
    let p = eph.ports()[0];
    assert!(p.host_port >= 1024 && p.host_ip.is_unspecified(), "{p:?}");
    assert_eq!(
        env.wget(&env.host, &format!("http://127.0.0.1:{}/", p.host_port))
            .as_deref(),
        Some("eph")
    );

    // Hairpin: a container reaches a published port through a host address (the gateway).
    let gw = web.endpoints[0].endpoint.gateway.unwrap();
    assert_eq!(
        env.wget(&web.key, &format!("http://{gw}:{}/", p.host_port))
            .as_deref(),
        Some("eph")
    );
    assert_eq!(
        env.wget(&eph.key, &format!("http://{gw}:{}/", p.host_port))
            .as_deref(),
        Some("eph")
    );

    // Outbound traffic is masqueraded: the host sees the gateway... and the
    // bridge subnet never leaks as a source: checked through the nat rule.
    assert!(env.nft().contains("masquerade"));

    // The same host port again is refused with Docker's message.
    let id = berth_core::id::generate();
    let req = berth_network::model::SandboxRequest {
        container_id: id.clone(),
        container_name: "dup".into(),
        ports: vec![berth_network::ports::PortBinding::parse("80/tcp", "", "18080").unwrap()],
        ..Default::default()
    };
    env.ctl().create_sandbox(req).await.unwrap();
    let err = env
        .ctl()
        .join(&id, "bridge", EndpointRequest::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Bind for 0.0.0.0:18080 failed: port is already allocated"),
        "{err}"
    );
    assert_eq!(
        berth_core::Classify::kind(&err),
        berth_core::ErrorKind::Internal
    );
    env.ctl().delete_sandbox(&id).await.unwrap();

    // A host program cannot take a published port.
    assert!(!env.can_bind(&env.host, "127.0.0.1", 18080));
    assert!(env.can_bind(&env.host, "127.0.0.1", 18081));
    // 127.0.0.1:18080, and the ephemeral port on 0.0.0.0 and [::].
    assert_eq!(env.ctl().ports_held(), 3);
    let _ = ip_on(&web, "bridge");
}

fn published(sb: &berth_network::model::SandboxView) -> Vec<String> {
    let mut v: Vec<String> = sb
        .ports()
        .iter()
        .map(|m| format!("{} {} {}", m.host_ip, m.host_port, m.container))
        .collect();
    v.sort();
    v
}

/// What no nat rule can carry goes through the userland proxy, TCP and UDP,
/// as with dockerd: `[::1]`, and IPv6 to a container that has only IPv4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userland_proxy_carries_ipv6_loopback_and_ipv6_to_ipv4_only_containers() {
    let mut env = Env::new().await;
    env.ok(
        &env.host,
        "ip link add h0 type veth peer name h1 && ip addr add fd64::1/64 dev h0 nodad && \
         ip link set h1 up && ip link set h0 up",
    );
    let bridge = [("bridge", EndpointRequest::default())];
    let web = env
        .container(
            "web",
            &bridge,
            &[("80/tcp", "", "18090"), ("53/udp", "", "18053")],
        )
        .await;
    assert!(web.endpoints[0].endpoint.iface.address_v6.is_none());
    // As Docker lists them: every address of both families.
    assert_eq!(
        published(&web),
        [
            "0.0.0.0 18053 53/udp",
            "0.0.0.0 18090 80/tcp",
            ":: 18053 53/udp",
            ":: 18090 80/tcp"
        ]
    );
    env.httpd(&web.key, "web");
    env.udp_echo(&web.key, 53);
    for url in [
        "http://127.0.0.1:18090/",
        "http://[::1]:18090/",
        "http://[fd64::1]:18090/",
    ] {
        assert_eq!(env.wget(&env.host, url).as_deref(), Some("web"), "{url}");
    }
    for ip in ["127.0.0.1", "::1", "fd64::1"] {
        assert_eq!(
            env.udp_ask(&env.host, ip, 18053, "ping").as_deref(),
            Some("PING"),
            "udp via {ip}"
        );
    }

    // A container with IPv6: the host's IPv6 addresses go through nat, [::1]
    // through the proxy, to its IPv6 address.
    let six = berth_network::model::NetworkCreate {
        name: "six".into(),
        enable_ipv6: Some(true),
        ..Default::default()
    };
    env.ctl().create_network(six).await.unwrap();
    let c = env
        .container(
            "c",
            &[("six", EndpointRequest::default())],
            &[("80/tcp", "", "18091")],
        )
        .await;
    env.httpd(&c.key, "six");
    assert_eq!(
        env.wget(&env.host, "http://[::1]:18091/").as_deref(),
        Some("six")
    );

    // Unpublished, the port stops answering and can be published again at
    // once (connections the proxy relayed linger in TIME_WAIT on it).
    env.ctl().delete_sandbox(&web.container_id).await.unwrap();
    assert_eq!(env.wget(&env.host, "http://[::1]:18090/"), None);
    let again = env
        .container("again", &bridge, &[("80/tcp", "", "18090")])
        .await;
    assert_eq!(
        published(&again),
        ["0.0.0.0 18090 80/tcp", ":: 18090 80/tcp"]
    );
}

/// dockerd `--iptables=false`: no nat rules at all, the proxy publishes
/// ports; `--userland-proxy=false`: nat only, so an IPv4-only container is
/// published on `0.0.0.0` alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewall_and_proxy_settings() {
    let bridge = [("bridge", EndpointRequest::default())];
    let mut env = Env::with(|c| c.firewall = false).await;
    let web = env
        .container("web", &bridge, &[("80/tcp", "", "18095")])
        .await;
    env.httpd(&web.key, "no-nat");
    assert_eq!(env.nft(), "");
    for url in ["http://127.0.0.1:18095/", "http://[::1]:18095/"] {
        assert_eq!(env.wget(&env.host, url).as_deref(), Some("no-nat"), "{url}");
    }
    drop(env);

    let mut env = Env::with(|c| c.userland_proxy = false).await;
    let web = env
        .container("web", &bridge, &[("80/tcp", "", "18096")])
        .await;
    env.httpd(&web.key, "nat");
    assert_eq!(published(&web), ["0.0.0.0 18096 80/tcp"]);
    assert_eq!(
        env.wget(&env.host, "http://127.0.0.1:18096/").as_deref(),
        Some("nat")
    );
    assert_eq!(env.wget(&env.host, "http://[::1]:18096/"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_everything_leaves_no_links_namespaces_or_rules() {
    let mut env = Env::new().await;
    env.network("n1", "10.231.9.0/24").await;
    env.network("n2", "").await;
    let a = env
        .container(
            "a",
            &[
                ("n1", EndpointRequest::default()),
                ("n2", EndpointRequest::default()),
            ],
            &[("80", "", "")],
        )
        .await;
    let b = env
        .container(
            "b",
            &[("bridge", EndpointRequest::default())],
            &[("81", "127.0.0.1", "")],
        )
        .await;
    env.httpd(&a.key, "x");
    assert!(env.host_links().contains("veth"));
    assert!(env.nft().contains("dnat"));
    assert_eq!(env.netns_files().len(), 2);
    for sb in [&a, &b] {
        env.ctl().delete_sandbox(&sb.container_id).await.unwrap();
    }
    env.ctl().remove_network("n1").await.unwrap();
    env.ctl().remove_network("n2").await.unwrap();
    env.ctl().settle().await;
    let links = env.host_links();
    assert!(
        !links.contains("veth") && !links.contains("vpeer") && !links.contains("br-"),
        "{links}"
    );
    assert!(env.netns_files().is_empty(), "{:?}", env.netns_files());
    let nft = env.nft();
    assert!(nft.contains("table inet berth"), "{nft}");
    let rules: Vec<&str> = nft
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("table")
                && !l.starts_with("chain")
                && !l.starts_with("type")
                && *l != "}"
        })
        .collect();
    assert!(rules.is_empty(), "rules left:\n{nft}");
    assert_eq!(env.ctl().ports_held(), 0);
    // Bridges exist only while used (berth0 included).
    assert!(!links.contains("berth0"), "{links}");
    // A daemon stopping with nothing running takes its table off the host.
    env.ctl().shutdown().await;
    assert!(
        !env.sh(&env.host, "nft list tables")
            .stdout
            .windows(5)
            .any(|w| w == b"berth")
    );
    // The networks are still there and work again.
    let c = env
        .container("c", &[("bridge", EndpointRequest::default())], &[])
        .await;
    assert!(env.host_links().contains("berth0"));
    let gw = c.endpoints[0].endpoint.gateway.unwrap().to_string();
    assert!(env.ping(&c.key, &gw));
}
