//! berth-network: networks, endpoints and sandboxes (Docker's libnetwork
//! model) for berth.
//!
//! - A **network** has a driver ([`driver::NetworkDriver`]: `bridge`, `host`,
//!   `null`, or a remote plugin) and address pools from an IPAM
//!   ([`ipam::IpamDriver`]: `default`, or a remote plugin). Unknown driver
//!   names are looked up as plugins through the registry given to
//!   [`Controller::set_plugins`] ([`driver::remote`], [`ipam::remote`]);
//!   [`driver::remote::serve`] offers berth's own drivers as a plugin.
//! - A **sandbox** is a container's network namespace
//!   (`<exec-root>/netns/<id12>`), the host's, or another container's.
//! - An **endpoint** attaches a sandbox to a network: an address, a MAC, an
//!   interface (`eth0`, `eth1`, …) inside the namespace, DNS names, and — for
//!   the endpoint that carries the default route — the published ports.
//! - **IPv6** (`--ipv6`): a network then also gets an IPv6 pool (its
//!   `--subnet`, a default pool, or a /64 of `fd62:6572:7468::/48`); endpoints
//!   get an address (`--ip6` or the next free), the bridge the gateway, the
//!   container a default route through it, and the embedded DNS answers AAAA.
//!   Dynamic IPv6 pools avoid host routes as IPv4 ones do. Leaving the host,
//!   IPv6 traffic is forwarded (berth turns on `net.ipv6.conf.all.forwarding`,
//!   as dockerd does) and masqueraded; the isolation rules match interfaces, so
//!   they hold for both families.
//! - **Published ports** reach the container through nat rules. A port
//!   published on every address is published on `0.0.0.0` and `[::]` (same
//!   host port, each held by a socket), as Docker does; with the userland
//!   proxy on (the default, dockerd's `--userland-proxy`) what no nat rule can
//!   carry (`[::1]`, IPv6 to a container without IPv6, everything with
//!   `--iptables=false`) is relayed by [`proxy`] from those sockets.
//!
//! The [`controller::Controller`] owns all three, persists them in the state
//! store (tables `network.networks`, `network.sandboxes`, see [`model`]),
//! programs NAT, port publishing and isolation in one nftables table
//! ([`firewall`]), and runs an embedded DNS server per sandbox on user-defined
//! networks ([`dns`]). Kernel work goes through [`nl`] (rtnetlink) and [`ns`]
//! (namespaces); nothing here knows HTTP or containers.
//!
//! # Call sequence for the engine
//!
//! ```text
//! daemon start     Controller::open(cfg, store)            load, replay IPAM, predefined networks,
//!                                                           drivers take back kernel state, DNS restarts
//!                  Controller::restore(&|id| running(id))   drop sandboxes of containers not running,
//!                                                           sweep stray namespaces
//! container create Controller::validate_endpoint(net, req)  per requested network: 404 / 400 early
//! container start  Controller::create_sandbox(SandboxRequest{id, name, hostname, mode, dns, ports, exposed})
//!                  Controller::join(id, net, EndpointRequest) for each network, primary (NetworkMode) first
//!                  view = Controller::sandbox(id)            → OCI netns path = view.key (empty: host netns;
//!                                                              Container mode: the other's path),
//!                                                              /etc/hosts from the endpoints' addresses,
//!                                                              resolv.conf: view.nameservers() (127.0.0.11)
//!                                                              or the host's servers
//! running          Controller::join / leave(id, net)        `network connect/disconnect`: ethN live
//!                  Controller::rename_container(id, name)   DNS name follows a rename
//! container exit   Controller::delete_sandbox(id)           endpoints, ports, DNS, namespace released
//!  (stop/kill/die)                                           (a restart is exit + start)
//! container remove Controller::delete_sandbox(id)           idempotent
//! inspect          Controller::sandbox(id)                  → NetworkSettings (engine builds the wire type)
//! daemon stop      Controller::shutdown()                   with no sandbox left: bridges and the
//!                                                           firewall table leave the host (records stay)
//! ```
//!
//! Kernel objects follow use: a bridge link exists while its network has
//! endpoints (plus a few seconds of grace, so container churn costs nothing),
//! and a released veth is deleted in the background (unregistering a link
//! waits for an RCU grace period); [`Controller::settle`] waits for all of it.
//!
//! Everything runs in the host namespace given by [`config::NetworkConfig::host`]:
//! the daemon's own, or a throwaway namespace in tests, so crate tests never
//! touch the real host's links or firewall.

pub mod config;
pub mod conformance;
pub mod controller;
pub mod dns;
pub mod driver;
pub mod error;
pub mod firewall;
pub mod ipam;
pub mod model;
pub mod nl;
pub mod ns;
pub mod portalloc;
pub mod ports;
pub mod proxy;

pub use config::NetworkConfig;
pub use controller::Controller;
pub use error::{NetError, NetResult};
