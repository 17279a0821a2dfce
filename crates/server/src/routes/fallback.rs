//! Unrouted requests: Docker endpoints berth does not implement yet answer 501
//! with a clear message; anything else is Docker's 404 `page not found`.

use axum::http::Method;
use axum::response::{IntoResponse, Response};
use berth_core::Error;

use crate::error::ApiError;

/// Engine API v1.50 operations (method, path pattern). `{}` matches one segment.
/// Routed endpoints never reach the fallback, so this list may include them.
const KNOWN: &[(&str, &str)] = &[
    ("GET", "/containers/json"),
    ("POST", "/containers/create"),
    ("GET", "/containers/{}/json"),
    ("GET", "/containers/{}/top"),
    ("GET", "/containers/{}/logs"),
    ("GET", "/containers/{}/changes"),
    ("GET", "/containers/{}/export"),
    ("GET", "/containers/{}/stats"),
    ("POST", "/containers/{}/resize"),
    ("POST", "/containers/{}/start"),
    ("POST", "/containers/{}/stop"),
    ("POST", "/containers/{}/restart"),
    ("POST", "/containers/{}/kill"),
    ("POST", "/containers/{}/update"),
    ("POST", "/containers/{}/rename"),
    ("POST", "/containers/{}/pause"),
    ("POST", "/containers/{}/unpause"),
    ("POST", "/containers/{}/attach"),
    ("GET", "/containers/{}/attach/ws"),
    ("POST", "/containers/{}/wait"),
    ("DELETE", "/containers/{}"),
    ("HEAD", "/containers/{}/archive"),
    ("GET", "/containers/{}/archive"),
    ("PUT", "/containers/{}/archive"),
    ("POST", "/containers/prune"),
    ("POST", "/containers/{}/exec"),
    ("POST", "/exec/{}/start"),
    ("POST", "/exec/{}/resize"),
    ("GET", "/exec/{}/json"),
    ("GET", "/images/json"),
    ("POST", "/build"),
    ("POST", "/build/prune"),
    ("POST", "/images/create"),
    ("GET", "/images/{}/json"),
    ("GET", "/images/{}/history"),
    ("POST", "/images/{}/push"),
    ("POST", "/images/{}/tag"),
    ("DELETE", "/images/{}"),
    ("GET", "/images/search"),
    ("POST", "/images/prune"),
    ("GET", "/images/{}/get"),
    ("GET", "/images/get"),
    ("POST", "/images/load"),
    ("POST", "/commit"),
    ("POST", "/auth"),
    ("GET", "/distribution/{}/json"),
    ("POST", "/session"),
    ("GET", "/volumes"),
    ("POST", "/volumes/create"),
    ("GET", "/volumes/{}"),
    ("PUT", "/volumes/{}"),
    ("DELETE", "/volumes/{}"),
    ("POST", "/volumes/prune"),
    ("GET", "/networks"),
    ("GET", "/networks/{}"),
    ("DELETE", "/networks/{}"),
    ("POST", "/networks/create"),
    ("POST", "/networks/{}/connect"),
    ("POST", "/networks/{}/disconnect"),
    ("POST", "/networks/prune"),
    ("GET", "/plugins"),
    ("GET", "/plugins/privileges"),
    ("POST", "/plugins/pull"),
    ("GET", "/plugins/{}/json"),
    ("DELETE", "/plugins/{}"),
    ("POST", "/plugins/{}/enable"),
    ("POST", "/plugins/{}/disable"),
    ("POST", "/plugins/{}/upgrade"),
    ("POST", "/plugins/create"),
    ("POST", "/plugins/{}/push"),
    ("POST", "/plugins/{}/set"),
    ("GET", "/swarm"),
    ("POST", "/swarm/init"),
    ("POST", "/swarm/join"),
    ("POST", "/swarm/leave"),
    ("POST", "/swarm/update"),
    ("GET", "/swarm/unlockkey"),
    ("POST", "/swarm/unlock"),
    ("GET", "/nodes"),
    ("GET", "/nodes/{}"),
    ("DELETE", "/nodes/{}"),
    ("POST", "/nodes/{}/update"),
    ("GET", "/services"),
    ("POST", "/services/create"),
    ("GET", "/services/{}"),
    ("DELETE", "/services/{}"),
    ("POST", "/services/{}/update"),
    ("GET", "/services/{}/logs"),
    ("GET", "/tasks"),
    ("GET", "/tasks/{}"),
    ("GET", "/tasks/{}/logs"),
    ("GET", "/secrets"),
    ("POST", "/secrets/create"),
    ("GET", "/secrets/{}"),
    ("DELETE", "/secrets/{}"),
    ("POST", "/secrets/{}/update"),
    ("GET", "/configs"),
    ("POST", "/configs/create"),
    ("GET", "/configs/{}"),
    ("DELETE", "/configs/{}"),
    ("POST", "/configs/{}/update"),
];

fn pattern_matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let s: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    p.len() == s.len()
        && p.iter()
            .zip(&s)
            .all(|(a, b)| *a == "{}" && !b.is_empty() || a == b)
}

/// Is `(method, path)` a Docker Engine API operation?
pub fn is_known(method: &Method, path: &str) -> bool {
    KNOWN
        .iter()
        .any(|(m, p)| *m == method.as_str() && pattern_matches(p, path))
}

/// Docker's answer for a swarm endpoint on a node outside any swarm (503).
const NOT_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

/// The error for a known but unrouted operation. berth never joins a swarm, so
/// swarm reads and updates answer exactly as Docker does on a node outside one
/// (503; clients such as docker-py's `leave_swarm(force=True)` rely on it), while
/// creating or joining a swarm is not implemented (501).
fn unrouted(method: &Method, path: &str) -> Error {
    let swarm = path.starts_with("/swarm")
        || ["/nodes", "/services", "/tasks", "/secrets", "/configs"]
            .iter()
            .any(|p| path.starts_with(p));
    match path {
        _ if !swarm => {
            Error::not_implemented(format!("{method} {path} is not implemented by berth yet"))
        }
        "/swarm/init" | "/swarm/join" => {
            Error::not_implemented("swarm mode is not supported by berth")
        }
        "/swarm/leave" => Error::unavailable("This node is not part of a swarm"),
        _ => Error::unavailable(NOT_MANAGER),
    }
}

/// The router's fallback.
pub async fn handler(method: Method, uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if is_known(&method, path) {
        return ApiError(unrouted(&method, path)).into_response();
    }
    ApiError(Error::not_found("page not found")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(is_known(&Method::POST, "/containers/abc/start"));
        assert!(is_known(&Method::DELETE, "/containers/abc"));
        assert!(!is_known(&Method::GET, "/containers/abc/nonsense"));
        assert!(!is_known(&Method::GET, "/nope"));
    }

    #[test]
    fn swarm_answers_like_a_node_outside_a_swarm() {
        use berth_core::ErrorKind;
        assert_eq!(
            unrouted(&Method::POST, "/swarm/leave").kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            unrouted(&Method::GET, "/services").kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            unrouted(&Method::POST, "/swarm/init").kind(),
            ErrorKind::NotImplemented
        );
        assert_eq!(
            unrouted(&Method::POST, "/build").kind(),
            ErrorKind::NotImplemented
        );
    }
}
