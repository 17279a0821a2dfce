//! `AuthZPlugin.AuthZReq` / `AuthZPlugin.AuthZRes`: one request shape for
//! both, every field omitted when empty, bodies base64 (Go's `[]byte`).
//! The key is `RequestUri`, not `RequestURI` as Docker's docs say.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `AuthZPlugin.AuthZReq`.
pub const AUTHZ_REQ: &str = "AuthZPlugin.AuthZReq";
/// `AuthZPlugin.AuthZRes`.
pub const AUTHZ_RES: &str = "AuthZPlugin.AuthZRes";

fn is_zero(v: &u16) -> bool {
    *v == 0
}

/// What is sent to the plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Request {
    /// Subject CN of the client's TLS certificate.
    #[serde(rename = "User", skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// `TLS` when `User` is set.
    #[serde(rename = "UserAuthNMethod", skip_serializing_if = "String::is_empty")]
    pub user_authn_method: String,
    /// HTTP method.
    #[serde(rename = "RequestMethod", skip_serializing_if = "String::is_empty")]
    pub request_method: String,
    /// Path and query as the client sent them (`/v1.50/containers/json?all=1`).
    #[serde(rename = "RequestUri", skip_serializing_if = "String::is_empty")]
    pub request_uri: String,
    /// JSON request body (base64 on the wire).
    #[serde(
        rename = "RequestBody",
        skip_serializing_if = "Option::is_none",
        serialize_with = "b64_ser",
        deserialize_with = "b64_de"
    )]
    pub request_body: Option<Vec<u8>>,
    /// Request headers, one value each, credentials removed.
    #[serde(rename = "RequestHeaders", skip_serializing_if = "BTreeMap::is_empty")]
    pub request_headers: BTreeMap<String, String>,
    /// Status of the response (AuthZRes only; 0 = none).
    #[serde(rename = "ResponseStatusCode", skip_serializing_if = "is_zero")]
    pub response_status_code: u16,
    /// JSON response body (AuthZRes only).
    #[serde(
        rename = "ResponseBody",
        skip_serializing_if = "Option::is_none",
        serialize_with = "b64_ser",
        deserialize_with = "b64_de"
    )]
    pub response_body: Option<Vec<u8>>,
    /// Response headers (AuthZRes only).
    #[serde(rename = "ResponseHeaders", skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
}

/// The plugin's verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Response {
    /// Allowed?
    pub allow: bool,
    /// Message shown to the user on a deny.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub msg: String,
    /// Error text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub err: String,
}

fn b64_ser<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
        None => s.serialize_none(),
    }
}

fn b64_de<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s {
        Some(s) if !s.is_empty() => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Some)
            .map_err(serde::de::Error::custom),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_field_names_and_omitempty() {
        let r = Request {
            request_method: "POST".into(),
            request_uri: "/v1.50/containers/create".into(),
            request_body: Some(b"{}".to_vec()),
            ..Default::default()
        };
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(
            j,
            r#"{"RequestMethod":"POST","RequestUri":"/v1.50/containers/create","RequestBody":"e30="}"#
        );
        let back: Request = crate::ci::from_slice(j.as_bytes()).unwrap();
        assert_eq!(back, r);
    }
}
