//! The server's authorization hook, implemented over berth-plugin's chain of
//! `--authorization-plugin`s: the server's view of a request/response becomes
//! Docker's `AuthZPlugin` request; a deny is Forbidden (403), a failing plugin
//! Internal (500).

use berth_core::Error;
use berth_plugin::authz::{Chain, Refusal};
use berth_plugin::dto::authz::Request;
use berth_server::authz::{AuthzHook, AuthzRequest, AuthzResponse};

/// Authorization through plugins.
pub struct PluginAuthz(pub Chain);

fn wire(req: &AuthzRequest, resp: Option<&AuthzResponse>) -> Request {
    let mut r = Request {
        user: req.user.clone().unwrap_or_default(),
        user_authn_method: if req.user.is_some() {
            "TLS".into()
        } else {
            String::new()
        },
        request_method: req.method.clone(),
        request_uri: req.uri.clone(),
        request_body: req.body.as_ref().map(|b| b.to_vec()),
        request_headers: req.headers.clone(),
        ..Request::default()
    };
    if let Some(resp) = resp {
        r.response_status_code = resp.status.unwrap_or(0);
        r.response_body = resp.body.as_ref().map(|b| b.to_vec());
        r.response_headers = resp.headers.clone();
    }
    r
}

fn refusal(r: Refusal) -> Error {
    match r {
        Refusal::Denied { .. } => Error::forbidden(r.to_string()),
        Refusal::Failed { .. } => Error::internal(r.to_string()),
    }
}

#[async_trait::async_trait]
impl AuthzHook for PluginAuthz {
    async fn request(&self, req: &AuthzRequest) -> Result<(), Error> {
        self.0.request(&wire(req, None)).await.map_err(refusal)
    }

    async fn response(&self, req: &AuthzRequest, resp: &AuthzResponse) -> Result<(), Error> {
        self.0
            .response(&wire(req, Some(resp)))
            .await
            .map_err(refusal)
    }
}
