//! Lenient query-string access with Docker's conventions: booleans are `1`,
//! `true`, `True` (anything else but empty/`0`/`false` counts as true, as Go's
//! `httputils.BoolValue` does), repeated keys are kept, and a bad value is a 400
//! with a clear message rather than axum's plain-text rejection.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use berth_core::Error;
use berth_core::filters::Filters;

use crate::error::ApiError;

/// The parsed query string of a request.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parse a raw query string.
    pub fn parse(raw: &str) -> Query {
        Query(
            form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The string value of `key`, or `""`.
    pub fn str(&self, key: &str) -> &str {
        self.get(key).unwrap_or("")
    }

    /// Docker's boolean: absent, empty, `0`, `false`/`False`/`no` are false.
    pub fn bool(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "false" | "no"
            ),
        }
    }

    /// A boolean with a default when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        if self.get(key).is_some() {
            self.bool(key)
        } else {
            default
        }
    }

    /// An integer; `None` when absent or empty, 400 when malformed.
    pub fn int(&self, key: &str) -> Result<Option<i64>, Error> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                Error::invalid(format!("invalid value for {key}: {v:?} is not an integer"))
            }),
        }
    }

    /// The `filters` parameter.
    pub fn filters(&self) -> Result<Filters, Error> {
        Filters::parse(self.str("filters"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Query::parse(parts.uri.query().unwrap_or("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_booleans_and_repeats() {
        let q = Query::parse("all=1&size=false&force=True&names=a&names=b&t=abc&empty=");
        assert!(q.bool("all") && q.bool("force"));
        assert!(!q.bool("size") && !q.bool("missing") && !q.bool("empty"));
        assert!(q.bool_or("rm", true));
        assert_eq!(q.all("names"), ["a", "b"]);
        assert!(q.int("t").is_err());
        assert_eq!(q.int("missing").unwrap(), None);
    }
}
