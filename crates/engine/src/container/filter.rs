//! `docker ps --filter`: which containers a listing keeps.

use berth_api::types::inspect::ContainerSummary;
use berth_core::filters::Filters;
use berth_core::{Error, Result};

/// Filters `GET /containers/json` accepts (one list with the server's).
pub use berth_api::backend::container::LIST_FILTERS as ALLOWED;

const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// Validate filter values that have a closed set.
pub fn validate(f: &Filters) -> Result<()> {
    f.validate(ALLOWED)?;
    for s in f.get("status") {
        if !STATUSES.contains(&s.as_str()) {
            return Err(Error::invalid(format!("invalid filter 'status={s}'")));
        }
    }
    for h in f.get("health") {
        if !["starting", "healthy", "unhealthy", "none"].contains(&h.as_str()) {
            return Err(Error::invalid(format!("invalid filter 'health={h}'")));
        }
    }
    for e in f.get("exited") {
        if e.parse::<i64>().is_err() {
            return Err(Error::invalid(format!("invalid filter 'exited={e}'")));
        }
    }
    Ok(())
}

/// Does `s` pass the filters? `ancestor_ids` are the image ids that `ancestor` values resolve to.
pub fn keep(s: &ContainerSummary, f: &Filters, ancestor_ids: &[String], health: &str) -> bool {
    let name = s
        .names
        .first()
        .map(|n| n.trim_start_matches('/'))
        .unwrap_or("");
    f.any("id", |v| s.id.starts_with(v))
        && f.any("name", |v| name.contains(v.trim_start_matches('/')))
        && f.any("status", |v| v == s.state)
        && f.any("exited", |v| {
            s.state == "exited" && s.status.starts_with(&format!("Exited ({v})"))
        })
        && f.any("ancestor", |v| {
            s.image == v
                || ancestor_ids.contains(&s.image_id)
                || s.image_id.trim_start_matches("sha256:").starts_with(v)
        })
        && f.any("health", |v| v == health)
        && f.any("network", |v| {
            s.network_settings
                .networks
                .iter()
                .any(|(n, e)| n == v || e.network_id.starts_with(v))
        })
        && f.any("volume", |v| {
            s.mounts
                .iter()
                .any(|m| m.name == v || m.destination == v || m.source == v)
        })
        && f.any("publish", |v| {
            s.ports
                .iter()
                .any(|p| port_matches(v, p.public_port, &p.kind))
        })
        && f.any("expose", |v| {
            s.ports
                .iter()
                .any(|p| port_matches(v, p.private_port, &p.kind))
        })
        && f.any("is-task", |v| v == "false")
        && f.any("isolation", |v| v == "default" || v.is_empty())
        && f.match_labels(
            "label",
            &s.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
}

fn port_matches(spec: &str, port: u16, proto: &str) -> bool {
    let (p, pr) = spec.split_once('/').unwrap_or((spec, "tcp"));
    if pr != proto {
        return false;
    }
    match p.split_once('-') {
        Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) => (a..=b).contains(&port),
            _ => false,
        },
        None => p.parse::<u16>() == Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_select_like_docker() {
        let s = ContainerSummary {
            id: "abcdef".into(),
            names: vec!["/web-1".into()],
            image: "bb".into(),
            image_id: "sha256:1234".into(),
            state: "exited".into(),
            status: "Exited (3) 1 second ago".into(),
            labels: [("tier".to_string(), "front".to_string())].into(),
            ..Default::default()
        };
        let f = |pairs: &[(&str, &str)]| Filters::from_pairs(pairs.iter().copied());
        assert!(keep(&s, &f(&[("name", "web")]), &[], "none"));
        assert!(keep(
            &s,
            &f(&[("status", "exited"), ("exited", "3")]),
            &[],
            "none"
        ));
        assert!(!keep(&s, &f(&[("exited", "0")]), &[], "none"));
        assert!(keep(
            &s,
            &f(&[("ancestor", "bb"), ("label", "tier=front")]),
            &[],
            "none"
        ));
        assert!(!keep(&s, &f(&[("status", "running")]), &[], "none"));
        assert!(validate(&f(&[("status", "bogus")])).is_err());
        assert!(validate(&f(&[("colour", "x")])).is_err());
    }
}
