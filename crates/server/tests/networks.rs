//! Network handlers against a small fake backend: request in, status and body out.

// Helpers and the fake live outside `#[test]` functions; panicking there is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use berth_api::backend::network::NetworkBackend;
use berth_api::types::network::{
    EndpointSettings, Network, NetworkCreateRequest, NetworkCreateResponse, NetworkPruneResponse,
};
use berth_core::filters::Filters;
use berth_core::{Error, Result};
use berth_server::routes::networks;
use http_body_util::BodyExt;
use tower::ServiceExt;

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
}

impl Fake {
    fn log(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
}

#[async_trait]
impl NetworkBackend for Fake {
    async fn network_list(&self, filters: Filters) -> Result<Vec<Network>> {
        self.log(format!("list {:?}", filters.get("driver")));
        Ok(vec![Network {
            name: "bridge".into(),
            ..Default::default()
        }])
    }
    async fn network_inspect(&self, id: &str, verbose: bool, scope: &str) -> Result<Network> {
        if id == "nope" {
            return Err(Error::not_found("network nope not found"));
        }
        self.log(format!("inspect {id} {verbose} {scope}"));
        Ok(Network {
            name: id.into(),
            ..Default::default()
        })
    }
    async fn network_create(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        if req.name == "taken" {
            return Err(Error::conflict("network with name taken already exists"));
        }
        self.log(format!("create {} {}", req.name, req.internal));
        Ok(NetworkCreateResponse {
            id: "abc".into(),
            warning: String::new(),
        })
    }
    async fn network_remove(&self, id: &str) -> Result<()> {
        if id == "bridge" {
            return Err(Error::forbidden(
                "bridge is a pre-defined network and cannot be removed",
            ));
        }
        self.log(format!("remove {id}"));
        Ok(())
    }
    async fn network_connect(
        &self,
        id: &str,
        container: &str,
        config: Option<EndpointSettings>,
    ) -> Result<()> {
        let aliases = config.and_then(|c| c.aliases).unwrap_or_default();
        self.log(format!("connect {id} {container} {aliases:?}"));
        Ok(())
    }
    async fn network_disconnect(&self, id: &str, container: &str, force: bool) -> Result<()> {
        self.log(format!("disconnect {id} {container} {force}"));
        Ok(())
    }
    async fn network_prune(&self, _filters: Filters) -> Result<NetworkPruneResponse> {
        Ok(NetworkPruneResponse {
            networks_deleted: Some(vec!["n1".into()]),
        })
    }
}

async fn call(fake: &Arc<Fake>, method: &str, uri: &str, body: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = networks::routes::<Fake>()
        .with_state(fake.clone())
        .oneshot(req)
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn routes_statuses_and_bodies() {
    let f = Arc::new(Fake::default());
    let (st, body) = call(
        &f,
        "GET",
        "/networks?filters=%7B%22driver%22%3A%7B%22bridge%22%3Atrue%7D%7D",
        "",
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("\"Name\":\"bridge\""), "{body}");
    let (st, body) = call(
        &f,
        "GET",
        "/networks?filters=%7B%22color%22%3A%5B%22x%22%5D%7D",
        "",
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, _) = call(
        &f,
        "GET",
        "/networks?filters=%7B%22type%22%3A%5B%22weird%22%5D%7D",
        "",
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let (st, body) = call(
        &f,
        "POST",
        "/networks/create",
        r#"{"Name":"n1","Internal":true,"CheckDuplicate":true}"#,
    )
    .await;
    assert_eq!(
        (st, body.as_str()),
        (StatusCode::CREATED, r#"{"Id":"abc","Warning":""}"#)
    );
    let (st, body) = call(&f, "POST", "/networks/create", r#"{"Name":"taken"}"#).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(
        body,
        r#"{"message":"network with name taken already exists"}"#
    );
    let (st, _) = call(&f, "POST", "/networks/create", "").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let (st, _) = call(&f, "GET", "/networks/n1?verbose=1&scope=local", "").await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = call(&f, "GET", "/networks/nope", "").await;
    assert_eq!(
        (st, body.as_str()),
        (
            StatusCode::NOT_FOUND,
            r#"{"message":"network nope not found"}"#
        )
    );

    let (st, _) = call(
        &f,
        "POST",
        "/networks/n1/connect",
        r#"{"Container":"c1","EndpointConfig":{"Aliases":["web"]}}"#,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = call(
        &f,
        "POST",
        "/networks/n1/disconnect",
        r#"{"Container":"c1","Force":true}"#,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = call(&f, "DELETE", "/networks/n1", "").await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = call(&f, "DELETE", "/networks/bridge", "").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, body) = call(&f, "POST", "/networks/prune", "").await;
    assert_eq!(
        (st, body.as_str()),
        (StatusCode::OK, r#"{"NetworksDeleted":["n1"]}"#)
    );

    let calls = f.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            "list [\"bridge\"]",
            "create n1 true",
            "inspect n1 true local",
            "connect n1 c1 [\"web\"]",
            "disconnect n1 c1 true",
            "remove n1",
        ]
    );
}
