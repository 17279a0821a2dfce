//! [`Firewall`] over nftables: the ruleset becomes one `nft -j -f -`
//! transaction (via the `nftables` crate's typed JSON) that adds, deletes and
//! re-creates `table inet <name>`, so the swap is atomic and nothing else on
//! the host is touched. In a test namespace `nft` runs under `nsenter --net`.
//!
//! Layout of the table:
//!
//! ```text
//! chain prerouting  nat    hook prerouting  -100   fib daddr type local jump ports
//! chain output      nat    hook output      -100   fib daddr type local jump ports
//! chain ports       (one dnat rule per published port; `[::1]` left to the proxy)
//! chain postrouting nat    hook postrouting  100   masquerade: outbound, from loopback, hairpin
//! chain forward     filter hook forward        0   isolation, internal, established, dnat'd, drop the rest
//! ```

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use async_trait::async_trait;
use nftables::batch::Batch;
use nftables::expr::{
    CT, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix, SetItem,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{JumpTarget, Match, NAT, NATFamily, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::{BridgeRules, Firewall, PortRule, Ruleset};
use crate::error::{NetError, NetResult};
use crate::ns::HostNs;

/// nftables-backed firewall.
pub struct NftFirewall {
    host: HostNs,
    table: String,
    /// Present while the table may exist: written before every apply,
    /// removed after a successful removal. It lives under the exec root
    /// (tmpfs, like the ruleset itself, gone at reboot), so a daemon that
    /// stopped cleanly starts without an `nft` run.
    marker: Option<std::path::PathBuf>,
}

impl NftFirewall {
    /// A firewall owning `table inet <table>` in `host`.
    pub fn new(host: HostNs, table: impl Into<String>) -> NftFirewall {
        NftFirewall {
            host,
            table: table.into(),
            marker: None,
        }
    }

    /// Remember at `path` whether the table may exist (see the field).
    pub fn with_marker(mut self, path: std::path::PathBuf) -> NftFirewall {
        self.marker = Some(path);
        self
    }

    async fn run(&self, doc: Nftables<'static>) -> NetResult<()> {
        let host = self.host.clone();
        tokio::task::spawn_blocking(move || {
            let res = match host.path() {
                None => nftables::helper::apply_ruleset(&doc),
                Some(p) => {
                    let net = format!("--net={}", p.display());
                    nftables::helper::apply_ruleset_with_args(
                        &doc,
                        Some("nsenter"),
                        [net.as_str(), "nft"],
                    )
                }
            };
            res.map_err(|e| NetError::Firewall(e.to_string()))
        })
        .await
        .map_err(|e| NetError::Firewall(format!("nft task: {e}")))?
    }
}

#[async_trait]
impl Firewall for NftFirewall {
    async fn apply(&self, rules: &Ruleset) -> NetResult<()> {
        if let Some(m) = &self.marker {
            std::fs::write(m, &self.table).map_err(|e| NetError::io("write firewall marker", e))?;
        }
        self.run(render(&self.table, rules)).await
    }

    async fn remove_all(&self) -> NetResult<()> {
        if self.marker.as_ref().is_some_and(|m| !m.exists()) {
            return Ok(());
        }
        let mut b = Batch::new();
        b.add(table(&self.table));
        b.delete(table(&self.table));
        self.run(b.to_nftables()).await?;
        if let Some(m) = &self.marker {
            let _ = std::fs::remove_file(m);
        }
        Ok(())
    }
}

fn table(name: &str) -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: NfFamily::INet,
        name: name.to_string().into(),
        handle: None,
    })
}

fn s(v: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(v.to_string()))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn payload(proto: &str, field: &str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: proto.to_string().into(),
            field: field.to_string().into(),
        },
    )))
}

fn ct(key: &str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: key.to_string().into(),
        family: None,
        dir: None,
    }))
}

fn m(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn set(items: &[String]) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(
        items.iter().map(|i| SetItem::Element(s(i))).collect(),
    ))
}

fn prefix(addr: impl Into<IpAddr>, len: u8) -> Expression<'static> {
    let addr: IpAddr = addr.into();
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(s(&addr.to_string())),
        len: len as u32,
    }))
}

fn local_daddr() -> Statement<'static> {
    let fib = Fib {
        result: FibResult::Type,
        flags: [FibFlag::Daddr].into_iter().collect(),
    };
    m(
        Expression::Named(NamedExpression::Fib(fib)),
        Operator::EQ,
        s("local"),
    )
}

struct Doc<'t> {
    table: &'t str,
    batch: Batch<'static>,
}

impl Doc<'_> {
    fn chain(&mut self, name: &str, hook: Option<(NfChainType, NfHook, i32)>) {
        let mut c = Chain {
            family: NfFamily::INet,
            table: self.table.to_string().into(),
            name: name.to_string().into(),
            ..Chain::default()
        };
        if let Some((ty, hook, prio)) = hook {
            c._type = Some(ty);
            c.hook = Some(hook);
            c.prio = Some(prio);
            c.policy = Some(NfChainPolicy::Accept);
        }
        self.batch.add(NfListObject::Chain(c));
    }

    fn rule(&mut self, chain: &str, expr: Vec<Statement<'static>>) {
        self.batch.add(NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: self.table.to_string().into(),
            chain: chain.to_string().into(),
            expr: expr.into(),
            ..Rule::default()
        }));
    }
}

/// The transaction that replaces the table with `rules`.
pub fn render(table_name: &str, rules: &Ruleset) -> Nftables<'static> {
    let mut d = Doc {
        table: table_name,
        batch: Batch::new(),
    };
    // add + delete + add: atomic replace that also works when the table is absent.
    d.batch.add(table(table_name));
    d.batch.delete(table(table_name));
    d.batch.add(table(table_name));
    d.chain(
        "prerouting",
        Some((NfChainType::NAT, NfHook::Prerouting, -100)),
    );
    d.chain("output", Some((NfChainType::NAT, NfHook::Output, -100)));
    d.chain("ports", None);
    d.chain(
        "postrouting",
        Some((NfChainType::NAT, NfHook::Postrouting, 100)),
    );
    d.chain("forward", Some((NfChainType::Filter, NfHook::Forward, 0)));
    if !rules.ports.is_empty() {
        for c in ["prerouting", "output"] {
            d.rule(
                c,
                vec![
                    local_daddr(),
                    Statement::Jump(JumpTarget {
                        target: "ports".into(),
                    }),
                ],
            );
        }
    }
    for p in &rules.ports {
        port_rule(&mut d, p);
    }
    for b in &rules.bridges {
        let others: Vec<String> = rules
            .bridges
            .iter()
            .filter(|o| o.name != b.name)
            .map(|o| o.name.clone())
            .collect();
        bridge_rules(&mut d, b, &others);
    }
    d.batch.to_nftables()
}

fn port_rule(d: &mut Doc<'_>, p: &PortRule) {
    let (l3, family) = if p.container_ip.is_ipv4() {
        ("ip", NATFamily::IP)
    } else {
        ("ip6", NATFamily::IP6)
    };
    // In the inet table a dnat of the other family is a no-op, so each rule
    // only acts on packets of its container address's family.
    let mut e = Vec::new();
    match p.host_ip {
        // The kernel drops `::1` traffic routed off the host (IPv4's
        // `route_localnet` has no IPv6 twin): a dnat'd `[::1]` connection
        // would die, so it is left to reach the userland proxy.
        Some(ip) if ip == IpAddr::V6(Ipv6Addr::LOCALHOST) => return,
        Some(ip) => e.push(m(payload(l3, "daddr"), Operator::EQ, s(&ip.to_string()))),
        None if l3 == "ip6" => e.push(m(payload(l3, "daddr"), Operator::NEQ, s("::1"))),
        None => {}
    }
    e.push(m(
        payload(p.proto.as_str(), "dport"),
        Operator::EQ,
        Expression::Number(p.host_port as u32),
    ));
    e.push(Statement::DNAT(Some(NAT {
        addr: Some(s(&p.container_ip.to_string())),
        family: Some(family),
        port: Some(Expression::Number(p.container_port as u32)),
        flags: None,
    })));
    d.rule("ports", e);
}

fn bridge_rules(d: &mut Doc<'_>, b: &BridgeRules, others: &[String]) {
    let br = || s(&b.name);
    let masq = || Statement::Masquerade(None);
    // The bridge's subnets, each matched by its family's source address.
    let mut subnets = vec![("ip", prefix(b.subnet.network(), b.subnet.prefix_len()))];
    if let Some(v6) = b.subnet_v6 {
        subnets.push(("ip6", prefix(v6.network(), v6.prefix_len())));
    }
    let from = |(l3, net): &(&str, Expression<'static>)| {
        m(payload(l3, "saddr"), Operator::EQ, net.clone())
    };
    // postrouting
    if b.masquerade && !b.internal {
        for sub in &subnets {
            d.rule(
                "postrouting",
                vec![
                    from(sub),
                    m(meta(MetaKey::Oifname), Operator::NEQ, br()),
                    masq(),
                ],
            );
        }
    }
    d.rule(
        "postrouting",
        vec![
            m(meta(MetaKey::Oifname), Operator::EQ, br()),
            m(
                payload("ip", "saddr"),
                Operator::EQ,
                prefix(Ipv4Addr::new(127, 0, 0, 0), 8),
            ),
            masq(),
        ],
    );
    for sub in &subnets {
        d.rule(
            "postrouting",
            vec![
                m(meta(MetaKey::Oifname), Operator::EQ, br()),
                from(sub),
                m(ct("status"), Operator::IN, s("dnat")),
                masq(),
            ],
        );
    }
    // forward
    let drop = || Statement::Drop(None);
    let accept = || Statement::Accept(None);
    if b.internal {
        d.rule(
            "forward",
            vec![
                m(meta(MetaKey::Iifname), Operator::EQ, br()),
                m(meta(MetaKey::Oifname), Operator::NEQ, br()),
                drop(),
            ],
        );
        d.rule(
            "forward",
            vec![
                m(meta(MetaKey::Oifname), Operator::EQ, br()),
                m(meta(MetaKey::Iifname), Operator::NEQ, br()),
                drop(),
            ],
        );
    }
    if !others.is_empty() {
        d.rule(
            "forward",
            vec![
                m(meta(MetaKey::Iifname), Operator::EQ, br()),
                m(meta(MetaKey::Oifname), Operator::EQ, set(others)),
                drop(),
            ],
        );
    }
    if !b.icc {
        d.rule(
            "forward",
            vec![
                m(meta(MetaKey::Iifname), Operator::EQ, br()),
                m(meta(MetaKey::Oifname), Operator::EQ, br()),
                drop(),
            ],
        );
    }
    let state = Expression::List(vec![s("established"), s("related")]);
    d.rule(
        "forward",
        vec![
            m(meta(MetaKey::Oifname), Operator::EQ, br()),
            m(ct("state"), Operator::IN, state),
            accept(),
        ],
    );
    d.rule(
        "forward",
        vec![
            m(meta(MetaKey::Oifname), Operator::EQ, br()),
            m(ct("status"), Operator::IN, s("dnat")),
            accept(),
        ],
    );
    d.rule(
        "forward",
        vec![m(meta(MetaKey::Iifname), Operator::EQ, br()), accept()],
    );
    d.rule(
        "forward",
        vec![m(meta(MetaKey::Oifname), Operator::EQ, br()), drop()],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Proto;

    #[test]
    fn empty_ruleset_has_chains_only() {
        let doc = render("berth", &Ruleset::default());
        let json = serde_json::to_string(&doc).unwrap();
        assert!(!json.contains("\"rule\""), "{json}");
        assert!(json.contains("\"prerouting\"") && json.contains("\"forward\""));
    }

    #[test]
    fn ports_and_bridges_render() {
        let rules = Ruleset {
            bridges: vec![BridgeRules {
                name: "br-a".into(),
                subnet: "10.9.0.0/24".parse().unwrap(),
                subnet_v6: Some("fd00:9::/64".parse().unwrap()),
                internal: false,
                icc: true,
                masquerade: true,
            }],
            ports: vec![
                PortRule {
                    proto: Proto::Tcp,
                    host_ip: Some(Ipv4Addr::LOCALHOST.into()),
                    host_port: 8080,
                    container_ip: "10.9.0.2".parse().unwrap(),
                    container_port: 80,
                },
                PortRule {
                    proto: Proto::Tcp,
                    host_ip: None,
                    host_port: 8080,
                    container_ip: "fd00:9::2".parse().unwrap(),
                    container_port: 80,
                },
            ],
        };
        let json = serde_json::to_string(&render("berth", &rules)).unwrap();
        assert!(
            json.contains("\"dnat\"") && json.contains("\"masquerade\""),
            "{json}"
        );
        assert!(json.contains("\"jump\""));
        assert!(
            json.contains("\"ip6\"") && json.contains("\"fd00:9::\""),
            "{json}"
        );
        assert!(json.contains("\"family\":\"ip6\""), "{json}");
    }
}
