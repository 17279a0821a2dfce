//! Registry credentials as the docker CLI keeps them: `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`), `auths.<server>.auth = base64(user:password)`
//! or `identitytoken`, sent to the daemon as `X-Registry-Auth`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::{Value, json};

/// Docker Hub's key in config.json.
pub const HUB: &str = "https://index.docker.io/v1/";

/// The config file path.
pub fn config_path() -> PathBuf {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".docker")
        });
    dir.join("config.json")
}

fn read() -> Value {
    std::fs::read(config_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({}))
}

fn write(v: &Value) -> Result<()> {
    let p = config_path();
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
    }
    let tmp = p.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(v)?)
        .with_context(|| format!("write {}", tmp.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, &p).with_context(|| format!("write {}", p.display()))?;
    Ok(())
}

/// The config.json key for a registry given on the command line or in a reference.
pub fn server_key(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    match s {
        "" | "docker.io" | "index.docker.io" | "index.docker.io/v1" | "registry-1.docker.io" => {
            HUB.to_string()
        }
        s => s.to_string(),
    }
}

/// The registry domain of an image reference (`docker.io` when none).
pub fn domain_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

/// Remember credentials (or an identity token) for `server`.
pub fn store(server: &str, user: &str, password: &str, identity_token: &str) -> Result<()> {
    let mut cfg = read();
    let entry = if identity_token.is_empty() {
        json!({"auth": base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))})
    } else {
        json!({"auth": base64::engine::general_purpose::STANDARD.encode(format!("{user}:")), "identitytoken": identity_token})
    };
    if !cfg["auths"].is_object() {
        cfg["auths"] = json!({});
    }
    cfg["auths"][server_key(server)] = entry;
    write(&cfg)
}

/// Forget `server`; false when nothing was stored.
pub fn erase(server: &str) -> Result<bool> {
    let mut cfg = read();
    let removed = cfg["auths"]
        .as_object_mut()
        .and_then(|m| m.remove(&server_key(server)))
        .is_some();
    if removed {
        write(&cfg)?;
    }
    Ok(removed)
}

/// `X-Registry-Auth` for `image`, if credentials are stored for its registry.
pub fn header_for(image: &str) -> Option<String> {
    let key = server_key(&domain_of(image));
    let cfg = read();
    let e = cfg["auths"].get(&key)?;
    let (mut user, mut password) = (String::new(), String::new());
    if let Some(a) = e["auth"].as_str() {
        let raw = base64::engine::general_purpose::STANDARD.decode(a).ok()?;
        let s = String::from_utf8_lossy(&raw).into_owned();
        let (u, p) = s.split_once(':')?;
        user = u.to_string();
        password = p.to_string();
    }
    let v = json!({
        "username": user,
        "password": password,
        "serveraddress": key,
        "identitytoken": e["identitytoken"].as_str().unwrap_or(""),
    });
    Some(base64::engine::general_purpose::URL_SAFE.encode(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(server_key("docker.io"), HUB);
        assert_eq!(server_key("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(domain_of("127.0.0.1:5000/x/bb:1"), "127.0.0.1:5000");
        assert_eq!(domain_of("library/busybox"), "docker.io");
        assert_eq!(domain_of("busybox"), "docker.io");
    }
}
