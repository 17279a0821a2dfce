//! The image pull `run`/`create` do on `No such image` (or with `--pull always`):
//! `POST /images/create?fromImage=&tag=` and its JSON message stream, printed
//! to stderr line by line (no progress bars: this output is a side note of `run`).

use anyhow::{Result, bail};
use berth_api::client;
use http::Method;
use http_body_util::BodyExt;
use serde_json::Value;

use super::super::Ctx;
use super::super::system::enc;
use super::stream::eprint_flush;

/// Split a reference into (repository, tag-or-digest): `busybox` → (`busybox`, `latest`),
/// `reg:5000/a/b:1` → (`reg:5000/a/b`, `1`), `x@sha256:…` → (`x`, `sha256:…`).
pub fn split_ref(image: &str) -> (String, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) => (
            image[..image.len() - tag.len() - 1].to_string(),
            tag.to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

/// The reference as docker prints it in "Unable to find image '…' locally".
pub fn full_ref(image: &str) -> String {
    let (repo, tag) = split_ref(image);
    if tag.contains(':') {
        format!("{repo}@{tag}")
    } else {
        format!("{repo}:{tag}")
    }
}

/// One JSON message as a line, or `None` for progress updates (shown only as
/// their final states).
pub fn message_line(m: &Value) -> Option<String> {
    let status = m["status"].as_str()?;
    if m["progressDetail"]["current"].is_number() {
        return None;
    }
    Some(match m["id"].as_str() {
        Some(id) if !id.is_empty() => format!("{id}: {status}"),
        _ => status.to_string(),
    })
}

/// Pull `image`, printing the daemon's messages to stderr unless `quiet`.
pub async fn pull(ctx: &Ctx, image: &str, platform: Option<&str>, quiet: bool) -> Result<()> {
    let (repo, tag) = split_ref(image);
    let mut path = format!("/images/create?fromImage={}&tag={}", enc(&repo), enc(&tag));
    if let Some(p) = platform {
        path.push_str(&format!("&platform={}", enc(p)));
    }
    let resp = ctx
        .client
        .request(Method::POST, &path, client::empty(), &[])
        .await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            buf.extend_from_slice(data);
        }
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let Ok(m) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if let Some(e) = m["errorDetail"]["message"].as_str().or(m["error"].as_str()) {
                bail!("{e}");
            }
            if !quiet && let Some(l) = message_line(&m) {
                eprint_flush(&format!("{l}\n"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(split_ref("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(split_ref("alpine:3.10"), ("alpine".into(), "3.10".into()));
        assert_eq!(
            split_ref("localhost:5000/a/b"),
            ("localhost:5000/a/b".into(), "latest".into())
        );
        assert_eq!(
            split_ref("localhost:5000/a/b:v1"),
            ("localhost:5000/a/b".into(), "v1".into())
        );
        assert_eq!(split_ref("x@sha256:ab"), ("x".into(), "sha256:ab".into()));
        assert_eq!(full_ref("busybox"), "busybox:latest");
        assert_eq!(full_ref("x@sha256:ab"), "x@sha256:ab");
    }

    #[test]
    fn message_lines() {
        let m = serde_json::json!({"status": "Pull complete", "id": "abc"});
        assert_eq!(message_line(&m).unwrap(), "abc: Pull complete");
        let m = serde_json::json!({"status": "Downloading", "id": "abc", "progressDetail": {"current": 1, "total": 2}});
        assert_eq!(message_line(&m), None);
        assert_eq!(
            message_line(&serde_json::json!({"status": "Digest: sha256:x"})).unwrap(),
            "Digest: sha256:x"
        );
    }
}
