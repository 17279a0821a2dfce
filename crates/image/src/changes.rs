//! Dockerfile instructions allowed in `--change` (import and commit):
//! CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
//! WORKDIR, SHELL. Hand-written: this is a tiny subset with Docker's quoting.

use std::collections::BTreeMap;

use crate::error::{ImageError, Result};
use crate::spec::ContainerConfig;

/// Split words as Dockerfile ENV/LABEL do: quotes group, backslash escapes.
fn words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(ImageError::Invalid(format!("unmatched quote in {s:?}")));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

fn key_values(inst: &str, rest: &str) -> Result<Vec<(String, String)>> {
    let w = words(rest)?;
    if w.len() >= 2 && !w[0].contains('=') {
        // Legacy `ENV KEY value with spaces`.
        let (k, v) = rest
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((rest.trim(), ""));
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    w.into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(ImageError::Invalid(format!(
                "{inst} names can not be blank"
            ))),
        })
        .collect()
}

fn exec_or_shell(rest: &str, shell: &[String]) -> Vec<String> {
    let t = rest.trim();
    if t.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(t)
    {
        return v;
    }
    let mut v = shell.to_vec();
    v.push(t.to_string());
    v
}

/// Apply `changes` to `cfg`.
pub fn apply(cfg: &mut ContainerConfig, changes: &[String]) -> Result<()> {
    for change in changes
        .iter()
        .flat_map(|c| c.lines())
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        let (inst, rest) = change
            .split_once(char::is_whitespace)
            .unwrap_or((change, ""));
        let rest = rest.trim();
        let shell = cfg
            .shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
        match inst.to_ascii_uppercase().as_str() {
            "CMD" => cfg.cmd = Some(exec_or_shell(rest, &shell)),
            "ENTRYPOINT" => cfg.entrypoint = Some(exec_or_shell(rest, &shell)),
            "SHELL" => {
                cfg.shell = Some(serde_json::from_str(rest).map_err(|_| {
                    ImageError::Invalid("SHELL requires the arguments to be in JSON form".into())
                })?)
            }
            "ENV" => {
                let env = cfg.env.get_or_insert_with(Vec::new);
                for (k, v) in key_values("ENV", rest)? {
                    env.retain(|e| {
                        e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()) && e != &k
                    });
                    env.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in key_values("LABEL", rest)? {
                    labels.insert(k, v);
                }
            }
            "EXPOSE" => {
                let ports = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    ports.insert(p, serde_json::json!({}));
                }
            }
            "VOLUME" => {
                let vols = cfg.volumes.get_or_insert_with(BTreeMap::new);
                let list: Vec<String> = if rest.starts_with('[') {
                    serde_json::from_str(rest)
                        .map_err(|e| ImageError::Invalid(format!("VOLUME: {e}")))?
                } else {
                    rest.split_whitespace().map(str::to_string).collect()
                };
                for v in list {
                    vols.insert(v, serde_json::json!({}));
                }
            }
            "WORKDIR" => cfg.working_dir = rest.to_string(),
            "USER" => cfg.user = rest.to_string(),
            "STOPSIGNAL" => cfg.stop_signal = rest.to_string(),
            "ONBUILD" => cfg
                .on_build
                .get_or_insert_with(Vec::new)
                .push(rest.to_string()),
            other => {
                return Err(ImageError::Invalid(format!(
                    "{} is not a valid change command",
                    other.to_ascii_lowercase()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_change_forms() {
        let mut c = ContainerConfig::default();
        apply(
            &mut c,
            &[
                r#"CMD ["sh", "-c", "echo hi"]"#.into(),
                "ENTRYPOINT /init".into(),
                r#"ENV A=1 B="two words""#.into(),
                "ENV C three four".into(),
                "LABEL x=y".into(),
                "EXPOSE 80 53/udp".into(),
                "VOLUME /data".into(),
                "WORKDIR /app".into(),
                "USER nobody".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.cmd.unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/init"]);
        assert_eq!(c.env.unwrap(), ["A=1", "B=two words", "C=three four"]);
        assert_eq!(c.labels.unwrap()["x"], "y");
        assert!(c.exposed_ports.unwrap().contains_key("53/udp"));
        assert!(c.volumes.unwrap().contains_key("/data"));
        assert_eq!(
            (c.working_dir.as_str(), c.user.as_str()),
            ("/app", "nobody")
        );
        assert!(apply(&mut ContainerConfig::default(), &["RUN x".into()]).is_err());
    }
}
