//! Error kinds to HTTP statuses, in one place, and Docker's error body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_api::types::ErrorResponse;
use berth_core::{Error, ErrorKind};

/// The one function that decides an error's HTTP status.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Marks a response made from an [`ApiError`] (the authorization hook is told
/// that the handler failed, as Docker's is).
#[derive(Debug, Clone, Copy)]
pub struct HandlerFailed;

/// A handler error: a classified error rendered as `{"message": ...}`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(err: E) -> Self {
        ApiError(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_for(self.0.kind());
        if status == StatusCode::NOT_MODIFIED {
            // 304 must not carry a body.
            let mut r = status.into_response();
            r.extensions_mut().insert(HandlerFailed);
            return r;
        }
        if status.is_server_error() {
            tracing::warn!(kind = ?self.0.kind(), "request failed: {}", self.0.message());
        } else {
            tracing::debug!(kind = ?self.0.kind(), "request refused: {}", self.0.message());
        }
        let mut r = (
            status,
            Json(ErrorResponse {
                message: self.0.message().to_string(),
            }),
        )
            .into_response();
        r.extensions_mut().insert(HandlerFailed);
        r
    }
}

/// Handler result alias.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_status() {
        let table = [
            (ErrorKind::InvalidArgument, 400),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Conflict, 409),
            (ErrorKind::NotModified, 304),
            (ErrorKind::Unauthorized, 401),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::NotImplemented, 501),
            (ErrorKind::Internal, 500),
        ];
        assert_eq!(table.len(), ErrorKind::ALL.len());
        for (kind, code) in table {
            assert_eq!(status_for(kind).as_u16(), code, "{kind:?}");
        }
    }
}
