//! The bridge driver's firewall: the whole [`Ruleset`] computed from the
//! driver's state (networks in use or still warm, published ports), applied
//! only when it changed, re-applied when warm networks cool down, and
//! removed when the daemon stops with nothing running.

use std::collections::HashSet;
use std::net::IpAddr;

use super::{BridgeDriver, RULES_GRACE};
use crate::error::NetResult;
use crate::firewall::{BridgeRules, PortRule, Ruleset};

impl BridgeDriver {
    /// Re-apply the ruleset once the grace of the warm networks is over.
    pub(super) fn schedule_cooldown(&self) {
        let Some(me) = self.me.upgrade() else { return };
        tokio::spawn(async move {
            tokio::time::sleep(RULES_GRACE + std::time::Duration::from_millis(100)).await;
            let now = std::time::Instant::now();
            me.st()
                .warm
                .retain(|_, left| now.duration_since(*left) < RULES_GRACE);
            if let Err(e) = me.sync_firewall(false).await {
                tracing::warn!("firewall: {e}");
            }
        });
    }

    /// The ruleset implied by the current state.
    pub(super) fn ruleset(&self) -> Ruleset {
        let st = self.st();
        let mut used: HashSet<&str> = HashSet::new();
        for ep in st.eps.values() {
            used.insert(ep.network_id.as_str());
        }
        let now = std::time::Instant::now();
        for (id, left) in &st.warm {
            if now.duration_since(*left) < RULES_GRACE {
                used.insert(id.as_str());
            }
        }
        let mut bridges: Vec<BridgeRules> = st
            .nets
            .iter()
            .filter(|(id, _)| used.contains(id.as_str()))
            .filter_map(|(_, n)| {
                n.subnet.map(|subnet| BridgeRules {
                    name: n.opts.name.clone(),
                    subnet,
                    subnet_v6: n.subnet_v6,
                    internal: n.internal,
                    icc: n.opts.icc,
                    masquerade: n.opts.masquerade,
                })
            })
            .collect();
        bridges.sort_by(|a, b| a.name.cmp(&b.name));
        let mut ports = Vec::new();
        for ep in st.eps.values() {
            let v4 = ep.address.map(|a| a.addr()).filter(IpAddr::is_ipv4);
            let v6 = ep.address_v6.map(|a| a.addr()).filter(IpAddr::is_ipv6);
            for p in &ep.ports {
                // A mapping reaches the container's address of its host
                // address's family (`0.0.0.0` IPv4, `[::]` IPv6).
                let targets = [v4, v6]
                    .into_iter()
                    .flatten()
                    .filter(|c| p.host_ip.is_ipv4() == c.is_ipv4());
                for container_ip in targets {
                    ports.push(PortRule {
                        proto: p.container.proto,
                        host_ip: (!p.host_ip.is_unspecified()).then_some(p.host_ip),
                        host_port: p.host_port,
                        container_ip,
                        container_port: p.container.port,
                    });
                }
            }
        }
        ports.sort_by_key(|p| (p.host_port, p.proto, p.host_ip, p.container_ip));
        Ruleset { bridges, ports }
    }

    /// Remove berth's firewall table, unless it is known to be absent
    /// (never applied since the start-up cleanup, which `settle` waits for).
    pub async fn remove_firewall(&self) {
        if !self.firewall_enabled {
            return;
        }
        let mut applied = self.applied.lock().await;
        if applied.is_none() {
            return;
        }
        if let Err(e) = self.firewall.remove_all().await {
            tracing::warn!("remove firewall table: {e}");
            return;
        }
        *applied = None;
    }

    /// Apply the ruleset if it changed (or always, when `force`).
    pub(super) async fn sync_firewall(&self, force: bool) -> NetResult<()> {
        if !self.firewall_enabled {
            return Ok(());
        }
        let mut applied = self.applied.lock().await;
        let want = self.ruleset();
        // `None`: berth's table is absent (never made, or removed at restore);
        // an empty ruleset then needs no table at all.
        let unchanged = match applied.as_ref() {
            Some(a) => *a == want,
            None => want == Ruleset::default(),
        };
        if !force && unchanged {
            return Ok(());
        }
        *applied = None;
        self.firewall.apply(&want).await?;
        *applied = Some(want);
        Ok(())
    }
}
