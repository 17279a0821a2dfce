//! Docker's flag value syntaxes, parsed purely (no I/O except where a flag
//! names a file, and then the caller reads it): sizes, CPUs, ulimits, restart
//! policies, durations, port publishing, env files, detach keys, and (in
//! [`mounts`]) `-v`, `--mount` and `--device` specs. Error messages follow the
//! docker CLI's.

use std::collections::BTreeMap;

use berth_api::types::container::{PortBinding, RestartPolicy, Ulimit};

mod mounts;
pub use mounts::{VolumeSpec, parse_device, parse_mount, parse_volume};

/// Docker's `units.RAMInBytes`: `64m`, `1g`, `1.5GiB`, `1024` (binary multipliers).
pub fn parse_ram(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size: '{s}'");
    let t = s.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    if num.is_empty() || num.starts_with('.') {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => (1u64 << 30) as f64,
        "t" => (1u64 << 40) as f64,
        "p" => (1u64 << 50) as f64,
        _ => return Err(bad()),
    };
    Ok((value * mult) as i64)
}

/// `--memory-swap`: a size, or `-1` for unlimited.
pub fn parse_swap(s: &str) -> Result<i64, String> {
    if s.trim() == "-1" {
        Ok(-1)
    } else {
        parse_ram(s)
    }
}

/// `--cpus 0.5` → `NanoCpus` 500000000 (exact decimal arithmetic, as Docker's `big.Rat`).
pub fn parse_nano_cpus(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let bad = || format!("failed to parse {s} as a rational number");
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let frac_trim = frac.trim_end_matches('0');
    if frac_trim.len() > 9 {
        return Err("value is too precise".into());
    }
    let int: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_nanos: i64 = if frac_trim.is_empty() {
        0
    } else {
        format!("{frac_trim:0<9}").parse().map_err(|_| bad())?
    };
    int.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(frac_nanos))
        .ok_or_else(bad)
}

const ULIMIT_NAMES: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `--ulimit nofile=100:200` (hard defaults to soft).
pub fn parse_ulimit(s: &str) -> Result<Ulimit, String> {
    let (name, limits) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    if !ULIMIT_NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let num = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| format!("invalid ulimit argument: {s}"))
    };
    let (soft, hard) = (num(soft)?, num(hard)?);
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `--restart no|always|unless-stopped|on-failure[:N]`: only the syntax is
/// checked here; the daemon judges the policy (as with docker).
pub fn parse_restart(s: &str) -> Result<RestartPolicy, String> {
    let (name, count) = s.split_once(':').unwrap_or((s, ""));
    if name.is_empty() && s.contains(':') {
        return Err("invalid restart policy format: no policy provided before colon".into());
    }
    let maximum_retry_count = if count.is_empty() {
        0
    } else {
        count.parse().map_err(|_| {
            "invalid restart policy format: maximum retry count must be an integer".to_string()
        })?
    };
    Ok(RestartPolicy {
        name: name.to_string(),
        maximum_retry_count,
    })
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if s.trim() == "0" {
        return Ok(0);
    }
    berth_core::timefmt::parse_go_duration(s.trim())
        .and_then(|d| d.num_nanoseconds())
        .ok_or_else(|| format!("time: invalid duration \"{s}\""))
}

/// One published port: key `80/tcp` and its host binding.
pub type Published = (String, PortBinding);

fn port_range(s: &str, what: &str) -> Result<(u16, u16), String> {
    let bad = || format!("invalid {what}: {s}");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

fn split_proto(s: &str) -> Result<(&str, &str), String> {
    let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let proto = if proto.is_empty() { "tcp" } else { proto };
    match proto.to_ascii_lowercase().as_str() {
        "tcp" | "udp" | "sctp" => Ok((port, proto)),
        _ => Err(format!("invalid proto: {proto}")),
    }
}

/// `-p [ip:][hostPort:]containerPort[/proto]` with ranges (`8000-8001:80-81`,
/// or a host range for one container port) and `[v6]:` addresses.
pub fn parse_publish(spec: &str) -> Result<Vec<Published>, String> {
    let (rest, proto) = split_proto(spec)?;
    // Split off an IP: `[::1]:80:80`, `1.2.3.4:80:80`, `1.2.3.4::80`.
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, after) = r
            .split_once("]:")
            .ok_or_else(|| format!("invalid IP address: {rest}"))?;
        (ip.to_string(), after)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (String::new(), rest),
            3 => (parts[0].to_string(), &rest[parts[0].len() + 1..]),
            _ => return Err(format!("invalid port format: {spec}")),
        }
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    let (host, ctr) = match rest.rsplit_once(':') {
        Some((h, c)) => (h, c),
        None => ("", rest),
    };
    if ctr.is_empty() {
        return Err(format!("no port specified: {spec}<empty>"));
    }
    let (cs, ce) = port_range(ctr, "containerPort")?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(port_range(host, "hostPort")?)
    };
    if let Some((hs, he)) = host_range
        && he - hs != ce - cs
        && ce != cs
    {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {ctr} and {host}"
        ));
    }
    let mut out = Vec::new();
    for (i, p) in (cs..=ce).enumerate() {
        let host_port = match host_range {
            None => String::new(),
            Some((hs, he)) if ce == cs && he != hs => format!("{hs}-{he}"),
            Some((hs, _)) => (u32::from(hs) + i as u32).to_string(),
        };
        out.push((
            format!("{p}/{}", proto.to_ascii_lowercase()),
            PortBinding {
                host_ip: ip.clone(),
                host_port,
            },
        ));
    }
    Ok(out)
}

/// `--expose 80`, `--expose 7000-7002/udp` → port keys.
pub fn parse_expose(spec: &str) -> Result<Vec<String>, String> {
    let (port, proto) = split_proto(spec)?;
    let (a, b) = port_range(port, "range format for --expose")?;
    Ok((a..=b)
        .map(|p| format!("{p}/{}", proto.to_ascii_lowercase()))
        .collect())
}

/// `-e K=V` or `-e K` (taken from `lookup` when set there, else kept bare).
pub fn env_value(v: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    if v.contains('=') {
        return v.to_string();
    }
    match lookup(v) {
        Some(val) => format!("{v}={val}"),
        None => v.to_string(),
    }
}

/// Looks up a local environment variable.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The lines of an `--env-file`/`--label-file`: comments and blanks skipped;
/// bare names looked up with `lookup` (env files) when given.
pub fn parse_kv_file(content: &str, lookup: Option<EnvLookup<'_>>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for line in content.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, _) = line.split_once('=').unwrap_or((line, ""));
        if key.is_empty() {
            return Err(format!("no variable name on line '{line}'"));
        }
        if key.contains(char::is_whitespace) {
            return Err(format!("variable '{key}' contains whitespaces"));
        }
        match (line.contains('='), lookup) {
            (true, _) => out.push(line.to_string()),
            (false, Some(f)) => {
                if let Some(v) = f(key) {
                    out.push(format!("{key}={v}"));
                }
            }
            (false, None) => out.push(line.to_string()),
        }
    }
    Ok(out)
}

/// `k=v` (or bare `k`, value empty) into a map.
pub fn kv_map<'a>(items: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, String> {
    items
        .into_iter()
        .map(|s| {
            let (k, v) = s.split_once('=').unwrap_or((s, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `--add-host name:ip` or `name=ip`.
pub fn validate_extra_host(s: &str) -> Result<String, String> {
    let ok = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .is_some_and(|(h, ip)| !h.is_empty() && !ip.is_empty());
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("bad format for add-host: \"{s}\""))
    }
}

/// `--detach-keys ctrl-p,ctrl-q` → bytes (default when empty).
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>, String> {
    let s = if s.is_empty() { "ctrl-p,ctrl-q" } else { s };
    let mut out = Vec::new();
    for key in s.split(',') {
        if key.len() == 1 {
            out.push(key.as_bytes()[0]);
            continue;
        }
        let c = key
            .strip_prefix("ctrl-")
            .filter(|c| c.len() == 1)
            .ok_or_else(|| format!("Unknown character: '{key}'"))?
            .as_bytes()[0]
            .to_ascii_lowercase();
        let code = match c {
            b'a'..=b'z' => c - b'a' + 1,
            b'@' => 0,
            b'[' => 27,
            b'\\' => 28,
            b']' => 29,
            b'^' => 30,
            b'_' => 31,
            _ => return Err(format!("Unknown character: '{key}'")),
        };
        out.push(code);
    }
    Ok(out)
}

/// Watches stdin for the detach sequence: bytes that could start it are held
/// back until they either complete it (detach) or stop matching (released).
#[derive(Debug)]
pub struct EscapeProxy {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeProxy {
    /// A proxy for `keys`.
    pub fn new(keys: Vec<u8>) -> EscapeProxy {
        EscapeProxy { keys, matched: 0 }
    }

    /// Feed input; returns the bytes to forward and whether the sequence completed.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// `--security-opt`: `seccomp=<file>` is replaced by the file's compact JSON
/// (read by `read`), as the docker CLI does; others pass through.
pub fn security_opt(
    s: &str,
    read: impl Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let Some((k, v)) = s.split_once('=').or_else(|| s.split_once(':')) else {
        if s == "no-new-privileges" {
            return Ok(s.to_string());
        }
        return Err(format!("Invalid --security-opt: {s:?}"));
    };
    if k != "seccomp" || v == "unconfined" || v == "builtin" {
        return Ok(s.to_string());
    }
    let content = read(v)?;
    let json: serde_json::Value = serde_json::from_str(&content)
        .map_err(|e| format!("opening seccomp profile ({v}) failed: {e}"))?;
    Ok(format!("seccomp={json}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_ram("64m").unwrap(), 64 << 20);
        assert_eq!(parse_ram("1g").unwrap(), 1 << 30);
        assert_eq!(parse_ram("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_ram("1.5k").unwrap(), 1536);
        assert_eq!(parse_ram("1024").unwrap(), 1024);
        assert_eq!(parse_ram("10 MB").unwrap(), 10 << 20);
        assert_eq!(parse_ram("12x").unwrap_err(), "invalid size: '12x'");
        assert!(parse_ram("").is_err());
        assert_eq!(parse_swap("-1").unwrap(), -1);
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_nano_cpus("0.5").unwrap(), 500_000_000);
        assert_eq!(parse_nano_cpus("2").unwrap(), 2_000_000_000);
        assert_eq!(parse_nano_cpus("1.25").unwrap(), 1_250_000_000);
        assert_eq!(parse_nano_cpus(".1").unwrap(), 100_000_000);
        assert_eq!(
            parse_nano_cpus("0.0000000001").unwrap_err(),
            "value is too precise"
        );
        assert!(parse_nano_cpus("abc").is_err());
    }

    #[test]
    fn ulimits() {
        assert_eq!(
            parse_ulimit("nofile=100:200").unwrap(),
            Ulimit {
                name: "nofile".into(),
                soft: 100,
                hard: 200
            }
        );
        assert_eq!(parse_ulimit("nproc=50").unwrap().hard, 50);
        assert_eq!(
            parse_ulimit("bogus=1").unwrap_err(),
            "invalid ulimit type: bogus"
        );
        assert_eq!(
            parse_ulimit("nofile").unwrap_err(),
            "invalid ulimit argument: nofile"
        );
        assert!(
            parse_ulimit("nofile=300:200")
                .unwrap_err()
                .contains("300 > 200")
        );
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            parse_restart("on-failure:3").unwrap(),
            RestartPolicy {
                name: "on-failure".into(),
                maximum_retry_count: 3
            }
        );
        assert_eq!(parse_restart("always").unwrap().name, "always");
        assert!(
            parse_restart("on-failure:x")
                .unwrap_err()
                .contains("must be an integer")
        );
        assert!(
            parse_restart(":3")
                .unwrap_err()
                .contains("no policy provided")
        );
        // Policy names and counts are the daemon's to judge.
        assert_eq!(parse_restart("sometimes").unwrap().name, "sometimes");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(
            parse_duration("soon").unwrap_err(),
            "time: invalid duration \"soon\""
        );
    }

    fn pb(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    #[test]
    fn publish_forms() {
        assert_eq!(
            parse_publish("80").unwrap(),
            vec![("80/tcp".into(), pb("", ""))]
        );
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            vec![("80/tcp".into(), pb("", "8080"))]
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/udp").unwrap(),
            vec![("80/udp".into(), pb("127.0.0.1", "8080"))]
        );
        assert_eq!(
            parse_publish("127.0.0.1::80").unwrap(),
            vec![("80/tcp".into(), pb("127.0.0.1", ""))]
        );
        assert_eq!(
            parse_publish("[::1]:8080:80").unwrap(),
            vec![("80/tcp".into(), pb("::1", "8080"))]
        );
        assert_eq!(
            parse_publish("8000-8001:80-81").unwrap(),
            vec![
                ("80/tcp".into(), pb("", "8000")),
                ("81/tcp".into(), pb("", "8001"))
            ]
        );
        assert_eq!(
            parse_publish("8000-8010:80").unwrap(),
            vec![("80/tcp".into(), pb("", "8000-8010"))]
        );
        assert!(
            parse_publish("8000-8002:80-81")
                .unwrap_err()
                .contains("invalid ranges")
        );
        assert_eq!(parse_publish("x:80").unwrap_err(), "invalid hostPort: x");
        assert_eq!(parse_publish("80/xyz").unwrap_err(), "invalid proto: xyz");
        assert_eq!(
            parse_publish("1.2.3:80:80").unwrap_err(),
            "invalid IP address: 1.2.3"
        );
        assert_eq!(
            parse_publish("99999").unwrap_err(),
            "invalid containerPort: 99999"
        );
        assert_eq!(
            parse_expose("7000-7001/udp").unwrap(),
            ["7000/udp", "7001/udp"]
        );
    }

    #[test]
    fn env_and_files() {
        let look = |k: &str| (k == "HOME").then(|| "/root".to_string());
        assert_eq!(env_value("A=1", look), "A=1");
        assert_eq!(env_value("HOME", look), "HOME=/root");
        assert_eq!(env_value("NOPE", look), "NOPE");
        let lookup: &dyn Fn(&str) -> Option<String> = &look;
        let f = "# comment\n\nA=1\nHOME\nMISSING\nB=x=y\n";
        assert_eq!(
            parse_kv_file(f, Some(lookup)).unwrap(),
            ["A=1", "HOME=/root", "B=x=y"]
        );
        assert_eq!(parse_kv_file("MISSING\n", None).unwrap(), ["MISSING"]);
        assert_eq!(
            parse_kv_file("BAD KEY=1\n", None).unwrap_err(),
            "variable 'BAD KEY' contains whitespaces"
        );
        let m = kv_map(&["a=1".to_string(), "b".to_string()]);
        assert_eq!((m["a"].as_str(), m["b"].as_str()), ("1", ""));
        assert!(validate_extra_host("db:10.0.0.1").is_ok());
        assert!(validate_extra_host("db=host-gateway").is_ok());
        assert!(validate_extra_host("db").is_err());
    }

    #[test]
    fn detach_keys_and_escape_proxy() {
        assert_eq!(parse_detach_keys("").unwrap(), [16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), [1, b'x']);
        assert!(parse_detach_keys("ctrl-").is_err());
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.feed(b"ab"), (b"ab".to_vec(), false));
        assert_eq!(p.feed(&[16]), (vec![], false));
        assert_eq!(p.feed(b"c"), (vec![16, b'c'], false));
        assert_eq!(p.feed(&[b'x', 16, 16]), (vec![b'x', 16], false));
        assert_eq!(p.feed(&[17, b'z']), (vec![], true));
    }

    #[test]
    fn seccomp_profiles_are_inlined() {
        let read =
            |_: &str| Ok::<_, String>("{ \"defaultAction\": \"SCMP_ACT_ALLOW\" }".to_string());
        assert_eq!(
            security_opt("seccomp=/p.json", read).unwrap(),
            r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#
        );
        assert_eq!(
            security_opt("seccomp=unconfined", read).unwrap(),
            "seccomp=unconfined"
        );
        assert_eq!(
            security_opt("label=disable", read).unwrap(),
            "label=disable"
        );
        assert_eq!(
            security_opt("no-new-privileges", read).unwrap(),
            "no-new-privileges"
        );
    }
}
