//! Network lifecycle and bad input, with Docker's messages and error kinds;
//! host, none and container network modes; the driver and IPAM conformance suites.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_core::{Classify, ErrorKind};
use berth_network::conformance;
use berth_network::driver::NetworkDriver;
use berth_network::ipam::default::DefaultIpam;
use berth_network::model::{
    EndpointRequest, IpamConfigSpec, NetworkCreate, NetworkMode, SandboxRequest,
};
use berth_network::nl::Nl;
use berth_network::ns;
use common::{Env, ip_on};

fn subnet(s: &str) -> NetworkCreate {
    NetworkCreate {
        ipam_config: vec![IpamConfigSpec {
            subnet: s.into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networks_lifecycle_and_bad_input() {
    let env = Env::new().await;
    let ctl = env.ctl();
    let names: Vec<String> = ctl
        .networks()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.network.name)
        .collect();
    for n in ["bridge", "host", "none"] {
        assert!(names.contains(&n.to_string()), "{names:?}");
    }
    let bridge = ctl.network("bridge").await.unwrap().network;
    assert_eq!(bridge.pools[0].subnet.to_string(), "172.17.0.0/16");
    assert_eq!(
        bridge.pools[0].gateway.unwrap().addr().to_string(),
        "172.17.0.1"
    );

    let (n1, warning) = ctl
        .create_network(NetworkCreate {
            name: "n1".into(),
            ..subnet("10.232.0.0/16")
        })
        .await
        .unwrap();
    assert!(warning.is_empty());
    // Lookups by name, id and id prefix.
    assert_eq!(
        ctl.network(&n1.network.id[..6]).await.unwrap().network.name,
        "n1"
    );

    let err = ctl
        .create_network(NetworkCreate {
            name: "n2".into(),
            ..subnet("10.232.5.0/24")
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid pool request: Pool overlaps with other one on this address space"
    );
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    let err = ctl
        .create_network(NetworkCreate {
            name: "n1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.kind()),
        ("network with name n1 already exists", ErrorKind::Conflict)
    );
    let err = ctl.network("nope").await.unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.kind()),
        ("network nope not found", ErrorKind::NotFound)
    );
    let err = ctl.remove_network("bridge").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(
        err.to_string(),
        "bridge is a pre-defined network and cannot be removed"
    );
    let err = ctl
        .create_network(NetworkCreate {
            name: "x".into(),
            driver: "overlay".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.kind()),
        ("plugin \"overlay\" not found", ErrorKind::NotFound)
    );
    let bad = NetworkCreate {
        name: "x".into(),
        ipam_config: vec![IpamConfigSpec {
            subnet: "10.233.0.0/24".into(),
            gateway: "10.234.0.1".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let err = ctl.create_network(bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.to_string().starts_with("invalid network config:"),
        "{err}"
    );

    // --ip outside the subnet, --ip on a network without a user subnet, aliases on the default bridge.
    let outside = EndpointRequest {
        ipv4: Some("10.99.0.5".parse().unwrap()),
        ..Default::default()
    };
    let err = ctl.validate_endpoint("n1", &outside).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.to_string()
            .contains("no configured subnet or ip-range contain the IP address 10.99.0.5"),
        "{err}"
    );
    let err = ctl
        .validate_endpoint(
            "bridge",
            &EndpointRequest {
                aliases: vec!["x".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains(
        "network-scoped alias is supported only for containers in user defined networks"
    ));
    let (dynamic, _) = ctl
        .create_network(NetworkCreate {
            name: "dyn".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        dynamic.network.pools[0].subnet.to_string(),
        "172.18.0.0/16",
        "next free default pool"
    );
    let err = ctl
        .validate_endpoint(
            "dyn",
            &EndpointRequest {
                ipv4: Some("172.18.0.9".parse().unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("user configured subnets"), "{err}");

    // --ip inside works and shows up; removing a network in use is refused.
    let fixed = EndpointRequest {
        ipv4: Some("10.232.7.7".parse().unwrap()),
        mac: Some("02:42:0a:e8:07:07".into()),
        ..Default::default()
    };
    let c = env.container("web", &[("n1", fixed)], &[]).await;
    assert_eq!(ip_on(&c, "n1"), "10.232.7.7");
    let link = env.ok(&c.key, "ip -o link show eth0");
    assert!(link.contains("link/ether 02:42:0a:e8:07:07"), "{link}");
    let err = ctl.remove_network("n1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    let short = &c.container_id[..12];
    assert_eq!(
        err.to_string(),
        format!(
            "error while removing network: network n1 has active endpoints (name:\"web\" id:\"{short}\")"
        )
    );
    let info = ctl.network("n1").await.unwrap();
    assert_eq!(info.endpoints.len(), 1);
    let err = ctl
        .join(&c.container_id, "n1", EndpointRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "endpoint with name web already exists in network n1"
    );

    // Prune removes unused user networks only.
    ctl.delete_sandbox(&c.container_id).await.unwrap();
    let mut pruned = ctl.prune(|_| true).await;
    pruned.sort();
    assert_eq!(pruned, ["dyn", "n1"]);
    assert_eq!(ctl.networks().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_none_and_container_modes() {
    let env = Env::new().await;
    let ctl = env.ctl();
    // none: a namespace with loopback only.
    let none = env
        .container("quiet", &[("none", EndpointRequest::default())], &[])
        .await;
    let links = env.ok(&none.key, "ip -o link show");
    assert_eq!(links.lines().count(), 1, "{links}");
    let err = ctl
        .join(&none.container_id, "bridge", EndpointRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);

    // container:<id>: the same namespace as another container.
    let web = env
        .container("web", &[("bridge", EndpointRequest::default())], &[])
        .await;
    let req = SandboxRequest {
        container_id: berth_core::id::generate(),
        container_name: "side".into(),
        mode: NetworkMode::Container(web.container_id.clone()),
        ..Default::default()
    };
    let side = ctl.create_sandbox(req).await.unwrap();
    assert_eq!(side.key, web.key);
    assert!(
        ctl.join(&side.container_id, "bridge", EndpointRequest::default())
            .await
            .is_err()
    );
    ctl.delete_sandbox(&side.container_id).await.unwrap();
    assert!(
        ns::is_namespace(&web.key),
        "deleting the sharer must keep the owner's namespace"
    );

    // host: no namespace of its own; only the host network.
    let req = SandboxRequest {
        container_id: berth_core::id::generate(),
        container_name: "h".into(),
        mode: NetworkMode::Host,
        ..Default::default()
    };
    let h = ctl.create_sandbox(req).await.unwrap();
    assert!(h.key.as_os_str().is_empty());
    ctl.join(&h.container_id, "host", EndpointRequest::default())
        .await
        .unwrap();
    let err = ctl
        .join(&h.container_id, "bridge", EndpointRequest::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("host network"), "{err}");
    assert_eq!(ctl.network("host").await.unwrap().endpoints.len(), 1);
    ctl.delete_sandbox(&h.container_id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_driver_and_ipam_passes_the_conformance_suite() {
    let env = Env::new().await;
    let host_nl = Nl::open_in(&env.host).unwrap();
    let sandbox = env.dir.path().join("conformance-sandbox");
    ns::create(&sandbox, || Ok(())).unwrap();
    let fw: std::sync::Arc<dyn berth_network::firewall::Firewall> =
        std::sync::Arc::new(berth_network::firewall::nft::NftFirewall::new(
            berth_network::ns::HostNs::Path(env.host.clone()),
            "berthconf",
        ));
    let bridge = berth_network::driver::bridge::BridgeDriver::new(
        berth_network::ns::HostNs::Path(env.host.clone()),
        host_nl.clone(),
        fw.clone(),
        berth_network::driver::bridge::BridgeSettings {
            firewall: true,
            ..Default::default()
        },
    );
    let drivers: Vec<std::sync::Arc<dyn NetworkDriver>> = vec![
        bridge,
        std::sync::Arc::new(berth_network::driver::host::HostDriver),
        std::sync::Arc::new(berth_network::driver::null::NullDriver),
    ];
    for d in &drivers {
        conformance::network_driver(&**d, &host_nl, "10.240.0.0/24".parse().unwrap(), &sandbox)
            .await
            .unwrap_or_else(|e| panic!("driver {}: {e}", d.name()));
    }
    fw.remove_all().await.unwrap();
    ns::remove(&sandbox).unwrap();
    let ipam = DefaultIpam::new(berth_network::config::docker_default_pools());
    conformance::ipam_driver(&ipam, "10.241.0.0/24".parse().unwrap(), true)
        .await
        .unwrap();
}
