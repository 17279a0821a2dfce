//! The `/vX.Y` prefix: stripped before routing, checked against 1.24–1.50, and
//! recorded as an [`ApiVersion`] request extension. Unversioned paths (bollard
//! sends them even after negotiating) are served as the newest version.
//! Every response carries Docker's identity headers.

use axum::extract::Request;
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_api::ApiVersion;
use berth_api::version::MAX;

use crate::error::ApiError;

/// Value of the `Server` header.
pub const SERVER_HEADER: &str = concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)");

/// Split `/v1.43/containers/json` into (`1.43`, `/containers/json`).
fn split_version(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let slash = rest.find('/')?;
    let (ver, tail) = rest.split_at(slash);
    if ver.is_empty() || !ver.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some((ver, tail))
}

/// Middleware run before routing (it wraps the whole router service).
pub async fn layer(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let version = match split_version(&path) {
        Some((ver, tail)) => {
            let parsed = match ApiVersion::parse(ver) {
                Some(v) => v,
                None => {
                    return ApiError(berth_core::Error::invalid(format!(
                        "invalid API version {ver:?}"
                    )))
                    .into_response();
                }
            };
            if let Err(e) = parsed.check() {
                return with_identity(ApiError(e).into_response());
            }
            let pq = match req.uri().query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail.to_string(),
            };
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = pq.parse().ok();
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
            parsed
        }
        None => MAX,
    };
    req.extensions_mut().insert(version);
    let method = req.method().clone();
    let resp = next.run(req).await;
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "api");
    with_identity(resp)
}

fn with_identity(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(MAX_STR));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Server", HeaderValue::from_static(SERVER_HEADER));
    resp
}

/// [`MAX`] as a header value.
pub const MAX_STR: &str = "1.50";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_split() {
        assert_eq!(
            split_version("/v1.43/containers/json"),
            Some(("1.43", "/containers/json"))
        );
        assert_eq!(split_version("/volumes/x"), None);
        assert_eq!(split_version("/version"), None);
        assert_eq!(MAX.to_string(), MAX_STR);
    }
}
