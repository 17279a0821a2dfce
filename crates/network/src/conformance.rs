//! The one conformance suite every [`NetworkDriver`] and [`IpamDriver`]
//! implementation must pass (built-in drivers in this crate's tests; a remote
//! plugin driver later). It checks the contract, not a driver's internals:
//! call order, idempotent cleanup, that a driver never changes a value the
//! controller set, that an interface a driver names exists in the host
//! namespace after `join` and is gone after `delete_endpoint`.
//!
//! Failures come back as `Err(description)` so the suite itself stays free of
//! panics; tests unwrap them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use crate::driver::{
    CreateEndpointRequest, CreateNetworkRequest, ExternalConnectivity, InterfaceInfo, IpamData,
    JoinRequest, NetworkDriver,
};
use crate::error::NetError;
use crate::ipam::{IpamDriver, PoolRequest};
use crate::nl::Nl;

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.to_string()) }
}

fn call<T>(what: &str, r: Result<T, NetError>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// Run the driver suite. `pool` is an IPv4 pool free in the host namespace
/// `host_nl` talks to; `sandbox_key` is a namespace file to join.
pub async fn network_driver(
    d: &dyn NetworkDriver,
    host_nl: &Nl,
    pool: IpNet,
    sandbox_key: &Path,
) -> Result<(), String> {
    let caps = call("capabilities", d.capabilities().await)?;
    check(
        caps.scope == "local" || caps.scope == "global",
        "scope must be local or global",
    )?;
    let nid = berth_core::id::generate();
    let eid = berth_core::id::generate();
    let mut hosts = pool.hosts();
    let gateway = hosts.next().ok_or("pool too small")?;
    let address = hosts.next().ok_or("pool too small")?;
    let with_prefix = |ip: IpAddr| IpNet::new(ip, pool.prefix_len()).map_err(|e| e.to_string());
    let req = CreateNetworkRequest {
        network_id: nid.clone(),
        options: BTreeMap::new(),
        internal: false,
        enable_ipv4: true,
        enable_ipv6: false,
        ipv4: vec![IpamData {
            address_space: "LocalDefault".into(),
            pool,
            gateway: Some(with_prefix(gateway)?),
            aux_addresses: BTreeMap::new(),
        }],
        ipv6: Vec::new(),
    };
    call("create_network", d.create_network(&req).await)?;
    let mac = [0x02, 0x42, 0x0a, 0x0b, 0x0c, 0x0d];
    let ereq = CreateEndpointRequest {
        network_id: nid.clone(),
        endpoint_id: eid.clone(),
        interface: InterfaceInfo {
            address: Some(with_prefix(address)?),
            address_v6: None,
            mac: Some(mac),
        },
        options: BTreeMap::new(),
    };
    let iface = call("create_endpoint", d.create_endpoint(&ereq).await)?;
    check(
        iface
            .address
            .is_none_or(|a| Some(a) == ereq.interface.address),
        "driver changed the endpoint address",
    )?;
    check(
        iface.mac.is_none_or(|m| m == mac),
        "driver changed the endpoint MAC",
    )?;
    call("endpoint_info", d.endpoint_info(&nid, &eid).await)?;
    let jreq = JoinRequest {
        network_id: nid.clone(),
        endpoint_id: eid.clone(),
        sandbox_key: sandbox_key.to_path_buf(),
        ifname: "eth0".into(),
        options: BTreeMap::new(),
    };
    let join = call("join", d.join(&jreq).await)?;
    if !join.src_name.is_empty() {
        check(
            !join.dst_prefix.is_empty(),
            "an interface needs a destination prefix",
        )?;
        let (where_, nl) = if join.in_sandbox {
            (
                "the sandbox",
                call("open sandbox netlink", Nl::open_in(sandbox_key))?,
            )
        } else {
            ("the host namespace", host_nl.clone())
        };
        let l = call("look up interface", nl.link(&join.src_name).await)?;
        check(
            l.is_some(),
            &format!("join names an interface that does not exist in {where_}"),
        )?;
    }
    if let Some(g) = join.gateway {
        check(pool.contains(&g), "gateway outside the network's pool")?;
    }
    let ports = call(
        "program_external_connectivity",
        d.program_external_connectivity(&nid, &eid, &ExternalConnectivity::default())
            .await,
    )?;
    check(ports.is_empty(), "no bindings asked, ports programmed")?;
    call(
        "revoke_external_connectivity",
        d.revoke_external_connectivity(&nid, &eid).await,
    )?;
    call("leave", d.leave(&nid, &eid).await)?;
    call("delete_endpoint", d.delete_endpoint(&nid, &eid).await)?;
    if !join.src_name.is_empty() {
        // Deletion may finish in the background; it must finish soon.
        let nl = if join.in_sandbox {
            call("open sandbox netlink", Nl::open_in(sandbox_key))?
        } else {
            host_nl.clone()
        };
        let mut gone = false;
        for _ in 0..500 {
            if call("look up interface", nl.link(&join.src_name).await)?.is_none() {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        check(gone, "interface left behind after delete_endpoint")?;
    }
    call("delete_endpoint twice", d.delete_endpoint(&nid, &eid).await)?;
    call("delete_network", d.delete_network(&nid).await)?;
    Ok(())
}

/// Run the IPAM suite on a driver with no pools yet; `static_pool` must be
/// free, `dynamic` says whether the driver can pick pools itself.
pub async fn ipam_driver(
    d: &dyn IpamDriver,
    static_pool: IpNet,
    dynamic: bool,
) -> Result<(), String> {
    let spaces = call("default_address_spaces", d.default_address_spaces().await)?;
    check(!spaces.local.is_empty(), "empty local address space")?;
    call("capabilities", d.capabilities().await)?;
    let req = |pool: Option<IpNet>| PoolRequest {
        address_space: spaces.local.clone(),
        pool,
        ..Default::default()
    };
    let p = call("request_pool", d.request_pool(req(Some(static_pool))).await)?;
    check(p.pool == static_pool, "static pool not returned as asked")?;
    let overlap = d.request_pool(req(Some(static_pool))).await;
    check(
        matches!(&overlap, Err(e) if berth_core::Classify::kind(e) == berth_core::ErrorKind::Forbidden),
        "an overlapping pool must be refused as Forbidden",
    )?;
    let none = BTreeMap::new();
    let a = call(
        "request_address",
        d.request_address(&p.pool_id, None, &none).await,
    )?;
    check(
        static_pool.contains(&a.addr()) && a.addr() != static_pool.network(),
        "address outside pool or network address",
    )?;
    check(
        a.prefix_len() == static_pool.prefix_len(),
        "address must carry the pool's prefix length",
    )?;
    let b = call(
        "request_address",
        d.request_address(&p.pool_id, None, &none).await,
    )?;
    check(a != b, "same address handed out twice")?;
    check(
        d.request_address(&p.pool_id, Some(a.addr()), &none)
            .await
            .is_err(),
        "allocated address handed out again",
    )?;
    let outside: IpAddr = if static_pool.addr().is_ipv4() {
        "203.0.113.1"
    } else {
        "2001:db8::1"
    }
    .parse()
    .map_err(|_| "parse")?;
    check(
        d.request_address(&p.pool_id, Some(outside), &none)
            .await
            .is_err(),
        "address outside the pool accepted",
    )?;
    call(
        "release_address",
        d.release_address(&p.pool_id, a.addr()).await,
    )?;
    let again = call(
        "request_address",
        d.request_address(&p.pool_id, Some(a.addr()), &none).await,
    )?;
    check(
        again.addr() == a.addr(),
        "released address not available again",
    )?;
    if dynamic {
        let dp = call("request_pool (dynamic)", d.request_pool(req(None)).await)?;
        check(
            !crate::ipam::addr::overlaps(&dp.pool, &static_pool),
            "dynamic pool overlaps an allocated one",
        )?;
        call("release_pool", d.release_pool(&dp.pool_id).await)?;
    }
    call("release_pool", d.release_pool(&p.pool_id).await)?;
    let p2 = call(
        "request_pool after release",
        d.request_pool(req(Some(static_pool))).await,
    )?;
    call("release_pool", d.release_pool(&p2.pool_id).await)?;
    Ok(())
}
