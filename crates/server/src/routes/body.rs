//! JSON request bodies with Docker-style errors: malformed JSON is a 400 with
//! `{"message": ...}`, never axum's plain-text rejection or a panic.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use berth_core::Error;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest JSON body accepted (container create bodies are a few KiB).
pub const MAX_JSON_BODY: usize = 8 << 20;

/// A required JSON body.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// A JSON body that may be empty (then `T::default()`).
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_JSON_BODY)
        .await
        .map_err(|e| Error::invalid(format!("cannot read request body: {e}")))?;
    let _ = state;
    Ok(bytes)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError(Error::invalid(format!("invalid JSON: {e}"))))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError(Error::invalid(
                "invalid JSON: request body is empty",
            )));
        }
        decode(&bytes).map(JsonBody)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        // Docker accepts a literal `null` as "no body".
        if bytes.trim_ascii() == b"null" {
            return Ok(OptionalJson(T::default()));
        }
        decode(&bytes).map(OptionalJson)
    }
}
