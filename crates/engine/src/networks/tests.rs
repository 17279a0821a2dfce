//! The engine glue end to end, with the whole engine running inside a
//! throwaway network namespace: a thread unshares its namespace and builds
//! the tokio runtime there, so every worker, netlink socket, `nft` run and
//! sysctl of the engine lands in that namespace, never on the real host.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api::backend::NetworkBackend;
use berth_api::types::container::{EndpointSettings, PortBinding};
use berth_api::types::network::{Ipam, IpamConfig, NetworkCreateRequest};
use berth_core::ErrorKind;
use berth_core::filters::Filters;

use crate::container::record::{ConfigRecord, StateRecord};
use crate::container::{Container, Status};
use crate::{Engine, EngineConfig};

fn in_test_netns(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        // SAFETY: only this thread's network namespace changes; no file table is unshared.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }.unwrap();
        assert!(
            std::process::Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status()
                .unwrap()
                .success()
        );
        f();
    })
    .join()
    .unwrap();
}

fn container(
    engine: &Engine,
    name: &str,
    mode: &str,
    ports: &[(&str, &str, &str)],
) -> Arc<Container> {
    let id = berth_core::id::generate();
    let mut rec = ConfigRecord {
        id: id.clone(),
        name: name.into(),
        ..Default::default()
    };
    rec.host_config.network_mode = mode.into();
    let mut pm = BTreeMap::new();
    for (c, ip, hp) in ports {
        pm.insert(
            c.to_string(),
            Some(vec![PortBinding {
                host_ip: ip.to_string(),
                host_port: hp.to_string(),
            }]),
        );
    }
    rec.host_config.port_bindings = Some(pm);
    rec.config.exposed_ports = Some(BTreeMap::from([("80/tcp".to_string(), Default::default())]));
    let st = StateRecord {
        status: Status::Running,
        ..Default::default()
    };
    engine.containers.reserve_name(name, &id).unwrap();
    let c = Arc::new(Container::new(rec, st));
    engine.containers.insert(c.clone());
    c
}

#[test]
fn networks_endpoints_and_settings_through_the_engine() {
    in_test_netns(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let e = Engine::open(EngineConfig::new(
                dir.path().join("data"),
                dir.path().join("exec"),
            ))
            .unwrap();
            let req = NetworkCreateRequest {
                name: "front".into(),
                ipam: Some(Ipam {
                    config: vec![IpamConfig {
                        subnet: "10.201.0.0/24".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            };
            let created = e.network_create(req).await.unwrap();
            assert_eq!(created.id.len(), 64);

            // Start: sandbox on the default bridge with a published port.
            let web = container(&e, "web", "bridge", &[("80/tcp", "127.0.0.1", "18090")]);
            let prep = e.network_attach(&web).await.unwrap();
            assert!(prep.netns.is_some() && prep.dns.is_empty());
            let ns = e.container_network_settings(&web.config()).await;
            let b = &ns.networks["bridge"];
            assert!(
                b.ip_address.starts_with("172.") && b.ip_prefix_len == 16,
                "{b:?}"
            );
            assert_eq!(
                (ns.ip_address.as_str(), ns.gateway.as_str()),
                (b.ip_address.as_str(), b.gateway.as_str())
            );
            let p = ns.ports["80/tcp"].as_ref().unwrap();
            assert_eq!(
                (p[0].host_ip.as_str(), p[0].host_port.as_str()),
                ("127.0.0.1", "18090")
            );

            // Connect live, with an alias: eth1 on "front", DNS names, embedded DNS.
            let s = EndpointSettings {
                aliases: Some(vec!["www".into()]),
                ..Default::default()
            };
            e.network_connect("front", "web", Some(s)).await.unwrap();
            let ns = e.container_network_settings(&web.config()).await;
            let f = &ns.networks["front"];
            assert!(f.ip_address.starts_with("10.201.0."), "{f:?}");
            assert_eq!(f.aliases.as_deref(), Some(&["www".to_string()][..]));
            assert!(f.dns_names.as_ref().unwrap().contains(&"web".to_string()));
            assert_eq!(
                ns.ip_address, ns.networks["bridge"].ip_address,
                "top level stays on bridge"
            );
            let insp = e.network_inspect("front", false, "").await.unwrap();
            assert_eq!(insp.containers[&web.id].name, "web");
            assert!(insp.containers[&web.id].ipv4_address.ends_with("/24"));

            // Bad input keeps Docker's kinds.
            let err = e.network_remove("front").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Forbidden);
            assert!(err.message().contains("has active endpoints"));
            assert_eq!(
                e.network_inspect("nope", false, "")
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::NotFound
            );
            let list = e
                .network_list(Filters::from_pairs([("type", "custom")]))
                .await
                .unwrap();
            assert_eq!(list.len(), 1);
            assert!(list[0].containers.is_empty());

            // Disconnect, exit, remove.
            e.network_disconnect("front", "web", false).await.unwrap();
            assert!(
                !e.container_network_settings(&web.config())
                    .await
                    .networks
                    .contains_key("front")
            );
            e.network_release(&web.id).await;
            let ns = e.container_network_settings(&web.config()).await;
            assert!(
                ns.networks["bridge"].ip_address.is_empty()
                    && !ns.networks["bridge"].network_id.is_empty()
            );
            e.network_remove("front").await.unwrap();
            let pruned = e.network_prune(Filters::default()).await.unwrap();
            assert_eq!(pruned.networks_deleted, Some(vec![]));
            e.networks.shutdown().await;
        });
    });
}
